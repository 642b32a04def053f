"""VIPs registered before they write (``sanad customers vip``).

An entry names a customer Sanad may not have seen yet, in one of three ways:

* ``telegram:123456789`` (kind ``id``): a channel and its id for the person (any channel);
* ``telegram:@name`` or ``@name`` (kind ``username``): a Telegram username, any case;
* ``email:someone@example.com`` or ``someone@example.com`` (kind ``email``): matched when an
  agent or supervisor sets the ``email`` attribute on a profile.

A bare number is a Telegram id. When a new customer is created (their first message:
:func:`handoff.customers.touch_customer`), :func:`match_new_customer` looks their id and
username up (one read served by the list's unique index): a match makes them VIP from that first
contact, writes ``customer_vip_matched`` and keeps who matched on the entry. An entry for a
customer already seen is not kept: their tier is set at once (:func:`handoff.people.
preregister_vip`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.events import record_event
from storage.models import Customer, CustomerAttribute, VipEntry

KINDS = ("id", "username", "email")
CHANNELS = ("telegram", "web")
MAX_VALUE = 256


class VipListError(ValueError):
    """An entry that cannot be read; the message says why."""


@dataclass(frozen=True)
class Entry:
    """A parsed entry: how it matches and what."""

    kind: str
    channel: str
    value: str

    def __str__(self) -> str:
        if self.kind == "email":
            return f"email:{self.value}"
        if self.kind == "username":
            return f"{self.channel}:@{self.value}"
        return f"{self.channel}:{self.value}"


@dataclass(frozen=True)
class EntryView:
    """A stored entry as the CLI lists it."""

    id: int
    entry: str
    note: str
    created_at: datetime
    matched_customer_id: int | None
    matched_at: datetime | None


def parse_entry(raw: str) -> Entry:
    """``telegram:123``, ``telegram:@name``, ``@name``, ``123``, ``web:KEY``,
    ``email:a@b.example`` or ``a@b.example`` as an :class:`Entry`."""
    text = raw.strip()
    if not text:
        raise VipListError("an empty entry")
    channel, sep, rest = text.partition(":")
    if sep and channel.lower() == "email":
        return _email(rest)
    if sep and channel.lower() in CHANNELS:
        channel, text = channel.lower(), rest.strip()
    elif "@" in text[1:]:
        return _email(text)
    else:
        channel = "telegram"
    if text.startswith("@"):
        name = text[1:].strip().lower()
        if not name or len(name) > 64 or not all(c.isalnum() or c == "_" for c in name):
            raise VipListError(f"{raw!r}: a username is letters, digits and _")
        return Entry("username", channel, name)
    if not text or len(text) > 64 or any(c.isspace() for c in text):
        raise VipListError(f"{raw!r}: expected an id, @username or email")
    if channel == "telegram" and not text.lstrip("-").isdigit():
        raise VipListError(f"{raw!r}: a Telegram id is a number (or write @username)")
    return Entry("id", channel, text)


def _email(raw: str) -> Entry:
    value = normal_email(raw)
    local, _, domain = value.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in value):
        raise VipListError(f"{raw!r} is not an email address")
    if len(value) > MAX_VALUE:
        raise VipListError(f"{raw!r}: at most {MAX_VALUE} characters")
    return Entry("email", "", value)


def normal_email(raw: str) -> str:
    return raw.strip().lower()


def parse_file(content: str) -> list[tuple[Entry, str]]:
    """A VIP list file: CSV, one entry per line in the first column, an optional note in the
    second; a header line (``who,note``), empty lines and ``#`` comments are skipped. Raises
    :class:`VipListError` naming the first bad line."""
    entries: list[tuple[Entry, str]] = []
    for number, row in enumerate(csv.reader(io.StringIO(content)), start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if number == 1 and row[0].strip().lower() in ("who", "customer", "entry", "vip"):
            continue
        try:
            entry = parse_entry(row[0])
        except VipListError as exc:
            raise VipListError(f"line {number}: {exc}") from None
        entries.append((entry, (row[1].strip() if len(row) > 1 else "")[:256]))
    return entries


async def customers_matching(session: AsyncSession, entry: Entry) -> list[Customer]:
    """The customers already seen that ``entry`` names."""
    if entry.kind == "id":
        query = select(Customer).where(
            Customer.channel == entry.channel, Customer.external_id == entry.value
        )
    elif entry.kind == "username":
        query = select(Customer).where(
            Customer.channel == entry.channel, Customer.username.ilike(entry.value)
        )
    else:
        query = (
            select(Customer)
            .join(CustomerAttribute, CustomerAttribute.customer_id == Customer.id)
            .where(CustomerAttribute.key == "email", CustomerAttribute.value == entry.value)
        )
    return list((await session.execute(query)).scalars().all())


async def add_entry(
    session: AsyncSession, entry: Entry, note: str, at: datetime, actor: str
) -> bool:
    """Keep ``entry`` for a customer not seen yet; False when it is listed already."""
    found = await _find(session, entry)
    if found is not None:
        return False
    session.add(
        VipEntry(
            kind=entry.kind, channel=entry.channel, value=entry.value, note=note, created_at=at
        )
    )
    record_event(session, "vip_registered", at, actor=actor, entry=str(entry), note=note)
    return True


async def _find(session: AsyncSession, entry: Entry) -> VipEntry | None:
    return (
        await session.execute(
            select(VipEntry).where(
                VipEntry.kind == entry.kind,
                VipEntry.channel == entry.channel,
                VipEntry.value == entry.value,
            )
        )
    ).scalar_one_or_none()


async def remove_entry(session: AsyncSession, entry: Entry, at: datetime, actor: str) -> bool:
    """Forget ``entry`` (customers it matched keep their tier); False when it was not listed."""
    removed = await session.execute(
        delete(VipEntry).where(
            VipEntry.kind == entry.kind,
            VipEntry.channel == entry.channel,
            VipEntry.value == entry.value,
        )
    )
    if not getattr(removed, "rowcount", 0):
        return False
    record_event(session, "vip_unregistered", at, actor=actor, entry=str(entry))
    return True


async def list_entries(db: Database) -> list[EntryView]:
    async with db.transaction() as session:
        rows = (await session.execute(select(VipEntry).order_by(VipEntry.id))).scalars().all()
    return [
        EntryView(
            r.id,
            str(Entry(r.kind, r.channel, r.value)),
            r.note,
            r.created_at,
            r.matched_customer_id,
            r.matched_at,
        )
        for r in rows
    ]


async def match_new_customer(session: AsyncSession, customer: Customer, at: datetime) -> bool:
    """A customer's first contact: VIP when the list names their id or username. True when
    it matched."""
    entry = await entry_for_new(session, customer.channel, customer.external_id, customer.username)
    if entry is None:
        return False
    _matched(session, entry, customer, at)
    return True


def _new_customer_statement(by_username: bool) -> Select[tuple[int]]:
    table = cast(Table, VipEntry.__table__)
    wanted = [
        (table.c.kind == "id")
        & (table.c.channel == bindparam("channel"))
        & (table.c.value == bindparam("external_id"))
    ]
    if by_username:
        wanted.append(
            (table.c.kind == "username")
            & (table.c.channel == bindparam("channel"))
            & (table.c.value == bindparam("username"))
        )
    return select(table.c.id).where(or_(*wanted)).limit(1)


# Built once (a first contact runs one on every new customer): by id, and by id or username.
_NEW_CUSTOMER = {False: _new_customer_statement(False), True: _new_customer_statement(True)}


async def entry_for_new(
    session: AsyncSession, channel: str, external_id: str, username: str | None
) -> VipEntry | None:
    """The entry naming a new customer (by id, or by username), if any: one read (and the
    entry's row loaded only when there is one)."""
    params = {"channel": channel, "external_id": external_id, "username": (username or "").lower()}
    entry_id = (await session.execute(_NEW_CUSTOMER[bool(username)], params)).scalar()
    return None if entry_id is None else await session.get(VipEntry, entry_id)


def claim(entry: VipEntry, customer_id: int, at: datetime) -> dict[str, Any]:
    """``entry`` matched the new customer ``customer_id`` (who is to be VIP): kept on the
    entry; the ``customer_vip_matched`` event row to write (``storage.events.insert_events``),
    as :func:`match_new_customer` records it."""
    entry.matched_customer_id = customer_id
    entry.matched_at = entry.matched_at or at
    return {
        "kind": "customer_vip_matched",
        "created_at": at,
        "customer_id": customer_id,
        "data": {"entry": str(Entry(entry.kind, entry.channel, entry.value)), "tier": "vip"},
    }


async def match_email(session: AsyncSession, customer: Customer, email: str, at: datetime) -> bool:
    """The ``email`` attribute was set on ``customer`` (the person's first identity): True
    when the list names that address (the caller raises the person's tier)."""
    entry = await _find(session, Entry("email", "", normal_email(email)))
    if entry is None:
        return False
    _matched(session, entry, customer, at)
    return True


def _matched(session: AsyncSession, entry: VipEntry, customer: Customer, at: datetime) -> None:
    entry.matched_customer_id = customer.id
    entry.matched_at = entry.matched_at or at
    customer.tier = "vip"
    record_event(
        session,
        "customer_vip_matched",
        at,
        customer_id=customer.id,
        entry=str(Entry(entry.kind, entry.channel, entry.value)),
        tier="vip",
    )
