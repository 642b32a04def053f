"""The customer web chat over its WebSocket: the same conversation as on Telegram, and nothing
lost or doubled when the socket drops (a real aiohttp server, a real SQLite file)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from app.services import Services
from storage.models import Attachment, Customer, Message, QueryLog, Ticket
from tests.conftest import bearer
from tests.webchat_client import ChatClient

DELIVERY = "how many days does delivery take?"


async def _count(services: Services, model: Any, *where: Any) -> int:
    async with services.db.transaction() as session:
        return int(
            (
                await session.execute(select(func.count()).select_from(model).where(*where))
            ).scalar_one()
        )


async def test_first_visit_is_greeted_and_a_question_gets_the_answer_with_feedback_buttons(
    client: TestClient[Any, Any], services: Services
) -> None:
    chat = ChatClient(client)
    welcome = await chat.connect()
    assert welcome["visitor"].startswith("v_") and welcome["lang"] == "en"
    assert welcome["ticket"]["state"] == "bot"
    assert welcome["upload_max_bytes"] == 5 * 1024 * 1024
    greeting = await chat.message("bot", "Hello!")
    assert "support assistant" in greeting["text"]

    client_id = await chat.say(DELIVERY)
    mine = await chat.message("customer")
    assert (mine["text"], mine["client_id"]) == (DELIVERY, client_id)
    assert (await chat.ack(client_id))["id"] == mine["id"]
    answer = await chat.message("bot", "2-4 working days")
    assert answer["text"].endswith("Did this help?")
    labels = [[b["label"] for b in row] for row in answer["buttons"]]
    assert labels == [["Yes", "No"]]

    yes = answer["buttons"][0][0]["data"]
    await chat.press(yes, answer["id"])
    update = await chat.next(lambda f: f["type"] == "update")
    assert (update["id"], update["buttons"]) == (answer["id"], [])
    await chat.message("bot", "Glad I could help")
    async with services.db.transaction() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
        ticket = (await session.execute(select(Ticket))).scalar_one()
        logged = (await session.execute(select(QueryLog))).scalar_one()
    assert customer.channel == "web" and customer.external_id != chat.visitor  # only its hash
    assert (ticket.channel, ticket.state, ticket.resolution) == ("web", "resolved", "bot")
    assert (logged.outcome, logged.helpful) == ("answer", True)
    # Reloaded later, the pressed message comes without its buttons.
    await chat.close()
    again = ChatClient(client)
    again.visitor = chat.visitor
    await again.connect(since=0)
    await again.drain()
    assert again.seen[answer["id"]]["buttons"] == []


async def test_arabic_visitor_gets_arabic_answers_and_commands_work(
    client: TestClient[Any, Any], services: Services
) -> None:
    chat = ChatClient(client, lang="ar")
    welcome = await chat.connect()
    assert welcome["lang"] == "ar"
    await chat.message("bot", "أهلاً")
    await chat.say("كم يوم ياخذ التوصيل؟")
    answer = await chat.message("bot", "هل أفادتك هذه الإجابة؟")
    assert "أيام عمل" in answer["text"]
    assert [b["label"] for b in answer["buttons"][0]] == ["نعم", "لا"]

    await chat.say("/language")
    menu = await chat.message("bot", "اختر لغتك")
    await chat.press("lang:en", menu["id"])
    await chat.message("bot", "I'll speak English")
    await chat.say("/nonsense")
    unknown = await chat.message("bot", "/nonsense")
    assert "I don't know the command" in unknown["text"]


async def test_asking_for_a_person_queues_the_chat_and_stop_waiting_cancels(
    client: TestClient[Any, Any], services: Services
) -> None:
    chat = ChatClient(client)
    await chat.connect()
    await chat.say("zxqv wplk mmrt")
    miss = await chat.message("bot", "don't have an answer")
    assert miss["buttons"][0][0]["data"] == "human"
    await chat.press("human", miss["id"])
    queued = await chat.message("system", "in the queue")
    assert "#" in queued["text"]
    state = await chat.next(lambda f: f["type"] == "state")
    assert state["ticket"]["state"] == "queued"
    await chat.say("hello? anyone?")  # kept for the agent; the bot does not talk over it
    await chat.press("cancel")
    await chat.message("bot", "You've left the queue")
    left = await chat.next(lambda f: f["type"] == "state")
    assert left["ticket"]["state"] == "resolved"  # closed: "Talk to a person" shows again
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        bot_lines = (
            await session.execute(select(Message.text).where(Message.sender == "bot"))
        ).scalars()
        assert not any("don't have an answer" in t for t in list(bot_lines)[2:])
    assert ticket.state == "closed"


async def test_resent_message_is_acknowledged_again_and_never_doubled(
    client: TestClient[Any, Any], services: Services
) -> None:
    chat = ChatClient(client)
    await chat.connect()
    client_id = await chat.say(DELIVERY)
    first = await chat.ack(client_id)
    await chat.message("bot", "2-4 working days")
    await chat.say(DELIVERY, client_id=client_id)  # the client did not see the ack: resends
    second = await chat.ack(client_id)
    await chat.drain()
    assert second["id"] == first["id"]
    assert await _count(services, Message, Message.sender == "customer") == 1
    assert await _count(services, QueryLog) == 1
    assert [f for f in chat.frames if f["type"] == "message" and f["sender"] == "bot"][1:] == [
        f
        for f in chat.frames
        if f["type"] == "message" and f["sender"] == "bot" and "2-4" in f["text"]
    ]


async def test_dropped_socket_loses_nothing_and_doubles_nothing(
    client: TestClient[Any, Any], services: Services, agent_token: dict[str, Any]
) -> None:
    """The socket drops after a message is sent but before anything comes back; the client
    resends what was not acknowledged and asks for what it missed; an agent's messages sent
    while it was away arrive once."""
    chat = ChatClient(client)
    await chat.connect()
    await chat.message("bot", "Hello!")
    shown = chat.since
    # Sent, then the connection goes before the ack and the answer are read.
    lost_id = await chat.say(DELIVERY)
    await chat.close()
    await client.post(
        "/api/v1/agent/status", json={"status": "available"}, headers=bearer(agent_token["token"])
    )

    again = ChatClient(client)
    again.visitor = chat.visitor
    await again.connect(since=shown)
    await again.say(DELIVERY, client_id=lost_id)  # the outbox resent
    await again.ack(lost_id)
    await again.drain()
    texts = [f["text"] for f in again.frames if f["type"] == "message"]
    assert texts.count(DELIVERY) == 1
    assert sum("2-4 working days" in t for t in texts) == 1
    assert await _count(services, Message, Message.sender == "customer") == 1

    # Handed to the agent; the customer goes away; the agent writes twice.
    await again.say("I want to talk to a person")
    await again.message("system", "in the queue")
    me = await (await client.get("/api/v1/agent/me", headers=bearer(agent_token["token"]))).json()
    offer = me["offers"][0]
    token = bearer(agent_token["token"])
    await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
    await again.message("system", "joined")
    await again.drain()
    seen = again.since
    await again.close()
    for text in ("Hello, I am on it", "Your order ships today"):
        answer = await client.post(
            f"/api/v1/agent/chats/{offer['ticket_id']}/messages", json={"text": text}, headers=token
        )
        assert answer.status == 200
    back = ChatClient(client)
    back.visitor = chat.visitor
    await back.connect(since=seen)
    await back.drain()
    agent_lines = [f["text"] for f in back.frames if f["type"] == "message"]
    assert agent_lines == ["Hello, I am on it", "Your order ships today"]
    assert all(f["sender"] == "agent" and f["agent"] == "Web Agent" for f in back.seen.values())
    # And a full reload (since 0) shows every message exactly once, in order.
    full = ChatClient(client)
    full.visitor = chat.visitor
    await full.connect(since=0)
    await full.drain()
    ids = full.message_ids()
    assert ids == sorted(set(ids))
    assert len(ids) == await _count(services, Message)


async def test_bad_frames_get_clear_errors_and_change_nothing(
    client: TestClient[Any, Any], services: Services
) -> None:
    ws = await client.ws_connect("/chat/ws")
    await ws.send_json({"type": "message", "client_id": "x", "text": "hi"})
    refused = await ws.receive_json(timeout=5)
    assert refused == {"type": "error", "client_id": None, "message": "send hello first"}
    closed = await ws.receive(timeout=5)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    before = await _count(services, Message)
    assert chat.ws is not None
    await chat.ws.send_str("not json")
    assert "JSON" in (await chat.next(lambda f: f["type"] == "error"))["message"]
    await chat.send({"type": "shout"})
    assert "unknown frame type" in (await chat.next(lambda f: f["type"] == "error"))["message"]
    await chat.send({"type": "message", "text": "no id"})
    assert "client_id" in (await chat.next(lambda f: f["type"] == "error"))["message"]
    client_id = await chat.say("x" * 5000)
    too_long = await chat.next(lambda f: f["type"] == "error")
    assert too_long["client_id"] == client_id and "limit is 4096" in too_long["message"]
    assert (await chat.ack(client_id))["id"] is None  # the client can drop it from its outbox
    await chat.press("rate:999:0:5")  # a forged or stale button
    stale = await chat.next(lambda f: f["type"] == "error")
    assert "no longer" in stale["message"] or "expired" in stale["message"]
    await chat.send({"type": "ping"})
    await chat.next(lambda f: f["type"] == "pong")
    assert await _count(services, Message) == before


async def test_upload_is_stored_limited_and_only_its_owner_or_staff_can_fetch_it(
    client: TestClient[Any, Any], services: Services, tokens: dict[str, str]
) -> None:
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    as_visitor = {"X-Sanad-Visitor": chat.visitor or ""}  # the page's stored visitor
    form = aiohttp.FormData()
    form.add_field("client_id", "f1")
    form.add_field(
        "file", b"%PDF-1.4 receipt", filename="receipt.pdf", content_type="application/pdf"
    )
    answer = await client.post("/chat/upload", data=form, headers=as_visitor)
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body["file"]["name"] == "receipt.pdf" and body["file"]["size"] == 16
    shown = await chat.message("customer")
    assert shown["kind"] == "file" and shown["file"]["url"] == body["file"]["url"]
    await chat.message("bot", "I can only read text")  # the bot cannot read a file

    url = body["file"]["url"]
    plain = url.split("?")[0]  # without the owner's signature
    stranger = await client.get(plain, cookies={})
    assert stranger.status == 404
    mine = await client.get(url)  # the link is signed for its owner
    assert mine.status == 200 and await mine.read() == b"%PDF-1.4 receipt"
    assert "attachment" in mine.headers["Content-Disposition"]
    staff = await client.get(plain, headers=bearer(tokens["supervisor"]))
    assert staff.status == 200
    editor = await client.get(plain, headers=bearer(tokens["editor"]))
    assert editor.status == 404

    big = aiohttp.FormData()
    big.add_field("client_id", "f2")
    big.add_field("file", b"x" * (5 * 1024 * 1024 + 1), filename="big.bin")
    refused = await client.post("/chat/upload", data=big, headers=as_visitor)
    assert refused.status == 413
    assert "too large" in (await refused.json())["error"]
    assert await _count(services, Attachment) == 1

    again = aiohttp.FormData()
    again.add_field("client_id", "f1")
    again.add_field("file", b"%PDF-1.4 receipt", filename="receipt.pdf")
    repeat = await client.post("/chat/upload", data=again, headers=as_visitor)
    assert (await repeat.json())["id"] == body["id"]
    assert await _count(services, Attachment) == 1

    nobody = aiohttp.FormData()
    nobody.add_field("file", b"data", filename="a.txt")
    assert (await client.post("/chat/upload", data=nobody)).status == 401


async def test_chat_page_sets_the_visitor_cookie_and_is_right_to_left_in_arabic(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/chat?lang=ar")
    assert page.status == 200
    html = await page.text()
    assert 'dir="rtl"' in html and "/static/chat.js" in html
    assert page.cookies["sanad_visitor"].value.startswith("v_")
    assert page.cookies["sanad_visitor"]["httponly"]
    widget = await client.get("/static/widget.js")
    assert widget.status == 200 and "/chat?embed=1" in await widget.text()


async def test_another_site_cannot_open_the_chat_socket_or_upload(
    client: TestClient[Any, Any],
) -> None:
    evil = {"Origin": "https://evil.example"}
    refused = await client.get(
        "/chat/ws",
        headers={
            **evil,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert refused.status == 403
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="x.txt")
    assert (await client.post("/chat/upload", data=form, headers=evil)).status == 403
    own = {"Origin": f"http://{client.server.host}:{client.server.port}"}
    ws = await client.ws_connect("/chat/ws", headers=own)
    await ws.send_json({"type": "hello", "visitor": None, "since": 0})
    assert (await ws.receive_json(timeout=5))["type"] in ("message", "welcome")
    await ws.close()


async def test_dedupe_and_history_on_both_databases(any_db_url: str) -> None:
    """The JSON lookups behind resends (a customer's and an agent's client_id) and the
    history after a reconnect, on SQLite and on PostgreSQL."""
    from app.config import load_settings
    from base.clock import VirtualClock
    from handoff.agents import add_agent
    from web.app import create_app

    services = Services.create(
        load_settings(env={"SANAD_DATABASE_URL": any_db_url}), VirtualClock()
    )
    await services.start()
    try:
        async with services.db.transaction() as session:
            agent = await add_agent(session, name="Pat", at=services.clock.now())
        await services.handoff.resync()
        await services.handoff.set_agent_status(agent.id, "available")
        async with TestClient(TestServer(create_app(services))) as client:
            chat = ChatClient(client)
            await chat.connect()
            first = await chat.say("I want to talk to a person")
            await chat.ack(first)
            await chat.say("I want to talk to a person", client_id=first)
            await chat.ack(first)
            offer = next(iter(services.handoff.acd.offers.values()))
            assert (await services.handoff.accept_offer(offer.id, agent.id)).ok
            ticket_id = offer.ticket_id
            one = await services.handoff.agent_message(
                ticket_id, agent.id, "Hello", origin="web", client_id="x1"
            )
            two = await services.handoff.agent_message(
                ticket_id, agent.id, "Hello", origin="web", client_id="x1"
            )
            assert one == two
            await chat.message("agent", "Hello")
            await chat.close()
            again = ChatClient(client)
            again.visitor = chat.visitor
            await again.connect(since=0)
            await again.drain()
            texts = [f["text"] for f in again.frames if f["type"] == "message"]
            assert texts.count("I want to talk to a person") == 1 and texts.count("Hello") == 1
    finally:
        await services.close()


async def test_a_socket_that_dies_mid_message_still_gets_its_answer_on_return(
    client: TestClient[Any, Any], services: Services
) -> None:
    """The connection breaks while the server handles a message (every send fails): the
    message is still answered and kept, and the visitor finds both when they come back, and
    a resend of it is not handled again."""
    from web.chat import CHAT_HUB, Visit

    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()

    class DeadSocket:
        closed = False

        async def send_json(self, frame: dict[str, Any]) -> None:
            raise ConnectionResetError("the peer went away")

    async with services.db.transaction() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    await chat.close()
    visit = Visit(services, client.app[CHAT_HUB], DeadSocket(), customer)  # type: ignore[arg-type]
    await visit.handle({"type": "message", "client_id": "lost-1", "text": DELIVERY})
    back = ChatClient(client)
    back.visitor = chat.visitor
    await back.connect(since=chat.since)
    await back.say(DELIVERY, client_id="lost-1")  # the outbox resends it
    await back.ack("lost-1")
    await back.drain()
    texts = [f["text"] for f in back.frames if f["type"] == "message"]
    assert texts.count(DELIVERY) == 1
    assert sum("2-4 working days" in t for t in texts) == 1


async def test_many_visitors_at_once_all_get_their_answers(
    client: TestClient[Any, Any], services: Services
) -> None:
    """A dozen visitors writing at the same moment on the SQLite default: nobody waits for
    ever on a locked database, nobody gets an error, every question gets its one answer."""
    import asyncio

    async def visitor(n: int) -> list[dict[str, Any]]:
        chat = ChatClient(client)
        await chat.connect()
        for i in range(4):
            client_id = await chat.say(f"{DELIVERY} ({n}-{i})")
            mine = (await chat.ack(client_id))["id"]

            def answer(f: dict[str, Any], mine: int = mine) -> bool:
                return bool(f["type"] == "message" and f["sender"] == "bot" and f["id"] > mine)

            await chat.next(answer, within=20)
        await chat.drain(0.1)
        await chat.close()
        return chat.frames

    frames = await asyncio.gather(*(visitor(n) for n in range(12)))
    assert all(f["type"] != "error" for visitor_frames in frames for f in visitor_frames)
    assert await _count(services, Message, Message.sender == "customer") == 48
    assert await _count(services, QueryLog) == 48
