"""Building the python-telegram-bot application that serves customers.

The bot talks to any Bot API server: Telegram's (the default), a self-hosted one, or the test
suite's fake, through ``SANAD_TELEGRAM_BASE_URL`` and ``SANAD_TELEGRAM_BASE_FILE_URL``. Flood
control (429) is absorbed by PTB's ``AIORateLimiter``, which waits ``retry_after`` and retries;
its overall rate (``SANAD_TELEGRAM_MAX_RATE``, 30 messages a second as Telegram asks) can be
raised for a self-hosted Bot API server. Updates from different chats are handled concurrently,
each chat's in order (:mod:`bot.updates`); at most ``SANAD_TELEGRAM_CONNECTIONS`` Bot API calls
are in flight at once (:mod:`bot.requests`).
"""

from __future__ import annotations

import logging

from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from app.services import Services
from bot import handlers
from bot.port import TelegramPort
from bot.requests import BoundedHTTPXRequest
from bot.updates import PerChatUpdateProcessor
from handoff.roster import TelegramRoster

log = logging.getLogger(__name__)

FLOOD_RETRIES = 5


def build_application(services: Services, *, webhook: bool | None = None) -> Application:  # type: ignore[type-arg]
    """A PTB application with Sanad's handlers, not yet initialised.

    With ``webhook`` (default: the configured mode) it has no updater: Sanad's own web server
    feeds ``application.update_queue`` from the webhook route.
    """
    settings = services.settings
    if not settings.telegram_token:
        raise ValueError("SANAD_TELEGRAM_TOKEN is empty")
    use_webhook = settings.telegram_mode == "webhook" if webhook is None else webhook
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=settings.telegram_max_rate,
                overall_time_period=1,
                max_retries=FLOOD_RETRIES,
            )
        )
        .concurrent_updates(PerChatUpdateProcessor(settings.telegram_concurrent_updates))
        .request(BoundedHTTPXRequest(settings.telegram_connections))
    )
    if use_webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["services"] = services
    # Who is an agent, from memory: a customer's update costs no read for it (handoff/roster.py).
    application.bot_data["roster"] = TelegramRoster(services.db, services.bus)
    services.ports.add_channel(handlers.CHANNEL, TelegramPort(application.bot, services))
    handlers.register(application)
    return application


async def start_application(application: Application, services: Services) -> None:  # type: ignore[type-arg]
    """Initialise and start: long polling, or register the webhook with the Bot API."""
    settings = services.settings
    await application.initialize()
    try:
        await application.bot.set_my_commands(handlers.commands())
    except Exception:  # the menu is a nicety; never fail start-up for it
        log.warning("could not set the bot's command menu", exc_info=True)
    await application.start()
    if application.updater is not None:
        await application.bot.delete_webhook()
        await application.updater.start_polling(
            allowed_updates=["message", "edited_message", "callback_query"]
        )
        log.info("bot @%s polling %s", application.bot.username, settings.telegram_base_url)
    else:
        await application.bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=["message", "edited_message", "callback_query"],
        )
        log.info("bot @%s receiving updates at %s", application.bot.username, settings.webhook_url)


async def stop_application(application: Application) -> None:  # type: ignore[type-arg]
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
