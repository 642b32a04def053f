"""The handoff service: named actions on tickets and agents, persisted, audited and announced.

Every public coroutine here is one state change (``request_human``, ``accept_offer``,
``resolve_ticket``, ...). Each runs under the service's lock, in one database transaction that
also writes the event rows, then delivers what must be said through the :class:`~handoff.port.
Port` once the transaction has committed. The routing decisions come from :class:`~handoff.acd.
Acd` (in memory); the database is the record and the arbiter between processes:

* an offer is claimed with a compare-and-set on the ticket (``queued -> offered``), row locks
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and partial unique indexes (one pending offer per
  ticket and per agent), so two Sanad processes sharing a database never double-offer or
  double-assign; the loser re-reads the state;
* an accept is a compare-and-set on the offer (``pending -> accepted``, before its deadline), so
  two accepts, or an accept racing the expiry, have exactly one outcome;
* :meth:`HandoffService.start` rebuilds the in-memory state from the database: queued tickets
  stay queued and pending offers are re-armed with their stored deadlines.

Time comes from the injected clock. Timers (offer expiry, wrap-up, exclusion lapse, SLA warnings
and breaches, business-hours openings, offline grace, auto-close after the reopen window) are
served by :meth:`tick`, which a background task calls at the next deadline, and which tests call
after moving a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from base.clock import Clock
from handoff import notices
from handoff.acd import (
    AcceptError,
    Acd,
    AcdConfig,
    AgentSetAway,
    AgentStatus,
    Effect,
    ExclusionLapsed,
    Offered,
    OfferEnded,
    TargetDropped,
    WrapUpEnded,
    rank_at,
)
from handoff.acd import (
    Offer as AcdOffer,
)
from handoff.hours import BusinessHours
from handoff.port import Outgoing, Port, deliver
from handoff.priority import DEFAULT_HEAD_START_S, PRIORITIES, PriorityRules
from handoff.sla import SlaPolicy
from handoff.tickets import State, add_attachment, last_customer_texts
from storage.db import Database
from storage.events import record_event, record_events
from storage.models import (
    Agent,
    Customer,
    Event,
    Message,
    Note,
    Offer,
    QueryLog,
    Rating,
    Ticket,
)

log = logging.getLogger(__name__)

WAITING_STATES = (State.QUEUED, State.OFFERED)
WITH_AGENT_STATES = (State.ASSIGNED, State.PENDING)


@dataclass(frozen=True)
class HandoffConfig:
    acd: AcdConfig = field(default_factory=AcdConfig)
    head_start_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HEAD_START_S))
    rules: PriorityRules = field(default_factory=PriorityRules)
    hours: BusinessHours = field(default_factory=BusinessHours.always_open)
    sla: SlaPolicy = field(default_factory=SlaPolicy.default)
    reopen_window_s: float = 24 * 3600.0
    bot_idle_close_s: float = 24 * 3600.0
    idle_sweep_s: float = 600.0
    offline_grace_s: float = 120.0
    position_update_s: float = 60.0
    waiting_reminder_s: float = 120.0  # offers lapsing: tell the customer where they stand
    default_handle_s: float = 300.0
    sync_interval_s: float = 2.0


@dataclass(frozen=True)
class QueueInfo:
    """Where a waiting ticket stands, as told to its customer."""

    ticket_id: int
    state: str
    priority: str
    position: int | None = None
    wait_s: float | None = None
    agents_online: bool = True
    opens_at: datetime | None = None


@dataclass(frozen=True)
class AcceptResult:
    ok: bool
    reason: str  # accepted | taken | expired | not_yours
    ticket_id: int | None = None


async def offer_notice(
    session: AsyncSession,
    offer_id: str,
    agent_id: int,
    ticket: Ticket,
    deadline: datetime,
    now: datetime,
) -> notices.OfferMade:
    """What an agent is shown of an offer: who waits, how long, their last lines."""
    customer = await session.get(Customer, ticket.customer_id)
    requested = ticket.handoff_requested_at or now
    return notices.OfferMade(
        offer_id=offer_id,
        agent_id=agent_id,
        ticket_id=ticket.id,
        priority=ticket.priority,
        category=ticket.category,
        language=ticket.language,
        customer_name=customer.name if customer else "",
        waiting_s=(now - requested).total_seconds(),
        deadline=deadline,
        last_messages=await last_customer_texts(session, ticket.id),
    )


def _address(ticket: Ticket, customer: Customer) -> notices.CustomerAddress:
    """Where a notice about ``ticket`` reaches its customer."""
    return notices.CustomerAddress(
        ticket_id=ticket.id,
        customer_id=customer.id,
        channel=customer.channel,
        external_id=customer.external_id,
        language=customer.language,
    )


class HandoffError(Exception):
    """An action that does not apply (wrong state, unknown ticket or agent)."""


TRANSFER_REFUSALS = {
    "yours": "{agent} already has this chat",
    "offline": "{agent} is offline",
    "away": "{agent} is away",
    "busy": "{agent} has no free slot right now",
    "skill": "{agent} does not handle {category!r}",
    "language": "{agent} does not speak {language!r}",
    "nobody": "no agent online handles {category!r}{in_language}",
}


class TransferRefused(HandoffError):
    """A transfer to someone who cannot take the chat now. ``reason`` is one of
    :data:`TRANSFER_REFUSALS` (channels may say it in the agent's language)."""

    def __init__(self, agent: str, reason: str, category: str = "", language: str = "") -> None:
        self.agent, self.reason, self.category, self.language = agent, reason, category, language
        text = TRANSFER_REFUSALS[reason].format(
            agent=agent,
            category=category,
            language=language,
            in_language=f" in {language!r}" if language else "",
        )
        super().__init__(f"cannot transfer: {text}")


@dataclass(frozen=True)
class TransferTargets:
    agents: list[tuple[int, str]]  # (agent id, name) of those who can take the chat now
    categories: list[str]


class _Timers:
    """A heap of (when, kind, key) with lazy deletion: stale entries are checked when due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, int, str]] = []

    def add(self, when: float, kind: str, key: int, extra: str = "") -> None:
        heapq.heappush(self._heap, (when, kind, key, extra))

    def next(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[float, str, int, str]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap))
        return due

    def clear(self) -> None:
        self._heap.clear()


def _ts(at: datetime) -> float:
    return at.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def position_matters(told: int, now: int) -> bool:
    """Whether a waiting customer told ``told`` should hear of their new place ``now``: any
    step near the front (the last few places are the ones people watch), further back only a
    move of a fifth or more. Worse places are never announced (they follow from priorities)."""
    if now >= told:
        return False
    return now <= 5 or now <= told * 0.8


class HandoffService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        port: Port,
        config: HandoffConfig | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.port = port
        self.config = config or HandoffConfig()
        self.acd = Acd(self.config.acd)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers = _Timers()
        self._aht = self.config.default_handle_s
        self._arrivals: deque[tuple[float, str]] = deque()
        self._last_sync = 0.0
        self._stopping = False
        self._next_idle_sweep = 0.0
        self._sweep_task: asyncio.Task[int] | None = None
        self._asleep = False  # the timer loop waits (until ``_sleeping_until``, or a poke)
        self._sleeping_until: float | None = None
        self._events_seen = -1  # the newest event id the last restore saw (PostgreSQL)
        self.wakeups = 0  # timer-loop rounds: an idle service must not spin (tested)
        self._notified: dict[int, tuple[int, float]] = {}  # ticket -> (position told, when)
        self._positions_due: dict[int, tuple[int, float | None]] = {}  # ticket -> (position, wait)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, run_timers: bool = True) -> None:
        """Rebuild the state from the database, fire what is overdue, start the timer task.

        Sweeps over old rows (:meth:`sweep`) do not hold up the start: the timer task runs
        them in the background, in small batches."""
        async with self._lock:
            await self._restore()
        await self._run(self._tick)
        if run_timers and self._task is None:
            self._task = asyncio.create_task(self._run_timers(), name="sanad-handoff-timers")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._sweep_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._sweep_task = None
        self._wake.set()

    async def _run_timers(self) -> None:
        """Sleep until the next deadline (or a poke that brings one nearer), then fire what is
        due. Nothing else wakes it: an idle service costs no CPU."""
        while not self._stopping:
            wake = self.next_wakeup()
            now = _ts(self.clock.now())
            timeout = None if wake is None else max(0.0, wake - now)
            if self.db.backend == "postgresql":
                interval = self.config.sync_interval_s
                timeout = interval if timeout is None else min(timeout, interval)
            self._sleeping_until = None if timeout is None else now + timeout
            self._asleep = True
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that races its timeout, and stop() would then wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            self._asleep = False
            self.wakeups += 1
            if self._stopping:
                return
            try:
                now = _ts(self.clock.now())
                if self.db.backend == "postgresql" and (
                    now - self._last_sync >= self.config.sync_interval_s
                ):
                    await self._resync_if_changed()
                await self._run(self._tick)
                if self._sweep_due() and (self._sweep_task is None or self._sweep_task.done()):
                    self._next_idle_sweep = now + self.config.idle_sweep_s
                    self._sweep_task = asyncio.create_task(self.sweep(), name="sanad-sweep")
            except Exception:  # keep serving: one bad timer must not stop the others
                log.exception("handoff timer failed")
                await asyncio.sleep(0.5)

    def next_wakeup(self) -> float | None:
        times = [
            t
            for t in (self.acd.next_deadline(), self._timers.next(), self._next_idle_sweep)
            if t is not None
        ]
        return min(times) if times else None

    def _poke_if_sooner(self) -> None:
        """Wake the timer loop only when an action brought a deadline nearer than the one it
        sleeps toward; otherwise it wakes on time by itself."""
        if not self._asleep:
            return  # busy: it looks at the deadlines again before it sleeps
        wake = self.next_wakeup()
        if wake is not None and (self._sleeping_until is None or wake < self._sleeping_until):
            self._wake.set()

    # ------------------------------------------------------------------ sweeps

    def _sweep_due(self) -> bool:
        return _ts(self.clock.now()) >= self._next_idle_sweep

    async def sweep(self, batch: int = 500) -> int:
        """Close what has gone quiet, set-based and in bounded batches, each batch its own
        short transaction outside the handoff lock (chats go on meanwhile):

        * self-service tickets with no message for ``bot_idle_close_s`` (resolution ``idle``),
          so "open now" means open and the next message starts a new contact;
        * resolved tickets whose reopen window is over.

        Neither kind is in the ACD's memory, so the lock is not needed; each statement
        re-checks the state, so a ticket that moved on meanwhile is left alone."""
        now = self.clock.now()
        self._next_idle_sweep = _ts(now) + self.config.idle_sweep_s
        quiet_since = now - timedelta(seconds=self.config.bot_idle_close_s)
        recent = (
            select(Message.id)
            .where(Message.ticket_id == Ticket.id, Message.created_at >= quiet_since)
            .exists()
        )
        idle = (Ticket.state == State.BOT, Ticket.created_at < quiet_since, ~recent)
        over = (
            Ticket.state == State.RESOLVED,
            Ticket.resolved_at <= now - timedelta(seconds=self.config.reopen_window_s),
        )
        closed = 0
        for where, values, data in (
            (idle, {"resolution": func.coalesce(Ticket.resolution, "idle")}, {"reason": "idle"}),
            (over, {}, {}),
        ):
            while True:
                async with self.db.transaction() as session:
                    # Two statements, each on an index: which ids (no ORDER BY, so the
                    # planner may read the state index), then the update of those rows with
                    # the condition checked again (a ticket may have moved on meanwhile).
                    ids = list(
                        (await session.execute(select(Ticket.id).where(*where).limit(batch)))
                        .scalars()
                        .all()
                    )
                    done = (
                        (
                            await session.execute(
                                update(Ticket)
                                .where(Ticket.id.in_(ids), *where)
                                .values(state=State.CLOSED, closed_at=now, **values)
                                .returning(Ticket.id)
                                .execution_options(synchronize_session=False)
                            )
                        )
                        .scalars()
                        .all()
                        if ids
                        else []
                    )
                    await record_events(session, "ticket_closed", now, done, **data)
                closed += len(done)
                if len(ids) < batch:
                    break
        return closed

    async def resync(self) -> None:
        """Re-read the shared state (another process may have changed it)."""
        async with self._lock:
            await self._restore()
        await self.tick()

    async def _resync_if_changed(self) -> None:
        """The periodic look at what other processes did: one indexed read of the newest
        event id; the live state is re-read only when something happened since."""
        async with self.db.transaction() as session:
            newest = (await session.execute(select(func.max(Event.id)))).scalar_one_or_none()
        if (newest or 0) != self._events_seen:
            async with self._lock:
                await self._restore()
        else:
            self._last_sync = _ts(self.clock.now())

    async def _restore(self) -> None:
        """Rebuild the in-memory state from the live rows only (agents, waiting and open
        tickets, pending offers): never the resolved past, so it costs the same after a
        year of history as on the first day."""
        self.acd = Acd(self.config.acd)
        self._timers.clear()
        now = _ts(self.clock.now())
        self._last_sync = now
        self._positions_due.clear()
        async with self.db.transaction() as session:
            newest = (await session.execute(select(func.max(Event.id)))).scalar_one_or_none()
            self._events_seen = newest or 0
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
                self._load_agent(a, now, active=int(loads.get(a.id, 0)))
                if a.offline_since is not None and loads.get(a.id, 0):
                    self._timers.add(
                        _ts(a.offline_since) + self.config.offline_grace_s, "grace", a.id
                    )
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
            self._notified = {
                t.id: (t.notified_position, _ts(t.notified_at or self.clock.now()))
                for t in waiting
                if t.notified_position is not None
            }
            for t in waiting:
                if t.waiting_for_hours:
                    continue
                self.acd.enqueue(
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
            pending = (
                (await session.execute(select(Offer).where(Offer.state == "pending")))
                .scalars()
                .all()
            )
            for o in pending:
                if o.ticket_id in self.acd.chats and o.agent_id in self.acd.agents:
                    self.acd.restore_offer(
                        AcdOffer(o.id, o.ticket_id, o.agent_id, _ts(o.made_at), _ts(o.deadline))
                    )
            if any(t.waiting_for_hours for t in waiting):
                opens = self.config.hours.next_open(self.clock.now())
                if opens is not None:
                    self._timers.add(_ts(opens), "open", 0)
            open_tickets = (
                (
                    await session.execute(
                        select(Ticket).where(
                            Ticket.state.in_(
                                [s.value for s in (*WAITING_STATES, *WITH_AGENT_STATES)]
                            ),
                            Ticket.handoff_requested_at.is_not(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
            for t in open_tickets:
                self._plan_sla(t)
            handled = (
                await session.execute(
                    select(Ticket.assigned_at, Ticket.resolved_at)
                    .where(Ticket.assigned_at.is_not(None), Ticket.resolved_at.is_not(None))
                    .order_by(Ticket.resolved_at.desc())
                    .limit(100)
                )
            ).all()
            times = [
                (r - a).total_seconds()
                for a, r in handled
                if a is not None and r is not None and r > a
            ]
            if times:
                self._aht = sum(times) / len(times)
        self._poke_if_sooner()

    def _load_agent(self, a: Agent, now: float, active: int = 0) -> None:
        self.acd.upsert_agent(
            a.id,
            now,
            capacity=a.capacity,
            skills=a.skills,
            languages=a.languages,
            routing_priority=a.routing_priority,
        )
        self.acd.restore_agent(
            a.id,
            now,
            status=AgentStatus(a.status),
            idle_since=_ts(a.idle_since),
            no_answer_streak=a.no_answer_streak,
            wrap_up_until=_ts(a.wrap_up_until) if a.wrap_up_until else 0.0,
            active=active,
        )

    # ------------------------------------------------------------------ the unit of work

    async def _run(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``action(session, now, outbox, ...)`` under the lock in one transaction, then
        deliver the outbox through the port, then tell waiting customers whose place in the
        queue changed enough to matter (their own short transaction)."""
        outbox: list[Outgoing] = []
        async with self._lock:
            now = self.clock.now()
            try:
                async with self.db.transaction() as session:
                    result = await action(session, now, outbox, *args, **kwargs)
            except HandoffError:
                # A refused action (wrong state, not your ticket): raised before anything
                # changed, in memory or in the database; nothing to rebuild.
                raise
            except Exception:
                # The transaction rolled back: the in-memory state may be ahead of it.
                await self._restore()
                raise
            positions, self._positions_due = self._positions_due, {}
        self._poke_if_sooner()
        await self._deliver(outbox)
        if positions:
            await self._tell_positions(positions, now)
        return result

    async def _deliver(self, outbox: Sequence[Outgoing]) -> None:
        for item in outbox:
            try:
                await deliver(self.port, item)
            except Exception:
                log.exception("port failed to deliver %s", type(item).__name__)

    # ------------------------------------------------------------------ effects

    async def _apply(
        self, session: AsyncSession, effects: list[Effect], now: datetime, outbox: list[Outgoing]
    ) -> None:
        """Persist what the ACD decided, with events, and queue what must be said."""
        work = list(effects)
        while work:
            effect = work.pop(0)
            if isinstance(effect, Offered):
                work += await self._claim(session, effect, now, outbox)
            elif isinstance(effect, OfferEnded):
                await self._offer_ended(session, effect, now, outbox)
            elif isinstance(effect, AgentSetAway):
                agent = await session.get(Agent, effect.agent_id)
                if agent is not None:
                    agent.status = AgentStatus.AWAY
                    agent.updated_at = now
                    record_event(
                        session,
                        "agent_auto_away",
                        now,
                        actor="system",
                        agent_id=effect.agent_id,
                        missed=effect.missed,
                    )
                    outbox.append(notices.SetAway(effect.agent_id, missed=effect.missed))
                    outbox.append(
                        notices.AgentSetAway(
                            agent_id=effect.agent_id, name=agent.name, missed=effect.missed
                        )
                    )
            elif isinstance(effect, WrapUpEnded):
                agent = await session.get(Agent, effect.agent_id)
                if agent is not None and agent.status == AgentStatus.WRAP_UP:
                    agent.status = AgentStatus.AVAILABLE
                    agent.wrap_up_until = None
                    record_event(session, "wrap_up_ended", now, agent_id=effect.agent_id)
            elif isinstance(effect, TargetDropped):
                ticket = await session.get(Ticket, effect.ticket_id)
                if ticket is not None and ticket.target_agent_id == effect.agent_id:
                    ticket.target_agent_id = None
                    record_event(
                        session,
                        "transfer_target_dropped",
                        now,
                        ticket_id=ticket.id,
                        agent_id=effect.agent_id,
                    )
            elif isinstance(effect, ExclusionLapsed):
                ticket = await session.get(Ticket, effect.ticket_id)
                if ticket is not None:
                    ticket.failed_agents = []
                    record_event(
                        session,
                        "exclusion_lapsed",
                        now,
                        ticket_id=ticket.id,
                        agents=list(effect.agents),
                    )

    async def _claim(
        self, session: AsyncSession, effect: Offered, now: datetime, outbox: list[Outgoing]
    ) -> list[Effect]:
        """Make the offer durable, or learn that another process got there first."""
        offer = effect.offer
        ticket = (
            await session.execute(
                select(Ticket)
                .where(Ticket.id == offer.ticket_id, Ticket.state == State.QUEUED)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        agent = (
            await session.execute(
                select(Agent)
                .where(Agent.id == offer.agent_id, Agent.status == AgentStatus.AVAILABLE)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        claimed = ticket is not None and agent is not None
        if claimed:
            try:
                async with session.begin_nested():
                    session.add(
                        Offer(
                            id=offer.id,
                            ticket_id=offer.ticket_id,
                            agent_id=offer.agent_id,
                            state="pending",
                            made_at=_dt(offer.made_at),
                            deadline=_dt(offer.deadline),
                        )
                    )
                    await session.flush()
            except IntegrityError:
                claimed = False
        if not claimed or ticket is None or agent is None:
            # Another process holds the ticket or the agent: forget this offer quietly; the
            # next resync brings the shared state back.
            log.info("offer %s lost its claim; resyncing", offer.id)
            self.acd.forget(offer.ticket_id, _ts(now))
            self._last_sync = 0.0
            return []
        ticket.state = State.OFFERED
        ticket.first_offered_at = ticket.first_offered_at or now
        agent.idle_since = now
        agent.updated_at = now
        record_event(
            session,
            "offer_made",
            now,
            ticket_id=ticket.id,
            actor="system",
            offer_id=offer.id,
            agent_id=agent.id,
            deadline=_dt(offer.deadline).isoformat(),
        )
        outbox.append(
            await offer_notice(session, offer.id, agent.id, ticket, _dt(offer.deadline), now)
        )
        return []

    async def _offer_ended(
        self, session: AsyncSession, effect: OfferEnded, now: datetime, outbox: list[Outgoing]
    ) -> None:
        offer = effect.offer
        reason = effect.reason
        changed = await session.execute(
            update(Offer)
            .where(Offer.id == offer.id, Offer.state == "pending")
            .values(state=reason, ended_at=now)
        )
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            log.info("offer %s was already settled elsewhere", offer.id)
            self._last_sync = 0.0
            return
        ticket = await session.get(Ticket, offer.ticket_id)
        agent = await session.get(Agent, offer.agent_id)
        assert ticket is not None
        record_event(
            session,
            f"offer_{reason}",
            now,
            ticket_id=ticket.id,
            offer_id=offer.id,
            agent_id=offer.agent_id,
        )
        if agent is not None:
            state = self.acd.agents.get(agent.id)
            if state is not None:
                agent.no_answer_streak = state.no_answer_streak
                agent.idle_since = _dt(max(state.idle_since, _ts(agent.idle_since)))
        if reason == "accepted":
            return
        outbox.append(
            notices.OfferEnded(
                offer.agent_id, offer_id=offer.id, ticket_id=ticket.id, reason=reason
            )
        )
        chat = self.acd.chats.get(ticket.id)
        if chat is not None and ticket.state == State.OFFERED:
            ticket.state = State.QUEUED
            ticket.failed_agents = sorted(chat.failed)
            record_event(session, "ticket_requeued", now, ticket_id=ticket.id, reason=reason)
            await self._remind_waiting(session, ticket, now, outbox)

    async def _remind_waiting(
        self, session: AsyncSession, ticket: Ticket, now: datetime, outbox: list[Outgoing]
    ) -> None:
        """Offers keep lapsing and the position does not improve: the customer hears where
        they stand at most every ``waiting_reminder_s``, not silence (nor a stale "nobody is
        online")."""
        told = ticket.notified_at
        if told is not None and (now - told).total_seconds() < self.config.waiting_reminder_s:
            return
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None:
            return
        info = self._queue_info(ticket, now)
        outbox.append(notices.StillWaiting(_address(ticket, customer), info.position, info.wait_s))
        self._remember_notice(ticket, info.position, now)

    # ------------------------------------------------------------------ customer side

    async def request_human(self, ticket_id: int, *, reason: str, text: str = "") -> QueueInfo:
        """The customer asks for a person: the ticket joins the queue with its priority."""
        return await self._run(self._request_human, ticket_id, reason, text)  # type: ignore[no-any-return]

    async def _request_human(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        reason: str,
        text: str,
    ) -> QueueInfo:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state in (*WAITING_STATES, *WITH_AGENT_STATES):
            return self._queue_info(ticket, now)
        if ticket.state != State.BOT:
            raise HandoffError(f"ticket {ticket_id} is {ticket.state}: it cannot ask for a person")
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        if not ticket.category:
            ticket.category = await self._category_from_queries(session, ticket.id)
        since = now - timedelta(days=self.config.rules.repeat_contact_days)
        repeat = (
            await session.execute(
                select(func.count(Ticket.id)).where(
                    Ticket.customer_id == customer.id,
                    Ticket.id != ticket.id,
                    Ticket.created_at >= since,
                )
            )
        ).scalar_one() > 0
        recent = (
            (
                await session.execute(
                    select(Message.text)
                    .where(Message.ticket_id == ticket.id, Message.sender == "customer")
                    .order_by(Message.id.desc())
                    .limit(5)
                )
            )
            .scalars()
            .all()
        )
        priority, reasons = self.config.rules.decide(
            tier=customer.tier,
            repeat_contact=bool(repeat),
            category=ticket.category,
            text=" ".join([text, *recent]),
        )
        ticket.priority = priority
        ticket.state = State.QUEUED
        ticket.handoff_requested_at = now
        ticket.first_queued_at = ticket.first_queued_at or now
        ticket.rank_at = rank_at(_ts(now), priority, self.config.head_start_s)
        ticket.failed_agents = []
        self._set_sla(ticket, now)
        record_event(
            session,
            "handoff_requested",
            now,
            ticket_id=ticket.id,
            customer_id=customer.id,
            actor="customer",
            reason=reason,
            priority=priority,
            rules=reasons,
        )
        self._arrivals.append((_ts(now), priority))
        return await self._enter_queue(session, ticket, customer, now, outbox, notices.Queued)

    async def _enter_queue(
        self,
        session: AsyncSession,
        ticket: Ticket,
        customer: Customer,
        now: datetime,
        outbox: list[Outgoing],
        tell: type[notices.Queued | notices.Requeued | notices.Transferred | notices.Reopened],
        *,
        failed: Sequence[int] = (),
    ) -> QueueInfo:
        """Queue the ticket now, or hold it until business hours open; the customer is told
        with ``tell`` (or that nobody is online, or when the hours open)."""
        hours = self.config.hours
        if not hours.is_open(now):
            ticket.waiting_for_hours = True
            opens = hours.next_open(now)
            if opens is not None:
                self._timers.add(_ts(opens), "open", 0)
            record_event(
                session,
                "ticket_held_for_hours",
                now,
                ticket_id=ticket.id,
                opens_at=opens.isoformat() if opens else None,
            )
            info = QueueInfo(ticket.id, ticket.state, ticket.priority, opens_at=opens)
            outbox.append(
                notices.OutsideHours(
                    _address(ticket, customer),
                    opens_at=opens,
                    hours=tuple(hours.weekly_rows()),
                    timezone=hours.timezone,
                )
            )
            return info
        ticket.waiting_for_hours = False
        record_event(session, "ticket_queued", now, ticket_id=ticket.id, priority=ticket.priority)
        effects = self.acd.enqueue(
            ticket.id,
            _ts(now),
            rank_at=ticket.rank_at if ticket.rank_at is not None else _ts(now),
            priority=ticket.priority,
            category=ticket.category,
            language=ticket.language,
            failed=failed,
            target_agent=ticket.target_agent_id,
        )
        await self._apply(session, effects, now, outbox)
        info = self._queue_info(ticket, now)
        to = _address(ticket, customer)
        if not info.agents_online:
            outbox.append(notices.NoAgents(to))
        else:
            outbox.append(tell(to, info.position, info.wait_s))
        self._remember_notice(ticket, info.position, now)
        return info

    async def cancel_request(self, ticket_id: int) -> bool:
        """The customer no longer wants to wait (``/cancel``): the chat is abandoned."""
        return await self._run(self._cancel_request, ticket_id)  # type: ignore[no-any-return]

    async def _cancel_request(
        self, session: AsyncSession, now: datetime, outbox: list[Outgoing], ticket_id: int
    ) -> bool:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state not in WAITING_STATES:
            return False
        effects = self.acd.remove(ticket.id, _ts(now))
        await self._apply(session, effects, now, outbox)
        self._finish(ticket, now, State.CLOSED, "abandoned")
        record_event(session, "ticket_abandoned", now, ticket_id=ticket.id, actor="customer")
        return True

    async def customer_wrote(self, ticket_id: int, message_id: int | None = None) -> str:
        """A customer message on a ticket: wakes a pending ticket, reopens a resolved one.
        With ``message_id`` (the message as stored in the transcript), the ticket's agent is
        sent it through the port, on whatever channel they work from.

        Returns what happened: ``none``, ``relayed`` (an agent has the chat), ``active``
        (pending -> assigned, and relayed) or ``reopened``.
        """
        return await self._run(self._customer_wrote, ticket_id, message_id)  # type: ignore[no-any-return]

    async def _customer_wrote(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        message_id: int | None,
    ) -> str:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state in WITH_AGENT_STATES and ticket.assignee_id is not None:
            if message_id is not None:
                outbox.append(
                    notices.ChatMessage(
                        ticket.assignee_id,
                        ticket_id=ticket.id,
                        message_id=message_id,
                        sender="customer",
                    )
                )
            if ticket.state == State.PENDING:
                ticket.state = State.ASSIGNED
                record_event(session, "ticket_active", now, ticket_id=ticket.id, actor="customer")
                return "active"
            return "relayed"
        if (
            ticket.state == State.RESOLVED
            and ticket.resolved_at is not None
            and (now - ticket.resolved_at).total_seconds() <= self.config.reopen_window_s
        ):
            customer = await session.get(Customer, ticket.customer_id)
            assert customer is not None
            previous = ticket.assignee_id
            ticket.state = State.QUEUED
            ticket.reopened_count += 1
            ticket.resolved_at = None
            ticket.resolution = None
            ticket.assignee_id = None
            ticket.failed_agents = []
            # The agent who had it is preferred when they can take it now; else anyone may.
            ticket.target_agent_id = (
                previous
                if previous is not None
                and self.acd.unable_reason(previous, ticket.category, ticket.language) is None
                else None
            )
            ticket.handoff_requested_at = now
            ticket.rank_at = rank_at(_ts(now), ticket.priority, self.config.head_start_s)
            self._set_sla(ticket, now)
            record_event(session, "ticket_reopened", now, ticket_id=ticket.id)
            await self._enter_queue(session, ticket, customer, now, outbox, notices.Reopened)
            return "reopened"
        return "none"

    async def customer_unreachable(self, ticket_id: int) -> None:
        """The customer blocked the bot mid-chat: close the ticket as abandoned."""
        await self._run(self._customer_unreachable, ticket_id)

    async def _customer_unreachable(
        self, session: AsyncSession, now: datetime, outbox: list[Outgoing], ticket_id: int
    ) -> None:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state in WAITING_STATES:
            await self._apply(session, self.acd.remove(ticket.id, _ts(now)), now, outbox)
        elif ticket.state in WITH_AGENT_STATES and ticket.assignee_id is not None:
            outbox.append(notices.CustomerLeft(ticket.assignee_id, ticket_id=ticket.id))
            await self._release(session, ticket.assignee_id, now, outbox)
        else:
            return
        self._finish(ticket, now, State.CLOSED, "abandoned")
        record_event(session, "ticket_abandoned", now, ticket_id=ticket.id, reason="unreachable")

    # ------------------------------------------------------------------ agent side

    async def accept_offer(self, offer_id: str, agent_id: int) -> AcceptResult:
        """The agent presses Accept. Exactly one accept wins; a late one is told why."""
        try:
            return await self._run(self._accept, offer_id, agent_id)  # type: ignore[no-any-return]
        except _Conflict:
            return AcceptResult(False, "taken")

    async def _accept(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        offer_id: str,
        agent_id: int,
    ) -> AcceptResult:
        await self._apply(session, self.acd.advance(_ts(now)), now, outbox)
        stored = await session.get(Offer, offer_id)
        try:
            effects = self.acd.accept(offer_id, agent_id, _ts(now))
        except AcceptError as exc:
            reason = exc.reason
            if reason == "gone":
                reason = "expired" if stored is not None and stored.state == "expired" else "taken"
            return AcceptResult(False, reason, stored.ticket_id if stored else None)
        changed = await session.execute(
            update(Offer)
            .where(Offer.id == offer_id, Offer.state == "pending", Offer.deadline > now)
            .values(state="accepted", ended_at=now)
        )
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            # Settled by another process in the meantime: its outcome stands.
            self._last_sync = 0.0
            raise _Conflict("offer settled elsewhere")
        assert stored is not None
        ticket = await self._ticket(session, stored.ticket_id)
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        ticket.state = State.ASSIGNED
        ticket.assignee_id = agent_id
        ticket.assigned_at = ticket.assigned_at or now
        ticket.target_agent_id = None
        ticket.failed_agents = []
        agent.no_answer_streak = 0
        agent.updated_at = now
        record_event(
            session,
            "offer_accepted",
            now,
            ticket_id=ticket.id,
            offer_id=offer_id,
            agent_id=agent_id,
        )
        record_event(
            session,
            "ticket_assigned",
            now,
            ticket_id=ticket.id,
            actor=f"agent:{agent_id}",
            agent_id=agent_id,
        )
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        outbox.append(notices.AgentJoined(_address(ticket, customer), agent_name=agent.name))
        outbox.append(
            notices.Assigned(
                agent_id, ticket_id=ticket.id, offer_id=offer_id, customer_name=customer.name
            )
        )
        await self._apply(
            session, [e for e in effects if not isinstance(e, OfferEnded)], now, outbox
        )
        await self._notify_positions(session, now, outbox)
        return AcceptResult(True, "accepted", ticket.id)

    async def decline_offer(self, offer_id: str, agent_id: int) -> AcceptResult:
        return await self._run(self._decline, offer_id, agent_id)  # type: ignore[no-any-return]

    async def _decline(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        offer_id: str,
        agent_id: int,
    ) -> AcceptResult:
        await self._apply(session, self.acd.advance(_ts(now)), now, outbox)
        try:
            effects = self.acd.decline(offer_id, agent_id, _ts(now))
        except AcceptError as exc:
            return AcceptResult(False, "taken" if exc.reason == "gone" else exc.reason)
        await self._apply(session, effects, now, outbox)
        return AcceptResult(True, "declined", effects[0].offer.ticket_id if effects else None)  # type: ignore[union-attr]

    async def set_agent_status(self, agent_id: int, status: str) -> list[int]:
        """``/online``, ``/away``, ``/offline``. Returns the agent's open tickets.

        Going offline with open chats asks the agent to close or transfer them; after the grace
        period they go back to the queue with their rank.
        """
        return await self._run(self._set_status, agent_id, AgentStatus(status))  # type: ignore[no-any-return]

    async def _set_status(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        agent_id: int,
        status: AgentStatus,
    ) -> list[int]:
        agent = await session.get(Agent, agent_id)
        if agent is None:
            raise HandoffError(f"no agent {agent_id}")
        if agent_id not in self.acd.agents:
            self._load_agent(agent, _ts(now))
        previous = agent.status
        agent.status = status
        agent.updated_at = now
        agent.unreachable = False if status == AgentStatus.AVAILABLE else agent.unreachable
        if status == AgentStatus.AVAILABLE:
            agent.no_answer_streak = 0
            agent.offline_since = None
            agent.idle_since = max(agent.idle_since, now)
        effects = self.acd.set_status(agent_id, status, _ts(now))
        if previous != status:
            record_event(
                session,
                "agent_status_changed",
                now,
                actor=f"agent:{agent_id}",
                agent_id=agent_id,
                status=status.value,
                previous=previous,
            )
            # Every place the agent works from shows the new status (the console's switch
            # follows a /online typed on Telegram).
            outbox.append(notices.StatusChanged(agent_id, status=status.value))
        await self._apply(session, effects, now, outbox)
        open_ids = list(
            (
                await session.execute(
                    select(Ticket.id).where(
                        Ticket.assignee_id == agent_id,
                        Ticket.state.in_([s.value for s in WITH_AGENT_STATES]),
                    )
                )
            )
            .scalars()
            .all()
        )
        if status == AgentStatus.OFFLINE and previous != AgentStatus.OFFLINE:
            agent.offline_since = now
            if open_ids:
                outbox.append(notices.CloseOrTransfer(agent_id, ticket_ids=tuple(open_ids)))
                self._timers.add(_ts(now) + self.config.offline_grace_s, "grace", agent_id)
        await self._notify_positions(session, now, outbox)
        return open_ids

    async def agent_unreachable(self, agent_id: int) -> None:
        """The agent blocked the bot: treated as offline at once, chats back to the queue."""
        await self._run(self._agent_unreachable, agent_id)

    async def _agent_unreachable(
        self, session: AsyncSession, now: datetime, outbox: list[Outgoing], agent_id: int
    ) -> None:
        agent = await session.get(Agent, agent_id)
        if agent is None:
            return
        agent.unreachable = True
        record_event(session, "agent_unreachable", now, agent_id=agent_id)
        await self._set_status(session, now, outbox, agent_id, AgentStatus.OFFLINE)
        await self._requeue_agent_chats(session, agent_id, now, outbox, reason="agent_unreachable")

    async def end_wrap_up(self, agent_id: int) -> None:
        await self._run(self._end_wrap_up, agent_id)

    async def _end_wrap_up(
        self, session: AsyncSession, now: datetime, outbox: list[Outgoing], agent_id: int
    ) -> None:
        await self._apply(session, self.acd.end_wrap_up(agent_id, _ts(now)), now, outbox)

    async def agent_message(
        self,
        ticket_id: int,
        agent_id: int,
        text: str,
        *,
        origin: str,
        kind: str = "text",
        meta: dict[str, Any] | None = None,
        client_id: str | None = None,
        file: tuple[str, str, bytes] | None = None,
    ) -> int:
        """An agent writes to the customer of a chat they hold, from any channel (``origin``:
        ``telegram`` or ``web``). The message is stored in the transcript, the first reply is
        stamped, and after the commit the port carries it to the customer's channel and to the
        agent's other places (the console, Telegram). With ``client_id``, a repeat of the same
        message (a retry after a lost answer) is not sent twice. With ``file`` (name, content
        type, bytes) the message carries that file, kept on the ticket. Returns the message
        id."""
        return await self._run(  # type: ignore[no-any-return]
            self._agent_message,
            ticket_id,
            agent_id,
            text,
            origin,
            kind,
            meta or {},
            client_id,
            file,
        )

    async def _agent_message(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        agent_id: int,
        text: str,
        origin: str,
        kind: str,
        meta: dict[str, Any],
        client_id: str | None,
        file: tuple[str, str, bytes] | None,
    ) -> int:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state not in WITH_AGENT_STATES:
            raise HandoffError(f"ticket {ticket_id} is {ticket.state}: it has no live chat")
        self._require_assignee(ticket, agent_id)
        if not text.strip() and kind == "text":
            raise HandoffError("a message needs some text")
        if client_id is not None:
            earlier = (
                await session.execute(
                    select(Message.id)
                    .where(
                        Message.ticket_id == ticket.id,
                        Message.sender == "agent",
                        Message.meta["client_id"].as_string() == client_id,
                    )
                    .limit(1)
                )
            ).scalar_one_or_none()
            if earlier is not None:
                return int(earlier)
        if file is not None:
            name, content_type, data = file
            meta = meta | await add_attachment(
                session, ticket.id, name=name, content_type=content_type, data=data, at=now
            )
            kind, text = "file", text or name
        stored_meta = {**meta, "agent_id": agent_id, "origin": origin}
        if client_id is not None:
            stored_meta["client_id"] = client_id
        message = Message(
            ticket_id=ticket.id,
            customer_id=ticket.customer_id,
            sender="agent",
            kind=kind,
            text=text,
            meta=stored_meta,
            created_at=now,
        )
        session.add(message)
        await session.flush()
        self._stamp_first_reply(session, ticket, agent_id, now)
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        outbox.append(
            notices.AgentMessage(_address(ticket, customer), message_id=message.id, origin=origin)
        )
        outbox.append(
            notices.ChatMessage(
                agent_id,
                ticket_id=ticket.id,
                message_id=message.id,
                sender="agent",
                origin=origin,
            )
        )
        return int(message.id)

    @staticmethod
    def _stamp_first_reply(
        session: AsyncSession, ticket: Ticket, agent_id: int, now: datetime
    ) -> None:
        """The first agent reply of a ticket: the first-response time is measured to it."""
        if ticket.first_agent_reply_at is None:
            ticket.first_agent_reply_at = now
            record_event(
                session,
                "first_agent_reply",
                now,
                ticket_id=ticket.id,
                actor=f"agent:{agent_id}",
                agent_id=agent_id,
            )

    async def set_pending(self, ticket_id: int, agent_id: int) -> None:
        """The agent waits on the customer (the SLA clock stops counting the agent)."""
        await self._run(self._set_pending, ticket_id, agent_id)

    async def _set_pending(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        agent_id: int,
    ) -> None:
        ticket = await self._ticket(session, ticket_id)
        self._require_assignee(ticket, agent_id)
        if ticket.state == State.ASSIGNED:
            ticket.state = State.PENDING
            record_event(session, "ticket_pending", now, ticket_id=ticket.id)

    async def resolve_ticket(self, ticket_id: int, agent_id: int | None) -> None:
        """The agent closes the chat: resolved, reopened if the customer writes within the
        reopen window, closed for good after it."""
        await self._run(self._resolve, ticket_id, agent_id)

    async def _resolve(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        agent_id: int | None,
    ) -> None:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state not in WITH_AGENT_STATES:
            raise HandoffError(f"ticket {ticket_id} is {ticket.state}: nothing to resolve")
        if agent_id is not None:
            self._require_assignee(ticket, agent_id)
        assignee = ticket.assignee_id
        self._finish(ticket, now, State.RESOLVED, "agent")
        ticket.assignee_id = assignee
        record_event(
            session,
            "ticket_resolved",
            now,
            ticket_id=ticket.id,
            actor=f"agent:{agent_id}" if agent_id else "supervisor",
            agent_id=assignee,
            resolution="agent",
            cycle=ticket.reopened_count,
        )
        if ticket.assigned_at is not None:
            handle = (now - ticket.assigned_at).total_seconds()
            self._aht = 0.75 * self._aht + 0.25 * max(handle, 1.0)
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        resolver = await session.get(Agent, assignee) if assignee is not None else None
        outbox.append(
            notices.Resolved(
                _address(ticket, customer),
                agent_id=assignee,
                agent_name=resolver.name if resolver else "",
                cycle=ticket.reopened_count,
            )
        )
        if assignee is not None:
            await self._release(session, assignee, now, outbox)

    async def transfer_ticket(
        self,
        ticket_id: int,
        agent_id: int | None,
        *,
        to_agent: int | None = None,
        to_category: str | None = None,
    ) -> QueueInfo:
        """Hand the chat to another agent or skill; it keeps its original queue time."""
        return await self._run(self._transfer, ticket_id, agent_id, to_agent, to_category)  # type: ignore[no-any-return]

    async def _transfer(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        agent_id: int | None,
        to_agent: int | None,
        to_category: str | None,
    ) -> QueueInfo:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state not in WITH_AGENT_STATES:
            raise HandoffError(f"ticket {ticket_id} is {ticket.state}: only a live chat moves")
        if agent_id is not None:
            self._require_assignee(ticket, agent_id)
        previous = ticket.assignee_id
        category = to_category if to_category is not None else ticket.category
        await self._check_transfer(session, ticket, previous, to_agent, category)
        ticket.category = category
        ticket.target_agent_id = to_agent
        ticket.assignee_id = None
        ticket.state = State.QUEUED
        record_event(
            session,
            "ticket_transferred",
            now,
            ticket_id=ticket.id,
            actor=f"agent:{agent_id}" if agent_id else "supervisor",
            from_agent=previous,
            to_agent=to_agent,
            to_category=to_category,
        )
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        # The agent who passed it on is not offered it back. Queued (and offered to a named
        # target, who is free) before that agent's slot frees up.
        failed = [previous] if previous is not None else []
        ticket.failed_agents = failed
        info = await self._enter_queue(
            session, ticket, customer, now, outbox, notices.Transferred, failed=failed
        )
        if previous is not None:
            await self._release(session, previous, now, outbox)
        return info

    async def _check_transfer(
        self,
        session: AsyncSession,
        ticket: Ticket,
        previous: int | None,
        to_agent: int | None,
        category: str,
    ) -> None:
        """A transfer goes to someone who can take the chat, or is refused with the reason:
        no chat waits for a person who will never take it while others are free."""
        if to_agent is not None:
            target = await session.get(Agent, to_agent)
            if target is None:
                raise HandoffError(f"no agent {to_agent}")
            if to_agent == previous:
                raise TransferRefused(target.name, "yours")
            reason = self.acd.unable_reason(to_agent, category, ticket.language)
            if reason is not None:
                raise TransferRefused(target.name, reason, category, ticket.language)
            return
        if not any(
            a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)
            and a.serves_kind(category, ticket.language)
            for a in self.acd.agents.values()
        ):
            raise TransferRefused("", "nobody", category, ticket.language)

    async def transfer_targets(self, ticket_id: int, agent_id: int | None) -> TransferTargets:
        """Whom this chat can be transferred to now: the agents who can take it at once and
        the categories some online agent handles in its language (in a one-agent team that
        agent gets it back). The same list on
        every channel (the Telegram menu, the console)."""
        async with self._lock, self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            previous = ticket.assignee_id if agent_id is None else agent_id
            names = dict((await session.execute(select(Agent.id, Agent.name))).all())
            agents = [
                (a.id, names.get(a.id, ""))
                for a in sorted(self.acd.agents.values(), key=lambda a: a.id)
                if a.id != previous
                and a.id in names
                and self.acd.unable_reason(a.id, ticket.category, ticket.language) is None
            ]
            able = [
                a
                for a in self.acd.agents.values()
                if a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)
            ]
            known = {s for a in self.acd.agents.values() for s in a.skills}
            categories = sorted(
                c for c in known if any(a.serves_kind(c, ticket.language) for a in able)
            )
            return TransferTargets(agents, categories)

    async def hand_back_to_bot(self, ticket_id: int, agent_id: int | None) -> None:
        await self._run(self._hand_back, ticket_id, agent_id)

    async def _hand_back(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        agent_id: int | None,
    ) -> None:
        ticket = await self._ticket(session, ticket_id)
        if ticket.state in WAITING_STATES:
            await self._apply(session, self.acd.remove(ticket.id, _ts(now)), now, outbox)
        elif ticket.state in WITH_AGENT_STATES:
            if agent_id is not None:
                self._require_assignee(ticket, agent_id)
            if ticket.assignee_id is not None:
                await self._release(session, ticket.assignee_id, now, outbox)
        else:
            raise HandoffError(f"ticket {ticket_id} is {ticket.state}: nothing to hand back")
        ticket.state = State.BOT
        ticket.assignee_id = None
        ticket.target_agent_id = None
        record_event(
            session,
            "ticket_handed_back",
            now,
            ticket_id=ticket.id,
            actor=f"agent:{agent_id}" if agent_id else "supervisor",
        )
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        outbox.append(notices.HandedBack(_address(ticket, customer)))

    async def set_priority(self, ticket_id: int, priority: str, actor: str) -> None:
        """Agents and supervisors change a ticket's priority; the rank follows."""
        if priority not in PRIORITIES:
            raise HandoffError(f"priority must be one of {', '.join(PRIORITIES)}")
        await self._run(self._set_priority, ticket_id, priority, actor)

    async def _set_priority(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        priority: str,
        actor: str,
    ) -> None:
        ticket = await self._ticket(session, ticket_id)
        previous = ticket.priority
        ticket.priority = priority
        if ticket.handoff_requested_at is not None:
            ticket.rank_at = rank_at(
                _ts(ticket.handoff_requested_at), priority, self.config.head_start_s
            )
            self._set_sla(ticket, ticket.handoff_requested_at)
            self._plan_sla(ticket)
        record_event(
            session,
            "priority_changed",
            now,
            ticket_id=ticket.id,
            actor=actor,
            priority=priority,
            previous=previous,
        )
        if ticket.id in self.acd.chats and ticket.rank_at is not None:
            effects = self.acd.reprioritise(ticket.id, ticket.rank_at, priority, _ts(now))
            await self._apply(session, effects, now, outbox)

    async def rate(self, ticket_id: int, customer_id: int, stars: int) -> bool:
        """The customer's 1-5 stars after a close: one per ticket cycle, credited to the agent
        who handled it; 1-2 stars notify supervisors."""
        return await self._run(self._rate, ticket_id, customer_id, stars)  # type: ignore[no-any-return]

    async def _rate(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        customer_id: int,
        stars: int,
    ) -> bool:
        ticket = await self._ticket(session, ticket_id)
        if ticket.customer_id != customer_id or not 1 <= stars <= 5:
            return False
        if ticket.state not in (State.RESOLVED, State.CLOSED) or ticket.resolution != "agent":
            return False
        cycle = ticket.reopened_count
        existing = (
            await session.execute(
                select(Rating).where(Rating.ticket_id == ticket.id, Rating.cycle == cycle)
            )
        ).scalar_one_or_none()
        if existing is not None:
            return False
        session.add(
            Rating(
                ticket_id=ticket.id,
                cycle=cycle,
                agent_id=ticket.assignee_id,
                stars=stars,
                created_at=now,
            )
        )
        record_event(
            session,
            "rating_given",
            now,
            ticket_id=ticket.id,
            customer_id=customer_id,
            actor="customer",
            stars=stars,
            agent_id=ticket.assignee_id,
            cycle=cycle,
        )
        if stars <= 2:
            rated = (
                await session.get(Agent, ticket.assignee_id)
                if ticket.assignee_id is not None
                else None
            )
            outbox.append(
                notices.LowRating(
                    ticket_id=ticket.id,
                    stars=stars,
                    agent_id=ticket.assignee_id,
                    agent_name=rated.name if rated else "",
                )
            )
        return True

    async def comment_rating(self, ticket_id: int, customer_id: int, text: str) -> bool:
        """The optional comment after the stars."""
        return await self._run(self._comment, ticket_id, customer_id, text)  # type: ignore[no-any-return]

    async def _comment(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        customer_id: int,
        text: str,
    ) -> bool:
        ticket = await self._ticket(session, ticket_id)
        rating = (
            await session.execute(
                select(Rating).where(
                    Rating.ticket_id == ticket_id, Rating.cycle == ticket.reopened_count
                )
            )
        ).scalar_one_or_none()
        if rating is None or ticket.customer_id != customer_id or rating.comment:
            return False
        rating.comment = text.strip()[:2000]
        rating.commented_at = now
        record_event(
            session,
            "rating_commented",
            now,
            ticket_id=ticket_id,
            customer_id=customer_id,
            actor="customer",
        )
        if rating.stars <= 2:
            outbox.append(
                notices.LowRatingComment(
                    ticket_id=ticket_id, stars=rating.stars, comment=rating.comment
                )
            )
        return True

    async def add_tag(self, ticket_id: int, tag: str, actor: str) -> list[str]:
        return await self._run(self._add_tag, ticket_id, tag, actor)  # type: ignore[no-any-return]

    async def _add_tag(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        tag: str,
        actor: str,
    ) -> list[str]:
        ticket = await self._ticket(session, ticket_id)
        tag = tag.strip().lower()[:64]
        if not tag:
            raise HandoffError("a tag needs some text")
        if tag not in ticket.tags:
            ticket.tags = [*ticket.tags, tag]
            record_event(session, "ticket_tagged", now, ticket_id=ticket.id, actor=actor, tag=tag)
        return list(ticket.tags)

    async def add_note(self, ticket_id: int, agent_id: int | None, text: str) -> int:
        """An internal note: stored on the ticket, never sent to the customer."""
        return await self._run(self._add_note, ticket_id, agent_id, text)  # type: ignore[no-any-return]

    async def _add_note(
        self,
        session: AsyncSession,
        now: datetime,
        outbox: list[Outgoing],
        ticket_id: int,
        agent_id: int | None,
        text: str,
    ) -> int:
        await self._ticket(session, ticket_id)
        if not text.strip():
            raise HandoffError("a note needs some text")
        note = Note(ticket_id=ticket_id, agent_id=agent_id, text=text.strip(), created_at=now)
        session.add(note)
        await session.flush()
        record_event(
            session,
            "note_added",
            now,
            ticket_id=ticket_id,
            actor=f"agent:{agent_id}",
            note_id=note.id,
        )
        return note.id

    # ------------------------------------------------------------------ timers

    async def tick(self) -> None:
        """Fire everything due at the clock's current time (tests call it after moving a
        virtual clock; the timer task does the same, with the sweep in the background)."""
        await self._run(self._tick)
        if self._sweep_due():
            await self.sweep()

    async def _tick(self, session: AsyncSession, now: datetime, outbox: list[Outgoing]) -> None:
        ts = _ts(now)
        await self._apply(session, self.acd.advance(ts), now, outbox)
        for _, kind, key, extra in self._timers.pop_due(ts):
            if kind == "grace":
                await self._grace_over(session, key, now, outbox)
            elif kind == "open":
                await self._hours_open(session, now, outbox)
            elif kind.startswith("sla"):
                await self._sla_due(session, key, kind, extra, now, outbox)
        await self._notify_positions(session, now, outbox)

    async def _grace_over(
        self, session: AsyncSession, agent_id: int, now: datetime, outbox: list[Outgoing]
    ) -> None:
        agent = await session.get(Agent, agent_id)
        if agent is None or agent.status != AgentStatus.OFFLINE or agent.offline_since is None:
            return
        if (now - agent.offline_since).total_seconds() < self.config.offline_grace_s:
            return
        await self._requeue_agent_chats(session, agent_id, now, outbox, reason="agent_offline")

    async def _requeue_agent_chats(
        self,
        session: AsyncSession,
        agent_id: int,
        now: datetime,
        outbox: list[Outgoing],
        *,
        reason: str,
    ) -> None:
        tickets = (
            (
                await session.execute(
                    select(Ticket).where(
                        Ticket.assignee_id == agent_id,
                        Ticket.state.in_([s.value for s in WITH_AGENT_STATES]),
                    )
                )
            )
            .scalars()
            .all()
        )
        if not tickets:
            return
        for ticket in tickets:
            ticket.assignee_id = None
            ticket.state = State.QUEUED
            ticket.failed_agents = [agent_id]
            record_event(session, "ticket_requeued", now, ticket_id=ticket.id, reason=reason)
            await self._release(session, agent_id, now, outbox)
            customer = await session.get(Customer, ticket.customer_id)
            assert customer is not None
            await self._enter_queue(
                session, ticket, customer, now, outbox, notices.Requeued, failed=[agent_id]
            )
        outbox.append(notices.ChatsRequeued(agent_id, ticket_ids=tuple(t.id for t in tickets)))

    async def _hours_open(
        self, session: AsyncSession, now: datetime, outbox: list[Outgoing]
    ) -> None:
        if not self.config.hours.is_open(now):
            opens = self.config.hours.next_open(now)
            if opens is not None:
                self._timers.add(_ts(opens), "open", 0)
            return
        held = (
            (
                await session.execute(
                    select(Ticket)
                    .where(Ticket.waiting_for_hours.is_(True), Ticket.state == State.QUEUED)
                    .order_by(Ticket.rank_at, Ticket.id)
                )
            )
            .scalars()
            .all()
        )
        for ticket in held:
            if ticket.id in self.acd.chats:
                continue
            customer = await session.get(Customer, ticket.customer_id)
            assert customer is not None
            await self._enter_queue(session, ticket, customer, now, outbox, notices.Queued)

    # ------------------------------------------------------------------ SLA

    def _set_sla(self, ticket: Ticket, start: datetime) -> None:
        sla = self.config.sla
        ticket.sla_first_response_due_at = (
            None
            if ticket.first_agent_reply_at is not None
            else sla.due("first_response", ticket.priority, start)
        )
        ticket.sla_resolution_due_at = sla.due("resolution", ticket.priority, start)
        ticket.sla_flags = []
        self._plan_sla(ticket)

    def _plan_sla(self, ticket: Ticket) -> None:
        start = ticket.handoff_requested_at
        if start is None:
            return
        for kind in ("first_response", "resolution"):
            due = self.config.sla.due(kind, ticket.priority, start)
            warn = self.config.sla.warn_at(kind, ticket.priority, start)
            if due is None:
                continue
            if warn is not None and f"{kind}:warning" not in ticket.sla_flags:
                self._timers.add(_ts(warn), "sla_warning", ticket.id, kind)
            if f"{kind}:breached" not in ticket.sla_flags:
                self._timers.add(_ts(due), "sla_breached", ticket.id, kind)

    async def _sla_due(
        self,
        session: AsyncSession,
        ticket_id: int,
        kind: str,
        target: str,
        now: datetime,
        outbox: list[Outgoing],
    ) -> None:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.handoff_requested_at is None:
            return
        done = (
            ticket.first_agent_reply_at
            if target == "first_response"
            else ticket.resolved_at or ticket.closed_at
        )
        if done is not None or ticket.state not in (*WAITING_STATES, *WITH_AGENT_STATES):
            return
        level = "warning" if kind == "sla_warning" else "breached"
        flag = f"{target}:{level}"
        due = self.config.sla.due(target, ticket.priority, ticket.handoff_requested_at)
        if flag in ticket.sla_flags or due is None:
            return
        if level == "breached" and now < due:
            return  # the priority changed: a later entry covers it
        ticket.sla_flags = [*ticket.sla_flags, flag]
        record_event(
            session,
            f"sla_{level}",
            now,
            ticket_id=ticket.id,
            target=target,
            due_at=due.isoformat(),
            priority=ticket.priority,
        )
        sla_notice = notices.SlaWarning if level == "warning" else notices.SlaBreached
        outbox.append(
            sla_notice(
                ticket_id=ticket.id,
                target=target,
                due_at=due,
                priority=ticket.priority,
                assignee_id=ticket.assignee_id,
            )
        )

    # ------------------------------------------------------------------ helpers

    async def _ticket(self, session: AsyncSession, ticket_id: int) -> Ticket:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise HandoffError(f"no ticket {ticket_id}")
        return ticket

    @staticmethod
    def _require_assignee(ticket: Ticket, agent_id: int) -> None:
        if ticket.assignee_id != agent_id:
            raise HandoffError(f"ticket {ticket.id} is not assigned to agent {agent_id}")

    def _finish(self, ticket: Ticket, now: datetime, state: State, resolution: str) -> None:
        ticket.state = state
        ticket.resolution = resolution
        ticket.assignee_id = None
        ticket.target_agent_id = None
        ticket.waiting_for_hours = False
        if state == State.RESOLVED:
            ticket.resolved_at = now
        else:
            ticket.closed_at = now

    async def _release(
        self, session: AsyncSession, agent_id: int, now: datetime, outbox: list[Outgoing]
    ) -> None:
        effects = self.acd.release(agent_id, _ts(now))
        agent = await session.get(Agent, agent_id)
        state = self.acd.agents.get(agent_id)
        if agent is not None and state is not None and state.status == AgentStatus.WRAP_UP:
            agent.status = AgentStatus.WRAP_UP
            agent.wrap_up_until = _dt(state.wrap_up_until)
            record_event(session, "wrap_up_started", now, agent_id=agent_id)
        await self._apply(session, effects, now, outbox)

    async def _category_from_queries(self, session: AsyncSession, ticket_id: int) -> str:
        from storage.models import Article

        row = (
            await session.execute(
                select(Article.category)
                .join(QueryLog, QueryLog.best_article_id == Article.id)
                .where(QueryLog.ticket_id == ticket_id)
                .order_by(QueryLog.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return row or ""

    def _queue_info(self, ticket: Ticket, now: datetime) -> QueueInfo:
        if ticket.waiting_for_hours:
            return QueueInfo(
                ticket.id,
                ticket.state,
                ticket.priority,
                opens_at=self.config.hours.next_open(now),
            )
        position = self.acd.position(ticket.id)
        chat = self.acd.chats.get(ticket.id)
        online = chat is not None and any(
            a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP) and a.serves(chat)
            for a in self.acd.agents.values()
        )
        wait = self.estimated_wait_s(ticket.id) if position is not None else None
        return QueueInfo(ticket.id, ticket.state, ticket.priority, position, wait, online)

    def estimated_wait_s(self, ticket_id: int, position: int | None = None) -> float | None:
        """Position-based expected wait (SEMANTICS.md 2.8, Whitt's predictor).

        0 when a slot is free; ``(k+1)·AHT/S`` for the top class; divided by
        ``1 - ρ_higher`` for lower ones; None when nobody is online. Pass ``position`` when it
        is already known (it costs a walk of the queue otherwise).
        """
        chat = self.acd.chats.get(ticket_id)
        if chat is None:
            return None
        model = self._wait_model()
        if model is None:
            return None
        return self._wait(model, chat.priority, position or self.acd.position(ticket_id) or 1)

    def _wait_model(self) -> tuple[int, int, list[float]] | None:
        """Slots online, slots busy, and the arrival rate of each priority level over the
        last hour: what every estimate of one moment shares."""
        on = [
            a
            for a in self.acd.agents.values()
            if a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)
        ]
        slots = sum(a.capacity for a in on)
        if slots == 0:
            return None
        busy = sum(a.active + (1 if a.pending else 0) for a in on)
        now = _ts(self.clock.now())
        while self._arrivals and self._arrivals[0][0] < now - 3600:
            self._arrivals.popleft()
        rates = [0.0] * len(PRIORITIES)
        for _, priority in self._arrivals:
            rates[PRIORITIES.index(priority)] += 1 / 3600.0
        return slots, busy, rates

    def _wait(self, model: tuple[int, int, list[float]], priority: str, position: int) -> float:
        slots, busy, rates = model
        if busy < slots and position == 1:
            return 0.0
        higher = sum(rates[PRIORITIES.index(priority) + 1 :])
        rho_higher = min(higher * self._aht / slots, 0.95)
        return position * self._aht / slots / (1.0 - rho_higher)

    async def _notify_positions(
        self, session: AsyncSession, now: datetime, outbox: list[Outgoing]
    ) -> None:
        """Decide, from memory, which waiting customers to tell of a better place: only a
        change that matters (:func:`position_matters`), at most every ``position_update_s``
        per customer. The telling happens after the action's commit (:meth:`_tell_positions`),
        so an accept with thousands queued stays a short transaction."""
        ts = _ts(now)
        for gone in [t for t in self._notified if t not in self.acd.chats]:
            del self._notified[gone]  # no longer waiting: forget what they were told
        if not self._notified:
            return
        waiting = sorted(self.acd.chats.values(), key=lambda c: c.key)
        model = self._wait_model()
        for index, chat in enumerate(waiting):
            position = index + 1
            told = self._notified.get(chat.ticket_id)
            if told is None or not position_matters(told[0], position):
                continue
            if ts - told[1] < self.config.position_update_s:
                continue
            self._notified[chat.ticket_id] = (position, ts)
            wait = None if model is None else self._wait(model, chat.priority, position)
            self._positions_due[chat.ticket_id] = (position, wait)

    async def _tell_positions(
        self, positions: dict[int, tuple[int, float | None]], now: datetime
    ) -> None:
        """Record and send the position notices decided by :meth:`_notify_positions`: one
        read of the tickets with their customers, one batched update."""
        told: list[Outgoing] = []
        try:
            async with self.db.transaction() as session:
                rows = (
                    await session.execute(
                        select(Ticket, Customer)
                        .join(Customer, Customer.id == Ticket.customer_id)
                        .where(
                            Ticket.id.in_(list(positions)),
                            Ticket.state.in_([s.value for s in WAITING_STATES]),
                        )
                    )
                ).all()
                for ticket, customer in rows:
                    position, wait = positions[ticket.id]
                    ticket.notified_position = position
                    ticket.notified_at = now
                    told.append(notices.PositionChanged(_address(ticket, customer), position, wait))
        except Exception:  # a nicety: the next change tells them again
            log.exception("position notices failed")
            return
        await self._deliver(told)

    def _remember_notice(self, ticket: Ticket, position: int | None, now: datetime) -> None:
        ticket.notified_position = position
        ticket.notified_at = now
        if position is None:
            self._notified.pop(ticket.id, None)
        else:
            self._notified[ticket.id] = (position, _ts(now))

    async def queue_info(self, ticket_id: int) -> QueueInfo:
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            return self._queue_info(ticket, self.clock.now())


class _Conflict(Exception):
    """Another process settled the same row first; the caller's view is stale."""
