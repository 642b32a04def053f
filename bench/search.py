"""Ticket search at scale: ``python -m bench.search --messages 1000000``.

For each backend (a SQLite file in a temporary directory, and a scratch database on the
PostgreSQL server, dropped afterwards): a database prefilled by ``bench/history_prefill.py``
(``--messages`` messages over ``--tickets`` resolved tickets and ``--customers`` customers;
``Shape.varied``: every customer line also names an order number, one per ticket, and one word
of a 40-word English and Arabic vocabulary), then the search documents built by
``storage.search.reindex`` (what migration 0011 and ``sanad search reindex`` run; timed), then
``handoff.search.search_tickets`` (one page of 20 tickets, in its own read transaction, as
the API and the page call it) ``--repeats`` times per query kind, as a supervisor (every
ticket) and as an agent (their own tickets: a tenth of them).

Query kinds: a word in a fifth of the lines (English, Arabic written with other alef forms and
diacritics), a vocabulary word (1/40 of the customer lines), two words, an order number (one
ticket), a ticket number, a customer's name, and a word found nowhere. Prints one JSON object
(medians and p99 in ms, hits on the page); progress on stderr. Target: every query under
100 ms at 1,000,000 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from typing import Any

import asyncpg

from bench.history_prefill import Shape, prefill
from bench.webchat import _database
from handoff.search import search_tickets
from storage.db import Database
from storage.search import PG_GIN, PG_INDEX, reindex

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
AGENT = 2  # bench/history_prefill.py: agents 1-3 handled 30 % of the tickets, 10 % each


def queries(tickets: int, customers: int) -> list[tuple[str, str]]:
    """(kind, query) pairs that find something in a prefilled database of that shape."""
    middle = tickets // 2
    customer = (customers // 2) // 2 * 2  # an even one: a Telegram customer with a plain name
    return [
        ("English word (1/5 of lines)", "delivery"),
        ("Arabic word (1/5), other forms", "التَّوْصِيل"),
        ("English word (1/40 of customer lines)", "invoice"),
        ("Arabic word (1/40), other alef", "الاشتراك"),
        ("two English words", "return item"),
        ("order number (1 ticket)", f"order {100000 + middle}"),
        ("ticket number", f"#{middle + 1}"),
        ("customer name", f"Customer {customer}"),
        ("word found nowhere", "xylophone"),
    ]


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _index(db: Database) -> dict[str, Any]:
    """The documents of the bulk-loaded rows: ``reindex``, timed; on PostgreSQL the GIN index
    is built after the rows (as the migration does), then the table analysed."""
    started = time.perf_counter()
    async with db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            await conn.exec_driver_sql(f"DROP INDEX {PG_INDEX}")
        counts = await conn.run_sync(reindex)
        if postgres:
            await conn.exec_driver_sql(PG_GIN)
    seconds = time.perf_counter() - started
    if postgres:
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("ANALYZE search_docs")
    return {"seconds": round(seconds, 1), **counts}


async def measure(db: Database, shape: Shape, repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for who, involving in (("supervisor", None), ("agent", AGENT)):
        rows: dict[str, Any] = {}
        for kind, query in queries(shape.tickets, shape.customers):
            for _ in range(3):  # warm the caches
                await search_tickets(db, query, involving=involving)
            times: list[float] = []
            hits = 0
            for _ in range(repeats):
                started = time.perf_counter()
                page = await search_tickets(db, query, involving=involving)
                times.append((time.perf_counter() - started) * 1000)
                hits = len(page.hits)
            rows[kind] = {"query": query, "hits": hits, **_ms(times)}
            _say(f"  {who:10} {kind:40} {rows[kind]}")
        figures[who] = rows
    return figures


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    shape = Shape(
        customers=args.customers, tickets=args.tickets, messages=args.messages, varied=True
    )
    server = args.postgres if backend == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="sanad-search-") as tmp:
        async with _database(tmp, "search", server) as url:
            db = Database(url)
            try:
                await db.upgrade()
                _say(f"{backend}: prefill {shape}")
                started = time.perf_counter()
                await prefill(db, shape)
                prefill_s = round(time.perf_counter() - started, 1)
                _say(f"{backend}: prefilled in {prefill_s} s; indexing")
                index = await _index(db)
                _say(f"{backend}: indexed {index}")
                results = await measure(db, shape, args.repeats)
            finally:
                await db.dispose()
    worst = max(row["p99_ms"] for rows in results.values() for row in rows.values())
    return {
        "prefill_s": prefill_s,
        "index": index,
        "search": results,
        "worst_p99_ms": worst,
        "under_100ms": worst < 100,
    }


async def _reachable(server: str) -> str | None:
    try:
        conn = await asyncpg.connect(server.replace("+asyncpg", "", 1), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return str(exc)
    await conn.close()
    return None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "messages": args.messages,
        "tickets": args.tickets,
        "customers": args.customers,
        "repeats": args.repeats,
    }
    for backend in args.backends.split(","):
        if backend == "postgresql" and (reason := await _reachable(args.postgres)):
            out[backend] = {"skipped": reason}
            continue
        out[backend] = await run_backend(backend, args)
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=None, help="default: messages / 10")
    parser.add_argument("--customers", type=int, default=None, help="default: tickets")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=PG_SERVER, help="the PostgreSQL server's URL")
    args = parser.parse_args(argv)
    args.tickets = args.tickets or max(1, args.messages // 10)
    args.customers = args.customers or args.tickets
    if not set(args.backends.split(",")) <= {"sqlite", "postgresql"}:
        parser.error("--backends: sqlite, postgresql or both, comma-separated")
    return args


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(main(parse())), ensure_ascii=False, indent=1))
