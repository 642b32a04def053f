"""Latency of the handoff service's actions (one transaction each, on a real SQLite file) with
a long queue: ``python -m bench.handoff_actions --queued 2000``.

Each sample: a customer asks for a person (``request_human``: priority rules, rank, queue,
position notices) or an agent accepts an offer (``accept_offer``: compare-and-set, dispatch of
the next chat, position updates for those behind whose place changed enough to matter). Prints
one JSON object with medians and p90s in milliseconds, and per accept the SQL statements run
and the position notices sent, with no minimum interval between two notices to one customer
(the worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from base.clock import VirtualClock
from handoff.agents import add_agent
from handoff.customers import touch_customer
from handoff.notices import PositionChanged
from handoff.port import MemoryPort
from handoff.service import HandoffConfig, HandoffService
from handoff.tickets import current_ticket, record_message
from storage.db import Database


async def _customer(db: Database, clock: VirtualClock, n: int) -> int:
    async with db.transaction() as session:
        customer = await touch_customer(
            session,
            channel="bench",
            external_id=str(n),
            name=f"C{n}",
            username=None,
            language_code="en",
            default_language="en",
            at=clock.now(),
        )
        ticket = await current_ticket(session, customer, clock.now())
        await record_message(session, ticket, sender="customer", text="help", at=clock.now())
        return ticket.id


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
    }


async def run(queued: int, samples: int, agents: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await db.upgrade()
        clock = VirtualClock()
        port = MemoryPort()
        # No minimum interval between position notices: every accept may tell (the worst case).
        service = HandoffService(db, clock, port, HandoffConfig(position_update_s=0.0))
        await service.start(run_timers=False)
        ids = []
        async with db.transaction() as session:
            for i in range(agents):
                agent = await add_agent(session, name=f"A{i}", at=clock.now())
                ids.append(agent.id)
        for i in range(queued):
            ticket = await _customer(db, clock, i)
            await service.request_human(ticket, reason="bench")
            clock.advance(1)
        for agent_id in ids:
            await service.set_agent_status(agent_id, "available")
        asks, accepts = [], []
        statements: list[int] = []
        told: list[int] = []
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        for i in range(samples):
            ticket = await _customer(db, clock, queued + i)
            started = time.perf_counter()
            await service.request_human(ticket, reason="bench")
            asks.append(time.perf_counter() - started)
            offer = port.offers()[-1]
            seen.clear()
            before = len(port.of(PositionChanged))
            started = time.perf_counter()
            result = await service.accept_offer(offer.offer_id, offer.agent_id)
            accepts.append(time.perf_counter() - started)
            statements.append(len(seen))
            told.append(len(port.of(PositionChanged)) - before)
            assert result.ok, result
            # the agent closes at once, so the next sample finds them free again
            await service.resolve_ticket(result.ticket_id or 0, offer.agent_id)
            clock.advance(1)
        await db.dispose()
    return {
        "queued": queued,
        "samples": samples,
        "request_human": _ms(asks),
        "accept_offer": _ms(accepts),
        "accept_statements_median": statistics.median(statements),
        "accept_position_notices_median": statistics.median(told),
        "backend": "sqlite",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queued", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--agents", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.queued, args.samples, args.agents))))


if __name__ == "__main__":
    main()
