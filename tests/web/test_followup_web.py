"""The follow-up after resolve in the web chat: the real aiohttp server on loopback, a real
WebSocket, the services on a virtual clock."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from base.clock import VirtualClock
from storage.models import Customer, Event, Ticket
from tests.conftest import bearer
from tests.webchat_client import ChatClient

DAY = 24 * 3600.0


async def _served(client: TestClient[Any, Any], token: dict[str, str], chat: ChatClient) -> int:
    """The visitor asks for a person; the console agent accepts and closes the chat."""
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    await chat.say("I want to talk to a person")
    await chat.message("system")  # the place in the queue
    me = await (await client.get("/api/v1/agent/me", headers=token)).json()
    offer = me["offers"][0]
    await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    await client.post(f"/api/v1/agent/chats/{offer['ticket_id']}/close", headers=token)
    await chat.next(
        lambda f: f["type"] == "message" and f["buttons"][:1] != [] and "rate:" in str(f)
    )
    return int(offer["ticket_id"])


async def _later(services: Services, seconds: float) -> None:
    assert isinstance(services.clock, VirtualClock)
    services.clock.advance(seconds)
    await services.handoff.tick()
    await services.handoff.settled()


async def _kinds(services: Services, ticket_id: int) -> list[str]:
    async with services.db.transaction() as session:
        return list(
            (
                await session.execute(
                    select(Event.kind).where(Event.ticket_id == ticket_id).order_by(Event.id)
                )
            )
            .scalars()
            .all()
        )


async def test_online_visitor_is_asked_after_a_day_and_yes_is_recorded(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    token = bearer(agent_token["token"])
    chat = ChatClient(client)
    await chat.connect(time_zone="Europe/London")
    ticket_id = await _served(client, token, chat)
    async with services.db.transaction() as session:
        (customer,) = (
            (await session.execute(select(Customer).where(Customer.channel == "web")))
            .scalars()
            .all()
        )
        assert customer.time_zone == "Europe/London"
    await _later(services, DAY - 60)
    await chat.drain()
    assert not [f for f in chat.frames if "still solved" in f.get("text", "")]
    await _later(services, 60)
    question = await chat.message("system", "Is your problem still solved?")
    datas = [b["data"] for row in question["buttons"] for b in row]
    assert datas == [f"fu:{ticket_id}:0:y", f"fu:{ticket_id}:0:n", f"fu:{ticket_id}:0:x"]
    await chat.press(datas[0], question["id"])
    choice = await chat.message("customer")
    assert choice["text"] == "Yes, it's solved"
    update = await chat.next(lambda f: f["type"] == "update" and f["id"] == question["id"])
    assert update["buttons"] == []
    await chat.message("bot", "thank you for letting us know")
    assert "followup_confirmed" in await _kinds(services, ticket_id)
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.followup_state == "confirmed"
        assert ticket.state == "resolved"


async def test_offline_visitor_finds_the_question_on_return_and_no_reopens(
    client: TestClient[Any, Any],
    services: Services,
    agent_token: dict[str, Any],
    tokens: dict[str, str],
) -> None:
    token = bearer(agent_token["token"])
    chat = ChatClient(client, lang="ar")
    await chat.connect()
    ticket_id = await _served(client, token, chat)
    await chat.close()
    await _later(services, DAY)
    back = ChatClient(client, lang="ar")
    back.visitor = chat.visitor
    await back.connect(since=chat.since)
    question = await back.message("system", "هل ما زالت مشكلتك محلولة؟")
    labels = [b["label"] for row in question["buttons"] for b in row]
    assert labels == ["نعم، محلولة", "لا، ما زلت أحتاج مساعدة", "لا تسألني مجدداً"]
    await back.press(question["buttons"][0][1]["data"], question["id"])
    await back.message("system", f"أعدت فتح التذكرة رقم {ticket_id}")
    me = await (await client.get("/api/v1/agent/me", headers=token)).json()
    [offer] = me["offers"]
    assert offer["ticket_id"] == ticket_id and offer["priority"] == "high"
    kinds = await _kinds(services, ticket_id)
    assert "followup_sent" in kinds and "followup_reopened" in kinds
    # The KPI API and the dashboard count it (reopened 1 of 1, credited to the agent).
    response = await client.get(
        "/api/v1/reports/kpis?period=7d", headers=bearer(tokens["supervisor"])
    )
    assert response.status == 200
    followup = (await response.json())["followup"]
    assert (followup["sent"], followup["confirmed"], followup["reopened"]) == (1, 0, 1)
    assert followup["confirmed_rate"] == 0.0 and followup["reopen_rate"] == 1.0
    assert followup["by_agent"][str(agent_token["agent_id"])]["reopened"] == 1
    agents = await client.get(
        "/api/v1/reports/agents?period=7d", headers=bearer(tokens["supervisor"])
    )
    [row] = [r for r in (await agents.json())["items"] if r["agent_id"] == agent_token["agent_id"]]
    assert row["followup_reopen_rate"] == 1.0
    login = await client.post("/login", data={"token": tokens["supervisor"]}, allow_redirects=False)
    assert login.status == 302
    page = await (await client.get("/dashboard?period=7d")).text()
    card = re.search(r'id="kpi-followup-reopened".*?<bdi dir="ltr">([^<]*)</bdi>', page, re.S)
    assert card is not None and "100" in card.group(1)
    assert "Confirmed solved (follow-up)" in page and "Reopened after follow-up" in page
    arabic = await (await client.get("/dashboard?period=7d&lang=ar")).text()
    assert "تأكيد الحل (المتابعة)" in arabic
