"""``FakeBotApi``: the aiohttp server on ``127.0.0.1`` (random free port) that routes
``/bot<token>/<method>`` to the ``_api_<method>`` of the modules it is made of, records every call
(``fake.calls``) and serves files at ``/file/bot<token>/<path>``; plus the ways to point PTB or
Sanad at it."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.bot_api.checks import ChecksApi
from tests.fakes.bot_api.commands import CommandsApi
from tests.fakes.bot_api.faults import FaultsApi
from tests.fakes.bot_api.model import JSON, ApiCall, ApiError, UploadedFile
from tests.fakes.bot_api.state import Signal
from tests.fakes.bot_api.updates import UpdatesApi
from tests.fakes.bot_api.users import UsersSide

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext._applicationbuilder import InitApplicationBuilder

_LOGGER = logging.getLogger(__name__)

# Parameters that are always strings (never JSON-decoded when they arrive form-encoded).
_STRING_PARAMS = frozenset(
    {
        "action",
        "callback_query_id",
        "caption",
        "document",
        "file_id",
        "language_code",
        "parse_mode",
        "photo",
        "secret_token",
        "text",
        "url",
    }
)

ApiMethod = Callable[[JSON, dict[str, UploadedFile]], Any]


class FakeBotApi(UsersSide, UpdatesApi, CommandsApi, FaultsApi, ChecksApi):
    """Fake Telegram Bot API server; see the package docstring for a tour."""

    def __init__(self, token: str = "123456789:TEST-token_for-FakeBotApi") -> None:
        super().__init__(token)
        # Seconds every call but getUpdates takes to answer (a far or busy Bot API server).
        self.response_delay_s = 0.0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # "sendmessage" -> ("sendMessage", bound _api_sendMessage): method names are case-blind.
        self._methods: dict[str, tuple[str, ApiMethod]] = {
            name.removeprefix("_api_").lower(): (name.removeprefix("_api_"), getattr(self, name))
            for name in dir(self)
            if name.startswith("_api_")
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on 127.0.0.1 on a random free port (see ``url``)."""
        if self._runner is not None:
            raise RuntimeError("FakeBotApi is already running")
        self._closing = False
        self._updates_signal = Signal()
        self._activity_signal = Signal()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Release pending long polls and shut the server down. Safe to call twice."""
        if self._runner is None:
            return
        self._closing = True
        self._notify_updates()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------- pointing PTB / Sanad here

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; PTB base_url is ``f"{url}/bot"``."""
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def sanad_env(self) -> dict[str, str]:
        """The settings that point Sanad's bot at this fake (``load_settings(env=...)``)."""
        return {
            "SANAD_TELEGRAM_TOKEN": self.token,
            "SANAD_TELEGRAM_BASE_URL": self.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": self.base_file_url,
        }

    def bot(self) -> Bot:
        """A ``telegram.Bot`` pointed at the fake (not initialised; use ``async with``)."""
        from telegram import Bot

        return Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url)

    def application_builder(self) -> InitApplicationBuilder:
        """An ``ApplicationBuilder`` with token, base_url and base_file_url already set."""
        from telegram.ext import ApplicationBuilder

        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    # ---------------------------------------------------------------- HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        key = request.match_info["method"].lower()
        if key != "getupdates" and key not in self._methods:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        params, files = await self._read_params(request)
        if key == "getupdates":
            return await self._handle_get_updates(params)

        method, handler = self._methods[key]
        if self.response_delay_s:
            await asyncio.sleep(self.response_delay_s)
        status = 200
        try:
            self._check_faults(method, params)
            body: JSON = {"ok": True, "result": handler(params, files)}
        except ApiError as exc:
            status, body = exc.code, exc.body()
        except Exception:
            status = 500
            error = traceback.format_exc()
            self.internal_errors.append(f"{method}: {error}")
            _LOGGER.error("FakeBotApi bug while handling %s:\n%s", method, error)
            body = {"ok": False, "error_code": 500, "description": "Internal Server Error (fake)"}
        self.calls.append(ApiCall(method, params, status, copy.deepcopy(body)))
        self._activity().notify()
        return web.json_response(body, status=status)

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        """The call's parameters as PTB sends them (form or multipart, files apart).

        Values are JSON-decoded but for string parameters (``"1001"`` -> 1001, ``"{...}"`` ->
        dict), so ``params["chat_id"]`` is an int and ``params["reply_markup"]`` a dict."""
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[name] = UploadedFile(
                        value.filename, value.content_type, value.file.read()
                    )
                else:
                    raw[name] = value
        params: JSON = {}
        for key, value in raw.items():
            params[key] = value
            if isinstance(value, str) and key not in _STRING_PARAMS:
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params, files
