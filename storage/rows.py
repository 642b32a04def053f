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
from typing import Any, cast

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

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
