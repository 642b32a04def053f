"""Web chat round trips: ``python -m bench.webchat --visitors 50 --questions 10``.

A real Sanad (``sanad run``'s ``serve``, a real SQLite file, the sample FAQ) in a child process
on loopback, and ``visitors`` WebSocket clients in this process, all connected at once (so the
server has its core to itself, as it would in production). Each asks one question to warm up,
then ``questions`` FAQ questions one after another (the next once the answer arrived); a round
trip is from sending the ``message`` frame to receiving the bot's answer frame, with the
customer's message, its ack and the query log written on the way. The baseline, measured in the
same run, is the domain work alone for the same questions: ``FaqService.answer`` in one
transaction (match, query log), called directly. ``ratio_median`` is what the channel costs on
top: the socket, the frames, storing both messages, the per-visitor lock and the push.

Under the same load, the one-transaction floor (:mod:`bench.webchat_floor`: a minimal aiohttp
WebSocket server doing the same reads and writes with the raw driver in one transaction) runs
in its own child process. For both servers the child reports its CPU time over the measured
questions (``time.process_time``, all its threads; the clients run in this process and are not
in it) and its statements and transactions (Sanad: a SQLAlchemy ``before_cursor_execute``
listener and the begin/commit events; the floor: the driver's own trace). On PostgreSQL a
second pass of one visitor per server runs through a relay that counts round trips on the wire
(:class:`bench.webchat_probe.RoundTripProxy`). ``cpu_ratio_vs_floor`` is Sanad's server CPU
per message over the floor's. ``--no-floor`` and ``--count-questions 0`` skip the extra
servers. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.engine import make_url

from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from bench.cores import Layout, default_layout, pin
from bench.webchat_floor import serve_floor
from bench.webchat_probe import (
    RoundTripProxy,
    Snapshot,
    count_sqlalchemy,
    delta,
    quiet_snap,
    serve_probe,
)

QUESTIONS = (
    "how many days does delivery take?",
    "how do I return an item?",
    "can I pay with cash on delivery?",
    "I forgot my password",
    "كم يوم ياخذ التوصيل؟",
    "كيف أرجع منتج؟",
    "where is my order",
    "do you ship abroad?",
)


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
    }


async def _connect(http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """A visitor's socket, once the server said ``welcome``."""
    ws = await http.ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "visitor": None, "since": 0, "lang": "en"})
    while (await ws.receive_json())["type"] != "welcome":
        pass
    return ws


async def _ask(
    ws: aiohttp.ClientWebSocketResponse, n: int, questions: int, tag: str = "b"
) -> list[float]:
    """Visitor ``n`` asks ``questions`` questions one after another: the round trips."""
    times = []
    ids = itertools.count()
    for i in range(questions):
        text = QUESTIONS[(n + i) % len(QUESTIONS)]
        client_id = f"{tag}{n}-{next(ids)}"
        started = time.perf_counter()
        await ws.send_json({"type": "message", "client_id": client_id, "text": text})
        mine = None  # the answer is the first bot line after the question (not the greeting)
        while True:
            frame = await ws.receive_json(timeout=60)
            if frame["type"] == "ack" and frame["client_id"] == client_id:
                mine = frame["id"]
            elif frame["type"] == "message" and frame["sender"] == "customer":
                mine = frame["id"] if frame["client_id"] == client_id else mine
            elif (
                frame["type"] == "message"
                and frame["sender"] == "bot"
                and mine is not None
                and frame["id"] > mine
            ):
                break
        times.append(time.perf_counter() - started)
    return times


async def _visitor(http: aiohttp.ClientSession, n: int, questions: int) -> list[float]:
    """A new visitor who asks ``questions`` questions and leaves (bench.history's load)."""
    ws = await _connect(http)
    try:
        return await _ask(ws, n, questions)
    finally:
        await ws.close()


async def _baseline(services: Services, samples: int) -> list[float]:
    times = []
    for i in range(samples):
        started = time.perf_counter()
        async with services.db.transaction() as session:
            await services.faq.answer(
                session, QUESTIONS[i % len(QUESTIONS)], language="en", at=services.clock.now()
            )
        times.append(time.perf_counter() - started)
    return times


def _serve(db_url: str, port: int, conn: Connection, semantic: str = "auto") -> None:
    """The child process: Sanad as ``sanad run`` starts it, without Telegram; its CPU time
    and SQLAlchemy's statements and transactions are reported on ``conn``."""
    import logging

    from sanad.runner import serve

    counters: Counter[str] = Counter()
    count_sqlalchemy(counters)
    serve_probe(conn, counters)
    logging.disable(logging.INFO)
    # Every simulated visitor comes from this machine and writes at machine speed: flood
    # control (which would rightly refuse that) is off for the measurement.
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": db_url,
            "SANAD_WEB_PORT": str(port),
            "SANAD_FAQ_SEMANTIC": semantic,
            **FLOOD_CONTROL_OFF,
        }
    )
    asyncio.run(serve(settings, freeze_heap=True))


async def _wait_until_up(url: str, child: BaseProcess | None = None) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if child is not None and not child.is_alive():
                raise RuntimeError(f"the server for {url} died (exit code {child.exitcode})")
            try:
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server did not start at {url}")


@contextlib.asynccontextmanager
async def _postgres(server: str, name: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the run, dropped afterwards."""
    import asyncpg

    dsn = server.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def _database(tmp: str, name: str, postgres: str | None) -> AsyncIterator[str]:
    """A SQLite file in ``tmp``, or a fresh database on the ``postgres`` server."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{Path(tmp) / name}.db"
        return
    async with _postgres(postgres, f"sanad_bench_{name}_{os.getpid()}") as url:
        yield url


# Set by ``--pin`` (:mod:`bench.cores`; the default where there are 2 cores or more): the
# server's process on its own core(s), the clients (this process) on the last one.
LAYOUT: Layout | None = None


@dataclass
class Pass:
    """One server under one client load: the round trips, the wall time of the questions,
    and what the server process did meanwhile (CPU, statements, transactions; round trips
    on the wire when it ran through a :class:`RoundTripProxy`)."""

    times: list[float]
    wall_s: float
    server: Snapshot
    round_trips: int | None = None

    @property
    def messages(self) -> int:
        return len(self.times)

    def per_message(self, key: str) -> float:
        return round(self.server.get(key, 0) / self.messages, 2)

    def summary(self) -> dict[str, Any]:
        per_message = {
            "transactions": self.per_message("begins"),
            "commits": self.per_message("commits"),
            "statements": self.per_message("statements"),
        }
        if self.round_trips is not None:
            per_message["round_trips"] = round(self.round_trips / self.messages, 2)
        return {
            "round_trip": _ms(self.times),
            "answers_per_s": round(self.messages / self.wall_s, 1),
            "server_cpu_ms_per_message": round(self.server["cpu_s"] * 1000 / self.messages, 3),
            "per_message": per_message,
            # the garbage collector's share of that CPU (wall time of its passes, which hold
            # the GIL), and how many passes were full ones
            "gc_ms": round(self.server.get("gc_us", 0) / 1000, 1),
            "gc_full_passes": int(self.server.get("gc_full", 0)),
        }


async def _measure(
    target: Callable[[str, int, Connection], None],
    db_url: str,
    visitors: int,
    questions: int,
    proxy: RoundTripProxy | None = None,
) -> Pass:
    """Start the server ``target`` in a child process on ``db_url``, connect ``visitors``,
    let each ask one question to warm up (connections, caches, the first ticket state), then
    measure ``questions`` more each: wall time, and the child's CPU and counters."""
    if proxy is not None:
        db_url = RoundTripProxy.url_through(db_url, await proxy.start())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=target, args=(db_url, port, theirs))
    child.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        await _wait_until_up(f"{base_url}/healthz", child)
        async with aiohttp.ClientSession(base_url) as http:
            sockets = await asyncio.gather(*(_connect(http) for _ in range(visitors)))
            await asyncio.gather(*(_ask(ws, n, 1, "w") for n, ws in enumerate(sockets)))
            if LAYOUT is not None:
                pin(child.pid, LAYOUT.server)
            before = await quiet_snap(ours)
            trips_before = proxy.round_trips if proxy else 0
            started = time.perf_counter()
            per_visitor = await asyncio.gather(
                *(_ask(ws, n, questions) for n, ws in enumerate(sockets))
            )
            wall = time.perf_counter() - started
            after = await quiet_snap(ours)
            trips = proxy.round_trips - trips_before if proxy else None
            for ws in sockets:
                await ws.close()
    finally:
        child.terminate()
        child.join(10)
        if proxy is not None:
            await proxy.close()
    times = [t for one in per_visitor for t in one]
    return Pass(times, wall, delta(before, after), trips)


async def _prepared(url: str, semantic: str = "auto") -> str:
    """``url`` migrated with the sample FAQ, as Sanad leaves a database at its first start."""
    env = {"SANAD_DATABASE_URL": url, "SANAD_FAQ_SEMANTIC": semantic}
    services = Services.create(load_settings(env=env))
    await services.start(run_timers=False)
    # The articles' embeddings stored, so both servers match fused from their first question.
    await services.faq.wait_idle()
    await services.close()
    return url


async def run(
    visitors: int,
    questions: int,
    postgres: str | None = None,
    *,
    floor: bool = True,
    count_questions: int = 20,
    semantic: str = "auto",
) -> dict[str, Any]:
    """The whole benchmark; ``floor`` adds the one-transaction floor under the same load,
    ``count_questions`` (PostgreSQL only; 0: none) a pass of one visitor through a
    :class:`RoundTripProxy` for each server that counts round trips per message."""
    async with contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        baseline_url = await stack.enter_async_context(_database(tmp, "baseline", postgres))
        settings = load_settings(env={"SANAD_DATABASE_URL": baseline_url})
        services = Services.create(settings)
        await services.start(run_timers=False)
        try:
            baseline = await _baseline(services, visitors * questions)
        finally:
            await services.close()

        async def fresh(name: str) -> str:
            url = await stack.enter_async_context(_database(tmp, name, postgres))
            return await _prepared(url, semantic)

        serve_sanad = functools.partial(_serve, semantic=semantic)
        serve_low = functools.partial(serve_floor, semantic=semantic)
        sanad = await _measure(serve_sanad, await fresh("web"), visitors, questions)
        floor_pass = None
        if floor:
            floor_pass = await _measure(serve_low, await fresh("floor"), visitors, questions)
        counted: dict[str, Pass] = {}
        if postgres is not None and count_questions > 0:
            pg = make_url(postgres)
            servers = {"sanad": serve_sanad, **({"floor": serve_low} if floor else {})}
            for name, target in servers.items():
                proxy = RoundTripProxy(pg.host or "127.0.0.1", pg.port or 5432)
                url = await fresh(f"count_{name}")
                counted[name] = await _measure(target, url, 1, count_questions, proxy)
    web = sanad.summary()
    base = _ms(baseline)
    result: dict[str, Any] = {
        "visitors": visitors,
        "questions_each": questions,
        "round_trip": web["round_trip"],
        "baseline_faq_answer": base,
        "ratio_median": round(web["round_trip"]["median_ms"] / base["median_ms"], 1),
        "answers_per_s": web["answers_per_s"],
        "backend": "postgresql" if postgres else "sqlite",
        "faq_semantic": semantic,
        "server_cpu_ms_per_message": web["server_cpu_ms_per_message"],
        "per_message": web["per_message"],
        "gc_ms": web["gc_ms"],
        "gc_full_passes": web["gc_full_passes"],
        "cpu": "server process (child) CPU time over the measured questions / messages; "
        "the clients run in the parent",
    }
    if "sanad" in counted:
        result["per_message"]["round_trips"] = counted["sanad"].summary()["per_message"][
            "round_trips"
        ]
    if floor_pass is not None:
        low = floor_pass.summary()
        low["match_cpu_ms_per_message"] = round(
            floor_pass.server.get("match_cpu_us", 0) / 1000 / floor_pass.messages, 3
        )
        if "floor" in counted:
            low["per_message"]["round_trips"] = counted["floor"].summary()["per_message"][
                "round_trips"
            ]
        result["floor"] = low
        result["cpu_ratio_vs_floor"] = round(
            web["server_cpu_ms_per_message"] / low["server_cpu_ms_per_message"], 2
        )
        # The floor's match is the same domain work as Sanad's; without it, the floor is
        # the database work and the frames alone.
        without_match = low["server_cpu_ms_per_message"] - low["match_cpu_ms_per_message"]
        result["cpu_ratio_vs_floor_without_match"] = round(
            web["server_cpu_ms_per_message"] / without_match, 2
        )
        result["answers_per_s_ratio_floor_vs_sanad"] = round(
            low["answers_per_s"] / web["answers_per_s"], 2
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        help="run on fresh databases of this PostgreSQL server (default: the local one)",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the one-transaction floor server"
    )
    parser.add_argument(
        "--count-questions",
        type=int,
        default=20,
        help="PostgreSQL: questions of the one-visitor pass that counts round trips (0: none)",
    )
    parser.add_argument(
        "--faq-semantic",
        choices=("auto", "off"),
        default="auto",
        help="FAQ matching of both servers: auto (fused with the embedding model, Sanad's "
        "default) or off (lexical only)",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="server on its own core(s), the clients on the last core (default, where there "
        "are 2 or more); --no-pin lets the scheduler place them",
    )
    args = parser.parse_args()
    global LAYOUT
    LAYOUT = default_layout() if args.pin else None
    if LAYOUT is not None:
        pin(os.getpid(), LAYOUT.load)
    result = asyncio.run(
        run(
            args.visitors,
            args.questions,
            args.postgres,
            floor=not args.no_floor,
            count_questions=args.count_questions,
            semantic=args.faq_semantic,
        )
    )
    result["cores"] = LAYOUT.describe() if LAYOUT is not None else "not pinned"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
