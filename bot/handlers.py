"""Telegram handlers for customers: thin glue from updates to domain calls and back.

Each handler does its domain work in one transaction (customer, ticket, transcript, query log,
events), then sends the reply, then stores what was sent. Sending goes through
:func:`send_to_customer`, which splits long texts and marks a customer who blocked the bot as
unreachable instead of failing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram import Message as TgMessage
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.agents import (
    agent_for,
    handle_agent_callback,
    handle_agent_command,
    handle_agent_message,
)
from bot.relay import mirror_edit, relay_to_agent
from bot.relay import tag as relay_tag
from bot.split import split_text
from bot.texts import t
from faq.matcher import Outcome
from faq.person import wants_person
from faq.service import MAX_QUERY_CHARS, ArticleView
from handoff.customers import find_customer, mark_unreachable, set_language, touch_customer
from handoff.service import HandoffError
from handoff.tickets import (
    State,
    open_ticket_for,
    record_message,
    resolve_by_bot,
    ticket_for_message,
)
from sanad.services import Services
from storage.models import Agent, Customer, Ticket

log = logging.getLogger(__name__)

CHANNEL = "telegram"
BUTTON_LABEL_MAX = 60
CALLBACK_RE = re.compile(
    r"^(?:fb:(?P<fb_q>\d{1,18}):(?P<fb_v>[yn])(?::(?P<fb_a>\d{1,18}))?"
    r"|art:(?P<art_a>\d{1,18}):(?P<art_q>\d{1,18})"
    r"|(?P<human>human)"
    r"|lang:(?P<lang>en|ar)"
    r"|rate:(?P<rate_t>\d{1,18}):(?P<rate_c>\d{1,6}):(?P<rate_s>[1-5])"
    r"|rsk:(?P<rsk>\d{1,18}))$"
)


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services = context.application.bot_data["services"]
    assert isinstance(services, Services)
    return services


@dataclass
class Who:
    """The customer behind an update, as stored, with their open ticket."""

    customer_id: int
    ticket_id: int
    ticket_state: str
    language: str
    language_chosen: bool
    chat_id: int


async def _touch(services: Services, update: Update) -> tuple[Customer, Ticket]:
    user = update.effective_user
    assert user is not None
    async with services.db.transaction() as session:
        customer = await touch_customer(
            session,
            channel=CHANNEL,
            external_id=str(user.id),
            name=user.full_name,
            username=user.username,
            language_code=user.language_code,
            default_language=services.settings.default_language,
            at=services.clock.now(),
        )
        ticket = await ticket_for_message(
            session, customer, services.clock.now(), services.handoff.config.reopen_window_s
        )
    return customer, ticket


def _who(customer: Customer, ticket: Ticket, chat_id: int) -> Who:
    return Who(
        customer.id,
        ticket.id,
        ticket.state,
        customer.language,
        customer.language_chosen,
        chat_id,
    )


async def send_to_customer(
    context: ContextTypes.DEFAULT_TYPE,
    who: Who,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    kind: str = "text",
    meta: dict[str, object] | None = None,
) -> bool:
    """Send ``text`` (split at Telegram's limit, the keyboard on the last part) and store it.

    Returns False when the customer cannot be reached (blocked the bot): they are marked
    unreachable and nothing is raised.
    """
    services = services_of(context)
    chunks = split_text(text)
    sent_ids: list[int] = []
    try:
        for i, chunk in enumerate(chunks):
            message = await context.bot.send_message(
                who.chat_id, chunk, reply_markup=markup if i == len(chunks) - 1 else None
            )
            sent_ids.append(message.message_id)
    except Forbidden as exc:
        log.info("customer %s unreachable: %s", who.customer_id, exc.message)
        async with services.db.transaction() as session:
            await mark_unreachable(session, who.customer_id, services.clock.now(), exc.message)
        return False
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, who.ticket_id)
        assert ticket is not None
        for chunk, message_id in zip(chunks, sent_ids, strict=True):
            await record_message(
                session,
                ticket,
                sender="bot",
                text=chunk,
                kind=kind,
                channel_message_id=str(message_id),
                meta=dict(meta or {}),
                at=services.clock.now(),
            )
    return True


def _label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_MAX else text[: BUTTON_LABEL_MAX - 1] + "…"


def feedback_keyboard(
    query_id: int, lang: str, article_id: int | None = None
) -> InlineKeyboardMarkup:
    suffix = f":{article_id}" if article_id is not None else ""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t("yes", lang), callback_data=f"fb:{query_id}:y{suffix}"),
                InlineKeyboardButton(t("no", lang), callback_data=f"fb:{query_id}:n{suffix}"),
            ]
        ]
    )


def human_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t("talk_to_person", lang), callback_data="human")]]
    )


def suggestions_keyboard(
    articles: tuple[ArticleView, ...], query_id: int, lang: str
) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(_label(a.question), callback_data=f"art:{a.id}:{query_id}")]
        for a in articles
    ]
    rows.append([InlineKeyboardButton(t("none_of_these", lang), callback_data="human")])
    return InlineKeyboardMarkup(rows)


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data="lang:en"),
                InlineKeyboardButton("العربية", callback_data="lang:ar"),
            ]
        ]
    )


def _answer_text(article: ArticleView, lang: str) -> str:
    return f"{article.answer}\n\n{t('did_it_help', lang)}"


async def _incoming(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Services, Who, Customer, Ticket]:
    """A customer's update: who they are, their ticket, and the message kept on it."""
    services = services_of(context)
    customer, ticket = await _touch(services, update)
    who = _who(customer, ticket, update.effective_chat.id if update.effective_chat else 0)
    await _store_incoming(services, update, who)
    return services, who, customer, ticket


async def _from_agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A registered agent's message goes to their customer; True when it was one."""
    services = services_of(context)
    agent = await agent_for(services, update)
    if agent is None:
        return False
    await handle_agent_message(update, context, services, agent)
    return True


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services, who, _customer, _ticket = await _incoming(update, context)
    name = update.effective_user.first_name if update.effective_user else ""
    await send_to_customer(
        context, who, t("greeting", who.language, name=name, shop=services.settings.brand_name)
    )


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    _services, who, _customer, _ticket = await _incoming(update, context)
    await send_to_customer(context, who, t("help", who.language))


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    _services, who, _customer, _ticket = await _incoming(update, context)
    await send_to_customer(context, who, t("choose_language", who.language), language_keyboard())


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    _services, who, _customer, _ticket = await _incoming(update, context)
    text = update.effective_message.text if update.effective_message else ""
    command = (text or "/").split()[0][:64]
    await send_to_customer(
        context,
        who,
        t("unknown_command", who.language, command=command) + "\n" + t("help", who.language),
    )


async def on_human(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    _services, who, _customer, _ticket = await _incoming(update, context)
    await _hand_off(context, who, reason="command")


async def _hand_off(context: ContextTypes.DEFAULT_TYPE, who: Who, reason: str) -> None:
    """Into the queue: the handoff engine tells the customer their place (through the port)."""
    services = services_of(context)
    if who.ticket_state != State.BOT:
        await send_to_customer(
            context, who, t("handoff_waiting", who.language, ticket=who.ticket_id)
        )
        return
    try:
        await services.handoff.request_human(who.ticket_id, reason=reason)
    except HandoffError:
        log.exception("handoff failed for ticket %s", who.ticket_id)
        await send_to_customer(context, who, t("error", who.language))


async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/cancel``: leave the queue."""
    services, who, _customer, ticket = await _incoming(update, context)
    if await services.handoff.cancel_request(ticket.id):
        await send_to_customer(context, who, t("cancelled", who.language))
    else:
        await send_to_customer(context, who, t("nothing_to_cancel", who.language))


async def _store_incoming(services: Services, update: Update, who: Who) -> None:
    message = update.effective_message
    if message is None:
        return
    kind = "text"
    meta: dict[str, object] = {"chat_id": message.chat_id}
    text = message.text or message.caption or ""
    for attr in ("photo", "document", "voice", "video", "audio", "sticker", "location"):
        if getattr(message, attr, None):
            kind = attr
            break
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, who.ticket_id)
        assert ticket is not None
        await record_message(
            session,
            ticket,
            sender="customer",
            text=text,
            kind=kind,
            channel_message_id=str(message.message_id),
            meta=meta,
            at=services.clock.now(),
        )


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text: from an agent, relayed to their customer; from a customer, routed by the state
    of their ticket (FAQ with the bot, silent while waiting, relayed to their agent)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    if await _from_agent(update, context):
        return
    services, who, customer, ticket = await _incoming(update, context)
    if customer.awaiting_comment_ticket_id is not None:
        await _rating_comment(
            context, services, who, customer.awaiting_comment_ticket_id, message.text
        )
        return
    if await _to_agent_or_wait(context, services, who, customer, ticket, message):
        return
    if wants_person(message.text):
        await _hand_off(context, who, reason="asked")
        return
    await _answer(context, services, who, message.text)


async def _to_agent_or_wait(
    context: ContextTypes.DEFAULT_TYPE,
    services: Services,
    who: Who,
    customer: Customer,
    ticket: Ticket,
    message: TgMessage,
) -> bool:
    """Messages on a ticket a person owns or awaits. True when the bot must stay silent."""
    if ticket.state == State.RESOLVED:
        await services.handoff.customer_wrote(ticket.id)  # reopens: the port says so
        return True
    if ticket.state in (State.ASSIGNED, State.PENDING):
        await services.handoff.customer_wrote(ticket.id)
        async with services.db.transaction() as session:
            stored = await session.get(Ticket, ticket.id)
            agent = (
                await session.get(Agent, stored.assignee_id)
                if stored and stored.assignee_id
                else None
            )
        if stored is not None and agent is not None and agent.telegram_id:
            await relay_to_agent(context.bot, services, stored, customer, agent, message)
        return True
    # Waiting for a person: the message is kept for them; the bot does not answer over them.
    return ticket.state != State.BOT


async def _answer(
    context: ContextTypes.DEFAULT_TYPE, services: Services, who: Who, text: str
) -> None:
    """FAQ self-service: answer, suggest, or say there is no match."""
    async with services.db.transaction() as session:
        reply = await services.faq.answer(
            session,
            text,
            language=who.language,
            at=services.clock.now(),
            customer_id=who.customer_id,
            ticket_id=who.ticket_id,
        )
    lang = who.language if who.language_chosen else reply.lang
    who.language = lang
    if len(text) > MAX_QUERY_CHARS:
        await send_to_customer(context, who, t("too_long", lang, limit=MAX_QUERY_CHARS))
    meta: dict[str, object] = {"query_id": reply.query_id, "outcome": reply.outcome.value}
    if reply.outcome is Outcome.ANSWER:
        article = reply.articles[0]
        meta["article_id"] = article.id
        await send_to_customer(
            context,
            who,
            _answer_text(article, lang),
            feedback_keyboard(reply.query_id, lang),
            meta=meta,
        )
    elif reply.outcome is Outcome.SUGGEST:
        meta["article_ids"] = [a.id for a in reply.articles]
        await send_to_customer(
            context,
            who,
            t("suggest", lang),
            suggestions_keyboard(reply.articles, reply.query_id, lang),
            meta=meta,
        )
    else:
        await send_to_customer(context, who, t("no_match", lang), human_keyboard(lang), meta=meta)


async def _rating_comment(
    context: ContextTypes.DEFAULT_TYPE, services: Services, who: Who, ticket_id: int, text: str
) -> None:
    await services.handoff.comment_rating(ticket_id, who.customer_id, text)
    await _clear_awaiting(services, who.customer_id)
    await send_to_customer(context, who, t("thanks_feedback", who.language))


async def _clear_awaiting(services: Services, customer_id: int) -> None:
    async with services.db.transaction() as session:
        stored = await session.get(Customer, customer_id)
        if stored is not None:
            stored.awaiting_comment_ticket_id = None


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, documents, voice, stickers...: relayed between a customer and their agent; with
    the bot, kept on the ticket (the bot reads only text)."""
    message = update.effective_message
    if message is None:
        return
    if await _from_agent(update, context):
        return
    services, who, customer, ticket = await _incoming(update, context)
    if await _to_agent_or_wait(context, services, who, customer, ticket, message):
        return
    await send_to_customer(context, who, t("text_only", who.language), human_keyboard(who.language))


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: the relayed copy is edited the same way."""
    message = update.edited_message
    if message is None:
        return
    services = services_of(context)
    agent = await agent_for(services, update)
    if agent is not None:
        await mirror_edit(context.bot, services, message, None)
        return
    user = update.effective_user
    async with services.db.transaction() as session:
        customer = await find_customer(session, CHANNEL, str(user.id)) if user else None
        ticket = await open_ticket_for(session, customer) if customer else None
    if customer is not None and ticket is not None:
        await mirror_edit(context.bot, services, message, relay_tag(ticket.id, customer.name))


async def _drop_keyboard(query: CallbackQuery) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # already edited, or too old to edit: harmless
        log.debug("could not remove keyboard: %s", exc.message)


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Button presses. Callback data is validated: anything else is refused politely."""
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    agent = await agent_for(services, update)
    if agent is not None and await handle_agent_callback(update, context, services, agent):
        return
    match = CALLBACK_RE.match(query.data or "")
    customer, ticket = await _touch(services, update)
    chat_id = query.message.chat.id if query.message else query.from_user.id
    who = _who(customer, ticket, chat_id)
    if match is None:
        await query.answer(t("button_expired", who.language))
        return
    now = services.clock.now()
    if match["rate_t"]:
        await _rate(query, context, services, who, int(match["rate_t"]), int(match["rate_s"]))
    elif match["rsk"]:
        await query.answer()
        await _drop_keyboard(query)
        await _clear_awaiting(services, who.customer_id)
    elif match["lang"]:
        async with services.db.transaction() as session:
            stored = await session.get(Customer, who.customer_id)
            assert stored is not None
            await set_language(session, stored, match["lang"], now)
        who.language = match["lang"]
        await query.answer()
        await _drop_keyboard(query)
        await send_to_customer(context, who, t("language_set", who.language))
    elif match["human"]:
        await query.answer()
        await _drop_keyboard(query)
        await _hand_off(context, who, reason="button")
    elif match["fb_q"]:
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
            await query.answer(t("button_expired", who.language))
            return
        await query.answer()
        await _drop_keyboard(query)
        if helpful:
            await send_to_customer(context, who, t("glad", who.language))
        else:
            await send_to_customer(
                context, who, t("sorry_not_helpful", who.language), human_keyboard(who.language)
            )
    else:
        article = services.faq.article(int(match["art_a"]))
        if article is None:
            await query.answer(t("button_expired", who.language))
            return
        query_id = int(match["art_q"])
        await query.answer()
        await send_to_customer(
            context,
            who,
            _answer_text(article, who.language),
            feedback_keyboard(query_id, who.language, article.id),
            meta={"query_id": query_id, "article_id": article.id, "outcome": "suggestion"},
        )


async def _rate(
    query: CallbackQuery,
    context: ContextTypes.DEFAULT_TYPE,
    services: Services,
    who: Who,
    ticket_id: int,
    stars: int,
) -> None:
    """A star pressed: one rating per ticket cycle; then an optional comment."""
    if not await services.handoff.rate(ticket_id, who.customer_id, stars):
        await query.answer(t("button_expired", who.language))
        return
    await query.answer()
    async with services.db.transaction() as session:
        stored = await session.get(Customer, who.customer_id)
        if stored is not None:
            stored.awaiting_comment_ticket_id = ticket_id
    skip = InlineKeyboardMarkup(
        [[InlineKeyboardButton(t("skip", who.language), callback_data=f"rsk:{ticket_id}")]]
    )
    try:
        await query.edit_message_text(t("rated", who.language, stars=stars), reply_markup=skip)
    except BadRequest as exc:
        log.info("could not show the rating: %s", exc.message)


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every command: agents' tools for registered agents; the customer bot for anyone else
    (a customer who types /online gets the normal bot)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    services = services_of(context)
    name = message.text.split()[0][1:].split("@")[0].lower()
    agent = await agent_for(services, update)
    if agent is not None:  # agents never fall into the customer bot (no tickets for them)
        await handle_agent_command(update, context, services, agent)
        return
    handler = CUSTOMER_COMMANDS.get(name, on_unknown_command)
    await handler(update, context)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure; tell the customer something went wrong instead of staying silent."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != ChatType.PRIVATE:
        return
    lang = "en"
    if update.effective_user and update.effective_user.language_code:
        lang = "ar" if update.effective_user.language_code.startswith("ar") else "en"
    try:
        await context.bot.send_message(update.effective_chat.id, t("error", lang))
    except TelegramError:
        log.warning("could not tell the customer about the error", exc_info=True)


COMMANDS = [
    BotCommand("start", "Start over"),
    BotCommand("human", "Talk to a person"),
    BotCommand("language", "English or Arabic"),
    BotCommand("cancel", "Stop waiting for a person"),
    BotCommand("help", "What I can do"),
]


CUSTOMER_COMMANDS = {
    "start": on_start,
    "help": on_help,
    "language": on_language,
    "human": on_human,
    "cancel": on_cancel,
}


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the handlers to a PTB application (private chats only)."""
    private = filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, on_edited))
    application.add_handler(
        MessageHandler(private & filters.COMMAND & filters.UpdateType.MESSAGE, on_command)
    )
    application.add_handler(
        MessageHandler(
            private & filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE, on_text
        )
    )
    application.add_handler(
        MessageHandler(
            private & ~filters.TEXT & ~filters.StatusUpdate.ALL & filters.UpdateType.MESSAGE,
            on_other_message,
        )
    )
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_error_handler(on_error)
