"""Every query on a hot path is served by an index.

The whole life of a web chat runs here on a real SQLite file (a question, a resend, a
handoff, the console's accept and replies, close, rating, a reconnect with history, the
timers, the sweep and a restore); every statement it ran is then planned with SQLite's
``EXPLAIN QUERY PLAN``. A full scan of one of the tables that grow with history (messages,
tickets, query_log, events) fails the test and names the statement: with a million stored
messages such a scan is what made each answer slower as the months went by."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from app.services import Services
from handoff.staffing_reads import staffing_report
from storage.db import Database
from tests.chat_life import live_a_chat
from tests.conftest import bearer
from tests.handoff.test_staffing_reads import NOW, PERIOD, plant
from tests.webhooks.receiver import Receiver
from webhooks.endpoints import EndpointFields, create_endpoint, delivery_log, list_endpoints
from webhooks.outbox import TYPES

GROWING = ("messages", "tickets", "query_log", "events", "webhook_deliveries")
FULL_SCAN = re.compile(r"^SCAN (" + "|".join(GROWING) + r")\b")


async def test_the_chat_path_plans_no_full_scan_of_a_growing_table(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params[0] if many and params else params)

    receiver = await Receiver().start()
    hook, _ = await create_endpoint(
        services.db, EndpointFields("", receiver.url, TYPES), services.clock.now()
    )
    event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
    await live_a_chat(services, client, bearer(agent_token["token"]))
    # The webhooks worker on that life: fan-out, deliveries, a retry, the log, the pruning.
    receiver.statuses = [500]
    await services.webhooks.run_once()
    services.clock.advance(3600)  # type: ignore[attr-defined]
    await services.webhooks.run_once()
    await services.webhooks.send_test(hook.id)
    await services.webhooks.prune()
    await list_endpoints(services.db)
    await delivery_log(services.db, hook.id)
    await receiver.stop()
    assert len(receiver.requests) > 5
    event.remove(services.db.engine.sync_engine, "before_cursor_execute", keep)

    database = services.db.engine.url.database
    assert database is not None
    plans = sqlite3.connect(database)
    scans: list[str] = []
    planned = 0
    for statement, params in ran.items():
        if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            continue
        rows = plans.execute(f"EXPLAIN QUERY PLAN {statement}", params or ()).fetchall()
        planned += 1
        for row in rows:
            if FULL_SCAN.match(row[3]):
                scans.append(f"{row[3]}: {' '.join(statement.split())[:300]}")
    plans.close()
    assert planned > 40  # the flow above really ran through the product's queries
    assert scans == []


async def test_the_staffing_report_plans_no_full_scan(sqlite_db: Database) -> None:
    """The dashboard's staffing advice reads events by ``(kind, created_at)`` over a planted
    two-week history (tests/handoff/test_staffing_reads.py), never the whole table."""
    await plant(sqlite_db)
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params)

    event.listen(sqlite_db.engine.sync_engine, "before_cursor_execute", keep)
    report = await staffing_report(
        sqlite_db, PERIOD, NOW, tz="UTC", weekday=None, target_share=0.8, target_seconds=60
    )
    event.remove(sqlite_db.engine.sync_engine, "before_cursor_execute", keep)
    assert report.arrivals > 0

    database = sqlite_db.engine.url.database
    assert database is not None
    plans = sqlite3.connect(database)
    scans: list[str] = []
    used: list[str] = []
    for statement, params in ran.items():
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        for row in plans.execute(f"EXPLAIN QUERY PLAN {statement}", params or ()).fetchall():
            used.append(row[3])
            if FULL_SCAN.match(row[3]):
                scans.append(f"{row[3]}: {' '.join(statement.split())[:300]}")
    plans.close()
    assert scans == []
    assert sum("ix_events_kind_created" in plan for plan in used) == 2  # ticket and status events
