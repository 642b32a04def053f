"""The customer web chat: Sanad's second channel, over a WebSocket (protocol: docs/webchat.md).

The visitor is a random secret (cookie ``sanad_visitor``, and the page's localStorage); the
customer is stored on channel ``web`` with the secret's hash as ``external_id``. Everything the
customer sees is a row of the transcript, pushed as a ``message`` frame, so a client that
reconnects with the highest id it has shown gets exactly what it missed. Frames carry a
``client_id``: a resend after a dropped socket is acknowledged again and never handled twice.

The conversation itself is :mod:`bot.conversation`, as on Telegram; this module only carries
it: :class:`WebSender` says the bot's lines, :class:`WebChatPort` says what the handoff engine
decided (its customer notices: queue position, "Sara joined", the rating...) and carries the
agent's messages.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from sqlalchemy import select

import texts
from bot import conversation
from bot.conversation import Identity, Keyboard, PressResult, Who
from handoff.customers import find_customer, touch_customer
from handoff.flood import client_address
from handoff.notices import AgentMessage, AgentNotice, CustomerNotice, SupervisorNotice
from handoff.tickets import State, record_message
from sanad.locks import KeyedLocks
from sanad.logs import log_context
from sanad.services import Services
from storage.models import Agent, Attachment, Customer, Message, Ticket
from web.auth import PRINCIPAL, same_origin
from web.inputs import INT64_MAX, printable, read_upload, text_problem

log = logging.getLogger(__name__)

CHANNEL = "web"
VISITOR_COOKIE = "sanad_visitor"
VISITOR_HEADER = "X-Sanad-Visitor"
VISITOR_RE = re.compile(r"^v_[A-Za-z0-9_-]{20,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TEXT = 4096
MAX_FRAME = 64 * 1024
HISTORY_LIMIT = 500
FILE_LINK_S = 7 * 86400  # a customer's file links work this long (they are re-signed at each visit)
HELLO_TIMEOUT_S = 15.0
# Commands work in any state (like Telegram's); other /words go to the bot only while it has
# the conversation (an agent may be sent a path like /orders/12).
COMMAND_WORDS = tuple(f"/{name}" for name in conversation.COMMANDS)
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def new_visitor() -> str:
    return "v_" + secrets.token_urlsafe(24)


def visitor_key(secret: str) -> str:
    """What is stored for a visitor: the hash of their secret (64 hex characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def keyboard_json(keyboard: Keyboard | None) -> list[list[dict[str, str]]]:
    return [[{"label": b.label, "data": b.data} for b in row] for row in keyboard or []]


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


def file_of(message: Message, link: LinkKey | None = None) -> dict[str, Any] | None:
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
    message: Message, agent: str | None = None, link: LinkKey | None = None
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


async def agent_names(services: Services, messages: list[Message]) -> dict[int, str]:
    ids = {
        int(m.meta["agent_id"]) for m in messages if m.sender == "agent" and m.meta.get("agent_id")
    }
    if not ids:
        return {}
    async with services.db.transaction() as session:
        rows = (await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))).all()
    return {int(i): str(n) for i, n in rows}


async def frames_for(services: Services, messages: list[Message]) -> list[dict[str, Any]]:
    names = await agent_names(services, messages)
    owners = {m.customer_id for m in messages if m.kind == "file"}
    keys: dict[int, str] = {}
    if owners:
        async with services.db.transaction() as session:
            rows = await session.execute(
                select(Customer.id, Customer.external_id).where(
                    Customer.id.in_(owners), Customer.channel == CHANNEL
                )
            )
            keys = {int(i): str(k) for i, k in rows.all()}
    return [
        message_frame(
            m,
            names.get(int(m.meta.get("agent_id") or 0)),
            link_key(services, keys[m.customer_id]) if m.customer_id in keys else None,
        )
        for m in messages
    ]


class ChatHub:
    """The open customer sockets of this process, by customer; one lock per customer so two
    tabs (or a resend racing the original) are handled one after the other."""

    def __init__(self) -> None:
        self.sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self.locks = KeyedLocks()
        self._pressed: OrderedDict[tuple[int, str], None] = OrderedDict()  # handled presses
        # Told when a visitor comes or goes (the agent console shows who is there).
        self.presence: list[Callable[[int, bool], Awaitable[None]]] = []

    def online(self, customer_id: int) -> bool:
        return bool(self.sockets.get(customer_id))

    async def join(self, customer_id: int, ws: web.WebSocketResponse) -> None:
        came = not self.online(customer_id)
        self.sockets[customer_id].add(ws)
        if came:
            await self._tell(customer_id, True)

    async def leave(self, customer_id: int, ws: web.WebSocketResponse) -> None:
        self.sockets[customer_id].discard(ws)
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
        for ws in list(self.sockets.get(customer_id, ())):
            if ws.closed:
                continue
            try:
                await ws.send_json(frame)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("web chat push failed: %s", exc)

    def press_seen(self, customer_id: int, client_id: str) -> bool:
        return (customer_id, client_id) in self._pressed

    def press_done(self, customer_id: int, client_id: str) -> None:
        self._pressed[(customer_id, client_id)] = None
        while len(self._pressed) > 10_000:
            self._pressed.popitem(last=False)


class WebSender:
    """Says the bot's lines to a web customer: stored with their buttons, then pushed."""

    def __init__(self, services: Services, hub: ChatHub) -> None:
        self.services = services
        self.hub = hub

    async def send(
        self,
        who: Who,
        text: str,
        keyboard: Keyboard | None = None,
        *,
        kind: str = "text",
        meta: dict[str, Any] | None = None,
    ) -> bool:
        await say(self.services, self.hub, who.ticket_id, "bot", text, keyboard, meta)
        return True


async def say(
    services: Services,
    hub: ChatHub,
    ticket_id: int,
    sender: str,
    text: str,
    keyboard: Keyboard | None,
    meta: dict[str, Any] | None = None,
) -> None:
    if sender in ("bot", "system"):
        text = texts.on_web(text)  # buttons on the web, not Telegram commands
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        message = await record_message(
            session,
            ticket,
            sender=sender,
            text=text,
            meta={**(meta or {}), "buttons": keyboard_json(keyboard)},
            at=services.clock.now(),
        )
    await hub.push(message.customer_id, message_frame(message))


async def state_frame(services: Services, customer_id: int) -> dict[str, Any]:
    """The state of the customer's latest ticket (their open one, if any: a customer has at
    most one, and it is the newest), as the chat page's controls need it."""
    async with services.db.transaction() as session:
        row = (
            await session.execute(
                select(Ticket.id, Ticket.state, Ticket.resolution)
                .where(Ticket.customer_id == customer_id)
                .order_by(Ticket.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return {"type": "state", "ticket": None}
    ticket_id, state, resolution = row
    if state == State.CLOSED or (state == State.RESOLVED and resolution != "bot"):
        state = State.RESOLVED
    elif state == State.RESOLVED:
        state = State.BOT  # solved by the bot: the customer simply goes on asking
    return {"type": "state", "ticket": {"id": ticket_id, "state": str(state)}}


class WebChatPort:
    """The web chat's side of the handoff port: the engine's notices, said in the chat."""

    def __init__(self, services: Services, hub: ChatHub) -> None:
        self.services = services
        self.hub = hub

    async def notify_customer(self, notice: CustomerNotice) -> None:
        customer_id = notice.to.customer_id
        if isinstance(notice, AgentMessage):  # a line of the chat: the ticket stays as it is
            async with self.services.db.transaction() as session:
                message = await session.get(Message, notice.message_id)
            if message is not None:
                for frame in await frames_for(self.services, [message]):
                    await self.hub.push(customer_id, frame)
            return
        said = conversation.notice_text(notice)
        if said is not None:
            text, keyboard = said
            meta = {"notice": notice.kind}
            await say(self.services, self.hub, notice.to.ticket_id, "system", text, keyboard, meta)
        await self.hub.push(customer_id, await state_frame(self.services, customer_id))

    async def notify_agent(self, notice: AgentNotice) -> None:  # agents: not this port
        return None

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        return None


# ---------------------------------------------------------------------- the socket


async def who_for(services: Services, identity: Identity) -> Who:
    """The customer with the ticket a new input belongs to (opened if there is none)."""
    customer, ticket = await conversation.touch(services, CHANNEL, identity)
    return conversation.who_of(customer, ticket, customer.external_id)


class Refused(Exception):
    """A visitor turned away by flood control; the message says so, in their language."""


class Visit:
    """One open chat socket: the visitor behind it and what they send."""

    def __init__(
        self, services: Services, hub: ChatHub, ws: web.WebSocketResponse, customer: Customer
    ) -> None:
        self.services = services
        self.hub = hub
        self.ws = ws
        self.customer_id = customer.id
        self.identity = Identity(customer.external_id, customer.name)
        self.out = WebSender(services, hub)
        self.last_state: dict[str, Any] | None = None
        self.address = client_address.get()

    async def who(self) -> Who:
        return await who_for(self.services, self.identity)

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
                await self.message(client_id, frame.get("text"))
            else:
                await self.press(client_id, frame.get("data"), frame.get("message_id"))
        # What the customer did may have changed their ticket (resolved by the bot, left the
        # queue...) without the handoff engine saying so: the page's controls follow.
        state = await state_frame(self.services, self.customer_id)
        if state != self.last_state:
            self.last_state = state
            await self.hub.push(self.customer_id, state)

    async def allowed(self, client_id: str) -> bool:
        """Flood control: a message or press over the customer's rate is not handled (not
        stored, not answered, no FAQ query); the customer is told kindly to slow down."""
        if self.hub.press_seen(self.customer_id, client_id):
            return True  # a resend of something handled: answered without counting
        verdict = self.services.flood.message(f"customer:{self.customer_id}", self.address)
        if verdict.allowed:
            return True
        async with self.services.db.transaction() as session:
            customer = await session.get(Customer, self.customer_id)
            lang = customer.language if customer else self.services.settings.default_language
        await self.error(texts.text("customer.slow_down", lang), client_id)
        await self.send({"type": "ack", "client_id": client_id, "id": None})
        return False

    async def message(self, client_id: str, text: object) -> None:
        if not isinstance(text, str) or not text.strip():
            await self.error("a message needs some text", client_id)
            await self.send({"type": "ack", "client_id": client_id, "id": None})
            return
        problem = text_problem(text)
        if problem is not None:
            await self.error(f"text: {problem}; the message was not sent", client_id)
            await self.send({"type": "ack", "client_id": client_id, "id": None})
            return
        if len(text) > MAX_TEXT:
            await self.error(
                f"That message is too long ({len(text)} characters); the limit is {MAX_TEXT}.",
                client_id,
            )
            await self.send({"type": "ack", "client_id": client_id, "id": None})
            return
        who = await self.who()
        stored, new = await conversation.keep_incoming(
            self.services, who, text, client_id=client_id
        )
        if not new:  # a resend: it was handled the first time
            await self.send({"type": "ack", "client_id": client_id, "id": stored.id})
            return
        message_id = stored.id
        link = link_key(self.services, self.identity.external_id)
        await self.hub.push(self.customer_id, message_frame(stored, link=link))
        await self.send({"type": "ack", "client_id": client_id, "id": message_id})
        word = text.split()[0]
        if (word.startswith("/") and who.ticket_state == State.BOT) or word in COMMAND_WORDS:
            await conversation.command(self.services, self.out, who, word)
            return
        await conversation.customer_message(self.services, self.out, who, message_id, text)

    async def press(self, client_id: str, data: object, message_id: object) -> None:
        pressed = (
            message_id if isinstance(message_id, int) and 0 < message_id <= INT64_MAX else None
        )
        if self.hub.press_seen(self.customer_id, client_id):
            await self.send({"type": "ack", "client_id": client_id, "id": pressed})
            return
        if not isinstance(data, str) or len(data) > 64 or text_problem(data):
            await self.error("a press needs the button's data", client_id)
            await self.send({"type": "ack", "client_id": client_id, "id": None})
            return
        who = await self.who()

        async def acknowledge(result: PressResult) -> None:
            self.hub.press_done(self.customer_id, client_id)
            await self.send({"type": "ack", "client_id": client_id, "id": pressed})
            if result.choice is not None:  # the pick, shown as the customer's line
                await self.hub.push(self.customer_id, message_frame(result.choice))
            if result.alert is not None:
                await self.error(result.alert, client_id)
            elif pressed is not None and (result.drop_buttons or result.replace is not None):
                await self.update(pressed, result)

        await conversation.press(self.services, self.out, who, data, acknowledge)

    async def update(self, message_id: int, result: PressResult) -> None:
        """The pressed message changes: its buttons go, or it gets a new text and buttons."""
        async with self.services.db.transaction() as session:
            message = await session.get(Message, message_id)
            if message is None or message.customer_id != self.customer_id:
                return
            meta = dict(message.meta or {})
            if result.replace is not None:
                message.text, keyboard = result.replace
                meta["buttons"] = keyboard_json(keyboard)
            else:
                meta["buttons"] = []
            message.meta = meta
            frame = {
                "type": "update",
                "id": message.id,
                "text": message.text,
                "buttons": meta["buttons"],
            }
        await self.hub.push(self.customer_id, frame)


async def _hello(
    services: Services, request: web.Request, frame: dict[str, Any]
) -> tuple[str, Customer, bool]:
    """The visitor (cookie, else the frame's secret, else a new one) and their customer row,
    name and page language refreshed; True when the customer is new."""
    secret = request.cookies.get(VISITOR_COOKIE) or frame.get("visitor")
    if not isinstance(secret, str) or not VISITOR_RE.match(secret):
        secret = new_visitor()
    lang = frame.get("lang") if frame.get("lang") in ("en", "ar") else None
    given = frame.get("name")
    name = printable(given) if isinstance(given, str) else ""
    key = visitor_key(secret)
    now = services.clock.now()
    async with services.db.transaction() as session:
        customer = await find_customer(session, CHANNEL, key)
        is_new = customer is None
        if is_new:
            verdict = services.flood.new_visitor(client_address.get())
            if not verdict.allowed:
                language = lang or services.settings.default_language
                minutes = max(1, math.ceil(verdict.retry_after_s / 60))
                raise Refused(texts.text("customer.too_many_visitors", language, minutes=minutes))
        display = (name or "").strip()[:128] or (customer.name if customer else "")
        # No ticket is opened here: a returning visitor who only looks opens no contact.
        customer = await touch_customer(
            session,
            channel=CHANNEL,
            external_id=key,
            name=display or f"Web visitor {key[:4]}",
            username=None,
            language_code=lang,
            default_language=services.settings.default_language,
            at=now,
        )
    return secret, customer, is_new


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    from web.app import SERVICES, address_of

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
    except Refused as refused:
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
    secret, customer, is_new = await _hello(services, request, frame)
    visit = Visit(services, hub, ws, customer)
    async with hub.locks[customer.id]:
        if is_new:  # the first visit: the bot says hello (this opens the first ticket)
            who = await visit.who()
            await conversation.greet(services, visit.out, who, "")
        # Joined before the history goes out, so nothing said meanwhile is lost (the client
        # shows a message id once, should one come twice).
        await hub.join(customer.id, ws)
    try:
        await _welcome(services, ws, customer.id, secret, frame.get("since"))
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
                with log_context(customer_id=customer.id):
                    await visit.handle(parsed)
            except Exception:
                log.exception("web chat frame failed")
                client_id = parsed.get("client_id")
                await visit.error(
                    "something went wrong; please try again",
                    client_id if isinstance(client_id, str) else None,
                )
    finally:
        await hub.leave(customer.id, ws)


def _parse(raw: Any) -> dict[str, Any] | None:
    if raw.type != WSMsgType.TEXT:
        return None
    try:
        data = json.loads(raw.data)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


async def _welcome(
    services: Services, ws: web.WebSocketResponse, customer_id: int, secret: str, since: object
) -> None:
    """``welcome``, then what the visitor has not seen yet (ids after ``since``)."""
    after = 0
    if isinstance(since, int) and not isinstance(since, bool) and 0 <= since <= INT64_MAX:
        after = since  # (JSON true and false are ints to Python, and no message ids)
    async with services.db.transaction() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        messages = list(
            (
                await session.execute(
                    select(Message)
                    .where(Message.customer_id == customer_id, Message.id > after)
                    .order_by(Message.id.desc())
                    .limit(HISTORY_LIMIT)
                )
            )
            .scalars()
            .all()
        )
        language = customer.language
    state = await state_frame(services, customer_id)
    await ws.send_json(
        {
            "type": "welcome",
            "visitor": secret,
            "customer_id": customer_id,
            "lang": language,
            "brand": services.settings.brand_name,
            "ticket": state["ticket"] or {"id": None, "state": "bot"},
            "upload_max_bytes": upload_max_bytes(services),
        }
    )
    for frame in await frames_for(services, list(reversed(messages))):
        await ws.send_json(frame)


def upload_max_bytes(services: Services) -> int:
    return int(services.settings.web_upload_max_mb * 1024 * 1024)


# ---------------------------------------------------------------------- pages and files


async def chat_page(request: web.Request) -> web.Response:
    from web.app import SERVICES, https, render

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
    from web.app import SERVICES, address_of

    services = request.app[SERVICES]
    hub = request.app[CHAT_HUB]
    if not same_origin(request):
        raise web.HTTPForbidden(reason="uploads only come from this site's chat page")
    # Who uploads is known before a byte of the body is read: the visitor's cookie, or the
    # header the page sets from its localStorage (the widget's frame on another site).
    secret = request.cookies.get(VISITOR_COOKIE) or request.headers.get(VISITOR_HEADER) or ""
    if not VISITOR_RE.match(secret):
        raise web.HTTPUnauthorized(reason="open the chat first: no visitor")
    async with services.db.transaction() as session:
        customer = await find_customer(session, CHANNEL, visitor_key(secret))
    if customer is None:
        raise web.HTTPUnauthorized(reason="open the chat first: unknown visitor")
    verdict = services.flood.message(f"customer:{customer.id}", address_of(request))
    if not verdict.allowed:
        raise web.HTTPTooManyRequests(
            text=texts.text("customer.slow_down", customer.language),
            headers={"Retry-After": str(max(1, math.ceil(verdict.retry_after_s)))},
        )
    fields, file = await read_upload(request, upload_max_bytes(services))
    client_id = fields.get("client_id") or secrets.token_hex(8)
    if not CLIENT_ID_RE.match(client_id):
        raise web.HTTPBadRequest(text="client_id: 1-64 letters, digits, _ . : -")
    out = WebSender(services, hub)
    link = link_key(services, customer.external_id)
    async with hub.locks[customer.id]:
        who = await who_for(services, Identity(customer.external_id, customer.name))
        stored, new = await conversation.keep_incoming(
            services, who, file[0], client_id=client_id, file=file
        )
        if new:
            await hub.push(customer.id, message_frame(stored, link=link))
            await conversation.customer_message(services, out, who, stored.id, None)
    return web.json_response({"id": stored.id, "file": file_of(stored, link)})


async def download(request: web.Request) -> web.Response:
    """A chat file, for the visitor whose conversation it is, or anyone logged in to the
    console with a role that sees tickets (agents, supervisors, admins)."""
    from web.app import SERVICES

    services = request.app[SERVICES]
    try:
        attachment_id = int(request.match_info["id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    async with services.db.transaction() as session:
        row = await session.get(Attachment, attachment_id)
        ticket = await session.get(Ticket, row.ticket_id) if row else None
        owner = await session.get(Customer, ticket.customer_id) if ticket else None
    if row is None or owner is None:
        raise web.HTTPNotFound()
    principal = request.get(PRINCIPAL)
    secret = request.cookies.get(VISITOR_COOKIE)
    allowed = principal is not None and (
        principal.agent_id is not None or principal.can("supervisor")
    )
    if not allowed and owner.channel == CHANNEL:
        allowed = bool(secret) and hmac.compare_digest(visitor_key(secret or ""), owner.external_id)
        allowed = allowed or _signed(request, attachment_id, owner.external_id, services)
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
    hub = ChatHub()
    services.ports.add_channel(CHANNEL, WebChatPort(services, hub), serves_agents=False)
    return hub


def register(app: web.Application) -> None:
    from web.app import SERVICES

    app[CHAT_HUB] = attach(app[SERVICES])
    app.router.add_get("/chat", chat_page)
    app.router.add_get("/chat/ws", chat_socket)
    app.router.add_post("/chat/upload", upload)
    app.router.add_get("/chat/files/{id}", download)
