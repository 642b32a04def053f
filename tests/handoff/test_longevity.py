"""A service that lives for months: idle at rest, cost independent of stored history.

Each test here pins one fix of that kind: the timer loop sleeps until a real deadline, sweeps
are set-based and bounded, a restore reads only live state, position notices are few and sent
after the commit, per-visitor memory is released, PostgreSQL transactions need no pre-ping.
Speed itself is measured in bench/history.py, not here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from app.services import Services
from base.clock import VirtualClock
from handoff.customers import touch_customer
from handoff.notices import PositionChanged
from handoff.service import position_matters
from handoff.tickets import current_ticket
from storage.db import Database
from storage.models import Customer, Event, Message, Ticket
from tests.conftest import PG_URL, _asyncpg_dsn
from tests.handoff_harness import Harness
from tests.webchat_client import ChatClient
from web.chat import CHAT_HUB


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements ``db`` runs inside the block."""
    seen: list[str] = []

    def keep(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", keep)


async def test_an_idle_service_does_not_wake_its_timer_loop(services: Services) -> None:
    await asyncio.sleep(0.2)  # the first round (start-up sweep) is done
    before = services.handoff.wakeups
    await asyncio.sleep(0.5)
    # Before the fix every tick poked the loop awake again: thousands of rounds a second.
    assert services.handoff.wakeups - before == 0


async def test_a_new_deadline_wakes_the_loop_once_and_it_sleeps_until_it(
    services: Services, agent_token: dict[str, Any]
) -> None:
    handoff = services.handoff
    await handoff.set_agent_status(agent_token["agent_id"], "available")
    await asyncio.sleep(0.1)
    before = handoff.wakeups
    now = services.clock.now()
    async with services.db.transaction() as session:
        customer = await touch_customer(
            session,
            channel="web",
            external_id="v1",
            name="V",
            username=None,
            language_code="en",
            default_language="en",
            at=now,
        )
        ticket = await current_ticket(session, customer, now)
    await handoff.request_human(ticket.id, reason="test")  # an offer with a 30 s deadline
    await asyncio.sleep(0.3)
    woke = handoff.wakeups - before
    assert 1 <= woke <= 2
    deadline = handoff.acd.next_deadline()
    assert deadline is not None
    assert handoff.engine.sleeping_until == pytest.approx(deadline)
    quiet = handoff.wakeups
    await handoff.add_note(ticket.id, None, "no new deadline")  # a supervisor's note
    await asyncio.sleep(0.2)
    assert handoff.wakeups == quiet


def test_only_position_changes_that_matter_are_told() -> None:
    assert position_matters(2, 1) and position_matters(6, 5)
    assert not position_matters(3, 3) and not position_matters(3, 4)
    assert not position_matters(100, 99) and position_matters(100, 80)


async def test_an_accept_with_a_long_queue_tells_few_and_after_its_commit(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, position_update_s=60.0)
    a = await h.agent("A")
    waiting = [await h.ask() for _ in range(60)]
    await h.advance(61)
    told_before = len(h.port.of(PositionChanged))
    with statements(sqlite_db) as seen:
        await h.service.accept_offer(h.last_offer(a).offer_id, a)
    told = h.port.of(PositionChanged)[told_before:]
    # Everyone moved up one place; only those near the front hear of it.
    assert sorted(n.position or 0 for n in told) == [1, 2, 3, 4, 5]
    assert {n.to.ticket_id for n in told} == set(waiting[1:6])
    # The accept's own transaction reads no waiting customer: the notices have their own
    # short transaction afterwards (one read, one batched write).
    assert len(seen) < 40, seen
    stored = {t: (await h.ticket(t)).notified_position for t in waiting[1:7]}
    assert stored == {
        waiting[1]: 1,
        waiting[2]: 2,
        waiting[3]: 3,
        waiting[4]: 4,
        waiting[5]: 5,
        waiting[6]: 7,
    }


async def test_what_waiting_customers_were_told_is_forgotten_once_they_are_served(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock)
    a = await h.agent("A", capacity=5)
    served = [await h.ask() for _ in range(3)]
    waiting = await h.ask()
    for _ in served:
        await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.advance(1)
    assert set(h.service.engine.notified) <= {waiting}


async def test_the_periodic_look_restores_only_when_something_changed(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock)
    with statements(sqlite_db) as seen:
        await h.service.engine.resync_if_changed()
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    await h.agent("A")  # writes events
    with statements(sqlite_db) as seen:
        await h.service.engine.resync_if_changed()
    assert any("FROM agents" in s for s in seen)  # the live state was read again


async def _quiet_bot_tickets(db: Database, clock: VirtualClock, count: int, age_h: float) -> None:
    at = clock.now() - timedelta(hours=age_h)
    async with db.transaction() as session:
        ids = []
        for i in range(count):
            customer = Customer(
                channel="web",
                external_id=f"q{i}",
                name="",
                language="en",
                created_at=at,
                last_seen_at=at,
            )
            session.add(customer)
            ids.append(customer)
        await session.flush()
        await session.execute(
            insert(Ticket),
            [
                {"customer_id": c.id, "channel": "web", "language": "en", "created_at": at}
                for c in ids
            ],
        )
        tickets = (await session.execute(select(Ticket.id, Ticket.customer_id))).all()
        await session.execute(
            insert(Message),
            [
                {"ticket_id": t, "customer_id": c, "sender": "customer", "text": "hi"}
                | {"created_at": at}
                for t, c in tickets
            ],
        )


async def test_the_idle_sweep_is_set_based_in_bounded_batches(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, bot_idle_close_s=3600.0)
    await _quiet_bot_tickets(sqlite_db, clock, 1_200, age_h=2)
    talking = await h.customer("still here")  # wrote just now
    with statements(sqlite_db) as seen:
        closed = await h.service.sweep(batch=500)
    assert closed == 1_200
    # Three batches, each a SELECT of ids, an UPDATE ... RETURNING and one multi-row INSERT of
    # the events; one object at a time would be thousands of statements.
    assert sum(s.lstrip().upper().startswith("UPDATE") for s in seen) == 3
    assert len(seen) < 30
    async with sqlite_db.transaction() as session:
        states = dict(
            (await session.execute(select(Ticket.state, func.count()).group_by(Ticket.state))).all()
        )
        events = (
            await session.execute(select(func.count()).where(Event.kind == "ticket_closed"))
        ).scalar_one()
    assert states == {"closed": 1_200, "bot": 1}
    assert events == 1_200
    assert (await h.ticket(talking)).state == "bot"


async def test_start_up_does_not_wait_for_the_sweep(sqlite_url: str, clock: VirtualClock) -> None:
    from app.config import load_settings

    services = Services.create(load_settings(env={"SANAD_DATABASE_URL": sqlite_url}), clock)
    await services.db.upgrade()
    await _quiet_bot_tickets(services.db, clock, 300, age_h=48)
    await services.start()
    try:
        async with services.db.transaction() as session:
            open_now = (
                await session.execute(select(func.count()).where(Ticket.state == "bot"))
            ).scalar_one()
        assert open_now == 300  # served first; the timer task sweeps in the background
        for _ in range(100):
            await asyncio.sleep(0.05)
            async with services.db.transaction() as session:
                open_now = (
                    await session.execute(select(func.count()).where(Ticket.state == "bot"))
                ).scalar_one()
            if open_now == 0:
                break
        assert open_now == 0
    finally:
        await services.close()


async def test_a_restore_reads_only_live_tickets(sqlite_db: Database, clock: VirtualClock) -> None:
    h = await Harness.create(sqlite_db, clock)
    a = await h.agent("A")
    for _ in range(5):  # history: resolved tickets
        done = await h.ask()
        await h.service.accept_offer(h.last_offer(a).offer_id, a)
        await h.service.resolve_ticket(done, a)
    live = await h.ask()  # and one waiting now
    loaded: list[int] = []

    def count(_session: Session, instance: object) -> None:
        if isinstance(instance, Ticket):
            loaded.append(instance.id)

    event.listen(Session, "loaded_as_persistent", count)
    try:
        await h.service.resync()
    finally:
        event.remove(Session, "loaded_as_persistent", count)
    assert set(loaded) == {live}
    assert (await h.ticket(live)).state in ("queued", "offered")


async def test_resolved_tickets_close_when_their_reopen_window_is_over(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, reopen_window_s=3600.0, idle_sweep_s=600.0)
    a = await h.agent("A")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.service.resolve_ticket(ticket_id, a)
    await h.restart()  # nothing about it is kept in memory: the sweep finds it in the table
    await h.advance(3599)
    assert (await h.ticket(ticket_id)).state == "resolved"
    await h.advance(601)
    assert (await h.ticket(ticket_id)).state == "closed"


async def test_per_visitor_locks_are_released(
    client: TestClient[Any, Any], services: Services
) -> None:
    hub = client.app[CHAT_HUB]
    for _ in range(5):
        chat = ChatClient(client)
        await chat.connect()
        await chat.say("how long does delivery take?")
        await chat.message("bot")
        await chat.close()
    await asyncio.sleep(0.1)
    assert len(hub.locks) == 0
    assert not hub.sockets


@pytest.mark.postgres
async def test_postgres_needs_no_pre_ping_and_survives_a_dropped_connection(
    pg_url: str,
) -> None:
    db = Database(pg_url)
    pings = 0
    original = db.engine.dialect.do_ping

    def ping(connection: Any) -> bool:
        nonlocal pings
        pings += 1
        return original(connection)

    db.engine.dialect.do_ping = ping  # type: ignore[method-assign,assignment]
    try:
        for _ in range(3):
            async with db.transaction() as session:
                await session.execute(text("SELECT 1"))
        assert pings == 0
        # The server drops every connection of this database (a restart, a failover...).
        admin = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            name = pg_url.rsplit("/", 1)[1]
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        async with db.transaction() as session:  # a fresh connection, no error
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        assert pings == 0
    finally:
        await db.dispose()
