"""API tokens, browser sessions and the checks every request goes through.

A token (``sanad tokens create --role editor --name NAME``) is shown once and stored as a SHA-256
hash. API clients send it as ``Authorization: Bearer``; the pages log in with it and get an
HttpOnly session cookie whose id is also stored hashed, with a CSRF token that every form post
and every state-changing fetch from a page must echo (``csrf_token`` field or ``X-CSRF-Token``
header). Roles: ``editor`` (FAQ), ``supervisor`` (reports, tickets, agents' status), ``admin``
(everything, including agents, canned replies and tokens), ``agent`` (the agent console only).
A token may belong to an agent (``agent_id``): that is what opens the console at ``/agent``.
An agent on Telegram can also get a one-time login link (``/console``): the link's key is
stored hashed, works once, and expires after :data:`LINK_MINUTES`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.events import record_event
from storage.models import Agent, ApiToken, LoginLink, WebSession

ROLES = ("editor", "supervisor", "admin", "agent")
LINK_MINUTES = 10
TOKEN_PREFIX = "sanad_"
COOKIE = "sanad_session"
SESSION_DAYS = 7


class AuthError(ValueError):
    """A token operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: str
    via: str  # bearer | session
    csrf: str | None = None
    agent_id: int | None = None

    def can(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


PRINCIPAL = web.RequestKey("principal", Principal)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, name: str, role: str, at: datetime, agent_id: int | None = None
) -> tuple[ApiToken, str]:
    """A new token; the raw value is returned once and never stored. An ``agent`` token
    belongs to an agent (``agent_id``); a supervisor's or admin's may too."""
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    name = name.strip()
    if not name:
        raise AuthError("a token needs a name (who or what uses it)")
    if role == "agent" and agent_id is None:
        raise AuthError("an agent token needs the agent it belongs to (--agent ID)")
    if agent_id is not None and await session.get(Agent, agent_id) is None:
        raise AuthError(f"there is no agent {agent_id} (sanad agents list)")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name[:128],
        role=role,
        token_hash=_hash(raw),
        prefix=raw[:12],
        created_at=at,
        agent_id=agent_id,
    )
    session.add(row)
    await session.flush()
    record_event(
        session,
        "token_created",
        at,
        actor="admin",
        token_id=row.id,
        role=role,
        name=name,
        agent_id=agent_id,
    )
    return row, raw


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars().all())


async def revoke_token(session: AsyncSession, token_id: int, at: datetime) -> bool:
    row = await session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = at
    record_event(session, "token_revoked", at, actor="admin", token_id=token_id)
    return True


async def _token(session: AsyncSession, raw: str) -> ApiToken | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    row = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == _hash(raw)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row


async def principal_from_bearer(db: Database, raw: str, at: datetime) -> Principal | None:
    async with db.transaction() as session:
        row = await _token(session, raw.strip())
        if row is None:
            return None
        row.last_used_at = at
        return Principal(row.id, row.name, row.role, "bearer", agent_id=row.agent_id)


async def login(db: Database, raw: str, at: datetime) -> tuple[str, Principal] | None:
    """Open a browser session for a valid token: (cookie value, principal)."""
    async with db.transaction() as session:
        row = await _token(session, raw.strip())
        if row is None:
            return None
        return await _open_session(session, row, at)


async def _open_session(
    session: AsyncSession, row: ApiToken, at: datetime
) -> tuple[str, Principal]:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        WebSession(
            id_hash=_hash(cookie),
            token_id=row.id,
            csrf=csrf,
            created_at=at,
            expires_at=at + timedelta(days=SESSION_DAYS),
        )
    )
    row.last_used_at = at
    return cookie, Principal(row.id, row.name, row.role, "session", csrf, row.agent_id)


async def create_login_link(session: AsyncSession, agent_id: int, at: datetime) -> str:
    """A one-time key that logs ``agent_id`` into the console; the raw key is returned once."""
    key = secrets.token_urlsafe(32)
    session.add(
        LoginLink(
            key_hash=_hash(key),
            agent_id=agent_id,
            created_at=at,
            expires_at=at + timedelta(minutes=LINK_MINUTES),
        )
    )
    record_event(session, "login_link_created", at, actor=f"agent:{agent_id}", agent_id=agent_id)
    return key


async def login_with_link(db: Database, key: str, at: datetime) -> tuple[str, Principal] | None:
    """Use a login link (once, before it expires): a session for the agent's console token,
    created on first use."""
    async with db.transaction() as session:
        link = await session.get(LoginLink, _hash(key.strip()))
        if link is None or link.used_at is not None or link.expires_at <= at:
            return None
        agent = await session.get(Agent, link.agent_id)
        if agent is None:
            return None
        link.used_at = at
        row = (
            await session.execute(
                select(ApiToken)
                .where(
                    ApiToken.agent_id == agent.id,
                    ApiToken.name == "console login link",
                    ApiToken.revoked_at.is_(None),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            row, _ = await create_token(
                session, name="console login link", role="agent", at=at, agent_id=agent.id
            )
        record_event(session, "login_link_used", at, actor=f"agent:{agent.id}", agent_id=agent.id)
        return await _open_session(session, row, at)


async def principal_from_cookie(db: Database, cookie: str, at: datetime) -> Principal | None:
    async with db.transaction() as session:
        found = await session.get(WebSession, _hash(cookie))
        if found is None or found.expires_at <= at:
            return None
        row = await session.get(ApiToken, found.token_id)
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, row.name, row.role, "session", found.csrf, row.agent_id)


async def logout(db: Database, cookie: str) -> None:
    async with db.transaction() as session:
        found = await session.get(WebSession, _hash(cookie))
        if found is not None:
            await session.delete(found)


def session_redirect(request: web.Request, cookie: str, target: str) -> web.HTTPFound:
    """The answer to a successful login: the session cookie (HttpOnly, SameSite=Strict,
    Secure when the site is reached over https) and a redirect to ``target``."""
    from web.app import https

    secure = https(request)
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


def csrf_ok(principal: Principal, given: str | None) -> bool:
    return bool(principal.csrf and given and hmac.compare_digest(principal.csrf, given))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise web.HTTPUnauthorized(reason="log in or send Authorization: Bearer TOKEN")
    return principal


def require(request: web.Request, *roles: str) -> Principal:
    """The request's principal, if it has one of ``roles`` (admin has every role)."""
    principal = principal_of(request)
    if not principal.can(*roles):
        raise web.HTTPForbidden(
            reason=f"this needs the {' or '.join(roles)} role; your token is {principal.role}"
        )
    return principal
