"""One customer input being handled in its transaction: :class:`Turn` (the customer, their
ticket, what is said and kept), and what every entry shares (finding the customer and the
ticket, flood control, the reply, asking for a person, the pressed button's bookkeeping).

The entries themselves: :mod:`conversation.inputs` (a message, a command),
:mod:`conversation.pressed` (a button) and :mod:`conversation.followup` (the question after a
resolve).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import texts
from app.services import Services
from conversation.hints import HINTS, NeedsUnit
from conversation.keyboards import PRESS_RE, Keyboard, keyboard_rows, label, offered
from conversation.notices import notice_text
from conversation.outputs import Channel, Identity, Line, Pressed, Reply, Say, TicketView
from handoff import actions
from handoff.customers import first_contact, touch_customer
from handoff.engine import Unit
from handoff.flood import Verdict, client_address
from handoff.model import HandoffError
from handoff.notices import CustomerNotice
from handoff.tickets import (
    State,
    arrival,
    line_row,
    offered_options,
    record_lines,
    ticket_for_message,
)
from storage.models import Customer, Message, Ticket
from storage.rows import NewLine

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Turn:
    """One input being handled inside its transaction (and the handoff engine's unit of work
    ``uow`` on it): the customer, their ticket, and the lines said so far."""

    services: Services
    channel: Channel
    session: AsyncSession
    uow: Unit | None  # None: begun without it (:func:`may_hand_off`)
    customer: Customer
    ticket: Ticket
    language: str
    says: list[Say] = field(default_factory=list)
    # The lines the handoff engine said (by index in ``says``): kept as ``system`` lines, on
    # the ticket the notice is about.
    notices: dict[int, int] = field(default_factory=dict)
    # The customer's input, kept (``stored``) or still to be written (``incoming``, a
    # :func:`handoff.tickets.line_row`): a question for the bot is written with the bot's
    # answer, one statement for both (:meth:`keep_says`); anything that needs it in the
    # database first (a handoff action, its id) writes it at once (:meth:`kept_incoming`).
    incoming: dict[str, Any] | None = None
    stored: NewLine | None = None

    async def kept_incoming(self) -> NewLine:
        """The customer's input as stored, written now if it was still to be written."""
        if self.stored is None:
            assert self.incoming is not None, "no input to keep"
            self.stored = (await record_lines(self.session, [self.incoming]))[0]
            self.incoming = None
        return self.stored

    def say(self, text: str, meta: dict[str, Any] | None = None) -> None:
        self.says.append(Say(text, [], dict(meta or {})))

    def offer(self, text: str, keyboard: Keyboard, meta: dict[str, Any] | None = None) -> None:
        """A line with buttons: the options are kept with it (:func:`offered`)."""
        self.says.append(Say(text, keyboard, offered(keyboard, meta)))

    async def act(
        self,
        body: Callable[Concatenate[Unit, P], Awaitable[R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run a handoff action in this input's transaction; on a channel whose lines the core
        keeps, what it tells this customer is said here, after the lines said so far."""
        if self.uow is None:
            raise NeedsUnit
        if self.incoming is not None:  # the action may read it (an offer shows the last lines)
            await self.kept_incoming()
        result = await body(self.uow, *args, **kwargs)
        if self.channel.keeps_lines:
            self._take_notices()
        return result

    def _take_notices(self) -> None:
        """The engine's notices in words for this customer on this channel, taken out of the
        unit's outbox (the port would store and push them after the commit, in a transaction
        of their own and racing the adapter's lines) and said as lines of this input."""
        assert self.uow is not None
        outbox = self.uow.outbox
        for notice in list(outbox):
            if not isinstance(notice, CustomerNotice):
                continue
            to = notice.to
            if to.customer_id != self.customer.id or to.channel != self.channel.name:
                continue
            said = notice_text(notice)
            if said is None:  # an agent's line: the port pushes it
                continue
            outbox.remove(notice)
            self.notices[len(self.says)] = to.ticket_id
            self.says.append(Say(said[0], said[1], {"notice": notice.kind}))

    def remember(self) -> None:
        """What this input leaves, as a hint for the customer's next one (:class:`_Hints`)."""
        # The stored language, as the next question's match is called with it (``language``
        # may be the language of this answer only).
        HINTS.put(
            self.channel,
            self.customer.external_id,
            self.ticket.state,
            self.customer.language,
            awaiting=self.customer.awaiting_comment_ticket_id is not None,
        )

    async def keep_says(self) -> tuple[Say, ...]:
        """The lines said, stored now on a channel whose lines the core keeps (the bot's, and
        the handoff engine's as ``system`` lines, as its port would keep them), after the
        customer's input if it is still to be written: one statement for all of them."""
        rows = [] if self.incoming is None else [self.incoming]
        if self.channel.keeps_lines:
            now = self.services.clock.now()
            for n, say in enumerate(self.says):
                ticket_id = self.notices.get(n)
                ticket = self.ticket
                if ticket_id is not None:
                    found = await self.session.get(Ticket, ticket_id)
                    assert found is not None
                    ticket = found
                sender = "bot" if ticket_id is None else "system"
                rows.append(say_row(ticket, say, sender, now))
        lines = await record_lines(self.session, rows)
        if self.incoming is not None:
            self.stored, self.incoming = lines[0], None
            lines = lines[1:]
        if not self.channel.keeps_lines:
            return tuple(self.says)
        return tuple(
            replace(say, line=line_of(line)) for say, line in zip(self.says, lines, strict=True)
        )


def line_of(message: Message | NewLine) -> Line:
    return Line(
        message.id,
        message.customer_id,
        message.sender,
        message.kind,
        message.text,
        message.created_at,
        dict(message.meta or {}),
    )


def ticket_view(ticket: Ticket) -> TicketView:
    """The ticket's state as the customer's chat controls show it."""
    state = ticket.state
    if state == State.CLOSED or (state == State.RESOLVED and ticket.resolution != "bot"):
        state = State.RESOLVED
    elif state == State.RESOLVED:
        state = State.BOT  # solved by the bot: the customer simply goes on asking
    return TicketView(ticket.id, str(state))


def say_row(ticket: Ticket, say: Say, sender: str, at: datetime) -> dict[str, Any]:
    """The transcript line of what the web chat says (its Telegram command hints made button
    hints, its buttons kept for the page)."""
    return line_row(
        ticket,
        sender=sender,
        text=texts.on_web(say.text),
        meta={**say.meta, "buttons": keyboard_rows(say.keyboard)},
        at=at,
    )


async def keep_say(
    session: AsyncSession, ticket: Ticket, say: Say, sender: str, at: datetime
) -> Say:
    """Store a line the web chat says; the same line, with what was stored."""
    (line,) = await record_lines(session, [say_row(ticket, say, sender, at)])
    return replace(say, line=line_of(line))


async def arrive(
    session: AsyncSession, services: Services, channel: Channel, identity: Identity
) -> tuple[Customer, Ticket]:
    """The customer (found or created, refreshed) and the ticket their input belongs to."""
    customer, ticket, _earlier = await arrive_checked(session, services, channel, identity, None)
    return customer, ticket


async def touch(
    session: AsyncSession,
    services: Services,
    channel: Channel,
    identity: Identity,
    at: datetime,
    found: Customer | None = None,
) -> Customer:
    """The customer of ``identity`` on ``channel``, created or refreshed at ``at`` from what
    the channel tells of them (``found``: already read, :func:`handoff.tickets.arrival`)."""
    return await touch_customer(
        session,
        channel=channel.name,
        external_id=identity.external_id,
        name=identity.name,
        username=identity.username,
        language_code=identity.language_code,
        default_language=services.settings.default_language,
        at=at,
        found=found,
    )


async def arrive_checked(
    session: AsyncSession,
    services: Services,
    channel: Channel,
    identity: Identity,
    client_id: str | None,
) -> tuple[Customer, Ticket, int | None]:
    """:func:`arrive`, and the id of the customer's message already kept under ``client_id``
    (a resend), if any: the customer, their open ticket and the resend read in ONE statement
    (:func:`handoff.tickets.arrival`); a new customer or contact costs the reads it did."""
    now = services.clock.now()
    found, open_ticket, earlier = await arrival(
        session, channel.name, identity.external_id, client_id
    )
    if found is None:  # a new customer: created with their first ticket, in few statements
        customer, ticket = await first_contact(
            session,
            channel=channel.name,
            external_id=identity.external_id,
            name=identity.name,
            username=identity.username,
            language_code=identity.language_code,
            default_language=services.settings.default_language,
            at=now,
        )
        return customer, ticket, None
    customer = await touch(session, services, channel, identity, now, found)
    ticket = await ticket_for_message(
        session, customer, now, services.handoff.config.reopen_window_s, open_ticket
    )
    return customer, ticket, earlier


def refusal(
    services: Services, channel: Channel, external_id: str, address: str | None
) -> Verdict | None:
    """Flood control on a customer's message, press or file (one bucket per customer, and on
    the web per address): the refusal, or None when it may be handled. Counted once: an
    adapter that checks first (the web chat, before validating a frame or reading an upload)
    tells the entry ``flood_checked``."""
    verdict = services.flood.message(f"{channel.name}:{external_id}", address)
    return None if verdict.allowed else verdict


def flood_refusal(
    services: Services, channel: Channel, identity: Identity, checked: bool
) -> Verdict | None:
    if checked:
        return None
    return refusal(services, channel, identity.external_id, client_address.get())


def turn_reply(turn: Turn, says: tuple[Say, ...], **outcome: Any) -> Reply:
    turn.remember()
    return Reply(
        turn.customer.id,
        turn.ticket.id,
        turn.language,
        says=says,
        ticket=ticket_view(turn.ticket),
        **outcome,
    )


async def hand_off(turn: Turn, reason: str) -> None:
    """Into the queue: the handoff engine tells the customer their place (through the port)."""
    ticket, lang = turn.ticket, turn.language
    if ticket.state not in (State.BOT, State.RESOLVED):
        turn.say(texts.text("customer.handoff_waiting", lang, ticket=ticket.id))
        return
    if turn.uow is None:  # before flood control counts the request
        raise NeedsUnit
    if ticket.state == State.BOT:  # a new place in the queue: flood control first
        verdict = turn.services.flood.handoff(f"customer:{turn.customer.id}", client_address.get())
        if not verdict.allowed:
            minutes = max(1, math.ceil(verdict.retry_after_s / 60))
            turn.say(texts.text("customer.handoff_limited", lang, minutes=minutes))
            return
    try:
        if ticket.state == State.RESOLVED:  # an agent closed it: asking again reopens it
            await turn.act(actions.customer_wrote, ticket.id)
        else:
            await turn.act(actions.request_human, ticket.id, reason=reason)
    except HandoffError:  # refused before anything changed: the input itself is kept
        log.exception("handoff failed for ticket %s", ticket.id)
        turn.say(texts.text("customer.error", lang))


async def choice_label(turn: Turn, data: str) -> str:
    """The label of the button the customer pressed, as it was offered to them (the latest
    line on their ticket offering it), or a fallback made from the data."""
    recent = (
        (
            await turn.session.execute(
                select(Message)
                .where(Message.ticket_id == turn.ticket.id, Message.sender != "customer")
                .order_by(Message.id.desc())
                .limit(30)
            )
        )
        .scalars()
        .all()
    )
    for message in recent:
        for option in offered_options(message):
            if option.get("data") == data:
                return str(option["label"])
    match = PRESS_RE.match(data)
    lang = turn.language
    if match is None:
        return data
    if match["fb_v"]:
        return texts.text("customer.yes" if match["fb_v"] == "y" else "customer.no", lang)
    if match["art_a"]:
        article = turn.services.faq.article(int(match["art_a"]))
        return label(article.question) if article else data
    if match["human"]:
        return texts.text("customer.talk_to_person", lang)
    if match["lang"]:
        return texts.text("customer.language_name", match["lang"])
    if match["rate_s"]:
        return f"{match['rate_s']} ★"
    if match["rsk"]:
        return texts.text("customer.skip", lang)
    if match["fu_v"]:
        names = {"y": "yes", "n": "no", "x": "never"}
        return texts.text(f"customer.followup_{names[match['fu_v']]}", lang)
    return data


async def record_choice(turn: Turn, data: str) -> None:
    """Keep the customer's press in the transcript as what they did (kind ``choice``; written
    with the lines said, :meth:`Turn.keep_says`)."""
    text = await choice_label(turn, data)
    turn.incoming = line_row(
        turn.ticket,
        sender="customer",
        text=text,
        kind="choice",
        meta={"data": data},
        at=turn.services.clock.now(),
    )


async def update_pressed(turn: Turn, line_id: int, outcome: Pressed) -> Line | None:
    """The pressed line changes: its buttons go, or it gets a new text and buttons."""
    if not (outcome.drop_buttons or outcome.replace is not None):
        return None
    message = await turn.session.get(Message, line_id)
    if message is None or message.customer_id != turn.customer.id:
        return None
    meta = dict(message.meta or {})
    if outcome.replace is not None:
        message.text, keyboard = outcome.replace
        meta["buttons"] = keyboard_rows(keyboard)
    else:
        meta["buttons"] = []
    message.meta = meta
    return line_of(message)
