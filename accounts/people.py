"""People who log in with a password: accounts, and the one-time links that make them.

An **account** has a username (and optionally an email; either logs in), a password (an
argon2id hash: :mod:`accounts.passwords`), a role (``editor``, ``supervisor``, ``admin``,
``agent``) and, for an agent (or a supervisor who also takes chats), the ``agents`` row they
are: one account per agent. An admin **invites** a person from the web: a link that works once
and expires (``SANAD_ACCOUNT_LINK_HOURS``), where the invitee chooses a username and a
password and is logged in. A **reset** link (made by an admin for an account) works the same
way and ends the account's other sessions. The **setup** link makes the first admin (printed at
the first start, or by ``sanad admin setup-link``). Links are stored as hashes, like tokens.

Every change writes an event; every admin action checks that the actor is an admin
(:class:`NotAllowed`). Errors carry a texts key (:class:`AccountError`) so the pages say them in
the reader's language.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordRefused,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from accounts.sessions import open_account_session
from accounts.tokens import ROLES, Principal, secret_hash
from storage.db import Database
from storage.events import record_event
from storage.models import Account, AccountLink, Agent, WebSession

LINK_KINDS = ("setup", "invite", "reset")
AGENT_ROLES = ("agent", "supervisor")  # the roles that may be an agent (agent: must be)
USERNAME = re.compile(r"[\w.\-]{3,64}")
EMAIL = re.compile(r"[^@\s]{1,128}@[^@\s]{1,125}")


class AccountError(ValueError):
    """Something an account operation refuses; ``key`` is its text in the catalogue
    (``account.*``, ``password.*``), ``values`` fill it."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class NotAllowed(PermissionError):
    """The actor's role may not do this (only admins manage people)."""


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    email: str | None
    name: str
    role: str
    agent_id: int | None
    agent_name: str | None
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool


@dataclass(frozen=True)
class LinkView:
    """A link not used yet (it may have expired: ``expired``)."""

    id: int
    kind: str
    role: str
    name: str
    email: str | None
    agent_name: str | None
    username: str | None  # a reset's account
    created_by: str
    created_at: datetime
    expires_at: datetime
    expired: bool


@dataclass(frozen=True)
class LinkInfo:
    """What the page a link opens shows: what it is for, before it is used."""

    kind: str
    role: str
    name: str
    email: str | None
    username: str | None  # a reset: the account's username (not changeable)
    expires_at: datetime


@dataclass(frozen=True)
class AgentChoice:
    """An agent an invitation may be for (one without an account yet)."""

    id: int
    name: str
    role: str


def _admin(by: Principal) -> str:
    """The actor's name for events, if they are an admin."""
    if by.role != "admin":
        raise NotAllowed("only an admin manages people, invitations and tokens")
    return f"web:{by.name}"[:64]


def clean_username(raw: str) -> str:
    username = raw.strip().casefold()
    if not USERNAME.fullmatch(username):
        raise AccountError("account.bad_username")
    return username


def clean_email(raw: str | None) -> str | None:
    email = (raw or "").strip().casefold()
    if not email:
        return None
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise AccountError("account.bad_email")
    return email


async def _email_free(session: AsyncSession, email: str | None, but: int | None = None) -> None:
    if email is None:
        return
    found = (
        await session.execute(select(Account.id).where(Account.email == email))
    ).scalar_one_or_none()
    if found is not None and found != but:
        raise AccountError("account.email_taken")


async def check_email_free(db: Database, email: str | None) -> None:
    """Raise :class:`AccountError` for an email that is malformed or another account's."""
    async with db.transaction() as session:
        await _email_free(session, clean_email(email))


async def _new_link(
    session: AsyncSession,
    *,
    kind: str,
    role: str,
    at: datetime,
    hours: float,
    actor: str,
    name: str = "",
    email: str | None = None,
    agent_id: int | None = None,
    account_id: int | None = None,
) -> str:
    key = secrets.token_urlsafe(32)
    row = AccountLink(
        key_hash=secret_hash(key),
        kind=kind,
        role=role,
        name=name[:128],
        email=email,
        agent_id=agent_id,
        account_id=account_id,
        created_by=actor,
        created_at=at,
        expires_at=at + timedelta(hours=hours),
    )
    session.add(row)
    await session.flush()
    record_event(
        session,
        f"account_{kind}_link_created",
        at,
        actor=actor,
        link_id=row.id,
        role=role,
        agent_id=agent_id,
        account_id=account_id,
        expires_at=row.expires_at.isoformat(),
    )
    return key


def link_path(kind: str, key: str) -> str:
    """Where a link's key is used: ``/setup/KEY``, ``/invite/KEY``, ``/reset/KEY``."""
    return f"/{kind}/{key}"


# ---------------------------------------------------------------------- links made


async def setup_link(db: Database, at: datetime, hours: float, *, only_first: bool) -> str | None:
    """A link that makes an admin account. ``only_first``: only while no account exists at all
    (the first start), else None; without it (``sanad admin setup-link``, run on the server) a
    new one each time."""
    async with db.transaction() as session:
        if only_first and (await session.execute(select(func.count(Account.id)))).scalar_one():
            return None
        return await _new_link(
            session, kind="setup", role="admin", at=at, hours=hours, actor="system", name="admin"
        )


async def invite(
    db: Database,
    by: Principal,
    *,
    role: str,
    name: str,
    at: datetime,
    hours: float,
    email: str | None = None,
    agent_id: int | None = None,
) -> str:
    """An invitation for a person with ``role`` (an agent: for ``agent_id``, an agent without
    an account). Returns the raw key, shown once."""
    actor = _admin(by)
    if role not in ROLES:
        raise AccountError("account.bad_role")
    name = name.strip()
    if role == "agent" and agent_id is None:
        raise AccountError("account.needs_agent")
    if agent_id is not None and role not in AGENT_ROLES:
        raise AccountError("account.agent_role")
    email = clean_email(email)
    async with db.transaction() as session:
        if agent_id is not None:
            agent = await session.get(Agent, agent_id)
            if agent is None:
                raise AccountError("account.no_agent")
            if await _account_of_agent(session, agent_id) is not None:
                raise AccountError("account.agent_has_account")
            name = name or agent.name
        if not name:
            raise AccountError("account.needs_name")
        await _email_free(session, email)
        return await _new_link(
            session,
            kind="invite",
            role=role,
            at=at,
            hours=hours,
            actor=actor,
            name=name,
            email=email,
            agent_id=agent_id,
        )


async def reset_link(
    db: Database, by: Principal, account_id: int, at: datetime, hours: float
) -> str:
    """A link that sets a new password for the account (and ends its sessions when used)."""
    actor = _admin(by)
    async with db.transaction() as session:
        account = await session.get(Account, account_id)
        if account is None:
            raise AccountError("account.not_found")
        return await _new_link(
            session,
            kind="reset",
            role=account.role,
            at=at,
            hours=hours,
            actor=actor,
            name=account.name,
            account_id=account.id,
        )


async def revoke_link(db: Database, by: Principal, link_id: int, at: datetime) -> bool:
    """End a link nobody used yet (an invitation sent to the wrong person)."""
    actor = _admin(by)
    async with db.transaction() as session:
        ended = await session.execute(
            update(AccountLink)
            .where(AccountLink.id == link_id, AccountLink.used_at.is_(None))
            .values(used_at=at)
        )
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            return False
        record_event(session, "account_link_revoked", at, actor=actor, link_id=link_id)
        return True


# ---------------------------------------------------------------------- links used


async def _usable(session: AsyncSession, key: str, at: datetime) -> AccountLink | None:
    if not key or len(key) > 128:
        return None
    link = (
        await session.execute(select(AccountLink).where(AccountLink.key_hash == secret_hash(key)))
    ).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= at:
        return None
    return link


async def link_info(db: Database, key: str, kind: str, at: datetime) -> LinkInfo | None:
    """What an unused, unexpired link of ``kind`` is for; None for any other key."""
    async with db.transaction() as session:
        link = await _usable(session, key, at)
        if link is None or link.kind != kind:
            return None
        username = None
        if link.account_id is not None:
            account = await session.get(Account, link.account_id)
            username = account.username if account is not None else None
        return LinkInfo(link.kind, link.role, link.name, link.email, username, link.expires_at)


async def accept_link(
    db: Database,
    key: str,
    kind: str,
    *,
    password: str,
    at: datetime,
    username: str = "",
    email: str | None = None,
) -> tuple[str, Principal]:
    """Use a link once: a new account (setup, invite: with ``username`` and ``password``) or a
    new password (reset), and a session for it: (cookie value, principal). The link is spent
    by a compare-and-set, so of two uses at once exactly one succeeds."""
    async with db.transaction() as session:
        link = await _usable(session, key, at)
        if link is None or link.kind != kind:
            raise AccountError("account.link_invalid")
        if link.account_id is not None:
            account = await session.get(Account, link.account_id)
            if account is None:
                raise AccountError("account.link_invalid")
            username, email = account.username, account.email
        else:
            username = clean_username(username)
            email = clean_email(email) if email is not None else link.email
    try:
        check_password(password, username=username, email=email)
    except PasswordRefused as exc:
        raise AccountError(exc.key, min=MIN_LENGTH) from None
    hashed = await hash_password(password)  # no transaction open meanwhile
    try:
        return await _spend(db, key, kind, username, email, hashed, at)
    except IntegrityError:  # the same username or email taken at the same moment
        raise AccountError("account.username_taken") from None


async def _spend(
    db: Database, key: str, kind: str, username: str, email: str | None, hashed: str, at: datetime
) -> tuple[str, Principal]:
    async with db.transaction() as session:
        spent = await session.execute(
            update(AccountLink)
            .where(
                AccountLink.key_hash == secret_hash(key),
                AccountLink.kind == kind,
                AccountLink.used_at.is_(None),
                AccountLink.expires_at > at,
            )
            .values(used_at=at)
            .returning(AccountLink.id)
        )
        link_id = spent.scalar_one_or_none()
        if link_id is None:
            raise AccountError("account.link_invalid")
        link = await session.get(AccountLink, link_id)
        assert link is not None
        if kind == "reset":
            account = await session.get(Account, link.account_id)
            if account is None:
                raise AccountError("account.link_invalid")
            account.password_hash = hashed
            account.password_changed_at = at
            await session.execute(delete(WebSession).where(WebSession.account_id == account.id))
            record_event(
                session,
                "account_password_reset",
                at,
                actor=f"account:{account.username}"[:64],
                account_id=account.id,
                link_id=link_id,
            )
        else:
            account = await _create_account(session, link, username, email, hashed, at)
        if account.disabled_at is not None:
            raise AccountError("account.disabled")
        account.last_login_at = at
        return await open_account_session(session, account, at)


async def _create_account(
    session: AsyncSession,
    link: AccountLink,
    username: str,
    email: str | None,
    hashed: str,
    at: datetime,
) -> Account:
    taken = (
        await session.execute(select(Account.id).where(Account.username == username))
    ).scalar_one_or_none()
    if taken is not None:
        raise AccountError("account.username_taken")
    await _email_free(session, email)
    if link.agent_id is not None and await _account_of_agent(session, link.agent_id) is not None:
        raise AccountError("account.agent_has_account")
    if link.role == "agent" and link.agent_id is None:
        raise AccountError("account.link_invalid")  # its agent was removed
    account = Account(
        username=username,
        email=email,
        name=link.name or username,
        role=link.role,
        password_hash=hashed,
        agent_id=link.agent_id,
        created_at=at,
        password_changed_at=at,
    )
    session.add(account)
    await session.flush()
    record_event(
        session,
        "account_created",
        at,
        actor=f"account:{username}"[:64],
        account_id=account.id,
        role=account.role,
        agent_id=account.agent_id,
        link_id=link.id,
        via=link.kind,
        invited_by=link.created_by,
    )
    return account


async def _account_of_agent(session: AsyncSession, agent_id: int) -> Account | None:
    return (
        await session.execute(select(Account).where(Account.agent_id == agent_id))
    ).scalar_one_or_none()


# ---------------------------------------------------------------------- logging in


async def authenticate(
    db: Database, login: str, password: str, at: datetime
) -> tuple[str, Principal] | None:
    """Log in with a username (or email) and a password: (cookie value, principal), or None
    for a wrong pair, a disabled account, or an agent account whose agent was removed. An
    unknown username costs the same argon2 verification as a known one."""
    login = login.strip().casefold()[:254]
    async with db.transaction() as session:
        account = None
        if login:
            found = await session.execute(
                select(Account).where(or_(Account.username == login, Account.email == login))
            )
            account = found.scalar_one_or_none()
        stored = account.password_hash if account is not None else None
    if not await verify_password(stored, password[:MAX_LENGTH]) or account is None:
        return None
    if account.disabled_at is not None or (account.role == "agent" and account.agent_id is None):
        return None
    rehashed = await hash_password(password) if needs_rehash(account.password_hash) else None
    async with db.transaction() as session:
        row = await session.get(Account, account.id)
        if row is None or row.disabled_at is not None:
            return None
        if rehashed is not None:
            row.password_hash = rehashed
        row.last_login_at = at
        record_event(session, "account_login", at, actor=f"account:{row.username}"[:64])
        return await open_account_session(session, row, at)


async def set_disabled(
    db: Database, by: Principal, account_id: int, disabled: bool, at: datetime
) -> None:
    """Disable (no login, its sessions end at once) or enable an account. An admin cannot
    disable their own account (there must stay someone to enable it)."""
    actor = _admin(by)
    if disabled and by.account_id == account_id:
        raise AccountError("account.not_yourself")
    async with db.transaction() as session:
        account = await session.get(Account, account_id)
        if account is None:
            raise AccountError("account.not_found")
        if (account.disabled_at is not None) == disabled:
            return
        account.disabled_at = at if disabled else None
        if disabled:
            await session.execute(delete(WebSession).where(WebSession.account_id == account.id))
        record_event(
            session,
            "account_disabled" if disabled else "account_enabled",
            at,
            actor=actor,
            account_id=account.id,
        )


# ---------------------------------------------------------------------- reads


async def accounts(db: Database) -> list[AccountView]:
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Account, Agent.name)
                .outerjoin(Agent, Agent.id == Account.agent_id)
                .order_by(Account.username)
            )
        ).all()
    return [
        AccountView(
            a.id,
            a.username,
            a.email,
            a.name,
            a.role,
            a.agent_id,
            agent_name,
            a.created_at,
            a.last_login_at,
            a.disabled_at is not None,
        )
        for a, agent_name in rows
    ]


async def pending_links(db: Database, at: datetime) -> list[LinkView]:
    """Links not used yet, newest first (expired ones too, marked, for a week)."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(AccountLink, Agent.name, Account.username)
                .outerjoin(Agent, Agent.id == AccountLink.agent_id)
                .outerjoin(Account, Account.id == AccountLink.account_id)
                .where(
                    AccountLink.used_at.is_(None),
                    AccountLink.expires_at > at - timedelta(days=7),
                )
                .order_by(AccountLink.id.desc())
            )
        ).all()
    return [
        LinkView(
            link.id,
            link.kind,
            link.role,
            link.name,
            link.email,
            agent_name,
            username,
            link.created_by,
            link.created_at,
            link.expires_at,
            link.expires_at <= at,
        )
        for link, agent_name, username in rows
    ]


async def agents_without_account(db: Database) -> list[AgentChoice]:
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Agent.id, Agent.name, Agent.role)
                .outerjoin(Account, Account.agent_id == Agent.id)
                .where(Account.id.is_(None))
                .order_by(Agent.name)
            )
        ).all()
    return [AgentChoice(i, n, r) for i, n, r in rows]
