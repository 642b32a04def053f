"""The durable outbox: what webhooks may have to hear about, written in the change's own
transaction.

Why not tail ``events.id``: on PostgreSQL an id is taken from the sequence when the row is
inserted, but transactions commit in any order, so a reader that has seen id 11 committed may
later find id 10 (from a transaction that was still open). A cursor over ids skips such rows
for ever unless it waits for every older transaction, which needs snapshot bookkeeping.
Instead, every flush that inserts a relevant ``events`` row (an event kind that maps to a
webhook type) or a transcript line (``messages``: customer, agent or bot) also inserts a
``webhook_outbox`` row naming it, on the same connection and in the same transaction
(:func:`install`: a SQLAlchemy ``after_flush`` listener for rows added through the ORM, a hook
of :func:`storage.events.record_events` for the set-based sweeps, and a hook of
:func:`storage.rows.insert_lines` for transcript lines written with Core: the customer's
message and the bot's answer on the hot path, the lines a channel sent). The outbox row
commits with the change or not at all; the worker reads whatever is committed, fans it out
into deliveries and deletes the outbox rows in one transaction. No cursor, so no gap to miss
(tests/webhooks/test_outbox.py commits two PostgreSQL transactions out of id order).

After a commit that wrote outbox rows the listener wakes this process's worker at once
(:func:`on_commit`); the worker also polls every few seconds for rows other processes wrote.

**No endpoint, no cost.** A customer's message is the hot path (one transaction of a few
statements); with no active endpoint nobody needs its outbox row. Each process learns whether
its database has an active endpoint (:func:`set_wanted`, per engine) when its webhook service
starts, every poll interval after that, and at once when an endpoint is saved in this process;
until it has looked, it writes the rows. So an endpoint added on another process takes effect
here within one poll interval (5 s by default): what happened before that is not sent to it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from storage.events import add_bulk_hook
from storage.models import Event, Message, WebhookOutbox
from storage.rows import NewLine, add_line_hook, table_of

# Event kinds (storage.events) -> webhook type. Several kinds may share a type.
EVENT_TYPES: dict[str, str] = {
    "ticket_opened": "ticket_opened",
    "handoff_requested": "handoff_requested",
    "ticket_queued": "ticket_queued",
    "ticket_requeued": "ticket_queued",
    "ticket_assigned": "ticket_assigned",
    "ticket_transferred": "ticket_transferred",
    "ticket_resolved": "ticket_resolved",
    "ticket_closed": "ticket_closed",
    "ticket_abandoned": "ticket_closed",
    "rating_given": "ticket_rated",
    "ticket_reopened": "ticket_reopened",
    # Written by the follow-up feature where present (docs/webhooks.md).
    "followup_sent": "followup_sent",
    "followup_confirmed": "followup_answered",
    "followup_reopened": "followup_answered",
}
MESSAGE_TYPE = "message"
MESSAGE_SENDERS = frozenset({"customer", "agent", "bot"})
PING_TYPE = "ping"
# Every type an endpoint may ask for, in the order pages list them.
TYPES: tuple[str, ...] = (
    "ticket_opened",
    "handoff_requested",
    "ticket_queued",
    "ticket_assigned",
    "ticket_transferred",
    MESSAGE_TYPE,
    "ticket_resolved",
    "ticket_closed",
    "ticket_rated",
    "ticket_reopened",
    "followup_sent",
    "followup_answered",
)

WRITTEN = "webhook_outbox_written"  # a session's info: this transaction wrote outbox rows
_wakers: list[Callable[[], None]] = []
_installed = False
# Per database engine: False once this process saw that no endpoint is active (unknown: True).
_wanted: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def set_wanted(engine: Engine, wanted: bool) -> None:
    """Whether transactions on ``engine`` (a database's sync engine) write outbox rows."""
    _wanted[engine] = wanted


def _wants(session: Session) -> bool:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _wanted.get(engine, True)


def on_commit(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` after every commit in this process that wrote outbox rows. Returns a
    function that stops it."""
    _wakers.append(wake)

    def remove() -> None:
        if wake in _wakers:
            _wakers.remove(wake)

    return remove


def _rows_of(objects: Any) -> list[dict[str, Any]]:
    rows = []
    for obj in objects:
        if isinstance(obj, Event) and obj.kind in EVENT_TYPES:
            rows.append(
                {"source": "event", "source_id": obj.id, "created_at": obj.created_at, "o": 0}
            )
        elif isinstance(obj, Message) and obj.sender in MESSAGE_SENDERS:
            rows.append(
                {"source": "message", "source_id": obj.id, "created_at": obj.created_at, "o": 1}
            )
    rows.sort(key=lambda r: (r["created_at"], r.pop("o"), r["source_id"]))
    return rows


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    if not _wants(session):
        return
    rows = _rows_of(session.new)
    if rows:
        session.connection().execute(insert(WebhookOutbox), rows)
        session.info[WRITTEN] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(WRITTEN, False):
        for wake in list(_wakers):
            wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(WRITTEN, None)


async def _bulk(session: AsyncSession, kind: str, at: datetime, ids: Sequence[int]) -> None:
    if kind not in EVENT_TYPES or not ids or not _wants(session.sync_session):
        return
    rows = [{"source": "event", "source_id": i, "created_at": at} for i in ids]
    await session.execute(insert(WebhookOutbox), rows)
    session.sync_session.info[WRITTEN] = True


_INSERT_OUTBOX = insert(table_of(WebhookOutbox))  # Core, built once (the hot path)


async def _lines(session: AsyncSession, lines: Sequence[NewLine]) -> None:
    """Transcript lines written with Core (``storage.rows.insert_lines``): their outbox rows,
    in the lines' order (their ids)."""
    if not _wants(session.sync_session):
        return
    rows = [
        {"source": "message", "source_id": line.id, "created_at": line.created_at}
        for line in lines
        if line.sender in MESSAGE_SENDERS
    ]
    if rows:
        await session.execute(_INSERT_OUTBOX, rows)
        session.sync_session.info[WRITTEN] = True


def install() -> None:
    """Write outbox rows in every session of this process from now on (idempotent). Every
    Sanad process calls it when it builds its services (app/services.py)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
    add_bulk_hook(_bulk)
    add_line_hook(_lines)
    _installed = True
