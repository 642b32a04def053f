"""Browser sessions and one-time login links.

The pages log in with a password (an account: :mod:`accounts.people`) or a token and get a
session whose id (the cookie's value) is stored hashed,
with a CSRF token that every form post and state-changing fetch must echo. An agent on Telegram
can also get a one-time login link (``/console``): the link's key is stored hashed, works once,
and expires after :data:`LINK_MINUTES`; it opens a session of the agent's account when they have
one (else of a console token made for them).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.tokens import Principal, active_token, create_token, secret_hash
from storage.db import Database
from storage.events import record_event
from storage.models import Account, Agent, ApiToken, LoginLink, WebSession

LINK_MINUTES = 10
SESSION_DAYS = 7


async def login(db: Database, raw: str, at: datetime) -> tuple[str, Principal] | None:
    """Open a browser session for a valid token: (cookie value, principal)."""
    async with db.transaction() as session:
        row = await active_token(session, raw.strip())
        if row is None:
            return None
        return await _open_session(session, row, at)


def _new_session(
    session: AsyncSession,
    at: datetime,
    *,
    token_id: int | None = None,
    account_id: int | None = None,
) -> tuple[str, str]:
    """A browser session (for a token or an account): the raw cookie and its CSRF token."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        WebSession(
            id_hash=secret_hash(cookie),
            token_id=token_id,
            account_id=account_id,
            csrf=csrf,
            created_at=at,
            expires_at=at + timedelta(days=SESSION_DAYS),
        )
    )
    return cookie, csrf


async def _open_session(
    session: AsyncSession, row: ApiToken, at: datetime
) -> tuple[str, Principal]:
    cookie, csrf = _new_session(session, at, token_id=row.id)
    row.last_used_at = at
    return cookie, Principal(row.id, row.name, row.role, "session", csrf, row.agent_id)


def _account_principal(account: Account, csrf: str) -> Principal:
    return Principal(
        None, account.name, account.role, "session", csrf, account.agent_id, account.id
    )


async def open_account_session(
    session: AsyncSession, account: Account, at: datetime
) -> tuple[str, Principal]:
    """A session for an account whose password (or link) was just checked."""
    cookie, csrf = _new_session(session, at, account_id=account.id)
    return cookie, _account_principal(account, csrf)


async def create_login_link(session: AsyncSession, agent_id: int, at: datetime) -> str:
    """A one-time key that logs ``agent_id`` into the console; the raw key is returned once."""
    key = secrets.token_urlsafe(32)
    session.add(
        LoginLink(
            key_hash=secret_hash(key),
            agent_id=agent_id,
            created_at=at,
            expires_at=at + timedelta(minutes=LINK_MINUTES),
        )
    )
    record_event(session, "login_link_created", at, actor=f"agent:{agent_id}", agent_id=agent_id)
    return key


async def new_login_link(db: Database, agent_id: int, at: datetime) -> str:
    """:func:`create_login_link` in a transaction of its own (Telegram's ``/console``)."""
    async with db.transaction() as session:
        return await create_login_link(session, agent_id, at)


async def login_with_link(db: Database, key: str, at: datetime) -> tuple[str, Principal] | None:
    """Use a login link (once, before it expires): a session for the agent's console token,
    created on first use."""
    async with db.transaction() as session:
        link = await session.get(LoginLink, secret_hash(key.strip()))
        if link is None or link.used_at is not None or link.expires_at <= at:
            return None
        agent = await session.get(Agent, link.agent_id)
        if agent is None:
            return None
        link.used_at = at
        account = (
            await session.execute(select(Account).where(Account.agent_id == agent.id))
        ).scalar_one_or_none()
        if account is not None:
            record_event(
                session, "login_link_used", at, actor=f"agent:{agent.id}", agent_id=agent.id
            )
            if account.disabled_at is not None:
                return None
            account.last_login_at = at
            return await open_account_session(session, account, at)
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
        found = await session.get(WebSession, secret_hash(cookie))
        if found is None or found.expires_at <= at:
            return None
        if found.account_id is not None:
            account = await session.get(Account, found.account_id)
            if account is None or account.disabled_at is not None:
                return None
            if account.role == "agent" and account.agent_id is None:
                return None  # their agent was removed
            return _account_principal(account, found.csrf)
        if found.token_id is None:
            return None
        row = await session.get(ApiToken, found.token_id)
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, row.name, row.role, "session", found.csrf, row.agent_id)


async def logout(db: Database, cookie: str) -> None:
    async with db.transaction() as session:
        found = await session.get(WebSession, secret_hash(cookie))
        if found is not None:
            await session.delete(found)
