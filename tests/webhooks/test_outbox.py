"""The durable outbox: rows written in the change's own transaction (so PostgreSQL committing
out of id order loses nothing), none for a rollback or an event no webhook carries, the
set-based sweeps included; and an idle worker that costs no CPU but wakes at once on a
commit of its own process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from app.config import load_settings
from app.services import Services
from base.clock import SystemClock, VirtualClock
from storage.db import Database
from storage.events import record_event, record_events
from storage.models import Event, WebhookOutbox
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks_flow import open_ticket
from web.app import create_app
from web.webhook_sender import AiohttpSender
from webhooks.endpoints import EndpointFields, create_endpoint, delivery_log, update_endpoint
from webhooks.outbox import TYPES
from webhooks.service import WebhookService


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = await Receiver().start()
    yield hook
    await hook.stop()


async def _outbox(db: Database) -> list[tuple[str, int]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(WebhookOutbox.source, WebhookOutbox.source_id).order_by(WebhookOutbox.id)
        )
        return [(s, i) for s, i in rows.all()]


async def test_transactions_committing_out_of_id_order_on_postgres_lose_nothing(
    pg_url: str, receiver: Receiver
) -> None:
    clock = VirtualClock()
    db = Database(pg_url)
    await db.upgrade()
    sender = AiohttpSender()
    worker = WebhookService(db, clock, sender)
    try:
        view, _ = await create_endpoint(
            db, EndpointFields("", receiver.url, TYPES, True, None), clock.now()
        )
        early = db.sessions()
        late = db.sessions()
        first = await early.begin()
        older = record_event(early, "ticket_opened", clock.now(), actor="t1")
        await early.flush()  # takes the lower id, and stays open
        second = await late.begin()
        newer = record_event(late, "ticket_opened", clock.now(), actor="t2")
        await late.flush()
        assert older.id < newer.id
        await second.commit()  # the higher id commits first

        # A reader now sees id N+1 committed and id N not at all: a cursor over events.id
        # that moved past N+1 would never come back for N.
        async with db.transaction() as session:
            visible = (
                (await session.execute(select(Event.id).where(Event.kind == "ticket_opened")))
                .scalars()
                .all()
            )
        assert list(visible) == [newer.id]
        await worker.run_once()
        assert [p["id"] for p in receiver.payloads()] == [f"evt_{newer.id}"]

        await first.commit()
        await worker.run_once()
        assert [p["id"] for p in receiver.payloads()] == [f"evt_{newer.id}", f"evt_{older.id}"]
        assert await _outbox(db) == []
        log = await delivery_log(db, view.id)
        assert sorted(d.event_id for d in log) == sorted([f"evt_{older.id}", f"evt_{newer.id}"])
        await early.close()
        await late.close()
    finally:
        await worker.stop()
        await sender.close()
        await db.dispose()


async def test_a_rollback_or_an_event_no_webhook_carries_writes_no_outbox_row(
    sqlite_db: Database,
) -> None:
    clock = VirtualClock()
    WebhookService(sqlite_db, clock)  # installs the listener
    with pytest.raises(RuntimeError):
        async with sqlite_db.transaction() as session:
            record_event(session, "ticket_opened", clock.now())
            await session.flush()
            raise RuntimeError("rolled back")
    async with sqlite_db.transaction() as session:
        record_event(session, "note_added", clock.now())
        record_event(session, "agent_status_changed", clock.now())
    assert await _outbox(sqlite_db) == []
    async with sqlite_db.transaction() as session:
        kept = record_event(session, "ticket_resolved", clock.now())
    assert await _outbox(sqlite_db) == [("event", kept.id)]


async def test_the_set_based_sweep_writes_its_outbox_rows_in_its_statement_batch(
    sqlite_url: str,
) -> None:
    services = Services.create(
        load_settings(env={"SANAD_DATABASE_URL": sqlite_url}), VirtualClock()
    )
    await services.start(run_timers=False)
    try:
        await create_endpoint(  # with no active endpoint no outbox row is written at all
            services.db,
            EndpointFields("", "http://127.0.0.1:9/hook", TYPES, True, None),
            services.clock.now(),
        )
        for n in range(3):
            await open_ticket(services, f"v_{n}")
        async with services.db.transaction() as session:
            await session.execute(delete(WebhookOutbox))
            await record_events(session, "ticket_closed", services.clock.now(), [1, 2, 3])
        async with services.db.transaction() as session:
            closed = (
                (await session.execute(select(Event.id).where(Event.kind == "ticket_closed")))
                .scalars()
                .all()
            )
            count = (await session.execute(select(func.count(WebhookOutbox.id)))).scalar_one()
        assert count == 3
        assert await _outbox(services.db) == [("event", i) for i in sorted(closed)]
    finally:
        await services.close()


async def test_an_idle_worker_costs_no_cpu_and_a_commit_wakes_it_at_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Real time: the worker (poll every 0.5 s) sleeps between polls; a change committed by
    this process reaches the receiver well before the next poll would have found it."""
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'idle.db'}",
            "SANAD_WEBHOOKS_POLL_S": "0.5",
            "SANAD_LOAD_SAMPLE_FAQ": "false",
            "SANAD_WEBHOOKS_RETRY_FIRST_S": "1",
        }
    )
    services = Services.create(settings, SystemClock())
    create_app(services)
    await services.start()
    try:
        await create_endpoint(
            services.db, EndpointFields("", receiver.url, TYPES, True, None), services.clock.now()
        )
        # An endpoint that fails, then is disabled with a delivery due: it waits, and must not
        # keep the worker awake.
        down = Receiver()
        paused, _ = await create_endpoint(
            services.db, EndpointFields("", down.url, TYPES, True, None), services.clock.now()
        )
        await open_ticket(services, "v_before")
        async with asyncio.timeout(5.0):
            await receiver.arrived.wait()
        await update_endpoint(
            services.db,
            paused.id,
            EndpointFields("", down.url, TYPES, False, None),
            services.clock.now(),
        )
        [waiting] = await delivery_log(services.db, paused.id)
        assert waiting.state == "pending" and waiting.attempts == 1
        receiver.requests.clear()
        receiver.arrived.clear()
        await asyncio.sleep(1.2)  # its next try (1 s after the failure) is now due
        await services.faq.wait_idle()
        await asyncio.sleep(0.3)
        wakeups, cpu = services.webhooks.stats.wakeups, time.process_time()
        await asyncio.sleep(3.0)
        spent = time.process_time() - cpu
        woke = services.webhooks.stats.wakeups - wakeups
        # Polls every 0.5 s, and nothing else: no tight loop.
        assert 3 <= woke <= 8, woke
        assert spent < 0.5, spent  # the polls' few queries, not a busy loop
        [still] = await delivery_log(services.db, paused.id)
        assert (still.state, still.attempts) == ("pending", 1)  # held while disabled

        services.webhooks.policy = type(services.webhooks.policy)(poll_s=60.0)
        await asyncio.sleep(0.6)  # the loop now sleeps up to a minute
        started = time.monotonic()
        await open_ticket(services, "v_now")
        async with asyncio.timeout(5.0):
            await receiver.arrived.wait()
        assert receiver.types() == ["ticket_opened"]
        assert time.monotonic() - started < 2.0  # woken by the commit, not by the poll
    finally:
        await services.close()


async def test_two_processes_on_one_postgres_deliver_each_event_once(
    pg_url: str, receiver: Receiver
) -> None:
    """Two workers (two engines, as two processes have) run at the same moment over the same
    outbox and deliveries: each event reaches the endpoint exactly once."""
    clock = VirtualClock()
    one, two = Database(pg_url), Database(pg_url)
    await one.upgrade()
    senders = (AiohttpSender(), AiohttpSender())
    workers = (WebhookService(one, clock, senders[0]), WebhookService(two, clock, senders[1]))
    try:
        await create_endpoint(one, EndpointFields("", receiver.url, TYPES, True, None), clock.now())
        for n in range(30):
            async with (one if n % 2 else two).transaction() as session:
                record_event(session, "ticket_opened", clock.now(), actor=f"n{n}")
        await asyncio.gather(*(w.run_once() for w in workers), *(w.run_once() for w in workers))
        await asyncio.gather(*(w.run_once() for w in workers))
        ids = [p["id"] for p in receiver.payloads()]
        assert len(ids) == 30 and len(set(ids)) == 30
        assert await _outbox(one) == []
    finally:
        for worker, sender in zip(workers, senders, strict=True):
            await worker.stop()
            await sender.close()
        await one.dispose()
        await two.dispose()


async def test_with_no_active_endpoint_a_message_writes_no_outbox_row(sqlite_url: str) -> None:
    """The hot path pays nothing while nobody listens: no outbox row until an endpoint is
    active; another process (a second Services on the same database) starts writing them
    once it looks again (every poll interval; here called directly)."""
    settings = load_settings(env={"SANAD_DATABASE_URL": sqlite_url})
    one = Services.create(settings, VirtualClock())
    await one.start(run_timers=False)
    other = Services.create(settings, VirtualClock())
    await other.start(run_timers=False)
    try:
        async with one.db.transaction() as session:
            record_event(session, "ticket_opened", one.clock.now())
        assert await _outbox(one.db) == []
        await create_endpoint(
            one.db,
            EndpointFields("", "http://127.0.0.1:9/hook", TYPES, True, None),
            one.clock.now(),
        )
        async with one.db.transaction() as session:
            seen_here = record_event(session, "ticket_opened", one.clock.now())
        assert await _outbox(one.db) == [("event", seen_here.id)]
        assert await other.webhooks.refresh_wanted()
        async with other.db.transaction() as session:
            seen_there = record_event(session, "ticket_opened", other.clock.now())
        assert await _outbox(other.db) == [("event", seen_here.id), ("event", seen_there.id)]
    finally:
        await other.close()
        await one.close()
