"""A returning customer's refresh (issue 12): the columns that changed are written with one
Core UPDATE (no ORM flush), the loaded object agrees with the row, nothing is left to flush,
and a changed name still goes through the ORM (whose mapper events derive things from it).
On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from base.clock import VirtualClock
from handoff.customers import touch_customer
from storage.db import Database
from storage.models import Customer


async def _touch(db: Database, clock: VirtualClock, clean: bool = True, **given: Any) -> Customer:
    values: dict[str, Any] = {
        "channel": "web",
        "external_id": "v-1",
        "name": "Visitor",
        "username": None,
        "language_code": "en",
        "default_language": "en",
        "at": clock.now(),
    } | given
    async with db.transaction() as session:
        customer = await touch_customer(session, **values)
        if clean:  # nothing left for a flush to write
            assert not session.dirty
        return customer


async def _row(db: Database) -> Customer:
    async with db.transaction() as session:
        return (await session.execute(select(Customer))).scalar_one()


async def test_a_returning_customer_is_refreshed_with_the_changed_columns_only(
    db: Database, clock: VirtualClock
) -> None:
    first = await _touch(db, clock)
    statements: list[str] = []

    def seen(_c: Any, _cu: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        clock.advance(300)
        again = await _touch(db, clock, language_code="ar")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1, statements
    assert "last_seen_at" in updates[0] and "language" in updates[0]
    assert "name" not in updates[0].split("WHERE")[0]
    assert again.id == first.id
    assert (again.last_seen_at, again.language) == (clock.now(), "ar")
    row = await _row(db)
    assert (row.last_seen_at, row.language, row.name) == (clock.now(), "ar", "Visitor")

    # The same again: nothing changed but the time.
    clock.advance(60)
    await _touch(db, clock, language_code="ar")
    row = await _row(db)
    assert (row.last_seen_at, row.language) == (clock.now(), "ar")


async def test_a_chosen_language_sticks_and_a_new_name_is_written(
    db: Database, clock: VirtualClock
) -> None:
    await _touch(db, clock)
    async with db.transaction() as session:
        stored = (await session.execute(select(Customer))).scalar_one()
        stored.language, stored.language_chosen, stored.unreachable = "ar", True, True
    clock.advance(300)
    customer = await _touch(
        db, clock, clean=False, name="Visitor Two", username="v2", language_code="en"
    )
    assert (customer.name, customer.username, customer.language) == ("Visitor Two", "v2", "ar")
    row = await _row(db)
    assert (row.name, row.username, row.language) == ("Visitor Two", "v2", "ar")
    assert row.last_seen_at == clock.now()
    assert row.unreachable is False  # writing again makes them reachable


async def test_last_seen_is_written_at_most_once_a_minute(
    db: Database, clock: VirtualClock
) -> None:
    """``last_seen_at`` means "seen within the last minute" (handoff.customers.LAST_SEEN_EVERY):
    a chat costs one UPDATE a minute, not one per message; a change of language is written at
    once, with the time."""
    first = await _touch(db, clock)
    statements: list[str] = []

    def seen(_c: Any, _cu: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        clock.advance(59)
        await _touch(db, clock)
        assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        assert (await _row(db)).last_seen_at == first.last_seen_at
        clock.advance(1)  # a minute since it was written
        await _touch(db, clock)
        assert (await _row(db)).last_seen_at == clock.now()
        clock.advance(10)
        await _touch(db, clock, language_code="ar")
        row = await _row(db)
        assert (row.last_seen_at, row.language) == (clock.now(), "ar")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
