"""Telegram handlers for customers: thin glue from updates to the conversation and back.

Each customer update is one call into :mod:`conversation` (one transaction: the customer and
their ticket, the incoming message kept, the decision); what it returns is said through
:class:`TelegramSender`, which splits long texts, turns the conversation's buttons into inline
keyboards, stores what was sent with Telegram's message ids (each line once sent: the
transcript keeps the ids of the parts Telegram made of it, for replies and edits), and marks a
customer who blocked the bot as unreachable instead of failing. Agents' updates go to
:mod:`bot.agents`.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
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

import conversation
import texts
from app.services import Services
from bot.agents import (
    agent_for,
    handle_agent_callback,
    handle_agent_command,
    handle_agent_message,
)
from bot.port import markup
from bot.relay import media_kind, mirror_edit, record_sent, send_text
from bot.relay import tag as relay_tag
from conversation import TELEGRAM, Identity, Pressed, Say, reads
from faq.service import ArticleView
from handoff.flood import Verdict
from handoff.roster import TelegramRoster
from handoff.views import AgentView

log = logging.getLogger(__name__)

CHANNEL = TELEGRAM.name
CALLBACK_RE = conversation.PRESS_RE


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services = context.application.bot_data["services"]
    assert isinstance(services, Services)
    return services


def roster_of(context: ContextTypes.DEFAULT_TYPE) -> TelegramRoster | None:
    """The application's roster of agents (:func:`bot.app.build_application` sets it)."""
    roster = context.application.bot_data.get("roster")
    return roster if isinstance(roster, TelegramRoster) else None


async def _agent_of(
    services: Services, update: Update, context: ContextTypes.DEFAULT_TYPE
) -> AgentView | None:
    return await agent_for(services, update, roster_of(context))


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

    def __init__(self, bot: Bot, services: Services, chat_id: int) -> None:
        self.bot = bot
        self.services = services
        self.chat_id = chat_id

    async def send(self, customer_id: int, ticket_id: int, say: Say) -> bool:
        services = self.services
        try:
            sent = await send_text(self.bot, self.chat_id, say.text, markup(say.keyboard))
        except Forbidden as exc:
            log.info("customer %s unreachable: %s", customer_id, exc.message)
            await reads.customer_unreachable(services, customer_id, exc.message)
            return False
        await record_sent(services, ticket_id, "bot", sent, meta=say.meta)
        return True

    async def carry(self, customer_id: int, ticket_id: int, says: tuple[Say, ...]) -> None:
        """Say the lines an input decided (a handoff action it led to ran in its transaction;
        what the handoff engine tells the customer comes through the port)."""
        for say in says:
            await self.send(customer_id, ticket_id, say)


def _identity(update: Update) -> Identity:
    user = update.effective_user
    assert user is not None
    return Identity(str(user.id), user.full_name, user.username, user.language_code)


def _sender(update: Update, context: ContextTypes.DEFAULT_TYPE) -> TelegramSender:
    chat_id = update.effective_chat.id if update.effective_chat else 0
    return TelegramSender(context.bot, services_of(context), chat_id)


def _language(update: Update) -> str:
    code = update.effective_user.language_code if update.effective_user else None
    return "ar" if code and code.startswith("ar") else "en"


async def _refused(update: Update, context: ContextTypes.DEFAULT_TYPE, verdict: Verdict) -> None:
    """Flood control (handoff/flood.py) refused the update: nothing was stored, answered or
    logged as an FAQ query; the customer is told once, kindly, to slow down."""
    user = update.effective_user
    log.info("flood control: update from Telegram user %s not handled", user.id if user else "-")
    text = texts.text("customer.slow_down", _language(update))
    query = update.callback_query
    with contextlib.suppress(TelegramError):
        if query is not None:
            await query.answer(text if verdict.tell else None)
        elif verdict.tell and update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, text)


async def _from_agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A registered agent's message goes to their customer; True when it was one."""
    services = services_of(context)
    agent = await _agent_of(services, update, context)
    if agent is None:
        return False
    await handle_agent_message(update, context, services, agent)
    return True


async def on_customer_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start, /help, /language, /human, /cancel, or one the bot does not know."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    reply = await conversation.customer_command(
        services_of(context),
        TELEGRAM,
        _identity(update),
        message.text or "",
        first_name=update.effective_user.first_name,
        channel_message_id=str(message.message_id),
        meta={"chat_id": message.chat_id},
    )
    if reply.refused is not None:
        await _refused(update, context, reply.refused)
        return
    await _sender(update, context).carry(reply.customer_id, reply.ticket_id, reply.says)


async def _customer_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A customer's text or media, kept on their ticket and routed by its state (FAQ with
    the bot, kept while waiting, to their agent); the bot reads only text."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    reply = await conversation.customer_wrote(
        services_of(context),
        TELEGRAM,
        _identity(update),
        message.text or message.caption or "",
        kind=media_kind(message) or "text",
        channel_message_id=str(message.message_id),
        meta={"chat_id": message.chat_id},
    )
    if reply.refused is not None:
        await _refused(update, context, reply.refused)
        return
    await _sender(update, context).carry(reply.customer_id, reply.ticket_id, reply.says)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text: from an agent, relayed to their customer; from a customer, routed by the state
    of their ticket (FAQ with the bot, silent while waiting, to their agent)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    if await _from_agent(update, context):
        return
    await _customer_message(update, context)


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, documents, voice, stickers...: carried between a customer and their agent; with
    the bot, kept on the ticket (the bot reads only text)."""
    if update.effective_message is None:
        return
    if await _from_agent(update, context):
        return
    await _customer_message(update, context)


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: the relayed copy is edited the same way."""
    message = update.edited_message
    if message is None:
        return
    services = services_of(context)
    agent = await _agent_of(services, update, context)
    if agent is not None:
        await mirror_edit(context.bot, services, message, None)
        return
    user = update.effective_user
    found = await reads.open_ticket_of(services, CHANNEL, str(user.id)) if user else None
    if found is not None:
        ticket_id, name = found
        await mirror_edit(context.bot, services, message, relay_tag(ticket_id, name))


async def _acknowledge(query: CallbackQuery, result: Pressed) -> None:
    """The press answered, and the pressed message's buttons removed (or it rewritten) before
    anything is said in reply."""
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


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Button presses: agents' buttons for agents; the customer's go to the conversation."""
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    agent = await _agent_of(services, update, context)
    if agent is not None and await handle_agent_callback(update, context, services, agent):
        return
    result = await conversation.customer_pressed(
        services, TELEGRAM, _identity(update), query.data or ""
    )
    if result.refused is not None:
        await _refused(update, context, result.refused)
        return
    await _acknowledge(query, result)
    chat_id = query.message.chat.id if query.message else query.from_user.id
    out = TelegramSender(context.bot, services, chat_id)
    await out.carry(result.customer_id, result.ticket_id, result.says)


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every command: agents' tools for registered agents; the customer bot for anyone else
    (a customer who types /online gets the normal bot)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    services = services_of(context)
    agent = await _agent_of(services, update, context)
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
