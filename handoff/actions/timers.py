"""What happens by itself when its time comes: offers lapse, wrap-ups end, offline agents'
chats go back to the queue, business hours open, SLA deadlines warn and breach, follow-ups
after resolve are asked.

:func:`tick` fires everything due at the unit's ``now``; the timer loop
(:class:`~handoff.service.HandoffService`) runs it at the next deadline, tests after moving a
virtual clock.
"""

from __future__ import annotations

from sqlalchemy import select

from handoff import notices
from handoff.acd import AgentStatus
from handoff.actions import followup
from handoff.effects import apply, enter_queue, get_customer, requeue_agent_chats
from handoff.engine import Unit, action
from handoff.model import WAITING_STATES, WITH_AGENT_STATES
from handoff.schedule import FOLLOWUP_TIMER, ts
from handoff.tickets import State
from handoff.waits import notify_positions
from storage.events import record_event
from storage.models import Agent, Ticket


@action
async def tick(uow: Unit) -> None:
    """Fire the ACD's deadlines and the engine's timers due at ``uow.now``."""
    now = ts(uow.now)
    await apply(uow, uow.acd.advance(now))
    for _, kind, key, extra in uow.engine.timers.pop_due(now):
        if kind == "grace":
            await _grace_over(uow, key)
        elif kind == "open":
            await _hours_open(uow)
        elif kind.startswith("sla"):
            await _sla_due(uow, key, kind, extra)
        elif kind == FOLLOWUP_TIMER:
            await followup.send_due(uow)
    notify_positions(uow)


async def _grace_over(uow: Unit, agent_id: int) -> None:
    """An agent went offline with open chats and has not come back: the chats are requeued."""
    agent = await uow.session.get(Agent, agent_id)
    if agent is None or agent.status != AgentStatus.OFFLINE or agent.offline_since is None:
        return
    if (uow.now - agent.offline_since).total_seconds() < uow.config.offline_grace_s:
        return
    await requeue_agent_chats(uow, agent_id, reason="agent_offline")


async def _hours_open(uow: Unit) -> None:
    """Business hours open: the tickets held for them join the queue, in rank order."""
    hours = uow.config.hours
    if not hours.is_open(uow.now):
        opens = hours.next_open(uow.now)
        if opens is not None:
            uow.engine.timers.add(ts(opens), "open", 0)
        return
    held = (
        (
            await uow.session.execute(
                select(Ticket)
                .where(Ticket.waiting_for_hours.is_(True), Ticket.state == State.QUEUED)
                .order_by(Ticket.rank_at, Ticket.id)
            )
        )
        .scalars()
        .all()
    )
    for ticket in held:
        if ticket.id in uow.acd.chats:
            continue
        customer = await get_customer(uow.session, ticket)
        await enter_queue(uow, ticket, customer, notices.Queued)


async def _sla_due(uow: Unit, ticket_id: int, kind: str, target: str) -> None:
    """An SLA warning or breach of ``target`` (``first_response`` or ``resolution``) is due:
    flagged once on the ticket and told to supervisors, unless it was met or moved."""
    session, now = uow.session, uow.now
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
    due = uow.config.sla.due(target, ticket.priority, ticket.handoff_requested_at)
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
    uow.outbox.append(
        sla_notice(
            ticket_id=ticket.id,
            target=target,
            due_at=due,
            priority=ticket.priority,
            assignee_id=ticket.assignee_id,
        )
    )
