"""What agents do: change their status, accept or decline an offer, write to a customer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff import notices
from handoff.acd import AcceptError, AgentStatus, OfferEnded
from handoff.effects import (
    apply,
    get_customer,
    get_ticket,
    requeue_agent_chats,
    require_assignee,
    settle_offer,
)
from handoff.engine import Unit, action, address, chat_action
from handoff.model import WITH_AGENT_STATES, AcceptResult, Conflict, HandoffError
from handoff.permissions import require_holder_or_supervisor
from handoff.restore import load_agent
from handoff.schedule import ts
from handoff.tickets import State, add_attachment
from handoff.waits import notify_positions
from storage.events import record_event
from storage.models import Agent, Customer, Message, Offer, Ticket


async def recent_lines(
    session: AsyncSession, ticket_id: int, n: int = 10
) -> tuple[tuple[str, str], ...]:
    """The last ``n`` lines of a chat said by someone (no system lines), oldest first."""
    rows = (
        await session.execute(
            select(Message.sender, Message.text)
            .where(Message.ticket_id == ticket_id, Message.sender != "system")
            .order_by(Message.id.desc())
            .limit(n)
        )
    ).all()
    return tuple((sender, text or "") for sender, text in reversed(rows))


def _made_elsewhere(stored: Offer | None, agent_id: int, now: datetime) -> bool:
    return (
        stored is not None
        and stored.state == "pending"
        and stored.agent_id == agent_id
        and stored.deadline > now
    )


@action
async def accept_offer(uow: Unit, offer_id: str, agent_id: int) -> AcceptResult:
    """The agent presses Accept. Exactly one accept wins (a compare-and-set on the offer,
    before its deadline); a late one is told why. Raises :class:`~handoff.model.Conflict`
    when another process settled the offer first (the memory is then rebuilt)."""
    session, now = uow.session, uow.now
    await apply(uow, uow.acd.advance(ts(now)))
    stored = await session.get(Offer, offer_id)
    try:
        effects = uow.acd.accept(offer_id, agent_id, ts(now))
    except AcceptError as exc:
        reason = exc.reason
        if reason == "gone" and _made_elsewhere(stored, agent_id, now):
            # Another process made this offer and this one has not heard of it yet: its
            # memory is behind, not the agent too late (the service rebuilds and retries).
            raise Conflict("the offer was made by another process") from exc
        if reason == "gone":
            reason = "expired" if stored is not None and stored.state == "expired" else "taken"
        return AcceptResult(False, reason, stored.ticket_id if stored else None)
    if not await settle_offer(session, offer_id, "accepted", now, before=now):
        uow.engine.last_sync = 0.0
        raise Conflict("offer settled elsewhere")
    assert stored is not None  # the ACD knew the offer, so it was claimed in the database
    ticket = await get_ticket(session, stored.ticket_id)
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
        session, "offer_accepted", now, ticket_id=ticket.id, offer_id=offer_id, agent_id=agent_id
    )
    record_event(
        session,
        "ticket_assigned",
        now,
        ticket_id=ticket.id,
        actor=f"agent:{agent_id}",
        agent_id=agent_id,
    )
    customer = await get_customer(session, ticket)
    uow.outbox.append(notices.AgentJoined(address(ticket, customer), agent_name=agent.name))
    if agent.current_ticket_id != ticket.id:  # the chat an agent's plain lines go to
        agent.current_ticket_id = ticket.id
        record_event(
            session,
            "current_chat_set",
            now,
            ticket_id=ticket.id,
            actor=f"agent:{agent_id}",
            agent_id=agent_id,
        )
    uow.outbox.append(
        notices.Assigned(
            agent_id,
            ticket_id=ticket.id,
            offer_id=offer_id,
            customer_name=customer.name,
            recent=await recent_lines(session, ticket.id),
            offer_message=stored.agent_message,
        )
    )
    await apply(uow, [e for e in effects if not isinstance(e, OfferEnded)])
    notify_positions(uow)
    return AcceptResult(True, "accepted", ticket.id)


@action
async def decline_offer(uow: Unit, offer_id: str, agent_id: int) -> AcceptResult:
    """The agent passes: the chat is offered to the next agent."""
    await apply(uow, uow.acd.advance(ts(uow.now)))
    try:
        effects = uow.acd.decline(offer_id, agent_id, ts(uow.now))
    except AcceptError as exc:
        return AcceptResult(False, "taken" if exc.reason == "gone" else exc.reason)
    await apply(uow, effects)
    ended = next((e for e in effects if isinstance(e, OfferEnded)), None)
    return AcceptResult(True, "declined", ended.offer.ticket_id if ended else None)


@action
async def set_agent_status(
    uow: Unit, agent_id: int, status: str, origin: str = "system"
) -> list[int]:
    """``/online``, ``/away``, ``/offline``. Returns the agent's open tickets. ``origin``:
    where it was set (``telegram``, ``web``, ``system``); an agent who went available from
    Telegram counts as present there (handoff/presence.py).

    Going offline with open chats asks the agent to close or transfer them; after the grace
    period they go back to the queue with their rank.
    """
    return await set_status_from(uow, agent_id, AgentStatus(status), origin)


async def set_status_from(uow: Unit, agent_id: int, status: AgentStatus, origin: str) -> list[int]:
    """Set the status (see :func:`set_agent_status`), noting where it was set."""
    open_ids = await _set_status(uow, agent_id, status, origin)
    return open_ids


async def _set_status(
    uow: Unit, agent_id: int, status: AgentStatus, origin: str = "system"
) -> list[int]:
    session, now = uow.session, uow.now
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise HandoffError(f"no agent {agent_id}")
    if agent_id not in uow.acd.agents:
        load_agent(uow.acd, agent, ts(now))
    previous = agent.status
    agent.status = status
    agent.status_origin = origin
    agent.updated_at = now
    if origin == "telegram" and status == AgentStatus.AVAILABLE and agent.absent_since:
        # Present on Telegram: no longer absent, whatever became of their consoles.
        agent.absent_since = None
        record_event(session, "agent_present", now, actor="telegram", agent_id=agent_id)
        await apply(uow, uow.acd.set_absent(agent_id, False, ts(now)))
    agent.unreachable = False if status == AgentStatus.AVAILABLE else agent.unreachable
    if status == AgentStatus.AVAILABLE:
        agent.no_answer_streak = 0
        agent.offline_since = None
        agent.idle_since = max(agent.idle_since, now)
    effects = uow.acd.set_status(agent_id, status, ts(now))
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
        uow.outbox.append(notices.StatusChanged(agent_id, status=status.value))
    await apply(uow, effects)
    open_ids = await _open_tickets(session, agent_id)
    if status == AgentStatus.OFFLINE and previous != AgentStatus.OFFLINE:
        agent.offline_since = now
        if open_ids:
            uow.outbox.append(notices.CloseOrTransfer(agent_id, ticket_ids=tuple(open_ids)))
            uow.engine.timers.add(ts(now) + uow.config.offline_grace_s, "grace", agent_id)
    notify_positions(uow)
    return open_ids


async def _open_tickets(session: AsyncSession, agent_id: int) -> list[int]:
    return list(
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


@action
async def agent_unreachable(uow: Unit, agent_id: int) -> None:
    """The agent blocked the bot: treated as offline at once, chats back to the queue."""
    agent = await uow.session.get(Agent, agent_id)
    if agent is None:
        return
    agent.unreachable = True
    record_event(uow.session, "agent_unreachable", uow.now, agent_id=agent_id)
    await _set_status(uow, agent_id, AgentStatus.OFFLINE)
    await requeue_agent_chats(uow, agent_id, reason="agent_unreachable")


@action
async def end_wrap_up(uow: Unit, agent_id: int) -> None:
    """The agent is ready before their wrap-up time is over."""
    await apply(uow, uow.acd.end_wrap_up(agent_id, ts(uow.now)))


@chat_action  # rows and notices only: runs without the engine's lock (handoff.engine)
async def agent_message(
    uow: Unit,
    ticket_id: int,
    agent_id: int,
    text: str,
    *,
    origin: str,
    kind: str = "text",
    meta: Mapping[str, object] | None = None,
    client_id: str | None = None,
    file: tuple[str, str, bytes] | None = None,
) -> int:
    """An agent writes to the customer of a chat they hold, from any channel (``origin``:
    ``telegram`` or ``web``). The message is stored in the transcript, the first reply is
    stamped, and after the commit the port carries it to the customer's channel and to the
    agent's other places (the console, Telegram). With ``client_id``, a repeat of the same
    message (a retry after a lost answer) is not sent twice. With ``file`` (name, content
    type, bytes) the message carries that file, kept on the ticket. Returns the message id."""
    session, now = uow.session, uow.now
    ticket, customer, agent_name = await _chat_of(session, ticket_id, agent_id)
    if ticket.state not in WITH_AGENT_STATES:
        raise HandoffError(f"ticket {ticket_id} is {ticket.state}: it has no live chat")
    require_assignee(ticket, agent_id)
    if not text.strip() and kind == "text":
        raise HandoffError("a message needs some text")
    if client_id is not None:
        earlier = (
            await session.execute(
                select(Message.id)
                .where(
                    Message.ticket_id == ticket.id,
                    Message.sender == "agent",
                    Message.client_id == client_id,
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if earlier is not None:
            return int(earlier)
    stored_meta: dict[str, object] = dict(meta or {})
    if file is not None:
        name, content_type, data = file
        stored_meta |= await add_attachment(
            session, ticket.id, name=name, content_type=content_type, data=data, at=now
        )
        kind, text = "file", text or name
    stored_meta |= {"agent_id": agent_id, "origin": origin}
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
    _stamp_first_reply(uow, ticket, agent_id)
    said = notices.SaidLine(kind, text, now, dict(stored_meta), agent_name)
    uow.outbox.append(
        notices.AgentMessage(
            address(ticket, customer), message_id=message.id, origin=origin, said=said
        )
    )
    uow.outbox.append(
        notices.ChatMessage(
            agent_id,
            ticket_id=ticket.id,
            message_id=message.id,
            sender="agent",
            origin=origin,
            said=said,
        )
    )
    return int(message.id)


async def _chat_of(
    session: AsyncSession, ticket_id: int, agent_id: int
) -> tuple[Ticket, Customer, str]:
    """The ticket, its customer and the agent's name, in one statement: a line of a live chat
    is the most frequent action, and each statement is a round trip the line waits for."""
    found = (
        await session.execute(
            select(Ticket, Customer, Agent.name)
            .join(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(Agent, Agent.id == agent_id)
            .where(Ticket.id == ticket_id)
        )
    ).first()
    if found is None:
        raise HandoffError(f"no ticket {ticket_id}")
    ticket, customer, name = found
    return ticket, customer, name or ""


def _stamp_first_reply(uow: Unit, ticket: Ticket, agent_id: int) -> None:
    """The first agent reply of a ticket: the first-response time is measured to it."""
    if ticket.first_agent_reply_at is None:
        ticket.first_agent_reply_at = uow.now
        record_event(
            uow.session,
            "first_agent_reply",
            uow.now,
            ticket_id=ticket.id,
            actor=f"agent:{agent_id}",
            agent_id=agent_id,
        )


@action
async def set_pending(uow: Unit, ticket_id: int, agent_id: int) -> None:
    """The agent waits on the customer (the SLA clock stops counting the agent)."""
    ticket = await get_ticket(uow.session, ticket_id)
    await require_holder_or_supervisor(uow.session, ticket, agent_id)
    if ticket.state == State.ASSIGNED:
        ticket.state = State.PENDING
        record_event(
            uow.session, "ticket_pending", uow.now, ticket_id=ticket.id, actor=f"agent:{agent_id}"
        )
