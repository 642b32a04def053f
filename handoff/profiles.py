"""The customer profile's read models: a person's identities on each channel, their tickets
(state, dates, assignee, rating), ratings, notes (the tickets' and the person's), attributes,
tier, merges that can be undone, and the person's events; and the customer search.

Each read is one transaction and returns frozen dataclasses; who may read what is
:func:`handoff.people.check`'s rule (:class:`handoff.people.Refused`). Every query here is
served by an index (customers by person, tickets by customer, events by customer or ticket,
notes by ticket or customer, ratings by ticket).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from handoff.people import SUPERVISOR_ONLY, Actor, Refused, get_customer, identities, root_of
from handoff.people import check as check_rights
from storage.db import Database
from storage.models import (
    Agent,
    Customer,
    CustomerAttribute,
    CustomerNote,
    Event,
    Note,
    Rating,
    Ticket,
)

MAX_TICKETS = 200
MAX_EVENTS = 200
PERSON_EVENTS = (
    "customer_tier_set",
    "customer_vip_matched",
    "customer_attribute_set",
    "customer_attribute_removed",
    "customer_note_added",
    "customers_merged",
    "customers_unmerged",
    "customer_unmerged",
    "customer_created",
)


@dataclass(frozen=True)
class Identity:
    """One identity of the person: a channel and who they are there."""

    id: int
    channel: str
    external_id: str
    name: str
    username: str | None
    language: str
    tier: str
    unreachable: bool
    created_at: datetime
    last_seen_at: datetime
    first: bool  # the person's first identity (where attributes and notes are kept)


@dataclass(frozen=True)
class TicketLine:
    id: int
    customer_id: int
    channel: str
    state: str
    priority: str
    category: str
    created_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    assignee_id: int | None
    assignee_name: str | None
    stars: int | None  # the last rating of the ticket


@dataclass(frozen=True)
class RatingLine:
    ticket_id: int
    cycle: int
    stars: int
    comment: str | None
    agent_name: str | None
    created_at: datetime


@dataclass(frozen=True)
class NoteLine:
    """A note on one of the person's tickets (``ticket_id``) or on the person (None)."""

    id: int
    ticket_id: int | None
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Attribute:
    key: str
    value: str
    customer_id: int  # the identity it is kept on
    updated_at: datetime


@dataclass(frozen=True)
class MergeLine:
    """A merge into this person that can still be undone."""

    event_id: int
    created_at: datetime
    actor: str
    merged: tuple[int, ...]


@dataclass(frozen=True)
class EventLine:
    id: int
    kind: str
    customer_id: int | None
    actor: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Rights:
    """What the reader may do here."""

    edit: bool  # attributes and notes
    manage: bool  # tier, merge, undo


@dataclass(frozen=True)
class Profile:
    id: int  # the identity asked for
    person_id: int  # the person's first identity
    name: str
    tier: str
    identities: tuple[Identity, ...]
    tickets: tuple[TicketLine, ...]
    ratings: tuple[RatingLine, ...]
    notes: tuple[NoteLine, ...]
    attributes: tuple[Attribute, ...]
    merges: tuple[MergeLine, ...]
    events: tuple[EventLine, ...]
    rights: Rights


@dataclass(frozen=True)
class Found:
    """A customer the search found."""

    id: int
    person_id: int
    channel: str
    external_id: str
    name: str
    username: str | None
    tier: str
    last_seen_at: datetime


def _identity(c: Customer, root: int) -> Identity:
    return Identity(
        c.id,
        c.channel,
        c.external_id,
        c.name,
        c.username,
        c.language,
        c.tier,
        c.unreachable,
        c.created_at,
        c.last_seen_at,
        c.id == root,
    )


async def profile(db: Database, actor: Actor, customer_id: int) -> Profile:
    """The profile of ``customer_id``'s person as ``actor`` may see it. Raises
    :class:`handoff.people.NotFound` or :class:`handoff.people.Refused`."""
    async with db.transaction() as session:
        customer = await get_customer(session, customer_id)
        root = root_of(customer)
        people = await identities(session, root)
        ids = [c.id for c in people]
        await check_rights(session, actor, customer_id, ids, manage=False)
        names = dict((await session.execute(select(Agent.id, Agent.name))).all())
        tickets = (
            (
                await session.execute(
                    select(Ticket)
                    .where(Ticket.customer_id.in_(ids))
                    .order_by(Ticket.id.desc())
                    .limit(MAX_TICKETS)
                )
            )
            .scalars()
            .all()
        )
        ticket_ids = [t.id for t in tickets]
        ratings = (
            (
                await session.execute(
                    select(Rating)
                    .where(Rating.ticket_id.in_(ticket_ids))
                    .order_by(Rating.created_at, Rating.id)
                )
            )
            .scalars()
            .all()
        )
        ticket_notes = (
            (await session.execute(select(Note).where(Note.ticket_id.in_(ticket_ids))))
            .scalars()
            .all()
        )
        person_notes = (
            (await session.execute(select(CustomerNote).where(CustomerNote.customer_id.in_(ids))))
            .scalars()
            .all()
        )
        attributes = (
            (
                await session.execute(
                    select(CustomerAttribute).where(CustomerAttribute.customer_id.in_(ids))
                )
            )
            .scalars()
            .all()
        )
        events = (
            (
                await session.execute(
                    select(Event)
                    .where(Event.customer_id.in_(ids))
                    .order_by(Event.id.desc())
                    .limit(MAX_EVENTS)
                )
            )
            .scalars()
            .all()
        )
        undone = {e.data.get("undoes") for e in events if e.kind == "customers_unmerged"}
        merges = [
            MergeLine(
                e.id, e.created_at, e.actor, tuple(sorted(int(i) for i in e.data.get("moved", {})))
            )
            for e in events
            if e.kind == "customers_merged"
            and e.customer_id == root
            and e.id not in undone
            and all(int(i) in ids for i in e.data.get("moved", {}))
        ]
    last_stars: dict[int, int] = {}
    for r in ratings:
        last_stars[r.ticket_id] = r.stars
    notes = [
        NoteLine(
            n.id, n.ticket_id, names.get(n.agent_id, "") if n.agent_id else "", n.text, n.created_at
        )
        for n in ticket_notes
    ] + [NoteLine(n.id, None, _who(n.actor, names), n.text, n.created_at) for n in person_notes]
    order = {c.id: i for i, c in enumerate(people)}
    shown: dict[str, Attribute] = {}
    for a in sorted(attributes, key=lambda a: (order[a.customer_id], a.key)):
        shown.setdefault(a.key, Attribute(a.key, a.value, a.customer_id, a.updated_at))
    rights_manage = actor.supervising
    return Profile(
        id=customer_id,
        person_id=root,
        name=next((c.name for c in people if c.name), ""),
        tier="vip" if any(c.tier == "vip" for c in people) else people[0].tier,
        identities=tuple(_identity(c, root) for c in people),
        tickets=tuple(
            TicketLine(
                t.id,
                t.customer_id,
                t.channel,
                t.state,
                t.priority,
                t.category,
                t.created_at,
                t.resolved_at,
                t.closed_at,
                t.assignee_id,
                names.get(t.assignee_id) if t.assignee_id else None,
                last_stars.get(t.id),
            )
            for t in tickets
        ),
        ratings=tuple(
            RatingLine(
                r.ticket_id,
                r.cycle,
                r.stars,
                r.comment,
                names.get(r.agent_id) if r.agent_id else None,
                r.created_at,
            )
            for r in ratings
        ),
        notes=tuple(sorted(notes, key=lambda n: n.created_at, reverse=True)),
        attributes=tuple(sorted(shown.values(), key=lambda a: a.key)),
        merges=tuple(merges),
        events=tuple(
            EventLine(e.id, e.kind, e.customer_id, e.actor, dict(e.data), e.created_at)
            for e in events
            if e.kind in PERSON_EVENTS
        ),
        rights=Rights(edit=True, manage=rights_manage),
    )


def _who(actor: str, names: dict[int, str]) -> str:
    kind, _, rest = actor.partition(":")
    if kind == "agent" and rest.isdigit():
        return names.get(int(rest), actor)
    return rest if kind == "web" and rest else actor


async def find_customers(db: Database, actor: Actor, q: str, limit: int = 50) -> list[Found]:
    """Customers whose name, username, external id, id or an attribute value (an email, an
    order id) contains ``q``; the latest first. Supervisors only (agents reach the profiles
    of their customers from their tickets)."""
    if not actor.supervising:
        raise Refused(actor.name, 0, SUPERVISOR_ONLY)
    q = q.strip()
    query = select(Customer)
    if q:
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        by_attribute = select(CustomerAttribute.customer_id).where(
            func.lower(CustomerAttribute.value).like(like)
        )
        person_of = select(Customer.person_id).where(
            Customer.id.in_(by_attribute), Customer.person_id.is_not(None)
        )
        matches: list[ColumnElement[bool]] = [
            func.lower(Customer.name).like(like),
            func.lower(Customer.username).like(like),
            func.lower(Customer.external_id).like(like),
            Customer.id.in_(by_attribute),
            Customer.person_id.in_(by_attribute),
            Customer.id.in_(person_of),
        ]
        if q.isdigit():
            matches.append(Customer.id == int(q))
        query = query.where(or_(*matches))
    async with db.transaction() as session:
        rows = (
            (await session.execute(query.order_by(Customer.id.desc()).limit(limit))).scalars().all()
        )
    return [
        Found(
            c.id,
            root_of(c),
            c.channel,
            c.external_id,
            c.name,
            c.username,
            c.tier,
            c.last_seen_at,
        )
        for c in rows
    ]
