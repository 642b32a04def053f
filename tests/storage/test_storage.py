"""Storage on both backends: migrations, SQLite pragmas, UTC times, constraints, no model drift."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.db import Database, alembic_config, upgrade
from storage.models import Base, Customer, Event, Ticket
from storage.search import is_modelled


async def test_migrations_create_every_table_and_match_the_models(db: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"include_object": is_modelled})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
        version = (await conn.execute(text("select version_num from alembic_version"))).scalar()
    assert changes == [], f"models and migrations differ: {changes}"
    assert version is not None


async def test_upgrade_is_idempotent(db: Database) -> None:
    await db.upgrade()
    await db.upgrade()
    async with db.transaction() as session:
        assert (await session.execute(select(Customer))).first() is None


async def test_sqlite_transactions_of_one_process_take_turns(sqlite_url: str) -> None:
    """On SQLite a process's transactions run one at a time, in order, and one opened inside
    another by the same task goes through (it would otherwise wait for itself)."""
    import asyncio

    db = Database(sqlite_url)
    await db.upgrade()
    inside: list[str] = []
    overlaps = 0
    try:

        async def work(name: str) -> None:
            nonlocal overlaps
            async with db.transaction() as session:
                overlaps += bool(inside)
                inside.append(name)
                await session.execute(text("select 1"))
                await asyncio.sleep(0.01)  # other tasks run meanwhile, but not their transactions
                async with db.transaction() as nested:  # the same task: no deadlock
                    await nested.execute(text("select 2"))
                inside.remove(name)

        await asyncio.wait_for(asyncio.gather(*(work(f"t{i}") for i in range(8))), 10)
    finally:
        await db.dispose()
    assert overlaps == 0


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        assert mode == "wal"
        assert fks == 1
    finally:
        await db.dispose()


def _customer(ext: str, at: datetime) -> Customer:
    return Customer(
        channel="telegram",
        external_id=ext,
        name="Sara",
        language="ar",
        created_at=at,
        last_seen_at=at,
    )


async def test_times_come_back_as_the_same_utc_instant(db: Database) -> None:
    riyadh = timezone(timedelta(hours=3))
    at = datetime(2026, 3, 1, 12, 30, 15, tzinfo=riyadh)
    async with db.transaction() as session:
        session.add(_customer("1", at))
    async with db.transaction() as session:
        row = (await session.execute(select(Customer))).scalar_one()
    assert row.created_at == at
    assert row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as session:
            session.add(_customer("1", datetime(2026, 3, 1, 12, 0)))


async def test_foreign_keys_are_enforced(db: Database) -> None:
    at = datetime.now(UTC)
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            session.add(Ticket(customer_id=999, channel="telegram", language="en", created_at=at))


async def test_unique_customer_per_channel_and_rollback_keeps_nothing(db: Database) -> None:
    at = datetime.now(UTC)
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            session.add(Event(kind="x", created_at=at, data={"a": 1}))
            session.add(_customer("7", at))
            await session.flush()
            session.add(_customer("7", at))
    async with db.transaction() as session:
        assert (await session.execute(select(Event))).first() is None
        assert (await session.execute(select(Customer))).first() is None


async def test_json_columns_round_trip_arabic(db: Database) -> None:
    at = datetime.now(UTC)
    async with db.transaction() as session:
        session.add(Event(kind="note", created_at=at, data={"text": "مرحبا", "n": [1, 2]}))
    async with db.transaction() as session:
        row = (await session.execute(select(Event))).scalar_one()
    assert row.data == {"text": "مرحبا", "n": [1, 2]}


async def test_migrations_downgrade_to_base_and_up_again(db: Database) -> None:
    def downgrade(connection):  # type: ignore[no-untyped-def]
        command.downgrade(alembic_config(connection), "base")

    async with db.engine.begin() as conn:
        await conn.run_sync(downgrade)
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await upgrade(db.engine)
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert {"tickets", "offers", "relays", "ratings"} <= set(tables)


@pytest.mark.postgres
async def test_processes_starting_together_on_an_empty_postgres_all_come_up(pg_url: str) -> None:
    """Four processes' worth of engines migrate one empty database at once: the advisory lock
    makes them take turns, so none fails and the schema is migrated once."""
    databases = [Database(pg_url) for _ in range(4)]
    try:
        async with asyncio.timeout(120):  # without the lock they deadlock or collide
            await asyncio.gather(*(d.upgrade() for d in databases))
        async with databases[0].transaction() as session:
            query = text("SELECT version_num FROM alembic_version")
            versions = (await session.execute(query)).all()
        assert len(versions) == 1
    finally:
        for d in databases:
            await d.dispose()


@pytest.mark.postgres
async def test_whole_processes_starting_together_on_an_empty_postgres_all_come_up(
    pg_url: str,
) -> None:
    """Not only the migrations: the first start's sample FAQ too. Two processes loading it at
    once collided on the articles' unique key and one died; now they take turns and the
    sample is loaded once."""
    from app.config import load_settings
    from app.services import Services
    from faq.service import sample_articles

    settings = load_settings(env={"SANAD_DATABASE_URL": pg_url})
    processes = [Services.create(settings) for _ in range(3)]
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(*(p.start(run_timers=False) for p in processes))
        async with processes[0].db.transaction() as session:
            stored = (await session.execute(text("SELECT count(*) FROM articles"))).scalar_one()
        assert stored == len(sample_articles())
        assert all(len(p.faq.matcher) > 0 for p in processes)
    finally:
        for p in processes:
            await p.close()
