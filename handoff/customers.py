"""Customers: who writes to the bot, on which channel, in which language.

A new customer whom the VIP list names (:mod:`handoff.vip_list`) is VIP from their first
contact.

Named actions: :func:`touch_customer`, :func:`set_language`, :func:`mark_unreachable`,
:func:`set_tier`. Each writes an event row when it changes state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from handoff.vip_list import match_new_customer
from storage.events import record_event
from storage.models import Customer
from storage.rows import table_of

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
        customer = Customer(
            channel=channel,
            external_id=external_id,
            name=name[:256],
            username=username,
            language=language_from_code(language_code, default_language),
            language_chosen=False,
            tier="normal",
            unreachable=False,
            created_at=at,
            last_seen_at=at,
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
