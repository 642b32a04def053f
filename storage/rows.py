"""Rows written with SQLAlchemy Core inside an ORM session (issue 12).

An ORM ``add`` and ``flush`` of a row the caller needs only the id of costs the unit of
work's bookkeeping on the event loop (about a fifth of a web chat message's CPU went to two
such flushes); a Core ``INSERT ... RETURNING id`` built once does the same write.

Transcript lines (``messages``) are the hottest such rows: :func:`insert_lines` writes a batch
of them (a customer's message and the bot's answer: one multi-row ``INSERT ... RETURNING``)
and then tells, explicitly and in the same transaction, whatever must hear of every new line:
the search documents (:func:`storage.search.add_line_docs`, always) and the hooks registered
with :func:`add_line_hook` (the webhooks' outbox, ``webhooks/outbox.py``). A line added
through the ORM instead (``session.add(Message(...))``) is heard by the same parties through
mapper and flush events; a line written by any other Core statement would be heard by nobody,
so every Core writer of ``messages`` goes through here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, make_transient_to_detached

from storage.models import Message, client_id_of
from storage.search import add_line_docs


def table_of(model: type[DeclarativeBase]) -> Table:
    """The table a model maps (typed as one, for Core statements)."""
    return cast(Table, model.__table__)


async def insert_row(session: AsyncSession, statement: Insert, values: dict[str, Any]) -> int:
    """Run ``statement`` (an ``INSERT ... RETURNING id`` built once) with ``values`` in the
    session's transaction; the new row's id. Objects the session holds that are still to be
    inserted are flushed first, as an ORM flush would (the row may refer to them)."""
    if session.new:
        await session.flush()
    row_id = (await session.execute(statement, values)).scalar_one()
    assert isinstance(row_id, int)
    return row_id


Row = TypeVar("Row", bound=DeclarativeBase)
_INSERT_OBJECT: dict[Table, Insert] = {}


async def insert_object(session: AsyncSession, obj: Row) -> Row:
    """Write a new ORM object (its ``id`` left to the database) with one Core ``INSERT ...
    RETURNING id`` built once per table, and make it persistent in ``session`` as if it had
    been loaded: no unit of work (a first contact's customer and ticket, issue 15).

    Columns not set take their column defaults, as a flush would give them (a column with
    only a server default must be set: its value would have to be read back). What a flush
    would also do is the caller's: the mapper events do not run (a ticket's search document:
    :func:`storage.search.add_ticket_doc`), and ``session.new`` is flushed first, as
    :func:`insert_row` does. Returns ``obj``, now persistent with its id."""
    mapper = inspect(obj).mapper
    table = cast(Table, mapper.local_table)
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key:
            continue
        if prop.key in obj.__dict__:
            value = obj.__dict__[prop.key]
        elif column.default is not None and column.default.is_scalar:
            value = column.default.arg
        elif column.default is not None and column.default.is_callable:
            value = column.default.arg(None)
        elif column.server_default is not None:
            raise ValueError(f"{table.name}.{column.name}: set it (a server default)")
        else:
            value = None
        setattr(obj, prop.key, value)
        values[column.key] = value
    statement = _INSERT_OBJECT.get(table)
    if statement is None:
        statement = _INSERT_OBJECT[table] = insert(table).returning(table.c.id)
    obj.id = await insert_row(session, statement, values)  # type: ignore[attr-defined]
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


# ---------------------------------------------------------------------- transcript lines


@dataclass(frozen=True)
class NewLine:
    """A transcript line just written by :func:`insert_lines`: the ``messages`` row's values
    (the same names as :class:`storage.models.Message`'s, for code that reads either)."""

    id: int
    ticket_id: int
    customer_id: int
    sender: str
    kind: str
    text: str
    channel_message_id: str | None
    meta: dict[str, Any]
    created_at: datetime


LINE_COLUMNS = (
    "ticket_id",
    "customer_id",
    "sender",
    "kind",
    "text",
    "channel_message_id",
    "meta",
    "created_at",
)
# Called by :func:`insert_lines` with the new lines, in their transaction, after the insert.
LineHook = Callable[[AsyncSession, Sequence[NewLine]], Awaitable[None]]
_line_hooks: list[LineHook] = []
_messages = table_of(Message)
# Built once; one statement for the batch (SQLAlchemy's "insertmanyvalues"). Not
# ``sort_by_parameter_order``: SQLite then inserts row by row. The ids come back in any order,
# but a multi-row VALUES takes them in the rows' order, rising (SQLite's rowid, PostgreSQL's
# sequence), so the sorted ids are the rows' ids in order.
_INSERT_LINES = insert(_messages).returning(_messages.c.id)


def add_line_hook(hook: LineHook) -> None:
    """Have ``hook`` hear of every line :func:`insert_lines` writes from now on (idempotent)."""
    if hook not in _line_hooks:
        _line_hooks.append(hook)


def remove_line_hook(hook: LineHook) -> None:
    if hook in _line_hooks:
        _line_hooks.remove(hook)


async def insert_lines(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[NewLine]:
    """Write transcript lines (each with every name of :data:`LINE_COLUMNS`) in one statement,
    in order, in the session's transaction; then their search documents and the line hooks.

    Objects the session holds that are still to be inserted are flushed first (a new ticket
    the lines belong to; events, whose outbox rows then come before the lines' as before)."""
    if not rows:
        return []
    if session.new:
        await session.flush()
    values = [{name: row[name] for name in LINE_COLUMNS} for row in rows]
    written = [{**v, "client_id": client_id_of(v["meta"])} for v in values]
    ids = sorted((await session.execute(_INSERT_LINES, written)).scalars().all())
    lines = [NewLine(int(i), **v) for i, v in zip(ids, values, strict=True)]
    await add_line_docs(session, lines)
    for hook in list(_line_hooks):
        await hook(session, lines)
    return lines
