"""bench/history.py at a tiny size on SQLite, so the benchmark cannot rot.

Structure and sanity only (the prefill holds what was asked, every figure is there and
plausible); no timing is asserted: the speed targets are the benchmark's business.
"""

from __future__ import annotations

import pytest

from bench.history import Options, measure, table
from bench.history_prefill import Shape, count_rows, prefill
from storage.db import Database
from storage.models import Message, Ticket

TINY = Options(
    webchat=True,
    idle=True,
    restore=True,
    startup=True,
    backends=("sqlite",),
    messages=2_000,
    customers=150,
    tickets=200,
    quiet_tickets=120,
    visitors=2,
    questions=2,
    rounds=1,
    repeats=2,
    idle_seconds=1.0,
    timeout_s=120.0,
)


async def test_every_measurement_runs_at_a_tiny_size() -> None:
    report = await measure(TINY)
    r = report["results"]["sqlite"]
    assert r["prefill"]["rows"]["messages"] == 2_000
    assert r["prefill"]["rows"]["customers"] == 150
    assert r["prefill"]["rows"]["tickets"] == r["prefill"]["rows"]["tickets_resolved"] == 200
    assert r["prefill"]["rows"]["query_log"] == 200
    assert r["prefill"]["rows"]["events"] >= 2 * 200

    for key in ("webchat_empty", "webchat_prefilled"):
        assert r[key]["answers"] == 2 * 2  # every visitor got every answer
        assert r[key]["answers_per_s"] > 0
        assert r[key]["startup_s"] > 0
    assert r["webchat_ratio"] > 0
    assert isinstance(r["webchat_ok"], bool)

    idle = r["idle"]
    assert 0.9 <= idle["seconds"] < 5
    assert 0 <= idle["core_fraction"] <= 2.0  # at most the machine's two cores

    restore = r["restore"]
    assert restore["resolved_tickets"] == 200
    assert len(restore["restore_samples_s"]) == 2
    assert restore["restore_s"] > 0 and restore["resync_s"] > 0
    # Resolved within the benchmark's reopen window: nothing to close.
    assert restore["resolved_after_first_resync"] == 200

    startup = r["startup"]
    assert startup["quiet_tickets"] == 120
    assert startup["prefill"]["rows"]["messages"] == 240
    assert not startup["timed_out"]
    assert startup["bot_tickets_left"] == 0  # the idle sweep closed them at start-up
    assert startup["empty_s"] > 0 and startup["quiet_s"] > 0

    text = table(report)
    assert "restore, 200 resolved" in text and "start-up, 120 quiet tickets" in text


@pytest.mark.parametrize("state", ["resolved", "bot"])
async def test_prefill_rows_load_back_through_the_models(any_db_url: str, state: str) -> None:
    """Bulk rows (Core executemany on SQLite, COPY on PostgreSQL) read back as the ORM
    writes them: aware datetimes, JSON columns, messages in their tickets."""
    db = Database(any_db_url)
    await db.upgrade()
    try:
        shape = Shape(customers=7, tickets=10, messages=33, state=state)
        counts = await prefill(db, shape)
        assert counts["messages"] == 33 and counts["tickets"] == 10
        rows = await count_rows(db)
        assert rows["customers"] == 7 and rows[f"tickets_{state}"] == 10
        async with db.transaction() as session:
            ticket = await session.get(Ticket, 1)
            assert ticket is not None and ticket.state == state
            assert ticket.created_at.tzinfo is not None and ticket.tags == []
            message = await session.get(Message, 1)
            assert message is not None and message.ticket_id == 1
            assert message.created_at >= ticket.created_at
            # The ids continue after the bulk rows (sequences moved on PostgreSQL).
            session.add(
                Message(
                    ticket_id=1,
                    customer_id=ticket.customer_id,
                    sender="bot",
                    text="hello again",
                    meta={},
                    created_at=message.created_at,
                )
            )
            await session.flush()
        assert (await count_rows(db))["messages"] == 34
    finally:
        await db.dispose()
