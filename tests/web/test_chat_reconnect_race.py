"""A visitor's socket gets each message id at most once, after ``welcome``, in order, even when
a line is committed around its catch-up (the race ``bench.soak`` found: docs/BENCHMARKS.md).

Each race is held open deterministically: the real read or the real bus delivery is wrapped so
it waits on an event while the test commits and pushes a line; no sleeps decide the order. Real
aiohttp servers, a real SQLite file, real PostgreSQL and its LISTEN/NOTIFY bus.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.services import Services
from conversation import reads
from storage.pubsub import PgBus
from tests.conftest import bearer
from tests.two_processes import services_of, two_apps
from tests.webchat_client import ChatClient, Frame
from web.chat import CHAT_HUB, WebChatPort, frames_for

DELIVERY = "how many days does delivery take?"
RETURNS = "can I return an item?"


class Gate:
    """Holds the calls of an async function while armed: each says it arrived, then waits
    for :meth:`release`; the real function runs after."""

    def __init__(self) -> None:
        self.armed = False
        self.arrived = asyncio.Event()
        self.calls: list[tuple[Any, ...]] = []
        self._go = asyncio.Event()

    def wrap(self, real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def held(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.calls.append(args)
                self.arrived.set()
                await self._go.wait()
            return await real(*args, **kwargs)

        return held

    def release(self) -> None:
        self.armed = False
        self._go.set()


def assert_once_in_order(frames: list[Frame]) -> list[int]:
    """The socket's promise: ``welcome`` first, then every message id once, ascending within
    the catch-up and never repeated afterwards. Returns the message ids."""
    assert frames and frames[0]["type"] == "welcome", [f["type"] for f in frames[:5]]
    ids = [f["id"] for f in frames if f["type"] == "message"]
    twice = [i for i, n in Counter(ids).items() if n > 1]
    assert not twice, f"message ids sent twice on one socket: {twice} in {ids}"
    return ids


async def test_a_line_committed_while_the_catch_up_is_read_comes_once_after_welcome(
    client: TestClient[Any, Any], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second tab reconnects; while its catch-up is being read, the first tab asks a
    question (the question and the answer are committed and pushed). The catch-up read then
    has both lines, and they were pushed live too: the socket gets each once, after welcome."""
    first = ChatClient(client)
    await first.connect()
    await first.drain()
    gate = Gate()
    monkeypatch.setattr(reads, "welcome", gate.wrap(reads.welcome))

    gate.armed = True
    second = ChatClient(client)
    second.visitor = first.visitor
    connecting = asyncio.create_task(second.connect(since=first.since))
    await asyncio.wait_for(gate.arrived.wait(), 10)
    await first.say(DELIVERY)
    answer = await first.message("bot", "2-4 working days")  # committed and pushed to both
    gate.release()
    await asyncio.wait_for(connecting, 10)
    await second.drain()

    ids = assert_once_in_order(second.frames)
    assert answer["id"] in ids and ids == sorted(ids)
    assert [f["text"] for f in second.frames if f["type"] == "message"] == [
        DELIVERY,
        answer["text"],
    ]
    # The live path still works afterwards, once per line.
    await first.say(RETURNS)
    later = await second.message("bot")
    assert later["id"] > answer["id"]
    await second.drain()
    assert_once_in_order(second.frames)


async def _handed_to_agent(
    client: TestClient[Any, Any], chat: ChatClient, agent_token: dict[str, Any]
) -> int:
    """The chat asks for a person and the agent accepts; returns the ticket id."""
    token = bearer(agent_token["token"])
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    await chat.say("I want to talk to a person")
    await chat.message("system", "in the queue")
    me = await (await client.get("/api/v1/agent/me", headers=token)).json()
    offer = me["offers"][0]
    accepted = await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert accepted.status == 200
    await chat.message("system", "joined")
    await chat.drain()
    return int(offer["ticket_id"])


async def test_a_live_frame_late_after_the_catch_up_is_dropped_when_it_was_in_it(
    client: TestClient[Any, Any],
    services: Services,
    agent_token: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent's line is committed, but its push to the web chat is held (the port's making
    of its frame waits); meanwhile the visitor reconnects and gets the line in its catch-up.
    The late push of the same line does not reach that socket again; a later line does."""
    chat = ChatClient(client)
    await chat.connect()
    ticket_id = await _handed_to_agent(client, chat, agent_token)
    await chat.close()

    gate = Gate()
    monkeypatch.setattr(WebChatPort, "_agent_line", gate.wrap(WebChatPort._agent_line))
    gate.armed = True
    token = bearer(agent_token["token"])
    url = f"/api/v1/agent/chats/{ticket_id}/messages"
    sending = asyncio.create_task(client.post(url, json={"text": "On it"}, headers=token))
    await asyncio.wait_for(gate.arrived.wait(), 10)  # committed; its push is held

    back = ChatClient(client)
    back.visitor = chat.visitor
    await back.connect(since=chat.since)
    caught = await back.message("agent", "On it")  # in the catch-up
    await back.drain()
    gate.release()
    assert (await asyncio.wait_for(sending, 10)).status == 200
    await services.handoff.settled()  # the late push has gone out; a new line follows it
    again = await client.post(url, json={"text": "Shipped today"}, headers=token)
    assert again.status == 200
    later = await back.message("agent", "Shipped today")
    await back.drain()
    ids = assert_once_in_order(back.frames)
    assert ids.count(caught["id"]) == 1 and later["id"] in ids


async def test_a_lower_id_committed_after_a_higher_one_still_reaches_the_socket(
    client: TestClient[Any, Any], services: Services
) -> None:
    """What "each id once" must not become: "nothing at or below the highest id sent". A line
    whose id is lower than the catch-up's newest, but that was not in it (on PostgreSQL a
    transaction can commit a lower id later), is pushed live and goes out."""
    chat = ChatClient(client)
    await chat.connect()
    await chat.say(DELIVERY)
    await chat.message("bot", "2-4 working days")
    await chat.drain()
    ids = sorted(chat.seen)
    assert len(ids) >= 3  # the greeting, the question, the answer

    back = ChatClient(client)
    back.visitor = chat.visitor
    await back.connect(since=ids[-2])  # the catch-up: the answer only
    await back.drain()
    assert back.message_ids() == [ids[-1]]
    customer_id = back.frames[0]["customer_id"]
    lines, _context = await reads.lines_by_id(services, [ids[-2]])
    frame = (await frames_for(services, lines))[0]
    await client.app[CHAT_HUB].push(customer_id, frame)  # the question, as if committed late
    late = await back.message(contains=DELIVERY)
    assert late["id"] == ids[-2]
    await back.drain()
    assert back.message_ids() == [ids[-1], ids[-2]]


# ---------------------------------------------------------------------- two processes


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    async with two_apps(pg_url) as apps:
        yield apps


@pytest.mark.postgres
async def test_a_bus_frame_late_after_the_catch_up_on_the_other_process_comes_once(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    """The soak's case: a visitor's tab on process A asks a question; the answer is committed
    there and published on the bus, but process B's delivery of it is held while the
    visitor's other tab reconnects to B and gets the lines in its catch-up. Released, the
    bus frames reach B late: the socket there does not get them a second time, and a later
    line still comes live, once."""
    a, b = two
    bus = services_of(b).bus
    assert isinstance(bus, PgBus)
    gate = Gate()
    handlers = bus._handlers["chat"]  # the hub's bus handler on B, wrapped to hold delivery
    handlers[0] = gate.wrap(handlers[0])

    on_a = ChatClient(a)
    await on_a.connect()
    await on_a.drain()
    on_b = ChatClient(b)  # the visitor's other tab, on B before the question
    on_b.visitor = on_a.visitor
    await on_b.connect(since=on_a.since)
    await on_b.drain()
    seen_before = on_a.since

    gate.armed = True
    await on_a.say(DELIVERY)
    answer = await on_a.message("bot", "2-4 working days")  # committed and published
    sent = services_of(a).bus
    assert isinstance(sent, PgBus)
    await sent.flush()  # sent: on B, the first frame is held, the rest queued
    await asyncio.wait_for(gate.arrived.wait(), 10)

    again = ChatClient(b)  # a reconnect to B: its catch-up has the question and the answer
    again.visitor = on_a.visitor
    await again.connect(since=seen_before)
    await again.message("bot", "2-4 working days")
    gate.release()  # B's held bus frames go out now, late
    await on_a.say(RETURNS)
    for tab in (again, on_b):
        later = await tab.next(
            lambda f: f["type"] == "message" and f["sender"] == "bot" and f["id"] > answer["id"],
            within=15,
        )
        await tab.drain()
        ids = assert_once_in_order(tab.frames)
        assert answer["id"] in ids and later["id"] in ids
        assert sorted(ids) == ids
    assert on_b.message_ids() == again.message_ids()
