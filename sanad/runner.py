"""``sanad run``: the web server and the Telegram bot in one process, on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import TextIO

from aiohttp import web
from sqlalchemy.engine import make_url

from accounts.tokens import create_token
from app.config import Settings
from app.services import Services
from base.logs import add_secret, install_redaction
from bot.app import build_application, start_application, stop_application
from web.app import create_app

log = logging.getLogger(__name__)

FIRST_TOKENS_FILE = "sanad-first-start-tokens.txt"

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


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM)."""
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
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    host = "localhost" if settings.web_host in {"0.0.0.0", "127.0.0.1", "::"} else settings.web_host
    port = runner.addresses[0][1] if runner.addresses else settings.web_port
    if out is not None:
        base = f"http://{host}:{port}"
        first = await first_start(services)
        print(f"Sanad is running at {base}", file=out)
        print(f"  customer chat:  {base}/chat   (on your site: {base}/static/widget.js)", file=out)
        print(f"  agent console:  {base}/agent", file=out)
        print(f"  web console:    {base}/dashboard", file=out)
        if first is not None:
            admin, agent = first
            tokens = (
                f"  admin (dashboard, FAQ, agents): log in with: {admin}\n"
                f"  agent console ('Local agent'):  log in with: {agent}\n"
            )
            if _is_terminal(out):
                print(
                    "First start: two tokens were created; they are shown only this once.\n"
                    + tokens,
                    end="",
                    file=out,
                )
            else:  # a service's output ends in logs: the tokens go to a private file instead
                path = _token_file(settings)
                _write_private(path, "Sanad first start tokens (delete this file):\n" + tokens)
                print(
                    f"First start: two tokens were created and written to {path}\n"
                    "  (readable by this user only; read them, then delete the file)",
                    file=out,
                )
            print(
                "  Try it: open the customer chat in one tab and the agent console in another;\n"
                "  set the agent Available, then ask the chat for a person.\n"
                "  (more: sanad tokens create --role editor|supervisor|admin|agent --name NAME)",
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
        if telegram is not None:
            await stop_application(telegram)
        await runner.cleanup()
        await services.close()


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _token_file(settings: Settings) -> Path:
    """Next to the SQLite file, else in the working directory."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / FIRST_TOKENS_FILE
    return Path.cwd() / FIRST_TOKENS_FILE


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
        fh.write(text)


async def first_start(services: Services) -> tuple[str, str] | None:
    """On a database with no token at all: one admin token, and a local agent with its own
    token, so the whole flow can be tried in a browser at once. Returns the raw tokens."""
    from sqlalchemy import func, select

    from handoff.agents import add_agent
    from storage.models import ApiToken

    now = services.clock.now()
    async with services.db.transaction() as session:
        if (await session.execute(select(func.count(ApiToken.id)))).scalar_one():
            return None
        _, admin = await create_token(session, name="first admin", role="admin", at=now)
        agent = await add_agent(session, name="Local agent", at=now, capacity=2)
        _, agent_token = await create_token(
            session, name="local agent", role="agent", at=now, agent_id=agent.id
        )
    await services.handoff.resync()
    return admin, agent_token
