"""bench/webchat_core.py runs at a tiny size on SQLite: every message is answered (the bench
asserts it), the figures are there, and the messages and query log rows were written."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bench.webchat_core import run
from storage.db import Database
from storage.models import Message, QueryLog


async def test_the_core_bench_answers_and_reports(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'core.db'}"
    result = await run(url, 2, 4, 1, str(tmp_path / "core.prof"))
    assert result["backend"] == "sqlite"
    assert isinstance(result["python_calls_per_message"], int)
    assert result["python_calls_per_message"] > 100
    assert (tmp_path / "core.prof").stat().st_size > 0
    db = Database(url)
    try:
        async with db.transaction() as session:
            lines = (await session.execute(select(func.count()).select_from(Message))).scalar()
            logged = (await session.execute(select(func.count()).select_from(QueryLog))).scalar()
    finally:
        await db.dispose()
    # Warm-up (2) + measured (4) + profiled warm-up (2) + profiled (4) questions.
    assert logged == 12
    assert lines == 24  # each question and its answer
