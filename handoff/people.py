"""What agents and supervisors change on a customer's profile: tier, attributes, notes, and
linking two identities as one person (merge) and undoing it. Each function is one named
action: it checks the actor's rights, changes the rows, writes its event.

**A person** is one or more customer identities (one per channel and external id). Linked
identities point to the person's first identity (``customers.person_id``); that identity has
``person_id`` NULL. Tickets and messages never move: the profile reads the tickets of every
identity, and each identity keeps its channel, so live conversations go on as before on both
channels.

Rules (documented in docs/handoff.md):

* **Who may**: supervisors and admins do everything; an agent may open the profile of a
  customer they serve (a ticket of the person is or was assigned to them) and there edit
  attributes and add notes; tier and merges are for supervisors.
* **Tier** is the person's: setting it sets it on every identity (a web or Telegram identity
  alike; it raises the priority of the next handoff). A merge makes every identity VIP when one
  was; undoing the merge puts back the tier of those it raised, unless a tier was set on the
  person since.
* **Attributes** are kept on the first identity; the profile shows them with those of the
  linked identities (the first identity's value wins a shared key). Removing a key removes it
  from every identity. Undo leaves the attributes where they are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.customers import TIERS, set_tier
from handoff.model import HandoffError, NotAllowed
from handoff.vip_list import Entry, add_entry, customers_matching, match_email, normal_email
from storage.db import Database
from storage.events import record_event
from storage.models import Customer, CustomerAttribute, CustomerNote, Event, Ticket

MAX_KEY = 64
MAX_VALUE = 512
MAX_ATTRIBUTES = 50
MAX_NOTE = 4000


class NotFound(HandoffError):
    """No such customer (or merge)."""


class Refused(NotAllowed):
    """The actor may not do this to this customer (``rule`` says who may); a
    :class:`~handoff.model.NotAllowed` about a customer rather than a ticket."""

    def __init__(self, actor: str, customer_id: int, rule: str) -> None:
        self.actor, self.customer_id, self.rule = actor, customer_id, rule
        self.ticket_id = 0
        HandoffError.__init__(self, f"{actor} may not do this to customer {customer_id}: {rule}")


@dataclass(frozen=True)
class Actor:
    """Who acts on a profile: ``name`` as events write it (``agent:3``, ``web:Sara``,
    ``cli``), their agent id if they are one, and whether they supervise (supervisor, admin,
    the CLI)."""

    name: str
    agent_id: int | None = None
    supervising: bool = False


CLI = Actor("cli", supervising=True)
SUPERVISOR_ONLY = "a supervisor or an admin"
SERVING = "an agent serving this customer, a supervisor or an admin"


# ---------------------------------------------------------------------- persons


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer


def root_of(customer: Customer) -> int:
    """The id of the person's first identity."""
    return customer.person_id if customer.person_id is not None else customer.id


async def identities(session: AsyncSession, root: int) -> list[Customer]:
    """Every identity of the person whose first identity is ``root`` (that one first)."""
    rows = (
        (
            await session.execute(
                select(Customer)
                .where(or_(Customer.id == root, Customer.person_id == root))
                .order_by(Customer.id)
            )
        )
        .scalars()
        .all()
    )
    return sorted(rows, key=lambda c: (c.id != root, c.id))


async def serves(session: AsyncSession, agent_id: int, customer_ids: Sequence[int]) -> bool:
    """Whether a ticket of these identities is with the agent, or ever was."""
    tickets = select(Ticket.id).where(Ticket.customer_id.in_(customer_ids))
    held = await session.execute(
        select(exists().where(Ticket.customer_id.in_(customer_ids), Ticket.assignee_id == agent_id))
    )
    if held.scalar_one():
        return True
    was = await session.execute(
        select(Event.id)
        .where(
            Event.ticket_id.in_(tickets),
            Event.kind == "ticket_assigned",
            Event.actor == f"agent:{agent_id}",
        )
        .limit(1)
    )
    return was.first() is not None


async def check(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    customer_ids: Sequence[int],
    *,
    manage: bool,
) -> None:
    """Raise :class:`Refused` unless ``actor`` may see and edit (``manage``: also set the
    tier and merge) the person of ``customer_ids``."""
    if actor.supervising:
        return
    if manage:
        raise Refused(actor.name, customer_id, SUPERVISOR_ONLY)
    if actor.agent_id is None or not await serves(session, actor.agent_id, customer_ids):
        raise Refused(actor.name, customer_id, SERVING)


async def person(
    session: AsyncSession, actor: Actor, customer_id: int, *, manage: bool = False
) -> list[Customer]:
    """The identities of ``customer_id``'s person, once ``actor`` may act on it."""
    customer = await get_customer(session, customer_id)
    people = await identities(session, root_of(customer))
    await check(session, actor, customer_id, [c.id for c in people], manage=manage)
    return people


# ---------------------------------------------------------------------- tier


async def set_person_tier(
    session: AsyncSession, actor: Actor, customer_id: int, tier: str, at: datetime
) -> list[int]:
    """Set the tier of every identity of the person (supervisors); returns the identities
    changed."""
    if tier not in TIERS:
        raise HandoffError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
    changed = []
    for customer in await person(session, actor, customer_id, manage=True):
        if customer.tier != tier:
            await set_tier(session, customer, tier, at, actor=actor.name)
            changed.append(customer.id)
    return changed


async def preregister_vip(
    session: AsyncSession, entry: Entry, note: str, at: datetime, actor: Actor = CLI
) -> tuple[str, list[int]]:
    """Make the customer ``entry`` names VIP: at once if they were seen already (``"set"``
    and the identities changed), else on their first contact (``"registered"``, or
    ``"listed"`` when the entry was there already)."""
    if not actor.supervising:
        raise Refused(actor.name, 0, SUPERVISOR_ONLY)
    found = await customers_matching(session, entry)
    if found:
        changed: list[int] = []
        for customer in found:
            changed += await set_person_tier(session, actor, customer.id, "vip", at)
        return "set", changed
    added = await add_entry(session, entry, note, at, actor.name)
    return ("registered" if added else "listed"), []


# ---------------------------------------------------------------------- attributes, notes


def check_key(raw: str) -> str:
    key = raw.strip().lower()
    if not key or len(key) > MAX_KEY or any(c.isspace() or not c.isprintable() for c in key):
        raise HandoffError(f"an attribute name is 1 to {MAX_KEY} characters without spaces")
    return key


async def set_attribute(
    session: AsyncSession, actor: Actor, customer_id: int, key: str, value: str, at: datetime
) -> str:
    """Set attribute ``key`` of the person (kept on their first identity); an empty value
    removes it. Returns the stored value. Setting ``email`` to an address the VIP list names
    makes the person VIP."""
    key = check_key(key)
    value = value.strip()
    if not value:
        await remove_attribute(session, actor, customer_id, key, at)
        return ""
    if len(value) > MAX_VALUE or not value.isprintable():
        raise HandoffError(f"an attribute value is at most {MAX_VALUE} characters on one line")
    if key == "email":
        value = normal_email(value)
    people = await person(session, actor, customer_id)
    root = people[0]
    row = (
        await session.execute(
            select(CustomerAttribute).where(
                CustomerAttribute.customer_id == root.id, CustomerAttribute.key == key
            )
        )
    ).scalar_one_or_none()
    previous = row.value if row is not None else None
    if row is None:
        count = len(
            (
                await session.execute(
                    select(CustomerAttribute.id).where(CustomerAttribute.customer_id == root.id)
                )
            ).all()
        )
        if count >= MAX_ATTRIBUTES:
            raise HandoffError(f"a customer has at most {MAX_ATTRIBUTES} attributes")
        session.add(CustomerAttribute(customer_id=root.id, key=key, value=value, updated_at=at))
    elif row.value != value:
        row.value, row.updated_at = value, at
    if previous != value:
        record_event(
            session,
            "customer_attribute_set",
            at,
            customer_id=root.id,
            actor=actor.name,
            key=key,
            value=value,
            previous=previous,
        )
    if key == "email" and await match_email(session, root, value, at):
        for other in people[1:]:
            await set_tier(session, other, "vip", at, actor=actor.name)
    return value


async def remove_attribute(
    session: AsyncSession, actor: Actor, customer_id: int, key: str, at: datetime
) -> bool:
    """Remove ``key`` from every identity of the person; False when none had it."""
    key = check_key(key)
    people = await person(session, actor, customer_id)
    ids = [c.id for c in people]
    removed = await session.execute(
        delete(CustomerAttribute).where(
            CustomerAttribute.customer_id.in_(ids), CustomerAttribute.key == key
        )
    )
    if not getattr(removed, "rowcount", 0):
        return False
    record_event(
        session, "customer_attribute_removed", at, customer_id=ids[0], actor=actor.name, key=key
    )
    return True


async def add_customer_note(
    session: AsyncSession, actor: Actor, customer_id: int, text: str, at: datetime
) -> int:
    """An internal note about the person (never shown to them)."""
    text = text.strip()
    if not text:
        raise HandoffError("a note needs some text")
    if len(text) > MAX_NOTE:
        raise HandoffError(f"a note is at most {MAX_NOTE} characters")
    people = await person(session, actor, customer_id)
    note = CustomerNote(customer_id=people[0].id, actor=actor.name, text=text, created_at=at)
    session.add(note)
    await session.flush()
    record_event(
        session,
        "customer_note_added",
        at,
        customer_id=people[0].id,
        actor=actor.name,
        note_id=note.id,
    )
    return note.id


# ---------------------------------------------------------------------- merge and undo


async def merge(
    session: AsyncSession, actor: Actor, customer_id: int, other_id: int, at: datetime
) -> int:
    """Link ``other_id`` (and every identity linked to it) into ``customer_id``'s person;
    returns the merge's event id, which :func:`undo_merge` takes. Supervisors only."""
    into = await person(session, actor, customer_id, manage=True)
    others = await person(session, actor, other_id, manage=True)
    root = into[0].id
    if others[0].id == root:
        raise HandoffError(f"customers {customer_id} and {other_id} are one person already")
    moved: dict[str, Any] = {str(c.id): c.person_id for c in others}
    for customer in others:
        customer.person_id = root
    raised: list[int] = []
    if any(c.tier == "vip" for c in [*into, *others]):
        for customer in [*into, *others]:
            if customer.tier != "vip":
                customer.tier = "vip"
                raised.append(customer.id)
    event = record_event(
        session,
        "customers_merged",
        at,
        customer_id=root,
        actor=actor.name,
        merged=others[0].id,
        moved=moved,
        raised=raised,
    )
    await session.flush()
    return event.id


async def undo_merge(session: AsyncSession, actor: Actor, event_id: int, at: datetime) -> int:
    """Undo the merge that event ``event_id`` recorded: its identities are apart again, with
    their tickets; the tier it raised goes back unless set since. Returns the undo's event id.
    Refused when undone already, or when those identities were linked elsewhere since."""
    merged = await session.get(Event, event_id)
    if merged is None or merged.kind != "customers_merged" or merged.customer_id is None:
        raise NotFound(f"no merge {event_id}")
    root = merged.customer_id
    people = await person(session, actor, root, manage=True)
    later = (
        (await session.execute(select(Event).where(Event.customer_id == root, Event.id > event_id)))
        .scalars()
        .all()
    )
    if any(e.kind == "customers_unmerged" and e.data.get("undoes") == event_id for e in later):
        raise HandoffError(f"merge {event_id} was undone already")
    moved: dict[str, int | None] = merged.data.get("moved", {})
    by_id = {c.id: c for c in people}
    if (
        by_id.get(root) is None
        or by_id[root].person_id is not None
        or any(int(i) not in by_id or by_id[int(i)].person_id != root for i in moved)
    ):
        raise HandoffError(
            f"merge {event_id}: those identities were linked elsewhere since; undo that first"
        )
    for raw_id, previous in moved.items():
        by_id[int(raw_id)].person_id = previous
    ids = list(by_id)
    tier_set_since = (
        await session.execute(
            select(Event.id)
            .where(
                Event.customer_id.in_(ids),
                Event.kind == "customer_tier_set",
                Event.id > event_id,
            )
            .limit(1)
        )
    ).first() is not None
    lowered = []
    if not tier_set_since:
        for customer_id in merged.data.get("raised", []):
            customer = by_id.get(customer_id)
            if customer is not None and customer.tier == "vip":
                customer.tier = "normal"
                lowered.append(customer_id)
    event = record_event(
        session,
        "customers_unmerged",
        at,
        customer_id=root,
        actor=actor.name,
        undoes=event_id,
        apart=sorted(int(i) for i in moved),
        lowered=lowered,
    )
    for raw_id in moved:
        # The identities now apart get the event too: their profiles show it.
        record_event(
            session,
            "customer_unmerged",
            at,
            customer_id=int(raw_id),
            actor=actor.name,
            undoes=event_id,
            person=root,
        )
    await session.flush()
    return event.id


# ---------------------------------------------------------------------- one transaction each
# What the web adapter and the CLI call: each action above in its own transaction.


async def change_tier(
    db: Database, actor: Actor, customer_id: int, tier: str, at: datetime
) -> list[int]:
    async with db.transaction() as session:
        return await set_person_tier(session, actor, customer_id, tier, at)


async def change_attribute(
    db: Database, actor: Actor, customer_id: int, key: str, value: str, at: datetime
) -> str:
    async with db.transaction() as session:
        return await set_attribute(session, actor, customer_id, key, value, at)


async def drop_attribute(
    db: Database, actor: Actor, customer_id: int, key: str, at: datetime
) -> bool:
    async with db.transaction() as session:
        return await remove_attribute(session, actor, customer_id, key, at)


async def note_customer(
    db: Database, actor: Actor, customer_id: int, text: str, at: datetime
) -> int:
    async with db.transaction() as session:
        return await add_customer_note(session, actor, customer_id, text, at)


async def link(db: Database, actor: Actor, customer_id: int, other_id: int, at: datetime) -> int:
    async with db.transaction() as session:
        return await merge(session, actor, customer_id, other_id, at)


async def unlink(db: Database, actor: Actor, event_id: int, at: datetime) -> int:
    async with db.transaction() as session:
        return await undo_merge(session, actor, event_id, at)


async def register_vip(
    db: Database, entry: Entry, note: str, at: datetime, actor: Actor = CLI
) -> tuple[str, list[int]]:
    async with db.transaction() as session:
        return await preregister_vip(session, entry, note, at, actor)


async def merge_root(db: Database, event_id: int) -> int:
    """The person a merge linked into (its first identity)."""
    async with db.transaction() as session:
        event = await session.get(Event, event_id)
    if event is None or event.kind != "customers_merged" or event.customer_id is None:
        raise NotFound(f"no merge {event_id}")
    return event.customer_id
