"""API tokens, browser sessions and the checks every request goes through.

A token (``sanad tokens create --role editor --name NAME``) is shown once and stored as a SHA-256
hash. API clients send it as ``Authorization: Bearer``; the pages log in with it and get an
HttpOnly session cookie whose id is also stored hashed, with a CSRF token that every form post
and every state-changing fetch from a page must echo (``csrf_token`` field or ``X-CSRF-Token``
header). Roles: ``editor`` (FAQ), ``supervisor`` (reports, tickets, agents' status), ``admin``
(everything, including agents, canned replies and tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.events import record_event
from storage.models import ApiToken, WebSession

ROLES = ("editor", "supervisor", "admin")
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

    def can(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


PRINCIPAL = web.RequestKey("principal", Principal)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, name: str, role: str, at: datetime
) -> tuple[ApiToken, str]:
    """A new token; the raw value is returned once and never stored."""
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    name = name.strip()
    if not name:
        raise AuthError("a token needs a name (who or what uses it)")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name[:128], role=role, token_hash=_hash(raw), prefix=raw[:12], created_at=at
    )
    session.add(row)
    await session.flush()
    record_event(session, "token_created", at, actor="admin", token_id=row.id, role=role, name=name)
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
        return Principal(row.id, row.name, row.role, "bearer")


async def login(db: Database, raw: str, at: datetime) -> tuple[str, Principal] | None:
    """Open a browser session for a valid token: (cookie value, principal)."""
    async with db.transaction() as session:
        row = await _token(session, raw.strip())
        if row is None:
            return None
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
        return cookie, Principal(row.id, row.name, row.role, "session", csrf)


async def principal_from_cookie(db: Database, cookie: str, at: datetime) -> Principal | None:
    async with db.transaction() as session:
        found = await session.get(WebSession, _hash(cookie))
        if found is None or found.expires_at <= at:
            return None
        row = await session.get(ApiToken, found.token_id)
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, row.name, row.role, "session", found.csrf)


async def logout(db: Database, cookie: str) -> None:
    async with db.transaction() as session:
        found = await session.get(WebSession, _hash(cookie))
        if found is not None:
            await session.delete(found)


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
