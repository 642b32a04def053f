"""API tokens and the principal a request acts as.

A token (``sanad tokens create --role editor --name NAME``) is shown once and stored as a SHA-256
hash. Roles: ``editor`` (FAQ), ``supervisor`` (reports, tickets, agents' status), ``admin``
(everything, including agents, canned replies and tokens), ``agent`` (the agent console only).
A token may belong to an agent (``agent_id``): that is what opens the console at ``/agent``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.events import record_event
from storage.models import Agent, ApiToken

ROLES = ("editor", "supervisor", "admin", "agent")
TOKEN_PREFIX = "sanad_"
# A token's "last used" is written at most this often: a console sends several requests a
# second, and a write per request made each one wait for the row lock of the agent's other
# requests (issue 15's line latency).
LAST_USED_EVERY = timedelta(minutes=1)


class AuthError(ValueError):
    """A token operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the token (by bearer or by a session opened with it) or the
    account (a session opened with its password)."""

    token_id: int | None
    name: str
    role: str
    via: str  # bearer | session
    csrf: str | None = None
    agent_id: int | None = None
    account_id: int | None = None

    def can(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


def secret_hash(raw: str) -> str:
    """How tokens, session ids and link keys are stored: never the raw value."""
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_token(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    at: datetime,
    agent_id: int | None = None,
    actor: str = "admin",
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
        token_hash=secret_hash(raw),
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
        actor=actor,
        token_id=row.id,
        role=role,
        name=name,
        agent_id=agent_id,
    )
    return row, raw


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars().all())


async def revoke_token(
    session: AsyncSession, token_id: int, at: datetime, actor: str = "admin"
) -> bool:
    row = await session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = at
    record_event(session, "token_revoked", at, actor=actor, token_id=token_id)
    return True


async def active_token(session: AsyncSession, raw: str) -> ApiToken | None:
    """The token row for a raw value, unless unknown or revoked."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    row = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == secret_hash(raw)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row


async def principal_from_bearer(db: Database, raw: str, at: datetime) -> Principal | None:
    async with db.transaction() as session:
        row = await active_token(session, raw.strip())
        if row is None:
            return None
        if row.last_used_at is None or at - row.last_used_at >= LAST_USED_EVERY:
            row.last_used_at = at
        return Principal(row.id, row.name, row.role, "bearer", agent_id=row.agent_id)


def csrf_ok(principal: Principal, given: str | None) -> bool:
    """Whether a state-changing request made with a session echoes its CSRF token."""
    return bool(principal.csrf and given and hmac.compare_digest(principal.csrf, given))


# ---------------------------------------------------------------------- from the web (admins)


@dataclass(frozen=True)
class TokenView:
    """A token as the People page lists it (never its value)."""

    id: int
    name: str
    role: str
    prefix: str
    agent_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _admin_actor(by: Principal) -> str:
    if by.role != "admin":
        raise PermissionError("only an admin manages tokens")
    return f"web:{by.name}"[:64]


async def token_views(db: Database) -> list[TokenView]:
    async with db.transaction() as session:
        rows = await list_tokens(session)
    return [
        TokenView(
            r.id,
            r.name,
            r.role,
            r.prefix,
            r.agent_id,
            r.created_at,
            r.last_used_at,
            r.revoked_at is not None,
        )
        for r in rows
    ]


async def new_token(
    db: Database,
    by: Principal,
    *,
    name: str,
    role: str,
    at: datetime,
    agent_id: int | None = None,
) -> tuple[int, str]:
    """An admin creates a token from the web: (its id, the raw value, shown once)."""
    actor = _admin_actor(by)
    async with db.transaction() as session:
        row, raw = await create_token(
            session, name=name, role=role, at=at, agent_id=agent_id, actor=actor
        )
        return row.id, raw


async def end_token(db: Database, by: Principal, token_id: int, at: datetime) -> bool:
    actor = _admin_actor(by)
    async with db.transaction() as session:
        return await revoke_token(session, token_id, at, actor)
