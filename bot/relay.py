"""Carrying messages between a customer and their agent, both in private chats with the bot.

Customer messages reach the agent tagged with the ticket (``#12 Sara: ...``); media go through
``copy_message``. Agent messages reach the customer as the bot's own. Every carried message is
recorded in ``relays`` (source chat and message -> target chat and message), because
``copy_message`` returns only the new id: a reply by the agent to a relayed message routes to
that message's ticket, and an edit on either side is mirrored on the copy.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, Forbidden

from bot.split import split_text
from handoff.tickets import record_message
from sanad.services import Services
from storage.models import Agent, Customer, Relay, Ticket

log = logging.getLogger(__name__)

CAPTIONED = ("photo", "video", "document", "audio", "voice", "animation")
MEDIA = (*CAPTIONED, "sticker", "video_note", "location", "contact")
CAPTION_MAX = 1024


def media_kind(message: Message) -> str | None:
    for attr in MEDIA:
        if getattr(message, attr, None):
            return attr
    return None


async def record_relay(
    services: Services,
    ticket_id: int,
    direction: str,
    source: tuple[int, int],
    target: tuple[int, int],
) -> None:
    async with services.db.transaction() as session:
        session.add(
            Relay(
                ticket_id=ticket_id,
                direction=direction,
                source_chat=str(source[0]),
                source_message=str(source[1]),
                target_chat=str(target[0]),
                target_message=str(target[1]),
                created_at=services.clock.now(),
            )
        )


async def relay_for_target(services: Services, chat_id: int, message_id: int) -> Relay | None:
    """The relay whose copy is ``message_id`` in ``chat_id`` (what an agent replied to)."""
    async with services.db.transaction() as session:
        return (
            await session.execute(
                select(Relay)
                .where(Relay.target_chat == str(chat_id), Relay.target_message == str(message_id))
                .limit(1)
            )
        ).scalar_one_or_none()


async def relays_for_source(services: Services, chat_id: int, message_id: int) -> list[Relay]:
    async with services.db.transaction() as session:
        return list(
            (
                await session.execute(
                    select(Relay).where(
                        Relay.source_chat == str(chat_id), Relay.source_message == str(message_id)
                    )
                )
            )
            .scalars()
            .all()
        )


def tag(ticket_id: int, name: str) -> str:
    return f"#{ticket_id} {name}:"


async def send_text(
    bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> list[Message]:
    """Send a text split at Telegram's limit, the keyboard on the last part."""
    chunks = split_text(text)
    sent = []
    for i, chunk in enumerate(chunks):
        sent.append(
            await bot.send_message(
                chat_id, chunk, reply_markup=markup if i == len(chunks) - 1 else None
            )
        )
    return sent


async def relay_to_agent(
    bot: Bot, services: Services, ticket: Ticket, customer: Customer, agent: Agent, message: Message
) -> None:
    """A customer's message, tagged with the ticket, into the agent's chat."""
    assert agent.telegram_id is not None
    agent_chat = int(agent.telegram_id)
    label = tag(ticket.id, customer.name)
    kind = media_kind(message)
    try:
        if kind is None:
            for copy in await send_text(bot, agent_chat, f"{label} {message.text or ''}"):
                await record_relay(
                    services,
                    ticket.id,
                    "to_agent",
                    (message.chat_id, message.message_id),
                    (agent_chat, copy.message_id),
                )
            return
        caption: dict[str, Any] = {}
        if kind in CAPTIONED:
            caption["caption"] = f"{label} {message.caption or ''}".strip()[:CAPTION_MAX]
        else:
            await bot.send_message(agent_chat, f"{label} [{kind}]")
        copied = await bot.copy_message(agent_chat, message.chat_id, message.message_id, **caption)
        await record_relay(
            services,
            ticket.id,
            "to_agent",
            (message.chat_id, message.message_id),
            (agent_chat, copied.message_id),
        )
    except Forbidden:
        log.info("agent %s blocked the bot", agent.id)
        await services.handoff.agent_unreachable(agent.id)


async def relay_to_customer(
    bot: Bot,
    services: Services,
    ticket: Ticket,
    customer: Customer,
    agent: Agent,
    message: Message,
    text: str | None = None,
) -> bool:
    """An agent's message (or ``text`` on its behalf, e.g. a canned reply) to the customer.
    False when the customer cannot be reached (the ticket is then closed as abandoned and the
    agent told)."""
    customer_chat = int(customer.external_id)
    kind = None if text is not None else media_kind(message)
    text = text if text is not None else (message.text or message.caption or "")
    sent_ids: list[int] = []
    try:
        if kind is None:
            sent_ids = [m.message_id for m in await send_text(bot, customer_chat, text)]
        else:
            copied = await bot.copy_message(customer_chat, message.chat_id, message.message_id)
            sent_ids = [copied.message_id]
    except Forbidden:
        log.info("customer %s blocked the bot mid-chat", customer.id)
        await services.handoff.customer_unreachable(ticket.id)
        return False
    async with services.db.transaction() as session:
        stored = await session.get(Ticket, ticket.id)
        assert stored is not None
        await record_message(
            session,
            stored,
            sender="agent",
            text=text,
            kind=kind or "text",
            channel_message_id=str(sent_ids[0]),
            meta={"agent_id": agent.id, "file_id": _file_id(message)},
            at=services.clock.now(),
        )
    for target in sent_ids:
        await record_relay(
            services,
            ticket.id,
            "to_customer",
            (message.chat_id, message.message_id),
            (customer_chat, target),
        )
    await services.handoff.agent_replied(ticket.id, agent.id)
    return True


def _file_id(message: Message) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    for attr in ("document", "voice", "video", "audio", "sticker", "animation"):
        item = getattr(message, attr, None)
        if item is not None:
            return str(item.file_id)
    return None


async def mirror_edit(bot: Bot, services: Services, message: Message, label: str | None) -> int:
    """An edited message: edit its relayed copies the same way. Returns how many."""
    relays = await relays_for_source(services, message.chat_id, message.message_id)
    edited = 0
    for relay in relays:
        chat, target = int(relay.target_chat), int(relay.target_message)
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
