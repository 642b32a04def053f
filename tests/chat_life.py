"""The whole life of a web chat through the real app, for tests and benchmarks that look at
what it costs (the query plans on SQLite in tests/storage/test_query_plans.py, on PostgreSQL in
bench/query_plans.py)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from app.services import Services
from base.clock import VirtualClock
from tests.webchat_client import ChatClient


async def live_a_chat(
    services: Services, client: TestClient[Any, Any], agent_headers: dict[str, str]
) -> None:
    """A question, a resend, a handoff, the console's accept and replies (and a retry), the
    transcript and chat list, close, rating with a comment, a reconnect, then the timers, the
    follow-up after resolve answered "No" (three days later on a virtual clock), the sweep and a
    restore."""
    token = agent_headers
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    chat = ChatClient(client)
    await chat.connect()
    asked = await chat.say("how long does delivery take?")
    await chat.message("bot")
    await chat.say("how long does delivery take?", client_id=asked)  # a resend
    await chat.ack(asked)
    await chat.say("I want to talk to a person")
    await chat.message("system", "in the queue")
    me = await (await client.get("/api/v1/agent/me", headers=token)).json()
    offer = me["offers"][0]
    await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    ticket_id = offer["ticket_id"]
    for _ in range(2):  # the second is a retry of the first
        await client.post(
            f"/api/v1/agent/chats/{ticket_id}/messages",
            json={"text": "Hello, how can I help?", "client_id": "a-1"},
            headers=token,
        )
    await chat.message("agent")
    await chat.say("my order is late")
    await client.get(f"/api/v1/agent/chats/{ticket_id}", headers=token)
    await client.get("/api/v1/agent/chats", headers=token)
    await client.post(f"/api/v1/agent/chats/{ticket_id}/close", headers=token)
    rate = await chat.message("system", "rate")
    await chat.press(rate["buttons"][0][4]["data"], rate["id"])
    await chat.next(lambda f: f["type"] == "update")
    await chat.say("quick, thanks")
    await chat.message("bot")
    await chat.close()
    again = ChatClient(client)
    again.visitor = chat.visitor
    await again.connect(since=1)  # a reconnect: what was missed comes again
    await again.close()
    if isinstance(services.clock, VirtualClock):  # on real time (a benchmark) no skip ahead
        services.clock.advance(3 * 24 * 3600)
    await services.handoff.tick()  # on a virtual clock, the follow-up after resolve is due
    if isinstance(services.clock, VirtualClock):
        back = ChatClient(client)
        back.visitor = chat.visitor
        await back.connect(since=1, time_zone="Asia/Riyadh")
        question = await back.message("system", "still solved")
        await back.press(question["buttons"][0][1]["data"], question["id"])  # No: reopened
        await back.message("system", "reopened")
        await back.close()
    await services.handoff.sweep()
    await services.handoff.resync()
