"""Presence across two real Sanad processes on one PostgreSQL database: an agent whose console
is open on process A gets offers for chats on process B; closing it there sets them offline on
both after the grace; a web visitor connected to A is ``customer_online`` in a console on B."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from accounts.tokens import create_token
from app.services import Services
from handoff.agents import add_agent
from storage.models import Agent
from tests.conftest import bearer
from tests.two_processes import next_frame, services_of, two_apps
from tests.webchat_client import ChatClient

pytestmark = pytest.mark.postgres

GRACE_S = 2.0


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    async with two_apps(
        pg_url, {"SANAD_PRESENCE_GRACE_S": str(GRACE_S), "SANAD_PRESENCE_HEARTBEAT_S": "1"}
    ) as apps:
        yield apps


async def _until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.1)


async def _agent_row(services: Services, agent_id: int) -> Agent:
    async with services.db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        return agent


async def _new_agent(services: Services, name: str) -> tuple[int, dict[str, str]]:
    now = services.clock.now()
    async with services.db.transaction() as session:
        agent = await add_agent(session, name=name, at=now, capacity=2)
        _, raw = await create_token(session, name=name, role="agent", at=now, agent_id=agent.id)
    return agent.id, bearer(raw)


async def test_a_console_on_one_process_gets_offers_from_the_other_and_closing_it_goes_offline(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = two
    services_a, services_b = services_of(a), services_of(b)
    agent_id, token = await _new_agent(services_a, "Present on A")
    console = await a.ws_connect("/agent/ws", headers=token)  # open on process A only
    await next_frame(console, "hello")
    answer = await a.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    assert answer.status == 200

    async def b_knows_available() -> bool:
        state = services_b.handoff.acd.agents.get(agent_id)
        return state is not None and state.status == "available" and not state.absent

    await _until(b_knows_available)
    chat = ChatClient(b)  # the customer is on process B, which makes the offer
    await chat.connect()
    await chat.press("human")
    offer = (await next_frame(console, "offer"))["offer"]
    assert (await _agent_row(services_a, agent_id)).absent_since is None

    # The console closes (the tab is gone): the pending offer is withdrawn at once, and the
    # agent is offline on both processes after the grace.
    await console.close()

    async def absent() -> bool:
        return (await _agent_row(services_b, agent_id)).absent_since is not None

    await _until(absent, within=10)
    answer = await b.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert answer.status == 409  # withdrawn: an absent agent holds no offer

    async def offline() -> bool:
        return (await _agent_row(services_b, agent_id)).status == "offline"

    await _until(offline, within=GRACE_S + 15)

    async def both_know_offline() -> bool:
        states = [s.handoff.acd.agents.get(agent_id) for s in (services_a, services_b)]
        return all(s is not None and s.status == "offline" for s in states)

    await _until(both_know_offline)
    await chat.close()


async def test_a_console_open_elsewhere_keeps_the_agent_when_one_closes(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = two
    services_a = services_of(a)
    agent_id, token = await _new_agent(services_a, "Two tabs")
    on_a = await a.ws_connect("/agent/ws", headers=token)
    await next_frame(on_a, "hello")
    on_b = await b.ws_connect("/agent/ws", headers=token)
    await next_frame(on_b, "hello")
    await a.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    await on_a.close()
    await asyncio.sleep(GRACE_S + 3)  # real processes on real time: past the grace
    row = await _agent_row(services_a, agent_id)
    assert (row.status, row.absent_since) == ("available", None)
    await on_b.close()


async def test_customer_online_is_true_when_the_visitor_is_on_another_process(
    two: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = two
    services_a = services_of(a)
    _agent_id, token = await _new_agent(services_a, "Watcher")
    console = await b.ws_connect("/agent/ws", headers=token)  # the agent on B
    await next_frame(console, "hello")
    await b.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    chat = ChatClient(a)  # the visitor on A
    await chat.connect()
    await chat.press("human")
    offer = (await next_frame(console, "offer"))["offer"]
    accepted = await b.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert accepted.status == 200, await accepted.text()

    async def online_is(expected: bool) -> bool:
        listed = await (await b.get("/api/v1/agent/chats", headers=token)).json()
        (shown,) = [c for c in listed["chats"] if c["ticket_id"] == offer["ticket_id"]]
        return bool(shown["customer_online"] is expected)

    assert await online_is(True)  # the visitor's socket is on A, the console asks B
    await chat.close()
    await _until(lambda: online_is(False))
    await console.close()
