"""Customers: who writes to the bot, on which channel, in which language.

A new customer whom the VIP list names (:mod:`handoff.vip_list`) is VIP from their first
contact.

Named actions: :func:`touch_customer`, :func:`set_language`, :func:`mark_unreachable`,
:func:`set_tier`. Each writes an event row when it changes state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.vip_list import match_new_customer
from storage.events import record_event
from storage.models import Customer

LANGUAGES = ("en", "ar")
TIERS = ("normal", "vip")


def language_from_code(code: str | None, default: str) -> str:
    """Map a client language code (Telegram's ``language_code``, a browser's) to en or ar."""
    if code:
        base = code.strip().lower().replace("_", "-").split("-")[0]
        if base in LANGUAGES:
            return base
    return default


async def find_customer(session: AsyncSession, channel: str, external_id: str) -> Customer | None:
    result = await session.execute(
        select(Customer).where(Customer.channel == channel, Customer.external_id == external_id)
    )
    return result.scalar_one_or_none()


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
) -> Customer:
    """Find or create the customer for an incoming message and refresh what the channel says.

    A customer who writes again is reachable again (they unblocked the bot).
    """
    customer = await find_customer(session, channel, external_id)
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
    customer.name = name[:256] or customer.name
    customer.username = username
    customer.last_seen_at = at
    if not customer.language_chosen:
        customer.language = language_from_code(language_code, customer.language)
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
