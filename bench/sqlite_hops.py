"""Statements per second through the async engine on a real SQLite file: SQLAlchemy's stock
``sqlite+aiosqlite`` dialect (four thread hand-offs per statement) against Sanad's one-hop driver
(storage/sqlite_driver.py), in the same run, alternating rounds:
``python -m bench.sqlite_hops --statements 2000 --rounds 5``.

Four loads per round: a small primary-key SELECT, an INSERT (each in its own short transaction,
as Sanad's writes are), a web-chat-like unit (one transaction of five SELECTs and two INSERTs),
and that unit while three other tasks keep the event loop busy between their awaits (its CPU
figure includes theirs: read its statements/s). Prints one JSON object: per driver the median
statements/s over the rounds, the process CPU seconds per 1000 statements, and the ratio ours /
stock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.db import _sqlite_pragmas, create_engine

SETUP = (
    "CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)",
    "INSERT OR IGNORE INTO item (id, name, n) VALUES (1, 'one', 1)",
)


def _stock(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def _select(engine: AsyncEngine, count: int) -> int:
    query = text("SELECT id, name, n FROM item WHERE id = :id")
    async with engine.connect() as conn:
        for _ in range(count):
            (await conn.execute(query, {"id": 1})).one()
    return count


async def _insert(engine: AsyncEngine, count: int) -> int:
    query = text("INSERT INTO item (name, n) VALUES (:name, :n)")
    for i in range(count):
        async with engine.begin() as conn:
            await conn.execute(query, {"name": "x", "n": i})
    return count


async def _unit(engine: AsyncEngine, count: int) -> int:
    select = text("SELECT id, name, n FROM item WHERE id = :id")
    insert = text("INSERT INTO item (name, n) VALUES (:name, :n)")
    units = max(1, count // 7)
    for i in range(units):
        async with engine.begin() as conn:
            for _ in range(5):
                (await conn.execute(select, {"id": 1})).one()
            for _ in range(2):
                await conn.execute(insert, {"name": "u", "n": i})
    return units * 7


async def _unit_busy_loop(engine: AsyncEngine, count: int) -> int:
    """The unit while other tasks keep the event loop busy (Python work between awaits, as
    other visitors' messages do): each hand-off then also waits for the GIL and the loop."""
    stop = False

    async def other_visitors() -> None:
        while not stop:
            sum(range(3000))
            await asyncio.sleep(0)

    busy = [asyncio.create_task(other_visitors()) for _ in range(3)]
    try:
        return await _unit(engine, count)
    finally:
        stop = True
        await asyncio.gather(*busy)


LOADS: dict[str, Callable[[AsyncEngine, int], Awaitable[int]]] = {
    "select": _select,
    "insert": _insert,
    "unit_5_selects_2_inserts": _unit,
    "unit_with_a_busy_event_loop": _unit_busy_loop,
}


async def _measure(engine: AsyncEngine, load: str, count: int) -> tuple[float, float]:
    """Statements/s (wall) and CPU seconds of the process per 1000 statements."""
    cpu, wall = time.process_time(), time.perf_counter()
    done = await LOADS[load](engine, count)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return done / wall, cpu / done * 1000


async def run(statements: int, rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, dict[str, dict[str, list[float]]]] = {}
        engines: dict[str, AsyncEngine] = {}
        for name, make in (("stock_aiosqlite", _stock), ("sanad_one_hop", create_engine)):
            url = f"sqlite+aiosqlite:///{Path(tmp) / name}.db"
            engines[name] = make(url)
            async with engines[name].begin() as conn:
                for sql in SETUP:
                    await conn.execute(text(sql))
            await _measure(engines[name], "select", 200)  # warm-up: pool, statement cache
        for _ in range(rounds):
            for load in LOADS:
                for name, engine in engines.items():
                    per_s, cpu_ms = await _measure(engine, load, statements)
                    slot = results.setdefault(load, {}).setdefault(name, {"s": [], "cpu": []})
                    slot["s"].append(per_s)
                    slot["cpu"].append(cpu_ms)
        for engine in engines.values():
            await engine.dispose()
    report: dict[str, object] = {"statements_per_round": statements, "rounds": rounds}
    for load, by_driver in results.items():
        medians = {
            name: {
                "statements_per_s": round(statistics.median(v["s"])),
                "cpu_s_per_1000": round(statistics.median(v["cpu"]), 4),
            }
            for name, v in by_driver.items()
        }
        stock, ours = medians["stock_aiosqlite"], medians["sanad_one_hop"]
        report[load] = {
            **medians,
            "ratio_statements_per_s": round(
                ours["statements_per_s"] / stock["statements_per_s"], 2
            ),
            "ratio_cpu": round(ours["cpu_s_per_1000"] / stock["cpu_s_per_1000"], 2),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.statements, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
