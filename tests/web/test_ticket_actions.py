"""Acting on tickets from the web (issue 14, point 3): the agent holding a chat and
supervisors set priority, tags, pending, hand back, close, transfer and note through
``POST /api/v1/tickets/{id}/actions``; supervisors watch a live chat and take it over. A real
aiohttp server, the real handoff engine, a real SQLite file, a web chat visitor."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from accounts.tokens import create_token
from app.services import Services
from handoff.agents import add_agent
from storage.models import Event, Note, Ticket
from tests.conftest import bearer
from tests.webchat_client import ChatClient


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _person(services: Services, name: str, role: str) -> dict[str, Any]:
    """An agent row (``role`` agent or supervisor) with a token of that role."""
    async with services.db.transaction() as session:
        agent = await add_agent(session, name=name, role=role, at=services.clock.now(), capacity=2)
        _, raw = await create_token(
            session, name=name, role=role, at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    return {"id": agent.id, "headers": bearer(raw)}


async def _served(client: TestClient[Any, Any], agent: dict[str, Any]) -> tuple[ChatClient, int]:
    """A web visitor asks for a person and ``agent`` accepts: the visitor and the ticket."""
    await client.post(
        "/api/v1/agent/status", json={"status": "available"}, headers=agent["headers"]
    )
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    await chat.message("system", "in the queue")
    me = await _json(await client.get("/api/v1/agent/me", headers=agent["headers"]))
    offer = me["offers"][0]
    await _json(
        await client.post(
            f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=agent["headers"]
        )
    )
    return chat, int(offer["ticket_id"])


async def _act(
    client: TestClient[Any, Any],
    ticket_id: int,
    who: dict[str, Any],
    status: int = 200,
    **body: Any,
) -> Any:
    response = await client.post(
        f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=who["headers"]
    )
    return await _json(response, status)


async def _ticket(services: Services, ticket_id: int) -> Ticket:
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _events(services: Services, ticket_id: int) -> list[Event]:
    async with services.db.transaction() as session:
        rows = await session.execute(
            select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id)
        )
        return list(rows.scalars())


async def test_the_agent_acts_on_the_chat_they_hold(
    client: TestClient[Any, Any], services: Services
) -> None:
    agent = await _person(services, "Huda", "agent")
    chat, ticket_id = await _served(client, agent)

    await _act(client, ticket_id, agent, action="priority", priority="high")
    assert (await _ticket(services, ticket_id)).priority == "high"
    tagged = await _act(client, ticket_id, agent, action="tag", tag="Refund")
    assert tagged["tags"] == ["refund"]
    await _act(client, ticket_id, agent, action="tag", tag="vip-order")
    untagged = await _act(client, ticket_id, agent, action="untag", tag="refund")
    assert untagged["tags"] == ["vip-order"]
    note = await _act(client, ticket_id, agent, action="note", text="asked for the invoice")
    async with services.db.transaction() as session:
        stored = await session.get(Note, note["note_id"])
        assert stored is not None and stored.text == "asked for the invoice"
    await _act(client, ticket_id, agent, action="pending")
    assert (await _ticket(services, ticket_id)).state == "pending"

    kinds = [e.kind for e in await _events(services, ticket_id)]
    for kind in ("priority_changed", "ticket_tagged", "ticket_untagged", "note_added"):
        assert kind in kinds, kinds
    pending = [e for e in await _events(services, ticket_id) if e.kind == "ticket_pending"]
    assert pending and pending[-1].actor == f"agent:{agent['id']}"

    await _act(client, ticket_id, agent, action="hand_back")
    ticket = await _ticket(services, ticket_id)
    assert ticket.state == "bot" and ticket.assignee_id is None
    await chat.message("system", "")  # the visitor is told the bot is back (a system line)
    await chat.close()


async def test_an_agent_may_not_act_on_another_agents_chat(
    client: TestClient[Any, Any], services: Services
) -> None:
    holder = await _person(services, "Huda", "agent")
    other = await _person(services, "Omar", "agent")
    chat, ticket_id = await _served(client, holder)
    for body in (
        {"action": "priority", "priority": "urgent"},
        {"action": "tag", "tag": "mine"},
        {"action": "close"},
        {"action": "hand_back"},
        {"action": "pending"},
        {"action": "note", "text": "sneaky"},
        {"action": "take_over"},
    ):
        refused = await _act(client, ticket_id, other, 403, **body)
        assert "error" in refused
    ticket = await _ticket(services, ticket_id)
    assert (ticket.state, ticket.assignee_id, ticket.priority, ticket.tags) == (
        "assigned",
        holder["id"],
        "normal",
        [],
    )
    # Watching is for supervisors.
    watch = await client.get(f"/api/v1/tickets/{ticket_id}/watch", headers=other["headers"])
    assert watch.status == 403
    await chat.close()


async def test_a_supervisor_watches_a_live_chat_and_takes_it_over(
    client: TestClient[Any, Any], services: Services
) -> None:
    agent = await _person(services, "Huda", "agent")
    boss = await _person(services, "Salma", "supervisor")
    chat, ticket_id = await _served(client, agent)
    ws = await client.ws_connect("/agent/ws", headers=agent["headers"])

    first = await _json(
        await client.get(f"/api/v1/tickets/{ticket_id}/watch", headers=boss["headers"])
    )
    assert first["assignee_id"] == agent["id"] and first["assignee_name"] == "Huda"
    after = max(m["id"] for m in first["messages"])
    await chat.say("is anyone there?")
    await chat.drain()
    later = await _json(
        await client.get(
            f"/api/v1/tickets/{ticket_id}/watch?after={after}", headers=boss["headers"]
        )
    )
    assert [m["text"] for m in later["messages"]] == ["is anyone there?"]

    await _act(client, ticket_id, boss, action="take_over")
    ticket = await _ticket(services, ticket_id)
    assert (ticket.state, ticket.assignee_id) == ("assigned", boss["id"])
    taken = [e for e in await _events(services, ticket_id) if e.kind == "ticket_taken_over"]
    assert taken and taken[0].data["from_agent"] == agent["id"]
    assert taken[0].actor == f"agent:{boss['id']}"
    # The agent who had it is told, in their console; the visitor sees who joined.
    while True:
        frame = await ws.receive_json(timeout=5.0)
        if frame["type"] == "notice" and frame["kind"] == "taken_over":
            assert frame["data"] == {"ticket_id": ticket_id, "name": "Salma"}
            break
    await chat.message("system", "Salma")
    # The chat is the supervisor's now: their console has it, the agent's does not.
    mine = await _json(await client.get("/api/v1/agent/chats", headers=boss["headers"]))
    assert [c["ticket_id"] for c in mine["chats"]] == [ticket_id]
    theirs = await _json(await client.get("/api/v1/agent/chats", headers=agent["headers"]))
    assert theirs["chats"] == []
    sent = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/messages",
        json={"text": "Hello, this is Salma"},
        headers=boss["headers"],
    )
    await _json(sent)
    await chat.message("agent", "Hello, this is Salma")
    # Taking over twice is a conflict, not a second assignment.
    again = await _act(client, ticket_id, boss, 409, action="take_over")
    assert "already yours" in again["error"]
    await ws.close()
    await chat.close()


async def test_a_supervisor_reassigns_and_closes_any_chat(
    client: TestClient[Any, Any], services: Services, tokens: dict[str, str]
) -> None:
    agent = await _person(services, "Huda", "agent")
    other = await _person(services, "Omar", "agent")
    boss = await _person(services, "Salma", "supervisor")
    await client.post(
        "/api/v1/agent/status", json={"status": "available"}, headers=other["headers"]
    )
    chat, ticket_id = await _served(client, agent)
    if (await _ticket(services, ticket_id)).assignee_id != agent["id"]:
        raise AssertionError("the first agent should hold the chat")

    await _act(client, ticket_id, boss, action="transfer", agent_id=other["id"])
    me = await _json(await client.get("/api/v1/agent/me", headers=other["headers"]))
    assert [o["ticket_id"] for o in me["offers"]] == [ticket_id]
    moved = [e for e in await _events(services, ticket_id) if e.kind == "ticket_transferred"]
    assert moved[-1].data["from_agent"] == agent["id"] and moved[-1].data["to_agent"] == other["id"]
    await _json(
        await client.post(
            f"/api/v1/agent/offers/{me['offers'][0]['offer_id']}/accept", headers=other["headers"]
        )
    )
    # A supervisor's token with no agent account acts as the program: it may close...
    admin = {"headers": bearer(tokens["supervisor"])}
    await _act(client, ticket_id, admin, action="priority", priority="urgent")
    await _act(client, ticket_id, admin, action="close")
    ticket = await _ticket(services, ticket_id)
    assert (ticket.state, ticket.priority) == ("resolved", "urgent")
    # ... but taking over needs a person to give the chat to.
    bad = await _act(client, ticket_id, admin, 400, action="take_over")
    assert "agent account" in bad["error"]
    # Asking for a field an action needs is a clear 400; unknown actions too.
    assert "priority" in (await _act(client, ticket_id, boss, 400, action="priority"))["error"]
    await _act(client, ticket_id, boss, 400, action="dance")
    await chat.close()


async def test_the_ticket_page_offers_the_actions_to_who_may_use_them(
    client: TestClient[Any, Any], services: Services
) -> None:
    agent = await _person(services, "Huda", "agent")
    other = await _person(services, "Omar", "agent")
    boss = await _person(services, "Salma", "supervisor")
    chat, ticket_id = await _served(client, agent)

    async def page(who: dict[str, Any]) -> tuple[int, str]:
        response = await client.get(f"/tickets/{ticket_id}", headers=who["headers"])
        return response.status, await response.text()

    status, html = await page(boss)
    assert status == 200
    assert 'id="ticket-actions"' in html and 'data-action="take_over"' in html
    assert 'data-watch="' in html and 'data-action="transfer"' in html
    status, html = await page(agent)
    assert status == 200 and 'id="ticket-actions"' in html
    assert 'data-action="take_over"' not in html and 'data-watch="' not in html
    status, _ = await page(other)  # never assigned: the page is not theirs to see
    assert status == 404
    await chat.close()


async def test_the_actions_are_in_the_openapi_document(
    client: TestClient[Any, Any], tokens: dict[str, str]
) -> None:
    document = await _json(
        await client.get("/api/v1/openapi.json", headers=bearer(tokens["supervisor"]))
    )
    post = document["paths"]["/api/v1/tickets/{ticket_id}/actions"]["post"]
    assert "403" in post["responses"] and "409" in post["responses"]
    schema = document["components"]["schemas"]["TicketActionIn"]
    assert "take_over" in schema["properties"]["action"]["enum"]
    assert "/api/v1/tickets/{ticket_id}/watch" in document["paths"]
