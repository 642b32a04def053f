"""The agent console's API and push socket, with web and Telegram customers: a real aiohttp
server, the real handoff engine, a real SQLite file; Telegram through the fake Bot API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, select

from accounts.sessions import create_login_link
from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from bot.app import build_application, start_application, stop_application
from handoff.agents import add_agent
from handoff.canned import add_canned
from storage.models import Agent, Message, Note, Rating, Ticket
from tests.conftest import bearer
from tests.fakes.bot_api import FakeBotApi
from tests.webchat_client import ChatClient
from web.app import create_app


async def _push(ws: ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next frame of ``kind`` on the console's push socket (others are skipped)."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=5.0)
        if frame["type"] == kind:
            return frame


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _accepted_web_chat(
    client: TestClient[Any, Any], token: dict[str, str]
) -> tuple[ChatClient, dict[str, Any]]:
    """The agent goes available, a web visitor asks for a person, the agent accepts: the
    visitor and the accepted offer."""
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    await chat.message("system", "in the queue")
    me = await _json(await client.get("/api/v1/agent/me", headers=token))
    offer: dict[str, Any] = me["offers"][0]
    await _json(
        await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    )
    return chat, offer


async def test_the_console_needs_an_agent(
    client: TestClient[Any, Any], tokens: dict[str, str], agent_token: dict[str, Any]
) -> None:
    assert (await client.get("/api/v1/agent/me")).status == 401
    refused = await client.get("/api/v1/agent/me", headers=bearer(tokens["admin"]))
    assert refused.status == 403
    assert "agent's token" in (await refused.json())["error"]
    me = await _json(await client.get("/api/v1/agent/me", headers=bearer(agent_token["token"])))
    assert me["agent"]["name"] == "Web Agent" and me["offers"] == [] and me["chats"] == []
    # An agent token opens nothing else.
    dashboard = await client.get("/api/v1/reports/kpis", headers=bearer(agent_token["token"]))
    assert dashboard.status in (403, 404)
    bad = await client.post(
        "/api/v1/agent/status", json={"status": "dancing"}, headers=bearer(agent_token["token"])
    )
    assert bad.status == 400 and "available" in (await bad.json())["error"]


async def test_web_customer_served_from_the_console_end_to_end(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    token = bearer(agent_token["token"])
    async with services.db.transaction() as session:
        await add_canned(
            session, "thanks", "Thank you {name}, anything else?", services.clock.now()
        )
        other = await add_agent(session, name="Other", at=services.clock.now())
    await services.handoff.resync()
    push = await client.ws_connect("/agent/ws", headers=token)
    assert (await _push(push, "hello"))["agent"]["id"] == agent_token["agent_id"]
    online = await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    assert (await _json(online))["agent"]["status"] == "available"

    chat = ChatClient(client)
    await chat.connect()
    await chat.say("I want to talk to a person")
    await chat.message("system", "in the queue")
    offer = (await _push(push, "offer"))["offer"]
    assert offer["customer_name"].startswith("Web visitor")
    assert offer["last_messages"] == ["I want to talk to a person"]
    assert 0 < offer["seconds_left"] <= services.settings.offer_timeout_s
    me = await _json(await client.get("/api/v1/agent/me", headers=token))
    assert [o["offer_id"] for o in me["offers"]] == [offer["offer_id"]]

    accepted = await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert (await _json(accepted))["ticket_id"] == offer["ticket_id"]
    ended = await _push(push, "offer_ended")
    assert (ended["offer_id"], ended["reason"]) == (offer["offer_id"], "accepted")
    await _push(push, "chats")
    again = await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    assert again.status == 409
    await chat.message("system", "Web Agent has joined")
    ticket_id = offer["ticket_id"]
    listed = (await _json(await client.get("/api/v1/agent/chats", headers=token)))["chats"]
    assert [(c["ticket_id"], c["channel"], c["state"]) for c in listed] == [
        (ticket_id, "web", "assigned")
    ]

    # Both ways, live.
    sent = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/messages",
        json={"text": "Hello, how can I help?", "client_id": "a-1"},
        headers=token,
    )
    message = (await _json(sent))["message"]
    assert (message["sender"], message["agent"]) == ("agent", "Web Agent")
    assert (await chat.message("agent"))["text"] == "Hello, how can I help?"
    echoed = await _push(push, "message")  # the agent's other tabs see it too
    assert echoed["message"]["id"] == message["id"]
    resent = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/messages",
        json={"text": "Hello, how can I help?", "client_id": "a-1"},
        headers=token,
    )
    assert (await _json(resent))["message"]["id"] == message["id"]  # a retry sends once
    await chat.say("My order 1234 is late")
    live = await _push(push, "message")
    assert (live["ticket_id"], live["message"]["sender"]) == (ticket_id, "customer")
    assert live["message"]["text"] == "My order 1234 is late"

    # Note (never for the customer), canned reply, the whole transcript.
    note = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/notes", json={"text": "VIP, be kind"}, headers=token
    )
    assert (await _json(note))["note"]["text"] == "VIP, be kind"
    filled = await client.get(f"/api/v1/agent/chats/{ticket_id}/canned/thanks", headers=token)
    # Filled for editing, not sent; the visitor gave no name: no "Web visitor 1a2b".
    assert (await _json(filled))["text"] == "Thank you, anything else?"
    missing = await client.get(f"/api/v1/agent/chats/{ticket_id}/canned/nope", headers=token)
    assert missing.status == 404
    canned = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/canned", json={"shortcut": "thanks"}, headers=token
    )
    assert (await _json(canned))["message"]["text"] == "Thank you, anything else?"
    await chat.message("agent", "anything else?")
    view = await _json(await client.get(f"/api/v1/agent/chats/{ticket_id}", headers=token))
    lines = [(m["sender"], m["text"][:20]) for m in view["messages"]]
    assert lines[-3:] == [
        ("agent", "Hello, how can I hel"),
        ("customer", "My order 1234 is lat"),
        ("agent", "Thank you, anything "),
    ]
    assert [n["text"] for n in view["notes"]] == ["VIP, be kind"]
    assert all("VIP" not in f.get("text", "") for f in chat.frames)
    targets_url = f"/api/v1/agent/transfer-targets?ticket_id={ticket_id}"
    targets = await _json(await client.get(targets_url, headers=token))
    assert targets["agents"] == []  # Other is offline: nobody could take the chat
    await services.handoff.set_agent_status(other.id, "available")
    targets = await _json(await client.get(targets_url, headers=token))
    assert [a["id"] for a in targets["agents"]] == [other.id]
    assert (await client.get("/api/v1/agent/transfer-targets", headers=token)).status == 400
    assert (await client.get("/api/v1/agent/chats/99999", headers=token)).status == 404

    # Close; the customer rates.
    closed = await client.post(f"/api/v1/agent/chats/{ticket_id}/close", headers=token)
    assert (await _json(closed))["ok"] is True
    rate = await chat.message("system", "rate")
    assert [b["label"] for b in rate["buttons"][0]] == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
    await chat.press(rate["buttons"][0][4]["data"], rate["id"])
    update = await chat.next(lambda f: f["type"] == "update")
    assert "5" in update["text"] and update["buttons"][0][0]["data"].startswith("rsk:")
    await chat.say("Very quick, thanks")
    await chat.message("bot", "Thanks for your feedback")
    async with services.db.transaction() as session:
        rating = (await session.execute(select(Rating))).scalar_one()
        ticket = await session.get(Ticket, ticket_id)
        notes = (await session.execute(select(Note))).scalars().all()
    assert (rating.stars, rating.agent_id, rating.comment) == (
        5,
        agent_token["agent_id"],
        "Very quick, thanks",
    )
    assert ticket is not None and (ticket.state, ticket.resolution) == ("resolved", "agent")
    assert ticket.first_agent_reply_at is not None and len(notes) == 1
    await push.close()


async def test_decline_and_transfer_from_the_console(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    async with services.db.transaction() as session:
        other = await add_agent(session, name="Other", at=services.clock.now())
        _, other_raw = await create_token(
            session, name="other", role="agent", at=services.clock.now(), agent_id=other.id
        )
    await services.handoff.resync()
    for raw in (agent_token["token"], other_raw):
        await client.post("/api/v1/agent/status", json={"status": "available"}, headers=bearer(raw))
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    await chat.message("system", "in the queue")

    async def offer_of(raw: str) -> dict[str, Any] | None:
        me = await _json(await client.get("/api/v1/agent/me", headers=bearer(raw)))
        return me["offers"][0] if me["offers"] else None

    first = await offer_of(agent_token["token"]) or await offer_of(other_raw)
    assert first is not None
    holder = agent_token["token"] if await offer_of(agent_token["token"]) else other_raw
    second_raw = other_raw if holder == agent_token["token"] else agent_token["token"]
    declined = await client.post(
        f"/api/v1/agent/offers/{first['offer_id']}/decline", headers=bearer(holder)
    )
    await _json(declined)
    moved = await offer_of(second_raw)
    assert moved is not None and moved["ticket_id"] == first["ticket_id"]
    await client.post(
        f"/api/v1/agent/offers/{moved['offer_id']}/accept", headers=bearer(second_raw)
    )
    back_id = agent_token["agent_id"] if second_raw == other_raw else other.id
    transfer = await client.post(
        f"/api/v1/agent/chats/{moved['ticket_id']}/transfer",
        json={"agent_id": back_id},
        headers=bearer(second_raw),
    )
    await _json(transfer)
    offered = await offer_of(holder)
    assert offered is not None and offered["ticket_id"] == moved["ticket_id"]
    await chat.message("system", "passing you to a colleague")


async def test_the_console_transfers_only_to_who_can_take_the_chat(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    """Issue 10, finding 1: an "orders" chat cannot go to an available agent who handles only
    billing and delivery (it would wait for ever); the console lists only who can take it and
    the core refuses the rest with the reason."""
    token = bearer(agent_token["token"])
    async with services.db.transaction() as session:
        bill = await add_agent(
            session, name="Bill", at=services.clock.now(), skills=["billing", "delivery"]
        )
        olga = await add_agent(session, name="Olga", at=services.clock.now(), skills=["orders"])
    await services.handoff.resync()
    _chat, offer = await _accepted_web_chat(client, token)
    ticket_id = offer["ticket_id"]
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.category = "orders"
    for agent in (bill, olga):
        await services.handoff.set_agent_status(agent.id, "available")
    targets = await _json(
        await client.get(f"/api/v1/agent/transfer-targets?ticket_id={ticket_id}", headers=token)
    )
    assert [a["name"] for a in targets["agents"]] == ["Olga"]
    refused = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/transfer", json={"agent_id": bill.id}, headers=token
    )
    assert refused.status == 409
    assert "Bill does not handle 'orders'" in (await refused.json())["error"]
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.assignee_id == agent_token["agent_id"]
    moved = await client.post(
        f"/api/v1/agent/chats/{ticket_id}/transfer", json={"agent_id": olga.id}, headers=token
    )
    await _json(moved)
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state == "offered"


async def test_login_link_works_once(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    async with services.db.transaction() as session:
        key = await create_login_link(session, agent_token["agent_id"], services.clock.now())
    page = await client.get(f"/agent/login?key={key}", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/agent"
    console = await client.get("/agent")
    assert console.status == 200 and "Web Agent" in await console.text()
    client.session.cookie_jar.clear()
    reused = await client.get(f"/agent/login?key={key}", allow_redirects=False)
    assert reused.status == 401 and "used already or has expired" in await reused.text()


@pytest.fixture
async def telegram_and_web(tmp_path: Path) -> Any:
    """Sanad with the Telegram bot (polling the fake Bot API) and its web app, sharing one
    process and one database, as ``sanad run`` does."""
    fake = FakeBotApi()
    await fake.start()
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'mixed.db'}",
            "SANAD_TELEGRAM_TOKEN": fake.token,
            "SANAD_TELEGRAM_BASE_URL": fake.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            "SANAD_POSITION_UPDATE_S": "0",
        }
    )
    services = Services.create(settings)
    telegram = build_application(services)
    await telegram.initialize()
    app = create_app(services, telegram)
    await services.start()
    await start_application(telegram, services)
    web_client = TestClient(TestServer(app))
    await web_client.start_server()
    try:
        yield fake, services, web_client
    finally:
        await web_client.close()
        await stop_application(telegram)
        await services.close()
        await fake.stop()


async def test_telegram_customer_served_by_an_agent_in_the_web_console(
    telegram_and_web: Any,
) -> None:
    fake, services, client = telegram_and_web
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Console Carla", at=services.clock.now())
        _, raw = await create_token(
            session, name="carla", role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    token = bearer(raw)
    push = await client.ws_connect("/agent/ws", headers=token)
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)

    sara = fake.user(1001, "Sara", language_code="en")
    fake.send_text(sara, "I want to talk to a person")
    await fake.wait_for_message(sara, contains="in the queue")
    offer = (await _push(push, "offer"))["offer"]
    assert offer["customer_name"] == "Sara"
    await _json(
        await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    )
    await fake.wait_for_message(sara, contains="Console Carla has joined")
    chats = (await _json(await client.get("/api/v1/agent/chats", headers=token)))["chats"]
    assert [(c["channel"], c["customer"]["name"]) for c in chats] == [("telegram", "Sara")]

    ticket_id = offer["ticket_id"]
    await client.post(
        f"/api/v1/agent/chats/{ticket_id}/messages",
        json={"text": "Hi Sara, Carla here."},
        headers=token,
    )
    reply = await fake.wait_for_message(sara, contains="Carla here")
    assert reply["text"] == "Hi Sara, Carla here."
    fake.send_text(sara, "Where is order 77?")
    echo = await _push(push, "message")  # first the agent's own line, then Sara's
    assert (echo["message"]["sender"], echo["message"]["text"]) == ("agent", "Hi Sara, Carla here.")
    live = await _push(push, "message")
    said = live["message"]
    assert (said["sender"], said["text"]) == ("customer", "Where is order 77?")
    async with services.db.transaction() as session:
        stored = (
            await session.execute(
                select(Message).where(Message.sender == "agent", Message.ticket_id == ticket_id)
            )
        ).scalar_one()
    assert stored.channel_message_id == str(reply["message_id"])  # Telegram's id kept

    await client.post(f"/api/v1/agent/chats/{ticket_id}/close", headers=token)
    rate = await fake.wait_for_message(sara, contains="rate")
    markup = rate["reply_markup"]["inline_keyboard"][0]
    fake.press(sara, rate, markup[3]["callback_data"])
    for _ in range(100):
        async with services.db.transaction() as session:
            rating = (await session.execute(select(Rating))).scalar_one_or_none()
        if rating is not None:
            break
        await asyncio.sleep(0.05)
    assert rating is not None and (rating.stars, rating.agent_id) == (4, agent.id)
    async with services.db.transaction() as session:
        stored_agent = await session.get(Agent, agent.id)
    assert stored_agent is not None and stored_agent.telegram_id is None
    await push.close()


async def test_an_agent_on_telegram_and_in_the_console_at_once_stays_in_sync(
    telegram_and_web: Any,
) -> None:
    fake, services, client = telegram_and_web
    amal_tg = fake.user(2001, "Amal", language_code="en")
    async with services.db.transaction() as session:
        agent = await add_agent(
            session, name="Amal", at=services.clock.now(), telegram_id=str(amal_tg.id)
        )
    await services.handoff.resync()
    # /console on Telegram: a one-time link that logs her into the console.
    fake.send_text(amal_tg, "/console")
    link_message = await fake.wait_for_message(amal_tg, contains="/agent/login?key=")
    path = link_message["text"].split("http://localhost:", 1)[1].split("/", 1)[1]
    opened = await client.get("/" + path, allow_redirects=False)
    assert opened.status == 302
    me = await _json(await client.get("/api/v1/agent/me"))
    assert me["agent"]["id"] == agent.id
    push = await client.ws_connect("/agent/ws")
    fake.send_text(amal_tg, "/online")
    await fake.wait_for_message(amal_tg, contains="Status: available")
    status = await _push(push, "agent")  # the console's switch follows Telegram's /online
    assert status["agent"]["status"] == "available"

    sara = fake.user(1001, "Sara", language_code="en")
    fake.send_text(sara, "I want to talk to a person")
    tg_offer = await fake.wait_for_message(amal_tg, contains="New chat #")
    web_offer = (await _push(push, "offer"))["offer"]
    # Accepted on Telegram: the console's card goes, the chat appears there.
    accept = next(
        b["callback_data"]
        for row in tg_offer["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Accept"
    )
    fake.press(amal_tg, tg_offer, accept)
    ended = await _push(push, "offer_ended")
    assert (ended["offer_id"], ended["reason"]) == (web_offer["offer_id"], "accepted")
    await fake.wait_for_message(sara, contains="Amal has joined")
    # From the console: Sara gets it, and Amal's Telegram chat shows it too.
    headers = {"X-CSRF-Token": await _csrf(client)}
    sent = await client.post(
        f"/api/v1/agent/chats/{web_offer['ticket_id']}/messages",
        json={"text": "Typed in the console"},
        headers=headers,
    )
    await _json(sent)
    await fake.wait_for_message(sara, contains="Typed in the console")
    echo = await fake.wait_for_message(amal_tg, contains="Typed in the console")
    assert "(console)" in echo["text"]
    # From Telegram: the console sees it; Sara's answer reaches both.
    fake.send_text(amal_tg, "And typed on Telegram")
    await fake.wait_for_message(sara, contains="typed on Telegram")
    while True:
        frame = await _push(push, "message")
        if frame["message"]["text"] == "And typed on Telegram":
            break
    fake.send_text(sara, "Got both, thanks")
    await fake.wait_for_message(amal_tg, contains="Got both, thanks")
    while True:
        frame = await _push(push, "message")
        if frame["message"]["sender"] == "customer":
            break
    assert frame["message"]["text"] == "Got both, thanks"
    await push.close()


async def _csrf(client: TestClient[Any, Any]) -> str:
    """The session's CSRF token, as the console page carries it."""
    html = await (await client.get("/agent")).text()
    return html.split('<meta name="sanad-csrf" content="', 1)[1].split('"', 1)[0]


async def test_a_telegram_agent_serves_a_web_customer_text_and_files(telegram_and_web: Any) -> None:
    fake, services, client = telegram_and_web
    amal_tg = fake.user(2001, "Amal", language_code="en")
    async with services.db.transaction() as session:
        await add_agent(session, name="Amal", at=services.clock.now(), telegram_id=str(amal_tg.id))
    await services.handoff.resync()
    fake.send_text(amal_tg, "/online")
    await fake.wait_for_message(amal_tg, contains="Status: available")

    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    offer = await fake.wait_for_message(amal_tg, contains="New chat #")
    accept = offer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.press(amal_tg, offer, accept)
    await chat.message("system", "Amal has joined")
    await fake.wait_for_message(amal_tg, contains="You're now with")
    await chat.say("Here is my question")
    relayed = await fake.wait_for_message(amal_tg, contains="Here is my question")
    assert relayed["text"].startswith("#")  # tagged with the ticket
    fake.send_text(amal_tg, "Hello from Telegram")
    assert (await chat.message("agent"))["text"] == "Hello from Telegram"
    fake.send_document(amal_tg, file_name="label.pdf", content=b"%PDF label", caption="Your label")
    shown = await chat.message("agent", "Your label")
    assert shown["kind"] == "file" and shown["file"]["name"] == "label.pdf"
    got = await client.get(shown["file"]["url"], params={"visitor": chat.visitor or ""})
    assert got.status == 200 and await got.read() == b"%PDF label"


async def test_agent_sends_a_file_from_the_console(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    import aiohttp

    token = bearer(agent_token["token"])
    chat, offer = await _accepted_web_chat(client, token)

    def form(content: bytes) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("client_id", "file-1")
        data.add_field("file", content, filename="invoice.pdf", content_type="application/pdf")
        return data

    url = f"/api/v1/agent/chats/{offer['ticket_id']}/files"
    sent = (await _json(await client.post(url, data=form(b"%PDF invoice"), headers=token)))[
        "message"
    ]
    assert sent["kind"] == "file" and sent["file"]["name"] == "invoice.pdf"
    again = (await _json(await client.post(url, data=form(b"%PDF invoice"), headers=token)))[
        "message"
    ]
    assert again["id"] == sent["id"]  # a retry sends once
    shown = await chat.message("agent", "invoice.pdf")
    assert shown["file"]["content_type"] == "application/pdf"
    got = await client.get(shown["file"]["url"], params={"visitor": chat.visitor or ""})
    assert await got.read() == b"%PDF invoice"
    big = aiohttp.FormData()
    big.add_field("file", b"x" * (5 * 1024 * 1024 + 1), filename="big.bin")
    assert (await client.post(url, data=big, headers=token)).status == 413
    async with services.db.transaction() as session:
        from storage.models import Attachment

        assert len((await session.execute(select(Attachment))).scalars().all()) == 1


async def test_the_agent_api_is_in_the_openapi_document(
    client: TestClient[Any, Any], agent_token: dict[str, Any]
) -> None:
    doc = await _json(
        await client.get("/api/v1/openapi.json", headers=bearer(agent_token["token"]))
    )
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1/agent/")
        and r.method != "HEAD"
    }
    routes = {(m, p.replace("{verb}", v)) for m, p in routes for v in ("accept", "decline")}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routes <= documented


async def test_the_console_shows_whether_a_web_visitor_is_there(
    client: TestClient[Any, Any], agent_token: dict[str, Any]
) -> None:
    token = bearer(agent_token["token"])
    push = await client.ws_connect("/agent/ws", headers=token)
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    offer = (await _push(push, "offer"))["offer"]
    await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)

    async def online() -> object:
        chats = (await _json(await client.get("/api/v1/agent/chats", headers=token)))["chats"]
        return chats[0]["customer_online"]

    async def settles(expected: bool) -> None:
        """A ``chats`` push comes and the list then says ``expected`` (pushes from the
        accept may still be queued: read on until it holds)."""
        for _ in range(20):
            await _push(push, "chats")
            if await online() is expected:
                return
        raise AssertionError(f"the list never said online={expected}")

    assert await online() is True
    await chat.close()
    await settles(False)  # the visitor left
    await chat.connect()
    await settles(True)  # and came back
    await push.close()


async def test_an_accept_reaches_telegram_and_the_console_without_asking_which_offer_won(
    telegram_and_web: Any,
) -> None:
    """The accept's notice carries the accepted offer: both agent adapters close the right
    offer (Telegram's buttons, the console's card) without reading back which offer won."""
    fake, services, client = telegram_and_web
    amal_tg = fake.user(2001, "Amal", language_code="en")
    async with services.db.transaction() as session:
        agent = await add_agent(
            session, name="Amal", at=services.clock.now(), telegram_id=str(amal_tg.id)
        )
        _, raw = await create_token(
            session, name="amal", role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    push = await client.ws_connect("/agent/ws", headers=bearer(raw))
    await _push(push, "hello")
    fake.send_text(amal_tg, "/online")
    await fake.wait_for_message(amal_tg, contains="Status: available")
    sara = fake.user(1001, "Sara", language_code="en")
    fake.send_text(sara, "I want to talk to a person")
    tg_offer = await fake.wait_for_message(amal_tg, contains="New chat #")
    web_offer = (await _push(push, "offer"))["offer"]

    asked: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        asked.append((statement, parameters))

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        fake.press(amal_tg, tg_offer, _accept_data(tg_offer))
        ended = await _push(push, "offer_ended")
        assert (ended["offer_id"], ended["reason"]) == (web_offer["offer_id"], "accepted")
        await fake.wait_for_message(amal_tg, contains="You're now with Sara")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    closed = fake.message(amal_tg, tg_offer["message_id"])
    assert closed["text"].endswith("Accepted.") and not closed.get("reply_markup")
    which_won = [
        statement
        for statement, parameters in asked
        if statement.lstrip().upper().startswith("SELECT")
        and "FROM offers" in statement
        and "accepted" in str(parameters)
    ]
    assert which_won == []
    await push.close()


def _accept_data(offer: dict[str, Any]) -> str:
    data: str = next(
        b["callback_data"]
        for row in offer["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Accept"
    )
    return data
