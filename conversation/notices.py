"""What the handoff engine decided, in words for the customer (the same on every channel)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import assert_never

import texts
from conversation.keyboards import Keyboard, followup_keyboard, rating_keyboard
from handoff.notices import (
    AgentJoined,
    AgentMessage,
    CustomerNotice,
    FollowUpAsked,
    HandedBack,
    NoAgents,
    OutsideHours,
    PositionChanged,
    Queued,
    Reopened,
    Requeued,
    Resolved,
    StillWaiting,
    Transferred,
)

WAIT_CAP_MIN = 60


def wait_text(wait_s: float | None, lang: str) -> str:
    if wait_s is None or wait_s <= 0:
        return texts.text("customer.wait_shortly", lang)
    minutes = max(1, math.ceil(wait_s / 60))
    if minutes > WAIT_CAP_MIN:
        return texts.text("customer.wait_long", lang, minutes=WAIT_CAP_MIN)
    return texts.text("customer.wait_minutes", lang, minutes=minutes)


def hours_text(rows: list[tuple[int, int, str]], lang: str) -> str:
    names = [texts.text(f"customer.day_{day}", lang) for day in range(7)]
    lines = []
    for first, last, span in rows:
        days = names[first] if first == last else f"{names[first]}-{names[last]}"
        lines.append(
            f"{days}: {texts.text('customer.closed_day', lang) if span == 'closed' else span}"
        )
    return "\n".join(lines)


def local_time(at: datetime | None, zone: str) -> str:
    if at is None:
        return "-"
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def notice_text(notice: CustomerNotice) -> tuple[str, Keyboard] | None:
    """The text (and buttons) that tells a customer what the handoff engine decided; None for
    a notice that is not said in words (:class:`AgentMessage` carries the agent's own)."""
    lang = notice.to.language
    ticket_id = notice.to.ticket_id
    keyboard: Keyboard = []
    match notice:
        case Queued() | PositionChanged() | StillWaiting():
            text = texts.text(
                f"customer.{notice.kind}",
                lang,
                position=notice.position or 1,
                ticket=ticket_id,
                wait=wait_text(notice.wait_s, lang),
            )
        case OutsideHours():
            text = texts.text(
                "customer.outside_hours",
                lang,
                ticket=ticket_id,
                opens=local_time(notice.opens_at, notice.timezone),
                timezone=notice.timezone,
                hours=hours_text(list(notice.hours), lang),
            )
        case NoAgents() | Reopened():
            text = texts.text(f"customer.{notice.kind}", lang, ticket=ticket_id)
        case AgentJoined():
            text = texts.text("customer.agent_joined", lang, agent=notice.agent_name)
        case Resolved():
            text = texts.text("customer.rate", lang, agent=notice.agent_name or "-")
            keyboard = rating_keyboard(ticket_id, notice.cycle)
        case FollowUpAsked():
            text = texts.text("customer.followup_question", lang, ticket=ticket_id)
            keyboard = followup_keyboard(ticket_id, notice.cycle, lang)
        case Requeued() | Transferred() | HandedBack():
            text = texts.text(f"customer.{notice.kind}", lang)
        case AgentMessage():
            return None
        case _:
            assert_never(notice)
    return text, keyboard
