"""Staffing advice from the stored history: per local hour of the day (one weekday, or all
days), the handoff arrival rate, the mean handle time, the agents the target needs
(:mod:`handoff.staffing`) and the agents that were actually online.

Every figure is defined in ``docs/metrics.md`` ("Staffing"). In short, over the observed part
of the period ``[start, min(end, now))``, with hours and weekdays local to ``tz``:

* **arrivals**: ``handoff_requested`` and ``ticket_reopened`` events (each one starts a wait
  for an agent), counted in the local hour they happened;
* **exposure** of an hour slot: the seconds of the observed period that fall in it (a slot
  seen on 4 Mondays has 4 h of exposure); ``arrivals_per_hour = arrivals / exposure hours``;
* **handle time**: from the first ``ticket_assigned`` after a request to the
  ``ticket_resolved`` that ends the chat (resolved by an agent), credited to the hour of the
  assignment; an hour with fewer than ``MIN_HANDLED`` chats uses the period's mean;
* **abandonment**: waits (request to assignment) that ended with ``ticket_abandoned``; the
  patience rate ``theta = abandoned waits / total waiting seconds`` (every wait started in the
  period, an unfinished one counted up to the end of the observation). With at least
  ``MIN_ABANDONED`` abandoned waits the advice uses Erlang A, else Erlang C;
* **online**: an agent is online while their status is ``available`` or ``wrap_up`` (able to
  take chats: a busy agent is ``available`` with chats), rebuilt from the status-change events;
  ``online`` of an hour slot is the agent-seconds online in it divided by its exposure (the mean
  number of agents online then);
* **needed**: slots from Erlang C/A for that hour's arrival rate and handle time, turned into
  agents by ``ceil(slots / mean capacity)``, the capacity of the agents weighted by their
  online time (all agents' mean when nobody was online; 1 without agents).

Queries: events by ``(kind, created_at)`` (``ix_events_kind_created``) and the agents table.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from base.periods import Period, zone_named
from handoff import staffing
from handoff.acd import AgentStatus
from storage.db import Database
from storage.models import Agent, Event

MIN_ABANDONED = 10  # abandoned waits needed before the patience rate is trusted (Erlang A)
MIN_HANDLED = 5  # chats an hour slot needs for its own mean handle time
RESOLVE_LOOKAHEAD = timedelta(days=7)  # a chat assigned in the period may end this much later
_STEP = timedelta(minutes=15)  # every time zone offset is a multiple of 15 minutes
ONLINE = frozenset({AgentStatus.AVAILABLE.value, AgentStatus.WRAP_UP.value})
WAIT_STARTS = ("handoff_requested", "ticket_reopened")
TICKET_KINDS = (*WAIT_STARTS, "ticket_assigned", "ticket_abandoned", "ticket_resolved")
# Status events: the status they set, and the one they leave when the event does not say.
STATUS_KINDS: dict[str, tuple[str | None, str | None]] = {
    "agent_status_changed": (None, None),  # data: status, previous
    "agent_auto_away": (AgentStatus.AWAY.value, AgentStatus.AVAILABLE.value),
    "wrap_up_started": (AgentStatus.WRAP_UP.value, AgentStatus.AVAILABLE.value),
    "wrap_up_ended": (AgentStatus.AVAILABLE.value, AgentStatus.WRAP_UP.value),
    "agent_added": (AgentStatus.OFFLINE.value, AgentStatus.OFFLINE.value),
    "agent_removed": (AgentStatus.OFFLINE.value, None),
}

Slot = tuple[int, int]  # (local weekday 0 = Monday, local hour)


@dataclass(frozen=True)
class StaffingHour:
    """One local hour of the day (of the chosen weekday, or of all days)."""

    hour: int
    exposure_h: float  # hours of history behind this row
    arrivals: int
    arrivals_per_hour: float | None
    handled: int  # chats whose handle time was measured in this hour
    handle_mean_s: float | None  # this hour's own mean (None: fewer than MIN_HANDLED)
    handle_used_s: float | None  # what the formula used (this hour's, else the period's)
    slots_needed: int | None
    agents_needed: int | None
    online: float | None
    gap: float | None  # online - needed (negative: short of agents)
    model: str | None
    service_level: float | None  # predicted with the needed agents
    mean_wait_s: float | None


@dataclass(frozen=True)
class StaffingReport:
    period: Period
    observed_end: datetime
    tz: str
    weekday: int | None
    target_share: float
    target_seconds: float
    arrivals: int
    handled: int
    handle_mean_s: float | None
    waits: int
    abandoned: int
    waiting_s: float
    patience_rate: float | None  # theta (1/s) when Erlang A is used, else None
    model: str  # erlang_a or erlang_c
    mean_capacity: float
    hours: tuple[StaffingHour, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (instants as ISO 8601 UTC text)."""
        return {
            "period": self.period.as_dict(),
            "observed_end": self.observed_end.isoformat(),
            "tz": self.tz,
            "weekday": self.weekday,
            "target_share": self.target_share,
            "target_seconds": self.target_seconds,
            "arrivals": self.arrivals,
            "handled": self.handled,
            "handle_mean_s": self.handle_mean_s,
            "waits": self.waits,
            "abandoned": self.abandoned,
            "waiting_s": self.waiting_s,
            "patience_rate": self.patience_rate,
            "model": self.model,
            "mean_capacity": self.mean_capacity,
            "hours": [asdict(h) for h in self.hours],
        }


# ---------------------------------------------------------------------- local hour slots


@dataclass(frozen=True)
class Slots:
    """The observed interval cut at local hour boundaries: ``starts[i]`` (UTC) begins a piece
    of slot ``keys[i]`` that lasts until ``starts[i + 1]`` (the last until ``end``)."""

    starts: tuple[datetime, ...]
    keys: tuple[Slot, ...]
    end: datetime

    def split(self, start: datetime, end: datetime) -> Iterable[tuple[Slot, float]]:
        """``(slot, seconds)`` of ``[start, end)`` clipped to the observed interval."""
        start = max(start, self.starts[0])
        end = min(end, self.end)
        if end <= start:
            return
        i = bisect.bisect_right(self.starts, start) - 1
        while i < len(self.starts) and self.starts[i] < end:
            piece_end = self.starts[i + 1] if i + 1 < len(self.starts) else self.end
            seconds = (min(end, piece_end) - max(start, self.starts[i])).total_seconds()
            if seconds > 0:
                yield self.keys[i], seconds
            i += 1

    def slot_of(self, at: datetime) -> Slot | None:
        if not self.starts[0] <= at < self.end:
            return None
        return self.keys[bisect.bisect_right(self.starts, at) - 1]

    def exposure(self) -> dict[Slot, float]:
        seconds: dict[Slot, float] = defaultdict(float)
        for slot, s in self.split(self.starts[0], self.end):
            seconds[slot] += s
        return seconds


def _key(at: datetime, zone: ZoneInfo) -> Slot:
    local = at.astimezone(zone)
    return local.weekday(), local.hour


def slots_between(start: datetime, end: datetime, zone: ZoneInfo) -> Slots:
    """Cut ``[start, end)`` where the local (weekday, hour) changes."""
    if end <= start:
        raise ValueError("empty interval")
    starts = [start]
    keys = [_key(start, zone)]
    # Walk the UTC quarter hours (every offset is a multiple of 15 minutes, DST included).
    at = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0) + _STEP
    while at < end:
        key = _key(at, zone)
        if key != keys[-1]:
            starts.append(at)
            keys.append(key)
        at += _STEP
    return Slots(tuple(starts), tuple(keys), end)


# ---------------------------------------------------------------------- history


@dataclass(frozen=True)
class TicketFacts:
    """What the ticket events of the period say, by slot."""

    arrivals: dict[Slot, int]
    handle: dict[Slot, list[float]]
    waits: int
    abandoned: int
    waiting_s: float


def ticket_facts(
    rows: Sequence[tuple[int | None, str, str | None, datetime]],
    slots: Slots,
) -> TicketFacts:
    """``rows``: ``(ticket_id, kind, data.resolution, created_at)`` in time order (events of
    :data:`TICKET_KINDS` from the period start to the resolve look-ahead)."""
    arrivals: dict[Slot, int] = defaultdict(int)
    handle: dict[Slot, list[float]] = defaultdict(list)
    waiting_since: dict[int, datetime] = {}  # ticket -> wait start (in the period)
    assigned: dict[int, datetime] = {}  # ticket -> first assignment of the current chat
    waits = abandoned = 0
    waiting_s = 0.0
    for ticket_id, kind, resolution, at in rows:
        if ticket_id is None:
            continue
        if kind in WAIT_STARTS:
            assigned.pop(ticket_id, None)
            slot = slots.slot_of(at)
            if slot is None:
                continue
            arrivals[slot] += 1
            waits += 1
            waiting_since[ticket_id] = at
        elif kind in ("ticket_assigned", "ticket_abandoned"):
            started = waiting_since.pop(ticket_id, None)
            if started is not None:
                # A wait is observed up to the end of the observation, never after it.
                waiting_s += (min(at, slots.end) - started).total_seconds()
                abandoned += kind == "ticket_abandoned" and at < slots.end
            if kind == "ticket_abandoned":
                assigned.pop(ticket_id, None)
            elif at < slots.end:
                assigned.setdefault(ticket_id, at)
        elif kind == "ticket_resolved":
            began = assigned.pop(ticket_id, None)
            if began is not None and resolution in (None, "agent"):
                slot = slots.slot_of(began)
                if slot is not None:
                    handle[slot].append((at - began).total_seconds())
    # Waits still open at the end of the observation are censored there.
    waiting_s += sum((slots.end - s).total_seconds() for s in waiting_since.values())
    return TicketFacts(dict(arrivals), dict(handle), waits, abandoned, waiting_s)


def online_seconds(
    rows: Sequence[tuple[str, dict[str, Any] | None, datetime]],
    current: dict[int, str],
    slots: Slots,
) -> dict[int, dict[Slot, float]]:
    """Per agent, the seconds online in each slot. ``rows``: ``(kind, data, created_at)`` of
    the status events (:data:`STATUS_KINDS`) from the period start on, in time order;
    ``current``: each existing agent's stored status (the status of an agent with no event
    since the period start)."""
    changes: dict[int, list[tuple[datetime, str | None, str | None]]] = defaultdict(list)
    for kind, data, at in rows:
        data = data or {}
        agent_id = data.get("agent_id")
        if not isinstance(agent_id, int) or kind not in STATUS_KINDS:
            continue
        new, before = STATUS_KINDS[kind]
        if kind == "agent_status_changed":
            new, before = str(data.get("status")), str(data.get("previous"))
        changes[agent_id].append((at, new, before))
    result: dict[int, dict[Slot, float]] = {}
    for agent_id in set(changes) | set(current):
        events = changes.get(agent_id, [])
        # The status at the period start: what the first change left, or the stored one.
        status = events[0][2] if events else current.get(agent_id)
        since = slots.starts[0]
        spans: list[tuple[datetime, datetime]] = []
        for at, new, _ in events:
            if status in ONLINE:
                spans.append((since, at))
            status = new if new is not None else status
            since = at
        if status in ONLINE:
            spans.append((since, slots.end))
        seconds: dict[Slot, float] = defaultdict(float)
        for start, end in spans:
            for slot, s in slots.split(start, end):
                seconds[slot] += s
        if seconds:
            result[agent_id] = dict(seconds)
    return result


# ---------------------------------------------------------------------- the report


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def advise(
    slots: Slots,
    facts: TicketFacts,
    online: dict[int, dict[Slot, float]],
    capacities: dict[int, int],
    *,
    period: Period,
    tz: str,
    weekday: int | None,
    target_share: float,
    target_seconds: float,
) -> StaffingReport:
    """The report from the gathered facts (pure: no database)."""

    def chosen(slot: Slot) -> bool:
        return weekday is None or slot[0] == weekday

    exposure: dict[int, float] = defaultdict(float)
    for slot, s in slots.exposure().items():
        if chosen(slot):
            exposure[slot[1]] += s
    arrivals: dict[int, int] = defaultdict(int)
    for slot, n in facts.arrivals.items():
        if chosen(slot):
            arrivals[slot[1]] += n
    handle: dict[int, list[float]] = defaultdict(list)
    for slot, values in facts.handle.items():
        if chosen(slot):
            handle[slot[1]] += values
    online_by_hour: dict[int, float] = defaultdict(float)
    weighted = total_online = 0.0
    for agent_id, by_slot in online.items():
        for slot, s in by_slot.items():
            weighted += s * capacities.get(agent_id, 1)
            total_online += s
            if chosen(slot):
                online_by_hour[slot[1]] += s
    if total_online > 0:
        mean_capacity = weighted / total_online
    elif capacities:
        mean_capacity = sum(capacities.values()) / len(capacities)
    else:
        mean_capacity = 1.0
    mean_capacity = max(1.0, mean_capacity)

    all_handle = [v for values in handle.values() for v in values]
    period_handle = _mean(all_handle)
    theta = None
    if facts.abandoned >= MIN_ABANDONED and facts.waiting_s > 0:
        theta = facts.abandoned / facts.waiting_s
    hours = []
    for hour in range(24):
        seen = exposure.get(hour, 0.0)
        n = arrivals.get(hour, 0)
        own = handle.get(hour, [])
        own_mean = _mean(own) if len(own) >= MIN_HANDLED else None
        used = own_mean if own_mean is not None else period_handle
        rate = n / (seen / 3600) if seen > 0 else None
        online_now = online_by_hour.get(hour, 0.0) / seen if seen > 0 else None
        advice = None
        if rate is not None and (rate == 0 or (used is not None and used > 0)):
            mu = 1.0 / used if used else 1.0
            advice = staffing.slots_needed(rate / 3600, mu, target_share, target_seconds, theta)
        needed = (
            staffing.agents_for_slots(advice.slots, mean_capacity) if advice is not None else None
        )
        hours.append(
            StaffingHour(
                hour=hour,
                exposure_h=seen / 3600,
                arrivals=n,
                arrivals_per_hour=rate,
                handled=len(own),
                handle_mean_s=own_mean,
                handle_used_s=used if advice is not None and n else None,
                slots_needed=advice.slots if advice else None,
                agents_needed=needed,
                online=online_now,
                gap=online_now - needed if online_now is not None and needed is not None else None,
                model=advice.model if advice else None,
                service_level=advice.service_level if advice else None,
                mean_wait_s=advice.mean_wait if advice else None,
            )
        )
    return StaffingReport(
        period=period,
        observed_end=slots.end,
        tz=tz,
        weekday=weekday,
        target_share=target_share,
        target_seconds=target_seconds,
        arrivals=sum(arrivals.values()),
        handled=len(all_handle),
        handle_mean_s=period_handle,
        waits=facts.waits,
        abandoned=facts.abandoned,
        waiting_s=facts.waiting_s,
        patience_rate=theta,
        model="erlang_a" if theta else "erlang_c",
        mean_capacity=mean_capacity,
        hours=tuple(hours),
    )


async def staffing_report(
    db: Database,
    period: Period,
    now: datetime,
    *,
    tz: str,
    weekday: int | None,
    target_share: float,
    target_seconds: float,
) -> StaffingReport:
    """The staffing advice for ``period`` (observed up to ``now``), one read transaction."""
    if weekday is not None and not 0 <= weekday <= 6:
        raise ValueError(f"weekday is 0 (Monday) to 6, got {weekday}")
    zone = zone_named(tz)
    now = now.astimezone(UTC)
    start = period.start
    end = min(period.end, now)
    if end <= start:  # nothing observed yet: a report of empty hours
        end = start + timedelta(microseconds=1)
    slots = slots_between(start, end, zone)
    async with db.transaction() as session:
        ticket_rows = (
            await session.execute(
                # Only the resolution of the data (decoding every row's JSON is the cost).
                select(
                    Event.ticket_id,
                    Event.kind,
                    Event.data["resolution"].as_string(),
                    Event.created_at,
                )
                .where(
                    Event.kind.in_(TICKET_KINDS),
                    Event.created_at >= start,
                    Event.created_at <= min(end + RESOLVE_LOOKAHEAD, now),
                )
                .order_by(Event.created_at, Event.id)
            )
        ).all()
        status_rows = (
            await session.execute(
                select(Event.kind, Event.data, Event.created_at)
                .where(Event.kind.in_(tuple(STATUS_KINDS)), Event.created_at >= start)
                .order_by(Event.created_at, Event.id)
            )
        ).all()
        agents = (await session.execute(select(Agent.id, Agent.status, Agent.capacity))).all()
    facts = ticket_facts(ticket_rows, slots)
    online = online_seconds(
        status_rows,
        {a_id: status for a_id, status, _ in agents},
        slots,
    )
    return advise(
        slots,
        facts,
        online,
        {a_id: capacity for a_id, _, capacity in agents},
        period=period,
        tz=tz,
        weekday=weekday,
        target_share=target_share,
        target_seconds=target_seconds,
    )
