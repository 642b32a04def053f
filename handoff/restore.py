"""Rebuild a process's in-memory handoff state from the database.

At start, after a failed action (its transaction rolled back, the memory may be ahead of it),
and when another process changed the shared state (PostgreSQL). Only the live rows are read
(agents, waiting and open tickets, pending offers), never the resolved past, so it costs the
same after a year of history as on the first day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from base.clock import Clock
from handoff.acd import Acd, AgentStatus
from handoff.acd import Offer as AcdOffer
from handoff.model import WAITING_STATES, WITH_AGENT_STATES, HandoffConfig
from handoff.schedule import Timers, arm_followups, plan_sla, ts
from storage.models import Agent, Event, Offer, Ticket


@dataclass
class Restored:
    """A process's handoff memory as read from the live rows; the engine takes it over
    (:meth:`handoff.engine.Engine.rebuild`)."""

    acd: Acd
    timers: Timers = field(default_factory=Timers)
    notified: dict[int, tuple[int, float]] = field(default_factory=dict)
    events_seen: int = 0  # the newest event id when the rows were read
    aht: float | None = None  # the average handle time of the last 100 handled chats


def load_agent(acd: Acd, a: Agent, now: float, active: int = 0) -> None:
    """Put an agent row, with its status and load, into the ACD."""
    acd.upsert_agent(
        a.id,
        now,
        capacity=a.capacity,
        skills=a.skills,
        languages=a.languages,
        routing_priority=a.routing_priority,
    )
    acd.restore_agent(
        a.id,
        now,
        status=AgentStatus(a.status),
        idle_since=ts(a.idle_since),
        no_answer_streak=a.no_answer_streak,
        wrap_up_until=ts(a.wrap_up_until) if a.wrap_up_until else 0.0,
        active=active,
        absent=a.absent_since is not None,
    )


async def newest_event_id(session: AsyncSession) -> int:
    """The id of the newest event (one indexed read): what another process changed shows
    here first."""
    return (await session.execute(select(func.max(Event.id)))).scalar_one_or_none() or 0


async def restore(config: HandoffConfig, clock: Clock, session: AsyncSession) -> Restored:
    """The handoff memory rebuilt from the live rows, read through ``session`` (the caller
    holds the engine's lock: :meth:`~handoff.engine.Engine.rebuild`)."""
    restored = Restored(Acd(config.acd), events_seen=await newest_event_id(session))
    acd, timers = restored.acd, restored.timers
    now = ts(clock.now())
    agents = (await session.execute(select(Agent))).scalars().all()
    loads = dict(
        (
            await session.execute(
                select(Ticket.assignee_id, func.count(Ticket.id))
                .where(Ticket.state.in_([s.value for s in WITH_AGENT_STATES]))
                .group_by(Ticket.assignee_id)
            )
        ).all()
    )
    for a in agents:
        load_agent(acd, a, now, active=int(loads.get(a.id, 0)))
        if a.offline_since is not None and loads.get(a.id, 0):
            timers.add(ts(a.offline_since) + config.offline_grace_s, "grace", a.id)
    waiting = (
        (
            await session.execute(
                select(Ticket)
                .where(Ticket.state.in_([s.value for s in WAITING_STATES]))
                .order_by(Ticket.rank_at, Ticket.id)
            )
        )
        .scalars()
        .all()
    )
    restored.notified = {
        t.id: (t.notified_position, ts(t.notified_at or clock.now()))
        for t in waiting
        if t.notified_position is not None
    }
    for t in waiting:
        if t.waiting_for_hours:
            continue
        acd.enqueue(
            t.id,
            now,
            rank_at=t.rank_at if t.rank_at is not None else now,
            priority=t.priority,
            category=t.category,
            language=t.language,
            failed=t.failed_agents,
            target_agent=t.target_agent_id,
            dispatch=False,
        )
    pending = (await session.execute(select(Offer).where(Offer.state == "pending"))).scalars().all()
    for o in pending:
        if o.ticket_id in acd.chats and o.agent_id in acd.agents:
            acd.restore_offer(
                AcdOffer(o.id, o.ticket_id, o.agent_id, ts(o.made_at), ts(o.deadline))
            )
    if any(t.waiting_for_hours for t in waiting):
        opens = config.hours.next_open(clock.now())
        if opens is not None:
            timers.add(ts(opens), "open", 0)
    open_tickets = (
        (
            await session.execute(
                select(Ticket).where(
                    Ticket.state.in_([s.value for s in (*WAITING_STATES, *WITH_AGENT_STATES)]),
                    Ticket.handoff_requested_at.is_not(None),
                )
            )
        )
        .scalars()
        .all()
    )
    for t in open_tickets:
        plan_sla(timers, config, t)
    # The follow-ups after resolve: only the earliest due one is read (an index's first
    # entry), whatever the number of tickets; its firing arms the next.
    await arm_followups(timers, session)
    handled = (
        await session.execute(
            select(Ticket.assigned_at, Ticket.resolved_at)
            .where(Ticket.assigned_at.is_not(None), Ticket.resolved_at.is_not(None))
            .order_by(Ticket.resolved_at.desc())
            .limit(100)
        )
    ).all()
    times = [
        (r - a).total_seconds() for a, r in handled if a is not None and r is not None and r > a
    ]
    if times:
        restored.aht = sum(times) / len(times)
    return restored
