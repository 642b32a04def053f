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
from handoff.search import search_tickets
from tests.chat_life import live_a_chat
from tests.conftest import bearer

GROWING = ("messages", "tickets", "query_log", "events", "search_docs")
FULL_SCAN = re.compile(r"^SCAN (" + "|".join(GROWING) + r")\b")


async def test_the_chat_path_plans_no_full_scan_of_a_growing_table(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params[0] if many and params else params)

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
    await live_a_chat(services, client, bearer(agent_token["token"]))
    event.remove(services.db.engine.sync_engine, "before_cursor_execute", keep)

    planned, scans = _full_scans(services, ran)
    assert planned > 40  # the flow above really ran through the product's queries
    assert scans == []


def _full_scans(services: Services, ran: dict[str, Any]) -> tuple[int, list[str]]:
    """How many statements were planned, and the full scans of growing tables among them."""
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
    return planned, scans


async def test_ticket_search_plans_no_full_scan(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    """Search (handoff/search.py) as a supervisor and as an agent, by words, a name and a
    ticket number: the FTS5 index finds the documents, primary keys the rest."""
    await live_a_chat(services, client, bearer(agent_token["token"]))
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params[0] if many and params else params)

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
    for involving in (None, agent_token["agent_id"]):
        for query in ("delivery", "#1", "1", "refund order"):
            await search_tickets(services.db, query, involving=involving, limit=1)
            await search_tickets(services.db, query, involving=involving, before=10**6)
    event.remove(services.db.engine.sync_engine, "before_cursor_execute", keep)
    planned, scans = _full_scans(services, ran)
    assert planned >= 4
    assert scans == []
