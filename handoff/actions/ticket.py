"""What agents and supervisors do to a chat: resolve, transfer, hand back to the bot, change
its priority, tag it, note on it. Who may do what is checked here, given the actor, so every
channel (Telegram, the console, the CLI) applies the same rule."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff import notices
from handoff.acd import AgentStatus, rank_at
from handoff.actions.agent import recent_lines
from handoff.actions.followup import schedule as schedule_followup
from handoff.effects import (
    apply,
    enter_queue,
    finish,
    get_customer,
    get_ticket,
    release,
)
from handoff.engine import Engine, Unit, action, address
from handoff.model import (
    WAITING_STATES,
    WITH_AGENT_STATES,
    HandoffError,
    QueueInfo,
    TransferRefused,
    TransferTargets,
)
from handoff.permissions import (
    agent_of,
    require_holder_or_supervisor,
    require_supervisor,
)
from handoff.priority import PRIORITIES
from handoff.restore import load_agent
from handoff.schedule import set_sla, ts
from handoff.tickets import State
from storage.events import record_event
from storage.models import Agent, Note, Ticket


def _actor(agent_id: int | None) -> str:
    return f"agent:{agent_id}" if agent_id else "supervisor"


@action
async def resolve_ticket(uow: Unit, ticket_id: int, agent_id: int | None) -> None:
    """The agent closes the chat: resolved, reopened if the customer writes within the reopen
    window, closed for good after it."""
    session, now = uow.session, uow.now
    ticket = await get_ticket(session, ticket_id)
    if ticket.state not in WITH_AGENT_STATES:
        raise HandoffError(f"ticket {ticket_id} is {ticket.state}: nothing to resolve")
    await require_holder_or_supervisor(session, ticket, agent_id)
    assignee = ticket.assignee_id
    finish(ticket, now, State.RESOLVED, "agent")
    ticket.assignee_id = assignee
    schedule_followup(uow, ticket)
    record_event(
        session,
        "ticket_resolved",
        now,
        ticket_id=ticket.id,
        actor=_actor(agent_id),
        agent_id=assignee,
        resolution="agent",
        cycle=ticket.reopened_count,
    )
    if ticket.assigned_at is not None:
        handle = (now - ticket.assigned_at).total_seconds()
        uow.engine.aht = 0.75 * uow.engine.aht + 0.25 * max(handle, 1.0)
    customer = await get_customer(session, ticket)
    resolver = await session.get(Agent, assignee) if assignee is not None else None
    uow.outbox.append(
        notices.Resolved(
            address(ticket, customer),
            agent_id=assignee,
            agent_name=resolver.name if resolver else "",
            cycle=ticket.reopened_count,
        )
    )
    if assignee is not None:
        await release(uow, assignee)


@action
async def transfer_ticket(
    uow: Unit,
    ticket_id: int,
    agent_id: int | None,
    *,
    to_agent: int | None = None,
    to_category: str | None = None,
) -> QueueInfo:
    """Hand the chat to another agent or skill; it keeps its original queue time. Refused
    (:class:`~handoff.model.TransferRefused`, with the reason) when nobody could take it."""
    session, now = uow.session, uow.now
    ticket = await get_ticket(session, ticket_id)
    if ticket.state not in WITH_AGENT_STATES:
        raise HandoffError(f"ticket {ticket_id} is {ticket.state}: only a live chat moves")
    await require_holder_or_supervisor(session, ticket, agent_id)
    previous = ticket.assignee_id
    category = to_category if to_category is not None else ticket.category
    await _check_transfer(uow, ticket, previous, to_agent, category)
    ticket.category = category
    ticket.target_agent_id = to_agent
    ticket.assignee_id = None
    ticket.state = State.QUEUED
    record_event(
        session,
        "ticket_transferred",
        now,
        ticket_id=ticket.id,
        actor=_actor(agent_id),
        from_agent=previous,
        to_agent=to_agent,
        to_category=to_category,
    )
    customer = await get_customer(session, ticket)
    # The agent who passed it on is not offered it back. Queued (and offered to a named
    # target, who is free) before that agent's slot frees up.
    failed = [previous] if previous is not None else []
    ticket.failed_agents = failed
    info = await enter_queue(uow, ticket, customer, notices.Transferred, failed=failed)
    if previous is not None:
        await release(uow, previous)
    return info


async def _check_transfer(
    uow: Unit, ticket: Ticket, previous: int | None, to_agent: int | None, category: str
) -> None:
    """A transfer goes to someone who can take the chat, or is refused with the reason: no
    chat waits for a person who will never take it while others are free."""
    acd = uow.acd
    if to_agent is not None:
        target = await uow.session.get(Agent, to_agent)
        if target is None:
            raise HandoffError(f"no agent {to_agent}")
        if to_agent == previous:
            raise TransferRefused(target.name, "yours")
        reason = acd.unable_reason(to_agent, category, ticket.language)
        if reason is not None:
            raise TransferRefused(target.name, reason, category, ticket.language)
        return
    if not any(
        a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)
        and a.serves_kind(category, ticket.language)
        for a in acd.agents.values()
    ):
        raise TransferRefused("", "nobody", category, ticket.language)


async def transfer_targets(
    engine: Engine, session: AsyncSession, ticket_id: int, agent_id: int | None
) -> TransferTargets:
    """Whom this chat can be transferred to now: the agents who can take it at once and the
    categories some online agent handles in its language (in a one-agent team that agent gets
    it back). The same list on every channel (the Telegram menu, the console). A read: the
    caller holds the engine's lock, so the memory does not move under it."""
    acd = engine.acd
    ticket = await get_ticket(session, ticket_id)
    await require_holder_or_supervisor(session, ticket, agent_id)
    previous = ticket.assignee_id if agent_id is None else agent_id
    names = dict((await session.execute(select(Agent.id, Agent.name))).all())
    agents = [
        (a.id, names.get(a.id, ""))
        for a in sorted(acd.agents.values(), key=lambda a: a.id)
        if a.id != previous
        and a.id in names
        and acd.unable_reason(a.id, ticket.category, ticket.language) is None
    ]
    able = [
        a for a in acd.agents.values() if a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)
    ]
    known = {s for a in acd.agents.values() for s in a.skills}
    categories = sorted(c for c in known if any(a.serves_kind(c, ticket.language) for a in able))
    return TransferTargets(agents, categories)


@action
async def hand_back_to_bot(uow: Unit, ticket_id: int, agent_id: int | None) -> None:
    """The chat goes back to the bot (out of the queue, or from its agent)."""
    session, now = uow.session, uow.now
    ticket = await get_ticket(session, ticket_id)
    if ticket.state in WAITING_STATES:
        await require_supervisor(session, ticket, agent_id)
        await apply(uow, uow.acd.remove(ticket.id, ts(now)))
    elif ticket.state in WITH_AGENT_STATES:
        await require_holder_or_supervisor(session, ticket, agent_id)
        if ticket.assignee_id is not None:
            await release(uow, ticket.assignee_id)
    else:
        raise HandoffError(f"ticket {ticket_id} is {ticket.state}: nothing to hand back")
    ticket.state = State.BOT
    ticket.assignee_id = None
    ticket.target_agent_id = None
    record_event(session, "ticket_handed_back", now, ticket_id=ticket.id, actor=_actor(agent_id))
    customer = await get_customer(session, ticket)
    uow.outbox.append(notices.HandedBack(address(ticket, customer)))


@action
async def set_priority(uow: Unit, ticket_id: int, priority: str, actor: str) -> None:
    """Change a ticket's priority; the rank and the SLA clocks follow. An agent may change it
    on the chat they hold, a supervisor on any (:class:`~handoff.model.NotAllowed`)."""
    if priority not in PRIORITIES:
        raise HandoffError(f"priority must be one of {', '.join(PRIORITIES)}")
    session, now, config = uow.session, uow.now, uow.config
    ticket = await get_ticket(session, ticket_id)
    await require_holder_or_supervisor(session, ticket, agent_of(actor))
    previous = ticket.priority
    ticket.priority = priority
    if ticket.handoff_requested_at is not None:
        ticket.rank_at = rank_at(ts(ticket.handoff_requested_at), priority, config.head_start_s)
        set_sla(uow.engine.timers, config, ticket, ticket.handoff_requested_at)
    record_event(
        session,
        "priority_changed",
        now,
        ticket_id=ticket.id,
        actor=actor,
        priority=priority,
        previous=previous,
    )
    if ticket.id in uow.acd.chats and ticket.rank_at is not None:
        await apply(uow, uow.acd.reprioritise(ticket.id, ticket.rank_at, priority, ts(now)))


@action
async def add_tag(uow: Unit, ticket_id: int, tag: str, actor: str) -> list[str]:
    """Tag a ticket (lower case, 64 characters at most); returns its tags. An agent tags the
    chat they hold, a supervisor any (:class:`~handoff.model.NotAllowed`)."""
    ticket = await get_ticket(uow.session, ticket_id)
    await require_holder_or_supervisor(uow.session, ticket, agent_of(actor))
    tag = tag.strip().lower()[:64]
    if not tag:
        raise HandoffError("a tag needs some text")
    if tag not in ticket.tags:
        ticket.tags = [*ticket.tags, tag]
        record_event(
            uow.session, "ticket_tagged", uow.now, ticket_id=ticket.id, actor=actor, tag=tag
        )
    return list(ticket.tags)


@action
async def remove_tag(uow: Unit, ticket_id: int, tag: str, actor: str) -> list[str]:
    """Take a tag off a ticket; returns its tags. The same rule as :func:`add_tag`."""
    ticket = await get_ticket(uow.session, ticket_id)
    await require_holder_or_supervisor(uow.session, ticket, agent_of(actor))
    tag = tag.strip().lower()[:64]
    if tag in ticket.tags:
        ticket.tags = [t for t in ticket.tags if t != tag]
        record_event(
            uow.session, "ticket_untagged", uow.now, ticket_id=ticket.id, actor=actor, tag=tag
        )
    return list(ticket.tags)


@action
async def take_over(uow: Unit, ticket_id: int, supervisor_id: int) -> None:
    """A supervisor takes a live or waiting chat: it becomes theirs (their current chat), the
    agent who held it is told and freed, the customer is told who joined. Supervisors only."""
    session, now = uow.session, uow.now
    ticket = await get_ticket(session, ticket_id)
    await require_supervisor(session, ticket, supervisor_id)
    supervisor = await session.get(Agent, supervisor_id)  # loaded by the check: no query
    assert supervisor is not None
    if ticket.state not in (*WAITING_STATES, *WITH_AGENT_STATES):
        raise HandoffError(f"ticket {ticket_id} is {ticket.state}: no live chat to take over")
    previous = ticket.assignee_id if ticket.state in WITH_AGENT_STATES else None
    if previous == supervisor_id:
        raise HandoffError(f"ticket {ticket_id} is already yours")
    if supervisor_id not in uow.acd.agents:
        load_agent(uow.acd, supervisor, ts(now))
    await apply(uow, uow.acd.take(ticket.id, supervisor_id, ts(now)))
    ticket.state = State.ASSIGNED
    ticket.assignee_id = supervisor_id
    ticket.assigned_at = ticket.assigned_at or now
    ticket.target_agent_id = None
    ticket.failed_agents = []
    ticket.waiting_for_hours = False
    supervisor.current_ticket_id = ticket.id
    supervisor.updated_at = now
    record_event(
        session,
        "ticket_taken_over",
        now,
        ticket_id=ticket.id,
        actor=f"agent:{supervisor_id}",
        agent_id=supervisor_id,
        from_agent=previous,
    )
    customer = await get_customer(session, ticket)
    uow.outbox.append(notices.AgentJoined(address(ticket, customer), agent_name=supervisor.name))
    uow.outbox.append(
        notices.Assigned(
            supervisor_id,
            ticket_id=ticket.id,
            offer_id="",
            customer_name=customer.name,
            recent=await recent_lines(session, ticket.id),
        )
    )
    if previous is not None:
        uow.outbox.append(notices.TakenOver(previous, ticket_id=ticket.id, by_name=supervisor.name))
        await release(uow, previous)


@action
async def add_note(uow: Unit, ticket_id: int, agent_id: int | None, text: str) -> int:
    """An internal note: stored on the ticket, never sent to the customer. An agent notes the
    chat they hold, a supervisor any (the same rule in the console and on Telegram)."""
    session, now = uow.session, uow.now
    ticket = await get_ticket(session, ticket_id)
    await require_holder_or_supervisor(session, ticket, agent_id)
    if not text.strip():
        raise HandoffError("a note needs some text")
    note = Note(ticket_id=ticket_id, agent_id=agent_id, text=text.strip(), created_at=now)
    session.add(note)
    await session.flush()
    record_event(
        session, "note_added", now, ticket_id=ticket_id, actor=f"agent:{agent_id}", note_id=note.id
    )
    return note.id
