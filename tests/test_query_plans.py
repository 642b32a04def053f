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

from sanad.services import Services
from tests.conftest import bearer
from tests.webchat_client import ChatClient

GROWING = ("messages", "tickets", "query_log", "events")
FULL_SCAN = re.compile(r"^SCAN (" + "|".join(GROWING) + r")\b")


async def test_the_chat_path_plans_no_full_scan_of_a_growing_table(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params[0] if many and params else params)

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
    token = bearer(agent_token["token"])
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    chat = ChatClient(client)
    await chat.connect()
    asked = await chat.say("how long does delivery take?")
    await chat.message("bot")
    await chat.say("how long does delivery take?", client_id=asked)  # a resend
    await chat.ack(asked)
    await chat.say("I want to talk to a person")
    await chat.message("system", "in the queue")
    me = await (await client.get("/api/v1/agent/me", headers=token)).json()
    offer = me["offers"][0]
    await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    ticket_id = offer["ticket_id"]
    for _ in range(2):  # the second is a retry of the first
        await client.post(
            f"/api/v1/agent/chats/{ticket_id}/messages",
            json={"text": "Hello, how can I help?", "client_id": "a-1"},
            headers=token,
        )
    await chat.message("agent")
    await chat.say("my order is late")
    await client.get(f"/api/v1/agent/chats/{ticket_id}", headers=token)
    await client.get("/api/v1/agent/chats", headers=token)
    await client.post(f"/api/v1/agent/chats/{ticket_id}/close", headers=token)
    rate = await chat.message("system", "rate")
    await chat.press(rate["buttons"][0][4]["data"], rate["id"])
    await chat.next(lambda f: f["type"] == "update")
    await chat.say("quick, thanks")
    await chat.message("bot")
    await chat.close()
    again = ChatClient(client)
    again.visitor = chat.visitor
    await again.connect(since=1)  # a reconnect: what was missed comes again
    await again.close()
    services.clock.advance(3 * 24 * 3600)
    await services.handoff.tick()
    await services.handoff.sweep()
    await services.handoff.resync()
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
