"""Web chat round trips: ``python -m bench.webchat --visitors 50 --questions 10``.

A real Sanad (``sanad run``'s ``serve``, a real SQLite file, the sample FAQ) in a child process
on loopback, and ``visitors`` WebSocket clients in this process, all connected at once (so the
server has its core to itself, as it would in production). Each asks ``questions`` FAQ
questions one after another (the next once the answer arrived); a round trip is from sending
the ``message`` frame to receiving the bot's answer frame, with the customer's message, its
ack and the query log written on the way. The baseline, measured in the same run, is the
domain work alone for the same questions: ``FaqService.answer`` in one transaction (match,
query log), called directly. The ratio is what the channel costs on top: the socket, the
frames, storing both messages, the per-visitor lock and the push. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from sanad.config import load_settings
from sanad.services import Services

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


async def _visitor(http: aiohttp.ClientSession, n: int, questions: int) -> list[float]:
    ws = await http.ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "visitor": None, "since": 0, "lang": "en"})
    while (await ws.receive_json())["type"] != "welcome":
        pass
    times = []
    ids = itertools.count()
    for i in range(questions):
        text = QUESTIONS[(n + i) % len(QUESTIONS)]
        client_id = f"b{n}-{next(ids)}"
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
    await ws.close()
    return times


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


def _serve(db_url: str, port: int) -> None:
    """The child process: Sanad as ``sanad run`` starts it, without Telegram."""
    import logging

    from sanad.runner import serve

    logging.disable(logging.INFO)
    # Every simulated visitor comes from this machine and writes at machine speed: flood
    # control (which would rightly refuse that) is off for the measurement.
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": db_url,
            "SANAD_WEB_PORT": str(port),
            "SANAD_FLOOD_MESSAGE_BURST": "0",
            "SANAD_FLOOD_NEW_VISITORS_PER_IP": "0",
            "SANAD_FLOOD_HANDOFFS_PER_IP": "0",
        }
    )
    asyncio.run(serve(settings))


async def _wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"Sanad did not start at {url}")


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


async def run(visitors: int, questions: int, postgres: str | None = None) -> dict[str, object]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        baseline_url = await stack.enter_async_context(_database(tmp, "baseline", postgres))
        web_url = await stack.enter_async_context(_database(tmp, "web", postgres))
        settings = load_settings(env={"SANAD_DATABASE_URL": baseline_url})
        services = Services.create(settings)
        await services.start(run_timers=False)
        try:
            baseline = await _baseline(services, visitors * questions)
        finally:
            await services.close()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        child = multiprocessing.get_context("spawn").Process(target=_serve, args=(web_url, port))
        child.start()
        try:
            base_url = f"http://127.0.0.1:{port}"
            await _wait_until_up(f"{base_url}/healthz")
            async with aiohttp.ClientSession(base_url) as http:
                started = time.perf_counter()
                per_visitor = await asyncio.gather(
                    *(_visitor(http, n, questions) for n in range(visitors))
                )
                wall = time.perf_counter() - started
        finally:
            child.terminate()
            child.join(10)
    trips = [t for times in per_visitor for t in times]
    web = _ms(trips)
    base = _ms(baseline)
    return {
        "visitors": visitors,
        "questions_each": questions,
        "round_trip": web,
        "baseline_faq_answer": base,
        "ratio_median": round(web["median_ms"] / base["median_ms"], 1),
        "answers_per_s": round(len(trips) / wall, 1),
        "backend": "postgresql" if postgres else "sqlite",
    }


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
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.visitors, args.questions, args.postgres))))


if __name__ == "__main__":
    main()
