"""The hot queries' plans on PostgreSQL, with history in the tables.

``tests/storage/test_query_plans.py`` checks the plans on SQLite at every ``make test``.
PostgreSQL's planner chooses by statistics, so an empty database tells nothing: this prefills a
scratch database with an aged history (bench/history_prefill.py: ``--messages`` over
``--customers`` and ``--tickets``), runs ``ANALYZE``, drives the same web chat life as the test
(a question, a resend, a handoff, the console's accept and replies, close, rating, a reconnect,
the timers, the sweep, a restore) through the real app, plus the dashboard's staffing advice
over 30 days, and prints ``EXPLAIN`` of every
statement it ran that reads a growing table, flagging a sequential scan of messages, tickets,
query_log or events.

    python -m bench.query_plans --messages 300000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event

from accounts.tokens import create_token
from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from base.periods import period_named
from bench.history_prefill import Shape, prefill
from handoff.agents import add_agent
from handoff.staffing_reads import staffing_report
from tests.chat_life import live_a_chat
from web.app import create_app

GROWING = re.compile(r"Seq Scan on (messages|tickets|query_log|events)\b")
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _flow(services: Services, client: TestClient[Any, Any]) -> None:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Plan", at=services.clock.now(), capacity=2)
        _, raw = await create_token(
            session, name="plan", role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    await live_a_chat(services, client, {"Authorization": f"Bearer {raw}"})
    # The dashboard's staffing advice over the last 30 days (events by kind and time).
    now = services.clock.now()
    await staffing_report(
        services.db,
        period_named("30d", now, "UTC"),
        now,
        tz="UTC",
        weekday=None,
        target_share=0.8,
        target_seconds=60.0,
    )


async def run(args: argparse.Namespace) -> int:
    name = f"sanad_plans_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(SERVER)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    flagged = 0
    try:
        settings = load_settings(env={"SANAD_DATABASE_URL": url, **FLOOD_CONTROL_OFF})
        services = Services.create(settings)
        await services.db.upgrade()
        shape = Shape(args.customers, args.tickets, args.messages, span_days=85.0)
        await prefill(services.db, shape)
        raw = await asyncpg.connect(url.replace("+asyncpg", ""))
        if not args.unswept:
            # As a running Sanad keeps its history: past the reopen window, resolved tickets
            # are closed by the sweep (with every one resolved and overdue, a sequential read
            # of the first 500 is the planner's right choice for the sweep's pick).
            await raw.execute(
                "UPDATE tickets SET state = 'closed', closed_at = resolved_at + interval '1 day'"
                " WHERE state = 'resolved' AND resolved_at < now() - interval '1 day'"
            )
        await raw.execute("ANALYZE")
        await services.start()
        ran: dict[str, tuple[Any, ...]] = {}

        def keep(_c: Any, _cur: Any, statement: str, params: Any, _x: Any, many: bool) -> None:
            if re.search(r"\b(messages|tickets|query_log|events)\b", statement):
                chosen = params[0] if many and params else params
                ran.setdefault(statement, tuple(chosen or ()))

        event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
        async with TestClient(TestServer(create_app(services))) as client:
            await _flow(services, client)
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", keep)
        await services.close()
        for statement, params in ran.items():
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            try:
                rows = await raw.fetch(f"EXPLAIN {statement}", *params)
            except asyncpg.PostgresError as exc:
                print(f"(not planned: {exc.__class__.__name__}) {' '.join(statement.split())[:90]}")
                continue
            plan = "\n".join(r[0] for r in rows)
            bad = GROWING.search(plan)
            flagged += bool(bad)
            head = " ".join(statement.split())[:110]
            print(f"{'SEQ SCAN ' if bad else 'ok       '}{head}")
            if bad or args.verbose:
                print("    " + plan.replace("\n", "\n    "))
        await raw.close()
        print(f"{len(ran)} statements on growing tables, {flagged} with a sequential scan")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return 1 if flagged else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--tickets", type=int, default=30_000)
    parser.add_argument("--verbose", action="store_true", help="print every plan")
    parser.add_argument(
        "--unswept", action="store_true", help="leave every prefilled ticket resolved"
    )
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
