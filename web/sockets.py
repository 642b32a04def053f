"""What the web chat's and the console's hubs do alike with the sockets they hold."""

from __future__ import annotations

import contextlib
import logging
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
