"""The steps actions share: persist what the ACD decided, claim an offer, queue a ticket.

The ACD (:mod:`handoff.acd`) decides in memory and returns effects; :func:`apply` makes them
durable, with their events, and queues what must be said. The database is the arbiter between
processes sharing it, which is what :func:`claim` is about:

* an offer is claimed with a compare-and-set on the ticket (``queued -> offered``), row locks
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and partial unique indexes (one pending offer per
  ticket and per agent), so two Sanad processes never double-offer or double-assign; the
  loser forgets its offer and resyncs;
* an offer ends (expired, declined...) with a compare-and-set ``pending -> <reason>``
  (:func:`offer_ended`): if another process settled it first, its outcome stands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CursorResult, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handoff import notices
from handoff.acd import (
    AgentSetAway,
    AgentStatus,
    Effect,
    ExclusionLapsed,
    Offered,
    OfferEnded,
    TargetDropped,
    WrapUpEnded,
)
from handoff.engine import Unit, address
from handoff.model import WITH_AGENT_STATES, HandoffError, QueueInfo
from handoff.schedule import dt, ts
from handoff.tickets import State, last_customer_texts
from handoff.waits import queue_info, remember_notice, remind_waiting
from storage.events import record_event
from storage.models import Agent, Customer, Offer, Ticket
from storage.retry import sqlstate

log = logging.getLogger(__name__)

# How long a claim waits for another transaction's offer of the same agent (see claim).
CLAIM_WAIT_MS = 100
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired

QueueNotice = type[notices.Queued | notices.Requeued | notices.Transferred | notices.Reopened]


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise HandoffError(f"no ticket {ticket_id}")
    return ticket


async def get_customer(session: AsyncSession, ticket: Ticket) -> Customer:
    """The ticket's customer (the foreign key guarantees one)."""
    customer = await session.get(Customer, ticket.customer_id)
    assert customer is not None
    return customer


def require_assignee(ticket: Ticket, agent_id: int) -> None:
    if ticket.assignee_id != agent_id:
        raise HandoffError(f"ticket {ticket.id} is not assigned to agent {agent_id}")


def finish(ticket: Ticket, now: datetime, state: State, resolution: str) -> None:
    """The ticket leaves the queue and its agent: resolved (may reopen) or closed."""
    ticket.state = state
    ticket.resolution = resolution
    ticket.assignee_id = None
    ticket.target_agent_id = None
    ticket.waiting_for_hours = False
    if state == State.RESOLVED:
        ticket.resolved_at = now
    else:
        ticket.closed_at = now


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


async def apply(uow: Unit, effects: Sequence[Effect]) -> None:
    """Persist what the ACD decided, with events, and queue what must be said."""
    session, now = uow.session, uow.now
    for effect in effects:
        if isinstance(effect, Offered):
            await claim(uow, effect)
        elif isinstance(effect, OfferEnded):
            await offer_ended(uow, effect)
        elif isinstance(effect, AgentSetAway):
            # A compare-and-set: when two processes both saw the offers lapse, one sets the
            # agent away and says so; the other finds it done (it was written twice).
            changed = await session.execute(
                update(Agent)
                .where(Agent.id == effect.agent_id, Agent.status != AgentStatus.AWAY)
                .values(status=AgentStatus.AWAY, updated_at=now)
                .execution_options(synchronize_session="fetch")
            )
            assert isinstance(changed, CursorResult)
            agent = await session.get(Agent, effect.agent_id)
            if agent is not None and changed.rowcount > 0:
                record_event(
                    session,
                    "agent_auto_away",
                    now,
                    actor="system",
                    agent_id=effect.agent_id,
                    missed=effect.missed,
                )
                uow.outbox.append(notices.SetAway(effect.agent_id, missed=effect.missed))
                uow.outbox.append(
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


async def claim(uow: Unit, effect: Offered) -> None:
    """Make the offer durable, or learn that another process got there first.

    The atomic claim: the ticket must still be ``queued`` and the agent ``available``, both
    rows locked (skipped, not waited for, when another process holds them), and the insert of
    the pending offer must pass the unique indexes. A claim that loses any of these forgets
    the offer in memory and asks the timer loop to resync with the database."""
    session, now, offer = uow.session, uow.now, effect.offer
    ticket: Ticket | None = None
    agent: Agent | None = None
    claimed = False
    # Both locks and the insert in one savepoint: a claim that gets one row of the pair and
    # not the other rolls it back, which releases the lock it took (two processes could each
    # hold one row of the same pair, both give up, and the offer waited for a resync).
    postgres = session.get_bind().dialect.name == "postgresql"
    savepoint = await session.begin_nested()
    try:
        if postgres:
            # The one wait of a claim: the insert's unique check on an offer of this agent
            # that another transaction is ending (pending -> accepted, expired...). That
            # transaction may next wait for the agent row this claim holds: a deadlock, which
            # PostgreSQL finds only after deadlock_timeout (1 s: a second's stall of both
            # processes' chats in bench.scaleout). Waiting at most CLAIM_WAIT_MS instead, the
            # claim is lost (resync) and the other transaction goes on.
            await session.execute(text(f"SET LOCAL lock_timeout = '{CLAIM_WAIT_MS}ms'"))
        ticket = (
            await session.execute(
                select(Ticket)
                .where(Ticket.id == offer.ticket_id, Ticket.state == State.QUEUED)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        if ticket is not None:
            agent = (
                await session.execute(
                    select(Agent)
                    .where(Agent.id == offer.agent_id, Agent.status == AgentStatus.AVAILABLE)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
        if ticket is not None and agent is not None:
            session.add(
                Offer(
                    id=offer.id,
                    ticket_id=offer.ticket_id,
                    agent_id=offer.agent_id,
                    state="pending",
                    made_at=dt(offer.made_at),
                    deadline=dt(offer.deadline),
                )
            )
            await session.flush()
            claimed = True
    except IntegrityError:
        claimed = False
    except DBAPIError as exc:
        if sqlstate(exc) != LOCK_NOT_AVAILABLE:
            raise
        claimed = False
    if claimed:
        await savepoint.commit()
        if postgres:  # the rest of the unit waits as it always did
            await session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    else:
        await savepoint.rollback()  # (its SET LOCAL goes with it)
    if not claimed or ticket is None or agent is None:
        log.info("offer %s lost its claim; resyncing", offer.id)
        uow.acd.forget(offer.ticket_id, ts(now))
        uow.engine.last_sync = 0.0
        uow.engine.wake.set()  # the timer loop resyncs now, not at its next interval
        return
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
        deadline=dt(offer.deadline).isoformat(),
    )
    uow.outbox.append(
        await offer_notice(session, offer.id, agent.id, ticket, dt(offer.deadline), now)
    )


async def settle_offer(
    session: AsyncSession, offer_id: str, state: str, now: datetime, *, before: datetime | None
) -> bool:
    """Compare-and-set a pending offer to ``state`` (and, with ``before``, only while its
    deadline is ahead): False when another process settled it first."""
    where = [Offer.id == offer_id, Offer.state == "pending"]
    if before is not None:
        where.append(Offer.deadline > before)
    changed = await session.execute(update(Offer).where(*where).values(state=state, ended_at=now))
    assert isinstance(changed, CursorResult)
    return changed.rowcount > 0


async def offer_ended(uow: Unit, effect: OfferEnded) -> None:
    """An offer expired, was declined or withdrawn (or accepted: only the bookkeeping)."""
    session, now, offer, reason = uow.session, uow.now, effect.offer, effect.reason
    if not await settle_offer(session, offer.id, reason, now, before=None):
        log.info("offer %s was already settled elsewhere", offer.id)
        uow.engine.last_sync = 0.0
        return
    ticket = await session.get(Ticket, offer.ticket_id)
    assert ticket is not None  # an offer's ticket is never deleted
    agent = await session.get(Agent, offer.agent_id)
    record_event(
        session,
        f"offer_{reason}",
        now,
        ticket_id=ticket.id,
        offer_id=offer.id,
        agent_id=offer.agent_id,
    )
    if agent is not None:
        state = uow.acd.agents.get(agent.id)
        if state is not None:
            agent.no_answer_streak = state.no_answer_streak
            agent.idle_since = dt(max(state.idle_since, ts(agent.idle_since)))
    if reason == "accepted":
        return
    uow.outbox.append(
        notices.OfferEnded(offer.agent_id, offer_id=offer.id, ticket_id=ticket.id, reason=reason)
    )
    chat = uow.acd.chats.get(ticket.id)
    if chat is not None and ticket.state == State.OFFERED:
        ticket.state = State.QUEUED
        ticket.failed_agents = sorted(chat.failed)
        record_event(session, "ticket_requeued", now, ticket_id=ticket.id, reason=reason)
        await remind_waiting(uow, ticket)


async def release(uow: Unit, agent_id: int) -> None:
    """One of the agent's chats ended or moved on: a slot frees (after wrap-up, if any)."""
    effects = uow.acd.release(agent_id, ts(uow.now))
    agent = await uow.session.get(Agent, agent_id)
    state = uow.acd.agents.get(agent_id)
    if agent is not None and state is not None and state.status == AgentStatus.WRAP_UP:
        agent.status = AgentStatus.WRAP_UP
        agent.wrap_up_until = dt(state.wrap_up_until)
        record_event(uow.session, "wrap_up_started", uow.now, agent_id=agent_id)
    await apply(uow, effects)


async def enter_queue(
    uow: Unit,
    ticket: Ticket,
    customer: Customer,
    tell: QueueNotice,
    *,
    failed: Sequence[int] = (),
) -> QueueInfo:
    """Queue the ticket now, or hold it until business hours open; the customer is told with
    ``tell`` (or that nobody is online, or when the hours open)."""
    session, now, hours = uow.session, uow.now, uow.config.hours
    if not hours.is_open(now):
        ticket.waiting_for_hours = True
        opens = hours.next_open(now)
        if opens is not None:
            uow.engine.timers.add(ts(opens), "open", 0)
        record_event(
            session,
            "ticket_held_for_hours",
            now,
            ticket_id=ticket.id,
            opens_at=opens.isoformat() if opens else None,
        )
        uow.outbox.append(
            notices.OutsideHours(
                address(ticket, customer),
                opens_at=opens,
                hours=tuple(hours.weekly_rows()),
                timezone=hours.timezone,
            )
        )
        return QueueInfo(ticket.id, ticket.state, ticket.priority, opens_at=opens)
    ticket.waiting_for_hours = False
    record_event(session, "ticket_queued", now, ticket_id=ticket.id, priority=ticket.priority)
    effects = uow.acd.enqueue(
        ticket.id,
        ts(now),
        rank_at=ticket.rank_at if ticket.rank_at is not None else ts(now),
        priority=ticket.priority,
        category=ticket.category,
        language=ticket.language,
        failed=failed,
        target_agent=ticket.target_agent_id,
    )
    await apply(uow, effects)
    info = queue_info(uow.engine, ticket, now)
    to = address(ticket, customer)
    if not info.agents_online:
        uow.outbox.append(notices.NoAgents(to))
    else:
        uow.outbox.append(tell(to, info.position, info.wait_s))
    remember_notice(uow, ticket, info.position)
    return info


async def requeue_agent_chats(uow: Unit, agent_id: int, *, reason: str) -> None:
    """The agent is gone (offline past the grace period, or unreachable): their chats go back
    to the queue with their rank, not to be offered to them again."""
    session = uow.session
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
        record_event(session, "ticket_requeued", uow.now, ticket_id=ticket.id, reason=reason)
        await release(uow, agent_id)
        customer = await get_customer(session, ticket)
        await enter_queue(uow, ticket, customer, notices.Requeued, failed=[agent_id])
    uow.outbox.append(notices.ChatsRequeued(agent_id, ticket_ids=tuple(t.id for t in tickets)))
