"""Telegram throughput: updates a second from many chats against a Bot API that answers slowly.

The real python-telegram-bot application polls the fake Bot API (tests/fakes/bot_api/) on
loopback, which answers every call but getUpdates after ``--delay-ms`` (50 ms: a Bot API
server across the internet). The fake runs in a process of its own (``bench.telegram_fake``),
as a real Bot API server would, so the bot process's CPU (read from ``/proc``) is the bot's
alone. ``--chats`` distinct customers each send ``--per-chat`` questions, queued at once; the
clock runs from the first update queued to the last reply.

Four set-ups in the same run:

* ``echo, one at a time``: a bare echo bot as PTB ships it (``concurrent_updates(False)``),
  the ceiling any bot had before (~1 / delay);
* ``echo, per chat``: the same echo bot with Sanad's :class:`bot.updates.PerChatUpdateProcessor`
  and :class:`bot.requests.BoundedHTTPXRequest` (the floor under Sanad's handlers);
* ``sanad, one at a time`` and ``sanad, per chat``: Sanad's real handlers (FAQ answer with
  "Did this help?" buttons, stored in SQLite), the rate limiter raised to ``--rate``, FAQ
  matching as ``--faq-semantic`` says.

Each reply's chat order is checked (a customer's answers arrive in the order asked).

    python -m bench.telegram --chats 500 --per-chat 2 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from app.config import load_settings
from app.services import Services
from base.clock import SystemClock
from bench.cores import Layout, default_layout, pin
from bench.telegram_fake import proc_cpu_s
from bot.app import build_application, start_application, stop_application
from bot.requests import BoundedHTTPXRequest
from bot.updates import PerChatUpdateProcessor


async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None and update.effective_message.text:
        await update.effective_message.reply_text(update.effective_message.text)


# Set by ``--pin`` (:mod:`bench.cores`): the bot (this process) on its own core(s), the fake
# Bot API on the last one.
LAYOUT: Layout | None = None


class FakeProcess:
    """The fake Bot API in a child process (``bench.telegram_fake``), driven over its pipes."""

    def __init__(self, process: asyncio.subprocess.Process, hello: dict[str, Any]) -> None:
        self.process = process
        self.token = str(hello["token"])
        self.base_url = str(hello["base_url"])
        self.base_file_url = str(hello["base_file_url"])

    async def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the fake Bot API process died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def drive(self, args: argparse.Namespace) -> dict[str, Any]:
        """Have the fake queue the updates and count the replies; this process's CPU meanwhile."""
        profiler = cProfile.Profile() if args.profile else None
        cpu0 = proc_cpu_s()
        if profiler is not None:
            profiler.enable()
        result = await self._ask(
            {"cmd": "drive", "chats": args.chats, "per_chat": args.per_chat, "within": args.within}
        )
        if profiler is not None:
            profiler.disable()
        bot_cpu = proc_cpu_s() - cpu0
        if profiler is not None:
            profiler.dump_stats(args.profile)
        done = max(int(result["replied"]), 1)
        seconds = float(result["seconds"])
        result["updates_per_s"] = round(result["replied"] / seconds, 1) if seconds else 0.0
        result["cpu_ms_per_update"] = round(1000 * bot_cpu / done, 2)
        result["fake_cpu_ms_per_update"] = round(1000 * float(result["fake_cpu_s"]) / done, 2)
        return result


@contextlib.asynccontextmanager
async def fake_process(delay_ms: float) -> AsyncIterator[FakeProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.telegram_fake",
        "--delay-ms",
        str(delay_ms),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        hello = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        if LAYOUT is not None:  # the Bot API is the load: on its own core
            pin(process.pid, LAYOUT.load)
        yield FakeProcess(process, hello)
    finally:
        with contextlib.suppress(Exception):
            process.stdin.write(b'{"cmd": "quit"}\n')
            await process.stdin.drain()
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _echo_run(args: argparse.Namespace, concurrent: bool) -> dict[str, Any]:
    async with fake_process(args.delay_ms) as fake:
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
        )
        if concurrent:
            builder = builder.concurrent_updates(PerChatUpdateProcessor(args.concurrency))
            builder = builder.request(BoundedHTTPXRequest(args.connections))
        app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        app.add_handler(MessageHandler(filters.TEXT, _echo))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            return await fake.drive(args)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


async def _sanad_run(args: argparse.Namespace, concurrent: bool) -> dict[str, Any]:
    async with fake_process(args.delay_ms) as fake:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                env={
                    "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'tg.db'}",
                    "SANAD_TELEGRAM_TOKEN": fake.token,
                    "SANAD_TELEGRAM_BASE_URL": fake.base_url,
                    "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
                    "SANAD_TELEGRAM_MAX_RATE": str(args.rate),
                    "SANAD_TELEGRAM_CONCURRENT_UPDATES": str(args.concurrency if concurrent else 1),
                    "SANAD_TELEGRAM_CONNECTIONS": str(args.connections),
                    "SANAD_FAQ_SEMANTIC": args.faq_semantic,
                    "SANAD_LOG_LEVEL": "warning",
                }
            )
            services = Services.create(settings, SystemClock())
            app = build_application(services)
            await services.start()
            await start_application(app, services)
            try:
                return await fake.drive(args)
            finally:
                await stop_application(app)
                await services.close()


RUNS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]] = {
    "echo, one at a time": lambda a: _echo_run(a, concurrent=False),
    "echo, per chat": lambda a: _echo_run(a, concurrent=True),
    "sanad, one at a time": lambda a: _sanad_run(a, concurrent=False),
    "sanad, per chat": lambda a: _sanad_run(a, concurrent=True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--per-chat", type=int, default=2)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--rate", type=float, default=10_000.0, help="limiter: messages/s")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--connections", type=int, default=32, help="Bot API calls in flight")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--within", type=float, default=120.0, help="give up after (s)")
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    parser.add_argument(
        "--faq-semantic",
        choices=("auto", "off"),
        default="auto",
        help="Sanad's FAQ matching: auto (fused with the embedding model, the default) or off "
        "(lexical only)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the bot process during the drive (pstats)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the bot on its own core(s), the fake Bot API on the last core (default, where "
        "there are 2 or more; bench.cores); --no-pin lets the scheduler place them",
    )
    args = parser.parse_args(argv)
    global LAYOUT
    LAYOUT = default_layout() if args.pin else None
    if LAYOUT is not None:
        pin(os.getpid(), LAYOUT.server)
    import logging

    logging.basicConfig(level=logging.WARNING)
    results: dict[str, dict[str, Any]] = {}
    for name, run in RUNS.items():
        if args.only and name not in args.only:
            continue
        samples: list[dict[str, Any]] = [asyncio.run(run(args)) for _ in range(args.repeats)]
        best = dict(samples[0])
        for key in ("updates_per_s", "cpu_ms_per_update", "fake_cpu_ms_per_update"):
            best[key] = statistics.median(s[key] for s in samples)
        best["order_kept"] = all(s["order_kept"] for s in samples)
        best["replied"] = min(s["replied"] for s in samples)
        results[name] = best
    cores: object = LAYOUT.describe() if LAYOUT is not None else "not pinned"
    for result in results.values():
        result["cores"] = cores
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    base = results.get("echo, one at a time", {}).get("updates_per_s")
    print(
        f"Telegram throughput: {args.chats} chats x {args.per_chat}, Bot API answers in "
        f"{args.delay_ms:g} ms (own process), limiter {args.rate:g}/s, concurrency "
        f"{args.concurrency}, connections {args.connections}, FAQ semantic {args.faq_semantic}"
    )
    print(
        f"{'set-up':24} {'updates/s':>10} {'x echo 1-at-a-time':>19} "
        f"{'bot CPU ms/upd':>15} {'fake CPU ms/upd':>16} order"
    )
    for name, r in results.items():
        ratio = f"{r['updates_per_s'] / base:.1f}x" if base else "-"
        print(
            f"{name:24} {r['updates_per_s']:>10} {ratio:>19} {r['cpu_ms_per_update']:>15} "
            f"{r['fake_cpu_ms_per_update']:>16} {'kept' if r['order_kept'] else 'BROKEN'}"
            + ("" if r["replied"] == r["updates"] else f"  ({r['replied']}/{r['updates']})")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
