"""What the web adapter's modules share about a request: the app's keys (the services, the
Telegram application, the templates), the page language, the menu, rendering a page, the
client's address and the login throttle. ``web/app.py`` assembles the application from the
route modules; they import this module, never ``web/app.py`` (so the package has no cycle).
"""

from __future__ import annotations

import math
from typing import Any

import jinja2
from aiohttp import web
from telegram.ext import Application

import texts
from accounts.tokens import Principal
from app.services import Services
from web.auth import PRINCIPAL, client_ip, is_https

SERVICES = web.AppKey("services", Services)

TELEGRAM = web.AppKey("telegram", Application)

JINJA = web.AppKey("jinja", jinja2.Environment)

# The menu: each page with the roles that may open it ("agent" here means any principal that
# belongs to an agent: the console, and their own past tickets). A page a role cannot open is
# not shown to it.
NAV = (
    ("console", "/agent", ("agent",)),
    ("dashboard", "/dashboard", ("supervisor",)),
    ("faq", "/faq", ("editor",)),
    ("gaps", "/gaps", ("editor", "supervisor")),
    ("agents", "/agents", ("supervisor",)),
    ("tickets", "/tickets", ("supervisor", "agent")),
    ("customers", "/customers", ("supervisor",)),
    ("people", "/people", ("admin",)),
    ("webhooks", "/webhooks", ("admin",)),
)

LANG_COOKIE = "sanad_lang"


def https(request: web.Request) -> bool:
    """Whether cookies get ``Secure``: TLS here, an https SANAD_PUBLIC_URL, or a trusted
    proxy's ``X-Forwarded-Proto: https``."""
    settings = request.app[SERVICES].settings
    return is_https(request, settings.public_url, settings.trusted_proxies)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


def is_api(request: web.Request) -> bool:
    """Machine clients: errors in JSON, no redirect to the login page."""
    return request.path.startswith(("/api/", "/chat/upload")) or request.path == "/metrics"


def request_lang(request: web.Request, default: str = "en") -> str:
    """?lang= wins (and is remembered in a cookie), then the cookie, then the default."""
    lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or default
    return lang if lang in texts.LANGS else "en"


def nav_for(principal: Principal | None) -> list[tuple[str, str]]:
    """The menu entries ``principal`` may open (none when not logged in)."""
    if principal is None:
        return []
    entries = []
    for key, href, roles in NAV:
        as_agent = "agent" in roles and principal.agent_id is not None
        others = [r for r in roles if r != "agent"]
        if as_agent or (others and principal.can(*others)):
            entries.append((key, href))
    return entries


def render(
    request: web.Request, template: str, http_status: int = 200, **context: Any
) -> web.Response:
    """A page in the request's language, with the nav, the principal, ``t()`` (a text of the
    catalogue, filled), ``tpl()`` (unfilled, for the page's script), ``v()`` and ``dur()``."""
    services = request.app[SERVICES]
    lang = request_lang(request, services.settings.default_language)
    env = request.app[JINJA]
    context.setdefault("active", None)
    html = env.get_template(template).render(
        lang=lang,
        t=lambda key, **values: texts.text(key, lang, **values),
        tpl=lambda key: texts.template(key, lang),
        v=lambda kind, stored: texts.value(kind, stored, lang),
        dur=lambda seconds: texts.duration(seconds, lang),
        principal=request.get(PRINCIPAL),
        nav=nav_for(request.get(PRINCIPAL)),
        request=request,
        **context,
    )
    response = web.Response(text=html, status=http_status, content_type="text/html")
    if "lang" in request.query and request.query["lang"] in ("en", "ar"):
        response.set_cookie(
            LANG_COOKIE,
            request.query["lang"],
            max_age=365 * 86400,
            samesite="Lax",
            secure=https(request),
        )
    return response


def address_of(request: web.Request) -> str:
    """The client's IP address (behind a trusted proxy: the one it forwarded)."""
    return client_ip(request, request.app[SERVICES].settings.trusted_proxies)


def login_throttle(request: web.Request, username: str | None = None) -> None:
    """Too many wrong logins from this address (or, given, for this username): a 429 until
    the window ends."""
    wait = request.app[SERVICES].flood.login_wait(address_of(request), username)
    if wait > 0:
        raise web.HTTPTooManyRequests(
            reason=f"too many failed logins from your address or for this user; try again in "
            f"{max(1, math.ceil(wait / 60))} min",
            headers={"Retry-After": str(math.ceil(wait))},
        )
