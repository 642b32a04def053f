"""A transaction PostgreSQL aborts to break a deadlock is run again, not lost
(storage/retry.py): found by ``bench.scaleout``, where a customer's "I want a person" deadlocked
with another process's transaction, rolled back with the customer's own line, and the chat
stayed with the bot.

The deadlock is a real one: two transactions on a real PostgreSQL database update two rows in
opposite orders, and PostgreSQL aborts one of them. That error, as SQLAlchemy raises it, is
what the tests below inject into a customer's input and a handoff action."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

import handoff.actions
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from conversation import WEB, Identity, customer_wrote
from handoff.agents import add_agent
from storage.db import Database
from storage.models import Message, Ticket
from storage.retry import is_transient

pytestmark = pytest.mark.postgres


async def _deadlock(db: Database) -> DBAPIError:
    """Two transactions lock two rows in opposite orders; PostgreSQL aborts one: its error."""
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS locks (id int PRIMARY KEY)"))
        await session.execute(text("INSERT INTO locks VALUES (1), (2) ON CONFLICT DO NOTHING"))
    first_locked, second_locked = asyncio.Event(), asyncio.Event()

    async def lock(mine: int, theirs: int, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with db.transaction() as session:
            await session.execute(text("UPDATE locks SET id = id WHERE id = :i"), {"i": mine})
            locked.set()
            await other.wait()
            await session.execute(text("UPDATE locks SET id = id WHERE id = :i"), {"i": theirs})

    outcomes = await asyncio.gather(
        lock(1, 2, first_locked, second_locked),
        lock(2, 1, second_locked, first_locked),
        return_exceptions=True,
    )
    errors = [e for e in outcomes if isinstance(e, BaseException)]
    assert len(errors) == 1, outcomes  # one aborted, the other committed
    assert isinstance(errors[0], DBAPIError), errors
    return errors[0]


@pytest.fixture
async def pg_services(pg_url: str) -> AsyncIterator[Services]:
    settings = load_settings(env={"SANAD_DATABASE_URL": pg_url, "SANAD_FAQ_SEMANTIC": "off"})
    svc = Services.create(settings, VirtualClock())
    await svc.start()
    yield svc
    await svc.close()


async def test_a_real_deadlock_is_transient_and_other_errors_are_not(pg_services: Services) -> None:
    error = await _deadlock(pg_services.db)
    assert is_transient(error)
    with pytest.raises(IntegrityError) as duplicate:
        async with pg_services.db.transaction() as session:
            await session.execute(text("INSERT INTO locks VALUES (1)"))
    assert not is_transient(duplicate.value)
    assert not is_transient(ValueError("not a database error"))


async def test_a_request_for_a_person_aborted_by_a_deadlock_runs_again(
    pg_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = pg_services
    aborted = await _deadlock(services.db)
    calls: list[int] = []
    real = handoff.actions.request_human

    async def deadlocked_once(uow: Any, ticket_id: int, **kwargs: Any) -> Any:
        calls.append(ticket_id)
        if len(calls) == 1:
            raise aborted  # as PostgreSQL aborts the first attempt
        return await real(uow, ticket_id, **kwargs)

    monkeypatch.setattr(handoff.actions, "request_human", deadlocked_once)
    visitor = Identity("visitor-1", "Visitor")
    await customer_wrote(services, WEB, visitor, "hello")
    reply = await customer_wrote(services, WEB, visitor, "I want to talk to a real person")

    assert len(calls) == 2  # the whole input ran again, and the second time it went through
    assert reply.message is not None and reply.new
    async with services.db.transaction() as session:
        kept = (
            await session.execute(
                select(func.count())
                .select_from(Message)
                .where(Message.text == "I want to talk to a real person")
            )
        ).scalar_one()
        ticket = await session.get(Ticket, reply.ticket_id)
        assert ticket is not None
        state = ticket.state
    assert kept == 1  # the customer's line, once
    assert state in ("queued", "offered")  # with the queue, not left with the bot


async def test_a_handoff_action_aborted_by_a_deadlock_runs_again(
    pg_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = pg_services
    aborted = await _deadlock(services.db)
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Ann", at=services.clock.now())
    await services.handoff.engine.rebuild()
    attempts: list[str] = []
    real = handoff.actions.set_agent_status

    async def deadlocked_once(uow: Any, agent_id: int, status: str, origin: str = "") -> Any:
        attempts.append(status)
        if len(attempts) == 1:
            raise aborted
        return await real(uow, agent_id, status, origin)

    monkeypatch.setattr(handoff.actions, "set_agent_status", deadlocked_once)
    await services.handoff.set_agent_status(agent.id, "away", origin="web")
    assert attempts == ["away", "away"]
    assert services.handoff.engine.acd.agents[agent.id].status.value == "away"
