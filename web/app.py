"""The aiohttp application: health check and the Telegram webhook endpoint.

The webhook route checks ``X-Telegram-Bot-Api-Secret-Token`` (403 when wrong), parses the update
and puts it on the PTB application's ``update_queue``, as in PTB's custom-webhook example.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from sanad.services import Services

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
TELEGRAM = web.AppKey("telegram", Application)
MAX_UPDATE_BYTES = 1024 * 1024


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return web.json_response(
        {"status": "ok", "database": services.db.backend, "articles": len(services.faq.index)}
    )


async def telegram_webhook(request: web.Request) -> web.Response:
    application = request.app.get(TELEGRAM)
    if application is None:
        return json_error(404, "the Telegram bot is not running in webhook mode")
    secret = request.app[SERVICES].settings.webhook_secret
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return json_error(403, "wrong or missing X-Telegram-Bot-Api-Secret-Token")
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return json_error(413, "update too large")
    try:
        data = json.loads(await request.read())
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("an update is a JSON object with an integer update_id")
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("malformed webhook update: %s", exc)
        return json_error(400, f"malformed update: {exc}")
    await application.update_queue.put(update)
    return web.json_response({"ok": True})


def create_app(services: Services, telegram: Application | None = None) -> web.Application:  # type: ignore[type-arg]
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[SERVICES] = services
    if telegram is not None:
        app[TELEGRAM] = telegram
    app.router.add_get("/healthz", healthz)
    app.router.add_post(services.settings.webhook_path, telegram_webhook)
    return app
