"""The timers of the handoff engine (besides the ACD's own offer deadlines) and the SLA plan.

Timers are ``(when, kind, key, extra)`` entries in a heap: ``grace`` (an offline agent's chats
go back to the queue), ``open`` (business hours open), ``sla_warning`` / ``sla_breached`` (key:
the ticket, extra: ``first_response`` or ``resolution``). Entries are never removed: each one
re-checks the row when it fires, so a stale entry does nothing. ``followup`` (key 0) fires at the
earliest follow-up due after a resolve (handoff/actions/followup.py) and re-arms itself.
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.model import HandoffConfig
from storage.models import Ticket

TimerEntry = tuple[float, str, int, str]
FOLLOWUP_TIMER = "followup"  # one entry (key 0): the earliest follow-up due after resolve


def ts(at: datetime) -> float:
    """A datetime as the ACD's float seconds."""
    return at.timestamp()


def dt(seconds: float) -> datetime:
    """The ACD's float seconds as a datetime."""
    return datetime.fromtimestamp(seconds, UTC)


class Timers:
    """A heap of (when, kind, key) with lazy deletion: stale entries are checked when due."""

    def __init__(self) -> None:
        self._heap: list[TimerEntry] = []

    def add(self, when: float, kind: str, key: int, extra: str = "") -> None:
        heapq.heappush(self._heap, (when, kind, key, extra))

    def next(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[TimerEntry]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap))
        return due

    def clear(self) -> None:
        self._heap.clear()


def set_sla(timers: Timers, config: HandoffConfig, ticket: Ticket, start: datetime) -> None:
    """The SLA clocks of a ticket start (again) at ``start``: due dates stored, timers armed."""
    sla = config.sla
    ticket.sla_first_response_due_at = (
        None
        if ticket.first_agent_reply_at is not None
        else sla.due("first_response", ticket.priority, start)
    )
    ticket.sla_resolution_due_at = sla.due("resolution", ticket.priority, start)
    ticket.sla_flags = []
    plan_sla(timers, config, ticket)


def plan_sla(timers: Timers, config: HandoffConfig, ticket: Ticket) -> None:
    """Arm the warning and breach timers a ticket has not passed yet."""
    start = ticket.handoff_requested_at
    if start is None:
        return
    for kind in ("first_response", "resolution"):
        due = config.sla.due(kind, ticket.priority, start)
        warn = config.sla.warn_at(kind, ticket.priority, start)
        if due is None:
            continue
        if warn is not None and f"{kind}:warning" not in ticket.sla_flags:
            timers.add(ts(warn), "sla_warning", ticket.id, kind)
        if f"{kind}:breached" not in ticket.sla_flags:
            timers.add(ts(due), "sla_breached", ticket.id, kind)


async def arm_followups(timers: Timers, session: AsyncSession) -> None:
    """Arm the follow-up timer at the earliest scheduled follow-up, if any: one read of the
    first entry of ``ix_tickets_followup_due`` (at start, and after each batch sent)."""
    due: datetime | None = (
        await session.execute(select(func.min(Ticket.followup_due_at)))
    ).scalar_one_or_none()
    if due is not None:
        timers.add(ts(due), FOLLOWUP_TIMER, 0)
