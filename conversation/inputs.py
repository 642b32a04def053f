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
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import texts
from app.services import Services
from conversation.hints import (
    NeedsUnit,
    chat_line,
    in_transaction,
    may_hand_off,
    prepare,
    unseen_question,
    with_people,
)
from conversation.keyboards import (
    answer_text,
    feedback_keyboard,
    human_keyboard,
    language_keyboard,
    suggestions_keyboard,
)
from conversation.outputs import (
    Channel,
    Identity,
    Reply,
)
from conversation.turn import (
    Turn,
    arrive,
    arrive_checked,
    flood_refusal,
    hand_off,
    line_of,
    turn_reply,
)
from faq.matcher import Outcome
from faq.person import wants_person
from faq.service import MAX_QUERY_CHARS, Prepared
from handoff import actions
from handoff.engine import Unit
from handoff.tickets import (
    State,
    add_attachment,
    line_row,
)
from storage.models import Message

log = logging.getLogger(__name__)

COMMANDS = ("start", "help", "language", "human", "cancel")
# Commands work in any state (like Telegram's); other /words go to the bot only while it has
# the conversation (an agent may be sent a path like /orders/12).
COMMAND_WORDS = tuple(f"/{name}" for name in COMMANDS)


async def _keep_incoming(
    turn: Turn,
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
    refused = flood_refusal(services, channel, identity, flood_checked)
    if refused is not None:
        return Reply(refused=refused)
    readable = kind == "text" and file is None and bool(text.strip())
    word = text.split()[0] if readable else ""
    prepared = None
    if readable and not word.startswith("/") and not wants_person(text):
        prepared = await prepare(services, channel, identity, text)
    unit = may_hand_off(channel, identity, text if readable else "")
    # Not seen yet: the unit only if the customer's ticket, read below, says so.
    unseen = unit and unseen_question(channel, identity, text if readable else "")

    async def run(session: AsyncSession, uow: Unit | None) -> Reply:
        customer, ticket, earlier_id = await arrive_checked(
            session, services, channel, identity, client_id
        )
        awaited = customer.awaiting_comment_ticket_id is not None
        if unseen and uow is None and with_people(ticket.state, awaited):
            raise NeedsUnit  # rolled back and run again with the unit, as the hint would have
        turn = Turn(services, channel, session, uow, customer, ticket, customer.language)
        if earlier_id is not None:  # a resend: what was kept the first time
            earlier = await session.get(Message, earlier_id)
            assert earlier is not None
            return turn_reply(turn, (), message=line_of(earlier), new=False)
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
        return turn_reply(turn, says, message=line_of(await turn.kept_incoming()))

    chat = unit and chat_line(channel, identity, text if readable else "")
    return await in_transaction(services, unit and not unseen, run, chat=chat)


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
    refused = flood_refusal(services, channel, identity, False)
    if refused is not None:
        return Reply(refused=refused)

    async def run(session: AsyncSession, uow: Unit | None) -> Reply:
        customer, ticket = await arrive(session, services, channel, identity)
        turn = Turn(services, channel, session, uow, customer, ticket, customer.language)
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
        return turn_reply(turn, says, message=line_of(await turn.kept_incoming()))

    return await in_transaction(services, may_hand_off(channel, identity, text or ""), run)


async def _command(turn: Turn, word: str, first_name: str = "") -> None:
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
        await hand_off(turn, reason="command")
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


async def _message(
    turn: Turn,
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
        await turn.act(actions.customer_wrote, ticket.id, line=stored)
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
        await hand_off(turn, reason="asked")
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


async def _answer(turn: Turn, text: str, prepared: Prepared | None) -> None:
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
