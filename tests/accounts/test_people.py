"""Accounts in the core (accounts/people.py, accounts/passwords.py), on a SQLite file and on
PostgreSQL: argon2 hashing, invitations used once and expiring on the virtual clock, password
reset, disabled accounts, the per-username login limit, admin-only actions, events."""

from __future__ import annotations

import asyncio
from typing import Literal

import argon2
import pytest
from sqlalchemy import func, select

from accounts import passwords, people
from accounts.passwords import (
    HASHER,
    PasswordRefused,
    check_password,
    hash_password,
    verify_password,
)
from accounts.people import AccountError, NotAllowed
from accounts.sessions import login_with_link, new_login_link, principal_from_cookie
from accounts.tokens import Principal
from base.clock import VirtualClock
from handoff.agents import add_agent
from handoff.flood import FloodLimits, FloodPolicy
from storage.db import Database
from storage.models import Account, Event, WebSession

ADMIN = Principal(None, "Boss", "admin", "session", "csrf", None, None)
HOURS = 72.0
GOOD = "correct horse battery"


async def _agent(db: Database, clock: VirtualClock, name: str = "Sara") -> int:
    async with db.transaction() as session:
        agent = await add_agent(session, name=name, at=clock.now(), capacity=2)
        return agent.id


async def _events(db: Database, kind: str) -> int:
    async with db.transaction() as session:
        found = await session.execute(select(func.count(Event.id)).where(Event.kind == kind))
        return int(found.scalar_one())


async def test_passwords_are_argon2id_and_checked() -> None:
    stored = await hash_password(GOOD)
    assert stored.startswith("$argon2id$") and GOOD not in stored
    params = HASHER  # argon2-cffi's defaults (RFC 9106 low memory), documented in security.md
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
    assert await verify_password(stored, GOOD)
    assert not await verify_password(stored, GOOD + "!")
    assert not await verify_password(None, GOOD)  # no account: the decoy, never True
    assert not await verify_password("not a hash", GOOD)
    assert await hash_password(GOOD) != stored  # salted
    for password, rule in (
        ("short", "password.too_short"),
        ("sara.khalid", "password.is_username"),
        ("SARA@EXAMPLE.COM", "password.is_username"),
        ("x" * 2000, "password.too_long"),
    ):
        with pytest.raises(PasswordRefused) as refused:
            check_password(password, username="sara.khalid", email="sara@example.com")
        assert refused.value.key == rule
    check_password(GOOD, username="sara.khalid")


async def test_an_invitation_makes_an_agent_account_once(db: Database, clock: VirtualClock) -> None:
    agent_id = await _agent(db, clock)
    key = await people.invite(
        db, ADMIN, role="agent", name="", agent_id=agent_id, at=clock.now(), hours=HOURS
    )
    info = await people.link_info(db, key, "invite", clock.now())
    assert info is not None and info.role == "agent" and info.name == "Sara"
    assert await people.link_info(db, key, "reset", clock.now()) is None  # kind must match
    assert [a.id for a in await people.agents_without_account(db)] == [agent_id]

    cookie, principal = await people.accept_link(
        db, key, "invite", username="  Sara.K ", password=GOOD, at=clock.now()
    )
    assert principal.role == "agent" and principal.agent_id == agent_id
    assert principal.account_id is not None and principal.token_id is None
    again = await principal_from_cookie(db, cookie, clock.now())
    assert again is not None and again.account_id == principal.account_id and again.csrf

    with pytest.raises(AccountError) as used:
        await people.accept_link(db, key, "invite", username="other", password=GOOD, at=clock.now())
    assert used.value.key == "account.link_invalid"
    assert await people.link_info(db, key, "invite", clock.now()) is None
    accounts = await people.accounts(db)
    assert [(a.username, a.agent_name, a.role) for a in accounts] == [("sara.k", "Sara", "agent")]
    async with db.transaction() as session:
        stored = (await session.execute(select(Account.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$") and GOOD not in stored
    assert await _events(db, "account_invite_link_created") == 1
    assert await _events(db, "account_created") == 1
    assert await people.agents_without_account(db) == []
    with pytest.raises(AccountError) as twice:  # one account per agent
        await people.invite(
            db, ADMIN, role="agent", name="", agent_id=agent_id, at=clock.now(), hours=HOURS
        )
    assert twice.value.key == "account.agent_has_account"

    ok = await people.authenticate(db, "SARA.K", GOOD, clock.now())
    assert ok is not None and ok[1].agent_id == agent_id
    assert await people.authenticate(db, "sara.k", GOOD + "x", clock.now()) is None
    assert await people.authenticate(db, "nobody", GOOD, clock.now()) is None
    assert await _events(db, "account_login") == 1


async def test_two_uses_of_one_link_at_once_make_one_account(
    db: Database, clock: VirtualClock
) -> None:
    key = await people.invite(db, ADMIN, role="editor", name="Ed", at=clock.now(), hours=HOURS)
    results = await asyncio.gather(
        *(
            people.accept_link(db, key, "invite", username=f"ed{i}", password=GOOD, at=clock.now())
            for i in range(2)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, tuple) for r in results) == 1, results
    assert sum(isinstance(r, AccountError) for r in results) == 1
    assert len(await people.accounts(db)) == 1


async def test_links_expire_on_the_virtual_clock(db: Database, clock: VirtualClock) -> None:
    key = await people.invite(
        db,
        ADMIN,
        role="supervisor",
        name="Mona",
        email="Mona@Example.com",
        at=clock.now(),
        hours=HOURS,
    )
    clock.advance(HOURS * 3600 - 1)
    info = await people.link_info(db, key, "invite", clock.now())
    assert info is not None and info.email == "mona@example.com"
    clock.advance(1)
    assert await people.link_info(db, key, "invite", clock.now()) is None
    with pytest.raises(AccountError):
        await people.accept_link(db, key, "invite", username="mona", password=GOOD, at=clock.now())
    pending = await people.pending_links(db, clock.now())
    assert [(p.name, p.expired) for p in pending] == [("Mona", True)]
    assert await people.accounts(db) == []


async def test_reset_sets_a_new_password_and_ends_sessions(
    db: Database, clock: VirtualClock
) -> None:
    key = await people.setup_link(db, clock.now(), HOURS, only_first=True)
    assert key is not None
    cookie, admin = await people.accept_link(
        db, key, "setup", username="root", password=GOOD, at=clock.now()
    )
    assert admin.role == "admin"
    assert await people.setup_link(db, clock.now(), HOURS, only_first=True) is None
    assert await people.setup_link(db, clock.now(), HOURS, only_first=False) is not None

    assert admin.account_id is not None
    reset = await people.reset_link(db, admin, admin.account_id, clock.now(), HOURS)
    info = await people.link_info(db, reset, "reset", clock.now())
    assert info is not None and info.username == "root"
    with pytest.raises(AccountError) as short:
        await people.accept_link(db, reset, "reset", password="short", at=clock.now())
    assert short.value.key == "password.too_short" and short.value.values == {"min": 10}
    clock.advance(60)
    new_cookie, again = await people.accept_link(
        db, reset, "reset", password="a brand new secret", at=clock.now()
    )
    assert again.account_id == admin.account_id
    assert await principal_from_cookie(db, cookie, clock.now()) is None  # the old session
    assert await principal_from_cookie(db, new_cookie, clock.now()) is not None
    assert await people.authenticate(db, "root", GOOD, clock.now()) is None
    assert await people.authenticate(db, "root", "a brand new secret", clock.now()) is not None
    assert await _events(db, "account_password_reset") == 1


async def test_a_disabled_account_cannot_log_in_and_its_sessions_end(
    db: Database, clock: VirtualClock
) -> None:
    key = await people.invite(db, ADMIN, role="editor", name="Ed", at=clock.now(), hours=HOURS)
    cookie, ed = await people.accept_link(
        db, key, "invite", username="eddie", password=GOOD, at=clock.now()
    )
    assert ed.account_id is not None
    await people.set_disabled(db, ADMIN, ed.account_id, True, clock.now())
    assert await principal_from_cookie(db, cookie, clock.now()) is None
    assert await people.authenticate(db, "eddie", GOOD, clock.now()) is None
    async with db.transaction() as session:
        left = await session.execute(select(func.count()).select_from(WebSession))
        assert left.scalar_one() == 0
    await people.set_disabled(db, ADMIN, ed.account_id, False, clock.now())
    assert await people.authenticate(db, "eddie", GOOD, clock.now()) is not None
    assert await _events(db, "account_disabled") == 1 and await _events(db, "account_enabled") == 1
    me = Principal(None, "Me", "admin", "session", "c", None, ed.account_id)
    with pytest.raises(AccountError):  # not one's own
        await people.set_disabled(db, me, ed.account_id, True, clock.now())


async def test_only_admins_manage_people(db: Database, clock: VirtualClock) -> None:
    supervisor = Principal(1, "Sup", "supervisor", "session", "c")
    with pytest.raises(NotAllowed):
        await people.invite(db, supervisor, role="editor", name="E", at=clock.now(), hours=HOURS)
    with pytest.raises(NotAllowed):
        await people.reset_link(db, supervisor, 1, clock.now(), HOURS)
    with pytest.raises(NotAllowed):
        await people.set_disabled(db, supervisor, 1, True, clock.now())
    with pytest.raises(AccountError) as needs:  # an agent account needs its agent
        await people.invite(db, ADMIN, role="agent", name="A", at=clock.now(), hours=HOURS)
    assert needs.value.key == "account.needs_agent"


async def test_telegram_console_link_opens_the_agents_account(
    db: Database, clock: VirtualClock
) -> None:
    """/console on Telegram: the one-time link logs the agent into their account."""
    agent_id = await _agent(db, clock)
    key = await people.invite(
        db, ADMIN, role="agent", name="", agent_id=agent_id, at=clock.now(), hours=HOURS
    )
    _, mine = await people.accept_link(
        db, key, "invite", username="sara", password=GOOD, at=clock.now()
    )
    link = await new_login_link(db, agent_id, clock.now())
    opened = await login_with_link(db, link, clock.now())
    assert opened is not None
    assert opened[1].account_id == mine.account_id and opened[1].agent_id == agent_id
    assert await login_with_link(db, link, clock.now()) is None  # once


def test_failed_logins_are_limited_per_username_from_any_address() -> None:
    clock = VirtualClock()
    flood = FloodPolicy(
        FloodLimits(login_failures_per_ip=100, login_failures_per_user=3),
        lambda: clock.now().timestamp(),
    )
    for n in range(3):
        assert flood.login_wait(f"10.0.0.{n}", "Sara") == 0.0
        flood.login_failed(f"10.0.0.{n}", "Sara")
    assert flood.login_wait("10.9.9.9", "sara") > 0  # any address, any case
    assert flood.login_wait("10.9.9.9", "mona") == 0.0
    clock.advance(900)
    assert flood.login_wait("10.9.9.9", "sara") == 0.0


async def test_an_unknown_username_costs_a_verification(
    db: Database, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No shortcut for unknown users: a login with an unknown username does the same work as
    one with a known username and a wrong password (one argon2 verification, against a hash
    of the same parameters), so the time taken does not tell whether a username exists.
    Counted, not timed: timing it would measure the machine's load."""
    key = await people.invite(db, ADMIN, role="editor", name="Ed", at=clock.now(), hours=HOURS)
    await people.accept_link(db, key, "invite", username="eddie", password=GOOD, at=clock.now())
    verified: list[argon2.Parameters] = []

    class CountingHasher(argon2.PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(argon2.extract_parameters(str(hash)))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "HASHER", CountingHasher())

    async def verifications(login: str) -> list[argon2.Parameters]:
        verified.clear()
        assert await people.authenticate(db, login, "wrong password", clock.now()) is None
        return list(verified)

    known, unknown = await verifications("eddie"), await verifications("nobody-here")
    assert len(known) == 1, known
    assert unknown == known  # one verification each, with the same cost parameters
