"""The aiohttp application: health check, Telegram webhook, the JSON API under ``/api/v1`` and
the server-rendered pages.

Every request goes through two middlewares: errors (JSON for the API with a clear message and
the right status, an HTML page otherwise) and authentication (a Bearer token or a session
cookie; CSRF checked on state-changing requests made with the cookie). Only ``/healthz``,
``/metrics`` (unless turned off), the Telegram webhook (which checks its own secret), ``/login``
and ``/static`` answer without a token.

Route modules each expose ``register(app)`` and, for the API, ``OPENAPI_PATHS``; the OpenAPI
document at ``/api/v1/openapi.json`` is their union.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import WSCloseCode, web
from aiohttp.http_exceptions import HttpProcessingError
from telegram import Update
from telegram.ext import Application

import texts
from accounts.people import authenticate
from accounts.sessions import login, logout
from accounts.tokens import csrf_ok
from app.services import Services, refused_value
from base.logs import log_context
from web.auth import COOKIE, PRINCIPAL, Handler, bearer_of, credential_principal, session_redirect
from web.inputs import IMPORT_BODY_BYTES, body_limit, check_text, parse_json, path_ids_ok
from web.openapi import complete_path_parameters
from web.pages_people import landing
from web.problem import Problem
from web.site import (
    JINJA,
    SERVICES,
    TELEGRAM,
    address_of,
    https,
    is_api,
    json_error,
    login_throttle,
    render,
    request_lang,
)
from web.webhook_sender import AiohttpSender

log = logging.getLogger(__name__)

ROUTE_MODULES = (
    "web.api_faq",
    "web.api_admin",
    "web.api_search",  # before web.api_reports: /api/v1/tickets/{ticket_id} would take it
    "web.api_reports",
    "web.api_webhooks",
    "web.api_staffing",
    "web.pages_faq",
    "web.pages_webhooks",
    "web.pages_reports",
    "web.api_customers",
    "web.pages_customers",
    "web.pages_people",
    "web.chat",
    "web.console",
    "web.console_socket",
    "web.ticket_actions",
)
READY_TIMEOUT_S = 3.0
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Open without a token: the customer chat (its visitor secret is its own credential) and the
# agent login link (its one-time key is).
PUBLIC_PATHS = (
    "/healthz",
    "/readyz",
    "/login",
    "/chat",
    "/chat/ws",
    "/chat/upload",
    "/agent/login",
)
# The one-time account links (web/pages_people.py): setup, invitation, password reset.
LINK_PATHS = ("/setup/", "/invite/", "/reset/")
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


# Scripts only from this site's files (no inline script, no eval); inline style attributes
# are allowed (the charts and a few layouts use them). The chat page alone may be framed, by
# any site: it is what the widget opens.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors "
)
FRAMEABLE = ("/chat",)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (pages, API, static files, errors), unless a handler set its own."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    framed = request.path in FRAMEABLE
    headers.setdefault("Content-Security-Policy", CSP + ("*" if framed else "'none'"))
    if not framed:
        headers.setdefault("X-Frame-Options", "DENY")


def _error(request: web.Request, status: int, message: str, **extra: Any) -> web.Response:
    if is_api(request):
        return web.json_response({"error": message, "status": status, **extra}, status=status)
    return render(request, "error.html", status, code=status, message=message)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not (is_api(request) or exc.status in (403, 404, 405, 413, 429)):
            raise
        message = (
            exc.reason if exc.text is None or exc.text.startswith(str(exc.status)) else exc.text
        )
        if exc.status == 413:
            message = "request body too large"
        response = _error(request, exc.status, message or exc.reason)
        for name in ("Allow", "Retry-After"):  # a 405 says what is allowed; a 429 when
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Problem as problem:
        return _error(request, problem.status, problem.message, **problem.extra)
    except RecursionError:
        return _error(request, 400, "the input is nested too deeply")
    except UnicodeEncodeError:
        return _error(request, 400, "the input is not valid Unicode text (a lone surrogate)")
    except Exception as exc:
        # The last line of defence: handlers check their fields first (naming them); a
        # value the database still refuses is the client's, not a server error.
        if refused_value(exc):
            log.warning("database refused a value on %s %s: %s", request.method, request.path, exc)
            return _error(request, 400, "a value is too long or out of range for the database")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(request, 500, "internal error; the server log has the details")


def _public(request: web.Request) -> bool:
    services = request.app[SERVICES]
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(("/static/", "/chat/files/")):
        return True  # a chat file checks who asks itself
    if path.startswith(LINK_PATHS):
        return True  # a one-time account link: its key is the credential
    if path == "/metrics" and services.settings.metrics_enabled:
        return True
    return request.method == "POST" and path == services.settings.webhook_path


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each route's body limit, enforced while the body is read (chunked too), and ids in
    paths that fit the database."""
    services = request.app[SERVICES]
    limit = body_limit(
        request.path,
        upload_max=int(services.settings.web_upload_max_mb * 1024 * 1024),
        webhook_path=services.settings.webhook_path,
    )
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if not path_ids_ok(dict(request.match_info)):
        raise web.HTTPNotFound(reason="no such id")
    bounded = request.clone(client_max_size=limit)
    for name, given in bounded.query.items():
        check_text(given, f"query parameter '{name}'", 4096)
    if bounded.method in UNSAFE and bounded.content_type in FORM_TYPES and not _streamed(bounded):
        try:
            form = await bounded.post()  # bounded by the limit; kept for the handler
        except (ValueError, AssertionError, HttpProcessingError) as exc:
            raise Problem(400, f"the form is malformed ({exc})") from None
        for field, entry in form.items():
            if isinstance(entry, str):
                check_text(entry, field)
    try:
        return await handler(bounded)
    finally:
        # The clone is a new request: who is logged in must reach the error page too (it
        # shows the menu of their role), which renders with the outer request.
        if PRINCIPAL in bounded:
            request[PRINCIPAL] = bounded[PRINCIPAL]


def _streamed(request: web.Request) -> bool:
    """Uploads read part by part, with their own bounds (web.inputs.read_upload)."""
    path = request.path
    return path == "/chat/upload" or (path.startswith("/api/v1/agent/") and path.endswith("/files"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = request.app[SERVICES]
    principal = await credential_principal(request, services)
    if principal is None and bearer_of(request) is not None and not _public(request):
        return json_error(401, "the Bearer token is unknown or revoked")
    if principal is not None:
        request[PRINCIPAL] = principal
    if _public(request):
        return await handler(request)
    if principal is None:
        if is_api(request):
            return json_error(401, "send Authorization: Bearer TOKEN (sanad tokens create)")
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    if principal.via == "session" and request.method in UNSAFE:
        given = request.headers.get("X-CSRF-Token")
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = str((await request.post()).get("csrf_token", ""))
        if not csrf_ok(principal, given):
            if is_api(request):
                return json_error(403, "missing or wrong CSRF token")
            raise web.HTTPForbidden(reason="missing or wrong CSRF token; reload the page")
    # On every line this request logs: who, and the ticket when the path names one.
    with log_context(agent_id=principal.agent_id, ticket_id=_ticket_in_path(request)):
        return await handler(request)


TICKET_PATHS = ("/api/v1/agent/chats/", "/api/v1/tickets/", "/tickets/")


def _ticket_in_path(request: web.Request) -> int | None:
    """The ticket a request is about, from its path (``/api/v1/agent/chats/7/...``)."""
    raw = request.match_info.get("ticket_id")
    if raw is None or not raw.isdigit() or not request.path.startswith(TICKET_PATHS):
        return None
    return int(raw)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers (it touches nothing else; see /readyz). ``faq_mode``
    and ``faq_settled`` say whether the FAQ matcher is still embedding its articles (it
    answers meanwhile, lexically): what a benchmark waits for before it measures."""
    services = request.app[SERVICES]
    faq = services.faq
    return web.json_response(
        {
            "status": "ok",
            "database": services.db.backend,
            "articles": len(faq.index),
            "faq_mode": faq.mode,
            "faq_settled": faq.settled,
        }
    )


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database takes a write (a read-only file, a full disk or a read-only
    replica fail here) and, when configured, the Telegram bot is running. 503 otherwise."""
    services = request.app[SERVICES]
    problems: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await services.db.check_write(services.clock.now())
    except TimeoutError:
        problems["database"] = f"no write within {READY_TIMEOUT_S:g} s"
    except Exception as exc:  # whatever the driver says, the answer is "not ready"
        log.warning("readiness: the database refused a write: %s", exc)
        problems["database"] = f"cannot write ({type(exc).__name__})"
    application = request.app.get(TELEGRAM)
    if services.settings.telegram_token and application is not None:
        updater = application.updater
        if not application.running or (updater is not None and not updater.running):
            problems["telegram"] = "the bot is not running"
    body: dict[str, Any] = {"status": "ready" if not problems else "not ready"}
    if problems:
        body["problems"] = problems
    return web.json_response(body, status=503 if problems else 200)


async def telegram_webhook(request: web.Request) -> web.Response:
    application = request.app.get(TELEGRAM)
    if application is None:
        return json_error(404, "the Telegram bot is not running in webhook mode")
    secret = request.app[SERVICES].settings.webhook_secret
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return json_error(403, "wrong or missing X-Telegram-Bot-Api-Secret-Token")
    try:
        data = parse_json(await request.read(), "update")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("an update is a JSON object with an integer update_id")
        update = Update.de_json(data, application.bot)
    except Problem as problem:
        log.warning("malformed webhook update: %s", problem.message)
        return json_error(400, f"malformed update: {problem.message}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("malformed webhook update: %s", exc)
        return json_error(400, f"malformed update: {exc}")
    await application.update_queue.put(update)
    return web.json_response({"ok": True})


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_safe_next(request.query.get("next")), error=None)


def _safe_next(value: str | None) -> str:
    """Only a local path: never redirect a logged-in user to another site. Browsers and
    aiohttp drop tabs and newlines and read a backslash as a slash, so ``/\t/evil`` or
    ``/\\evil`` would become ``//evil``: any control character, space or backslash is refused."""
    if (
        not value
        or len(value) > 2048
        or not value.startswith("/")
        or value.startswith("//")
        or any(c <= " " or c in "\\\x7f" for c in value)
    ):
        return "/dashboard"
    parsed = urlsplit(value)
    if parsed.scheme or parsed.netloc or parsed.path.startswith("//"):
        return "/dashboard"
    return value


async def login_post(request: web.Request) -> web.Response:
    """A username (or email) and password, or (``token`` in the form) an API token. Wrong
    logins are counted per address and, for passwords, per username (handoff/flood.py)."""
    form = await request.post()
    services = request.app[SERVICES]
    lang = request_lang(request, services.settings.default_language)
    target = _safe_next(str(form.get("next", "")))
    now = services.clock.now()
    if "token" in form:
        login_throttle(request)
        result = await login(services.db, str(form.get("token", "")), now)
        if result is None:
            services.flood.login_failed(address_of(request))
            error = texts.text("page.bad_token", lang)
            return render(request, "login.html", 401, next=target, error=error)
        raise session_redirect(result[0], target, secure=https(request))
    username = str(form.get("username", "")).strip()[:254]
    login_throttle(request, username)
    result = await authenticate(services.db, username, str(form.get("password", "")), now)
    if result is None:
        services.flood.login_failed(address_of(request), username)
        error = texts.text("page.bad_password", lang)
        return render(request, "login.html", 401, next=target, error=error, username=username)
    cookie, principal = result
    if target == "/dashboard" and not principal.can("supervisor"):
        target = landing(principal)  # an agent's or editor's first page, not a refusal
    raise session_redirect(cookie, target, secure=https(request))


async def logout_post(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if COOKIE in request.cookies:
        await logout(services.db, request.cookies[COOKIE])
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


def openapi_document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document: the route modules' paths and the schemas they refer to (generated
    from :mod:`web.shapes`)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sanad API",
            "version": "1",
            "description": "FAQ editing, knowledge gaps, support KPIs, tickets and agents. "
            "Authenticate with Authorization: Bearer TOKEN (sanad tokens create).",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                    "required": ["error", "status"],
                },
                **schemas,
            },
        },
        "security": [{"bearer": []}],
        "paths": complete_path_parameters(paths),
    }


def create_app(services: Services, telegram: Application | None = None) -> web.Application:  # type: ignore[type-arg]
    app = web.Application(
        client_max_size=IMPORT_BODY_BYTES,
        middlewares=[error_middleware, limits_middleware, auth_middleware],
    )
    app[SERVICES] = services
    app.on_response_prepare.append(security_headers)
    if services.webhooks.sender is None:  # the outgoing webhooks POST through aiohttp
        sender = AiohttpSender()
        services.webhooks.sender = sender

        async def close_sender(_app: web.Application) -> None:
            await services.webhooks.stop()
            await sender.close()

        app.on_cleanup.append(close_sender)
    if telegram is not None:
        app[TELEGRAM] = telegram
    app[JINJA] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post(services.settings.webhook_path, telegram_webhook)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout_post)
    app.router.add_get("/", home)
    app.router.add_static("/static/", STATIC)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        module.register(app)
        paths.update(getattr(module, "OPENAPI_PATHS", {}))
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    document = openapi_document(paths, schemas)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/v1/openapi.json", openapi)
    app.on_shutdown.append(close_sockets)
    return app


async def close_sockets(app: web.Application) -> None:
    """On shutdown, every open chat and console socket gets a going-away close frame (1001),
    so the server stops at once instead of waiting for their handlers to time out, and the
    pages know to reconnect to the next server."""
    from web.chat import CHAT_HUB
    from web.console import CONSOLE_HUB

    sockets = [
        ws
        for hub in (app.get(CHAT_HUB), app.get(CONSOLE_HUB))
        if hub is not None
        for group in list(hub.sockets.values())
        for ws in list(group)
    ]

    async def going_away(ws: web.WebSocketResponse) -> None:
        try:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        except (ConnectionError, RuntimeError) as exc:
            log.debug("closing a socket on shutdown failed: %s", exc)

    await asyncio.gather(*(going_away(ws) for ws in sockets))
