"""Writing the audit log. Every named action calls :func:`record_event` in its transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
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
