"""The customer's inputs, one core entry each, each ONE transaction for all its reads and writes.

:func:`customer_wrote` (a text or a file), :func:`customer_command` (``/start``...) and
:func:`customer_pressed` (a button) each: check flood control (in memory, before anything is
read), touch the customer, find the ticket the input belongs to, keep the input (a resend under
a known ``client_id`` is recognised and not handled twice), decide, keep the bot's lines (on a
channel whose lines the core keeps) and return what to say. The FAQ's ``prepare`` (the query
embedding, tens of ms) runs before the transaction opens, so it never holds one.

Handoff actions (ask for a person, reopen, relay a line to the agent who has the chat, cancel,
rate, comment on the rating) run in the same transaction: an entry whose input may hand off
enters the handoff engine's unit of work (``services.handoff.unit``) right after the transaction
begins, before any row is read or written (the lock order of :mod:`handoff.engine`), and calls
:mod:`handoff.actions` through it. Whether it may is decided before BEGIN from what this process
last saw of the customer and from the input (:mod:`conversation.hints`), so a chat with the bot
never waits for the engine's lock; an input that turns out to need the unit after all (the hint
was stale: another process queued the chat) is rolled back and run again with it. The
engine's notices go out after the commit, through the port; on a channel whose lines the core
keeps (the web chat), what the engine tells *this* customer (their place in the queue...) is
stored in the same transaction and returned as lines to say after the input's own, so the
adapter only pushes them, in order.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import texts
from app.services import Services
from conversation.hints import HINTS, NeedsUnit, in_transaction, may_hand_off, prepare
from conversation.keyboards import (
    PRESS_RE,
    Keyboard,
    answer_text,
    feedback_keyboard,
    human_keyboard,
    keyboard_rows,
    label,
    language_keyboard,
    offered,
    skip_keyboard,
    suggestions_keyboard,
)
from conversation.notices import notice_text
from conversation.outputs import (
    Channel,
    Identity,
    Line,
    Pressed,
    Reply,
    Say,
    TicketView,
)
from faq.matcher import Outcome
from faq.person import wants_person
from faq.service import MAX_QUERY_CHARS, Prepared
from handoff import actions
from handoff.customers import set_language, touch_customer
from handoff.engine import Unit
from handoff.flood import Verdict, client_address
from handoff.model import HandoffError
from handoff.notices import CustomerNotice
from handoff.tickets import (
    State,
    add_attachment,
    arrival,
    line_row,
    offered_options,
    record_lines,
    resolve_by_bot,
    ticket_for_message,
)
from storage.models import Customer, Message, Ticket
from storage.rows import NewLine

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

COMMANDS = ("start", "help", "language", "human", "cancel")
# Commands work in any state (like Telegram's); other /words go to the bot only while it has
# the conversation (an agent may be sent a path like /orders/12).
COMMAND_WORDS = tuple(f"/{name}" for name in COMMANDS)


@dataclass
class _Turn:
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


# ---------------------------------------------------------------------- the transaction


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
    customer = await touch_customer(
        session,
        channel=channel.name,
        external_id=identity.external_id,
        name=identity.name,
        username=identity.username,
        language_code=identity.language_code,
        default_language=services.settings.default_language,
        at=now,
        found=found,
    )
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


def _flood(
    services: Services, channel: Channel, identity: Identity, checked: bool
) -> Verdict | None:
    if checked:
        return None
    return refusal(services, channel, identity.external_id, client_address.get())


async def _keep_incoming(
    turn: _Turn,
    text: str,
    *,
    kind: str,
    channel_message_id: str | None,
    meta: dict[str, Any] | None,
    client_id: str | None,
    file: tuple[str, str, bytes] | None,
) -> None:
    """Keep the customer's input on their ticket (``turn.incoming``: written with the bot's
    answer, or at once when something needs it first); with ``file`` (name, content type,
    bytes), the file is kept with it and the message is of kind ``file``."""
    now = turn.services.clock.now()
    extra: dict[str, Any] = {"client_id": client_id} if client_id is not None else {}
    if kind == "text" and turn.customer.awaiting_comment_ticket_id is not None and file is None:
        # The comment on a rating: kept as what it is, never as a line for an agent.
        kind = "rating_comment"
    if file is not None:
        name, content_type, data = file
        extra |= await add_attachment(
            turn.session, turn.ticket.id, name=name, content_type=content_type, data=data, at=now
        )
        kind = "file"
    turn.incoming = line_row(
        turn.ticket,
        sender="customer",
        text=text,
        kind=kind,
        channel_message_id=channel_message_id,
        meta={**(meta or {}), **extra},
        at=now,
    )


def _reply(turn: _Turn, says: tuple[Say, ...], **outcome: Any) -> Reply:
    turn.remember()
    return Reply(
        turn.customer.id,
        turn.ticket.id,
        turn.language,
        says=says,
        ticket=ticket_view(turn.ticket),
        **outcome,
    )


# ---------------------------------------------------------------------- entries


async def customer_wrote(
    services: Services,
    channel: Channel,
    identity: Identity,
    text: str,
    *,
    kind: str = "text",
    client_id: str | None = None,
    file: tuple[str, str, bytes] | None = None,
    channel_message_id: str | None = None,
    meta: dict[str, Any] | None = None,
    flood_checked: bool = False,
) -> Reply:
    """A customer's message: a text (``kind`` ``text``), a file (``file``: name, content type,
    bytes) or the channel's media (``kind`` ``photo``...; ``text`` is its caption).

    ``client_id``: a channel whose client may resend (the web chat) names each message; a
    message already kept under it comes back with ``new`` False. ``flood_checked``: the
    adapter checked flood control itself (an upload, before reading its body)."""
    refused = _flood(services, channel, identity, flood_checked)
    if refused is not None:
        return Reply(refused=refused)
    readable = kind == "text" and file is None and bool(text.strip())
    word = text.split()[0] if readable else ""
    prepared = None
    if readable and not word.startswith("/") and not wants_person(text):
        prepared = await prepare(services, channel, identity, text)
    unit = may_hand_off(channel, identity, text if readable else "")

    async def run(session: AsyncSession, uow: Unit | None) -> Reply:
        customer, ticket, earlier_id = await arrive_checked(
            session, services, channel, identity, client_id
        )
        turn = _Turn(services, channel, session, uow, customer, ticket, customer.language)
        if earlier_id is not None:  # a resend: what was kept the first time
            earlier = await session.get(Message, earlier_id)
            assert earlier is not None
            return _reply(turn, (), message=line_of(earlier), new=False)
        awaiting = customer.awaiting_comment_ticket_id
        await _keep_incoming(
            turn,
            text,
            kind=kind,
            channel_message_id=channel_message_id,
            meta=meta,
            client_id=client_id,
            file=file,
        )
        if (
            channel.commands_in_text
            and word
            and ((word.startswith("/") and ticket.state == State.BOT) or word in COMMAND_WORDS)
        ):
            await _command(turn, word)
        else:
            await _message(turn, text if readable else None, awaiting, prepared)
        says = await turn.keep_says()
        return _reply(turn, says, message=line_of(await turn.kept_incoming()))

    return await in_transaction(services, unit, run)


async def customer_command(
    services: Services,
    channel: Channel,
    identity: Identity,
    text: str,
    *,
    first_name: str = "",
    channel_message_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Reply:
    """A command the customer typed (``/start``, ``/human@bot``...), kept as their line."""
    refused = _flood(services, channel, identity, False)
    if refused is not None:
        return Reply(refused=refused)

    async def run(session: AsyncSession, uow: Unit | None) -> Reply:
        customer, ticket = await arrive(session, services, channel, identity)
        turn = _Turn(services, channel, session, uow, customer, ticket, customer.language)
        await _keep_incoming(
            turn,
            text,
            kind="text",
            channel_message_id=channel_message_id,
            meta=meta,
            client_id=None,
            file=None,
        )
        await _command(turn, (text or "/").split()[0], first_name)
        says = await turn.keep_says()
        return _reply(turn, says, message=line_of(await turn.kept_incoming()))

    return await in_transaction(services, may_hand_off(channel, identity, text or ""), run)


async def _command(turn: _Turn, word: str, first_name: str = "") -> None:
    name = word[1:].split("@")[0].lower()
    lang = turn.language
    if name == "start":
        shop = turn.services.settings.brand_name
        text = texts.text("customer.greeting", lang, name=first_name, shop=shop)
        if not first_name:  # "Hello !" reads badly: "Hello!"
            text = text.replace(" !", "!", 1)
        turn.say(text)
    elif name == "help":
        turn.say(texts.text("customer.help", lang))
    elif name == "language":
        turn.offer(texts.text("customer.choose_language", lang), language_keyboard())
    elif name == "human":
        await _hand_off(turn, reason="command")
    elif name == "cancel":
        cancelled = await turn.act(actions.cancel_request, turn.ticket.id)
        turn.say(
            texts.text("customer.cancelled" if cancelled else "customer.nothing_to_cancel", lang)
        )
    else:
        turn.say(
            texts.text("customer.unknown_command", lang, command=word[:64])
            + "\n"
            + texts.text("customer.help", lang)
        )


async def _hand_off(turn: _Turn, reason: str) -> None:
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


async def _message(
    turn: _Turn,
    text: str | None,
    awaiting: int | None,
    prepared: Prepared | None,
) -> None:
    """A message being kept (``turn.incoming``): a rating comment, or for the agent who holds
    the chat, or kept while the customer waits, or a question for the bot (``text`` None: a
    file or a sticker, which the bot cannot read; a question is written with its answer)."""
    ticket, lang = turn.ticket, turn.language
    if awaiting is not None and text is not None:
        turn.customer.awaiting_comment_ticket_id = None
        await turn.act(actions.comment_rating, awaiting, turn.customer.id, text)
        turn.say(texts.text("customer.thanks_feedback", lang))
        return
    if ticket.state in (State.ASSIGNED, State.PENDING):
        # A person has the chat: it goes to them (through the port, after the commit).
        stored = await turn.kept_incoming()
        await turn.act(actions.customer_wrote, ticket.id, stored.id)
        return
    if ticket.state in (State.QUEUED, State.OFFERED):
        # Waiting for a person: kept for them; the bot does not talk over them, but says once
        # (not after every line) that the message is kept.
        stored = await turn.kept_incoming()
        if not await _kept_notice_said(turn.session, ticket.id, stored.id):
            turn.say(
                texts.text("customer.handoff_waiting", lang, ticket=ticket.id),
                meta={"notice": "kept"},
            )
        return
    # With the bot, or after an agent closed the chat: the bot speaks first. Asking for a
    # person (here, or by the button the bot offers when it cannot help) reopens a closed
    # ticket within the reopen window.
    if text is None:
        turn.offer(texts.text("customer.text_only", lang), human_keyboard(lang))
        return
    if wants_person(text):
        await _hand_off(turn, reason="asked")
        return
    await _answer(turn, text, prepared)


async def _kept_notice_said(session: AsyncSession, ticket_id: int, message_id: int) -> bool:
    """Whether the last thing said on the ticket before this message already told the
    customer their messages are kept for the agent."""
    last = (
        await session.execute(
            select(Message.meta)
            .where(
                Message.ticket_id == ticket_id,
                Message.sender != "customer",
                Message.id < message_id,
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return bool(last) and last.get("notice") == "kept"  # type: ignore[union-attr]


async def _answer(turn: _Turn, text: str, prepared: Prepared | None) -> None:
    """FAQ self-service: answer, suggest, or say there is no match."""
    services = turn.services
    reply = await services.faq.answer(
        turn.session,
        text,
        language=turn.language,
        at=services.clock.now(),
        customer_id=turn.customer.id,
        ticket_id=turn.ticket.id,
        prepared=prepared,
    )
    lang = turn.language if turn.customer.language_chosen else reply.lang
    turn.language = lang
    if len(text) > MAX_QUERY_CHARS:
        turn.say(texts.text("customer.too_long", lang, limit=MAX_QUERY_CHARS))
    meta: dict[str, Any] = {"query_id": reply.query_id, "outcome": reply.outcome.value}
    if reply.outcome is Outcome.ANSWER:
        article = reply.articles[0]
        meta["article_id"] = article.id
        turn.offer(answer_text(article, lang), feedback_keyboard(reply.query_id, lang), meta)
    elif reply.outcome is Outcome.SUGGEST:
        meta["article_ids"] = [a.id for a in reply.articles]
        keyboard = suggestions_keyboard(reply.articles, reply.query_id, lang)
        turn.offer(texts.text("customer.suggest", lang), keyboard, meta)
    else:
        turn.offer(texts.text("customer.no_match", lang), human_keyboard(lang), meta)


# ---------------------------------------------------------------------- presses


async def customer_pressed(
    services: Services,
    channel: Channel,
    identity: Identity,
    data: str,
    *,
    pressed_line_id: int | None = None,
    flood_checked: bool = False,
) -> Pressed:
    """A button pressed (``data``, validated; anything else is refused politely).
    ``pressed_line_id``: the transcript line whose button it was, on a channel whose lines
    the core keeps: its buttons go (or it gets a new text and buttons) in the same
    transaction."""
    match = PRESS_RE.match(data or "")
    if match is not None and match["fu_t"]:  # the follow-up after resolve: its own module
        from conversation.followup import followup_pressed

        return await followup_pressed(
            services,
            channel,
            identity,
            match,
            data,
            pressed_line_id=pressed_line_id,
            flood_checked=flood_checked,
        )
    refused = _flood(services, channel, identity, flood_checked)
    if refused is not None:
        return Pressed(refused=refused)

    async def run(session: AsyncSession, uow: Unit | None) -> Pressed:
        customer, ticket = await arrive(session, services, channel, identity)
        turn = _Turn(services, channel, session, uow, customer, ticket, customer.language)
        outcome = await _press(turn, match)
        choice = updated = None
        if outcome.alert is None:
            await _record_choice(turn, data)
            if pressed_line_id is not None and channel.keeps_lines:
                updated = await _update_pressed(turn, pressed_line_id, outcome)
        turn.remember()
        says = await turn.keep_says()  # the choice (written with the lines said)
        if outcome.alert is None:
            choice = line_of(await turn.kept_incoming())
        return replace(
            outcome,
            customer_id=customer.id,
            ticket_id=ticket.id,
            language=turn.language,
            choice=choice,
            updated=updated,
            says=says,
            ticket=ticket_view(ticket),
        )

    return await in_transaction(services, may_hand_off(channel, identity, data or "", True), run)


async def _press(turn: _Turn, match: re.Match[str] | None) -> Pressed:
    """What the press does (its lines go on ``turn``); the pressed line's change returned."""
    services, customer, lang = turn.services, turn.customer, turn.language
    expired = Pressed(alert=texts.text("customer.button_expired", lang))
    if match is None:
        return expired
    now = services.clock.now()
    if match["rate_t"]:
        # The stars are the handoff engine's: taken (or not) before the press is kept.
        ticket_id, stars = int(match["rate_t"]), int(match["rate_s"])
        try:
            rated = await turn.act(actions.rate, ticket_id, customer.id, stars)
        except HandoffError:  # no such ticket: a forged or very old button
            rated = False
        if not rated:
            return expired
        customer.awaiting_comment_ticket_id = ticket_id
        text = texts.text("customer.rated", lang, stars=stars)
        return Pressed(replace=(text, skip_keyboard(ticket_id, lang)))
    if match["rsk"]:
        customer.awaiting_comment_ticket_id = None
        return Pressed(drop_buttons=True)
    if match["lang"]:
        await set_language(turn.session, customer, match["lang"], now)
        turn.language = match["lang"]
        turn.say(texts.text("customer.language_set", turn.language))
        return Pressed(drop_buttons=True)
    if match["human"]:
        await _hand_off(turn, reason="button")
        return Pressed(drop_buttons=True)
    if match["cancel"]:
        cancelled = await turn.act(actions.cancel_request, turn.ticket.id)
        turn.say(
            texts.text("customer.cancelled" if cancelled else "customer.nothing_to_cancel", lang)
        )
        return Pressed()
    if match["fb_q"]:
        helpful = match["fb_v"] == "y"
        entry = await services.faq.record_feedback(
            turn.session,
            int(match["fb_q"]),
            helpful,
            now,
            customer_id=customer.id,
            article_id=int(match["fb_a"]) if match["fb_a"] else None,
        )
        if entry is None:
            return expired
        if helpful and entry.ticket_id == turn.ticket.id:
            await resolve_by_bot(turn.session, turn.ticket, now)
        if helpful:
            turn.say(texts.text("customer.glad", lang))
        else:
            turn.offer(texts.text("customer.sorry_not_helpful", lang), human_keyboard(lang))
        return Pressed(drop_buttons=True)
    article = services.faq.article(int(match["art_a"]))
    if article is None:
        return expired
    query_id = int(match["art_q"])
    # The pick is the customer's: the suggestions it came from are done with.
    turn.offer(
        answer_text(article, lang),
        feedback_keyboard(query_id, lang, article.id),
        {"query_id": query_id, "article_id": article.id, "outcome": "suggestion"},
    )
    return Pressed(drop_buttons=True)


async def _choice_label(turn: _Turn, data: str) -> str:
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


async def _record_choice(turn: _Turn, data: str) -> None:
    """Keep the customer's press in the transcript as what they did (kind ``choice``; written
    with the lines said, :meth:`_Turn.keep_says`)."""
    text = await _choice_label(turn, data)
    turn.incoming = line_row(
        turn.ticket,
        sender="customer",
        text=text,
        kind="choice",
        meta={"data": data},
        at=turn.services.clock.now(),
    )


async def _update_pressed(turn: _Turn, line_id: int, outcome: Pressed) -> Line | None:
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
