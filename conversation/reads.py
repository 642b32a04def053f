"""What the channel adapters show, read for them in one transaction each (they never open one
themselves), and the few writes that come from a channel rather than from the customer: a
web visitor arriving, the engine's notices said in the web chat, a customer who blocked the bot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import texts
from app.services import Services
from conversation.hints import HINTS
from conversation.notices import notice_text
from conversation.outputs import WEB, Identity, Line, Say, StoredLine, TicketView, Visitor
from conversation.turn import arrive, keep_say, line_of, ticket_view
from handoff.customers import find_customer, mark_unreachable, touch_customer
from handoff.flood import client_address
from handoff.notices import CustomerNotice
from handoff.tickets import open_ticket_for
from storage.models import Agent, Attachment, Customer, Message, Ticket


@dataclass(frozen=True)
class FrameContext:
    """What showing lines needs besides the lines: the agents' names (by id) and the web
    owners' stored keys (by customer id, to sign their file links)."""

    agent_names: dict[int, str] = field(default_factory=dict)
    owner_keys: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Welcome:
    """What a web visitor sees on (re)connecting: their language, their latest ticket, and
    the lines they have not seen yet (oldest first) with what showing them needs."""

    language: str
    ticket: TicketView | None
    lines: tuple[Line, ...]
    context: FrameContext


@dataclass(frozen=True)
class FileView:
    """A stored chat file and whose conversation it is."""

    name: str
    content_type: str
    data: bytes
    owner_channel: str
    owner_key: str


class TooManyVisitors(Exception):
    """A new web visitor turned away by flood control; the message says so, in their
    language."""


async def _latest(session: AsyncSession, customer_id: int) -> TicketView | None:
    ticket = (
        await session.execute(
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return ticket_view(ticket) if ticket is not None else None


async def _context(session: AsyncSession, lines: Sequence[StoredLine]) -> FrameContext:
    ids = {int(m.meta["agent_id"]) for m in lines if m.sender == "agent" and m.meta.get("agent_id")}
    names: dict[int, str] = {}
    if ids:
        rows = (await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))).all()
        names = {int(i): str(n) for i, n in rows}
    owners = {m.customer_id for m in lines if m.kind == "file"}
    keys: dict[int, str] = {}
    if owners:
        rows = (
            await session.execute(
                select(Customer.id, Customer.external_id).where(
                    Customer.id.in_(owners), Customer.channel == WEB.name
                )
            )
        ).all()
        keys = {int(i): str(k) for i, k in rows}
    return FrameContext(names, keys)


async def frame_context(services: Services, lines: Sequence[StoredLine]) -> FrameContext:
    """The agents' names and the file owners' keys the ``lines`` need to be shown."""
    if not any(m.sender == "agent" or m.kind == "file" for m in lines):
        return FrameContext()
    async with services.db.transaction() as session:
        return await _context(session, lines)


async def lines_by_id(
    services: Services, ids: Sequence[int]
) -> tuple[tuple[Line, ...], FrameContext]:
    """Stored lines (those that exist, in id order) with what showing them needs."""
    async with services.db.transaction() as session:
        rows = (
            (await session.execute(select(Message).where(Message.id.in_(ids)).order_by(Message.id)))
            .scalars()
            .all()
        )
        lines = tuple(line_of(m) for m in rows)
        return lines, await _context(session, lines)


async def latest_ticket(services: Services, customer_id: int) -> TicketView | None:
    """The customer's latest ticket (their open one, if any: a customer has at most one, and
    it is the newest), as their chat controls show it."""
    async with services.db.transaction() as session:
        return await _latest(session, customer_id)


async def language_of(services: Services, customer_id: int) -> str:
    """The customer's language (the default for an unknown customer)."""
    async with services.db.transaction() as session:
        customer = await session.get(Customer, customer_id)
        return customer.language if customer else services.settings.default_language


async def find_visitor(services: Services, key: str) -> Visitor | None:
    """The web visitor stored under ``key`` (the hash of their secret), if any."""
    async with services.db.transaction() as session:
        customer = await find_customer(session, WEB.name, key)
        return _visitor(customer) if customer is not None else None


def _visitor(customer: Customer) -> Visitor:
    return Visitor(customer.id, customer.external_id, customer.name, customer.language)


async def welcome(services: Services, customer_id: int, after: int, limit: int) -> Welcome:
    """What a visitor who has shown lines up to id ``after`` has not seen yet (the last
    ``limit``), their language and their latest ticket."""
    async with services.db.transaction() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        rows = (
            (
                await session.execute(
                    select(Message)
                    .where(Message.customer_id == customer_id, Message.id > after)
                    .order_by(Message.id.desc())
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        ticket = await _latest(session, customer_id)
        lines = tuple(line_of(m) for m in reversed(rows))
        if ticket is not None:
            HINTS.put(
                WEB,
                customer.external_id,
                ticket.state,
                customer.language,
                awaiting=customer.awaiting_comment_ticket_id is not None,
            )
        return Welcome(customer.language, ticket, lines, await _context(session, lines))


async def attachment(services: Services, attachment_id: int) -> FileView | None:
    """A stored chat file with its owner, if both exist."""
    async with services.db.transaction() as session:
        row = await session.get(Attachment, attachment_id)
        ticket = await session.get(Ticket, row.ticket_id) if row else None
        owner = await session.get(Customer, ticket.customer_id) if ticket else None
        if row is None or owner is None:
            return None
        return FileView(row.name, row.content_type, row.data, owner.channel, owner.external_id)


async def open_ticket_of(
    services: Services, channel: str, external_id: str
) -> tuple[int, str] | None:
    """The customer's open ticket id and their name, if they have one."""
    async with services.db.transaction() as session:
        customer = await find_customer(session, channel, external_id)
        ticket = await open_ticket_for(session, customer) if customer else None
        if customer is None or ticket is None:
            return None
        return ticket.id, customer.name


# ---------------------------------------------------------------------- writes from a channel


async def visitor_hello(
    services: Services, key: str, name: str, language: str | None, *, time_zone: str | None = None
) -> tuple[Visitor, bool]:
    """A web visitor opens the chat: their customer row (``key``: the hash of their secret),
    name and page language refreshed; True when they are new, and then the bot says hello
    (which opens their first ticket). A returning visitor who only looks opens no ticket.
    ``time_zone``: the browser's IANA zone (checked by the adapter), kept on the customer.
    Raises :class:`TooManyVisitors` when flood control turns a new visitor away."""
    now = services.clock.now()
    async with services.db.transaction() as session:
        customer = await find_customer(session, WEB.name, key)
        is_new = customer is None
        if is_new:
            verdict = services.flood.new_visitor(client_address.get())
            if not verdict.allowed:
                shown = language or services.settings.default_language
                minutes = max(1, math.ceil(verdict.retry_after_s / 60))
                raise TooManyVisitors(
                    texts.text("customer.too_many_visitors", shown, minutes=minutes)
                )
        display = name.strip()[:128] or (customer.name if customer else "")
        customer = await touch_customer(
            session,
            channel=WEB.name,
            external_id=key,
            name=display or f"Web visitor {key[:4]}",
            username=None,
            language_code=language,
            default_language=services.settings.default_language,
            at=now,
        )
        if time_zone is not None and customer.time_zone != time_zone:
            customer.time_zone = time_zone  # the browser's: no follow-up at night there
        if is_new:
            _customer, ticket = await arrive(
                session, services, WEB, Identity(customer.external_id, customer.name)
            )
            shop = services.settings.brand_name
            # No name to greet by: "Hello !" reads badly, "Hello!".
            greeting = texts.text("customer.greeting", customer.language, name="", shop=shop)
            await keep_say(session, ticket, Say(greeting.replace(" !", "!", 1)), "bot", now)
        return _visitor(customer), is_new


async def keep_notice(
    services: Services, notice: CustomerNotice
) -> tuple[Line | None, TicketView | None]:
    """A notice of the handoff engine said in the web chat: the line kept (None for a notice
    not said in words) and the customer's latest ticket after it."""
    said = notice_text(notice)
    async with services.db.transaction() as session:
        line = None
        if said is not None:
            ticket = await session.get(Ticket, notice.to.ticket_id)
            assert ticket is not None
            text, keyboard = said
            say = Say(text, keyboard, {"notice": notice.kind})
            kept = await keep_say(session, ticket, say, "system", services.clock.now())
            line = kept.line
        return line, await _latest(session, notice.to.customer_id)


async def customer_unreachable(services: Services, customer_id: int, reason: str) -> None:
    """The customer blocked the bot: marked so, until they write again."""
    async with services.db.transaction() as session:
        await mark_unreachable(session, customer_id, services.clock.now(), reason)
