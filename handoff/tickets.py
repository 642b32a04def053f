"""Tickets: one per customer contact, with its transcript.

This module holds the ticket actions the FAQ self-service needs: open the contact's ticket,
append to the transcript and keep files, resolve it by the bot alone. A request for a person,
and everything after it, is an action of the handoff service (``handoff/service.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import ColumnClause, Select, String, bindparam, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import record_event
from storage.models import Attachment, Customer, Message, Ticket
from storage.rows import NewLine, insert_lines, table_of


class State(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATES = (State.BOT, State.QUEUED, State.OFFERED, State.ASSIGNED, State.PENDING)
# The same, written into the SQL of statements built once: a bound list would be expanded
# into placeholders again at every execution (SQLAlchemy's "post-compile" step, a tenth of
# the statement's CPU on the hot path); these are fixed words, so the SQL can hold them.
_OPEN_STATES_SQL: list[ColumnClause[str]] = [literal_column(f"'{s.value}'") for s in OPEN_STATES]
assert all(s.value.isidentifier() for s in OPEN_STATES)
SENDERS = ("customer", "bot", "agent", "system")
# "The ticket is with an agent" (:func:`is_with_agent`), as states for a query.
WITH_AGENT = (State.ASSIGNED.value, State.PENDING.value)


def is_with_agent(state: str, assignee_id: int | None, agent_id: int | None = None) -> bool:
    """The one definition of "the ticket is with an agent" (with ``agent_id``, when given):
    assigned, or pending on the customer while the agent keeps it, and held by someone."""
    held = assignee_id is not None and (agent_id is None or assignee_id == agent_id)
    return held and state in WITH_AGENT


# Statements of a customer's message, built once (issue 12): building one on every message
# cost about as much of the event loop as running it.
_OPEN_TICKET = (
    select(Ticket)
    .where(
        Ticket.customer_id == bindparam("customer_id"),
        Ticket.state.in_(_OPEN_STATES_SQL),
    )
    .order_by(Ticket.id.desc())
    .limit(1)
)
_REOPENABLE = (
    select(Ticket)
    .where(
        Ticket.customer_id == bindparam("customer_id"),
        Ticket.state == State.RESOLVED.value,
        Ticket.resolution == "agent",
        Ticket.resolved_at >= bindparam("since", type_=table_of(Ticket).c.resolved_at.type),
    )
    .order_by(Ticket.id.desc())
    .limit(1)
)


def arrival_statement() -> Select[Any]:
    """One read for a customer's input (issue 12): the customer by (channel, external id),
    their open ticket (the newest, as :func:`open_ticket_for`; None when there is none) and
    the id of their message kept under ``client_id`` (a resend; None when there is none or
    ``client_id`` is None): three statements folded into one, built once."""
    newest_open = (
        select(_open.c.id)
        .where(
            _open.c.customer_id == Customer.id,
            _open.c.state.in_(_OPEN_STATES_SQL),
        )
        .order_by(_open.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    earlier = (
        select(Message.id)
        .where(
            Message.customer_id == Customer.id,
            Message.sender == "customer",
            Message.client_id == bindparam("client_id", type_=String),
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(Customer, Ticket, earlier.label("earlier_id"))
        .outerjoin(Ticket, Ticket.id == newest_open)
        .where(
            Customer.channel == bindparam("channel"),
            Customer.external_id == bindparam("external_id"),
        )
    )


_open = table_of(Ticket).alias("open_ticket")
ARRIVAL = arrival_statement()


async def arrival(
    session: AsyncSession, channel: str, external_id: str, client_id: str | None
) -> tuple[Customer | None, Ticket | None, int | None]:
    """:data:`ARRIVAL` run: the customer (None: not known yet), their open ticket and the id
    of the message already kept under ``client_id``."""
    row = (
        await session.execute(
            ARRIVAL, {"channel": channel, "external_id": external_id, "client_id": client_id}
        )
    ).one_or_none()
    if row is None:
        return None, None, None
    customer, ticket, earlier_id = row
    return customer, ticket, earlier_id


async def open_ticket_for(session: AsyncSession, customer: Customer) -> Ticket | None:
    """The customer's open ticket, if any."""
    result = await session.execute(_OPEN_TICKET, {"customer_id": customer.id})
    return result.scalar_one_or_none()


async def current_ticket(session: AsyncSession, customer: Customer, at: datetime) -> Ticket:
    """The customer's open ticket, or a new one in state ``bot`` for a new contact."""
    ticket = await open_ticket_for(session, customer)
    if ticket is not None:
        return ticket
    ticket = Ticket(
        customer_id=customer.id,
        channel=customer.channel,
        state=State.BOT,
        language=customer.language,
        priority="normal",
        tags=[],
        created_at=at,
    )
    session.add(ticket)
    await session.flush()
    record_event(session, "ticket_opened", at, ticket_id=ticket.id, customer_id=customer.id)
    return ticket


def line_row(
    ticket: Ticket,
    *,
    sender: str,
    text: str,
    at: datetime,
    kind: str = "text",
    channel_message_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values of one transcript line on ``ticket``, for :func:`record_lines`."""
    if sender not in SENDERS:
        raise ValueError(f"unknown sender {sender!r}")
    return {
        "ticket_id": ticket.id,
        "customer_id": ticket.customer_id,
        "sender": sender,
        "kind": kind,
        "text": text,
        "channel_message_id": channel_message_id,
        "meta": meta or {},
        "created_at": at,
    }


async def record_lines(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[NewLine]:
    """Append lines (:func:`line_row`) to transcripts, in order, with one Core statement: no
    ORM unit of work (two flushes were a third of a web chat message's CPU). Their search
    documents and webhooks' outbox rows are written with them (``storage.rows.insert_lines``)."""
    return await insert_lines(session, rows)


async def record_message(
    session: AsyncSession,
    ticket: Ticket,
    *,
    sender: str,
    text: str,
    at: datetime,
    kind: str = "text",
    channel_message_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> NewLine:
    """Append one line to the ticket's transcript (:func:`record_lines`)."""
    row = line_row(
        ticket,
        sender=sender,
        text=text,
        at=at,
        kind=kind,
        channel_message_id=channel_message_id,
        meta=meta,
    )
    return (await record_lines(session, [row]))[0]


async def last_customer_texts(session: AsyncSession, ticket_id: int, n: int = 3) -> tuple[str, ...]:
    """The customer's last ``n`` messages on a ticket, oldest first (what an offer shows)."""
    texts = (
        (
            await session.execute(
                select(Message.text)
                .where(
                    Message.ticket_id == ticket_id,
                    Message.sender == "customer",
                    # A rating comment is said of the agent, not to one; a pressed button is
                    # in the transcript, not among the lines the customer wrote.
                    Message.kind.not_in(("rating_comment", "choice")),
                )
                .order_by(Message.id.desc())
                .limit(n)
            )
        )
        .scalars()
        .all()
    )
    return tuple(reversed(texts))


class ShownLine(Protocol):
    """What showing a transcript line to agents needs (a stored row, a line just written,
    or a line carried by a notice)."""

    @property
    def sender(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def meta(self) -> Any: ...


def offered_options(message: ShownLine) -> list[dict[str, str]]:
    """The buttons a bot or system line offered the customer: ``[{"label", "data"}]``
    (``options`` kept by the conversation, or a channel's stored ``buttons`` rows)."""
    meta = message.meta or {}
    options = meta.get("options")
    if not options:
        options = [b for row in meta.get("buttons") or [] for b in row]
    return [o for o in options if isinstance(o, dict) and "label" in o]


def transcript_text(message: ShownLine) -> str:
    """A transcript line as agents and supervisors read it: what the bot offered is listed
    under its text, and a button the customer pressed reads as their choice."""
    if message.kind == "choice":
        return f"▸ {message.text}"
    options = offered_options(message) if message.sender in ("bot", "system") else []
    if not options:
        return message.text
    return message.text + "\n" + "  ".join(f"[{o['label']}]" for o in options)


async def transcript(session: AsyncSession, ticket_id: int) -> list[Message]:
    result = await session.execute(
        select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
    )
    return list(result.scalars().all())


async def resolve_by_bot(session: AsyncSession, ticket: Ticket, at: datetime) -> bool:
    """The customer said the bot's answer helped: the contact is resolved by the bot alone."""
    if ticket.state != State.BOT:
        return False
    ticket.state = State.RESOLVED
    ticket.resolution = "bot"
    ticket.resolved_at = at
    record_event(
        session,
        "ticket_resolved",
        at,
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        resolution="bot",
    )
    return True


async def ticket_for_message(
    session: AsyncSession,
    customer: Customer,
    at: datetime,
    reopen_window_s: float,
    open_ticket: Ticket | None = None,
) -> Ticket:
    """The ticket a new customer message belongs to: the open one (``open_ticket``, when the
    caller read it already: :func:`arrival`); else one an agent resolved within the reopen
    window (the message will reopen it); else a new contact."""
    ticket = open_ticket or await open_ticket_for(session, customer)
    if ticket is not None:
        return ticket
    since = at - timedelta(seconds=reopen_window_s)
    recent = (
        await session.execute(_REOPENABLE, {"customer_id": customer.id, "since": since})
    ).scalar_one_or_none()
    if recent is not None:
        return recent
    return await current_ticket(session, customer, at)


async def add_attachment(
    session: AsyncSession,
    ticket_id: int,
    *,
    name: str,
    content_type: str,
    data: bytes,
    at: datetime,
) -> dict[str, Any]:
    """Keep a file sent in a conversation; returns the meta of the ``file`` message that
    carries it (``attachment_id``, ``file_name``, ``file_size``, ``content_type``)."""
    row = Attachment(
        ticket_id=ticket_id,
        name=name[:255] or "file",
        content_type=content_type[:128] or "application/octet-stream",
        size=len(data),
        data=data,
        created_at=at,
    )
    session.add(row)
    await session.flush()
    record_event(session, "file_attached", at, ticket_id=ticket_id, attachment_id=row.id)
    return {
        "attachment_id": row.id,
        "file_name": row.name,
        "file_size": row.size,
        "content_type": row.content_type,
    }
