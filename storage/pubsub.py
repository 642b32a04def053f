"""The bus between Sanad processes on PostgreSQL: ``LISTEN/NOTIFY`` on one channel.

Every process keeps two plain asyncpg connections beside its pool: one listens, one publishes.
A message is JSON (origin, topic, key, frame); every process receives every message and drops
its own (it delivered them itself) and those for sockets it does not hold (the subscriber's
handler decides). One channel for all keeps the server's work flat: subscribing per visitor
would mean a ``LISTEN`` per socket.

* **Order and batching.** :meth:`PgBus.publish` queues the message and returns; a sender task
  sends whatever is queued in one statement (``pg_notify`` per payload, one round trip: a
  statement is a transaction). PostgreSQL delivers the notifications of one transaction
  together and in order, and transactions in commit order, so every process sees one
  process's messages in the order they were published.
* **Size.** A notification payload must stay under 8,000 bytes; a larger message is cut into
  parts sent in the same transaction (so they arrive together) and put back together on
  arrival. Payloads read ``"<origin> <seq> <i> <n> <topic> <key> <json>"``: a process skips a
  frame for a visitor or agent whose socket it does not hold from the header alone.
* **A lost connection** (server restart, a terminated backend, a network cut found by the
  periodic check) is reopened with a growing pause; then the ``on_reconnect`` handlers run so
  that sockets catch up from the stored state (messages published meanwhile are gone, as
  ``NOTIFY`` keeps nothing for absent listeners). The publisher reopens its connection and
  retries a batch once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

from base.bus import Handler, Reconnected

log = logging.getLogger(__name__)

CHANNEL = "sanad_bus"
MAX_PAYLOAD_BYTES = 7_900  # PostgreSQL's limit is 8,000 bytes per notification
PART_CHARS = 1_900  # a part of a cut message: at most 4 bytes a character, under the limit
QUEUE_MAX = 50_000  # messages waiting to be sent; beyond, the oldest are dropped (logged)
CHECK_S = 30.0  # how often an idle listener checks that its connection still answers
RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)  # pauses between reconnection attempts (the last repeats)
# A batch in one statement, so one round trip (not BEGIN, one per payload, COMMIT): a statement
# is a transaction, so its notifications are delivered together; pg_notify is volatile, so it
# runs after the ORDER BY (PostgreSQL 9.6 on), in the order the payloads were published.
SEND_SQL = (
    "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS t(payload, n) "
    "ORDER BY n"
)


def asyncpg_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy URL (``postgresql+asyncpg://...``)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql") else url


def encode(origin: str, seq: int, topic: str, key: int, frame: dict[str, Any]) -> list[str]:
    """The notification payloads of one message: one, or its parts when it is too large. The
    header names the topic and key, so a process skips a frame for sockets it does not hold
    without decoding it."""
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    head = f"{topic} {key}"
    if len(text.encode("utf-8")) + 64 + len(head) <= MAX_PAYLOAD_BYTES:
        return [f"{origin} {seq} 0 1 {head} {text}"]
    parts = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
    return [f"{origin} {seq} {i} {len(parts)} {head} {part}" for i, part in enumerate(parts)]


class PgBus:
    """The :class:`base.bus.Bus` of a process sharing a PostgreSQL database with others."""

    def __init__(self, url: str, *, channel: str = CHANNEL, check_s: float = CHECK_S) -> None:
        self.dsn = asyncpg_dsn(url)
        self.channel = channel
        self.check_s = check_s
        self.origin = secrets.token_hex(6)
        self.reconnects = 0  # listener connections reopened (tests, logs)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._wants: dict[str, Callable[[int], bool]] = {}  # topic -> "a socket for key here?"
        self._reconnected: list[Reconnected] = []
        self._seq = 0
        self._outbox: asyncio.Queue[list[str]] = asyncio.Queue()
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self._parts: dict[tuple[str, str], list[str]] = {}
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the Bus protocol -------------------------------------------------------------

    @property
    def shared(self) -> bool:
        return True

    def subscribe(
        self, topic: str, handler: Handler, wants: Callable[[int], bool] | None = None
    ) -> None:
        self._handlers[topic].append(handler)
        if wants is not None:
            self._wants[topic] = wants

    def on_reconnect(self, handler: Reconnected) -> None:
        self._reconnected.append(handler)

    async def publish(self, topic: str, key: int, frame: dict[str, Any]) -> None:
        self._seq += 1
        if self._outbox.qsize() >= QUEUE_MAX:
            self._outbox.get_nowait()
            self._outbox.task_done()
            log.warning("bus: send queue full, the oldest message was dropped")
        self._outbox.put_nowait(encode(self.origin, self._seq, topic, key, frame))

    # -- life -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, and start sending. Raises when the database cannot be reached."""
        await self._listen()
        self._publisher = await asyncpg.connect(self.dsn)
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="bus-send"),
            asyncio.create_task(self._dispatch_loop(), name="bus-dispatch"),
            asyncio.create_task(self._watch_loop(), name="bus-watch"),
        ]

    async def flush(self) -> None:
        """Wait until everything published so far is sent (tests, shutdown)."""
        await self._outbox.join()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 2.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for conn in (self._listener, self._publisher):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        self._listener = self._publisher = None

    # -- listening ----------------------------------------------------------------------

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(self.channel, self._on_notify)
        self._listener = conn
        self._lost.clear()
        self._parts.clear()  # parts of a message cut by the loss will never be completed

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._inbox.put_nowait(str(payload))

    async def _watch_loop(self) -> None:
        """Notice a lost listener (closed, or silent past a check) and reopen it."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self.check_s)
            except TimeoutError:
                conn = self._listener
                try:
                    if conn is None or conn.is_closed():
                        raise ConnectionError("closed")
                    await conn.fetchval("SELECT 1", timeout=max(1.0, self.check_s / 3))
                    continue
                except (OSError, asyncpg.PostgresError, TimeoutError, ConnectionError):
                    pass
            log.warning("bus: the listening connection was lost; reconnecting")
            await self._reopen()

    async def _reopen(self) -> None:
        old, self._listener = self._listener, None
        if old is not None:
            old.terminate()
        attempt = 0
        while True:
            try:
                await self._listen()
                break
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                pause = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                log.warning("bus: reconnect failed (%s); retrying in %.1f s", exc, pause)
                attempt += 1
                await asyncio.sleep(pause)
        self.reconnects += 1
        log.info("bus: listening again; sockets catch up from the stored state")
        for handler in self._reconnected:
            try:
                await handler()
            except Exception:
                log.exception("bus: a catch-up after reconnecting failed")

    async def _dispatch_loop(self) -> None:
        while True:
            payload = await self._inbox.get()
            message = self._assemble(payload)
            if message is None:
                continue
            topic, key, frame = message
            for handler in self._handlers.get(topic, ()):
                try:
                    await handler(key, frame)
                except Exception:
                    log.exception("bus: a %s handler failed", topic)

    def _assemble(self, payload: str) -> tuple[str, int, dict[str, Any]] | None:
        """The message a payload completes: None for this process's own, a frame for sockets
        not held here (looked up before decoding), a part, or something unreadable."""
        try:
            origin, seq, index, count, topic, key_text, text = payload.split(" ", 6)
            i, n, key = int(index), int(count), int(key_text)
        except ValueError:
            log.warning("bus: unreadable payload ignored")
            return None
        if origin == self.origin:
            return None
        wants = self._wants.get(topic)
        if wants is not None and not wants(key):
            return None
        if n > 1:
            parts = self._parts.setdefault((origin, seq), [])
            if len(parts) != i:  # a part went missing (lost connection): give up on it
                self._parts.pop((origin, seq), None)
                return None
            parts.append(text)
            if len(parts) < n:
                return None
            text = "".join(self._parts.pop((origin, seq)))
        try:
            frame = json.loads(text)
        except ValueError:
            log.warning("bus: unreadable message ignored")
            return None
        return topic, key, frame

    # -- sending --------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            messages = [await self._outbox.get()]
            while not self._outbox.empty() and len(messages) < 500:
                messages.append(self._outbox.get_nowait())
            try:
                await self._send([payload for parts in messages for payload in parts])
            finally:
                for _ in messages:
                    self._outbox.task_done()

    async def _send(self, payloads: list[str]) -> None:
        for attempt in (1, 2):
            try:
                conn = self._publisher
                if conn is None or conn.is_closed():
                    conn = self._publisher = await asyncpg.connect(self.dsn)
                await conn.execute(SEND_SQL, self.channel, payloads)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if self._publisher is not None:
                    self._publisher.terminate()
                self._publisher = None
                if attempt == 2:
                    log.error("bus: %d payloads not sent (%s)", len(payloads), exc)
