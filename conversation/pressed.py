"""A button the customer pressed (:func:`customer_pressed`): one transaction, like every input
(:mod:`conversation.inputs`); the follow-up's buttons go to :mod:`conversation.followup`."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

import texts
from app.services import Services
from conversation.followup import followup_pressed
from conversation.hints import in_transaction, may_hand_off
from conversation.keyboards import (
    PRESS_RE,
    answer_text,
    feedback_keyboard,
    human_keyboard,
    skip_keyboard,
)
from conversation.outputs import Channel, Identity, Pressed
from conversation.turn import (
    Turn,
    arrive,
    flood_refusal,
    hand_off,
    line_of,
    record_choice,
    ticket_view,
    update_pressed,
)
from handoff import actions
from handoff.customers import set_language
from handoff.engine import Unit
from handoff.model import HandoffError
from handoff.tickets import resolve_by_bot


async def customer_pressed(
    services: Services,
    channel: Channel,
    identity: Identity,
    data: str,
    *,
    pressed_line_id: int | None = None,
    flood_checked: bool = False,
) -> Pressed:
    """A button pressed (``data``, validated; anything else is refused politely).
    ``pressed_line_id``: the transcript line whose button it was, on a channel whose lines
    the core keeps: its buttons go (or it gets a new text and buttons) in the same
    transaction."""
    match = PRESS_RE.match(data or "")
    if match is not None and match["fu_t"]:  # the follow-up after resolve: its own module
        return await followup_pressed(
            services,
            channel,
            identity,
            match,
            data,
            pressed_line_id=pressed_line_id,
            flood_checked=flood_checked,
        )
    refused = flood_refusal(services, channel, identity, flood_checked)
    if refused is not None:
        return Pressed(refused=refused)

    async def run(session: AsyncSession, uow: Unit | None) -> Pressed:
        customer, ticket = await arrive(session, services, channel, identity)
        turn = Turn(services, channel, session, uow, customer, ticket, customer.language)
        outcome = await _press(turn, match)
        choice = updated = None
        if outcome.alert is None:
            await record_choice(turn, data)
            if pressed_line_id is not None and channel.keeps_lines:
                updated = await update_pressed(turn, pressed_line_id, outcome)
        turn.remember()
        says = await turn.keep_says()  # the choice (written with the lines said)
        if outcome.alert is None:
            choice = line_of(await turn.kept_incoming())
        return replace(
            outcome,
            customer_id=customer.id,
            ticket_id=ticket.id,
            language=turn.language,
            choice=choice,
            updated=updated,
            says=says,
            ticket=ticket_view(ticket),
        )

    return await in_transaction(services, may_hand_off(channel, identity, data or "", True), run)


async def _press(turn: Turn, match: re.Match[str] | None) -> Pressed:
    """What the press does (its lines go on ``turn``); the pressed line's change returned."""
    services, customer, lang = turn.services, turn.customer, turn.language
    expired = Pressed(alert=texts.text("customer.button_expired", lang))
    if match is None:
        return expired
    now = services.clock.now()
    if match["rate_t"]:
        # The stars are the handoff engine's: taken (or not) before the press is kept.
        ticket_id, stars = int(match["rate_t"]), int(match["rate_s"])
        try:
            rated = await turn.act(actions.rate, ticket_id, customer.id, stars)
        except HandoffError:  # no such ticket: a forged or very old button
            rated = False
        if not rated:
            return expired
        customer.awaiting_comment_ticket_id = ticket_id
        text = texts.text("customer.rated", lang, stars=stars)
        return Pressed(replace=(text, skip_keyboard(ticket_id, lang)))
    if match["rsk"]:
        customer.awaiting_comment_ticket_id = None
        return Pressed(drop_buttons=True)
    if match["lang"]:
        await set_language(turn.session, customer, match["lang"], now)
        turn.language = match["lang"]
        turn.say(texts.text("customer.language_set", turn.language))
        return Pressed(drop_buttons=True)
    if match["human"]:
        await hand_off(turn, reason="button")
        return Pressed(drop_buttons=True)
    if match["cancel"]:
        cancelled = await turn.act(actions.cancel_request, turn.ticket.id)
        turn.say(
            texts.text("customer.cancelled" if cancelled else "customer.nothing_to_cancel", lang)
        )
        return Pressed()
    if match["fb_q"]:
        helpful = match["fb_v"] == "y"
        entry = await services.faq.record_feedback(
            turn.session,
            int(match["fb_q"]),
            helpful,
            now,
            customer_id=customer.id,
            article_id=int(match["fb_a"]) if match["fb_a"] else None,
        )
        if entry is None:
            return expired
        if helpful and entry.ticket_id == turn.ticket.id:
            await resolve_by_bot(turn.session, turn.ticket, now)
        if helpful:
            turn.say(texts.text("customer.glad", lang))
        else:
            turn.offer(texts.text("customer.sorry_not_helpful", lang), human_keyboard(lang))
        return Pressed(drop_buttons=True)
    article = services.faq.article(int(match["art_a"]))
    if article is None:
        return expired
    query_id = int(match["art_q"])
    # The pick is the customer's: the suggestions it came from are done with.
    turn.offer(
        answer_text(article, lang),
        feedback_keyboard(query_id, lang, article.id),
        {"query_id": query_id, "article_id": article.id, "outcome": "suggestion"},
    )
    return Pressed(drop_buttons=True)
