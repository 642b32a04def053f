"""The bus: what one Sanad process tells the others, so a person reaches their chat whichever
process holds their socket.

A web chat visitor's socket and an agent's console socket may sit on different processes behind
one address. Each process delivers what it decided itself (it stores the lines and sends
Telegram messages once), then *publishes* the frames meant for sockets on the bus; every other
process pushes them to the sockets it holds for that visitor or agent and ignores the rest.

:class:`LocalBus` is the single-process bus (SQLite, or one process on PostgreSQL): publishing
does nothing, as every socket is local. :class:`storage.pubsub.PgBus` carries messages between
processes over PostgreSQL ``LISTEN/NOTIFY``. Adapters see only the :class:`Bus` protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# A bus message: a topic (``chat``: web chat frames by customer id; ``console``: console frames
# by agent id), the key (whose sockets) and the JSON frame.
Handler = Callable[[int, dict[str, Any]], Awaitable[None]]
Reconnected = Callable[[], Awaitable[None]]


class Bus(Protocol):
    @property
    def shared(self) -> bool:
        """True when other processes may hold sockets (publish even without a local one)."""

    def subscribe(
        self, topic: str, handler: Handler, wants: Callable[[int], bool] | None = None
    ) -> None:
        """Call ``handler(key, frame)`` for every message another process publishes on
        ``topic`` (never for this process's own); with ``wants``, only for the keys it
        accepts (the sockets held here), decided before the frame is decoded."""

    def on_reconnect(self, handler: Reconnected) -> None:
        """Call ``handler()`` after the bus lost its connection and got it back: messages
        published meanwhile are lost, so sockets must catch up from the stored state."""

    async def publish(self, topic: str, key: int, frame: dict[str, Any]) -> None:
        """Tell the other processes (after the change is committed)."""


class LocalBus:
    """One process: every socket is here, nothing to publish."""

    @property
    def shared(self) -> bool:
        return False

    def subscribe(
        self, topic: str, handler: Handler, wants: Callable[[int], bool] | None = None
    ) -> None:
        return None

    def on_reconnect(self, handler: Reconnected) -> None:
        return None

    async def publish(self, topic: str, key: int, frame: dict[str, Any]) -> None:
        return None
