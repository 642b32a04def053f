"""Writing the audit log. Every named action calls :func:`record_event` in its transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event

# Set in a session's ``info`` when the transaction records an event: the handoff engine tells
# other processes of a change only then (a timer tick that changed nothing stays quiet).
EVENTS_WRITTEN = "events_written"

# Called by :func:`record_events` with the new rows' ids, in the same transaction (the webhooks
# core writes its outbox rows there: webhooks/outbox.py).
BulkHook = Callable[[AsyncSession, str, datetime, Sequence[int]], Awaitable[None]]
_bulk_hooks: list[BulkHook] = []


def add_bulk_hook(hook: BulkHook) -> None:
    if hook not in _bulk_hooks:
        _bulk_hooks.append(hook)


def record_event(
    session: AsyncSession,
    kind: str,
    at: datetime,
    *,
    ticket_id: int | None = None,
    customer_id: int | None = None,
    actor: str = "system",
    **data: Any,
) -> Event:
    """Add an event row to ``session`` (flushed with the rest of the transaction)."""
    row = Event(
        kind=kind,
        ticket_id=ticket_id,
        customer_id=customer_id,
        actor=actor,
        data=data,
        created_at=at,
    )
    session.add(row)
    session.info[EVENTS_WRITTEN] = True
    return row


# Built once: a first contact (handoff.customers.first_contact) runs it on every new customer.
# On the table, not the mapped class: an ORM bulk insert leaves out None values and so splits
# rows with and without a ticket into two statements.
_events = cast(Table, Event.__table__)
_INSERT_EVENTS = insert(_events).returning(_events.c.id)


async def insert_events(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    """Event rows written with one multi-row Core statement, in order, in the session's
    transaction: what :func:`record_event` rows become at the next flush, without the ORM's
    unit of work. Each row names ``kind`` and ``created_at`` and may name ``ticket_id``,
    ``customer_id``, ``actor`` (default ``system``) and ``data``. The bulk hooks (the webhooks'
    outbox) hear of them kind by kind, as for :func:`record_events`."""
    if not events:
        return
    session.info[EVENTS_WRITTEN] = True
    if session.new:  # rows they may refer to, and earlier events, keep their order
        await session.flush()
    rows = [
        {
            "kind": e["kind"],
            "ticket_id": e.get("ticket_id"),
            "customer_id": e.get("customer_id"),
            "actor": e.get("actor", "system"),
            "data": e.get("data") or {},
            "created_at": e["created_at"],
        }
        for e in events
    ]
    # A multi-row VALUES takes its ids in the rows' order (see storage.rows._INSERT_LINES).
    ids = sorted((await session.execute(_INSERT_EVENTS, rows)).scalars().all())
    by_kind: dict[tuple[str, datetime], list[int]] = {}
    for row, event_id in zip(rows, ids, strict=True):
        by_kind.setdefault((row["kind"], row["created_at"]), []).append(int(event_id))
    for (kind, at), kind_ids in by_kind.items():
        for hook in _bulk_hooks:
            await hook(session, kind, at, kind_ids)


async def record_events(
    session: AsyncSession,
    kind: str,
    at: datetime,
    ticket_ids: Sequence[int],
    *,
    actor: str = "system",
    **data: Any,
) -> None:
    """The same event for many tickets, in one multi-row statement (set-based sweeps)."""
    if not ticket_ids:
        return
    session.info[EVENTS_WRITTEN] = True
    rows = [
        {"kind": kind, "ticket_id": t, "actor": actor, "data": data, "created_at": at}
        for t in ticket_ids
    ]
    if not _bulk_hooks:
        await session.execute(insert(Event), rows)
        return
    ids = (await session.execute(insert(Event).returning(Event.id), rows)).scalars().all()
    for hook in _bulk_hooks:
        await hook(session, kind, at, ids)
