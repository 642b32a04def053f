"""Telegram throughput: updates a second from many chats against a Bot API that answers slowly.

The real python-telegram-bot application polls the fake Bot API (tests/fakes/bot_api/) on
loopback, which answers every call but getUpdates after ``--delay-ms`` (50 ms: a Bot API
server across the internet). ``--chats`` distinct customers each send ``--per-chat``
questions, queued at once; the clock runs from the first update queued to the last reply.

Four set-ups in the same run:

* ``echo, one at a time``: a bare echo bot as PTB ships it (``concurrent_updates(False)``),
  the ceiling any bot had before (~1 / delay);
* ``echo, per chat``: the same echo bot with Sanad's :class:`bot.updates.PerChatUpdateProcessor`;
* ``sanad, one at a time`` and ``sanad, per chat``: Sanad's real handlers (FAQ answer with
  "Did this help?" buttons, stored in SQLite), the rate limiter raised to ``--rate``.

Each reply's chat order is checked (a customer's answers arrive in the order asked). The fake
runs in the same process and event loop, so its CPU counts against Sanad's.

    python -m bench.telegram --chats 500 --per-chat 2 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from app.config import load_settings
from app.services import Services
from base.clock import SystemClock
from bot.app import build_application, start_application, stop_application
from bot.updates import PerChatUpdateProcessor
from tests.fakes.bot_api import FakeBotApi

QUESTIONS = (
    "how many days does delivery take?",
    "how do I return an item?",
    "which payment methods do you accept?",
)


async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None and update.effective_message.text:
        await update.effective_message.reply_text(update.effective_message.text)


async def _drive(fake: FakeBotApi, chats: int, per_chat: int, within: float) -> dict[str, Any]:
    """Queue every update at once; wait for one reply per update; check per-chat order."""
    users = [fake.user(10_000 + i, f"User {i}", language_code="en") for i in range(chats)]
    sent_before = len(fake.calls_to("sendMessage"))
    expected = chats * per_chat
    started = time.perf_counter()
    cpu0 = time.process_time()
    for round_ in range(per_chat):
        for user in users:
            fake.send_text(user, QUESTIONS[round_ % len(QUESTIONS)])
    deadline = started + within
    while len(fake.calls_to("sendMessage")) - sent_before < expected:
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    replies = fake.calls_to("sendMessage")[sent_before:]
    order_kept = True
    by_chat: dict[int, list[str]] = {}
    for call in replies:
        by_chat.setdefault(int(call["chat_id"]), []).append(str(call["text"]))
    for texts in by_chat.values():
        # Echo: the texts themselves; Sanad: the answers, whose first words tell the article.
        markers = ["deliver", "return", "pay"]
        seen = [next((m for m in markers if m in t.lower()), "?") for t in texts]
        wanted = [markers[i % len(QUESTIONS)] for i in range(len(texts))]
        order_kept &= seen == wanted
    done = len(replies)
    return {
        "updates": expected,
        "replied": done,
        "seconds": round(elapsed, 3),
        "updates_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "cpu_ms_per_update": round(1000 * cpu / max(done, 1), 2),
        "order_kept": order_kept,
    }


async def _echo_run(args: argparse.Namespace, concurrent: bool) -> dict[str, Any]:
    async with FakeBotApi() as fake:
        fake.response_delay_s = args.delay_ms / 1000
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
        )
        builder = builder.concurrent_updates(
            PerChatUpdateProcessor(args.concurrency) if concurrent else False
        )
        app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        app.add_handler(MessageHandler(filters.TEXT, _echo))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            return await _drive(fake, args.chats, args.per_chat, args.within)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


async def _sanad_run(args: argparse.Namespace, concurrent: bool) -> dict[str, Any]:
    async with FakeBotApi() as fake:
        fake.response_delay_s = args.delay_ms / 1000
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                env={
                    "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'tg.db'}",
                    **fake.sanad_env(),
                    "SANAD_TELEGRAM_MAX_RATE": str(args.rate),
                    "SANAD_TELEGRAM_CONCURRENT_UPDATES": str(args.concurrency if concurrent else 1),
                    "SANAD_LOG_LEVEL": "warning",
                }
            )
            services = Services.create(settings, SystemClock())
            app = build_application(services)
            await services.start()
            await start_application(app, services)
            try:
                return await _drive(fake, args.chats, args.per_chat, args.within)
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
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--within", type=float, default=120.0, help="give up after (s)")
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    results: dict[str, dict[str, Any]] = {}
    for name, run in RUNS.items():
        if args.only and name not in args.only:
            continue
        samples: list[dict[str, Any]] = [asyncio.run(run(args)) for _ in range(args.repeats)]
        best = samples[0]
        best["updates_per_s"] = statistics.median(s["updates_per_s"] for s in samples)
        best["order_kept"] = all(s["order_kept"] for s in samples)
        results[name] = best
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    base = results.get("echo, one at a time", {}).get("updates_per_s")
    print(
        f"Telegram throughput: {args.chats} chats x {args.per_chat}, Bot API answers in "
        f"{args.delay_ms:g} ms, limiter {args.rate:g}/s, concurrency {args.concurrency}"
    )
    print(f"{'set-up':24} {'updates/s':>10} {'x echo 1-at-a-time':>19} {'CPU ms/update':>14} order")
    for name, r in results.items():
        ratio = f"{r['updates_per_s'] / base:.1f}x" if base else "-"
        print(
            f"{name:24} {r['updates_per_s']:>10} {ratio:>19} {r['cpu_ms_per_update']:>14} "
            f"{'kept' if r['order_kept'] else 'BROKEN'}"
            + ("" if r["replied"] == r["updates"] else f"  ({r['replied']}/{r['updates']})")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
