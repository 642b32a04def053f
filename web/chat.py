"""The customer web chat: Sanad's second channel, over a WebSocket (protocol: docs/webchat.md).

The visitor is a random secret (cookie ``sanad_visitor``, and the page's localStorage); the
customer is stored on channel ``web`` with the secret's hash as ``external_id``. Everything the
customer sees is a row of the transcript, pushed as a ``message`` frame, so a client that
reconnects with the highest id it has shown gets exactly what it missed. Frames carry a
``client_id``: a resend after a dropped socket is acknowledged again and never handled twice.

The conversation itself is :mod:`conversation`, as on Telegram: each frame is one call there
(one transaction) whose outputs this module pushes; :class:`WebChatPort` says what the handoff
engine decided (its customer notices: queue position, "Sara joined", the rating...) and carries
the agent's messages. This module opens no transaction: what it shows comes from
:mod:`conversation.reads`.

One process keeps the open sockets in memory (:class:`ChatHub`); several Sanad processes on
one PostgreSQL database need sticky routing of a visitor to one process for live pushes (the
transcript, and so a reconnect, is right whichever process answers).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web

import conversation
import texts
from app.services import Services
from base.bus import Bus, LocalBus
from base.locks import KeyedLocks
from base.logs import log_context
from conversation import WEB, Identity, Line, Say, StoredLine, TicketView, Visitor, reads
from handoff.flood import client_address
from handoff.followup import zone_of
from handoff.notices import (
    AgentMessage,
    AgentNotice,
    CustomerNotice,
    SaidLine,
    SupervisorNotice,
)
from web.auth import PRINCIPAL, same_origin
from web.inputs import INT64_MAX, printable, read_upload, text_problem
from web.site import SERVICES, address_of, https, render
from web.sockets import Feed, close_to_catch_up

log = logging.getLogger(__name__)

CHANNEL = WEB.name
VISITOR_COOKIE = "sanad_visitor"
VISITOR_HEADER = "X-Sanad-Visitor"
VISITOR_RE = re.compile(r"^v_[A-Za-z0-9_-]{20,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TEXT = 4096
MAX_FRAME = 64 * 1024
HISTORY_LIMIT = 500
FILE_LINK_S = 7 * 86400  # a customer's file links work this long (they are re-signed at each visit)
HELLO_TIMEOUT_S = 15.0
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def new_visitor() -> str:
    return "v_" + secrets.token_urlsafe(24)


def visitor_key(secret: str) -> str:
    """What is stored for a visitor: the hash of their secret (64 hex characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class LinkKey:
    """What signs a customer's file links: the owner's stored key (the hash of their visitor
    secret, never sent to anyone) and when the links expire (epoch seconds)."""

    owner_key: str
    expires: int


def link_key(services: Services, owner_key: str) -> LinkKey:
    return LinkKey(owner_key, int(services.clock.now().timestamp()) + FILE_LINK_S)


def file_signature(attachment_id: int, owner_key: str, expires: int) -> str:
    key = hashlib.sha256(b"sanad file link\0" + owner_key.encode()).digest()
    return hmac.new(key, f"{attachment_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def file_of(message: StoredLine, link: LinkKey | None = None) -> dict[str, Any] | None:
    """A file message's file; its URL signed for the customer when ``link`` is given (the
    widget's frame on another site has no cookie: the link itself is the credential)."""
    meta = message.meta or {}
    if message.kind != "file" or not meta.get("attachment_id"):
        return None
    attachment_id = int(meta["attachment_id"])
    url = f"/chat/files/{attachment_id}"
    if link is not None:
        signature = file_signature(attachment_id, link.owner_key, link.expires)
        url += f"?exp={link.expires}&sig={signature}"
    return {
        "id": attachment_id,
        "name": meta.get("file_name", ""),
        "size": meta.get("file_size", 0),
        "content_type": meta.get("content_type", "application/octet-stream"),
        "url": url,
    }


def message_frame(
    message: StoredLine, agent: str | None = None, link: LinkKey | None = None
) -> dict[str, Any]:
    """A transcript row as the customer sees it."""
    meta = message.meta or {}
    return {
        "type": "message",
        "id": message.id,
        "sender": message.sender,
        "text": message.text,
        "kind": message.kind if message.kind in ("file", "choice") else "text",
        "created_at": message.created_at.isoformat(),
        "client_id": meta.get("client_id") if message.sender == "customer" else None,
        "agent": agent if message.sender == "agent" else None,
        "buttons": meta.get("buttons") or [],
        "file": file_of(message, link),
    }


def carried_frame(
    message_id: int, customer_id: int, sender: str, said: SaidLine | None
) -> tuple[dict[str, Any], Line] | None:
    """The frame of a line its notice carries (no read), with the line; None when the notice
    carries none, or a file: its link is signed with the owner's stored key, so it is read."""
    if said is None or said.kind == "file":
        return None
    line = Line(
        message_id, customer_id, sender, said.kind, said.text, said.created_at, dict(said.meta)
    )
    return message_frame(line, said.agent_name or None), line


def _frames(
    services: Services, lines: Sequence[StoredLine], context: reads.FrameContext
) -> list[dict[str, Any]]:
    keys = context.owner_keys
    return [
        message_frame(
            m,
            context.agent_names.get(int(m.meta.get("agent_id") or 0)),
            link_key(services, keys[m.customer_id]) if m.customer_id in keys else None,
        )
        for m in lines
    ]


async def frames_for(services: Services, messages: Sequence[StoredLine]) -> list[dict[str, Any]]:
    """Transcript lines as the customer sees them (the agent's name, file links signed)."""
    return _frames(services, messages, await reads.frame_context(services, messages))


def state_frame(ticket: TicketView | None) -> dict[str, Any]:
    """The state of the customer's latest ticket, as the chat page's controls need it."""
    if ticket is None:
        return {"type": "state", "ticket": None}
    return {"type": "state", "ticket": {"id": ticket.id, "state": ticket.state}}


class ChatHub:
    """The open customer sockets of this process, by customer; one lock per customer so two
    tabs (or a resend racing the original) are handled one after the other. Every frame pushed
    here is published on the bus too, and frames published by other processes reach the
    sockets held here (a visitor's chat may be open on any process: docs/scaling.md)."""

    TOPIC = "chat"

    def __init__(self, bus: Bus | None = None) -> None:
        # customer id -> their sockets here, each with its feed (what it was sent, in order)
        self.sockets: dict[int, dict[web.WebSocketResponse, Feed]] = defaultdict(dict)
        self.bus: Bus = bus or LocalBus()
        self.bus.subscribe(self.TOPIC, self._push_here, wants=self.online)
        self.bus.on_reconnect(self.catch_up)
        self.locks = KeyedLocks()
        self._pressed: OrderedDict[tuple[int, str], None] = OrderedDict()  # handled presses
        # Told when a visitor comes or goes (the agent console shows who is there).
        self.presence: list[Callable[[int, bool], Awaitable[None]]] = []

    def online(self, customer_id: int) -> bool:
        return bool(self.sockets.get(customer_id))

    async def join(self, customer_id: int, ws: web.WebSocketResponse) -> Feed:
        """The socket's feed: live frames for the customer are held there from now on, until
        its catch-up is sent (:meth:`Feed.catch_up`)."""
        came = not self.online(customer_id)
        feed = self.sockets[customer_id][ws] = Feed(ws)
        if came:
            await self._tell(customer_id, True)
        return feed

    async def leave(self, customer_id: int, ws: web.WebSocketResponse) -> None:
        self.sockets[customer_id].pop(ws, None)
        if not self.sockets[customer_id]:
            del self.sockets[customer_id]
            await self._tell(customer_id, False)

    async def _tell(self, customer_id: int, online: bool) -> None:
        for listener in self.presence:
            try:
                await listener(customer_id, online)
            except Exception:  # presence is a nicety: never break the chat for it
                log.exception("presence listener failed")

    async def push(self, customer_id: int, frame: dict[str, Any]) -> None:
        await self._push_here(customer_id, frame)
        await self.bus.publish(self.TOPIC, customer_id, frame)

    async def _push_here(self, customer_id: int, frame: dict[str, Any]) -> None:
        for feed in list(self.sockets.get(customer_id, {}).values()):
            await feed.push(frame)

    async def catch_up(self) -> None:
        """After a bus reconnect: each chat reconnects with the id of its last message."""
        await close_to_catch_up(self.sockets.values())

    def press_seen(self, customer_id: int, client_id: str) -> bool:
        return (customer_id, client_id) in self._pressed

    def press_done(self, customer_id: int, client_id: str) -> None:
        self._pressed[(customer_id, client_id)] = None
        while len(self._pressed) > 10_000:
            self._pressed.popitem(last=False)


async def carry(hub: ChatHub, customer_id: int, says: Sequence[Say]) -> None:
    """Push the lines an input said (kept already by the conversation, in its transaction:
    the bot's, and what the handoff engine told this customer)."""
    for say in says:
        if say.line is not None:
            await hub.push(customer_id, message_frame(say.line))


class WebChatPort:
    """The web chat's side of the handoff port: the engine's notices, said in the chat."""

    def __init__(self, services: Services, hub: ChatHub) -> None:
        self.services = services
        self.hub = hub

    async def notify_customer(self, notice: CustomerNotice) -> None:
        customer_id = notice.to.customer_id
        if isinstance(notice, AgentMessage):  # a line of the chat: the ticket stays as it is
            for frame in await self._agent_line(notice):
                await self.hub.push(customer_id, frame)
            return
        line, ticket = await reads.keep_notice(self.services, notice)
        if line is not None:
            await self.hub.push(customer_id, message_frame(line))
        await self.hub.push(customer_id, state_frame(ticket))

    async def _agent_line(self, notice: AgentMessage) -> list[dict[str, Any]]:
        """The line's frame: from the notice for a text (no read on the way to the customer),
        from the transcript for a file (its link is signed with the owner's stored key)."""
        carried = carried_frame(notice.message_id, notice.to.customer_id, "agent", notice.said)
        if carried is not None:
            return [carried[0]]
        lines, context = await reads.lines_by_id(self.services, [notice.message_id])
        return _frames(self.services, lines, context)

    async def notify_agent(self, notice: AgentNotice) -> None:  # agents: not this port
        return None

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        return None


# ---------------------------------------------------------------------- the socket


class Visit:
    """One open chat socket: the visitor behind it and what they send."""

    def __init__(
        self, services: Services, hub: ChatHub, ws: web.WebSocketResponse, customer: Visitor
    ) -> None:
        self.services = services
        self.hub = hub
        self.ws = ws
        self.customer_id = customer.id
        self.identity = Identity(customer.external_id, customer.name)
        self.last_state: dict[str, Any] | None = None
        self.address = client_address.get()

    async def send(self, frame: dict[str, Any]) -> None:
        """To this socket only. A socket that went away meanwhile is no reason to stop:
        what is being handled is finished and kept, and the client fetches it on return."""
        if self.ws.closed:
            return
        try:
            await self.ws.send_json(frame)
        except ConnectionError as exc:
            log.debug("web chat socket gone: %s", exc)

    async def error(self, message: str, client_id: str | None = None) -> None:
        await self.send({"type": "error", "client_id": client_id, "message": message})

    async def refuse(self, message: str, client_id: str) -> None:
        """An input not handled: said why, and acknowledged without an id."""
        await self.error(message, client_id)
        await self.send({"type": "ack", "client_id": client_id, "id": None})

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
            return
        client_id = frame.get("client_id")
        if kind not in ("message", "press"):
            await self.error(f"unknown frame type {kind!r}: send message, press or ping")
            return
        if not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id):
            await self.error("every message and press needs a client_id (1-64 letters, digits)")
            return
        if not await self.allowed(client_id):
            return
        async with self.hub.locks[self.customer_id]:
            if kind == "message":
                ticket = await self.message(client_id, frame.get("text"))
            else:
                ticket = await self.press(client_id, frame.get("data"), frame.get("message_id"))
        # What the customer did may have changed their ticket (resolved by the bot, left the
        # queue...) without the handoff engine saying so: the page's controls follow.
        if ticket is None:  # not known from the input's own transaction
            ticket = await reads.latest_ticket(self.services, self.customer_id)
        state = state_frame(ticket)
        if state != self.last_state:
            self.last_state = state
            await self.hub.push(self.customer_id, state)

    async def allowed(self, client_id: str) -> bool:
        """Flood control: a message or press over the customer's rate is not handled (not
        stored, not answered, no FAQ query); the customer is told kindly to slow down."""
        if self.hub.press_seen(self.customer_id, client_id):
            return True  # a resend of something handled: answered without counting
        verdict = conversation.refusal(self.services, WEB, self.identity.external_id, self.address)
        if verdict is None:
            return True
        lang = await reads.language_of(self.services, self.customer_id)
        await self.refuse(texts.text("customer.slow_down", lang), client_id)
        return False

    async def message(self, client_id: str, text: object) -> TicketView | None:
        """A text; returns the customer's latest ticket after it (None: not known)."""
        if not isinstance(text, str) or not text.strip():
            await self.refuse("a message needs some text", client_id)
            return None
        problem = text_problem(text)
        if problem is not None:
            await self.refuse(f"text: {problem}; the message was not sent", client_id)
            return None
        if len(text) > MAX_TEXT:
            await self.refuse(
                f"That message is too long ({len(text)} characters); the limit is {MAX_TEXT}.",
                client_id,
            )
            return None
        reply = await conversation.customer_wrote(
            self.services, WEB, self.identity, text, client_id=client_id, flood_checked=True
        )
        assert reply.message is not None
        if not reply.new:  # a resend: it was handled the first time
            await self.send({"type": "ack", "client_id": client_id, "id": reply.message.id})
            return reply.ticket
        link = link_key(self.services, self.identity.external_id)
        await self.hub.push(self.customer_id, message_frame(reply.message, link=link))
        await self.send({"type": "ack", "client_id": client_id, "id": reply.message.id})
        await carry(self.hub, self.customer_id, reply.says)
        return reply.ticket

    async def press(self, client_id: str, data: object, message_id: object) -> TicketView | None:
        """A button; returns the customer's latest ticket after it (None: not known)."""
        pressed = (
            message_id if isinstance(message_id, int) and 0 < message_id <= INT64_MAX else None
        )
        if self.hub.press_seen(self.customer_id, client_id):
            await self.send({"type": "ack", "client_id": client_id, "id": pressed})
            return None
        if not isinstance(data, str) or len(data) > 64 or text_problem(data):
            await self.refuse("a press needs the button's data", client_id)
            return None
        result = await conversation.customer_pressed(
            self.services, WEB, self.identity, data, pressed_line_id=pressed, flood_checked=True
        )
        self.hub.press_done(self.customer_id, client_id)
        await self.send({"type": "ack", "client_id": client_id, "id": pressed})
        if result.choice is not None:  # the pick, shown as the customer's line
            await self.hub.push(self.customer_id, message_frame(result.choice))
        if result.alert is not None:
            await self.error(result.alert, client_id)
        elif result.updated is not None:  # the pressed line: its buttons go, or it changes
            updated = result.updated
            frame = {
                "type": "update",
                "id": updated.id,
                "text": updated.text,
                "buttons": updated.meta["buttons"],
            }
            await self.hub.push(self.customer_id, frame)
        await carry(self.hub, self.customer_id, result.says)
        return result.ticket


async def _hello(
    services: Services, request: web.Request, frame: dict[str, Any]
) -> tuple[str, Visitor]:
    """The visitor (cookie, else the frame's secret, else a new one) and their customer row,
    name and page language refreshed (a new one greeted by the bot)."""
    secret = request.cookies.get(VISITOR_COOKIE) or frame.get("visitor")
    if not isinstance(secret, str) or not VISITOR_RE.match(secret):
        secret = new_visitor()
    lang = frame.get("lang") if frame.get("lang") in ("en", "ar") else None
    given = frame.get("name")
    name = printable(given) if isinstance(given, str) else ""
    zone = frame.get("time_zone")
    time_zone = zone if isinstance(zone, str) and zone_of(zone[:64]) is not None else None
    visitor, _new = await reads.visitor_hello(
        services, visitor_key(secret), name, lang, time_zone=time_zone
    )
    return secret, visitor


async def chat_socket(request: web.Request) -> web.WebSocketResponse:

    services = request.app[SERVICES]
    hub = request.app[CHAT_HUB]
    if not same_origin(request):
        raise web.HTTPForbidden(reason="the chat socket only serves this site's chat page")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME, compress=False)
    await ws.prepare(request)
    try:
        first = await ws.receive(timeout=HELLO_TIMEOUT_S)
    except TimeoutError:
        await ws.close(code=4000, message=b"send hello first")
        return ws
    frame = _parse(first)
    if frame is None or frame.get("type") != "hello":
        await ws.send_json({"type": "error", "client_id": None, "message": "send hello first"})
        await ws.close(code=4000, message=b"send hello first")
        return ws
    client_address.set(address_of(request))  # for this socket's task: flood control
    try:
        await _visit(services, hub, request, ws, frame)
    except reads.TooManyVisitors as refused:
        await ws.send_json({"type": "error", "client_id": None, "message": str(refused)})
        await ws.close(code=4029, message=b"too many new chats")
    except ConnectionError as exc:  # gone while the history went out: it comes again next time
        log.debug("web chat socket gone: %s", exc)
    except Exception:
        # After the upgrade an error is a frame and a close code, never an HTML page.
        log.exception("web chat socket failed")
        if not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(
                    {"type": "error", "client_id": None, "message": "something went wrong"}
                )
                await ws.close(code=1011, message=b"internal error")
    return ws


async def _visit(
    services: Services,
    hub: ChatHub,
    request: web.Request,
    ws: web.WebSocketResponse,
    frame: dict[str, Any],
) -> None:
    secret, visitor = await _hello(services, request, frame)
    visit = Visit(services, hub, ws, visitor)
    customer_id = visitor.id
    # Joined before the history is read, so nothing said meanwhile is lost; the feed holds
    # what comes live until the history is out and sends each message id once (a line
    # committed around the read comes both ways). On the first visit the bot's hello is in
    # the history: the visitor was greeted as they were stored.
    async with hub.locks[customer_id]:
        feed = await hub.join(customer_id, ws)
    try:
        await _welcome(services, feed, customer_id, secret, frame.get("since"))
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                if raw.type == WSMsgType.ERROR:
                    log.info("web chat socket error: %s", ws.exception())
                continue
            parsed = _parse(raw)
            if parsed is None:
                await visit.error("frames are JSON objects with a type")
                continue
            try:
                with log_context(customer_id=customer_id):
                    await visit.handle(parsed)
            except Exception:
                log.exception("web chat frame failed")
                client_id = parsed.get("client_id")
                await visit.error(
                    "something went wrong; please try again",
                    client_id if isinstance(client_id, str) else None,
                )
    finally:
        await hub.leave(customer_id, ws)


def _parse(raw: Any) -> dict[str, Any] | None:
    if raw.type != WSMsgType.TEXT:
        return None
    try:
        data = json.loads(raw.data)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


async def _welcome(
    services: Services, feed: Feed, customer_id: int, secret: str, since: object
) -> None:
    """``welcome``, then what the visitor has not seen yet (ids after ``since``), then what
    came live meanwhile (the feed drops a line that both brought)."""
    after = 0
    if isinstance(since, int) and not isinstance(since, bool) and 0 <= since <= INT64_MAX:
        after = since  # (JSON true and false are ints to Python, and no message ids)
    seen = await reads.welcome(services, customer_id, after, HISTORY_LIMIT)
    welcome = {
        "type": "welcome",
        "visitor": secret,
        "customer_id": customer_id,
        "lang": seen.language,
        "brand": services.settings.brand_name,
        "ticket": state_frame(seen.ticket)["ticket"] or {"id": None, "state": "bot"},
        "upload_max_bytes": upload_max_bytes(services),
    }
    await feed.catch_up([welcome, *_frames(services, seen.lines, seen.context)])


def upload_max_bytes(services: Services) -> int:
    return int(services.settings.web_upload_max_mb * 1024 * 1024)


# ---------------------------------------------------------------------- pages and files


async def chat_page(request: web.Request) -> web.Response:

    services = request.app[SERVICES]
    response = render(
        request,
        "chat.html",
        brand=services.settings.brand_name,
        upload_max_bytes=upload_max_bytes(services),
        embed=request.query.get("embed") == "1",
    )
    secret = request.cookies.get(VISITOR_COOKIE)
    if not secret or not VISITOR_RE.match(secret):
        # SameSite=None lets the widget's frame on another site keep it (browsers require
        # Secure for that; over plain http the page's localStorage keeps the visitor instead).
        secure = https(request)
        response.set_cookie(
            VISITOR_COOKIE,
            new_visitor(),
            max_age=365 * 86400,
            httponly=True,
            samesite="None" if secure else "Lax",
            secure=secure,
            path="/",
        )
    return response


async def upload(request: web.Request) -> web.Response:
    """A customer's file: stored on their ticket, shown in the chat, carried to their agent."""

    services = request.app[SERVICES]
    hub = request.app[CHAT_HUB]
    if not same_origin(request):
        raise web.HTTPForbidden(reason="uploads only come from this site's chat page")
    # Who uploads is known before a byte of the body is read: the visitor's cookie, or the
    # header the page sets from its localStorage (the widget's frame on another site).
    secret = request.cookies.get(VISITOR_COOKIE) or request.headers.get(VISITOR_HEADER) or ""
    if not VISITOR_RE.match(secret):
        raise web.HTTPUnauthorized(reason="open the chat first: no visitor")
    customer = await reads.find_visitor(services, visitor_key(secret))
    if customer is None:
        raise web.HTTPUnauthorized(reason="open the chat first: unknown visitor")
    verdict = conversation.refusal(services, WEB, customer.external_id, address_of(request))
    if verdict is not None:
        raise web.HTTPTooManyRequests(
            text=texts.text("customer.slow_down", customer.language),
            headers={"Retry-After": str(max(1, math.ceil(verdict.retry_after_s)))},
        )
    fields, file = await read_upload(request, upload_max_bytes(services))
    client_id = fields.get("client_id") or secrets.token_hex(8)
    if not CLIENT_ID_RE.match(client_id):
        raise web.HTTPBadRequest(text="client_id: 1-64 letters, digits, _ . : -")
    link = link_key(services, customer.external_id)
    async with hub.locks[customer.id]:
        reply = await conversation.customer_wrote(
            services,
            WEB,
            Identity(customer.external_id, customer.name),
            file[0],
            client_id=client_id,
            file=file,
            flood_checked=True,
        )
        stored = reply.message
        assert stored is not None
        if reply.new:
            await hub.push(customer.id, message_frame(stored, link=link))
            await carry(hub, customer.id, reply.says)
    return web.json_response({"id": stored.id, "file": file_of(stored, link)})


async def download(request: web.Request) -> web.Response:
    """A chat file, for the visitor whose conversation it is, or anyone logged in to the
    console with a role that sees tickets (agents, supervisors, admins)."""

    services = request.app[SERVICES]
    try:
        attachment_id = int(request.match_info["id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    row = await reads.attachment(services, attachment_id)
    if row is None:
        raise web.HTTPNotFound()
    principal = request.get(PRINCIPAL)
    secret = request.cookies.get(VISITOR_COOKIE)
    allowed = principal is not None and (
        principal.agent_id is not None or principal.can("supervisor")
    )
    if not allowed and row.owner_channel == CHANNEL:
        allowed = bool(secret) and hmac.compare_digest(visitor_key(secret or ""), row.owner_key)
        allowed = allowed or _signed(request, attachment_id, row.owner_key, services)
    if not allowed:
        raise web.HTTPNotFound()  # not "forbidden": do not tell strangers the file exists
    media = row.content_type.split(";", 1)[0].strip().lower()
    disposition = "inline" if media in INLINE_TYPES else "attachment"
    return web.Response(
        body=row.data,
        headers={
            # As given by the uploader, parameters and all (``text/html; charset=utf-8``);
            # never rendered here: only images are inline, and the sandbox CSP holds.
            "Content-Type": safe_content_type(row.content_type),
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row.name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=3600",
        },
    )


def _signed(request: web.Request, attachment_id: int, owner_key: str, services: Services) -> bool:
    """A link signed for the file's owner (:func:`file_of`) that has not expired."""
    expires, signature = request.query.get("exp", ""), request.query.get("sig", "")
    if not expires.isdigit() or len(expires) > 12 or not signature:
        return False
    if int(expires) < services.clock.now().timestamp():
        return False
    expected = file_signature(attachment_id, owner_key, int(expires))
    return hmac.compare_digest(expected, signature)


def safe_content_type(value: str) -> str:
    """A stored content type fit for a header: ``type/subtype`` and its parameters, else
    ``application/octet-stream``."""
    media = value.split(";", 1)[0].strip().lower()
    if not CONTENT_TYPE_RE.match(media) or any(c in value for c in "\r\n\x00"):
        return "application/octet-stream"
    return value.strip()


CHAT_HUB = web.AppKey("chat_hub", ChatHub)


def attach(services: Services) -> ChatHub:
    """The web chat's hub and port, registered on the services' port router (once)."""
    existing = services.ports.customer_ports.get(CHANNEL)
    if isinstance(existing, WebChatPort):
        return existing.hub
    hub = ChatHub(services.bus)
    services.ports.add_channel(CHANNEL, WebChatPort(services, hub), serves_agents=False)
    return hub


def register(app: web.Application) -> None:

    app[CHAT_HUB] = attach(app[SERVICES])
    app.router.add_get("/chat", chat_page)
    app.router.add_get("/chat/ws", chat_socket)
    app.router.add_post("/chat/upload", upload)
    app.router.add_get("/chat/files/{id}", download)
