"""Customers: who writes to the bot, on which channel, in which language.

A new customer whom the VIP list names (:mod:`handoff.vip_list`) is VIP from their first
contact.

Named actions: :func:`touch_customer`, :func:`first_contact`, :func:`set_language`,
:func:`mark_unreachable`, :func:`set_tier`. Each writes an event row when it changes state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from handoff.tickets import State
from handoff.vip_list import claim, entry_for_new, match_new_customer
from storage.events import insert_events, record_event
from storage.models import Customer, Ticket
from storage.rows import insert_object, table_of
from storage.search import add_ticket_doc

LANGUAGES = ("en", "ar")
TIERS = ("normal", "vip")


def language_from_code(code: str | None, default: str) -> str:
    """Map a client language code (Telegram's ``language_code``, a browser's) to en or ar."""
    if code:
        base = code.strip().lower().replace("_", "-").split("-")[0]
        if base in LANGUAGES:
            return base
    return default


# Statements built once (issue 12): building one on every message cost about as much of the
# event loop as running it.
_FIND = select(Customer).where(
    Customer.channel == bindparam("channel"), Customer.external_id == bindparam("external_id")
)
# What a returning customer's message refreshes, in this order; one UPDATE per set of columns
# that changed (:func:`_refresh`), built the first time that set is seen (in practice
# ``last_seen_at``, with ``language`` when the client's changed).
_REFRESHED = ("name", "username", "last_seen_at", "language")
_REFRESH: dict[tuple[str, ...], Update] = {}
# ``last_seen_at`` is "seen within the last minute", not the time of the last message: written
# when it is at least this old (or with another column that changed), so a customer's chat
# costs one UPDATE a minute instead of one per message (issue 12).
LAST_SEEN_EVERY = timedelta(minutes=1)


async def find_customer(session: AsyncSession, channel: str, external_id: str) -> Customer | None:
    result = await session.execute(_FIND, {"channel": channel, "external_id": external_id})
    return result.scalar_one_or_none()


def _refresh_statement(columns: tuple[str, ...]) -> Update:
    statement = _REFRESH.get(columns)
    if statement is None:
        table = table_of(Customer)
        statement = (
            update(table)
            .where(table.c.id == bindparam("customer_id"))
            .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
        )
        _REFRESH[columns] = statement
    return statement


async def _refresh(session: AsyncSession, customer: Customer, values: dict[str, Any]) -> None:
    """Write the columns of ``values`` that changed with one Core UPDATE, and set them on the
    loaded ``customer`` as committed: what the ORM's autoflush wrote before, without its unit
    of work (a third of the event loop's CPU of a message went to it)."""
    changed = tuple(name for name in _REFRESHED if getattr(customer, name) != values[name])
    if changed == ("last_seen_at",) and values["last_seen_at"] - customer.last_seen_at < (
        LAST_SEEN_EVERY
    ):
        return  # seen within the minute: nothing else changed, nothing to write
    if not changed:
        return
    if "name" in changed or "username" in changed:
        # Rare (the channel's profile changed): through the ORM, whose mapper events keep
        # what is derived from the name (the tickets' search documents) current.
        for name in changed:
            setattr(customer, name, values[name])
        return
    params: dict[str, Any] = {f"new_{name}": values[name] for name in changed}
    params["customer_id"] = customer.id
    await session.execute(_refresh_statement(changed), params)
    for name in changed:
        set_committed_value(customer, name, values[name])


def new_customer(
    channel: str,
    external_id: str,
    name: str,
    username: str | None,
    language_code: str | None,
    default_language: str,
    at: datetime,
    *,
    tier: str = "normal",
) -> Customer:
    """The row of a customer writing for the first time at ``at`` (not yet in the session):
    what :func:`touch_customer` adds and :func:`first_contact` inserts."""
    return Customer(
        channel=channel,
        external_id=external_id,
        name=name[:256],
        username=username,
        language=language_from_code(language_code, default_language),
        language_chosen=False,
        tier=tier,
        unreachable=False,
        created_at=at,
        last_seen_at=at,
    )


async def touch_customer(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    name: str,
    username: str | None,
    language_code: str | None,
    default_language: str,
    at: datetime,
    found: Customer | None = None,
) -> Customer:
    """Find or create the customer for an incoming message and refresh what the channel says
    (``found``: the customer, already read by the caller with other rows in one statement).

    A customer who writes again is reachable again (they unblocked the bot); ``last_seen_at``
    is refreshed at most once a minute (:data:`LAST_SEEN_EVERY`).
    """
    customer = found if found is not None else await find_customer(session, channel, external_id)
    if customer is None:
        customer = new_customer(
            channel, external_id, name, username, language_code, default_language, at
        )
        session.add(customer)
        await session.flush()
        record_event(
            session, "customer_created", at, customer_id=customer.id, language=customer.language
        )
        await match_new_customer(session, customer, at)  # a VIP registered ahead
        return customer
    language = customer.language
    if not customer.language_chosen:
        language = language_from_code(language_code, customer.language)
    values = {
        "name": name[:256] or customer.name,
        "username": username,
        "last_seen_at": at,
        "language": language,
    }
    await _refresh(session, customer, values)
    if customer.unreachable:
        customer.unreachable = False
        record_event(session, "customer_reachable", at, customer_id=customer.id)
    return customer


async def first_contact(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    name: str,
    username: str | None,
    language_code: str | None,
    default_language: str,
    at: datetime,
) -> tuple[Customer, Ticket]:
    """A customer not known yet (the caller's read found none: :func:`handoff.tickets.arrival`)
    writes for the first time: the customer and their first ticket, in state ``bot``.

    What :func:`touch_customer` and :func:`handoff.tickets.current_ticket` write for a new
    customer, row for row (the customer, VIP when the list names them; the ticket and its
    search document; the events ``customer_created``, ``customer_vip_matched``,
    ``ticket_opened``, in that order), in 5 statements with Core instead of 10 through the
    ORM's unit of work (issue 15: half of the Telegram benchmark's updates are first contacts):
    no second look for the customer, no look for tickets a customer created in this
    transaction cannot have. Two first messages of one new customer at once: the second's
    insert fails on the unique (channel, external id), as it could before."""
    entry = await entry_for_new(session, channel, external_id, username)
    customer = await insert_object(
        session,
        new_customer(
            channel,
            external_id,
            name,
            username,
            language_code,
            default_language,
            at,
            tier="normal" if entry is None else "vip",
        ),
    )
    ticket = await insert_object(
        session,
        Ticket(
            customer_id=customer.id,
            channel=channel,
            state=State.BOT,
            language=customer.language,
            priority="normal",
            tags=[],
            created_at=at,
        ),
    )
    await add_ticket_doc(session, ticket.id, customer.name, customer.username, external_id)
    events: list[dict[str, Any]] = [
        {
            "kind": "customer_created",
            "created_at": at,
            "customer_id": customer.id,
            "data": {"language": customer.language},
        }
    ]
    if entry is not None:  # a VIP registered ahead
        events.append(claim(entry, customer.id, at))
    events.append(
        {
            "kind": "ticket_opened",
            "created_at": at,
            "ticket_id": ticket.id,
            "customer_id": customer.id,
        }
    )
    await insert_events(session, events)
    return customer, ticket


async def set_language(
    session: AsyncSession, customer: Customer, language: str, at: datetime
) -> None:
    """The customer chose a language (``/language``): it sticks over the client's setting."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    customer.language = language
    customer.language_chosen = True
    record_event(session, "customer_language_set", at, customer_id=customer.id, language=language)


async def mark_unreachable(
    session: AsyncSession, customer_id: int, at: datetime, reason: str
) -> None:
    """The channel refused delivery (the customer blocked the bot, deleted the account...)."""
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.unreachable:
        return
    customer.unreachable = True
    record_event(session, "customer_unreachable", at, customer_id=customer_id, reason=reason)


async def set_tier(
    session: AsyncSession, customer: Customer, tier: str, at: datetime, *, actor: str = "admin"
) -> None:
    """Admins mark customers VIP (``sanad customers tier``, the profile page: for every
    identity of the person, :func:`handoff.people.set_person_tier`); the tier feeds priority
    rules."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
    if customer.tier == tier:
        return
    customer.tier = tier
    record_event(session, "customer_tier_set", at, customer_id=customer.id, tier=tier, actor=actor)
