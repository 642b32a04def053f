"""The login path is served by indexes: logging in by username or email, every request's
session, a link's key, a reset ending an account's sessions. Planned with SQLite's
``EXPLAIN QUERY PLAN`` after the real flow ran (accounts and sessions grow with the team and
with every login)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from accounts import people
from accounts.tokens import Principal
from app.services import Services

SCAN = re.compile(r"^SCAN (accounts|account_links|web_sessions)\b")
ADMIN = Principal(None, "Boss", "admin", "session", "c")


async def test_the_login_path_plans_no_full_scan(
    client: TestClient[Any, Any], services: Services
) -> None:
    ran: dict[str, Any] = {}

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        ran.setdefault(statement, params[0] if many and params else params)

    db, now = services.db, services.clock.now()
    event.listen(db.engine.sync_engine, "before_cursor_execute", keep)
    key = await people.invite(
        db, ADMIN, role="editor", name="Ed", email="ed@example.com", at=now, hours=1
    )
    page = await client.get(f"/invite/{key}")
    assert page.status == 200
    secret = "a long secret here"
    joined = await client.post(
        f"/invite/{key}",
        data={"username": "eddie", "password": secret, "password_again": secret},
        allow_redirects=False,
    )
    assert joined.status == 302
    assert (await client.get("/faq")).status == 200  # the session, on every request
    for login in ("eddie", "ed@example.com"):
        answer = await client.post(
            "/login", data={"username": login, "password": secret}, allow_redirects=False
        )
        assert answer.status == 302
    event.remove(db.engine.sync_engine, "before_cursor_execute", keep)
    account_id = (await people.accounts(db))[0].id  # the People page's list: all of them
    event.listen(db.engine.sync_engine, "before_cursor_execute", keep)
    reset = await people.reset_link(db, ADMIN, account_id, now, 1)
    await people.accept_link(db, reset, "reset", password="another long one", at=now)
    event.remove(db.engine.sync_engine, "before_cursor_execute", keep)

    database = db.engine.url.database
    assert database is not None
    plans = sqlite3.connect(database)
    scans, planned = [], 0
    for statement, params in ran.items():
        if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue
        if not re.search(r"\b(accounts|account_links|web_sessions)\b", statement):
            continue
        planned += 1
        for row in plans.execute(f"EXPLAIN QUERY PLAN {statement}", params or ()).fetchall():
            if SCAN.match(row[3]):
                scans.append(f"{row[3]}: {' '.join(statement.split())[:300]}")
    plans.close()
    assert planned >= 6
    assert scans == []
