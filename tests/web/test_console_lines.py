"""An agent's lines sent over the console's socket (``say``), as the console page sends them:
a real aiohttp server, the real handoff engine, SQLite and PostgreSQL, a web customer on the
chat socket. What the ``POST`` of a line does, the socket does: the line reaches the customer
once, the same ``client_id`` twice sends it once, a bad or foreign line is refused with the
reason; and the credential that opened the socket is checked again before a line once it is
10 s old."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from accounts.tokens import revoke_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from storage.models import ApiToken, Message
from tests.conftest import bearer
from tests.webchat_client import ChatClient


@pytest.fixture
async def services(any_db_url: str, clock: VirtualClock) -> AsyncIterator[Services]:
    """Services on each backend (the suite's default is SQLite only): a line's frame is built
    from the notice, and must match what each database gives back."""
    svc = Services.create(load_settings(env={"SANAD_DATABASE_URL": any_db_url}), clock)
    await svc.start()
    await svc.faq.wait_idle()
    yield svc
    await svc.close()


async def _frame(ws: ClientWebSocketResponse, *kinds: str) -> dict[str, Any]:
    """The next frame of one of ``kinds`` (others, such as pushes, are skipped)."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=5.0)
        if frame["type"] in kinds:
            return frame


async def _live_chat(
    client: TestClient[Any, Any], token: dict[str, str]
) -> tuple[ChatClient, ClientWebSocketResponse, int]:
    """A web visitor asks for a person and the agent, console socket open, accepts: the
    visitor, the agent's socket and the ticket id."""
    console = await client.ws_connect("/agent/ws", headers=token)
    await _frame(console, "hello")
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    offer = (await _frame(console, "offer"))["offer"]
    accepted = await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert accepted.status == 200, await accepted.text()
    await chat.message("system", "has joined")
    return chat, console, int(offer["ticket_id"])


async def _stored(services: Services, client_id: str) -> int:
    async with services.db.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(Message).where(Message.client_id == client_id)
        )
    return int(count or 0)


async def test_a_line_over_the_socket_reaches_the_customer_once(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    chat, console, ticket_id = await _live_chat(client, bearer(agent_token["token"]))
    line = {"type": "say", "ticket_id": ticket_id, "text": "Hello, how can I help?"}
    await console.send_json({**line, "client_id": "line-1"})
    said = await _frame(console, "said", "refused", "error")
    assert said["type"] == "said", said
    assert (said["client_id"], said["ticket_id"]) == ("line-1", ticket_id)
    assert said["message"]["text"] == "Hello, how can I help?"
    assert said["message"]["sender"] == "agent"
    got = await chat.message("agent", "how can I help")
    assert got["id"] == said["message"]["id"]

    # The page got no answer (say) and sends it again, over the socket and then posted:
    # the same line, kept and delivered once.
    await console.send_json({**line, "client_id": "line-1"})
    again = await _frame(console, "said", "refused", "error")
    assert again["message"]["id"] == said["message"]["id"]
    posted = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/messages",
        json={"text": line["text"], "client_id": "line-1"},
        headers=bearer(agent_token["token"]),
    )
    assert (await posted.json())["message"]["id"] == said["message"]["id"]
    assert await _stored(services, "line-1") == 1
    await chat.drain()
    assert chat.message_ids().count(said["message"]["id"]) == 1

    # Lines of one socket go in the order sent.
    for k in range(5):
        await console.send_json({**line, "text": f"part {k}", "client_id": f"part-{k}"})
    for k in range(5):
        assert (await chat.message("agent"))["text"] == f"part {k}"
    await console.close()


async def test_a_line_that_cannot_be_sent_is_refused_with_the_reason(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    chat, console, ticket_id = await _live_chat(client, bearer(agent_token["token"]))

    async def answer(frame: dict[str, Any] | str) -> dict[str, Any]:
        await console.send_str(frame if isinstance(frame, str) else json.dumps(frame))
        return await _frame(console, "said", "refused", "error")

    say = {"type": "say", "ticket_id": ticket_id, "client_id": "x1"}
    empty = await answer({**say, "text": "   "})
    assert (empty["type"], empty["status"], empty["client_id"]) == ("refused", 400, "x1")
    assert "needs some text" in empty["message"]
    long = await answer({**say, "text": "a" * 4097})
    assert long["status"] == 400 and "4096" in long["message"]
    foreign = await answer({**say, "ticket_id": ticket_id + 1000, "text": "hi"})
    assert (foreign["type"], foreign["status"]) == ("refused", 409)
    assert "no ticket" in foreign["message"]
    odd = await answer({**say, "ticket_id": "seven", "text": "hi"})
    assert (odd["type"], odd["status"]) == ("refused", 400)
    huge = await answer({**say, "ticket_id": 2**64, "text": "hi"})
    assert huge["type"] == "error" and "out of range" in huge["message"]
    negative = await answer({**say, "ticket_id": -3, "text": "hi"})
    assert (negative["type"], negative["status"]) == ("refused", 400)
    no_id = await answer({"type": "say", "ticket_id": ticket_id, "text": "hi"})
    assert no_id["type"] == "error" and "client_id" in no_id["message"]
    assert (await answer("not json"))["type"] == "error"
    assert "JSON object" in (await answer("[1, 2]"))["message"]
    unknown = await answer({"type": "dance"})
    assert unknown["type"] == "error" and "say" in unknown["message"]
    nul = await answer({**say, "text": "a\u0000b"})
    assert nul["type"] == "error" and "NUL" in nul["message"]

    # Nothing of that was stored or sent; the socket still works.
    assert await _stored(services, "x1") == 0
    await console.send_json({**say, "client_id": "x2", "text": "still here"})
    assert (await _frame(console, "said"))["message"]["text"] == "still here"
    await chat.message("agent", "still here")

    # A chat that is no longer the agent's: refused, as the POST would be.
    closed = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/close", headers=bearer(agent_token["token"])
    )
    assert closed.status == 200
    late = await answer({**say, "client_id": "x3", "text": "one more"})
    assert (late["type"], late["status"]) == ("refused", 409)
    assert await _stored(services, "x3") == 0


async def test_a_revoked_token_stops_the_socket_s_lines_within_ten_seconds(
    client: TestClient[Any, Any],
    services: Services,
    clock: VirtualClock,
    agent_token: dict[str, Any],
) -> None:
    chat, console, ticket_id = await _live_chat(client, bearer(agent_token["token"]))
    async with services.db.transaction() as session:
        token_id = await session.scalar(
            select(ApiToken.id).where(ApiToken.agent_id == agent_token["agent_id"])
        )
        assert token_id is not None
        assert await revoke_token(session, token_id, clock.now())
    say = {"type": "say", "ticket_id": ticket_id}
    # Checked less than 10 s ago: this line still goes (the documented bound).
    clock.advance(5)
    await console.send_json({**say, "client_id": "r1", "text": "just before"})
    assert (await _frame(console, "said"))["message"]["text"] == "just before"
    # Later, the check runs again: the socket is told and closed, the line not sent.
    clock.advance(6)
    await console.send_json({**say, "client_id": "r2", "text": "after revoking"})
    told = await _frame(console, "error")
    assert "log in again" in told["message"]
    closing = await console.receive(timeout=5.0)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert console.close_code == 4401
    assert await _stored(services, "r2") == 0
    await chat.message("agent", "just before")
    # And a new socket with that token is refused outright.
    refused = await client.get("/api/v1/agent/me", headers=bearer(agent_token["token"]))
    assert refused.status == 401


async def test_a_still_valid_token_is_checked_again_and_lines_go_on(
    client: TestClient[Any, Any],
    services: Services,
    clock: VirtualClock,
    agent_token: dict[str, Any],
) -> None:
    chat, console, ticket_id = await _live_chat(client, bearer(agent_token["token"]))
    for k in range(3):
        clock.advance(11)  # every line after a re-check
        await console.send_json(
            {"type": "say", "ticket_id": ticket_id, "client_id": f"v{k}", "text": f"line {k}"}
        )
        assert (await _frame(console, "said", "error"))["type"] == "said"
        await chat.message("agent", f"line {k}")


async def test_the_live_frame_of_an_agent_line_is_the_one_read_back_from_the_transcript(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    """The customer's frame of an agent's line is built from the notice (no read on the way);
    it must be the frame a reconnecting page reads from the transcript, field for field."""
    token = bearer(agent_token["token"])
    chat, console, ticket_id = await _live_chat(client, token)
    await console.send_json(
        {"type": "say", "ticket_id": ticket_id, "text": "مرحبا، كيف أساعدك؟", "client_id": "s1"}
    )
    posted = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/messages",
        json={"text": "And posted", "client_id": "p1"},
        headers=token,
    )
    assert posted.status == 200
    live = [await chat.message("agent", "كيف"), await chat.message("agent", "posted")]
    assert all(f["agent"] == "Web Agent" for f in live)
    first = min(f["id"] for f in live)
    await chat.close()
    await chat.connect(since=first - 1)
    read_back = [await chat.message("agent", "كيف"), await chat.message("agent", "posted")]
    assert read_back == live


async def test_the_console_s_live_frames_are_the_lines_read_back_from_the_transcript(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    """The console's pushes of a chat's lines (the agent's own and the customer's) are built
    from the lines their notices carry, without a read: they must be what the chat's
    transcript gives, field for field."""
    token = bearer(agent_token["token"])
    chat, console, ticket_id = await _live_chat(client, token)
    await console.send_json(
        {"type": "say", "ticket_id": ticket_id, "text": "Which order?", "client_id": "o1"}
    )
    mine = await _frame(console, "message")
    said = await _frame(console, "said")
    await chat.say("طلب رقم ١٠٤٢")
    theirs = await _frame(console, "message")
    assert (mine["message"]["sender"], theirs["message"]["sender"]) == ("agent", "customer")
    detail = await client.get(f"/api/v1/agent/chats/{ticket_id}", headers=token)
    stored = {m["id"]: m for m in (await detail.json())["messages"]}
    for pushed in (mine, theirs):
        assert pushed["ticket_id"] == ticket_id
        assert pushed["message"] == stored[pushed["message"]["id"]]
    assert said["message"] == mine["message"]
