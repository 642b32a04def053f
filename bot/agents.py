"""Telegram handlers for agents and supervisors, in their private chat with the bot.

Only people registered with ``sanad agents add`` get here: for anyone else the same commands fall
through to the customer bot. An agent's plain messages go to a customer: the one whose message
they reply to, otherwise their current chat (``/chats`` switches it). Tools act on the same
ticket, or on one named by number (``/close 12``).
"""

from __future__ import annotations

import logging
import mimetypes
import re
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

import texts
from accounts.sessions import LINK_MINUTES, new_login_link
from app.services import Services
from bot.port import agent_language
from bot.relay import agent_message_meta, say_to_agent
from handoff import desk, views
from handoff.acd import AgentStatus
from handoff.priority import PRIORITIES
from handoff.roster import TelegramRoster
from handoff.service import HandoffError
from handoff.views import AgentView, LiveChat

log = logging.getLogger(__name__)

AGENT_CALLBACK_RE = re.compile(
    r"^(?:(?P<verb>acc|dec):(?P<offer>[0-9a-f]{1,32})"
    r"|cur:(?P<cur>\d{1,18})"
    r"|tra:(?P<tra_t>\d{1,18}):(?P<tra_a>\d{1,18})"
    r"|trs:(?P<trs_t>\d{1,18}):(?P<trs_s>[a-z0-9_.-]{1,40})"
    r"|pri:(?P<pri_t>\d{1,18}):(?P<pri>low|normal|high|urgent))$"
)


async def agent_for(
    services: Services, update: Update, roster: TelegramRoster | None = None
) -> AgentView | None:
    """The registered agent who sent ``update`` in their private chat, if any. With the
    application's ``roster`` a sender who is not an agent costs no database read."""
    user = update.effective_user
    if user is None or update.effective_chat is None or update.effective_chat.type != "private":
        return None
    if roster is not None:
        return await roster.agent(str(user.id))
    return await views.agent_by_telegram(services.db, str(user.id))


async def _live(services: Services, ticket_id: int, agent: AgentView) -> LiveChat | None:
    return await views.live_chat(services.db, ticket_id, agent.id)


async def _target(
    services: Services, agent: AgentView, message: Message | None, arg: str | None = None
) -> int | None:
    """Which ticket an agent's message or tool means: a number given, the message replied
    to, or the agent's current chat."""
    if arg:
        number = arg.lstrip("#")
        if number.isdigit():
            return int(number)
    if message is not None and message.reply_to_message is not None:
        replied = await views.relayed_ticket(
            services.db, message.chat_id, message.reply_to_message.message_id
        )
        if replied is not None:
            return replied
    return agent.current_ticket_id


async def _say(
    context: ContextTypes.DEFAULT_TYPE,
    agent: AgentView,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    services = context.application.bot_data["services"]
    await say_to_agent(context.bot, services, agent, text, markup)


async def _set_current(services: Services, agent_id: int, ticket_id: int) -> None:
    await desk.set_current_chat(services.db, agent_id, ticket_id, services.clock.now())


async def _leave_current(services: Services, agent_id: int, ticket_id: int) -> None:
    await desk.leave_current_chat(services.db, agent_id, ticket_id, services.clock.now())


async def handle_agent_message(
    update: Update, context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView
) -> None:
    """A plain message (text or media) from an agent: relay it to the customer."""
    message = update.effective_message
    if message is None:
        return
    lang = agent_language(agent)
    ticket_id = await _target(services, agent, message)
    if ticket_id is None:
        await _say(context, agent, texts.text("agent.no_current_chat", lang))
        return
    live = await _live(services, ticket_id, agent)
    if live is None:
        await _say(context, agent, texts.text("agent.not_your_chat", lang, ticket=ticket_id))
        return
    if agent.current_ticket_id != ticket_id:
        await _set_current(services, agent.id, ticket_id)
    kind, meta = agent_message_meta(message)
    file = None
    if kind != "text" and live.customer.channel != "telegram":
        # Another channel cannot fetch a Telegram file: Sanad keeps a copy for it.
        meta["media"] = kind
        file = await _fetch_media(context, services, message, meta)
        kind = "text"  # the file, when kept, makes it a file message; else the caption stays
    text = message.text or message.caption or ""
    if not text and "media" in meta and file is None:
        text = f"[{meta['media']}]"  # a photo that could not be kept: say what it was
    try:
        await services.handoff.agent_message(
            ticket_id, agent.id, text, origin="telegram", kind=kind, meta=meta, file=file
        )
    except HandoffError as exc:
        await _say(context, agent, texts.text("agent.action_failed", lang, reason=str(exc)))


async def _fetch_media(
    context: ContextTypes.DEFAULT_TYPE, services: Services, message: Message, meta: dict[str, Any]
) -> tuple[str, str, bytes] | None:
    """An agent's Telegram photo or document (``meta``: its media kind and file id),
    downloaded (name, content type, bytes); None when it cannot be had or is over the size
    limit (the message then keeps its caption)."""
    limit = int(services.settings.web_upload_max_mb * 1024 * 1024)
    kind = str(meta["media"])
    try:
        found = await context.bot.get_file(str(meta["file_id"]))
        if (found.file_size or 0) > limit:
            raise ValueError(f"{found.file_size} bytes is over the limit")
        data = bytes(await found.download_as_bytearray())
    except (TelegramError, ValueError, KeyError) as exc:
        log.info("could not keep an agent's %s: %s", kind, exc)
        return None
    name = message.document.file_name if message.document and message.document.file_name else ""
    name = name or f"{kind}{Path(found.file_path or '').suffix}"
    content_type = (message.document.mime_type if message.document else None) or (
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    return name, content_type, data


async def handle_agent_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView
) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    command, _, rest = message.text.partition(" ")
    name = command[1:].split("@")[0].lower()
    rest = rest.strip()
    lang = agent_language(agent)
    handoff = services.handoff
    try:
        if name in ("online", "away", "offline"):
            status = {
                "online": AgentStatus.AVAILABLE,
                "away": AgentStatus.AWAY,
                "offline": AgentStatus.OFFLINE,
            }[name]
            await handoff.set_agent_status(agent.id, status.value, origin="telegram")
            await _status(context, services, agent, lang)
        elif name == "ready":
            await handoff.end_wrap_up(agent.id)
            await _status(context, services, agent, lang)
        elif name == "status":
            await _status(context, services, agent, lang)
        elif name in ("start", "help"):
            supervisor = texts.text("agent.supervisor_help", lang) if agent.is_supervisor else ""
            await _say(
                context,
                agent,
                texts.text(
                    "agent.agent_help",
                    lang,
                    role=agent.role,
                    name=agent.name,
                    supervisor=supervisor,
                ),
            )
        elif name == "chats":
            await _chats(context, services, agent, lang)
        elif name == "note":
            ticket_id = await _target(services, agent, message)
            if not rest or ticket_id is None:
                await _say(context, agent, texts.text("agent.usage_note", lang))
                return
            await handoff.add_note(ticket_id, agent.id, rest)
            await _say(context, agent, texts.text("agent.note_saved", lang, ticket=ticket_id))
        elif name == "canned":
            rows = await views.canned_replies(services.db)
            items = "\n".join(
                f"/t {r.shortcut}{f' ({r.lang})' if r.lang else ''}: {r.text[:80]}" for r in rows
            )
            await _say(
                context,
                agent,
                texts.text("agent.canned_list", lang, items=items)
                if rows
                else texts.text("agent.canned_none", lang),
            )
        elif name == "t":
            await _canned(context, services, agent, message, rest, lang)
        elif name == "transfer":
            await _transfer_menu(context, services, agent, message, rest, lang)
        elif name == "priority":
            await _priority(context, services, agent, message, rest, lang)
        elif name == "tag":
            ticket_id = await _target(services, agent, message)
            if not rest or ticket_id is None:
                await _say(context, agent, texts.text("agent.usage_tag", lang))
                return
            tags = await handoff.add_tag(ticket_id, rest, actor=f"agent:{agent.id}")
            await _say(
                context,
                agent,
                texts.text("agent.tagged", lang, ticket=ticket_id, tags=", ".join(tags)),
            )
        elif name in ("bot", "close", "pending"):
            ticket_id = await _target(services, agent, message, rest or None)
            if ticket_id is None:
                await _say(context, agent, texts.text("agent.no_current_chat", lang))
                return
            if name == "bot":
                await handoff.hand_back_to_bot(ticket_id, agent.id)
                key = "handed_back_agent"
            elif name == "close":
                await handoff.resolve_ticket(ticket_id, agent.id)
                key = "closed_agent"
            else:
                await handoff.set_pending(ticket_id, agent.id)
                key = "pending_set"
            if name != "pending":
                await _leave_current(services, agent.id, ticket_id)
            await _say(context, agent, texts.text(f"agent.{key}", lang, ticket=ticket_id))
        elif name == "console":
            await _console_link(context, services, agent, lang)
        elif name == "queue" and agent.is_supervisor:
            await _queue(context, services, agent, lang)
        elif name == "agents" and agent.is_supervisor:
            await _agents(context, services, agent, lang)
        else:
            await _say(
                context, agent, texts.text("customer.unknown_command", lang, command=command[:64])
            )
    except HandoffError as exc:
        await _say(context, agent, texts.text("agent.action_failed", lang, reason=str(exc)))


async def _console_link(
    context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView, lang: str
) -> None:
    """``/console``: a one-time link that opens the web console logged in as this agent."""
    settings = services.settings
    base = settings.public_url or f"http://localhost:{settings.web_port}"
    key = await new_login_link(services.db, agent.id, services.clock.now())
    url = f"{base.rstrip('/')}/agent/login?key={key}"
    await _say(
        context, agent, texts.text("agent.console_link", lang, minutes=LINK_MINUTES, url=url)
    )


async def _status(
    context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView, lang: str
) -> None:
    stored = await views.agent(services.db, agent.id)
    assert stored is not None
    current = f"#{stored.current_ticket_id}" if stored.current_ticket_id else "-"
    await _say(
        context,
        agent,
        texts.text(
            "agent.status_is",
            lang,
            status=stored.status,
            load=stored.load,
            capacity=stored.capacity,
            current=current,
        ),
    )


async def _chats(
    context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView, lang: str
) -> None:
    # By ticket number: the order agents know their chats by on Telegram.
    chats = sorted(await views.live_chats(services.db, agent.id), key=lambda c: c.ticket_id)
    if not chats:
        await _say(context, agent, texts.text("agent.no_chats", lang))
        return
    rows = [
        [
            InlineKeyboardButton(
                f"{'▶ ' if chat.ticket_id == agent.current_ticket_id else ''}#{chat.ticket_id} "
                f"{chat.customer.name[:30]} ({chat.state})",
                callback_data=f"cur:{chat.ticket_id}",
            )
        ]
        for chat in chats
    ]
    await _say(context, agent, texts.text("agent.chats_list", lang), InlineKeyboardMarkup(rows))


async def _canned(
    context: ContextTypes.DEFAULT_TYPE,
    services: Services,
    agent: AgentView,
    message: Message,
    shortcut: str,
    lang: str,
) -> None:
    ticket_id = await _target(services, agent, message)
    if not shortcut or ticket_id is None:
        await _say(context, agent, texts.text("agent.usage_t", lang))
        return
    live = await _live(services, ticket_id, agent)
    if live is None:
        await _say(context, agent, texts.text("agent.not_your_chat", lang, ticket=ticket_id))
        return
    text = await views.filled_canned(services.db, shortcut, ticket_id, agent.id)
    if text is None:
        await _say(context, agent, texts.text("agent.canned_unknown", lang, shortcut=shortcut))
        return
    # Sent as if the agent typed it: the same delivery, transcript and first-reply stamp.
    await services.handoff.agent_message(ticket_id, agent.id, text, origin="telegram")
    await _say(context, agent, f"→ {text}")


async def _transfer_menu(
    context: ContextTypes.DEFAULT_TYPE,
    services: Services,
    agent: AgentView,
    message: Message,
    arg: str,
    lang: str,
) -> None:
    ticket_id = await _target(services, agent, message, arg or None)
    if ticket_id is None or await _live(services, ticket_id, agent) is None:
        await _say(context, agent, texts.text("agent.no_current_chat", lang))
        return
    # Only who can take the chat now (the core decides, the same list as the console's).
    targets = await services.handoff.transfer_targets(ticket_id, agent.id)
    rows = [
        [InlineKeyboardButton(name[:40], callback_data=f"tra:{ticket_id}:{agent_id}")]
        for agent_id, name in targets.agents
    ]
    rows += [
        [InlineKeyboardButton(f"⟶ {s}", callback_data=f"trs:{ticket_id}:{s}")]
        for s in targets.categories
        if len(s) <= 40
    ]
    if not rows:
        await _say(context, agent, texts.text("agent.no_transfer_target", lang))
        return
    await _say(
        context,
        agent,
        texts.text("agent.transfer_to", lang, ticket=ticket_id),
        InlineKeyboardMarkup(rows),
    )


async def _priority(
    context: ContextTypes.DEFAULT_TYPE,
    services: Services,
    agent: AgentView,
    message: Message,
    arg: str,
    lang: str,
) -> None:
    ticket_id = await _target(services, agent, message)
    if ticket_id is None:
        await _say(context, agent, texts.text("agent.no_current_chat", lang))
        return
    if arg.lower() in PRIORITIES:
        await services.handoff.set_priority(ticket_id, arg.lower(), actor=f"agent:{agent.id}")
        await _say(
            context,
            agent,
            texts.text("agent.priority_set", lang, ticket=ticket_id, priority=arg.lower()),
        )
        return
    rows = [[InlineKeyboardButton(p, callback_data=f"pri:{ticket_id}:{p}") for p in PRIORITIES]]
    await _say(
        context,
        agent,
        texts.text("agent.priority_pick", lang, ticket=ticket_id),
        InlineKeyboardMarkup(rows),
    )


async def _queue(
    context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView, lang: str
) -> None:
    rows = await views.queue(services.db, limit=30)
    now = services.clock.now()
    items = "\n".join(
        f"#{q.ticket_id} {q.priority} {q.state} {q.customer_name[:30]} "
        f"{int((now - (q.requested_at or now)).total_seconds() // 60)} min"
        for q in rows
    )
    await _say(
        context, agent, texts.text("agent.queue_list", lang, count=len(rows), items=items or "-")
    )


async def _agents(
    context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView, lang: str
) -> None:
    agents = await views.roster(services.db)
    items = "\n".join(f"{a.name} ({a.role}): {a.status}, {a.load}/{a.capacity}" for a in agents)
    await _say(context, agent, texts.text("agent.agents_list", lang, items=items))


async def handle_agent_callback(
    update: Update, context: ContextTypes.DEFAULT_TYPE, services: Services, agent: AgentView
) -> bool:
    """Agent buttons. Returns False when the data is not an agent button at all."""
    query = update.callback_query
    assert query is not None
    match = AGENT_CALLBACK_RE.match(query.data or "")
    if match is None:
        return False
    lang = agent_language(agent)
    handoff = services.handoff
    try:
        if match["verb"]:
            if match["verb"] == "acc":
                result = await handoff.accept_offer(match["offer"], agent.id)
            else:
                result = await handoff.decline_offer(match["offer"], agent.id)
            if result.ok:
                await query.answer()
            else:
                key = {
                    "not_yours": "customer.button_expired",
                    "expired": "agent.offer_expired",
                }.get(result.reason, "agent.offer_taken")
                await query.answer(texts.text(key, lang), show_alert=result.reason == "not_yours")
        elif match["cur"]:
            ticket_id = int(match["cur"])
            live = await _live(services, ticket_id, agent)
            if live is None:
                await query.answer(texts.text("agent.not_your_chat", lang, ticket=ticket_id))
                return True
            await _set_current(services, agent.id, ticket_id)
            await query.answer()
            await _say(
                context,
                agent,
                texts.text("agent.current_set", lang, ticket=ticket_id, name=live.customer.name),
            )
        elif match["tra_t"] or match["trs_t"]:
            ticket_id = int(match["tra_t"] or match["trs_t"])
            await handoff.transfer_ticket(
                ticket_id,
                agent.id,
                to_agent=int(match["tra_a"]) if match["tra_a"] else None,
                to_category=match["trs_s"],
            )
            await _leave_current(services, agent.id, ticket_id)
            await query.answer()
            await _say(
                context, agent, texts.text("agent.transferred_agent", lang, ticket=ticket_id)
            )
        else:
            ticket_id = int(match["pri_t"])
            if await _live(services, ticket_id, agent) is None and not agent.is_supervisor:
                await query.answer(texts.text("agent.not_your_chat", lang, ticket=ticket_id))
                return True
            await handoff.set_priority(ticket_id, match["pri"], actor=f"agent:{agent.id}")
            await query.answer()
            await _say(
                context,
                agent,
                texts.text("agent.priority_set", lang, ticket=ticket_id, priority=match["pri"]),
            )
    except HandoffError as exc:
        await query.answer(
            texts.text("agent.action_failed", lang, reason=str(exc))[:200], show_alert=True
        )
    return True
