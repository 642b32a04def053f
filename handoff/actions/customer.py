"""What customers do to their ticket: ask for a person, write, give up, leave, rate."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff import notices
from handoff.acd import rank_at
from handoff.effects import apply, enter_queue, finish, get_customer, get_ticket, release
from handoff.engine import Unit, action, chat_action
from handoff.model import WAITING_STATES, WITH_AGENT_STATES, HandoffError, QueueInfo
from handoff.schedule import set_sla, ts
from handoff.tickets import State
from handoff.waits import queue_info
from storage.events import record_event
from storage.models import Agent, Article, Message, QueryLog, Rating, Ticket
from storage.rows import NewLine


@action
async def request_human(uow: Unit, ticket_id: int, *, reason: str, text: str = "") -> QueueInfo:
    """The customer asks for a person: the ticket joins the queue with its priority (from the
    customer's tier, a repeat contact, the category and the words of their last lines)."""
    session, now, config = uow.session, uow.now, uow.config
    ticket = await get_ticket(session, ticket_id)
    if ticket.state in (*WAITING_STATES, *WITH_AGENT_STATES):
        return queue_info(uow.engine, ticket, now)
    if ticket.state != State.BOT:
        raise HandoffError(f"ticket {ticket_id} is {ticket.state}: it cannot ask for a person")
    customer = await get_customer(session, ticket)
    if not ticket.category:
        ticket.category = await _category_from_queries(session, ticket.id)
    since = now - timedelta(days=config.rules.repeat_contact_days)
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
    priority, reasons = config.rules.decide(
        tier=customer.tier,
        repeat_contact=bool(repeat),
        category=ticket.category,
        text=" ".join([text, *recent]),
    )
    ticket.priority = priority
    ticket.state = State.QUEUED
    ticket.handoff_requested_at = now
    ticket.first_queued_at = ticket.first_queued_at or now
    ticket.rank_at = rank_at(ts(now), priority, config.head_start_s)
    ticket.failed_agents = []
    set_sla(uow.engine.timers, config, ticket, now)
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
    uow.engine.arrivals.append((ts(now), priority))
    return await enter_queue(uow, ticket, customer, notices.Queued)


async def _category_from_queries(session: AsyncSession, ticket_id: int) -> str:
    """The category of the article the bot last matched on this ticket, if any."""
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


@action
async def cancel_request(uow: Unit, ticket_id: int) -> bool:
    """The customer no longer wants to wait (``/cancel``): the chat is abandoned."""
    ticket = await get_ticket(uow.session, ticket_id)
    if ticket.state not in WAITING_STATES:
        return False
    await apply(uow, uow.acd.remove(ticket.id, ts(uow.now)))
    finish(ticket, uow.now, State.CLOSED, "abandoned")
    record_event(uow.session, "ticket_abandoned", uow.now, ticket_id=ticket.id, actor="customer")
    return True


@chat_action  # a relay runs without the engine's lock; the rest asks for it (need_lock)
async def customer_wrote(
    uow: Unit, ticket_id: int, message_id: int | None = None, line: NewLine | None = None
) -> str:
    """A customer message on a ticket: wakes a pending ticket, reopens a resolved one. With
    ``message_id`` (the message as stored in the transcript), the ticket's agent is sent it
    through the port, on whatever channel they work from. ``line`` is that message as just
    written, in this transaction (in place of ``message_id``): it goes with the notice, so no
    channel reads it back.

    Returns what happened: ``none``, ``relayed`` (an agent has the chat), ``active``
    (pending -> assigned, and relayed) or ``reopened``. Only a relay is a chat action: the
    other two change the ticket's state, which the engine's lock orders
    (:meth:`~handoff.engine.Unit.need_lock`).
    """
    session, now = uow.session, uow.now
    if line is not None:
        message_id = line.id
    ticket = await get_ticket(session, ticket_id)
    if ticket.state in WITH_AGENT_STATES and ticket.assignee_id is not None:
        if ticket.state == State.PENDING:
            uow.need_lock()
        if message_id is not None:
            said = None
            if line is not None:
                said = notices.SaidLine(line.kind, line.text, line.created_at, dict(line.meta), "")
            uow.outbox.append(
                notices.ChatMessage(
                    ticket.assignee_id,
                    ticket_id=ticket.id,
                    message_id=message_id,
                    sender="customer",
                    said=said,
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
        and (now - ticket.resolved_at).total_seconds() <= uow.config.reopen_window_s
    ):
        uow.need_lock()
        await reopen(uow, ticket)
        return "reopened"
    return "none"


async def reopen(uow: Unit, ticket: Ticket, *, priority: str | None = None) -> None:
    """A resolved ticket within its reopen window (or, from a follow-up answered "not
    solved", a resolved or closed one, at a raised ``priority``): back to the queue with its
    history, the agent who had it preferred when they can take it now (else anyone may)."""
    customer = await get_customer(uow.session, ticket)
    previous = ticket.assignee_id
    if ticket.followup_state == "scheduled":  # the customer came back first: not asked
        ticket.followup_state = None
        ticket.followup_due_at = None
    if priority is not None:
        ticket.priority = priority
    ticket.state = State.QUEUED
    ticket.reopened_count += 1
    ticket.resolved_at = None
    ticket.closed_at = None
    ticket.resolution = None
    ticket.assignee_id = None
    ticket.failed_agents = []
    ticket.target_agent_id = (
        previous
        if previous is not None
        and uow.acd.unable_reason(previous, ticket.category, ticket.language) is None
        else None
    )
    ticket.handoff_requested_at = uow.now
    ticket.rank_at = rank_at(ts(uow.now), ticket.priority, uow.config.head_start_s)
    set_sla(uow.engine.timers, uow.config, ticket, uow.now)
    record_event(uow.session, "ticket_reopened", uow.now, ticket_id=ticket.id)
    await enter_queue(uow, ticket, customer, notices.Reopened)


@action
async def customer_unreachable(uow: Unit, ticket_id: int) -> None:
    """The customer blocked the bot mid-chat: close the ticket as abandoned."""
    ticket = await get_ticket(uow.session, ticket_id)
    if ticket.state in WAITING_STATES:
        await apply(uow, uow.acd.remove(ticket.id, ts(uow.now)))
    elif ticket.state in WITH_AGENT_STATES and ticket.assignee_id is not None:
        uow.outbox.append(notices.CustomerLeft(ticket.assignee_id, ticket_id=ticket.id))
        await release(uow, ticket.assignee_id)
    else:
        return
    finish(ticket, uow.now, State.CLOSED, "abandoned")
    record_event(
        uow.session, "ticket_abandoned", uow.now, ticket_id=ticket.id, reason="unreachable"
    )


@action
async def rate(uow: Unit, ticket_id: int, customer_id: int, stars: int) -> bool:
    """The customer's 1-5 stars after a close: one per ticket cycle, credited to the agent who
    handled it; 1-2 stars notify supervisors."""
    session, now = uow.session, uow.now
    ticket = await get_ticket(session, ticket_id)
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
            await session.get(Agent, ticket.assignee_id) if ticket.assignee_id is not None else None
        )
        uow.outbox.append(
            notices.LowRating(
                ticket_id=ticket.id,
                stars=stars,
                agent_id=ticket.assignee_id,
                agent_name=rated.name if rated else "",
            )
        )
    return True


@action
async def comment_rating(uow: Unit, ticket_id: int, customer_id: int, text: str) -> bool:
    """The optional comment after the stars (low ratings' comments go to supervisors)."""
    session = uow.session
    ticket = await get_ticket(session, ticket_id)
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
    rating.commented_at = uow.now
    record_event(
        session,
        "rating_commented",
        uow.now,
        ticket_id=ticket_id,
        customer_id=customer_id,
        actor="customer",
    )
    if rating.stars <= 2:
        uow.outbox.append(
            notices.LowRatingComment(
                ticket_id=ticket_id, stars=rating.stars, comment=rating.comment
            )
        )
    return True
