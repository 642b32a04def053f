"""The handoff actions: one ``async def name(uow, ...)`` per state change, each written once.

Run one through :meth:`handoff.engine.Engine.run` (its own transaction), or several inside a
transaction the caller holds with :meth:`handoff.engine.Engine.unit`::

    async with db.transaction() as session, service.unit(session) as uow:
        await actions.request_human(uow, ticket_id, reason="asked")

By who acts: :mod:`.customer`, :mod:`.agent`, :mod:`.ticket` (agents and supervisors on a
chat), :mod:`.timers` (the clock), :mod:`.followup` (the question after resolve).
"""

from handoff.actions.agent import (
    accept_offer,
    agent_message,
    agent_unreachable,
    decline_offer,
    end_wrap_up,
    set_agent_status,
    set_pending,
)
from handoff.actions.customer import (
    cancel_request,
    comment_rating,
    customer_unreachable,
    customer_wrote,
    rate,
    request_human,
)
from handoff.actions.followup import answer_followup
from handoff.actions.ticket import (
    add_note,
    add_tag,
    hand_back_to_bot,
    resolve_ticket,
    set_priority,
    transfer_targets,
    transfer_ticket,
)
from handoff.actions.timers import tick

__all__ = [
    "accept_offer",
    "add_note",
    "add_tag",
    "agent_message",
    "agent_unreachable",
    "answer_followup",
    "cancel_request",
    "comment_rating",
    "customer_unreachable",
    "customer_wrote",
    "decline_offer",
    "end_wrap_up",
    "hand_back_to_bot",
    "rate",
    "request_human",
    "resolve_ticket",
    "set_agent_status",
    "set_pending",
    "set_priority",
    "tick",
    "transfer_targets",
    "transfer_ticket",
]
