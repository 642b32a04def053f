"""What a waiting customer is told: their place, the expected wait, a better place later.

All from memory (the ACD's queue and the engine's arrival counts); the only writes are the
``notified_*`` columns of the ticket, so a restart does not repeat what was already said.
"""

from __future__ import annotations

from datetime import datetime

from handoff import notices
from handoff.acd import AgentStatus
from handoff.engine import Engine, Unit, address
from handoff.model import QueueInfo
from handoff.priority import PRIORITIES
from handoff.schedule import ts
from storage.models import Customer, Ticket

WaitModel = tuple[int, int, list[float]]  # slots online, slots busy, arrivals/s per priority


def position_matters(told: int, now: int) -> bool:
    """Whether a waiting customer told ``told`` should hear of their new place ``now``: any
    step near the front (the last few places are the ones people watch), further back only a
    move of a fifth or more. Worse places are never announced (they follow from priorities)."""
    if now >= told:
        return False
    return now <= 5 or now <= told * 0.8


def queue_info(engine: Engine, ticket: Ticket, now: datetime) -> QueueInfo:
    """Where ``ticket`` stands now."""
    if ticket.waiting_for_hours:
        return QueueInfo(
            ticket.id,
            ticket.state,
            ticket.priority,
            opens_at=engine.config.hours.next_open(now),
        )
    acd = engine.acd
    position = acd.position(ticket.id)
    chat = acd.chats.get(ticket.id)
    online = chat is not None and any(
        a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP) and a.serves(chat)
        for a in acd.agents.values()
    )
    wait = estimated_wait_s(engine, ticket.id) if position is not None else None
    return QueueInfo(ticket.id, ticket.state, ticket.priority, position, wait, online)


def estimated_wait_s(engine: Engine, ticket_id: int, position: int | None = None) -> float | None:
    """Position-based expected wait (SEMANTICS.md 2.8, Whitt's predictor).

    0 when a slot is free; ``(k+1)·AHT/S`` for the top class; divided by ``1 - ρ_higher``
    for lower ones; None when nobody is online. Pass ``position`` when it is already known (it
    costs a walk of the queue otherwise).
    """
    chat = engine.acd.chats.get(ticket_id)
    if chat is None:
        return None
    model = wait_model(engine)
    if model is None:
        return None
    return _wait(engine, model, chat.priority, position or engine.acd.position(ticket_id) or 1)


def wait_model(engine: Engine) -> WaitModel | None:
    """Slots online, slots busy, and the arrival rate of each priority level over the last
    hour: what every estimate of one moment shares."""
    on = [
        a
        for a in engine.acd.agents.values()
        if a.status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)
    ]
    slots = sum(a.capacity for a in on)
    if slots == 0:
        return None
    busy = sum(a.active + (1 if a.pending else 0) for a in on)
    now = engine.now_ts()
    arrivals = engine.arrivals
    while arrivals and arrivals[0][0] < now - 3600:
        arrivals.popleft()
    rates = [0.0] * len(PRIORITIES)
    for _, priority in arrivals:
        rates[PRIORITIES.index(priority)] += 1 / 3600.0
    return slots, busy, rates


def _wait(engine: Engine, model: WaitModel, priority: str, position: int) -> float:
    slots, busy, rates = model
    if busy < slots and position == 1:
        return 0.0
    higher = sum(rates[PRIORITIES.index(priority) + 1 :])
    rho_higher = min(higher * engine.aht / slots, 0.95)
    return position * engine.aht / slots / (1.0 - rho_higher)


def notify_positions(uow: Unit) -> None:
    """Decide, from memory, which waiting customers to tell of a better place: only a change
    that matters (:func:`position_matters`), at most every ``position_update_s`` per
    customer. The telling happens after the unit's commit, so an accept with thousands queued
    stays a short transaction."""
    engine = uow.engine
    now = ts(uow.now)
    notified = engine.notified
    for gone in [t for t in notified if t not in engine.acd.chats]:
        del notified[gone]  # no longer waiting: forget what they were told
    if not notified:
        return
    waiting = sorted(engine.acd.chats.values(), key=lambda c: c.key)
    model = wait_model(engine)
    for index, chat in enumerate(waiting):
        position = index + 1
        told = notified.get(chat.ticket_id)
        if told is None or not position_matters(told[0], position):
            continue
        if now - told[1] < engine.config.position_update_s:
            continue
        notified[chat.ticket_id] = (position, now)
        wait = None if model is None else _wait(engine, model, chat.priority, position)
        engine.positions_due[chat.ticket_id] = (position, wait)


def remember_notice(uow: Unit, ticket: Ticket, position: int | None) -> None:
    """The customer was just told ``position``: remember it (row and memory)."""
    ticket.notified_position = position
    ticket.notified_at = uow.now
    if position is None:
        uow.engine.notified.pop(ticket.id, None)
    else:
        uow.engine.notified[ticket.id] = (position, ts(uow.now))


async def remind_waiting(uow: Unit, ticket: Ticket) -> None:
    """Offers keep lapsing and the position does not improve: the customer hears where they
    stand at most every ``waiting_reminder_s``, not silence (nor a stale "nobody is
    online")."""
    told = ticket.notified_at
    if told is not None and (uow.now - told).total_seconds() < uow.config.waiting_reminder_s:
        return
    customer = await uow.session.get(Customer, ticket.customer_id)
    if customer is None:
        return
    info = queue_info(uow.engine, ticket, uow.now)
    uow.outbox.append(notices.StillWaiting(address(ticket, customer), info.position, info.wait_s))
    remember_notice(uow, ticket, info.position)
