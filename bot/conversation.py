"""The customer conversation, the same on every channel: FAQ answers, suggestions, "Did this
help?", handoff to a person, the live chat with an agent, the rating.

A channel adapter (Telegram in ``bot/handlers.py``, the web chat in ``web/chat.py``) turns its
input into calls here and implements :class:`Sender` to say things: it knows how to deliver a
text with buttons and stores what it sent in the transcript. Buttons are :class:`Button`
values whose ``data`` is the same compact string on every channel (``fb:12:y``, ``art:7:12``,
``human``, ``lang:ar``, ``rate:9:0:5``...; at most 64 bytes, Telegram's callback-data limit),
parsed back by :data:`PRESS_RE`. This module never imports ``telegram`` or ``aiohttp``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, assert_never

from sqlalchemy import select

import texts
from faq.matcher import Outcome
from faq.person import wants_person
from faq.service import MAX_QUERY_CHARS, ArticleView
from handoff.customers import set_language, touch_customer
from handoff.flood import client_address
from handoff.notices import (
    AgentJoined,
    AgentMessage,
    CustomerNotice,
    HandedBack,
    NoAgents,
    OutsideHours,
    PositionChanged,
    Queued,
    Reopened,
    Requeued,
    Resolved,
    StillWaiting,
    Transferred,
)
from handoff.service import HandoffError
from handoff.tickets import (
    State,
    add_attachment,
    offered_options,
    record_message,
    resolve_by_bot,
    ticket_for_message,
)
from sanad.services import Services
from storage.models import Customer, Message, Ticket

log = logging.getLogger(__name__)

BUTTON_LABEL_MAX = 60
WAIT_CAP_MIN = 60
PRESS_RE = re.compile(
    r"^(?:fb:(?P<fb_q>\d{1,18}):(?P<fb_v>[yn])(?::(?P<fb_a>\d{1,18}))?"
    r"|art:(?P<art_a>\d{1,18}):(?P<art_q>\d{1,18})"
    r"|(?P<human>human)"
    r"|(?P<cancel>cancel)"
    r"|lang:(?P<lang>en|ar)"
    r"|rate:(?P<rate_t>\d{1,18}):(?P<rate_c>\d{1,6}):(?P<rate_s>[1-5])"
    r"|rsk:(?P<rsk>\d{1,18}))$"
)


@dataclass(frozen=True)
class Button:
    label: str
    data: str


Keyboard = list[list[Button]]


@dataclass(frozen=True)
class Identity:
    """Who writes, as the channel knows them."""

    external_id: str
    name: str = ""
    username: str | None = None
    language_code: str | None = None


@dataclass
class Who:
    """The customer behind an input, as stored, with their ticket and where to answer them
    (``address``: the Telegram chat id, the web visitor's key...)."""

    customer_id: int
    ticket_id: int
    ticket_state: str
    language: str
    language_chosen: bool
    address: str
    awaiting_comment_ticket_id: int | None = None


class Sender(Protocol):
    """How a channel says something to the customer and keeps it in the transcript.
    Returns False when the customer cannot be reached (they are then marked so)."""

    async def send(
        self,
        who: Who,
        text: str,
        keyboard: Keyboard | None = None,
        *,
        kind: str = "text",
        meta: dict[str, Any] | None = None,
    ) -> bool: ...


@dataclass
class PressResult:
    """What a button press did, for the channel to show: an alert (the button is stale), or
    the pressed message's buttons to remove, or its new text and buttons."""

    alert: str | None = None
    drop_buttons: bool = False
    replace: tuple[str, Keyboard] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    choice: Message | None = None  # what the customer chose, kept in the transcript


# ---------------------------------------------------------------------- keyboards


def label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_MAX else text[: BUTTON_LABEL_MAX - 1] + "…"


def feedback_keyboard(query_id: int, lang: str, article_id: int | None = None) -> Keyboard:
    suffix = f":{article_id}" if article_id is not None else ""
    return [
        [
            Button(texts.text("customer.yes", lang), f"fb:{query_id}:y{suffix}"),
            Button(texts.text("customer.no", lang), f"fb:{query_id}:n{suffix}"),
        ]
    ]


def human_keyboard(lang: str) -> Keyboard:
    return [[Button(texts.text("customer.talk_to_person", lang), "human")]]


def suggestions_keyboard(articles: tuple[ArticleView, ...], query_id: int, lang: str) -> Keyboard:
    rows = [[Button(label(a.question), f"art:{a.id}:{query_id}")] for a in articles]
    rows.append([Button(texts.text("customer.none_of_these", lang), "human")])
    return rows


def language_keyboard() -> Keyboard:
    return [
        [Button(texts.text("customer.language_name", lang), f"lang:{lang}") for lang in texts.LANGS]
    ]


def rating_keyboard(ticket_id: int, cycle: int) -> Keyboard:
    return [[Button(f"{n} ★", f"rate:{ticket_id}:{cycle}:{n}") for n in range(1, 6)]]


def skip_keyboard(ticket_id: int, lang: str) -> Keyboard:
    return [[Button(texts.text("customer.skip", lang), f"rsk:{ticket_id}")]]


def offered(keyboard: Keyboard, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The meta of a line that offers buttons: the options are kept with it, so agents and
    ticket transcripts see what the customer was offered (on every channel)."""
    options = [{"label": b.label, "data": b.data} for row in keyboard for b in row]
    return {**(meta or {}), "options": options}


def answer_text(article: ArticleView, lang: str) -> str:
    return f"{article.answer}\n\n{texts.text('customer.did_it_help', lang)}"


# ---------------------------------------------------------------------- notices


def wait_text(wait_s: float | None, lang: str) -> str:
    if wait_s is None or wait_s <= 0:
        return texts.text("customer.wait_shortly", lang)
    minutes = max(1, math.ceil(wait_s / 60))
    if minutes > WAIT_CAP_MIN:
        return texts.text("customer.wait_long", lang, minutes=WAIT_CAP_MIN)
    return texts.text("customer.wait_minutes", lang, minutes=minutes)


def hours_text(rows: list[tuple[int, int, str]], lang: str) -> str:
    names = [texts.text(f"customer.day_{day}", lang) for day in range(7)]
    lines = []
    for first, last, span in rows:
        days = names[first] if first == last else f"{names[first]}-{names[last]}"
        lines.append(
            f"{days}: {texts.text('customer.closed_day', lang) if span == 'closed' else span}"
        )
    return "\n".join(lines)


def local_time(at: datetime | None, zone: str) -> str:
    if at is None:
        return "-"
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def notice_text(notice: CustomerNotice) -> tuple[str, Keyboard] | None:
    """The text (and buttons) that tells a customer what the handoff engine decided; None for
    a notice that is not said in words (:class:`AgentMessage` carries the agent's own)."""
    lang = notice.to.language
    ticket_id = notice.to.ticket_id
    keyboard: Keyboard = []
    match notice:
        case Queued() | PositionChanged() | StillWaiting():
            text = texts.text(
                f"customer.{notice.kind}",
                lang,
                position=notice.position or 1,
                ticket=ticket_id,
                wait=wait_text(notice.wait_s, lang),
            )
        case OutsideHours():
            text = texts.text(
                "customer.outside_hours",
                lang,
                ticket=ticket_id,
                opens=local_time(notice.opens_at, notice.timezone),
                timezone=notice.timezone,
                hours=hours_text(list(notice.hours), lang),
            )
        case NoAgents() | Reopened():
            text = texts.text(f"customer.{notice.kind}", lang, ticket=ticket_id)
        case AgentJoined():
            text = texts.text("customer.agent_joined", lang, agent=notice.agent_name)
        case Resolved():
            text = texts.text("customer.rate", lang, agent=notice.agent_name or "-")
            keyboard = rating_keyboard(ticket_id, notice.cycle)
        case Requeued() | Transferred() | HandedBack():
            text = texts.text(f"customer.{notice.kind}", lang)
        case AgentMessage():
            return None
        case _:
            assert_never(notice)
    return text, keyboard


# ---------------------------------------------------------------------- arrival


async def touch(services: Services, channel: str, identity: Identity) -> tuple[Customer, Ticket]:
    """The customer (found or created, refreshed) and the ticket their input belongs to."""
    now = services.clock.now()
    async with services.db.transaction() as session:
        customer = await touch_customer(
            session,
            channel=channel,
            external_id=identity.external_id,
            name=identity.name,
            username=identity.username,
            language_code=identity.language_code,
            default_language=services.settings.default_language,
            at=now,
        )
        ticket = await ticket_for_message(
            session, customer, now, services.handoff.config.reopen_window_s
        )
    return customer, ticket


def who_of(customer: Customer, ticket: Ticket, address: str) -> Who:
    return Who(
        customer.id,
        ticket.id,
        ticket.state,
        customer.language,
        customer.language_chosen,
        address,
        customer.awaiting_comment_ticket_id,
    )


async def record_incoming(
    services: Services,
    who: Who,
    text: str,
    *,
    kind: str = "text",
    channel_message_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> int:
    """Keep the customer's message on their ticket; returns its transcript id."""
    message, _new = await keep_incoming(
        services, who, text, kind=kind, channel_message_id=channel_message_id, meta=meta
    )
    return message.id


async def keep_incoming(
    services: Services,
    who: Who,
    text: str,
    *,
    kind: str = "text",
    channel_message_id: str | None = None,
    meta: dict[str, Any] | None = None,
    client_id: str | None = None,
    file: tuple[str, str, bytes] | None = None,
) -> tuple[Message, bool]:
    """Keep the customer's message on their ticket, in one transaction. With ``client_id``
    (a channel whose client may resend, like the web chat), a message already kept under it
    is returned instead: (the message, False). With ``file`` (name, content type, bytes),
    the file is kept with it and the message is of kind ``file``."""
    async with services.db.transaction() as session:
        if client_id is not None:
            earlier = (
                await session.execute(
                    select(Message)
                    .where(
                        Message.customer_id == who.customer_id,
                        Message.sender == "customer",
                        Message.meta["client_id"].as_string() == client_id,
                    )
                    .limit(1)
                )
            ).scalar_one_or_none()
            if earlier is not None:
                return earlier, False
        ticket = await session.get(Ticket, who.ticket_id)
        assert ticket is not None
        extra: dict[str, Any] = {"client_id": client_id} if client_id is not None else {}
        if kind == "text" and who.awaiting_comment_ticket_id is not None and file is None:
            # The comment on a rating: kept as what it is, never as a line for an agent.
            kind = "rating_comment"
        if file is not None:
            name, content_type, data = file
            extra |= await add_attachment(
                session,
                ticket.id,
                name=name,
                content_type=content_type,
                data=data,
                at=services.clock.now(),
            )
            kind = "file"
        message = await record_message(
            session,
            ticket,
            sender="customer",
            text=text,
            kind=kind,
            channel_message_id=channel_message_id,
            meta={**(meta or {}), **extra},
            at=services.clock.now(),
        )
        return message, True


# ---------------------------------------------------------------------- what the customer does


COMMANDS = ("start", "help", "language", "human", "cancel")


async def command(
    services: Services, out: Sender, who: Who, word: str, first_name: str = ""
) -> None:
    """A command the customer typed (``word``: ``/start``, ``/human@bot``...)."""
    name = word[1:].split("@")[0].lower()
    if name == "start":
        await greet(services, out, who, first_name)
    elif name == "help":
        await show_help(out, who)
    elif name == "language":
        await choose_language(out, who)
    elif name == "human":
        await hand_off(services, out, who, reason="command")
    elif name == "cancel":
        await cancel(services, out, who)
    else:
        await unknown_command(out, who, word)


async def greet(services: Services, out: Sender, who: Who, first_name: str) -> None:
    shop = services.settings.brand_name
    text = texts.text("customer.greeting", who.language, name=first_name, shop=shop)
    if not first_name:  # "Hello !" reads badly: "Hello!"
        text = text.replace(" !", "!", 1)
    await out.send(who, text)


async def show_help(out: Sender, who: Who) -> None:
    await out.send(who, texts.text("customer.help", who.language))


async def choose_language(out: Sender, who: Who) -> None:
    keyboard = language_keyboard()
    await out.send(
        who, texts.text("customer.choose_language", who.language), keyboard, meta=offered(keyboard)
    )


async def unknown_command(out: Sender, who: Who, command: str) -> None:
    text = (
        texts.text("customer.unknown_command", who.language, command=command[:64])
        + "\n"
        + texts.text("customer.help", who.language)
    )
    await out.send(who, text)


async def hand_off(services: Services, out: Sender, who: Who, reason: str) -> None:
    """Into the queue: the handoff engine tells the customer their place (through the port)."""
    if who.ticket_state not in (State.BOT, State.RESOLVED):
        await out.send(
            who, texts.text("customer.handoff_waiting", who.language, ticket=who.ticket_id)
        )
        return
    if who.ticket_state == State.BOT:  # a new place in the queue: flood control first
        verdict = services.flood.handoff(f"customer:{who.customer_id}", client_address.get())
        if not verdict.allowed:
            minutes = max(1, math.ceil(verdict.retry_after_s / 60))
            await out.send(
                who, texts.text("customer.handoff_limited", who.language, minutes=minutes)
            )
            return
    try:
        if who.ticket_state == State.RESOLVED:  # an agent closed it: asking again reopens it
            await services.handoff.customer_wrote(who.ticket_id)
        else:
            await services.handoff.request_human(who.ticket_id, reason=reason)
    except HandoffError:
        log.exception("handoff failed for ticket %s", who.ticket_id)
        await out.send(who, texts.text("customer.error", who.language))


async def cancel(services: Services, out: Sender, who: Who) -> None:
    """Leave the queue."""
    if await services.handoff.cancel_request(who.ticket_id):
        await out.send(who, texts.text("customer.cancelled", who.language))
    else:
        await out.send(who, texts.text("customer.nothing_to_cancel", who.language))


async def customer_message(
    services: Services, out: Sender, who: Who, message_id: int, text: str | None
) -> None:
    """A message the channel has stored (``message_id``): a rating comment, or for the agent
    who holds the chat, or kept while the customer waits, or a question for the bot (``text``
    None: a file or a sticker, which the bot cannot read)."""
    if who.awaiting_comment_ticket_id is not None and text is not None:
        await services.handoff.comment_rating(who.awaiting_comment_ticket_id, who.customer_id, text)
        await clear_awaiting(services, who.customer_id)
        await out.send(who, texts.text("customer.thanks_feedback", who.language))
        return
    if who.ticket_state in (State.ASSIGNED, State.PENDING):
        # A person has the chat: it goes to them.
        await services.handoff.customer_wrote(who.ticket_id, message_id)
        return
    if who.ticket_state in (State.QUEUED, State.OFFERED):
        # Waiting for a person: kept for them; the bot does not talk over them, but says once
        # (not after every line) that the message is kept.
        if not await _kept_notice_said(services, who.ticket_id, message_id):
            await out.send(
                who,
                texts.text("customer.handoff_waiting", who.language, ticket=who.ticket_id),
                meta={"notice": "kept"},
            )
        return
    # With the bot, or after an agent closed the chat: the bot speaks first. Asking for a
    # person (here, or by the button the bot offers when it cannot help) reopens a closed
    # ticket within the reopen window.
    if text is None:
        keyboard = human_keyboard(who.language)
        await out.send(
            who, texts.text("customer.text_only", who.language), keyboard, meta=offered(keyboard)
        )
        return
    if wants_person(text):
        await hand_off(services, out, who, reason="asked")
        return
    await answer(services, out, who, text)


async def _kept_notice_said(services: Services, ticket_id: int, message_id: int) -> bool:
    """Whether the last thing said on the ticket before this message already told the
    customer their messages are kept for the agent."""
    async with services.db.transaction() as session:
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


async def answer(services: Services, out: Sender, who: Who, text: str) -> None:
    """FAQ self-service: answer, suggest, or say there is no match."""
    prepared = await services.faq.prepare(text, who.language)  # embedding: no transaction open
    async with services.db.transaction() as session:
        reply = await services.faq.answer(
            session,
            text,
            language=who.language,
            at=services.clock.now(),
            customer_id=who.customer_id,
            ticket_id=who.ticket_id,
            prepared=prepared,
        )
    lang = who.language if who.language_chosen else reply.lang
    who.language = lang
    if len(text) > MAX_QUERY_CHARS:
        await out.send(who, texts.text("customer.too_long", lang, limit=MAX_QUERY_CHARS))
    meta: dict[str, Any] = {"query_id": reply.query_id, "outcome": reply.outcome.value}
    if reply.outcome is Outcome.ANSWER:
        article = reply.articles[0]
        meta["article_id"] = article.id
        keyboard = feedback_keyboard(reply.query_id, lang)
        await out.send(who, answer_text(article, lang), keyboard, meta=offered(keyboard, meta))
    elif reply.outcome is Outcome.SUGGEST:
        meta["article_ids"] = [a.id for a in reply.articles]
        keyboard = suggestions_keyboard(reply.articles, reply.query_id, lang)
        await out.send(
            who, texts.text("customer.suggest", lang), keyboard, meta=offered(keyboard, meta)
        )
    else:
        keyboard = human_keyboard(lang)
        await out.send(
            who, texts.text("customer.no_match", lang), keyboard, meta=offered(keyboard, meta)
        )


async def clear_awaiting(services: Services, customer_id: int) -> None:
    async with services.db.transaction() as session:
        stored = await session.get(Customer, customer_id)
        if stored is not None:
            stored.awaiting_comment_ticket_id = None


async def press(
    services: Services,
    out: Sender,
    who: Who,
    data: str,
    acknowledge: Callable[[PressResult], Awaitable[None]] | None = None,
) -> PressResult:
    """A button pressed. The data is validated; anything else is refused politely.

    ``acknowledge`` is called with the outcome as soon as it is known, before anything is said
    in reply, so the channel removes the pressed buttons before the answer arrives."""

    async def done(result: PressResult) -> PressResult:
        if result.alert is None:
            result.choice = await record_choice(services, who, data)
        if acknowledge is not None:
            await acknowledge(result)
        return result

    match = PRESS_RE.match(data or "")
    if match is None:
        return await done(PressResult(alert=texts.text("customer.button_expired", who.language)))
    now = services.clock.now()
    if match["rate_t"]:
        ticket_id, stars = int(match["rate_t"]), int(match["rate_s"])
        try:
            rated = await services.handoff.rate(ticket_id, who.customer_id, stars)
        except HandoffError:  # no such ticket: a forged or very old button
            rated = False
        if not rated:
            return await done(
                PressResult(alert=texts.text("customer.button_expired", who.language))
            )
        async with services.db.transaction() as session:
            stored = await session.get(Customer, who.customer_id)
            if stored is not None:
                stored.awaiting_comment_ticket_id = ticket_id
        text = texts.text("customer.rated", who.language, stars=stars)
        return await done(PressResult(replace=(text, skip_keyboard(ticket_id, who.language))))
    if match["rsk"]:
        await clear_awaiting(services, who.customer_id)
        return await done(PressResult(drop_buttons=True))
    if match["lang"]:
        async with services.db.transaction() as session:
            stored = await session.get(Customer, who.customer_id)
            assert stored is not None
            await set_language(session, stored, match["lang"], now)
        who.language = match["lang"]
        who.language_chosen = True
        result = await done(PressResult(drop_buttons=True))
        await out.send(who, texts.text("customer.language_set", who.language))
        return result
    if match["human"]:
        result = await done(PressResult(drop_buttons=True))
        await hand_off(services, out, who, reason="button")
        return result
    if match["cancel"]:
        result = await done(PressResult())
        await cancel(services, out, who)
        return result
    if match["fb_q"]:
        helpful = match["fb_v"] == "y"
        article_id = int(match["fb_a"]) if match["fb_a"] else None
        async with services.db.transaction() as session:
            entry = await services.faq.record_feedback(
                session,
                int(match["fb_q"]),
                helpful,
                now,
                customer_id=who.customer_id,
                article_id=article_id,
            )
            if entry is not None and helpful and entry.ticket_id == who.ticket_id:
                stored_ticket = await session.get(Ticket, who.ticket_id)
                assert stored_ticket is not None
                await resolve_by_bot(session, stored_ticket, now)
        if entry is None:
            return await done(
                PressResult(alert=texts.text("customer.button_expired", who.language))
            )
        result = await done(PressResult(drop_buttons=True))
        if helpful:
            await out.send(who, texts.text("customer.glad", who.language))
        else:
            keyboard = human_keyboard(who.language)
            text = texts.text("customer.sorry_not_helpful", who.language)
            await out.send(who, text, keyboard, meta=offered(keyboard))
        return result
    article = services.faq.article(int(match["art_a"]))
    if article is None:
        return await done(PressResult(alert=texts.text("customer.button_expired", who.language)))
    query_id = int(match["art_q"])
    # The pick is the customer's: the suggestions it came from are done with.
    result = await done(PressResult(drop_buttons=True))
    keyboard = feedback_keyboard(query_id, who.language, article.id)
    await out.send(
        who,
        answer_text(article, who.language),
        keyboard,
        meta=offered(
            keyboard, {"query_id": query_id, "article_id": article.id, "outcome": "suggestion"}
        ),
    )
    return result


async def choice_label(services: Services, who: Who, data: str) -> str:
    """The label of the button the customer pressed, as it was offered to them (the latest
    line on their ticket offering it), or a fallback made from the data."""
    async with services.db.transaction() as session:
        recent = (
            (
                await session.execute(
                    select(Message)
                    .where(Message.ticket_id == who.ticket_id, Message.sender != "customer")
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
    lang = who.language
    if match is None:
        return data
    if match["fb_v"]:
        return texts.text("customer.yes" if match["fb_v"] == "y" else "customer.no", lang)
    if match["art_a"]:
        article = services.faq.article(int(match["art_a"]))
        return label(article.question) if article else data
    if match["human"]:
        return texts.text("customer.talk_to_person", lang)
    if match["lang"]:
        return texts.text("customer.language_name", match["lang"])
    if match["rate_s"]:
        return f"{match['rate_s']} ★"
    if match["rsk"]:
        return texts.text("customer.skip", lang)
    return data


async def record_choice(services: Services, who: Who, data: str) -> Message:
    """Keep the customer's press in the transcript as what they did (kind ``choice``)."""
    text = await choice_label(services, who, data)
    message, _ = await keep_incoming(services, who, text, kind="choice", meta={"data": data})
    return message
