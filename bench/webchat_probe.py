"""What ``bench.webchat`` measures about a server it runs in a child process.

In the child, :func:`serve_probe` answers the parent's "snap" requests on a pipe (from a thread
that sleeps in ``recv``, so it costs nothing meanwhile) with the child's CPU time so far
(``time.process_time``: every thread of the server process, the event loop and aiosqlite's
worker alike; the clients run in the parent and are not in it) and its counters (statements,
transactions). :func:`count_sqlalchemy` fills the counters from SQLAlchemy's events, as a
``before_cursor_execute`` listener sees them.

In the parent, :class:`RoundTripProxy` is a TCP relay between the server and PostgreSQL that
counts round trips on the wire: each time PostgreSQL answers after the server sent something
since the last answer, whatever the driver and however it batches its messages.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.engine import make_url

Snapshot = dict[str, float]


def count_gc(counters: Counter[str]) -> None:
    """Count the garbage collector's passes in this process and the time they took
    (``gc_us``; ``gc_full``: passes over the oldest generation, which visit every tracked
    object and so grow with what the process holds)."""
    started = [0.0]

    def pass_(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        counters["gc_us"] += round((time.perf_counter() - started[0]) * 1e6)
        counters["gc_passes"] += 1
        if info["generation"] == 2:
            counters["gc_full"] += 1

    gc.callbacks.append(pass_)


def serve_probe(conn: Connection, counters: Counter[str]) -> None:
    """Answer the parent's snapshots from a daemon thread of this (the server's) process."""
    count_gc(counters)

    def loop() -> None:
        while True:
            try:
                conn.recv()
            except (EOFError, OSError):
                return
            snapshot: Snapshot = {"cpu_s": time.process_time(), **counters}
            conn.send(snapshot)

    threading.Thread(target=loop, name="bench-probe", daemon=True).start()


def count_sqlalchemy(counters: Counter[str]) -> None:
    """Count every engine's statements and transactions (BEGIN, COMMIT, ROLLBACK) in this
    process. SQLite's driver opens its transaction implicitly at the first write; a
    transaction here is SQLAlchemy's, as the code asks for it."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def statement(*_args: Any) -> None:
        counters["statements"] += 1

    def begin(_conn: Any) -> None:
        counters["begins"] += 1

    def commit(_conn: Any) -> None:
        counters["commits"] += 1

    def rollback(_conn: Any) -> None:
        counters["rollbacks"] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "begin", begin)
    event.listen(Engine, "commit", commit)
    event.listen(Engine, "rollback", rollback)


def snap(conn: Connection) -> Snapshot:
    conn.send("snap")
    result: Snapshot = conn.recv()
    return result


async def quiet_snap(conn: Connection, settle_s: float = 0.05, tries: int = 40) -> Snapshot:
    """A snapshot once the server has stopped running statements (what it does after the
    answer frame, like pushing the ticket state, belongs to the message)."""
    last = await asyncio.to_thread(snap, conn)
    for _ in range(tries):
        await asyncio.sleep(settle_s)
        now = await asyncio.to_thread(snap, conn)
        if now.get("statements", 0) == last.get("statements", 0):
            return now
        last = now
    return last


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    return {key: after.get(key, 0) - before.get(key, 0) for key in after}


class RoundTripProxy:
    """A loopback relay to PostgreSQL that counts round trips (see the module docstring)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.round_trips = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self._writers |= {writer, upstream_writer}
        asked = [False]  # the server sent something PostgreSQL has not answered yet

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, to_postgres: bool
        ) -> None:
            try:
                while data := await source.read(65536):
                    if to_postgres:
                        asked[0] = True
                    elif asked[0]:
                        asked[0] = False
                        self.round_trips += 1
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(
            pump(reader, upstream_writer, True),
            pump(upstream_reader, writer, False),
            return_exceptions=True,
        )

    @staticmethod
    def url_through(url: str, port: int) -> str:
        """``url`` (a SQLAlchemy PostgreSQL URL) pointed at the relay on ``port``."""
        return make_url(url).set(host="127.0.0.1", port=port).render_as_string(False)
