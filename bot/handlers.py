"""Telegram handlers for customers: thin glue from updates to the conversation and back.

Each handler finds the customer and their ticket, keeps the incoming message on it, and hands
the rest to :mod:`bot.conversation`, the channel-agnostic customer conversation. What it says
comes back through :class:`TelegramSender`, which splits long texts, turns the conversation's
buttons into inline keyboards, stores what was sent, and marks a customer who blocked the bot as
unreachable instead of failing. Agents' updates go to :mod:`bot.agents`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

import texts
from bot import conversation
from bot.agents import (
    agent_for,
    handle_agent_callback,
    handle_agent_command,
    handle_agent_message,
)
from bot.conversation import Identity, Keyboard, Who
from bot.port import markup
from bot.relay import media_kind, mirror_edit, record_sent, send_text
from bot.relay import tag as relay_tag
from faq.service import ArticleView
from handoff.customers import find_customer, mark_unreachable
from handoff.tickets import open_ticket_for
from sanad.services import Services

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CALLBACK_RE = conversation.PRESS_RE


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services = context.application.bot_data["services"]
    assert isinstance(services, Services)
    return services


def feedback_keyboard(
    query_id: int, lang: str, article_id: int | None = None
) -> InlineKeyboardMarkup | None:
    return markup(conversation.feedback_keyboard(query_id, lang, article_id))


def suggestions_keyboard(
    articles: tuple[ArticleView, ...], query_id: int, lang: str
) -> InlineKeyboardMarkup | None:
    return markup(conversation.suggestions_keyboard(articles, query_id, lang))


class TelegramSender:
    """Says things to a Telegram customer: split at Telegram's limit, the keyboard on the last
    part, each part stored on the ticket; a customer who blocked the bot is marked
    unreachable instead of failing."""

    def __init__(self, bot: Bot, services: Services) -> None:
        self.bot = bot
        self.services = services

    async def send(
        self,
        who: Who,
        text: str,
        keyboard: Keyboard | None = None,
        *,
        kind: str = "text",
        meta: dict[str, Any] | None = None,
    ) -> bool:
        services = self.services
        try:
            sent = await send_text(self.bot, int(who.address), text, markup(keyboard))
        except Forbidden as exc:
            log.info("customer %s unreachable: %s", who.customer_id, exc.message)
            async with services.db.transaction() as session:
                await mark_unreachable(session, who.customer_id, services.clock.now(), exc.message)
            return False
        await record_sent(services, who.ticket_id, "bot", sent, kind=kind, meta=meta)
        return True


def _identity(update: Update) -> Identity:
    user = update.effective_user
    assert user is not None
    return Identity(str(user.id), user.full_name, user.username, user.language_code)


async def _incoming(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Services, TelegramSender, Who, int]:
    """A customer's update: who they are, their ticket, and the message kept on it (its id)."""
    services = services_of(context)
    customer, ticket = await conversation.touch(services, CHANNEL, _identity(update))
    chat_id = update.effective_chat.id if update.effective_chat else 0
    who = conversation.who_of(customer, ticket, str(chat_id))
    message_id = 0
    message = update.effective_message
    if message is not None:
        message_id = await conversation.record_incoming(
            services,
            who,
            message.text or message.caption or "",
            kind=media_kind(message) or "text",
            channel_message_id=str(message.message_id),
            meta={"chat_id": message.chat_id},
        )
    return services, TelegramSender(context.bot, services), who, message_id


def _language(update: Update) -> str:
    code = update.effective_user.language_code if update.effective_user else None
    return "ar" if code and code.startswith("ar") else "en"


async def _flooded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Flood control (handoff/flood.py): a customer writing faster than the policy allows is
    not handled (nothing stored, answered or logged as an FAQ query) and is told once, kindly,
    to slow down. True when the update was refused."""
    user = update.effective_user
    if user is None:
        return False
    verdict = services_of(context).flood.message(f"telegram:{user.id}")
    if verdict.allowed:
        return False
    log.info("flood control: update from Telegram user %s not handled", user.id)
    text = texts.text("customer.slow_down", _language(update))
    query = update.callback_query
    with contextlib.suppress(TelegramError):
        if query is not None:
            await query.answer(text if verdict.tell else None)
        elif verdict.tell and update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, text)
    return True


async def _from_agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A registered agent's message goes to their customer; True when it was one."""
    services = services_of(context)
    agent = await agent_for(services, update)
    if agent is None:
        return False
    await handle_agent_message(update, context, services, agent)
    return True


async def on_customer_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start, /help, /language, /human, /cancel, or one the bot does not know."""
    if await _flooded(update, context):
        return
    services, out, who, _ = await _incoming(update, context)
    text = update.effective_message.text if update.effective_message else ""
    first_name = update.effective_user.first_name if update.effective_user else ""
    await conversation.command(services, out, who, (text or "/").split()[0], first_name)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text: from an agent, relayed to their customer; from a customer, routed by the state
    of their ticket (FAQ with the bot, silent while waiting, to their agent)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    if await _from_agent(update, context) or await _flooded(update, context):
        return
    services, out, who, message_id = await _incoming(update, context)
    await conversation.customer_message(services, out, who, message_id, message.text)


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, documents, voice, stickers...: carried between a customer and their agent; with
    the bot, kept on the ticket (the bot reads only text)."""
    message = update.effective_message
    if message is None:
        return
    if await _from_agent(update, context) or await _flooded(update, context):
        return
    services, out, who, message_id = await _incoming(update, context)
    await conversation.customer_message(services, out, who, message_id, None)


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


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Button presses: agents' buttons for agents; the customer's go to the conversation."""
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    agent = await agent_for(services, update)
    if agent is not None and await handle_agent_callback(update, context, services, agent):
        return
    if await _flooded(update, context):
        return
    customer, ticket = await conversation.touch(services, CHANNEL, _identity(update))
    chat_id = query.message.chat.id if query.message else query.from_user.id
    who = conversation.who_of(customer, ticket, str(chat_id))

    async def acknowledge(result: conversation.PressResult) -> None:
        if result.alert is not None:
            await query.answer(result.alert)
            return
        with contextlib.suppress(BadRequest):  # a query older than Telegram allows: harmless
            await query.answer()
        try:
            if result.replace is not None:
                text, keyboard = result.replace
                await query.edit_message_text(text, reply_markup=markup(keyboard))
            elif result.drop_buttons:
                await query.edit_message_reply_markup(reply_markup=None)
        except BadRequest as exc:  # already edited, or too old to edit: harmless
            log.debug("could not update the pressed message: %s", exc.message)

    out = TelegramSender(context.bot, services)
    await conversation.press(services, out, who, query.data or "", acknowledge)


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every command: agents' tools for registered agents; the customer bot for anyone else
    (a customer who types /online gets the normal bot)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    services = services_of(context)
    agent = await agent_for(services, update)
    if agent is not None:  # agents never fall into the customer bot (no tickets for them)
        await handle_agent_command(update, context, services, agent)
        return
    await on_customer_command(update, context)


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
        await context.bot.send_message(update.effective_chat.id, texts.text("customer.error", lang))
    except TelegramError:
        log.warning("could not tell the customer about the error", exc_info=True)


def commands(lang: str = "en") -> list[BotCommand]:
    """The bot's command menu in ``lang``."""
    return [
        BotCommand(name, texts.text(f"customer.command_{name}", lang))
        for name in ("start", "human", "language", "cancel", "help")
    ]


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
