"""Support metrics: the figures of the dashboard, computed from the stored record.

Every figure comes from the ``tickets``, ``events`` and ``ratings`` rows, so a number is the same
wherever it is shown and an operator can recompute it (``docs/metrics.md`` defines each one).

The unit is the *cohort*: the tickets **created** in the period (``period.start <= created_at <
period.end``) that pass the filters. Everything about those tickets counts, whenever it
happened (a ticket created on the 31st and resolved on the 1st is resolved in the period of the
31st). Figures about "now" (open now, the queue, agents' status and load) read the current
state.

* Durations are seconds (floats), ``None`` when there is no data; rates are fractions in
  ``[0, 1]``, ``None`` when the denominator is zero.
* Percentiles are nearest-rank: the value at rank ``ceil(p/100 * n)`` (1-based) of the sorted
  values, so a percentile is always one of the measured values.

Rows of the period are loaded in a few queries (tickets, their events of interest, their
ratings) and combined in Python; nothing is read per ticket.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from base.periods import PERIOD_NAMES, Period, period_named, zone_named
from handoff.followup_metrics import followup_figures
from handoff.priority import PRIORITIES
from handoff.tickets import OPEN_STATES, WITH_AGENT, State
from storage.models import Agent, Event, Rating, Ticket

__all__ = [
    "PERIOD_NAMES",
    "SLA_TARGETS",
    "Filters",
    "Period",
    "agent_table",
    "kpis",
    "mean",
    "percentile",
    "period_named",
    "to_csv",
]

SLA_TARGETS = ("first_response", "resolution")
_OPEN = tuple(s.value for s in OPEN_STATES)
_WAITING = (State.QUEUED.value, State.OFFERED.value)
# The events a figure reads; the others (messages, tags, notes...) are not loaded.
_EVENT_KINDS = (
    "handoff_requested",
    "ticket_reopened",
    "ticket_assigned",
    "first_agent_reply",
    "ticket_transferred",
    "ticket_resolved",
    "ticket_abandoned",
    "offer_expired",
    "sla_breached",
)


# ---------------------------------------------------------------------- periods and filters


@dataclass(frozen=True)
class Filters:
    """Ticket filters; ``None`` means any. ``agent_id`` keeps the tickets the agent was assigned
    to (and that agent's ratings, surveys and missed offers)."""

    category: str | None = None
    agent_id: int | None = None
    priority: str | None = None
    channel: str | None = None
    language: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


# ---------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: int) -> float | None:
    """Nearest-rank percentile: the value at rank ``ceil(p * n / 100)`` of the sorted values."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def _agent_of(actor: str) -> int | None:
    """``agent:12`` -> 12 (the actor string of the service's agent actions)."""
    prefix, _, rest = actor.partition(":")
    if prefix == "agent" and rest.isdigit():
        return int(rest)
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------- loading


@dataclass
class _Facts:
    """What the events say about one ticket."""

    assigned_agents: list[int] = field(default_factory=list)
    first_reply_agent: int | None = None
    transferred: bool = False
    abandoned_before_agent: bool = False
    breached: set[str] = field(default_factory=set)
    surveys: list[int | None] = field(default_factory=list)  # agent credited per survey
    missed_by: list[int] = field(default_factory=list)
    # The agent who resolved it last (the one a resolution by agents is credited to).
    resolved_by: int | None = None


@dataclass
class _Row:
    ticket: Ticket
    facts: _Facts

    @property
    def queue_wait_s(self) -> float | None:
        return _seconds(self.ticket.assigned_at, self.ticket.first_queued_at)

    @property
    def frt_s(self) -> float | None:
        return _seconds(self.ticket.first_agent_reply_at, self.ticket.first_queued_at)

    @property
    def reaction_s(self) -> float | None:
        return _seconds(self.ticket.first_agent_reply_at, self.ticket.assigned_at)

    @property
    def resolution_s(self) -> float | None:
        if self.ticket.resolution != "agent":
            return None
        return _seconds(self.ticket.resolved_at, self.ticket.first_queued_at)

    def resolved_by_agent(self, agent_id: int | None = None) -> bool:
        """Resolved by agents (``agent_id``: by that agent, the last to resolve it). A ticket
        counts once however often it was reopened and resolved again."""
        if self.ticket.resolution != "agent":
            return False
        return agent_id is None or self.facts.resolved_by == agent_id

    @property
    def fcr(self) -> bool:
        return (
            self.ticket.resolution == "agent"
            and self.ticket.reopened_count == 0
            and not self.facts.transferred
            and len(set(self.facts.assigned_agents)) == 1
        )


@dataclass
class _Data:
    rows: list[_Row]  # the cohort without the agent filter
    ratings: list[Rating]


def _cohort(period: Period, filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Ticket.created_at >= period.start,
        Ticket.created_at < period.end,
    ]
    conditions += _column_filters(filters)
    return conditions


def _column_filters(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.category is not None:
        conditions.append(Ticket.category == filters.category)
    if filters.priority is not None:
        conditions.append(Ticket.priority == filters.priority)
    if filters.channel is not None:
        conditions.append(Ticket.channel == filters.channel)
    if filters.language is not None:
        conditions.append(Ticket.language == filters.language)
    return conditions


async def _load(session: AsyncSession, period: Period, filters: Filters) -> _Data:
    """The cohort (without the agent filter), its events of interest and its ratings."""
    conditions = _cohort(period, filters)
    tickets = (
        (await session.execute(select(Ticket).where(*conditions).order_by(Ticket.id)))
        .scalars()
        .all()
    )
    events = (
        await session.execute(
            select(Event.ticket_id, Event.kind, Event.actor, Event.data)
            .join(Ticket, Ticket.id == Event.ticket_id)
            .where(*conditions, Event.kind.in_(_EVENT_KINDS))
            .order_by(Event.created_at, Event.id)
        )
    ).all()
    ratings = (
        (
            await session.execute(
                select(Rating)
                .join(Ticket, Ticket.id == Rating.ticket_id)
                .where(*conditions)
                .order_by(Rating.id)
            )
        )
        .scalars()
        .all()
    )
    facts: dict[int, _Facts] = defaultdict(_Facts)
    joined: dict[int, bool] = {}
    for ticket_id, kind, actor, data in events:
        if ticket_id is None:
            continue
        f = facts[ticket_id]
        data = data or {}
        if kind in ("handoff_requested", "ticket_reopened"):
            joined[ticket_id] = False  # a new request: nobody has joined it yet
        elif kind == "ticket_assigned":
            joined[ticket_id] = True
            agent = _agent_of(actor)
            if agent is not None:
                f.assigned_agents.append(agent)
        elif kind == "first_agent_reply":
            f.first_reply_agent = _agent_of(actor)
        elif kind == "ticket_transferred":
            f.transferred = True
        elif kind == "ticket_resolved":
            if data.get("resolution") != "bot":
                f.surveys.append(_int_or_none(data.get("agent_id")))
                f.resolved_by = _int_or_none(data.get("agent_id")) or _agent_of(actor)
        elif kind == "ticket_abandoned":
            f.abandoned_before_agent = not joined.get(ticket_id, False)
        elif kind == "offer_expired":
            agent = _int_or_none(data.get("agent_id"))
            if agent is not None:
                f.missed_by.append(agent)
        elif kind == "sla_breached":
            target = data.get("target")
            if isinstance(target, str):
                f.breached.add(target)
    rows = [_Row(t, facts.get(t.id) or _Facts()) for t in tickets]
    return _Data(rows, list(ratings))


def _for_agent(data: _Data, agent_id: int | None) -> tuple[list[_Row], list[Rating]]:
    """The tickets and ratings the figures count, after the agent filter."""
    if agent_id is None:
        return data.rows, data.ratings
    rows = [r for r in data.rows if agent_id in r.facts.assigned_agents]
    return rows, [r for r in data.ratings if r.agent_id == agent_id]


# ---------------------------------------------------------------------- figures


def _duration_stats(prefix: str, values: Sequence[float]) -> dict[str, Any]:
    return {
        f"{prefix}_mean_s": mean(values),
        f"{prefix}_p90_s": percentile(values, 90),
        f"{prefix}_n": len(values),
    }


def _rating_stats(ratings: Sequence[Rating], surveys: int) -> dict[str, Any]:
    stars = [r.stars for r in ratings]
    distribution = Counter(stars)
    return {
        "ratings_count": len(stars),
        "csat": _rate(sum(1 for s in stars if s >= 4), len(stars)),
        "rating_mean": mean([float(s) for s in stars]),
        "rating_distribution": {str(n): distribution.get(n, 0) for n in range(1, 6)},
        "surveys_sent": surveys,
        "rating_response_rate": _rate(len(stars), surveys),
    }


def _sla(rows: Iterable[_Row]) -> dict[str, dict[str, Any]]:
    """Per target: breached when a breach event was recorded (any cycle) or the target was
    reached at or after its stored due time; met when reached before it and never breached."""
    result: dict[str, dict[str, Any]] = {}
    for target in SLA_TARGETS:
        met = breached = 0
        for row in rows:
            t = row.ticket
            if target == "first_response":
                due, done = t.sla_first_response_due_at, t.first_agent_reply_at
            else:
                due, done = t.sla_resolution_due_at, t.resolved_at
            if target in row.facts.breached or (
                due is not None and done is not None and done >= due
            ):
                breached += 1
            elif due is not None and done is not None:
                met += 1
        result[target] = {"met": met, "breached": breached, "met_rate": _rate(met, met + breached)}
    return result


def _days(period: Period, zone: ZoneInfo) -> list[date]:
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _series(rows: Sequence[_Row], period: Period, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Per local day of ``created_at``: the same cohort as the totals, split by day."""
    by_day: dict[date, list[_Row]] = defaultdict(list)
    for row in rows:
        by_day[row.ticket.created_at.astimezone(zone).date()].append(row)
    series = []
    for day in _days(period, zone):
        day_rows = by_day.get(day, [])
        channels = Counter(r.ticket.channel for r in day_rows)
        series.append(
            {
                "date": day.isoformat(),
                "opened": len(day_rows),
                "resolved_bot": sum(1 for r in day_rows if r.ticket.resolution == "bot"),
                "resolved_agent": sum(1 for r in day_rows if r.ticket.resolution == "agent"),
                "handoffs": sum(1 for r in day_rows if r.ticket.first_queued_at is not None),
                "opened_by_channel": dict(sorted(channels.items())),
                "frt_mean_s": mean([v for r in day_rows if (v := r.frt_s) is not None]),
                "resolution_mean_s": mean(
                    [v for r in day_rows if (v := r.resolution_s) is not None]
                ),
            }
        )
    return series


async def _queue_now(session: AsyncSession, filters: Filters, now: datetime) -> dict[str, Any]:
    """Tickets waiting for an agent now (queued or offered), whenever they were created."""
    waiting = (
        await session.execute(
            select(Ticket.priority, Ticket.waiting_for_hours, Ticket.handoff_requested_at).where(
                Ticket.state.in_(_WAITING), *_column_filters(filters)
            )
        )
    ).all()
    by_priority = {p: 0 for p in PRIORITIES}
    waits: list[float] = []
    held = 0
    for priority, for_hours, requested in waiting:
        by_priority[priority] = by_priority.get(priority, 0) + 1
        held += 1 if for_hours else 0
        if requested is not None:
            waits.append((now - requested).total_seconds())
    return {
        "total": len(waiting),
        "by_priority": by_priority,
        "held_for_hours": held,
        "oldest_wait_s": max(waits) if waits else None,
    }


async def kpis(
    session: AsyncSession,
    period: Period,
    filters: Filters,
    now: datetime,
    *,
    tz: str = "UTC",
) -> dict[str, Any]:
    """The dashboard's figures for the tickets created in ``period`` (see the module doc and
    ``docs/metrics.md``); ``tz`` sets the local days of ``series``. JSON-ready."""
    zone = zone_named(tz)
    data = await _load(session, period, filters)
    rows, ratings = _for_agent(data, filters.agent_id)
    tickets = [r.ticket for r in rows]

    opened = len(tickets)
    resolved_bot = sum(1 for t in tickets if t.resolution == "bot")
    resolved_agent = sum(1 for r in rows if r.resolved_by_agent(filters.agent_id))
    deflected = sum(1 for t in tickets if t.resolution == "bot" and t.first_queued_at is None)
    handoffs = sum(1 for t in tickets if t.first_queued_at is not None)
    open_by_state = {s: 0 for s in _OPEN}
    for t in tickets:
        if t.state in open_by_state:
            open_by_state[t.state] += 1
    abandoned = sum(1 for r in rows if r.ticket.resolution == "abandoned")
    abandoned_early = sum(
        1 for r in rows if r.ticket.resolution == "abandoned" and r.facts.abandoned_before_agent
    )
    fcr = sum(1 for r in rows if r.fcr and r.resolved_by_agent(filters.agent_id))

    missed: Counter[int] = Counter()
    for r in data.rows:  # missed offers: the agent did not take the ticket, so no agent filter
        missed.update(r.facts.missed_by)
    if filters.agent_id is not None:
        missed = Counter({filters.agent_id: missed.get(filters.agent_id, 0)})
    surveys = sum(
        1
        for r in rows
        for credited in r.facts.surveys
        if filters.agent_id is None or credited == filters.agent_id
    )

    result: dict[str, Any] = {
        "period": period.as_dict(),
        "filters": filters.as_dict(),
        "now": now.astimezone(UTC).isoformat(),
        "opened": opened,
        "resolved": resolved_bot + resolved_agent,
        "resolved_bot": resolved_bot,
        "resolved_agent": resolved_agent,
        "deflected": deflected,
        "open_now": sum(open_by_state.values()),
        "open_now_by_state": open_by_state,
        "handoffs": handoffs,
        "bot_deflection_rate": _rate(deflected, opened),
        "handoff_rate": _rate(handoffs, opened),
    }
    result |= _duration_stats("queue_wait", [v for r in rows if (v := r.queue_wait_s) is not None])
    result |= _duration_stats("frt", [v for r in rows if (v := r.frt_s) is not None])
    result |= _duration_stats("reaction", [v for r in rows if (v := r.reaction_s) is not None])
    result |= _duration_stats(
        "resolution",
        [
            v
            for r in rows
            if r.resolved_by_agent(filters.agent_id) and (v := r.resolution_s) is not None
        ],
    )
    result |= {
        "fcr_count": fcr,
        "fcr_rate": _rate(fcr, resolved_agent),
        "missed_offers": sum(missed.values()),
        "missed_offers_by_agent": {str(a): n for a, n in sorted(missed.items())},
        "abandoned": abandoned_early,
        "abandoned_total": abandoned,
        "abandon_rate": _rate(abandoned_early, handoffs),
    }
    result |= _rating_stats(ratings, surveys)
    result["sla"] = _sla(rows)
    result["followup"] = await followup_figures(session, _cohort(period, filters), filters.agent_id)
    result["series"] = _series(rows, period, zone)
    result["queue_now"] = await _queue_now(session, filters, now)
    return result


async def agent_table(
    session: AsyncSession, period: Period, filters: Filters, now: datetime
) -> list[dict[str, Any]]:
    """One row per agent (only ``filters.agent_id`` when set) over the same cohort as
    :func:`kpis`: chats handled, FRT, resolution time, CSAT, missed offers; and now: status and
    load (open assigned/pending chats, whenever created) against capacity."""
    del now  # status and load are read as stored: they are the current ones
    data = await _load(session, period, filters)
    query = select(Agent).order_by(Agent.name, Agent.id)
    if filters.agent_id is not None:
        query = query.where(Agent.id == filters.agent_id)
    agents = (await session.execute(query)).scalars().all()
    loads: dict[int | None, int] = {
        assignee: int(n)
        for assignee, n in (
            await session.execute(
                select(Ticket.assignee_id, func.count(Ticket.id))
                .where(Ticket.state.in_(WITH_AGENT))
                .group_by(Ticket.assignee_id)
            )
        ).all()
    }
    followups = (await followup_figures(session, _cohort(period, filters)))["by_agent"]
    table = []
    for agent in agents:
        rows, ratings = _for_agent(data, agent.id)
        stars = [r.stars for r in ratings]
        resolved_rows = [r for r in data.rows if r.resolved_by_agent(agent.id)]
        frt = [
            v
            for r in data.rows
            if r.facts.first_reply_agent == agent.id and (v := r.frt_s) is not None
        ]
        resolution = [v for r in resolved_rows if (v := r.resolution_s) is not None]
        load = loads.get(agent.id, 0)
        table.append(
            {
                "agent_id": agent.id,
                "name": agent.name,
                "status": agent.status,
                "chats_handled": len(rows),
                "resolved": len(resolved_rows),
                "frt_mean_s": mean(frt),
                "resolution_mean_s": mean(resolution),
                "fcr_rate": _rate(sum(1 for r in resolved_rows if r.fcr), len(resolved_rows)),
                "csat": _rate(sum(1 for s in stars if s >= 4), len(stars)),
                "rating_mean": mean([float(s) for s in stars]),
                "ratings_count": len(stars),
                "missed_offers": sum(r.facts.missed_by.count(agent.id) for r in data.rows),
                "followup_confirmed_rate": followups.get(str(agent.id), {}).get("confirmed_rate"),
                "followup_reopen_rate": followups.get(str(agent.id), {}).get("reopen_rate"),
                "load": load,
                "capacity": agent.capacity,
                "load_ratio": load / agent.capacity if agent.capacity else None,
            }
        )
    return table


# ---------------------------------------------------------------------- export

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = str(value)
    # A spreadsheet would run a cell starting like a formula (customer text is exported).
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV of ``rows``: the header is the keys in first-seen order, a missing key is empty;
    ``None`` is empty, nested values are JSON, text that a spreadsheet would take for a formula
    gets a leading ``'``."""
    header: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                header.append(key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in header])
    return out.getvalue()
