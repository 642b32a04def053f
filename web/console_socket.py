"""The agent console's socket, ``/agent/ws`` (docs/webchat.md): pushes to the agent (offers,
their chats' lines, status, notices) go out through :class:`~web.console.ConsoleHub`; what the
page sends comes in here: ``ping``, ``activity`` (presence) and the agent's lines (``say``),
each line one call of the handoff service, as its ``POST`` is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from aiohttp import WSMsgType, web

from app.services import Services
from handoff import views
from handoff.presence import CONSOLE
from handoff.service import HandoffError
from web.auth import credential_principal, same_origin
from web.console import (
    CLIENT_ID_RE,
    CONSOLE_HUB,
    agent_json,
    agent_of,
    console_messages,
    line_problem,
)
from web.inputs import parse_json
from web.problem import Problem

log = logging.getLogger(__name__)

# A socket frame: a line of MESSAGE_MAX characters, up to 4 bytes each in UTF-8, and its fields.
MAX_FRAME = 32 * 1024
# Before a line sent over the socket, the credential that opened it is checked again when the
# last check is older than this: a revoked token or ended session stops sending lines within
# this time, and a busy agent's lines do not each wait for a token check of their own.
RECHECK = timedelta(seconds=10)
TICKET_ID_MAX = 2**63 - 1


class Desk:
    """One open console socket: the agent behind it and the frames they send. Besides
    ``ping`` and ``activity``, the page sends its lines here (``say``), which spares each line
    the request, the token check and the ticket read of a ``POST``; the answer is a ``said``
    frame with the stored message, or ``refused`` with the reason, both carrying the line's
    ``client_id`` (a resend with the same id is kept once)."""

    def __init__(
        self, services: Services, request: web.Request, ws: web.WebSocketResponse, agent_id: int
    ) -> None:
        self.services = services
        self.request = request
        self.ws = ws
        self.agent_id = agent_id
        self.checked = services.clock.now()
        self.answering: set[asyncio.Task[None]] = set()  # "said" frames being read

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.ws.send_json({"type": "pong"})
        elif kind == "activity":  # pointer, keys, the tab shown (throttled by the page)
            await self.services.presence.activity(self.agent_id)
        elif kind == "say":
            if await self.still_allowed():
                refused = await self.say(frame)
                if refused is not None:
                    await self.ws.send_json(refused)
        else:
            await self.error(f"unknown frame type {kind!r}: send say, activity or ping")

    async def error(self, message: str) -> None:
        await self.ws.send_json({"type": "error", "message": message})

    async def still_allowed(self) -> bool:
        """Whether the socket's credential still stands for its agent (checked again after
        :data:`RECHECK`); if not, the socket is told and closed (4401), the line not sent."""
        now = self.services.clock.now()
        if now - self.checked < RECHECK:
            return True
        principal = await credential_principal(self.request, self.services)
        if principal is not None and principal.agent_id == self.agent_id:
            self.checked = now
            return True
        await self.error("your login has ended: log in again")
        await self.ws.close(code=4401, message=b"log in again")
        return False

    async def say(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        """The agent's line (``agent_message``, one transaction, delivered to the customer
        before it returns). A refusal is returned; the ``said`` answer is read and sent beside
        the socket's next frames, so the agent's next line does not wait for that read."""
        client_id, ticket_id, text = (
            frame.get("client_id"),
            frame.get("ticket_id"),
            frame.get("text"),
        )
        if not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id):
            return {
                "type": "error",
                "message": "a line needs a client_id: 1-64 letters, digits, _ . : -",
            }

        def refused(status: int, reason: str) -> dict[str, Any]:
            return {
                "type": "refused",
                "client_id": client_id,
                "ticket_id": ticket_id,
                "status": status,
                "message": reason,
            }

        if (
            not isinstance(ticket_id, int)
            or isinstance(ticket_id, bool)
            or not 0 < ticket_id <= TICKET_ID_MAX
        ):
            return refused(400, "ticket_id: the chat's number")
        problem = line_problem(text, client_id)
        if problem is not None:
            return refused(400, problem)
        assert isinstance(text, str)
        try:
            message_id = await self.services.handoff.agent_message(
                ticket_id, self.agent_id, text, origin="web", client_id=client_id
            )
        except HandoffError as exc:
            return refused(409, str(exc))
        task = asyncio.create_task(self.answer(client_id, ticket_id, message_id))
        self.answering.add(task)
        task.add_done_callback(self.answering.discard)
        return None

    async def answer(self, client_id: str, ticket_id: int, message_id: int) -> None:
        """``said``, with the line as the console shows it."""
        try:
            rows = await views.transcript_rows(self.services.db, [message_id])
            (shown,) = await console_messages(self.services, rows)
            said = {"type": "said", "client_id": client_id, "ticket_id": ticket_id}
            await self.ws.send_json({**said, "message": shown})
        except (ConnectionError, RuntimeError) as exc:  # the socket went: the page resends
            log.debug("console socket gone before a said: %s", exc)
        except Exception:  # the line was sent; the page resends it (same client_id, kept once)
            log.exception("console: the answer to a line failed")


async def socket(request: web.Request) -> web.WebSocketResponse:
    services, agent_id = agent_of(request)
    if not same_origin(request):
        raise web.HTTPForbidden(reason="the console socket only serves this site's pages")
    hub = request.app[CONSOLE_HUB]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    hub.sockets[agent_id].add(ws)
    desk = Desk(services, request, ws, agent_id)
    try:
        await services.presence.opened(CONSOLE, agent_id)
        await ws.send_json({"type": "hello", "agent": await agent_json(services, agent_id)})
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                continue
            try:
                frame = parse_json(raw.data, "frame")
            except Problem as exc:
                await desk.error(exc.message)
                continue
            if not isinstance(frame, dict):
                await desk.error("frames are JSON objects with a type")
                continue
            await desk.handle(frame)
    except ConnectionError as exc:
        log.debug("console socket gone: %s", exc)
    except Exception:  # after the upgrade: an error frame and a close code, never HTML
        log.exception("console socket failed")
        if not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json({"type": "error", "message": "something went wrong"})
                await ws.close(code=1011, message=b"internal error")
    finally:
        hub.sockets[agent_id].discard(ws)
        if not hub.sockets[agent_id]:
            del hub.sockets[agent_id]
        try:
            await services.presence.closed(CONSOLE, agent_id)
        except Exception:  # the heartbeat's sweep catches up with what this missed
            log.exception("presence: a console's close was not recorded")
    return ws


def register(app: web.Application) -> None:
    app.router.add_get("/agent/ws", socket)
