"""The HTTP side of who may use Sanad: the session cookie, the principal a request carries,
role checks, same-origin and client address checks.

Tokens, sessions and login links themselves are domain code in :mod:`accounts` (the bot and the
CLI use them too); this module turns them into cookies, headers and HTTP errors.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlparse

from aiohttp import web

from accounts.sessions import (
    LINK_MINUTES,
    SESSION_DAYS,
    create_login_link,
    login_with_link,
    principal_from_cookie,
)
from accounts.tokens import Principal, principal_from_bearer
from app.services import Services

# Imported from here by the console (login_with_link) and the bot's /console (LINK_MINUTES,
# create_login_link): kept working until they import from accounts.sessions.
__all__ = [
    "COOKIE",
    "LINK_MINUTES",
    "PRINCIPAL",
    "Endpoint",
    "Handler",
    "Principal",
    "actor_of",
    "bearer_of",
    "client_ip",
    "create_login_link",
    "credential_principal",
    "handler",
    "is_https",
    "login_with_link",
    "principal_of",
    "require",
    "same_origin",
    "session_redirect",
]

COOKIE = "sanad_session"

PRINCIPAL = web.RequestKey("principal", Principal)


def session_redirect(cookie: str, target: str, *, secure: bool) -> web.HTTPFound:
    """The answer to a successful login: the session cookie (HttpOnly, SameSite=Strict,
    ``secure`` when the site is reached over https) and a redirect to ``target``."""
    response = web.HTTPFound(target)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=SESSION_DAYS * 86400,
        path="/",
    )
    return response


def same_origin(request: web.Request) -> bool:
    """A request a page of this site made (a browser sends ``Origin`` on WebSockets and
    posts). Cookies alone would let another site's page open a socket in a visitor's or an
    agent's browser; Sanad's own pages, the chat widget's frame included, pass."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser
    return urlparse(origin).netloc == request.host


def _trusted(address: str | None, proxies: tuple[str, ...]) -> bool:
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in proxies)


def client_ip(request: web.Request, proxies: tuple[str, ...]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the last
    address in ``X-Forwarded-For`` that is not one of the proxies (a client can write the
    header's first entries itself, never the ones its proxies append)."""
    peer = request.remote or "unknown"
    if not _trusted(peer, proxies):
        return peer
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    for address in reversed([a for a in forwarded if a]):
        if not _trusted(address, proxies):
            return address
    return peer


def is_https(request: web.Request, public_url: str, proxies: tuple[str, ...]) -> bool:
    """Whether the browser reaches Sanad over https: TLS here, an https SANAD_PUBLIC_URL, or
    a trusted proxy saying so (``X-Forwarded-Proto: https``)."""
    if request.secure or public_url.lower().startswith("https://"):
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and _trusted(request.remote, proxies)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise web.HTTPUnauthorized(reason="log in or send Authorization: Bearer TOKEN")
    return principal


def bearer_of(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if the request has one."""
    header = request.headers.get("Authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


async def credential_principal(request: web.Request, services: Services) -> Principal | None:
    """Who the credential ``request`` carries (a Bearer token, else the session cookie)
    stands for now: None without one, or once the token is revoked, the session ended or the
    account disabled. The auth middleware asks it for every request; a socket asks again
    before acting long after the request that opened it was checked."""
    now = services.clock.now()
    token = bearer_of(request)
    if token is not None:
        return await principal_from_bearer(services.db, token, now)
    if COOKIE in request.cookies:
        return await principal_from_cookie(services.db, request.cookies[COOKIE], now)
    return None


def actor_of(principal: Principal) -> str:
    """How events name a change made on the web."""
    return f"web:{principal.name}"[:64]


def require(request: web.Request, *roles: str) -> Principal:
    """The request's principal, if it has one of ``roles`` (admin has every role)."""
    principal = principal_of(request)
    if not principal.can(*roles):
        raise web.HTTPForbidden(
            reason=f"this needs the {' or '.join(roles)} role; your token is {principal.role}"
        )
    return principal


def own_tickets_only(request: web.Request) -> int | None:
    """Supervisors see every ticket; an agent sees the tickets they were assigned (their
    agent id is returned); anyone else may not open the ticket pages
    (nor search tickets)."""
    principal = principal_of(request)
    if principal.can("supervisor"):
        return None
    if principal.agent_id is not None:
        return principal.agent_id
    require(request, "supervisor")
    return None


Endpoint = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def handler(*roles: str) -> Callable[[Endpoint], Handler]:
    """An API handler for ``roles``: the role is checked first, then the handler gets the
    principal (a refusal becomes its JSON error in the error middleware)."""

    def wrap(fn: Endpoint) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            return await fn(request, require(request, *roles))

        run.__name__ = fn.__name__
        return run

    return wrap
