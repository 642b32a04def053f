"""How long the dashboard's staffing advice takes on a busy history.

Plants ``--days`` days of history in a scratch SQLite file (or ``--database-url``):
``--per-day`` handoffs a day (Poisson arrivals shaped by a day curve, exponential waits and
handle times, 5% abandoned), ``--agents`` agents with shifts and breaks (status events), then
times :func:`handoff.staffing_reads.staffing_report` over the whole period, all days and one
weekday. Prints one JSON object.

    python -m bench.staffing_report --days 30 --per-day 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from base.periods import Period
from handoff.staffing_reads import staffing_report
from storage.db import Database
from storage.models import Agent, Customer, Event, Ticket

START = datetime(2026, 1, 5, tzinfo=UTC)


async def plant(db: Database, days: int, per_day: int, agents: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    # Arrivals: more by day than by night (a sine over the day), Poisson in total.
    hours = np.arange(24)
    shape = 0.2 + np.clip(np.sin((hours - 6) / 24 * 2 * math.pi), 0, None)
    shape = shape / shape.sum()
    events: list[dict[str, Any]] = []
    tickets = 0
    async with db.transaction() as session:
        await session.execute(
            insert(Customer),
            [
                {
                    "channel": "bench",
                    "external_id": "1",
                    "name": "",
                    "language": "en",
                    "created_at": START,
                    "last_seen_at": START,
                }
            ],
        )
        await session.execute(
            insert(Agent),
            [
                {
                    "name": f"agent {i}",
                    "capacity": 1 + i % 3,
                    "idle_since": START,
                    "created_at": START,
                    "updated_at": START,
                }
                for i in range(agents)
            ],
        )
        ticket_rows: list[dict[str, Any]] = []
        for day in range(days):
            counts = rng.poisson(per_day * shape)
            for hour, n in enumerate(counts):
                for offset in np.sort(rng.uniform(0, 3600, int(n))):
                    at = START + timedelta(days=day, hours=hour, seconds=float(offset))
                    ticket_rows.append(
                        {
                            "customer_id": 1,
                            "channel": "bench",
                            "language": "en",
                            "created_at": at,
                        }
                    )
        await session.execute(insert(Ticket), ticket_rows)
        tickets = len(ticket_rows)
        for ticket_id, row in enumerate(ticket_rows, start=1):
            at = row["created_at"]
            events.append({"kind": "handoff_requested", "ticket_id": ticket_id, "created_at": at})
            wait = timedelta(seconds=float(rng.exponential(40)))
            if rng.random() < 0.05:
                events.append(
                    {"kind": "ticket_abandoned", "ticket_id": ticket_id, "created_at": at + wait}
                )
                continue
            events.append(
                {"kind": "ticket_assigned", "ticket_id": ticket_id, "created_at": at + wait}
            )
            handle = timedelta(seconds=float(rng.exponential(420)))
            events.append(
                {
                    "kind": "ticket_resolved",
                    "ticket_id": ticket_id,
                    "created_at": at + wait + handle,
                    "data": {"resolution": "agent"},
                }
            )
        for day in range(days):
            for agent in range(1, agents + 1):
                begin = START + timedelta(days=day, hours=float(6 + agent % 12))
                changes = [
                    (begin, "available", "offline"),
                    (begin + timedelta(hours=3), "away", "available"),
                    (begin + timedelta(hours=3.5), "available", "away"),
                    (begin + timedelta(hours=8), "offline", "available"),
                ]
                for at, status, previous in changes:
                    events.append(
                        {
                            "kind": "agent_status_changed",
                            "created_at": at,
                            "data": {"agent_id": agent, "status": status, "previous": previous},
                        }
                    )
        for row in events:
            row.setdefault("data", {})
            row.setdefault("actor", "system")
        for i in range(0, len(events), 20_000):
            await session.execute(insert(Event), events[i : i + 20_000])
    return tickets


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'staffing.db'}"
        db = Database(url)
        await db.upgrade()
        try:
            tickets = await plant(db, args.days, args.per_day, args.agents, args.seed)
            period = Period(START, START + timedelta(days=args.days))
            now = period.end + timedelta(hours=1)
            timings: dict[str, float] = {}
            report = None
            for name, weekday in (("all_days", None), ("one_weekday", 0)):
                started = time.perf_counter()
                report = await staffing_report(
                    db,
                    period,
                    now,
                    tz="Asia/Riyadh",
                    weekday=weekday,
                    target_share=0.8,
                    target_seconds=60.0,
                )
                timings[f"{name}_s"] = round(time.perf_counter() - started, 3)
            assert report is not None
            peak = max(report.hours, key=lambda h: h.arrivals_per_hour or 0)
            return {
                "days": args.days,
                "handoffs": tickets,
                "agents": args.agents,
                "model": report.model,
                "peak_hour": peak.hour,
                "peak_arrivals_per_hour": peak.arrivals_per_hour,
                "peak_agents_needed": peak.agents_needed,
                **timings,
            }
        finally:
            await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="")
    print(json.dumps(asyncio.run(run(parser.parse_args(argv)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
