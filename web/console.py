"""The agent console: the page at ``/agent``, its JSON API under ``/api/v1/agent`` and its push
socket ``/agent/ws`` (:mod:`web.console_socket`; docs/webchat.md).

An agent works here, from Telegram, or from both at once: every action is the same named action
of the handoff service (``accept_offer``, ``agent_message``, ``add_note``, ``transfer_ticket``,
``resolve_ticket``...), and :class:`ConsolePort` is one more agent-facing adapter on the port
router, so offers, ended offers, assignments and customer messages (the notices of
:mod:`handoff.notices`) reach the console whichever channel the customer writes from and
wherever the agent acted.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, assert_never

from aiohttp import web

import texts
from app.services import Services
from base.bus import Bus, LocalBus
from handoff import views
from handoff.acd import AgentStatus
from handoff.notices import (
    AgentJoined,
    AgentMessage,
    AgentNotice,
    AgentSetAway,
    Assigned,
    ChatMessage,
    ChatsRequeued,
    CloseOrTransfer,
    ConsoleGone,
    CustomerLeft,
    CustomerNotice,
    FollowUpAsked,
    HandedBack,
    IdleAway,
    LowRating,
    LowRatingComment,
    NoAgents,
    OfferEnded,
    OfferMade,
    OutsideHours,
    PositionChanged,
    Queued,
    Reopened,
    Requeued,
    Resolved,
    SetAway,
    SlaBreached,
    SlaWarning,
    StatusChanged,
    StillWaiting,
    SupervisorNotice,
    TakenOver,
    Transferred,
)
from handoff.presence import CHAT
from handoff.service import HandoffError
from handoff.tickets import ShownLine, transcript_text
from handoff.views import AgentView, ListedChat, LiveChat, NoteView, TranscriptRow
from web import console_openapi as shapes
from web.auth import (
    login_with_link,
    principal_of,
    session_redirect,
)
from web.chat import carried_frame, frames_for
from web.console_openapi import OPENAPI_PATHS as OPENAPI_PATHS  # the app collects them here
from web.console_openapi import OPENAPI_SCHEMAS as OPENAPI_SCHEMAS
from web.inputs import check_text, parse_json
from web.openapi import reply
from web.site import SERVICES, address_of, https, login_throttle, request_lang
from web.site import render as render_page
from web.sockets import close_to_catch_up, send_each

log = logging.getLogger(__name__)

CATEGORY_MAX = 64  # tickets.category
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MESSAGE_MAX = 4096  # characters of one agent line
STATUSES = {
    "available": AgentStatus.AVAILABLE,
    "away": AgentStatus.AWAY,
    "offline": AgentStatus.OFFLINE,
}


class ConsoleHub:
    """The open console sockets of this process, by agent, and the bus to the other
    processes' (an agent's console may be open on any of them: every frame pushed here is
    published too, and frames published elsewhere reach the sockets held here)."""

    TOPIC = "console"
    EVERYONE = 0  # the key of a frame for every agent

    def __init__(self, bus: Bus | None = None) -> None:
        self.sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self.bus: Bus = bus or LocalBus()
        self.bus.subscribe(self.TOPIC, self._from_elsewhere, wants=self._holds)
        self.bus.on_reconnect(self.catch_up)

    def _holds(self, agent_id: int) -> bool:
        return agent_id in self.sockets or (agent_id == self.EVERYONE and bool(self.sockets))

    def reaches(self, agent_id: int) -> bool:
        """Whether a frame for ``agent_id`` may have a socket to go to, here or elsewhere."""
        return self.bus.shared or agent_id in self.sockets

    async def push(self, agent_id: int, frame: dict[str, Any]) -> None:
        await self._push_here(agent_id, frame)
        await self.bus.publish(self.TOPIC, agent_id, frame)

    async def push_all(self, frame: dict[str, Any]) -> None:
        for agent_id in list(self.sockets):
            await self._push_here(agent_id, frame)
        await self.bus.publish(self.TOPIC, self.EVERYONE, frame)

    async def _from_elsewhere(self, agent_id: int, frame: dict[str, Any]) -> None:
        if agent_id == self.EVERYONE:
            for someone in list(self.sockets):
                await self._push_here(someone, frame)
        else:
            await self._push_here(agent_id, frame)

    async def catch_up(self) -> None:
        """After a bus reconnect: each console reconnects and refetches its state."""
        await close_to_catch_up(self.sockets.values())

    async def _push_here(self, agent_id: int, frame: dict[str, Any]) -> None:
        await send_each(self.sockets.get(agent_id, ()), frame)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


async def agent_json(services: Services, agent_id: int) -> dict[str, Any]:
    """The agent as the admin API shows them (``/api/v1/admin/agents``), with their wrap-up
    end."""
    agent = await views.agent(services.db, agent_id)
    if agent is None:
        raise web.HTTPNotFound(reason="this agent was removed")
    return _agent_json(agent)


def _agent_json(agent: AgentView) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role,
        "telegram_id": agent.telegram_id,
        "status": agent.status,
        "capacity": agent.capacity,
        "load": agent.load,
        "skills": list(agent.skills),
        "languages": list(agent.languages),
        "routing_priority": agent.routing_priority,
        "created_at": agent.created_at.isoformat(),
        "updated_at": agent.updated_at.isoformat(),
        "wrap_up_until": _iso(agent.wrap_up_until),
    }


def offer_json(offer: OfferMade, now: datetime) -> dict[str, Any]:
    return {
        "offer_id": offer.offer_id,
        "ticket_id": offer.ticket_id,
        "priority": offer.priority,
        "category": offer.category,
        "language": offer.language,
        "customer_name": offer.customer_name,
        "waiting_s": round(offer.waiting_s, 1),
        "deadline": offer.deadline.isoformat(),
        "seconds_left": max(0.0, round((offer.deadline - now).total_seconds(), 1)),
        "last_messages": list(offer.last_messages),
    }


async def pending_offers(services: Services, agent_id: int) -> list[dict[str, Any]]:
    """The agent's pending offers, as stored (after a reload of the page)."""
    now = services.clock.now()
    return [offer_json(o, now) for o in await views.pending_offers(services.db, agent_id, now)]


async def console_messages(
    services: Services, messages: list[TranscriptRow]
) -> list[dict[str, Any]]:
    """Transcript rows as the console shows them: no buttons to press (those are the
    customer's), but the options offered listed in the text, and a press as a choice."""
    frames = await frames_for(services, messages)
    return [
        _console_frame(frame, message.ticket_id, message)
        for message, frame in zip(messages, frames, strict=True)
    ]


def _console_frame(frame: dict[str, Any], ticket_id: int, line: ShownLine) -> dict[str, Any]:
    shown = {k: v for k, v in frame.items() if k not in ("type", "buttons", "client_id")}
    shown["ticket_id"] = ticket_id
    shown["text"] = transcript_text(line)
    return shown


def said_message(notice: ChatMessage) -> dict[str, Any] | None:
    """A chat line as the console shows it, from the line its notice carries (no read); None
    when it carries none, or a file (its link is signed with a key the notice lacks)."""
    # customer_id: only a file's link needs it, and files are read
    carried = carried_frame(notice.message_id, 0, notice.sender, notice.said)
    if carried is None:
        return None
    frame, line = carried
    return _console_frame(frame, notice.ticket_id, line)


async def chats_json(
    services: Services, listed: list[ListedChat], online: Callable[[int], bool]
) -> list[dict[str, Any]]:
    """Open chats as the console lists them, each with its last message and, for web
    visitors, whether they are there (``online``: the chat hub's view)."""
    last = {c.chat.ticket_id: c.last for c in listed if c.last is not None}
    last_frames = dict(
        zip(last, await console_messages(services, list(last.values())), strict=True)
    )
    chats = [c.chat for c in listed]
    return [
        {
            "ticket_id": chat.ticket_id,
            "state": chat.state,
            "channel": chat.channel,
            "priority": chat.priority,
            "tags": list(chat.tags),
            "category": chat.category,
            "language": chat.language,
            "customer": {"id": chat.customer.id, "name": chat.customer.name},
            "last_message": last_frames.get(chat.ticket_id),
            "assigned_at": _iso(chat.assigned_at),
            # Web visitors: is the chat open in their browser now (None: not known, Telegram).
            "customer_online": online(chat.customer.id) if chat.channel == "web" else None,
        }
        for chat in chats
    ]


async def my_chats_json(
    services: Services, agent_id: int, request: web.Request
) -> list[dict[str, Any]]:
    """The agent's open chats (every channel), in the order they were assigned."""
    listed = await views.chat_list(services.db, agent_id)
    return await chats_json(services, listed, await _online(request, listed))


class ConsolePort:
    """The console's side of the handoff port: what agents are told, pushed to their sockets."""

    def __init__(self, services: Services, hub: ConsoleHub) -> None:
        self.services = services
        self.hub = hub

    async def notify_customer(self, notice: CustomerNotice) -> None:
        """Watching, not speaking: a change on a ticket may change an agent's list."""
        match notice:
            case AgentJoined() | Resolved() | HandedBack() | Transferred() | Requeued():
                await self.hub.push_all({"type": "chats"})
            case (
                Queued()
                | Reopened()
                | PositionChanged()
                | StillWaiting()
                | NoAgents()
                | OutsideHours()
                | FollowUpAsked()
                | AgentMessage()
            ):
                pass  # the chat is not (yet) any agent's, or its line comes as a ChatMessage
            case _:
                assert_never(notice)

    async def notify_agent(self, notice: AgentNotice) -> None:
        agent_id = notice.agent_id
        if not self.hub.reaches(agent_id):
            return
        match notice:
            case OfferMade():
                now = self.services.clock.now()
                await self.hub.push(agent_id, {"type": "offer", "offer": offer_json(notice, now)})
            case OfferEnded():
                await self._offer_ended(agent_id, notice.offer_id, notice.reason)
            case Assigned():
                await self._offer_ended(agent_id, notice.offer_id, "accepted")
                await self.hub.push(agent_id, {"type": "chats"})
                await self._push_agent(agent_id)
            case ChatMessage():
                known = said_message(notice)
                if known is not None:
                    shown_lines = [known]
                else:
                    found = await views.transcript_rows(self.services.db, [notice.message_id])
                    shown_lines = await console_messages(self.services, found)
                for shown in shown_lines:
                    frame = {"type": "message", "ticket_id": notice.ticket_id, "message": shown}
                    await self.hub.push(agent_id, frame)
            case StatusChanged():
                await self._push_agent(agent_id)
            case SetAway():
                text = texts.text("console.notice_set_away", "en", missed=notice.missed)
                await self._tell(agent_id, notice.kind, text, {"missed": notice.missed})
            case IdleAway():
                minutes = max(1, round(notice.idle_s / 60))
                text = texts.text("console.notice_idle_away", "en", minutes=minutes)
                await self._tell(agent_id, notice.kind, text, {"minutes": minutes})
            case ConsoleGone():
                text = texts.text("console.notice_console_gone", "en")
                await self._tell(agent_id, notice.kind, text, {})
            case CloseOrTransfer():
                await self.hub.push(agent_id, {"type": "chats"})
                text = texts.text("console.notice_close_or_transfer", "en")
                await self._tell(agent_id, notice.kind, text, {})
            case ChatsRequeued():
                await self.hub.push(agent_id, {"type": "chats"})
                text = texts.text("console.notice_chats_requeued", "en")
                await self._tell(agent_id, notice.kind, text, {})
            case CustomerLeft():
                await self.hub.push(agent_id, {"type": "chats"})
                text = texts.text("console.notice_customer_left", "en", ticket_id=notice.ticket_id)
                await self._tell(agent_id, notice.kind, text, {"ticket_id": notice.ticket_id})
            case TakenOver():
                await self.hub.push(agent_id, {"type": "chats"})
                text = texts.text(
                    "console.notice_taken_over",
                    "en",
                    ticket_id=notice.ticket_id,
                    name=notice.by_name,
                )
                data: dict[str, int | str] = {"ticket_id": notice.ticket_id, "name": notice.by_name}
                await self._tell(agent_id, notice.kind, text, data)
            case _:
                assert_never(notice)

    async def _offer_ended(self, agent_id: int, offer_id: str, reason: str) -> None:
        frame = {"type": "offer_ended", "offer_id": offer_id, "reason": reason}
        await self.hub.push(agent_id, frame)

    async def _push_agent(self, agent_id: int) -> None:
        agent = await agent_json(self.services, agent_id)
        await self.hub.push(agent_id, {"type": "agent", "agent": agent})

    async def _tell(self, agent_id: int, kind: str, text: str, data: dict[str, int | str]) -> None:
        """A short notice for the agent, after their status (it may have changed with it):
        ``text`` in English; the page says a ``kind`` it knows in its language, with ``data``."""
        await self._push_agent(agent_id)
        frame = {"type": "notice", "text": text, "kind": kind, "data": data}
        await self.hub.push(agent_id, frame)

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        ids = [s.id for s in await views.supervisors(self.services.db)]
        frame = {
            "type": "notice",
            "text": supervisor_text(notice),
            "kind": notice.kind,
            "data": supervisor_facts(notice),
        }
        for agent_id in ids:
            await self.hub.push(agent_id, frame)


def supervisor_facts(notice: SupervisorNotice) -> dict[str, str | int]:
    """The facts of a supervisor notice, by name, as the page's texts use them."""
    match notice:
        case SlaWarning() | SlaBreached():
            return {
                "ticket_id": notice.ticket_id,
                "target": notice.target.replace("_", " "),
                "due": notice.due_at.strftime("%H:%M UTC"),
                "priority": notice.priority,
            }
        case AgentSetAway():
            return {"name": notice.name, "missed": notice.missed}
        case LowRating():
            return {
                "ticket_id": notice.ticket_id,
                "stars": notice.stars,
                "agent": notice.agent_name or "-",
            }
        case LowRatingComment():
            return {"ticket_id": notice.ticket_id, "stars": notice.stars, "comment": notice.comment}
        case _:
            assert_never(notice)


def supervisor_text(notice: SupervisorNotice) -> str:
    """The notice in English (the page says it in its own language from its kind and facts)."""
    facts: dict[str, Any] = dict(supervisor_facts(notice))
    return texts.text(f"console.notice_{notice.kind}", "en", **facts)


# ---------------------------------------------------------------------- requests


def agent_of(request: web.Request) -> tuple[Services, int]:

    principal = principal_of(request)
    if principal.agent_id is None:
        raise web.HTTPForbidden(
            reason="the console needs an agent's token (sanad tokens create --role agent "
            "--agent ID) or the login link the bot sends an agent for /console"
        )
    return request.app[SERVICES], principal.agent_id


async def _body(request: web.Request) -> dict[str, Any]:
    data = parse_json(await request.read())
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return data


async def _online(request: web.Request, listed: list[ListedChat]) -> Callable[[int], bool]:
    """Whether a web visitor has their chat open, on this process or any other."""
    services = request.app[SERVICES]
    ids = [c.chat.customer.id for c in listed if c.chat.channel == "web"]
    there = await services.presence.present(CHAT, ids) if ids else set()
    from web.chat import CHAT_HUB

    here = request.app[CHAT_HUB].online
    return lambda customer_id: customer_id in there or here(customer_id)


def _ticket_id(request: web.Request) -> int:
    try:
        return int(request.match_info["ticket_id"])
    except ValueError as exc:
        raise web.HTTPNotFound(reason="no such chat") from exc


async def _my_live_ticket(services: Services, agent_id: int, ticket_id: int) -> LiveChat:
    chat = await views.live_chat(services.db, ticket_id, agent_id)
    if chat is None:
        raise web.HTTPNotFound(reason=f"chat {ticket_id} is not one of your open chats")
    return chat


def _conflict(exc: HandoffError) -> web.HTTPConflict:
    return web.HTTPConflict(text=str(exc))


async def me(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    return reply(
        shapes.MeOut,
        {
            "agent": await agent_json(services, agent_id),
            "offers": await pending_offers(services, agent_id),
            "chats": await my_chats_json(services, agent_id, request),
        },
    )


async def set_status(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    status = (await _body(request)).get("status")
    await services.presence.activity(agent_id)
    if status == "ready":
        await services.handoff.end_wrap_up(agent_id)
    elif status in STATUSES:
        await services.handoff.set_agent_status(agent_id, STATUSES[status].value, origin="web")
    else:
        raise web.HTTPBadRequest(text="status must be available, away, offline or ready")
    return reply(shapes.AgentAnswer, {"agent": await agent_json(services, agent_id)})


async def answer_offer(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    offer_id = request.match_info["offer_id"]
    if request.match_info["verb"] == "accept":
        result = await services.handoff.accept_offer(offer_id, agent_id)
    else:
        result = await services.handoff.decline_offer(offer_id, agent_id)
    if not result.ok:
        reasons = {
            "taken": "this chat was taken or withdrawn",
            "expired": "this offer has expired",
            "not_yours": "this offer is not yours",
        }
        raise web.HTTPConflict(text=reasons.get(result.reason, result.reason))
    return reply(shapes.OfferAnswer, {"ok": True, "ticket_id": result.ticket_id})


async def chats(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    return reply(shapes.ChatsOut, {"chats": await my_chats_json(services, agent_id, request)})


async def chat(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    detail = await views.chat_detail(services.db, ticket_id, agent_id)
    if detail is None:
        raise web.HTTPNotFound(reason=f"chat {ticket_id} is not one of your open chats")
    one = [ListedChat(detail.chat, detail.last)]
    (listed,) = await chats_json(services, one, await _online(request, one))
    return reply(
        shapes.ChatOut,
        {
            "chat": listed,
            "messages": await console_messages(services, list(detail.messages)),
            "notes": [_note_json(note) for note in detail.notes],
        },
    )


def _note_json(note: NoteView) -> dict[str, Any]:
    return {
        "id": note.id,
        "text": note.text,
        "agent": note.agent,
        "created_at": note.created_at.isoformat(),
    }


async def _say(
    services: Services, ticket_id: int, agent_id: int, text: str, **options: Any
) -> web.Response:
    """The agent's line to the customer (``agent_message``), answered with the message."""
    try:
        message_id = await services.handoff.agent_message(
            ticket_id, agent_id, text, origin="web", **options
        )
    except HandoffError as exc:
        raise _conflict(exc) from exc
    return await _message_answer(services, message_id)


async def _message_answer(services: Services, message_id: int) -> web.Response:
    (shown,) = await console_messages(
        services, await views.transcript_rows(services.db, [message_id])
    )
    return reply(shapes.MessageAnswer, {"message": shown})


def line_problem(text: object, client_id: object) -> str | None:
    """Why an agent's line cannot be sent (posted or over the socket), or None."""
    if not isinstance(text, str) or not text.strip():
        return "a message needs some text"
    if len(text) > MESSAGE_MAX:
        return f"a message holds at most {MESSAGE_MAX} characters, not {len(text)}"
    if client_id is not None and (
        not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id)
    ):
        return "client_id: 1-64 letters, digits, _ . : -"
    return None


async def send_message(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    body = await _body(request)
    text, client_id = body.get("text"), body.get("client_id")
    problem = line_problem(text, client_id)
    if problem is not None:
        raise web.HTTPBadRequest(text=problem)
    assert isinstance(text, str) and (client_id is None or isinstance(client_id, str))
    await _my_live_ticket(services, agent_id, ticket_id)
    return await _say(services, ticket_id, agent_id, text, client_id=client_id)


async def send_file(request: web.Request) -> web.Response:
    """An agent's file for the customer (multipart ``file``, optional ``client_id``): kept on
    the ticket and carried to the customer's channel like a message."""
    from web.chat import CLIENT_ID_RE as FILE_CLIENT_ID_RE
    from web.chat import upload_max_bytes
    from web.inputs import read_upload

    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    await _my_live_ticket(services, agent_id, ticket_id)
    fields, (name, content_type, data) = await read_upload(request, upload_max_bytes(services))
    client_id = fields.get("client_id") or None
    if client_id is not None and not FILE_CLIENT_ID_RE.match(client_id):
        raise web.HTTPBadRequest(text="client_id: 1-64 letters, digits, _ . : -")
    file = (name, content_type, data)
    return await _say(services, ticket_id, agent_id, name, client_id=client_id, file=file)


async def send_canned(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    shortcut = str((await _body(request)).get("shortcut") or "")
    await _my_live_ticket(services, agent_id, ticket_id)
    text = await views.filled_canned(services.db, shortcut, ticket_id, agent_id)
    if text is None:
        raise web.HTTPNotFound(reason=f"no canned reply {shortcut!r}")
    return await _say(services, ticket_id, agent_id, text)


async def fill_canned(request: web.Request) -> web.Response:
    """The canned reply ``shortcut`` filled in for this chat, not sent: the console puts it in
    the reply box for the agent to edit."""
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    shortcut = request.match_info["shortcut"]
    await _my_live_ticket(services, agent_id, ticket_id)
    text = await views.filled_canned(services.db, shortcut, ticket_id, agent_id)
    if text is None:
        raise web.HTTPNotFound(reason=f"no canned reply {shortcut!r}")
    return reply(shapes.Filled, {"shortcut": shortcut, "text": text})


async def canned_changed(services: Services) -> None:
    """Canned replies were added, changed or removed: open consoles fetch the list again
    (without a reload, so the open chat stays open)."""
    for port in services.ports.agent_ports:
        if isinstance(port, ConsolePort):
            await port.hub.push_all({"type": "canned"})


async def add_note(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    text = str((await _body(request)).get("text") or "")
    await _my_live_ticket(services, agent_id, ticket_id)
    try:
        note_id = await services.handoff.add_note(ticket_id, agent_id, text)
    except HandoffError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    note = await views.note(services.db, note_id)
    assert note is not None
    return reply(shapes.NoteAnswer, {"note": _note_json(note)})


async def transfer(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    body = await _body(request)
    to_agent = body.get("agent_id")
    category = body.get("category")
    if not isinstance(to_agent, int) and not (isinstance(category, str) and category):
        raise web.HTTPBadRequest(text='send {"agent_id": N} or {"category": "name"}')
    if isinstance(category, str):
        check_text(category, "category", CATEGORY_MAX)
    try:
        await services.handoff.transfer_ticket(
            ticket_id,
            agent_id,
            to_agent=to_agent if isinstance(to_agent, int) else None,
            to_category=category if isinstance(category, str) and category else None,
        )
    except HandoffError as exc:
        raise _conflict(exc) from exc
    return reply(shapes.Done, {"ok": True})


async def close(request: web.Request) -> web.Response:
    services, agent_id = agent_of(request)
    ticket_id = _ticket_id(request)
    try:
        await services.handoff.resolve_ticket(ticket_id, agent_id)
    except HandoffError as exc:
        raise _conflict(exc) from exc
    return reply(shapes.Done, {"ok": True})


async def canned(request: web.Request) -> web.Response:
    services, _agent_id = agent_of(request)
    rows = await views.canned_replies(services.db)
    return reply(
        shapes.CannedList,
        {"canned": [{"shortcut": r.shortcut, "lang": r.lang, "text": r.text} for r in rows]},
    )


async def transfer_targets(request: web.Request) -> web.Response:
    """Whom the agent's chat ``?ticket_id=N`` can go to now: only agents who can take it
    (the core's list, the same as on Telegram) and categories someone online handles."""
    services, agent_id = agent_of(request)
    try:
        ticket_id = int(request.query.get("ticket_id", ""))
    except ValueError:
        raise web.HTTPBadRequest(text="send ?ticket_id=N: the chat to transfer") from None
    await _my_live_ticket(services, agent_id, ticket_id)
    targets = await services.handoff.transfer_targets(ticket_id, agent_id)
    return reply(
        shapes.TargetsOut,
        {
            "agents": [
                {"id": i, "name": name, "status": "available"} for i, name in targets.agents
            ],
            "categories": targets.categories,
        },
    )


async def page(request: web.Request) -> web.Response:

    services, agent_id = agent_of(request)
    return render_page(
        request, "agent_console.html", active="console", agent=await agent_json(services, agent_id)
    )


async def link_login(request: web.Request) -> web.StreamResponse:
    """``/agent/login?key=...``: the one-time link the bot sends an agent for ``/console``."""

    services = request.app[SERVICES]
    login_throttle(request)
    result = await login_with_link(services.db, request.query.get("key", ""), services.clock.now())
    if result is None:
        services.flood.login_failed(address_of(request))
        lang = request_lang(request, services.settings.default_language)
        return render_page(
            request,
            "login.html",
            401,
            next="/agent",
            error=texts.text("page.console_link_invalid", lang),
        )
    cookie, _principal = result
    raise session_redirect(cookie, "/agent", secure=https(request))


CONSOLE_HUB = web.AppKey("console_hub", ConsoleHub)


async def _presence(services: Services, hub: ConsoleHub, customer_id: int, online: bool) -> None:
    """A web visitor came or went: the agent holding their chat sees it in the list."""
    if not hub.sockets and not hub.bus.shared:
        return
    for agent_id in await views.agents_holding(services.db, customer_id):
        await hub.push(agent_id, {"type": "chats"})


def attach(services: Services) -> ConsoleHub:
    """The console's hub and port, registered on the services' port router (once)."""
    for port in services.ports.agent_ports:
        if isinstance(port, ConsolePort):
            return port.hub
    hub = ConsoleHub(services.bus)
    services.ports.add_agent_port(ConsolePort(services, hub))
    return hub


def register(app: web.Application) -> None:
    from web.chat import CHAT_HUB

    services = app[SERVICES]
    hub = app[CONSOLE_HUB] = attach(services)

    async def visitor(customer_id: int, online: bool) -> None:
        # First, so the row is there when an agent's console on another process looks.
        if online:
            await services.presence.opened(CHAT, customer_id)
        else:
            await services.presence.closed(CHAT, customer_id)

    async def presence(customer_id: int, online: bool) -> None:
        await _presence(services, hub, customer_id, online)

    app[CHAT_HUB].presence.insert(0, visitor)
    app[CHAT_HUB].presence.append(presence)
    app.router.add_get("/agent", page)
    app.router.add_get("/agent/login", link_login)
    base = "/api/v1/agent"
    app.router.add_get(f"{base}/me", me)
    app.router.add_post(f"{base}/status", set_status)
    app.router.add_post(f"{base}/offers/{{offer_id}}/{{verb:accept|decline}}", answer_offer)
    app.router.add_get(f"{base}/chats", chats)
    app.router.add_get(f"{base}/chats/{{ticket_id}}", chat)
    app.router.add_post(f"{base}/chats/{{ticket_id}}/messages", send_message)
    app.router.add_post(f"{base}/chats/{{ticket_id}}/canned", send_canned)
    app.router.add_get(f"{base}/chats/{{ticket_id}}/canned/{{shortcut}}", fill_canned)
    app.router.add_post(f"{base}/chats/{{ticket_id}}/files", send_file)
    app.router.add_post(f"{base}/chats/{{ticket_id}}/notes", add_note)
    app.router.add_post(f"{base}/chats/{{ticket_id}}/transfer", transfer)
    app.router.add_post(f"{base}/chats/{{ticket_id}}/close", close)
    app.router.add_get(f"{base}/canned", canned)
    app.router.add_get(f"{base}/transfer-targets", transfer_targets)
