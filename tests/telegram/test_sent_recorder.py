"""What the bot sent, kept by a group commit (handoff/sent.py): concurrent chats' sends share
transactions, each caller returns once its lines are stored, each chat's lines keep their
order, and one bad send fails only its own caller. Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from base.clock import VirtualClock
from handoff.sent import Sent, SentRecorder
from storage.db import Database
from storage.models import Message
from tests.handoff_harness import Harness

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


async def _lines(db: Database, ticket_id: int) -> list[tuple[str, str, dict[str, object]]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(Message)
            .where(Message.ticket_id == ticket_id, Message.sender == "bot")
            .order_by(Message.id)
        )
        return [(m.text, m.channel_message_id or "", m.meta) for m in rows.scalars()]


async def test_concurrent_sends_share_transactions_and_keep_each_chats_order(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    tickets = [await h.customer(f"question {i}") for i in range(30)]
    recorder = SentRecorder(db)

    async def chat(ticket_id: int) -> list[int]:
        stored_after = []
        for n in range(3):  # one chat's sends, one after the other (as its updates are)
            lines = [(f"t{ticket_id} answer {n}", 1000 * ticket_id + n)]
            await recorder.record(Sent(ticket_id, "bot", lines, T0, meta={"n": n}))
            stored_after.append(len(await _lines(db, ticket_id)))
        return stored_after

    stored = await asyncio.gather(*(chat(t) for t in tickets))
    assert stored == [[1, 2, 3]] * len(tickets)  # stored by the time record() returned
    assert recorder.sends == 90
    assert recorder.batches < 90  # shared transactions (typically a handful)
    for ticket_id in tickets:
        assert await _lines(db, ticket_id) == [
            (f"t{ticket_id} answer {n}", str(1000 * ticket_id + n), {"n": n}) for n in range(3)
        ]


async def test_a_bad_send_fails_only_its_caller(db: Database, clock: VirtualClock) -> None:
    h = await Harness.create(db, clock)
    good, other = await h.customer("a"), await h.customer("b")
    recorder = SentRecorder(db)
    unstorable = {"not json": object()}
    outcomes = await asyncio.gather(
        recorder.record(Sent(good, "bot", [("fine", 1)], T0)),
        recorder.record(Sent(other, "bot", [("broken", 2)], T0, meta=unstorable)),
        recorder.record(Sent(other, "bot", [("fine too", 3)], T0)),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Exception)
    assert [t for t, _, _ in await _lines(db, good)] == ["fine"]
    assert [t for t, _, _ in await _lines(db, other)] == ["fine too"]


async def test_a_send_to_no_ticket_stores_nothing_and_a_bad_sender_is_refused(
    db: Database,
) -> None:
    recorder = SentRecorder(db)
    await recorder.record(Sent(999_999, "bot", [("lost", 5)], T0))
    async with db.transaction() as session:
        assert (await session.execute(select(Message))).first() is None
    with pytest.raises(ValueError, match="unknown sender"):
        Sent(1, "robot", [("x", 1)], T0)
