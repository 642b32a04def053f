"""Two Sanad processes on one PostgreSQL database serve one team, whichever process each person
reaches: here two full web apps (each its own Services, handoff engine and bus) on one database,
the customer on one, the agent's console on the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from accounts.tokens import create_token
from app.services import Services
from handoff.agents import add_agent
from tests.conftest import bearer
from tests.two_processes import next_frame, services_of, two_apps
from tests.webchat_client import ChatClient

pytestmark = pytest.mark.postgres


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    async with two_apps(pg_url) as apps:
        yield apps


async def _agent_knows(services: Services, agent_id: int, status: str) -> None:
    """Until this process's dispatcher sees the agent with ``status`` (changed elsewhere)."""
    async with asyncio.timeout(15):
        while True:
            state = services.handoff.acd.agents.get(agent_id)
            if state is not None and state.status == status:
                return
            await asyncio.sleep(0.05)


async def test_an_offer_made_on_one_process_reaches_the_console_on_the_other(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = two
    services_a = services_of(a)
    now = services_a.clock.now()
    async with services_a.db.transaction() as session:
        agent = await add_agent(session, name="Far Agent", at=now, capacity=2)
        _, raw = await create_token(session, name="far", role="agent", at=now, agent_id=agent.id)
    token = bearer(raw)
    console = await b.ws_connect("/agent/ws", headers=token)  # the agent works on process B
    await next_frame(console, "hello")
    answer = await b.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    assert answer.status == 200
    await _agent_knows(services_a, agent.id, "available")

    chat = ChatClient(a)  # the customer is on process A, which makes the offer
    await chat.connect()
    await chat.press("human")
    offer = (await next_frame(console, "offer"))["offer"]
    accepted = await b.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert accepted.status == 200, await accepted.text()
    await next_frame(console, "chats")  # the console's list changed: the chat is the agent's
    await chat.message("system", "joined")  # said by B, shown by A

    ticket_id = offer["ticket_id"]
    line = {"text": "Hello from the other process", "client_id": "x1"}
    sent = await b.post(f"/api/v1/agent/chats/{ticket_id}/messages", json=line, headers=token)
    assert sent.status == 200, await sent.text()
    await chat.message("agent", "Hello from the other process")
    await chat.say("thanks, it works")
    heard = await next_frame(console, "message")  # first the agent's own line, as sent
    assert heard["message"]["sender"] == "agent"
    heard = await next_frame(console, "message")  # then the customer's, said on A
    assert heard["ticket_id"] == ticket_id and heard["message"]["text"] == "thanks, it works"
    closed = await b.post(f"/api/v1/agent/chats/{ticket_id}/close", headers=token)
    assert closed.status == 200
    await chat.next(lambda f: f["type"] == "state" and f["ticket"]["state"] == "resolved")
    await console.close()
    await chat.close()


async def test_an_agent_available_on_one_process_is_known_at_once_on_the_other(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    """Told over the bus, not found at the next poll: the second process's dispatcher knows of
    the change well before its resync interval."""
    a, b = two
    services_a, services_b = services_of(a), services_of(b)
    now = services_a.clock.now()
    async with services_a.db.transaction() as session:
        agent = await add_agent(session, name="Quick", at=now, capacity=1)
    services_a.handoff.config = replace(services_a.handoff.config, sync_interval_s=3600.0)
    services_a.handoff.engine.config = services_a.handoff.config
    await services_b.handoff.set_agent_status(agent.id, "available")
    await _agent_knows(services_a, agent.id, "available")  # within 15 s, polling every hour


async def test_two_idle_processes_stay_idle(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    """Telling each other of changes must not become a conversation: a timer tick that
    changed nothing is not announced (it was: each tick woke the other process, whose tick
    woke the first, for ever)."""
    a, b = two
    services_a, services_b = services_of(a), services_of(b)
    await services_a.handoff.set_agent_status(
        await _agent(services_a), "available"
    )  # one real change, told once
    await asyncio.sleep(0.5)
    before = services_a.handoff.wakeups + services_b.handoff.wakeups
    await asyncio.sleep(1.5)
    woke = services_a.handoff.wakeups + services_b.handoff.wakeups - before
    assert woke <= 2  # at most the poll interval's own wake-ups (2 s on PostgreSQL)


async def _agent(services: Services) -> int:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Idle", at=services.clock.now(), capacity=1)
    return agent.id
