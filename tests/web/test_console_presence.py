"""The console socket is the agent's presence in one process: opening it writes the row,
activity frames keep it active (idle auto-away on the virtual clock otherwise), closing the
last one makes the agent absent, and a reconnect within the grace changes nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from base.clock import VirtualClock
from handoff.presence import CONSOLE
from storage.models import Agent, Presence
from tests.conftest import bearer


async def _frame(ws: ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            frame: dict[str, Any] = await ws.receive_json()
            if frame["type"] == kind:
                return frame


async def _agent(services: Services, agent_id: int) -> Agent:
    async with services.db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        return agent


async def _rows(services: Services, agent_id: int) -> list[Presence]:
    async with services.db.transaction() as session:
        found = await session.scalars(
            select(Presence).where(Presence.place == CONSOLE, Presence.key == agent_id)
        )
        return list(found)


async def test_console_socket_presence_activity_idle_and_close(
    client: TestClient[Any, Any],
    services: Services,
    clock: VirtualClock,
    agent_token: dict[str, Any],
) -> None:
    config = replace(services.handoff.config, idle_away_s=600.0, presence_grace_s=30.0)
    services.handoff.config = services.handoff.engine.config = config
    agent_id, headers = agent_token["agent_id"], bearer(agent_token["token"])
    ws = await client.ws_connect("/agent/ws", headers=headers)
    await _frame(ws, "hello")
    (row,) = await _rows(services, agent_id)
    assert row.last_active == clock.now()
    available = {"status": "available"}
    answer = await client.post("/api/v1/agent/status", json=available, headers=headers)
    assert answer.status == 200

    # Activity every 5 minutes keeps the agent available past the idle time.
    for _ in range(3):
        clock.advance(300)
        await ws.send_json({"type": "activity"})
        await ws.send_json({"type": "ping"})
        await _frame(ws, "pong")  # the activity before it is handled
        await services.presence.beat()
    (row,) = await _rows(services, agent_id)
    assert row.last_active == clock.now()
    assert (await _agent(services, agent_id)).status == "available"

    # Then nothing for the idle time: set away, told on the socket.
    clock.advance(601)
    await services.presence.beat()
    assert (await _agent(services, agent_id)).status == "away"
    notice = await _frame(ws, "notice")
    assert notice["kind"] == "idle_away" and notice["data"] == {"minutes": 10}

    # Back to available; the tab closes and comes back within the grace: nothing changes.
    await client.post("/api/v1/agent/status", json=available, headers=headers)
    await ws.close()
    async with asyncio.timeout(10):
        while (await _agent(services, agent_id)).absent_since is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert await _rows(services, agent_id) == []
    clock.advance(20)
    ws = await client.ws_connect("/agent/ws", headers=headers)
    await _frame(ws, "hello")
    assert (await _agent(services, agent_id)).absent_since is None
    clock.advance(20)
    await services.presence.beat()
    assert (await _agent(services, agent_id)).status == "available"

    # Closed for good: offline once the grace is over.
    await ws.close()
    async with asyncio.timeout(10):
        while (await _agent(services, agent_id)).absent_since is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    clock.advance(31)
    await services.presence.beat()
    assert (await _agent(services, agent_id)).status == "offline"
