"""Engine and session setup, and schema migrations.

SQLite is the embedded default: it runs in WAL mode with foreign keys on and a busy timeout,
through :mod:`storage.sqlite_driver` (one thread hand-off per statement) for ``sqlite+aiosqlite``
URLs. PostgreSQL (through asyncpg) runs the same code and is the path to several Sanad
processes sharing one database.

On SQLite, one process runs its transactions one at a time (:class:`_Gate`). SQLite has one
writer at a time anyway, and a connection that finds the database locked waits in a sleep loop
of growing steps (up to 100 ms each) in its own thread: with a dozen chats writing at once the
unlucky ones starved for seconds and some failed with "database is locked" after the busy
timeout. Queued in order on the event loop instead, every transaction waits only for the ones
before it (bench/webchat.py measures the difference). A transaction opened inside another one
by the same task passes the gate (it would otherwise wait for itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

import storage.search  # noqa: F401  (its mapper events keep the ticket search index in step)
from storage.sqlite_driver import sanad_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass(frozen=True)
class PoolSettings:
    """PostgreSQL connection pool of one process (``SANAD_DB_POOL_SIZE`` and friends). N
    processes hold up to N x (size + overflow) connections: keep that within the server's
    ``max_connections``."""

    size: int = 10
    overflow: int = 10
    recycle_s: int = 1800


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, a connection the server has closed (restart, idle timeout, terminated
    backend) is known to asyncpg without a round trip: raising DisconnectionError makes the
    pool retry with a fresh one. This replaces ``pool_pre_ping``, which cost a BEGIN/ROLLBACK
    round trip on every transaction."""
    raw = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(raw, "is_closed", None)
    if callable(is_closed) and is_closed():
        raise DisconnectionError("connection closed by the server")


def create_engine(url: str, pool: PoolSettings | None = None) -> AsyncEngine:
    """An async engine for ``url`` with Sanad's per-backend settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(sanad_url(parsed))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    pool = pool or PoolSettings()
    engine = create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_recycle=pool.recycle_s,
    )
    event.listen(engine.sync_engine.pool, "checkout", _drop_closed)
    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# pg_advisory_xact_lock key: "sanad" in ASCII. Any fixed number works; it only has to be the
# same in every Sanad process and unlikely to be used by another application on the database.
MIGRATION_LOCK = 0x73616E6164
FIRST_START_LOCK = MIGRATION_LOCK + 1


async def one_at_a_time(session: AsyncSession, key: int = FIRST_START_LOCK) -> None:
    """Make processes that run this transaction at the same moment take turns (PostgreSQL: a
    transaction-scoped advisory lock; SQLite has one process and one writer anyway). Used for
    first-start work such as loading the sample FAQ, which two processes starting together on
    an empty database would otherwise both do (the second died on a unique violation)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (``sanad db upgrade``, and every start).

    On PostgreSQL the migrations run under a transaction-scoped advisory lock, so several
    processes starting together on an empty database take turns: the first migrates, the
    others find the schema current (without it one of them died on a unique violation)."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(run)


def refused_value(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a value it cannot hold (too long, out of
    range, NUL), on either backend: the client's mistake, not the server's."""
    if isinstance(exc, DataError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    cause = exc.orig
    return isinstance(cause, OverflowError) or "too large to convert" in str(cause)


class _Gate:
    """A lock for transactions that the task holding it may take again (reentrant per task)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        async with self._lock:
            self._owner, self._depth = task, 1
            try:
                yield
            finally:
                self._owner, self._depth = None, 0


class Database:
    """The engine plus a session factory; :meth:`transaction` is the unit of work."""

    def __init__(self, url: str, pool: PoolSettings | None = None) -> None:
        self.url = url
        self.engine = create_engine(url, pool)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._gate = _Gate() if self.engine.dialect.name == "sqlite" else None

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def upgrade(self) -> None:
        await upgrade(self.engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error."""
        if self._gate is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._gate.held(), self.sessions() as session, session.begin():
            yield session

    async def check_write(self, at: datetime) -> None:
        """Write the readiness row (``/readyz``): raises when the database refuses a write (a
        read-only file, a full disk, a read-only replica)."""
        from storage.models import Readiness

        async with self.transaction() as session:
            written = await session.execute(
                update(Readiness).where(Readiness.id == 1).values(checked_at=at)
            )
            if not getattr(written, "rowcount", 0):
                session.add(Readiness(id=1, checked_at=at))

    async def dispose(self) -> None:
        await self.engine.dispose()
