"""What the web chat's and the console's hubs do alike with the sockets they hold, and the
chat's feed of one socket (its catch-up, then live frames, each message once)."""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)


async def send_each(sockets: Iterable[web.WebSocketResponse], frame: dict[str, Any]) -> None:
    """``frame`` to every open socket of ``sockets``; one that fails is left to its reader."""
    for ws in list(sockets):
        if ws.closed:
            continue
        try:
            await ws.send_json(frame)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("push failed: %s", exc)


async def close_to_catch_up(held: Iterable[Iterable[web.WebSocketResponse]]) -> None:
    """Frames published while the bus was down are lost: close every socket held here (1012,
    "restarting"), so each page reconnects and fetches what it missed from the stored record."""
    for ws in [ws for sockets in held for ws in sockets]:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"catch up")


class Feed:
    """What one customer socket is sent: its catch-up, then live frames, and each message id
    at most once, in that order (docs/webchat.md).

    A socket joins its hub *before* its catch-up (the lines after the visitor's ``since``) is
    read, so a line committed meanwhile is not missed; but then a line committed around that
    read may come both ways: in the catch-up, and live (pushed by this process after the
    commit, or by another over the bus, which may be seconds late). So live frames that come
    while the catch-up is read and sent are held, and sent after it (the socket reads
    ``welcome``, the catch-up lines by id, then live frames as they came), and a ``message``
    frame whose id this socket was already sent is dropped, before the catch-up or long after.

    Why the ids sent and not "any id up to the highest sent": on PostgreSQL an id is taken from
    a sequence when the row is inserted, and transactions commit in their own order, so a line
    with id 100 (an agent's, say) can commit after one with id 101 (the bot's). A catch-up
    read between the two commits has 101 and not 100, which then comes live: it must go out,
    though it is lower. A line comes twice only while its live frame is on its way (seconds),
    so the last ``memory`` ids are enough; a catch-up is at most the history limit, below it.
    """

    def __init__(self, ws: web.WebSocketResponse, memory: int = 2_000) -> None:
        self.ws = ws
        self.memory = memory
        self._sent: OrderedDict[int, None] = OrderedDict()  # message ids, oldest first
        self._held: list[dict[str, Any]] | None = []  # live frames held during the catch-up

    @property
    def caught_up(self) -> bool:
        return self._held is None

    async def catch_up(self, frames: Iterable[dict[str, Any]]) -> None:
        """The catch-up (``welcome`` and the lines, in order), then the live frames held
        meanwhile. Raises what sending raises (the socket's reader ends the visit)."""
        for frame in frames:
            if self._fresh(frame):
                await self.ws.send_json(frame)
        while self._held:  # more may be held while these go out: they follow, in order
            await self._send(self._held.pop(0))
        self._held = None

    async def push(self, frame: dict[str, Any]) -> None:
        """A live frame: held until the catch-up is out, dropped if its message was sent."""
        if self._held is not None:
            self._held.append(frame)
        else:
            await self._send(frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.ws.closed or not self._fresh(frame):
            return
        try:
            await self.ws.send_json(frame)
        except (ConnectionError, RuntimeError) as exc:  # left to the socket's reader
            log.debug("push failed: %s", exc)

    def _fresh(self, frame: dict[str, Any]) -> bool:
        """False for a message frame whose id went out on this socket; else remembered."""
        if frame.get("type") != "message" or not isinstance(frame.get("id"), int):
            return True
        message_id = int(frame["id"])
        if message_id in self._sent:
            return False
        self._sent[message_id] = None
        while len(self._sent) > self.memory:
            self._sent.popitem(last=False)
        return True
