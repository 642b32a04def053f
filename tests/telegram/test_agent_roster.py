"""The roster of agents' Telegram ids kept in memory (handoff/roster.py): a customer's update
costs no read for "is this an agent?", and the set follows every change to who is an agent:
through the real entry points in this process, by age for writes it cannot see, and over the
bus between processes on PostgreSQL."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application, stop_application
from handoff.admin import AgentFields, change_agent, save_agent
from handoff.agents import add_agent
from handoff.roster import TOPIC, TelegramRoster
from sanad.cli import main
from storage.db import Database
from storage.models import Agent
from storage.pubsub import PgBus
from tests.fakes.bot_api import FakeBotApi

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class Ticks:
    """An injected monotonic clock for the roster's age."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fields(name: str, telegram_id: str | None) -> AgentFields:
    return AgentFields(name, telegram_id, "agent", (), (), 1, 0)


async def _add(db: Database, name: str, telegram_id: str) -> int:
    async with db.transaction() as session:
        return (await add_agent(session, name=name, at=T0, telegram_id=telegram_id)).id


async def test_a_customer_costs_no_read_and_an_added_agent_is_seen_at_once(
    sqlite_db: Database,
) -> None:
    roster = TelegramRoster(sqlite_db, max_age_s=3600)
    for _ in range(5):
        assert await roster.agent("7001") is None
    assert roster.loads == 1  # five customer updates, one read of the set

    await _add(sqlite_db, "Mona", "7001")
    mona = await roster.agent("7001")
    assert mona is not None and mona.name == "Mona"
    assert roster.loads == 2
    assert await roster.agent("7002") is None
    assert roster.loads == 2


async def test_relinking_and_removing_through_the_admin_core(sqlite_db: Database) -> None:
    roster = TelegramRoster(sqlite_db, max_age_s=3600)
    agent_id, new = await save_agent(sqlite_db, _fields("Sami", "7101"), T0)
    assert new
    assert (await roster.agent("7101")) is not None

    def relink(_current: dict[str, Any]) -> AgentFields:
        return _fields("Sami", "7102")

    await change_agent(sqlite_db, agent_id, relink, T0, "admin")
    assert await roster.agent("7101") is None
    sami = await roster.agent("7102")
    assert sami is not None and sami.id == agent_id

    def unlink(_current: dict[str, Any]) -> AgentFields:
        return _fields("Sami", None)  # web console only from now on

    await change_agent(sqlite_db, agent_id, unlink, T0, "admin")
    assert await roster.agent("7102") is None
    assert "7102" not in await roster.ids()


async def test_bulk_statements_on_agents_mark_it_stale(sqlite_db: Database) -> None:
    roster = TelegramRoster(sqlite_db, max_age_s=3600)
    agent_id = await _add(sqlite_db, "Lina", "7201")
    assert await roster.agent("7201") is not None
    async with sqlite_db.transaction() as session:
        await session.execute(update(Agent).where(Agent.id == agent_id).values(telegram_id="7202"))
    assert await roster.agent("7201") is None
    assert await roster.agent("7202") is not None


async def test_a_rolled_back_change_is_not_believed(sqlite_db: Database) -> None:
    roster = TelegramRoster(sqlite_db, max_age_s=3600)
    with pytest.raises(RuntimeError):
        async with sqlite_db.transaction() as session:
            await add_agent(session, name="Ghost", at=T0, telegram_id="7301")
            raise RuntimeError("rolled back")
    assert await roster.agent("7301") is None
    assert "7301" not in await roster.ids()


async def test_writes_it_cannot_see_are_seen_by_age(sqlite_db: Database) -> None:
    """A plain connection statement (as another process's write looks to this one) fires no
    session event: the set is read again once older than max_age_s; a removed agent is found
    missing by the fresh read at once."""
    ticks = Ticks()
    roster = TelegramRoster(sqlite_db, max_age_s=1.0, monotonic=ticks)
    assert await roster.agent("7401") is None
    async with sqlite_db.transaction() as session:
        await (await session.connection()).execute(
            insert(Agent).values(
                name="Huda",
                telegram_id="7401",
                role="agent",
                status="offline",
                capacity=1,
                skills=[],
                languages=[],
                routing_priority=0,
                idle_since=T0,
                created_at=T0,
                updated_at=T0,
            )
        )
    ticks.now += 0.5
    assert await roster.agent("7401") is None  # within the age: not seen yet
    ticks.now += 0.6
    huda = await roster.agent("7401")
    assert huda is not None and huda.name == "Huda"
    loads = roster.loads

    async with sqlite_db.transaction() as session:
        conn = await session.connection()
        await conn.execute(delete(Agent).where(Agent.telegram_id == "7401"))
    assert await roster.agent("7401") is None  # in the set, gone from the table
    assert await roster.agent("7401") is None
    assert roster.loads == loads + 1  # and the set was read again


async def test_concurrent_updates_share_one_read(sqlite_db: Database) -> None:
    roster = TelegramRoster(sqlite_db, max_age_s=3600)
    await _add(sqlite_db, "Rana", "7501")
    found = await asyncio.gather(*(roster.agent(str(7500 + i)) for i in range(40)))
    assert [a.name if a else None for a in found] == [None, "Rana"] + [None] * 38
    assert roster.loads == 1


# ---------------------------------------------------------------------- through the bot


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[tuple[FakeBotApi, Services, str]]:
    fake = FakeBotApi()
    await fake.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": url,
            "SANAD_TELEGRAM_TOKEN": fake.token,
            "SANAD_TELEGRAM_BASE_URL": fake.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        }
    )
    services = Services.create(settings, VirtualClock())
    app = build_application(services)
    roster = app.bot_data["roster"]
    assert isinstance(roster, TelegramRoster)
    roster.max_age_s = 3600.0  # what the tests see comes from the changes, never from age
    await services.start(run_timers=False)
    await start_application(app, services)
    try:
        yield fake, services, url
    finally:
        await stop_application(app)
        await services.close()
        await fake.stop()


async def _cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> str:
    """``sanad ...`` as an operator runs it (its own event loop, in a thread here)."""
    out = io.StringIO()
    code = await asyncio.to_thread(main, list(argv), out)
    assert code == 0, out.getvalue()
    return out.getvalue()


async def test_an_agent_added_with_the_command_is_recognised_on_their_next_message(
    bot: tuple[FakeBotApi, Services, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, _services, url = bot
    monkeypatch.setenv("SANAD_DATABASE_URL", url)
    mona = fake.user(7601, "Mona", language_code="en")

    fake.send_text(mona, "/online")  # not an agent yet: the customer bot's answer
    as_customer = await fake.wait_for_message(mona)
    assert "Status: available" not in as_customer["text"]

    said = await _cli(monkeypatch, "agents", "add", "--telegram-id", "7601", "--name", "Mona")
    assert "Mona" in said
    fake.send_text(mona, "/online")
    await fake.wait_for_message(mona, contains="Status: available")
    fake.send_text(mona, "/offline")
    await fake.wait_for_message(mona, contains="Status: offline")

    await _cli(monkeypatch, "agents", "remove", "--telegram-id", "7601")
    fake.send_text(mona, "/online")
    again = await fake.wait_for_message(mona)
    assert "Status: available" not in again["text"]
    assert again["text"] == as_customer["text"]  # the customer bot again, word for word


# ---------------------------------------------------------------------- between processes


class Inbox:
    def __init__(self) -> None:
        self.got: list[int] = []
        self.arrived = asyncio.Event()

    async def __call__(self, key: int, _frame: dict[str, Any]) -> None:
        self.got.append(key)
        self.arrived.set()


@pytest.mark.postgres
async def test_a_change_in_one_process_reaches_the_others_roster_over_the_bus(
    pg_url: str,
) -> None:
    db_a, db_b = Database(pg_url), Database(pg_url)
    await db_a.upgrade()
    bus_a, bus_b = PgBus(pg_url), PgBus(pg_url)
    await bus_a.start()
    await bus_b.start()
    try:
        roster_a = TelegramRoster(db_a, bus_a, max_age_s=3600)
        roster_b = TelegramRoster(db_b, bus_b, max_age_s=3600)
        told_b = Inbox()
        bus_b.subscribe(TOPIC, told_b)
        assert await roster_a.agent("7701") is None
        assert await roster_b.agent("7701") is None

        await _add(db_a, "Nour", "7701")  # "process A" commits a new agent
        async with asyncio.timeout(10):
            await told_b.arrived.wait()  # ... and says so on the bus
        assert told_b.got == [0]

        # What B's roster does with such a message (the in-process hook staled it already
        # here, both rosters living in one test process): reads the set again.
        loads = roster_b.loads
        assert await roster_b.agent("7701") is not None
        assert roster_b.loads == loads + 1
        await bus_a.publish(TOPIC, 0, {})
        await bus_a.flush()
        for _ in range(200):
            if roster_b._ids is None:
                break
            await asyncio.sleep(0.02)
        assert await roster_b.agent("7701") is not None
        assert roster_b.loads == loads + 2
    finally:
        await bus_a.close()
        await bus_b.close()
        await db_a.dispose()
        await db_b.dispose()
