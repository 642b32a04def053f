"""The supervisors' read model: KPIs, the agent table, tickets and their detail, and the
counts the Prometheus metrics expose.

Each function is one read transaction and returns JSON-ready values (instants as ISO 8601
UTC text), so the web API, the pages and the CSV exports show the same figures. The figures
themselves are :mod:`handoff.metrics`'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute

from base.periods import Period
from handoff import metrics
from handoff.metrics import Filters
from handoff.priority import PRIORITIES
from handoff.tickets import State, offered_options, transcript, transcript_text
from storage.db import Database
from storage.models import (
    Agent,
    Article,
    Base,
    Customer,
    Event,
    Note,
    Offer,
    QueryLog,
    Rating,
    Ticket,
)

LANGS = ("en", "ar")
STATES = tuple(s.value for s in State)
WAITING = (State.QUEUED.value, State.OFFERED.value)
CUSTOMER_FIELDS = ("id", "channel", "name", "username", "language", "tier", "created_at")


async def kpis(
    db: Database, period: Period, filters: Filters, now: datetime, tz: str
) -> dict[str, Any]:
    """:func:`handoff.metrics.kpis` in its own transaction."""
    async with db.transaction() as session:
        return await metrics.kpis(session, period, filters, now, tz=tz)


async def agent_table(
    db: Database, period: Period, filters: Filters, now: datetime
) -> list[dict[str, Any]]:
    """:func:`handoff.metrics.agent_table` in its own transaction."""
    async with db.transaction() as session:
        return await metrics.agent_table(session, period, filters, now)


async def filter_choices(db: Database) -> dict[str, list[Any]]:
    """What the filter menus offer: categories and channels seen on tickets, agents."""
    async with db.transaction() as session:
        categories = (
            (await session.execute(select(Ticket.category).distinct().order_by(Ticket.category)))
            .scalars()
            .all()
        )
        channels = (
            (await session.execute(select(Ticket.channel).distinct().order_by(Ticket.channel)))
            .scalars()
            .all()
        )
        agents = (await session.execute(select(Agent.id, Agent.name).order_by(Agent.name))).all()
    return {
        "categories": [c for c in categories if c],
        "channels": [c for c in channels if c],
        "agents": [{"id": a_id, "name": name} for a_id, name in agents],
        "priorities": list(PRIORITIES),
        "languages": list(LANGS),
        "states": list(STATES),
    }


async def agent_names(db: Database) -> dict[int, str]:
    async with db.transaction() as session:
        return {a: n for a, n in (await session.execute(select(Agent.id, Agent.name))).all()}


# ---------------------------------------------------------------------- tickets


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _columns(row: Base) -> dict[str, Any]:
    return {c.key: _jsonable(getattr(row, c.key)) for c in row.__table__.columns}


@dataclass(frozen=True)
class TicketQuery:
    """Which tickets to list: filters, a creation period, a page; ``involving``: only the
    tickets that agent was ever assigned (an agent's own tickets)."""

    filters: Filters = field(default_factory=Filters)
    state: str | None = None
    period: Period | None = None
    limit: int = 50
    offset: int = 0
    involving: int | None = None


@dataclass(frozen=True)
class TicketPage:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _conditions(query: TicketQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.involving is not None:
        conditions.append(
            Ticket.id.in_(
                select(Event.ticket_id).where(
                    Event.kind == "ticket_assigned", Event.actor == f"agent:{query.involving}"
                )
            )
            | (Ticket.assignee_id == query.involving)
        )
    if query.state:
        conditions.append(Ticket.state == query.state)
    filters = query.filters
    equal: Iterable[tuple[InstrumentedAttribute[Any], object]] = (
        (Ticket.category, filters.category),
        (Ticket.priority, filters.priority),
        (Ticket.channel, filters.channel),
        (Ticket.language, filters.language),
        (Ticket.assignee_id, filters.agent_id),
    )
    conditions += [column == value for column, value in equal if value]
    if query.period is not None:
        conditions += [
            Ticket.created_at >= query.period.start,
            Ticket.created_at < query.period.end,
        ]
    return conditions


async def list_tickets(db: Database, query: TicketQuery) -> TicketPage:
    """The tickets matching ``query``, newest first, with their customer's and assignee's
    names."""
    conditions = _conditions(query)
    async with db.transaction() as session:
        total = int(
            (await session.execute(select(func.count(Ticket.id)).where(*conditions))).scalar_one()
        )
        rows = (
            await session.execute(
                select(Ticket, Customer.name, Agent.name)
                .join(Customer, Customer.id == Ticket.customer_id)
                .outerjoin(Agent, Agent.id == Ticket.assignee_id)
                .where(*conditions)
                .order_by(Ticket.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            )
        ).all()
    items = [
        _columns(ticket) | {"customer_name": customer, "assignee_name": agent}
        for ticket, customer, agent in rows
    ]
    return TicketPage(items, total, query.limit, query.offset)


async def agent_was_assigned(db: Database, ticket_id: int, agent_id: int) -> bool:
    """Whether the agent was ever assigned the ticket (their own past tickets)."""
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return False
        if ticket.assignee_id == agent_id:
            return True
        found = await session.execute(
            select(Event.id)
            .where(
                Event.ticket_id == ticket_id,
                Event.kind == "ticket_assigned",
                Event.actor == f"agent:{agent_id}",
            )
            .limit(1)
        )
        return found.first() is not None


async def ticket_detail(db: Database, ticket_id: int) -> dict[str, Any] | None:
    """One ticket: its fields, customer, transcript (as people read it), internal notes,
    events and ratings; None when there is no such ticket."""
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        customer = await session.get(Customer, ticket.customer_id)
        names = {a: n for a, n in (await session.execute(select(Agent.id, Agent.name))).all()}
        messages = await transcript(session, ticket_id)
        notes = (
            await session.execute(select(Note).where(Note.ticket_id == ticket_id).order_by(Note.id))
        ).scalars()
        events = (
            await session.execute(
                select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id)
            )
        ).scalars()
        ratings = (
            await session.execute(
                select(Rating).where(Rating.ticket_id == ticket_id).order_by(Rating.cycle)
            )
        ).scalars()
        result = _columns(ticket)
        result["assignee_name"] = names.get(ticket.assignee_id) if ticket.assignee_id else None
        result["customer"] = (
            {k: v for k, v in _columns(customer).items() if k in CUSTOMER_FIELDS}
            if customer is not None
            else None
        )
        # The text as read by people: the options a bot line offered, a press as a choice.
        result["messages"] = [
            {k: v for k, v in _columns(m).items() if k not in ("customer_id", "client_id")}
            | {"text": transcript_text(m), "options": [o["label"] for o in offered_options(m)]}
            for m in messages
        ]
        result["notes"] = [
            _columns(n) | {"agent_name": names.get(n.agent_id) if n.agent_id else None}
            for n in notes
        ]
        result["events"] = [_columns(e) for e in events]
        result["ratings"] = [
            _columns(r) | {"agent_name": names.get(r.agent_id) if r.agent_id else None}
            for r in ratings
        ]
    result["rating"] = result["ratings"][-1] if result["ratings"] else None
    return result


# ---------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Counts:
    """What the Prometheus metrics expose, counted now (keys are the stored values)."""

    articles: dict[str, int]
    published: dict[str, int]
    queries: dict[str, int]
    tickets: dict[str, int]
    agents: dict[str, int]
    offers: dict[str, int]
    queue: int


async def counts(db: Database) -> Counts:
    async with db.transaction() as session:

        async def grouped(
            column: InstrumentedAttribute[Any], *where: ColumnElement[bool]
        ) -> dict[str, int]:
            query = select(column, func.count()).where(*where).group_by(column)
            return {str(k): int(v) for k, v in (await session.execute(query)).all()}

        return Counts(
            articles=await grouped(Article.lang),
            published=await grouped(Article.lang, Article.status == "published"),
            queries=await grouped(QueryLog.outcome),
            tickets=await grouped(Ticket.state),
            agents=await grouped(Agent.status),
            offers=await grouped(Offer.state),
            queue=int(
                (
                    await session.execute(
                        select(func.count(Ticket.id)).where(Ticket.state.in_(WAITING))
                    )
                ).scalar_one()
            ),
        )
