"""``bench.webchat`` at a tiny size: the one-transaction floor and the counting work.

Structure and sanity only (the servers are real child processes on real databases); no
timing is asserted: speed is what the benchmark reports, not what a test checks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bench import webchat
from bench.webchat_floor import serve_floor
from tests.conftest import PG_URL, _asyncpg_dsn

TABLES = ("customers", "tickets", "messages", "query_log", "search_docs")


async def test_sqlite_run_reports_sanad_and_the_floor() -> None:
    result = await webchat.run(2, 3)

    assert result["backend"] == "sqlite"
    sanad, floor = result["per_message"], result["floor"]["per_message"]
    # Sanad: statements and transactions counted by the SQLAlchemy listener in its process.
    assert sanad["statements"] > 0
    assert sanad["transactions"] >= 1
    assert sanad["commits"] == sanad["transactions"]  # nothing rolled back
    # The floor: counted by SQLite itself (the trace callback), one transaction a message.
    assert floor["transactions"] == 1
    assert floor["commits"] == 1
    assert floor["statements"] == 7  # the reads and writes listed in bench/webchat_floor.py
    # Sanad reads the customer, their open ticket and a resend in one statement and writes
    # both lines in one: fewer statements than the floor, the same rows (the next test).
    assert 0 < sanad["statements"] < floor["statements"]
    assert "round_trips" not in sanad  # counted on PostgreSQL only

    sanad_cpu = result["server_cpu_ms_per_message"]
    floor_cpu = result["floor"]["server_cpu_ms_per_message"]
    match_cpu = result["floor"]["match_cpu_ms_per_message"]
    assert sanad_cpu > 0
    assert 0 < match_cpu < floor_cpu  # the match is a part of the floor's work
    assert result["cpu_ratio_vs_floor"] == pytest.approx(sanad_cpu / floor_cpu, rel=0.02)
    assert result["cpu_ratio_vs_floor_without_match"] > result["cpu_ratio_vs_floor"]
    for side in (result, result["floor"]):
        assert side["answers_per_s"] > 0
        trip = side["round_trip"]
        assert 0 < trip["median_ms"] <= trip["p90_ms"] <= trip["p99_ms"]


def _rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES
        }


async def test_the_floor_writes_what_sanad_writes(tmp_path: Path) -> None:
    """Under the same load both servers leave the same rows: the customers, their tickets,
    the greeting, each question and its answer, each query log, and each line's search
    document."""
    visitors, questions = 2, 3
    counts = {}
    for name, target in (("sanad", webchat._serve), ("floor", serve_floor)):
        path = tmp_path / f"{name}.db"
        url = await webchat._prepared(f"sqlite+aiosqlite:///{path}")
        before = _rows(path)
        measured = await webchat._measure(target, url, visitors, questions)
        assert measured.messages == visitors * questions
        counts[name] = {table: n - before[table] for table, n in _rows(path).items()}
    asked = visitors * (questions + 1)  # with the warm-up question of each visitor
    assert counts["floor"] == counts["sanad"]
    assert counts["floor"] == {
        "customers": visitors,
        "tickets": visitors,
        "messages": visitors + 2 * asked,
        "query_log": asked,
        "search_docs": visitors + visitors + 2 * asked,  # each ticket's, each line's
    }


@pytest.mark.postgres
async def test_postgres_round_trips_are_counted_on_the_wire() -> None:
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({exc}); set SANAD_TEST_PG_URL")
    await admin.close()

    result = await webchat.run(1, 2, PG_URL, count_questions=3)

    sanad, floor = result["per_message"], result["floor"]["per_message"]
    assert floor["transactions"] == 1
    # asyncpg with its statement cache: one round trip per statement, plus BEGIN and COMMIT.
    assert floor["round_trips"] == floor["statements"] + 2
    # Sanad pays at least a round trip per statement and per BEGIN and COMMIT.
    assert sanad["round_trips"] >= sanad["statements"] + 2 * sanad["transactions"]
