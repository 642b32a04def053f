"""The one-hop SQLite driver (storage/sqlite_driver.py) on real SQLite files: it must behave as
the stock aiosqlite dialect did (results, errors, transactions, locking, functions, streaming,
close) while crossing to its worker thread once per statement."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import sqlite_driver
from storage.db import Database, create_engine

metadata = MetaData()
item = Table(
    "item",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function run in a worker thread, in order (one entry per hand-off)."""
    calls: list[str] = []
    original = sqlite_driver.Worker.call

    async def counted(self: sqlite_driver.Worker, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *a, **k)

    monkeypatch.setattr(sqlite_driver.Worker, "call", counted)
    return calls


async def test_sqlite_aiosqlite_urls_get_the_one_hop_driver(engine: AsyncEngine) -> None:
    assert engine.dialect.name == "sqlite"
    assert engine.dialect.driver == "sanad"
    async with engine.connect() as conn:
        modes = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
    assert (modes, keys, busy) == ("wal", 1, 5000)


async def test_rows_rowcount_lastrowid_and_returning(engine: AsyncEngine) -> None:
    many_calls: list[bool] = []

    def seen(*args: Any) -> None:
        many_calls.append(args[-1])  # the executemany flag

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    async with engine.begin() as conn:
        first = await conn.execute(insert(item).values(name="a"))
        assert first.lastrowid == 1
        returned = await conn.execute(
            insert(item).returning(item.c.id, item.c.name), [{"name": "b"}, {"name": "c"}]
        )
        assert sorted(returned.all()) == [(2, "b"), (3, "c")]
        many = await conn.execute(insert(item), [{"name": f"m{i}"} for i in range(5)])
        assert many.rowcount == 5 and many_calls[-1] is True  # the driver's executemany
        updated = await conn.execute(
            item.update().where(item.c.name.like("m%")).values(name=item.c.name + "x")
        )
        assert updated.rowcount == 5
        rows = (await conn.execute(select(item.c.name).order_by(item.c.id))).scalars().all()
    assert rows == ["a", "b", "c", "m0x", "m1x", "m2x", "m3x", "m4x"]


async def test_an_integrity_error_is_sqlalchemys_and_the_connection_stays_usable(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        await conn.execute(insert(item).values(name="same"))
        await conn.commit()
        with pytest.raises(IntegrityError) as caught:
            await conn.execute(insert(item).values(name="same"))
        assert isinstance(caught.value.orig, sqlite3.IntegrityError)
        await conn.rollback()
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT * FROM no_such_table"))
        await conn.rollback()
        await conn.execute(insert(item).values(name="other"))
        await conn.commit()
        names = (await conn.execute(select(item.c.name).order_by(item.c.id))).scalars().all()
    assert names == ["same", "other"]


async def test_rollback_discards_the_transaction(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(insert(item).values(name="kept"))
        await conn.commit()
        await conn.execute(insert(item).values(name="dropped"))
        await conn.rollback()
    async with engine.connect() as conn:
        names = (await conn.execute(select(item.c.name))).scalars().all()
    assert names == ["kept"]


async def test_a_writer_waits_for_the_other_on_the_busy_timeout_off_the_event_loop(
    tmp_path: Path,
) -> None:
    """Two engines on one file (two processes' worth): the second writer waits in its thread
    (the event loop keeps running) until the first commits; with a short busy timeout it gets
    "database is locked" as sqlalchemy's OperationalError, and can write afterwards."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}"
    first, second = create_engine(url), create_engine(url)
    try:
        async with first.begin() as conn:
            await conn.run_sync(metadata.create_all)
        ticks = 0
        async with first.connect() as holder, second.connect() as waiter:
            await holder.execute(insert(item).values(name="first"))  # holds the write lock

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            async def release() -> None:
                await asyncio.sleep(0.3)
                await holder.commit()

            ticker, releaser = asyncio.create_task(tick()), asyncio.create_task(release())
            await waiter.execute(insert(item).values(name="second"))  # waits for the commit
            await waiter.commit()
            await releaser
            ticker.cancel()
            assert releaser.done() and ticks >= 10  # the loop ran while the writer waited

            await holder.execute(insert(item).values(name="third"))
            await waiter.execute(text("PRAGMA busy_timeout=50"))
            with pytest.raises(OperationalError, match="database is locked") as caught:
                await waiter.execute(insert(item).values(name="fourth"))
            assert isinstance(caught.value.orig, sqlite3.OperationalError)
            await waiter.rollback()
            await holder.commit()
            await waiter.execute(insert(item).values(name="fourth"))
            await waiter.commit()
            names = (await waiter.execute(select(item.c.name).order_by(item.c.id))).scalars()
            assert names.all() == ["first", "second", "third", "fourth"]
    finally:
        await first.dispose()
        await second.dispose()


async def test_one_hand_off_per_statement(engine: AsyncEngine, hops: list[str]) -> None:
    async with engine.connect() as conn:
        await conn.execute(select(item))  # a checkout, nothing else
        hops.clear()
        for _ in range(3):
            (await conn.execute(select(item.c.id).where(item.c.id == 1))).all()
        assert hops == ["_run_statement"] * 3
        hops.clear()
        await conn.execute(insert(item).values(name="x"))
        await conn.execute(insert(item).values(name="y"))
        await conn.commit()
        assert hops == ["_run_statement", "_run_statement", "_commit"]
        hops.clear()
        (await conn.execute(select(item))).all()
        await conn.commit()  # a read-only transaction: nothing to commit, no hand-off
    assert hops == ["_run_statement"]  # and none for the pool's rollback on return


async def test_database_transaction_of_a_message_costs_statements_plus_commit(
    tmp_path: Path, hops: list[str]
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        hops.clear()
        async with db.transaction() as session:
            await session.execute(select(item))
            await session.execute(insert(item).values(name="n"))
            await session.execute(select(item))
        assert hops == ["_run_statement"] * 3 + ["_commit"]
    finally:
        await db.dispose()


async def test_functions_made_on_connect_run_in_the_worker(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    threads: set[str] = set()

    def twice(value: int) -> int:
        threads.add(threading.current_thread().name)
        return value * 2

    def add_function(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("twice", 1, twice, deterministic=True)

    event.listen(engine.sync_engine, "connect", add_function)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT twice(21)"))).scalar() == 42
            matched = await conn.execute(text("SELECT 'cat' REGEXP 'a'"))  # pysqlite's hook
            assert matched.scalar() == 1
    finally:
        await engine.dispose()
    assert threads == {"sanad-sqlite"}


async def test_streaming_fetches_from_an_open_cursor(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(item), [{"name": f"s{i:03}"} for i in range(150)])
    async with engine.connect() as conn:
        result = await conn.stream(select(item.c.name).order_by(item.c.id))
        first = await result.fetchmany(10)
        rest = [row.name async for row in result]
    assert [row.name for row in first] == [f"s{i:03}" for i in range(10)]
    assert rest == [f"s{i:03}" for i in range(10, 150)]


async def test_dispose_closes_connections_and_ends_their_threads(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    threads: list[threading.Thread] = []
    async with engine.connect() as one, engine.connect() as two:
        for conn in (one, two):
            await conn.execute(text("SELECT 1"))
            driver = (await conn.get_raw_connection()).dbapi_connection
            assert isinstance(driver, sqlite_driver.Connection)
            threads.append(driver.worker._thread)
        assert len({t.ident for t in threads}) == 2 and all(t.is_alive() for t in threads)
        raw = await two.get_raw_connection()
        await two.invalidate()  # the terminate path
        assert raw.dbapi_connection is None
    await engine.dispose()
    for thread in threads:
        await asyncio.to_thread(thread.join, 5)
    assert not any(t.is_alive() for t in threads)


async def test_a_closed_connection_refuses_work_with_a_dbapi_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.dbapi_connection
            assert isinstance(driver, sqlite_driver.Connection)
            cursor = driver.cursor()
            await conn.run_sync(lambda _sync: driver.close())
            with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
                await conn.run_sync(lambda _sync: cursor.execute("SELECT 1"))
            await conn.invalidate()
    finally:
        await engine.dispose()


async def test_a_failed_first_write_still_ends_its_transaction(tmp_path: Path) -> None:
    """sqlite3 runs BEGIN before an INSERT that then fails: the rollback must reach SQLite, or
    the pooled connection would keep the write lock (and swallow the next unit's commit)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'failed.db'}"
    engine, other = create_engine(url), create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(item).values(name="taken"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(item).values(name="taken"))
        async with other.connect() as writer:
            await writer.execute(text("PRAGMA busy_timeout=50"))
            await writer.execute(insert(item).values(name="other process"))
            await writer.commit()
        async with engine.begin() as conn:  # the same pooled connection, a fresh transaction
            await conn.execute(insert(item).values(name="next unit"))
        async with other.connect() as reader:
            names = (await reader.execute(select(item.c.name).order_by(item.c.id))).scalars()
            assert names.all() == ["taken", "other process", "next unit"]
    finally:
        await engine.dispose()
        await other.dispose()


async def test_autocommit_isolation_level_round_trips(engine: AsyncEngine) -> None:
    """SQLAlchemy's AUTOCOMMIT sets sqlite3's isolation_level to None (through the worker) and
    puts it back to "" (implicit BEGIN before writes) when the connection returns."""
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(insert(item).values(name="at once"))
        async with engine.connect() as other:  # visible without a commit
            assert (await other.execute(select(item.c.name))).scalars().all() == ["at once"]
        driver = (await conn.get_raw_connection()).dbapi_connection
        assert isinstance(driver, sqlite_driver.Connection)
        assert await conn.run_sync(lambda _sync: driver.isolation_level) is None
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).dbapi_connection
        assert isinstance(driver, sqlite_driver.Connection)
        assert await conn.run_sync(lambda _sync: driver.isolation_level) == ""
        await conn.execute(insert(item).values(name="in a transaction"))
        assert driver.in_transaction
        await conn.rollback()
        names = (await conn.execute(select(item.c.name))).scalars().all()
    assert names == ["at once"]
