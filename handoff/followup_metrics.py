"""The follow-up KPIs (docs/metrics.md, "Follow-up after resolve"): of the follow-ups sent about
the period's tickets, how many customers confirmed the problem solved, and how many said it was
not (which reopened the ticket), per agent and per category.

Same cohort as :mod:`handoff.metrics`: the tickets **created** in the period that pass the
filters. Each ``followup_sent`` event of those tickets is one follow-up (one per ticket cycle);
it is credited to the agent who resolved that cycle and to the ticket's category, both as the
event recorded them, so a later transfer or re-categorisation does not rewrite history. One
query (events joined to their tickets, on the events' ticket index), combined in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event, Ticket

KINDS = ("followup_sent", "followup_confirmed", "followup_reopened")


@dataclass
class Counts:
    sent: int = 0
    confirmed: int = 0
    reopened: int = 0

    def add(self, kind: str) -> None:
        if kind == "followup_sent":
            self.sent += 1
        elif kind == "followup_confirmed":
            self.confirmed += 1
        else:
            self.reopened += 1

    def figures(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "confirmed": self.confirmed,
            "reopened": self.reopened,
            "unanswered": max(0, self.sent - self.confirmed - self.reopened),
            "confirmed_rate": self.confirmed / self.sent if self.sent else None,
            "reopen_rate": self.reopened / self.sent if self.sent else None,
        }


async def followup_figures(
    session: AsyncSession, cohort: Sequence[ColumnElement[bool]], agent_id: int | None = None
) -> dict[str, Any]:
    """``{sent, confirmed, reopened, unanswered, confirmed_rate, reopen_rate, by_agent,
    by_category}`` for the tickets matching ``cohort`` (the ticket conditions of
    :mod:`handoff.metrics`); with ``agent_id``, only the follow-ups credited to that agent.
    ``by_agent`` is keyed by the agent id as text ("" for a cycle no agent resolved)."""
    query = (
        select(Event.kind, Event.data, Ticket.category)
        .join(Ticket, Ticket.id == Event.ticket_id)
        .where(Event.kind.in_(KINDS), *cohort)
    )
    total = Counts()
    by_agent: dict[str, Counts] = defaultdict(Counts)
    by_category: dict[str, Counts] = defaultdict(Counts)
    for kind, data, ticket_category in (await session.execute(query)).all():
        facts = data or {}
        credited = facts.get("agent_id")
        if agent_id is not None and credited != agent_id:
            continue
        total.add(kind)
        by_agent["" if credited is None else str(credited)].add(kind)
        by_category[str(facts.get("category", ticket_category) or "")].add(kind)
    return total.figures() | {
        "by_agent": {k: c.figures() for k, c in sorted(by_agent.items())},
        "by_category": {k: c.figures() for k, c in sorted(by_category.items())},
    }
