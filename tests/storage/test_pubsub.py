"""The bus between processes on PostgreSQL (storage/pubsub.py): two buses on one database stand
for two Sanad processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from base.bus import LocalBus
from storage.pubsub import PgBus, asyncpg_dsn, encode

pytestmark = pytest.mark.postgres


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[int, dict[str, Any]]] = []
        self.arrived = asyncio.Condition()

    async def __call__(self, key: int, frame: dict[str, Any]) -> None:
        async with self.arrived:
            self.got.append((key, frame))
            self.arrived.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10), self.arrived:
            await self.arrived.wait_for(lambda: len(self.got) >= count)


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PgBus, PgBus]]:
    a, b = PgBus(pg_url), PgBus(pg_url, check_s=0.5)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_a_frame_crosses_to_the_other_process_only(pair: tuple[PgBus, PgBus]) -> None:
    a, b = pair
    at_a, at_b, console_b = Inbox(), Inbox(), Inbox()
    a.subscribe("chat", at_a)
    b.subscribe("chat", at_b)
    b.subscribe("console", console_b)
    await a.publish("chat", 7, {"type": "message", "text": "مرحبا", "id": 1})
    await at_b.wait_for(1)
    assert at_b.got == [(7, {"type": "message", "text": "مرحبا", "id": 1})]
    await a.flush()
    await asyncio.sleep(0.2)  # anything else would have arrived by now
    assert at_a.got == []  # its own message: delivered locally, not again
    assert console_b.got == []  # another topic


async def test_order_is_kept_and_large_frames_are_cut_and_joined(
    pair: tuple[PgBus, PgBus],
) -> None:
    a, b = pair
    inbox = Inbox()
    b.subscribe("chat", inbox)
    big = "سند " * 6_000  # 24,000 characters, ~42 kB in UTF-8: cut into parts
    assert len(encode("x", 1, "chat", 1, {"text": big})) > 1
    for i in range(50):
        await a.publish("chat", i, {"n": i, "text": big if i % 10 == 3 else "hi"})
    await inbox.wait_for(50)
    assert [frame["n"] for _key, frame in inbox.got] == list(range(50))
    assert [key for key, _frame in inbox.got] == list(range(50))
    assert inbox.got[3][1]["text"] == big


async def test_a_lost_listener_reconnects_and_asks_to_catch_up(
    pair: tuple[PgBus, PgBus], pg_url: str
) -> None:
    a, b = pair
    inbox = Inbox()
    caught_up = asyncio.Event()

    async def catch_up() -> None:
        caught_up.set()

    b.subscribe("console", inbox)
    b.on_reconnect(catch_up)
    assert b._listener is not None
    pid = b._listener.get_server_pid()
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.wait_for(caught_up.wait(), 10)
    assert b.reconnects == 1
    await a.publish("console", 3, {"type": "offer"})
    await inbox.wait_for(1)
    assert inbox.got == [(3, {"type": "offer"})]


async def test_a_publisher_whose_connection_died_reconnects(pair: tuple[PgBus, PgBus]) -> None:
    a, b = pair
    inbox = Inbox()
    b.subscribe("chat", inbox)
    assert a._publisher is not None
    a._publisher.terminate()  # as a server restart would leave it
    await a.publish("chat", 1, {"n": 1})
    await inbox.wait_for(1)
    assert inbox.got == [(1, {"n": 1})]


async def test_local_bus_publishes_nowhere() -> None:
    bus = LocalBus()
    got: list[int] = []

    async def handler(key: int, frame: dict[str, Any]) -> None:
        got.append(key)

    bus.subscribe("chat", handler)
    await bus.publish("chat", 1, {})
    assert got == []


async def test_frames_for_sockets_held_elsewhere_are_skipped_undecoded(
    pair: tuple[PgBus, PgBus],
) -> None:
    a, b = pair
    inbox = Inbox()
    b.subscribe("chat", inbox, wants=lambda key: key == 7)
    await a.publish("chat", 5, {"n": 1})  # a visitor whose socket B does not hold
    await a.publish("chat", 7, {"n": 2})
    await inbox.wait_for(1)
    await a.flush()
    await asyncio.sleep(0.2)
    assert inbox.got == [(7, {"n": 2})]


async def test_a_burst_over_several_batches_arrives_in_order_with_its_parts_joined(
    pair: tuple[PgBus, PgBus],
) -> None:
    """Each batch (up to 500 messages) goes out in one statement: the payloads must arrive
    in the order published, the parts of a cut message together, across batches too."""
    a, b = pair
    inbox = Inbox()
    b.subscribe("chat", inbox)
    big = "x" * 20_000  # cut into parts
    count = 1_200
    for i in range(count):  # queued without yielding: the sender takes them in batches
        await a.publish("chat", i % 7, {"n": i, "text": big if i % 97 == 5 else str(i)})
    await a.flush()
    await inbox.wait_for(count)
    assert [frame["n"] for _key, frame in inbox.got] == list(range(count))
    assert all(
        frame["text"] == (big if frame["n"] % 97 == 5 else str(frame["n"]))
        for _key, frame in inbox.got
    )
