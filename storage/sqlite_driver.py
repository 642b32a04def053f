"""SQLite for the async engine with one thread hand-off per statement.

SQLAlchemy's stock ``sqlite+aiosqlite`` dialect adapts aiosqlite's cursor call by call: creating
the cursor, ``execute``, ``fetchall`` and ``close`` each queue a job for aiosqlite's thread and
wait for it, so one statement crosses threads four times (a queue put, a thread wake-up, a GIL
hand-off, a self-pipe wake-up of the event loop and two greenlet switches, each time). A web
chat message runs about nine statements; these crossings were a quarter of the event loop's
time in the Telegram benchmark.

This module is a small async DBAPI of its own over the stdlib ``sqlite3``: one dedicated thread
per connection owns the ``sqlite3`` connection, and a statement is ONE job there (create the
cursor, execute, fetch every row, read ``description``/``rowcount``/``lastrowid``, close) whose
result comes back at once. Chosen over subclassing SQLAlchemy's aiosqlite adapter to send such
jobs through aiosqlite's thread because that needs aiosqlite's private ``Connection._execute``
and a thread whose queue and futures we do not own; the worker here is 40 lines. What this
relies on is SQLAlchemy's: its dialect API, its ``await_`` greenlet bridge and the hook its
asyncio results call on a cursor (``_async_soft_close``), all of the 2.1 series, to which
pyproject.toml pins it; tests/storage/test_sqlite_driver.py runs all of it on real files.

Everything else behaves as with aiosqlite, because the same ``sqlite3`` connection does the
work with the same arguments: the pysqlite dialect's URL parsing, legacy transaction control
(``isolation_level=""``: sqlite3 itself emits ``BEGIN`` before the first write), the
``create_function`` hooks (``regexp``, ``floor``), the pragma listener of storage/db.py, and
the exceptions, which are ``sqlite3``'s own (``IntegrityError``, ``OperationalError`` "database
is locked") and so map to the same ``sqlalchemy.exc`` classes. One shortcut, exact too:
``commit``/``rollback`` outside a transaction skip the thread (``sqlite3`` does nothing there
either; every job reports ``in_transaction`` back from the owning thread), which saves the
pool's reset-on-return rollback after every committed or read-only unit.

Server-side cursors (``stream()``, ``yield_per``; Sanad uses none today) keep the ``sqlite3``
cursor open in the thread and fetch per call, as aiosqlite did.

:func:`storage.db.create_engine` selects this dialect for ``sqlite+aiosqlite`` URLs, so
``SANAD_DATABASE_URL`` is unchanged; the name ``sqlite+sanad`` is registered for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from queue import SimpleQueue
from threading import Thread
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, AdaptedConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

T = TypeVar("T")

_Job = tuple["asyncio.Future[Any] | None", Callable[[], Any]] | None

CLOSED = "Cannot operate on a closed database."  # sqlite3's words: the dialect's disconnect test


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # the waiting task was cancelled meanwhile
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Worker:
    """The thread that owns one ``sqlite3`` connection: jobs run in order, one at a time.

    :meth:`call` is the only way in, one hand-off per call (tests count the calls)."""

    def __init__(self) -> None:
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._thread = Thread(target=self._run, name="sanad-sqlite", daemon=True)
        self.stopped = False
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn = job
            try:
                outcome, failed = fn(), False
            except BaseException as exc:  # handed to the waiting task as is
                outcome, failed = exc, True
            if future is not None:
                # RuntimeError: the event loop is closed, nobody is waiting any more
                with contextlib.suppress(RuntimeError):
                    future.get_loop().call_soon_threadsafe(_settle, future, outcome, failed)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in the thread and return its result (or raise)."""
        if self.stopped:
            raise sqlite3.ProgrammingError(CLOSED)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((future, partial(fn, *args, **kwargs)))
        return await future

    def post(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` without waiting for it (closing from a garbage collector)."""
        self._jobs.put((None, fn))

    def stop(self) -> None:
        """Let the thread finish the queued jobs and end."""
        if not self.stopped:
            self.stopped = True
            self._jobs.put(None)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything a statement produced, read in the worker thread before the cursor closed."""

    rows: list[Any]
    description: Any
    rowcount: int
    lastrowid: int | None
    in_transaction: bool


def _run_statement(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return Outcome(rows, description, cursor.rowcount, cursor.lastrowid, conn.in_transaction)
    finally:
        cursor.close()


def _open_statement(
    conn: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[sqlite3.Cursor, Outcome]:
    cursor = conn.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
    except BaseException:
        cursor.close()
        raise
    outcome = Outcome(
        [], cursor.description, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    )
    return cursor, outcome


class Cursor:
    """A DBAPI cursor over a buffered :class:`Outcome`: only ``execute`` crosses threads."""

    server_side = False

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def _take(self, outcome: Outcome) -> None:
        self._rows = collections.deque(outcome.rows)
        self.description = outcome.description
        self.rowcount = outcome.rowcount
        self.lastrowid = outcome.lastrowid
        self._connection.in_transaction = outcome.in_transaction

    def execute(self, operation: str, parameters: Any = None) -> Any:
        connection = self._connection
        connection.in_transaction = True  # until the worker says (see Connection.in_transaction)
        self._take(connection.run(_run_statement, connection.raw, operation, parameters, False))

    def executemany(self, operation: str, seq_of_parameters: Any) -> Any:
        connection = self._connection
        connection.in_transaction = True
        self._take(
            connection.run(_run_statement, connection.raw, operation, seq_of_parameters, True)
        )

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio results call this to close the driver cursor while keeping the
        rows: here the ``sqlite3`` cursor closed in the worker already."""

    def setinputsizes(self, *sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass


class ServerSideCursor(Cursor):
    """Rows stay in SQLite until fetched: each fetch is one hand-off (``stream()``)."""

    server_side = True

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._cursor: sqlite3.Cursor | None = None

    def execute(self, operation: str, parameters: Any = None) -> Any:
        self.close()
        connection = self._connection
        connection.in_transaction = True
        self._cursor, outcome = connection.run(
            _open_statement, connection.raw, operation, parameters
        )
        self._take(outcome)

    def _fetch(self, name: str, *args: Any) -> Any:
        if self._cursor is None:
            return []
        return self._connection.run(getattr(self._cursor, name), *args)

    def fetchone(self) -> Any:
        return self._fetch("fetchone") if self._cursor is not None else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._fetch("fetchmany", size or self.arraysize)  # type: ignore[no-any-return]

    def fetchall(self) -> Sequence[Any]:
        return self._fetch("fetchall")  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Any]:
        while rows := self.fetchmany(64):
            yield from rows

    def close(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None and not self._connection.worker.stopped:
            self._connection.run(cursor.close)


class Connection(AdaptedConnection):
    """The DBAPI connection SQLAlchemy's pool holds; its methods are called in a greenlet."""

    __slots__ = ("dbapi", "in_transaction", "raw", "worker")

    def __init__(self, dbapi: Any, worker: Worker, raw: sqlite3.Connection) -> None:
        self.dbapi = dbapi
        self.worker = worker
        self.raw = raw  # used only by jobs running in the worker thread
        self._connection = raw  # type: ignore[assignment]  # (AdaptedConnection.driver_connection)
        # Whether sqlite3 has a transaction open, as the last job that returned saw it in the
        # worker thread. A statement sets it first: if it fails or is cancelled (its BEGIN may
        # have run), commit and rollback still go to the thread, as they always did.
        self.in_transaction = False

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One hand-off: ``fn(*args, **kwargs)`` in the worker thread, awaited from the
        greenlet SQLAlchemy runs the sync-style code in."""
        return await_(self.worker.call(fn, *args, **kwargs))

    def cursor(self, server_side: bool = False) -> Cursor:
        return ServerSideCursor(self) if server_side else Cursor(self)

    def execute(self, operation: str, parameters: Any = None) -> Cursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    def commit(self) -> None:
        if self.in_transaction:
            self.in_transaction = self.run(_commit, self.raw)

    def rollback(self) -> None:
        if self.in_transaction and not self.worker.stopped:
            self.in_transaction = self.run(_rollback, self.raw)

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.run(self.raw.create_function, *args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self.run(_get_isolation_level, self.raw)

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self.in_transaction = self.run(_set_isolation_level, self.raw, value)

    def close(self) -> None:
        if self.worker.stopped:
            return
        try:
            self.run(self.raw.close)
        finally:
            self.worker.stop()

    def terminate(self) -> None:
        """Close, but never hang on it (SQLAlchemy's rule for an async terminate); from the
        garbage collector (no greenlet, maybe no event loop) only queue the close."""
        if self.worker.stopped:
            return
        if in_greenlet():
            try:
                await_(asyncio.shield(self.worker.call(self.raw.close)))
            except (TimeoutError, OSError, sqlite3.Error):
                pass
            finally:  # also when cancelled (CancelledError goes on up, as in SQLAlchemy's)
                self.worker.stop()
        else:
            self.worker.post(self.raw.close)
            self.worker.stop()


def _commit(conn: sqlite3.Connection) -> bool:
    conn.commit()
    return conn.in_transaction


def _rollback(conn: sqlite3.Connection) -> bool:
    conn.rollback()
    return conn.in_transaction


def _get_isolation_level(conn: sqlite3.Connection) -> str | None:
    return conn.isolation_level


def _set_isolation_level(conn: sqlite3.Connection, value: str | None) -> bool:
    conn.isolation_level = value  # type: ignore[assignment]  # "" and None are valid too
    return conn.in_transaction


class DBAPI:
    """The module-like object the dialect uses as its DBAPI: sqlite3's exceptions and
    constants, and an async-adapted :meth:`connect`."""

    paramstyle = "qmark"

    def __init__(self) -> None:
        for name in (
            "DatabaseError", "DataError", "Error", "IntegrityError", "InterfaceError",
            "InternalError", "NotSupportedError", "OperationalError", "ProgrammingError",
            "Warning", "sqlite_version", "sqlite_version_info", "PARSE_COLNAMES",
            "PARSE_DECLTYPES", "Binary",
        ):  # fmt: skip
            setattr(self, name, getattr(sqlite3, name))
        self.sqlite = sqlite3

    def connect(self, database: str, **kwargs: Any) -> Connection:
        """Open the connection in its own thread (sqlite3 keeps ``check_same_thread``)."""
        worker = Worker()
        try:
            raw = await_(worker.call(sqlite3.connect, database, **kwargs))
        except BaseException:
            worker.stop()
            raise
        return Connection(self, worker, raw)


class ExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor(server_side=True)


class SQLiteDialect_sanad(SQLiteDialect_pysqlite):
    """pysqlite's dialect (URLs, types, transactions, functions) on the one-hop driver."""

    driver = "sanad"
    supports_statement_cache = True
    is_async = True
    has_terminate = True
    supports_server_side_cursors = True
    execution_ctx_cls = ExecutionContext

    @classmethod
    def import_dbapi(cls) -> Any:
        return DBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def get_driver_connection(self, connection: Any) -> Any:
        return connection.raw

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.terminate()


dialect = SQLiteDialect_sanad
registry.register("sqlite.sanad", __name__, "SQLiteDialect_sanad")


def sanad_url(url: URL) -> URL:
    """``sqlite+aiosqlite`` (what users write) as this driver's URL; other URLs unchanged."""
    if url.get_backend_name() == "sqlite" and url.get_driver_name() == "aiosqlite":
        return url.set(drivername="sqlite+sanad")
    return url
