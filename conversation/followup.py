"""The customer's answer to the follow-up after resolve (``fu:<ticket>:<cycle>:y|n|x``).

One transaction for everything (run again if the database aborts it to break a deadlock:
:func:`conversation.hints.in_transaction`): the handoff unit is entered right after it begins
(the lock order of :mod:`handoff.engine`), then the customer is touched, the answer recorded by
the handoff action :func:`handoff.actions.answer_followup` (a "No" reopens the same ticket at a
raised priority, preferring the agent who resolved it), the press kept as the customer's line
on that ticket and the question's buttons taken away. The handoff engine's notices (the
reopened ticket's place in the queue) go out after the commit, through the port; on a channel
whose lines the core keeps they are kept in the transaction and said with the press's lines.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

import texts
from app.services import Services
from conversation.hints import in_transaction
from conversation.outputs import Channel, Identity, Pressed
from conversation.turn import (
    Turn,
    flood_refusal,
    line_of,
    record_choice,
    ticket_view,
    touch,
    update_pressed,
)
from handoff import actions
from handoff.engine import Unit
from storage.models import Ticket

ANSWERS = {"confirmed": "customer.followup_thanks", "opted_out": "customer.followup_opted_out"}


async def followup_pressed(
    services: Services,
    channel: Channel,
    identity: Identity,
    match: re.Match[str],
    data: str,
    *,
    pressed_line_id: int | None = None,
    flood_checked: bool = False,
) -> Pressed:
    """Yes (still solved), No (reopen) or Don't ask me again, pressed on a follow-up."""
    refused = flood_refusal(services, channel, identity, flood_checked)
    if refused is not None:
        return Pressed(refused=refused)
    ticket_id, cycle, answer = int(match["fu_t"]), int(match["fu_c"]), match["fu_v"]

    async def run(session: AsyncSession, uow: Unit | None) -> Pressed:
        customer = await touch(session, services, channel, identity, services.clock.now())
        lang = customer.language
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.customer_id != customer.id:  # forged or another's
            return Pressed(alert=texts.text("customer.button_expired", lang))
        turn = Turn(services, channel, session, uow, customer, ticket, lang)
        outcome = await turn.act(actions.answer_followup, ticket_id, customer.id, cycle, answer)
        if outcome == "expired":
            turn.say(texts.text("customer.followup_expired", lang))
        else:
            await record_choice(turn, data)  # written with the lines said (keep_says)
            if outcome in ANSWERS:
                turn.say(texts.text(ANSWERS[outcome], lang))
        result = Pressed(drop_buttons=True)
        updated = None
        if pressed_line_id is not None and channel.keeps_lines:
            updated = await update_pressed(turn, pressed_line_id, result)
        turn.remember()
        says = await turn.keep_says()
        choice = None if outcome == "expired" else line_of(await turn.kept_incoming())
        return Pressed(
            customer_id=customer.id,
            ticket_id=ticket.id,
            language=lang,
            drop_buttons=True,
            choice=choice,
            updated=updated,
            says=says,
            ticket=ticket_view(ticket),
        )

    return await in_transaction(services, True, run)
