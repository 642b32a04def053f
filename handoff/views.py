"""What the agent side reads: named read functions returning frozen read models.

The adapters (the Telegram agent handlers and port in ``bot/``, the browser console in
``web/console.py``) open no transaction of their own: what they show comes from here, each
function one short transaction, each result a frozen dataclass that outlives it.

"The ticket is with an agent" is :func:`handoff.tickets.is_with_agent` everywhere here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from handoff import canned
from handoff.notices import OfferMade
from handoff.service import offer_notice
from handoff.tickets import WITH_AGENT, State, is_with_agent
from storage.db import Database
from storage.models import Agent, Attachment, Customer, Message, Note, Offer, Relay, Ticket

QUEUE_STATES = (State.QUEUED.value, State.OFFERED.value)

# The console's transcript rows are the stored rows: ``web.chat.frames_for`` (the customer's
# frames, which the console reuses) takes them. A read model once frames_for takes one.
TranscriptRow: TypeAlias = Message


@dataclass(frozen=True)
class AgentView:
    """An agent as the agent side shows them, with their load (live chats now)."""

    id: int
    name: str
    role: str
    telegram_id: str | None
    status: str
    capacity: int
    load: int
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    routing_priority: int
    current_ticket_id: int | None
    wrap_up_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


@dataclass(frozen=True)
class Contact:
    """A ticket's customer: who they are and where they are reached."""

    id: int
    name: str
    channel: str
    external_id: str
    language: str


@dataclass(frozen=True)
class LiveChat:
    """A chat with an agent (:func:`is_with_agent`) and its customer."""

    ticket_id: int
    state: str
    channel: str
    priority: str
    category: str
    language: str
    assignee_id: int
    assigned_at: datetime | None
    customer: Contact
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListedChat:
    """A chat with an agent as their list shows it: with its last line, if any."""

    chat: LiveChat
    last: TranscriptRow | None


@dataclass(frozen=True)
class QueuedChat:
    """A ticket waiting for an agent (queued, or offered to one now)."""

    ticket_id: int
    priority: str
    state: str
    customer_name: str
    requested_at: datetime | None


@dataclass(frozen=True)
class NoteView:
    id: int
    text: str
    agent: str  # the author's name; empty when none or removed
    created_at: datetime


@dataclass(frozen=True)
class CannedView:
    shortcut: str
    lang: str
    text: str


@dataclass(frozen=True)
class Line:
    """A stored transcript line, as channels carry it."""

    id: int
    ticket_id: int
    customer_id: int
    sender: str
    kind: str
    text: str
    channel_message_id: str | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """A transcript line with its ticket's customer: what a channel needs to carry it."""

    line: Line
    customer: Contact


@dataclass(frozen=True)
class AttachmentView:
    id: int
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ChatDetail:
    """One of an agent's chats as the console opens it: the chat, the customer's recent
    transcript (every ticket of theirs, oldest first) and the ticket's internal notes."""

    chat: LiveChat
    last: TranscriptRow | None  # the ticket's last line, as the chat list shows it
    messages: tuple[TranscriptRow, ...]
    notes: tuple[NoteView, ...]


def _load_column() -> ScalarSelect[int]:
    """The agent's live chats, as a column of the agent query (one statement)."""
    return (
        select(func.count(Ticket.id))
        .where(Ticket.assignee_id == Agent.id, Ticket.state.in_(WITH_AGENT))
        .scalar_subquery()
    )


def _agent(row: Agent, load: int) -> AgentView:
    return AgentView(
        id=row.id,
        name=row.name,
        role=row.role,
        telegram_id=row.telegram_id,
        status=row.status,
        capacity=row.capacity,
        load=int(load or 0),
        skills=tuple(row.skills),
        languages=tuple(row.languages),
        routing_priority=row.routing_priority,
        current_ticket_id=row.current_ticket_id,
        wrap_up_until=row.wrap_up_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _contact(row: Customer) -> Contact:
    return Contact(row.id, row.name, row.channel, row.external_id, row.language)


def _live(ticket: Ticket, customer: Customer) -> LiveChat:
    assert ticket.assignee_id is not None
    return LiveChat(
        ticket_id=ticket.id,
        state=ticket.state,
        channel=ticket.channel,
        priority=ticket.priority,
        category=ticket.category,
        language=ticket.language,
        assignee_id=ticket.assignee_id,
        assigned_at=ticket.assigned_at,
        customer=_contact(customer),
        tags=tuple(ticket.tags or ()),
    )


def _line(row: Message) -> Line:
    return Line(
        id=row.id,
        ticket_id=row.ticket_id,
        customer_id=row.customer_id,
        sender=row.sender,
        kind=row.kind,
        text=row.text,
        channel_message_id=row.channel_message_id,
        meta=dict(row.meta or {}),
    )


# ---------------------------------------------------------------------- agents


async def agent(db: Database, agent_id: int) -> AgentView | None:
    async with db.transaction() as session:
        row = (
            await session.execute(select(Agent, _load_column()).where(Agent.id == agent_id))
        ).first()
    return _agent(row[0], row[1]) if row else None


async def agent_by_telegram(db: Database, telegram_id: str) -> AgentView | None:
    """The agent registered with this Telegram user id, if any."""
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Agent, _load_column()).where(Agent.telegram_id == telegram_id)
            )
        ).first()
    return _agent(row[0], row[1]) if row else None


async def roster(db: Database) -> list[AgentView]:
    """Every agent, in the order they were added."""
    async with db.transaction() as session:
        rows = (await session.execute(select(Agent, _load_column()).order_by(Agent.id))).all()
    return [_agent(a, load) for a, load in rows]


async def supervisors(db: Database) -> list[AgentView]:
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Agent, _load_column()).where(Agent.role == "supervisor").order_by(Agent.id)
            )
        ).all()
    return [_agent(a, load) for a, load in rows]


# ---------------------------------------------------------------------- chats


async def live_chat(db: Database, ticket_id: int, agent_id: int) -> LiveChat | None:
    """Ticket ``ticket_id`` if it is with agent ``agent_id`` now, else None."""
    async with db.transaction() as session:
        row = await _held(session, ticket_id, agent_id)
    return None if row is None else _live(*row)


async def _held(
    session: AsyncSession, ticket_id: int, agent_id: int
) -> tuple[Ticket, Customer] | None:
    """Ticket ``ticket_id`` and its customer, if the ticket is with agent ``agent_id`` now."""
    row = (
        await session.execute(
            select(Ticket, Customer)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.id == ticket_id)
        )
    ).first()
    if row is None or not is_with_agent(row[0].state, row[0].assignee_id, agent_id):
        return None
    return row[0], row[1]


async def _live_chats(session: AsyncSession, agent_id: int) -> list[LiveChat]:
    rows = (
        await session.execute(
            select(Ticket, Customer)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.assignee_id == agent_id, Ticket.state.in_(WITH_AGENT))
            .order_by(Ticket.assigned_at, Ticket.id)
        )
    ).all()
    return [_live(ticket, customer) for ticket, customer in rows]


async def live_chats(db: Database, agent_id: int) -> list[LiveChat]:
    """The chats with agent ``agent_id`` (every channel), in the order they were assigned."""
    async with db.transaction() as session:
        return await _live_chats(session, agent_id)


async def chat_list(db: Database, agent_id: int) -> list[ListedChat]:
    """:func:`live_chats`, each with its last line (the console's list), in one transaction."""
    async with db.transaction() as session:
        chats = await _live_chats(session, agent_id)
        last = await _last_lines(session, [c.ticket_id for c in chats])
    return [ListedChat(chat, last.get(chat.ticket_id)) for chat in chats]


async def agents_holding(db: Database, customer_id: int) -> list[int]:
    """The agents a chat of this customer is with (a web visitor came or went)."""
    async with db.transaction() as session:
        ids = (
            await session.execute(
                select(Ticket.assignee_id).where(
                    Ticket.customer_id == customer_id,
                    Ticket.state.in_(WITH_AGENT),
                    Ticket.assignee_id.is_not(None),
                )
            )
        ).scalars()
        return [i for i in ids if i is not None]


async def queue(db: Database, limit: int = 30) -> list[QueuedChat]:
    """The tickets waiting for an agent, first served first."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Ticket, Customer.name)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(Ticket.state.in_(QUEUE_STATES))
                .order_by(Ticket.rank_at, Ticket.id)
                .limit(limit)
            )
        ).all()
    return [QueuedChat(t.id, t.priority, t.state, name, t.handoff_requested_at) for t, name in rows]


async def pending_offers(db: Database, agent_id: int, now: datetime) -> list[OfferMade]:
    """The agent's offers still open at ``now``, as they were shown (after a page reload)."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Offer, Ticket)
                .join(Ticket, Ticket.id == Offer.ticket_id)
                .where(Offer.agent_id == agent_id, Offer.state == "pending", Offer.deadline > now)
            )
        ).all()
        return [
            await offer_notice(session, offer.id, agent_id, ticket, offer.deadline, now)
            for offer, ticket in rows
        ]


async def offer_message_ref(db: Database, offer_id: str) -> str | None:
    """Where the offer was shown on Telegram (``"chat:message"``), if it was."""
    async with db.transaction() as session:
        offer = await session.get(Offer, offer_id)
        return offer.agent_message if offer else None


# ---------------------------------------------------------------------- transcript


async def transcript_rows(db: Database, message_ids: Sequence[int]) -> list[TranscriptRow]:
    """The stored lines ``message_ids``, in that order (missing ones left out)."""
    if not message_ids:
        return []
    async with db.transaction() as session:
        rows = (await session.execute(select(Message).where(Message.id.in_(message_ids)))).all()
    by_id = {row[0].id: row[0] for row in rows}
    return [by_id[i] for i in message_ids if i in by_id]


async def _last_lines(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, TranscriptRow]:
    if not ticket_ids:
        return {}
    last = (
        select(func.max(Message.id))
        .where(Message.ticket_id.in_(ticket_ids))
        .group_by(Message.ticket_id)
    )
    rows = (await session.execute(select(Message).where(Message.id.in_(last)))).scalars()
    return {row.ticket_id: row for row in rows}


async def last_lines(db: Database, ticket_ids: Sequence[int]) -> dict[int, TranscriptRow]:
    """Each ticket's last transcript line (tickets without one are left out)."""
    async with db.transaction() as session:
        return await _last_lines(session, ticket_ids)


async def chat_detail(
    db: Database, ticket_id: int, agent_id: int, limit: int = 200
) -> ChatDetail | None:
    """Ticket ``ticket_id`` as agent ``agent_id`` opens it; None unless it is with them."""
    async with db.transaction() as session:
        row = await _held(session, ticket_id, agent_id)
        if row is None:
            return None
        messages = (
            await session.execute(
                select(Message)
                .where(Message.customer_id == row[1].id)
                .order_by(Message.id.desc())
                .limit(limit)
            )
        ).scalars()
        notes = (
            await session.execute(
                select(Note, Agent.name)
                .outerjoin(Agent, Agent.id == Note.agent_id)
                .where(Note.ticket_id == ticket_id)
                .order_by(Note.id)
            )
        ).all()
        last = await _last_lines(session, [ticket_id])
        return ChatDetail(
            chat=_live(row[0], row[1]),
            last=last.get(ticket_id),
            messages=tuple(reversed(list(messages))),
            notes=tuple(NoteView(n.id, n.text, name or "", n.created_at) for n, name in notes),
        )


async def note(db: Database, note_id: int) -> NoteView | None:
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Note, Agent.name)
                .outerjoin(Agent, Agent.id == Note.agent_id)
                .where(Note.id == note_id)
            )
        ).first()
    return NoteView(row[0].id, row[0].text, row[1] or "", row[0].created_at) if row else None


async def delivery(db: Database, message_id: int) -> Delivery | None:
    """A stored line and its ticket's customer (None when either is gone)."""
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Message, Customer)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(Message.id == message_id)
            )
        ).first()
    return Delivery(_line(row[0]), _contact(row[1])) if row else None


async def attachment(db: Database, attachment_id: int) -> AttachmentView | None:
    async with db.transaction() as session:
        row = await session.get(Attachment, attachment_id)
        return AttachmentView(row.id, row.name, row.content_type, row.data) if row else None


# ---------------------------------------------------------------------- relays


async def relayed_ticket(db: Database, chat_id: int, message_id: int) -> int | None:
    """The ticket whose carried copy is ``message_id`` in ``chat_id`` (what an agent replied
    to)."""
    async with db.transaction() as session:
        return (
            await session.execute(
                select(Relay.ticket_id)
                .where(Relay.target_chat == str(chat_id), Relay.target_message == str(message_id))
                .limit(1)
            )
        ).scalar_one_or_none()


async def relayed_copies(db: Database, chat_id: int, message_id: int) -> list[tuple[int, int]]:
    """Where message ``message_id`` of ``chat_id`` was carried: (chat, message) of each copy."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Relay.target_chat, Relay.target_message).where(
                    Relay.source_chat == str(chat_id), Relay.source_message == str(message_id)
                )
            )
        ).all()
    return [(int(chat), int(message)) for chat, message in rows]


# ---------------------------------------------------------------------- canned replies


async def canned_replies(db: Database) -> list[CannedView]:
    async with db.transaction() as session:
        rows = await canned.list_canned(session)
        return [CannedView(r.shortcut, r.lang, r.text) for r in rows]


async def filled_canned(db: Database, shortcut: str, ticket_id: int, agent_id: int) -> str | None:
    """The canned reply ``shortcut`` filled in for this chat (:func:`handoff.canned.canned_for`)."""
    async with db.transaction() as session:
        return await canned.canned_for(session, shortcut, ticket_id, agent_id)


@dataclass(frozen=True)
class Watched:
    """A ticket as a supervisor watches it live: its state, who holds it, and the lines of
    this ticket after a given one (the page asks again with the last id it has)."""

    ticket_id: int
    state: str
    assignee_id: int | None
    assignee_name: str
    customer_name: str
    messages: tuple[TranscriptRow, ...]


async def watched(db: Database, ticket_id: int, after: int = 0, limit: int = 200) -> Watched | None:
    """Ticket ``ticket_id`` with its lines after message ``after`` (served by
    ``ix_messages_ticket``); None if there is no such ticket. Who may watch is the caller's
    check (supervisors)."""
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Ticket, Customer.name, Agent.name)
                .join(Customer, Customer.id == Ticket.customer_id)
                .outerjoin(Agent, Agent.id == Ticket.assignee_id)
                .where(Ticket.id == ticket_id)
            )
        ).first()
        if row is None:
            return None
        ticket, customer_name, assignee_name = row
        messages = (
            await session.execute(
                select(Message)
                .where(Message.ticket_id == ticket_id, Message.id > after)
                .order_by(Message.id)
                .limit(limit)
            )
        ).scalars()
        return Watched(
            ticket_id=ticket.id,
            state=ticket.state,
            assignee_id=ticket.assignee_id if ticket.state in WITH_AGENT else None,
            assignee_name=(assignee_name or "") if ticket.state in WITH_AGENT else "",
            customer_name=customer_name or "",
            messages=tuple(messages),
        )
