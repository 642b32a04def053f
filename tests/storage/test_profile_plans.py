"""The profile's reads and actions plan no full scan of a table that grows with history
(messages, tickets, query_log, events): a customer's profile stays quick after years."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event

from app.services import Services
from handoff import people, profiles
from handoff.people import Actor
from tests.handoff.test_profiles import write
from tests.storage.test_query_plans import FULL_SCAN
from tests.web.test_customer_profiles import served_customer


async def test_profile_reads_and_actions_use_indexes(services: Services) -> None:
    h, customer, _, agent, _ = await served_customer(services)
    other, _ = await write(h, "web", "visitor")
    sup = Actor("web:Sara", supervising=True)
    amal = Actor(f"agent:{agent}", agent)
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params[0] if many and params else params)

    now = services.clock.now()
    event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
    await profiles.profile(services.db, amal, customer)
    await people.change_attribute(services.db, amal, customer, "email", "a@b.example", now)
    await people.note_customer(services.db, amal, customer, "note", now)
    await people.change_tier(services.db, sup, customer, "vip", now)
    merged = await people.link(services.db, sup, customer, other, now)
    await profiles.profile(services.db, sup, other)
    await people.unlink(services.db, sup, merged, now)
    await profiles.find_customers(services.db, sup, "visitor")
    await write(h, "telegram", "new-person-1")  # first contact looks the VIP list up
    event.remove(services.db.engine.sync_engine, "before_cursor_execute", keep)

    database = services.db.engine.url.database
    assert database is not None
    plans = sqlite3.connect(database)
    scans: list[str] = []
    planned = 0
    for statement, params in ran.items():
        if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            continue
        planned += 1
        for row in plans.execute(f"EXPLAIN QUERY PLAN {statement}", params or ()).fetchall():
            if FULL_SCAN.match(row[3]):
                scans.append(f"{row[3]}: {' '.join(statement.split())[:300]}")
    plans.close()
    assert planned > 15
    assert scans == []
