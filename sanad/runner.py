"""``sanad run``: the web server and the Telegram bot in one process, on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import TextIO

from aiohttp import web

from accounts.people import link_path, setup_link
from app.config import Settings
from app.services import Services
from base.logs import add_secret, install_redaction
from bot.app import build_application, start_application, stop_application
from web.app import create_app

log = logging.getLogger(__name__)

NO_TOKEN_HELP = """\
No Telegram bot token is set: customers are served in the web chat only.

To serve customers on Telegram:
  1. In Telegram, talk to @BotFather, send /newbot and follow its questions; it gives you a
     token like 123456789:AAE...
  2. Start Sanad with it:   SANAD_TELEGRAM_TOKEN=123456789:AAE... make run
     (or put telegram_token = "..." in a TOML file and run: sanad --config FILE run)

Sanad talks to any Bot API server. To use a self-hosted one (github.com/tdlib/telegram-bot-api):
  SANAD_TELEGRAM_BASE_URL=http://HOST:8081/bot
  SANAD_TELEGRAM_BASE_FILE_URL=http://HOST:8081/file/bot
Updates arrive by long polling by default; for a webhook set SANAD_TELEGRAM_MODE=webhook,
SANAD_WEBHOOK_URL=https://your.host/telegram/webhook and SANAD_WEBHOOK_SECRET=a-long-secret.
"""


async def keep_start_up_out_of_gc(services: Services) -> None:
    """Move what start-up made (modules, classes, ORM mappers, the FAQ index: all of it lives as
    long as the process) out of the cyclic garbage collector's sight, once at start and once
    the FAQ's background work is done (:func:`gc.freeze`).

    Why: a full collection walked all of it, about 60 ms at rest and 120-130 ms under load, and
    every chat of the process waited that long; in ``bench.scaleout`` these pauses were the
    slowest lines (issue 15). After the freeze a full collection walks only what was made
    since. Only for a process that serves (``sanad run``): frozen objects are never collected
    as cyclic garbage, so a test process must not call it."""
    gc.collect()
    gc.freeze()
    await services.faq.wait_idle()
    gc.collect()  # cheap now: only what was made since the first freeze
    gc.freeze()


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    ready: asyncio.Event | None = None,
    freeze_heap: bool = False,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM). ``freeze_heap``: a process that only
    serves (the CLI, the benchmarks' servers) keeps its start-up heap out of the garbage
    collector's full passes (:func:`keep_start_up_out_of_gc`)."""
    stop = stop or asyncio.Event()
    # Whoever set up logging (the CLI, an embedding program, a test): no secret reaches it.
    add_secret(settings.telegram_token, settings.webhook_secret)
    install_redaction()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    services = Services.create(settings)
    # The channel adapters register their ports before the handoff engine restores its state,
    # so offers re-armed or expired at start-up reach their agents.
    telegram = build_application(services) if settings.telegram_token else None
    if telegram is not None:
        await telegram.initialize()
    runner = web.AppRunner(create_app(services, telegram))
    await services.start()
    heap: asyncio.Task[None] | None = None
    if freeze_heap:
        heap = asyncio.create_task(keep_start_up_out_of_gc(services), name="sanad-heap")
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    host = "localhost" if settings.web_host in {"0.0.0.0", "127.0.0.1", "::"} else settings.web_host
    port = runner.addresses[0][1] if runner.addresses else settings.web_port
    if out is not None:
        base = f"http://{host}:{port}"
        public = settings.public_url.rstrip("/") or base
        setup = await setup_link(
            services.db, services.clock.now(), settings.account_link_hours, only_first=True
        )
        print(f"Sanad is running at {base}", file=out)
        print(f"  customer chat:  {base}/chat   (on your site: {base}/static/widget.js)", file=out)
        print(f"  agent console:  {base}/agent", file=out)
        print(f"  web console:    {base}/dashboard", file=out)
        if setup is not None:
            hours = f"{settings.account_link_hours:g}"
            print(
                "First start: create the first admin account (the link works once and expires "
                f"in {hours} h;\n  lost it? sanad admin setup-link makes another):\n"
                f"  {public}{link_path('setup', setup)}\n"
                "  Then invite your team from the People page (agents get the console), set an\n"
                "  agent Available, open the customer chat in another tab and ask for a person.\n"
                "  (API tokens for integrations: the People page, or sanad tokens create)",
                file=out,
            )
    try:
        if telegram is not None:
            await start_application(telegram, services)
            if out is not None:
                print(f"Telegram bot @{telegram.bot.username} is running", file=out)
        elif out is not None:
            print(NO_TOKEN_HELP, file=out)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        if heap is not None:
            heap.cancel()
        if telegram is not None:
            await stop_application(telegram)
        await runner.cleanup()
        await services.close()
