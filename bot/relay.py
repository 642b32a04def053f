"""Carrying messages between a customer and their agent, both in private chats with the bot.

Customer messages reach the agent tagged with the ticket (``#12 Sara: ...``); media go through
``copy_message``. Agent messages reach the customer as the bot's own. Every carried message is
recorded in ``relays`` (source chat and message -> target chat and message), because
``copy_message`` returns only the new id: a reply by the agent to a relayed message routes to
that message's ticket, and an edit on either side is mirrored on the copy.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile
from telegram import Message as TgMessage
from telegram.error import BadRequest, Forbidden

from app.services import Services
from bot.split import split_text
from handoff import desk, views
from handoff.sent import Sent, recorder
from handoff.views import AgentView, Contact, Line

log = logging.getLogger(__name__)

CAPTIONED = ("photo", "video", "document", "audio", "voice", "animation")
MEDIA = (*CAPTIONED, "sticker", "video_note", "location", "contact")
CAPTION_MAX = 1024


def media_kind(message: TgMessage) -> str | None:
    for attr in MEDIA:
        if getattr(message, attr, None):
            return attr
    return None


def tag(ticket_id: int, name: str) -> str:
    return f"#{ticket_id} {name}:"


# Sends to one chat go out one at a time, in the order they were asked for: a send the flood
# limit holds back (429, retried after its wait) is not overtaken by the next one, so an
# agent reads a customer's lines in the order written. (lock, senders using it) per chat.
_chat_turns: dict[int, tuple[asyncio.Lock, int]] = {}


async def send_text(
    bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> list[TgMessage]:
    """Send a text split at Telegram's limit, the keyboard on the last part."""
    lock, users = _chat_turns.get(chat_id, (asyncio.Lock(), 0))
    _chat_turns[chat_id] = (lock, users + 1)
    try:
        async with lock:
            chunks = split_text(text)
            sent = []
            for i, chunk in enumerate(chunks):
                sent.append(
                    await bot.send_message(
                        chat_id, chunk, reply_markup=markup if i == len(chunks) - 1 else None
                    )
                )
            return sent
    finally:
        lock, users = _chat_turns[chat_id]
        if users == 1:
            del _chat_turns[chat_id]
        else:
            _chat_turns[chat_id] = (lock, users - 1)


async def say_to_agent(
    bot: Bot,
    services: Services,
    agent: AgentView,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> int | None:
    """Send to an agent's private chat; returns the (last) message id. An agent who blocked
    the bot is treated as offline (their chats go to others), never raised."""
    assert agent.telegram_id is not None
    try:
        sent = await send_text(bot, int(agent.telegram_id), text, markup)
    except Forbidden:
        log.info("agent %s blocked the bot: treated as offline", agent.id)
        await services.handoff.agent_unreachable(agent.id)
        return None
    return sent[-1].message_id


async def record_sent(
    services: Services,
    ticket_id: int,
    sender: str,
    sent: list[TgMessage],
    *,
    kind: str = "text",
    meta: dict[str, Any] | None = None,
) -> None:
    """Keep what the bot sent a Telegram customer (each part of a split text) in the
    transcript, with Telegram's message ids; stored when this returns. Concurrent chats' sends
    share transactions (a group commit, :class:`handoff.sent.SentRecorder`): one per answer
    was a third of the bot's transactions under load."""
    lines = [(message.text or "", message.message_id) for message in sent]
    now = services.clock.now()
    await recorder(services.db).record(Sent(ticket_id, sender, lines, now, kind, meta))


async def relay_to_agent(
    bot: Bot, services: Services, customer: Contact, agent: AgentView, message: Line
) -> None:
    """A customer's stored message, tagged with the ticket, into the agent's Telegram chat:
    Telegram media are copied from the customer's chat, a web chat file is uploaded."""
    assert agent.telegram_id is not None
    agent_chat = int(agent.telegram_id)
    label = tag(message.ticket_id, customer.name)
    meta = message.meta
    if customer.channel == "telegram" and "chat_id" in meta:
        source = (int(meta["chat_id"]), int(message.channel_message_id or 0))
    else:
        source = (_web_chat(customer.id), message.id)
    try:
        if message.kind == "file":  # a web chat upload
            copies = [
                await _send_attachment(bot, services, agent_chat, meta, f"{label} {message.text}")
            ]
        elif message.kind == "text":
            copies = [
                m.message_id for m in await send_text(bot, agent_chat, f"{label} {message.text}")
            ]
        else:  # Telegram media: copied from the customer's chat
            caption: dict[str, Any] = {}
            if message.kind in CAPTIONED:
                caption["caption"] = f"{label} {message.text}".strip()[:CAPTION_MAX]
            else:
                await bot.send_message(agent_chat, f"{label} [{message.kind}]")
            copied = await bot.copy_message(agent_chat, source[0], source[1], **caption)
            copies = [copied.message_id]
        targets = [(agent_chat, copy) for copy in copies]
        now = services.clock.now()
        await desk.record_relays(services.db, message.ticket_id, "to_agent", source, targets, now)
    except Forbidden:
        log.info("agent %s blocked the bot", agent.id)
        await services.handoff.agent_unreachable(agent.id)


def _web_chat(customer_id: int) -> int:
    """A stand-in chat id for a web customer in ``relays`` (negative: never a Telegram user)."""
    return -customer_id


async def _send_attachment(
    bot: Bot, services: Services, chat_id: int, meta: dict[str, Any], caption: str
) -> int:
    """Upload a web chat file to a Telegram chat; returns the message id."""
    attachment = await views.attachment(services.db, int(meta.get("attachment_id") or 0))
    if attachment is None:
        return (await bot.send_message(chat_id, caption or "[file]")).message_id
    sent = await bot.send_document(
        chat_id,
        InputFile(attachment.data, filename=attachment.name),
        caption=caption.strip()[:CAPTION_MAX] or None,
    )
    return sent.message_id


async def deliver_to_customer(
    bot: Bot, services: Services, customer: Contact, message: Line
) -> bool:
    """An agent's stored message to a Telegram customer: text as the bot's own, media an agent
    sent from Telegram copied from their chat, a file sent from the console uploaded. The
    message gets the id Telegram gave it, and the copy is recorded so an edit follows. False
    when the customer cannot be reached (the ticket is then closed as abandoned and the agent
    told)."""
    customer_chat = int(customer.external_id)
    meta = message.meta
    source = None
    if "source_chat" in meta:
        source = (int(meta["source_chat"]), int(meta["source_message"]))
    try:
        if message.kind == "file":
            sent_ids = [await _send_attachment(bot, services, customer_chat, meta, message.text)]
        elif message.kind != "text" and source is not None:
            copied = await bot.copy_message(customer_chat, source[0], source[1])
            sent_ids = [copied.message_id]
        else:
            sent_ids = [m.message_id for m in await send_text(bot, customer_chat, message.text)]
    except Forbidden:
        log.info("customer %s blocked the bot mid-chat", customer.id)
        await services.handoff.customer_unreachable(message.ticket_id)
        return False
    await desk.mark_delivered(services.db, message.id, str(sent_ids[0]))
    if source is not None:
        targets = [(customer_chat, target) for target in sent_ids]
        now = services.clock.now()
        await desk.record_relays(
            services.db, message.ticket_id, "to_customer", source, targets, now
        )
    return True


def agent_message_meta(message: TgMessage) -> tuple[str, dict[str, Any]]:
    """The kind and the meta under which an agent's Telegram message is stored: where it came
    from (for copying media and mirroring edits) and its file id."""
    meta: dict[str, Any] = {
        "source_chat": message.chat_id,
        "source_message": message.message_id,
        "file_id": _file_id(message),
    }
    return media_kind(message) or "text", meta


def _file_id(message: TgMessage) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    for attr in ("document", "voice", "video", "audio", "sticker", "animation"):
        item = getattr(message, attr, None)
        if item is not None:
            return str(item.file_id)
    return None


async def mirror_edit(bot: Bot, services: Services, message: TgMessage, label: str | None) -> int:
    """An edited message: edit its relayed copies the same way. Returns how many."""
    copies = await views.relayed_copies(services.db, message.chat_id, message.message_id)
    edited = 0
    for chat, target in copies:
        try:
            if message.text is not None:
                text = f"{label} {message.text}" if label else message.text
                await bot.edit_message_text(text[:4096], chat_id=chat, message_id=target)
            elif message.caption is not None:
                caption = f"{label} {message.caption}" if label else message.caption
                await bot.edit_message_caption(
                    chat_id=chat, message_id=target, caption=caption[:CAPTION_MAX]
                )
            edited += 1
        except BadRequest as exc:
            log.info("could not mirror an edit: %s", exc.message)
        except Forbidden:
            log.info("could not mirror an edit: the other side blocked the bot")
    return edited
