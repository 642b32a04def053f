"""The follow-up after resolve (:mod:`handoff.followup`): scheduled when an agent resolves a
ticket, sent by the clock, answered by the customer.

The due time lives on the ticket (``followup_due_at``, set only while the follow-up is
``scheduled``, indexed). The engine keeps ONE timer for it (kind ``followup``): at the
earliest due time it sends what is due, in bounded batches, and arms itself at the next due
time (one indexed read). So nothing is held per ticket in memory, a restart re-arms it with
one read (:func:`handoff.schedule.arm_followups`), and an idle service spends nothing on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, select, update

from handoff import notices
from handoff.actions.customer import reopen
from handoff.effects import get_customer, get_ticket
from handoff.engine import Unit, action, address
from handoff.followup import CONFIRMED, REOPENED, SCHEDULED, SENT, SKIPPED, zone_of
from handoff.priority import PRIORITIES, level
from handoff.schedule import FOLLOWUP_TIMER, arm_followups, ts
from handoff.tickets import State
from storage.events import record_event
from storage.models import Customer, Ticket

BATCH = 200  # follow-ups sent per firing; a full batch fires again at once

# The answers a customer gives (the button's last part).
YES, NO, NEVER = "y", "n", "x"


def schedule(uow: Unit, ticket: Ticket) -> None:
    """An agent resolved ``ticket``: its follow-up for this cycle is planned (or not, when
    its category is not asked)."""
    due = uow.config.followup.due(ticket.category, uow.now, uow.config.hours)
    ticket.followup_cycle = ticket.reopened_count
    ticket.followup_sent_at = None
    ticket.followup_agent_id = ticket.assignee_id
    if due is None:
        ticket.followup_due_at = None
        ticket.followup_state = None
        return
    ticket.followup_due_at = due
    ticket.followup_state = SCHEDULED
    uow.engine.timers.add(ts(due), FOLLOWUP_TIMER, 0)


def cancel(ticket: Ticket) -> None:
    """The ticket moved on before its follow-up (reopened by the customer): not asked."""
    if ticket.followup_state == SCHEDULED:
        ticket.followup_state = None
        ticket.followup_due_at = None


async def send_due(uow: Unit) -> None:
    """The follow-up timer fired: ask every customer whose follow-up is due (a batch at a
    time), postpone those for whom it is night, then re-arm at the next due time."""
    session, now = uow.session, uow.now
    rows = (
        await session.execute(
            select(Ticket, Customer)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.followup_due_at <= now)
            .order_by(Ticket.followup_due_at, Ticket.id)
            .limit(BATCH)
        )
    ).all()
    for ticket, customer in rows:
        await _send_one(uow, ticket, customer)
    if len(rows) == BATCH:
        uow.engine.timers.add(ts(now), FOLLOWUP_TIMER, 0)
    else:
        await arm_followups(uow.engine.timers, session)


async def _send_one(uow: Unit, ticket: Ticket, customer: Customer) -> None:
    session, now, policy = uow.session, uow.now, uow.config.followup
    asked = ticket.state in (State.RESOLVED, State.CLOSED) and ticket.resolution == "agent"
    if (
        not asked
        or ticket.followup_state != SCHEDULED
        or ticket.followup_cycle != ticket.reopened_count
    ):
        cancel(ticket)
        ticket.followup_due_at = None
        return
    if customer.unreachable or customer.followup_opt_out:
        ticket.followup_state = SKIPPED
        ticket.followup_due_at = None
        return
    morning = policy.morning(now, zone_of(customer.time_zone))
    if morning is not None:
        ticket.followup_due_at = morning  # night where the customer is: next morning
        return
    # A compare-and-set: of two processes firing the same due follow-up, one sends it.
    changed = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.followup_state == SCHEDULED)
        .values(followup_state=SENT, followup_sent_at=now, followup_due_at=None)
        .execution_options(synchronize_session="fetch")
    )
    assert isinstance(changed, CursorResult)
    if changed.rowcount == 0:
        return
    cycle = ticket.reopened_count
    record_event(
        session,
        "followup_sent",
        now,
        ticket_id=ticket.id,
        customer_id=customer.id,
        cycle=cycle,
        agent_id=ticket.followup_agent_id,
        category=ticket.category,
    )
    uow.outbox.append(
        notices.FollowUpAsked(
            address(ticket, customer),
            cycle=cycle,
            expires_at=now + timedelta(seconds=policy.window_s),
        )
    )


def raised(priority: str) -> str:
    """One level up (``normal`` -> ``high``), ``urgent`` staying urgent."""
    return PRIORITIES[min(level(priority) + 1, len(PRIORITIES) - 1)]


@action
async def answer_followup(
    uow: Unit, ticket_id: int, customer_id: int, cycle: int, answer: str
) -> str:
    """The customer answered the follow-up of ``cycle`` of ``ticket_id``: ``y`` (still
    solved: recorded), ``n`` (not solved: the same ticket reopens, at a raised priority,
    preferring the agent who resolved it) or ``x`` (never ask again).

    Returns ``confirmed``, ``reopened``, ``opted_out``, or ``expired`` (not this customer's,
    another cycle, answered already, or past the answer window: nothing recorded)."""
    session, now = uow.session, uow.now
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.customer_id != customer_id:
        return "expired"
    if answer == NEVER:
        customer = await get_customer(session, ticket)
        if not customer.followup_opt_out:
            customer.followup_opt_out = True
            record_event(
                session, "followup_opted_out", now, customer_id=customer.id, ticket_id=ticket.id
            )
        return "opted_out"
    sent = ticket.followup_sent_at
    if (
        ticket.followup_state != SENT
        or ticket.followup_cycle != cycle
        or ticket.reopened_count != cycle
        or sent is None
        or (now - sent).total_seconds() > uow.config.followup.window_s
        or ticket.state not in (State.RESOLVED, State.CLOSED)
    ):
        return "expired"
    facts: dict[str, Any] = {
        "cycle": cycle,
        "agent_id": ticket.followup_agent_id,
        "category": ticket.category,
    }
    who: dict[str, Any] = {"ticket_id": ticket.id, "customer_id": customer_id}
    if answer == YES:
        ticket.followup_state = CONFIRMED
        record_event(session, "followup_confirmed", now, **who, actor="customer", **facts)
        return "confirmed"
    ticket.followup_state = REOPENED
    priority = raised(ticket.priority)
    record_event(
        session, "followup_reopened", now, **who, actor="customer", **facts, priority=priority
    )
    await reopen(uow, await get_ticket(session, ticket.id), priority=priority)
    return "reopened"
