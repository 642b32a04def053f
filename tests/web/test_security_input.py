"""Malformed input is a clear 4xx naming the field (or an error frame on a socket), never a
500: ids beyond 64 bits, deep JSON, broken multipart, lone surrogates, NUL (PostgreSQL),
strings longer than their column, integers out of range; downloads of any content type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from handoff.agents import add_agent
from storage.models import Message
from tests.conftest import bearer
from tests.webchat_client import ChatClient
from web.app import create_app

Client = TestClient[Any, Any]
HUGE = "9" * 25  # far beyond 2**63


async def _error(response: aiohttp.ClientResponse, status: int = 400) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["status"] == status
    return str(body["error"])


@pytest.fixture
async def stack(any_db_url: str) -> AsyncIterator[dict[str, Any]]:
    """Services on SQLite or PostgreSQL, the web app, and tokens for each role and an agent."""
    url = any_db_url
    services = Services.create(load_settings(env={"SANAD_DATABASE_URL": url}), VirtualClock())
    await services.start()
    raw: dict[str, Any] = {}
    now = services.clock.now()
    async with services.db.transaction() as session:
        for role in ("editor", "supervisor", "admin"):
            _, raw[role] = await create_token(session, name=role, role=role, at=now)
        agent = await add_agent(session, name="Agent", at=now, capacity=2)
        _, raw["agent"] = await create_token(
            session, name="agent", role="agent", at=now, agent_id=agent.id
        )
    await services.handoff.resync()
    async with TestClient(TestServer(create_app(services))) as client:
        yield {"client": client, "services": services, "tokens": raw}
    await services.close()


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", f"/chat/files/{HUGE}", None),
        ("GET", f"/api/v1/faq/articles/{HUGE}", "editor"),
        ("DELETE", f"/api/v1/faq/articles/{HUGE}", "editor"),
        ("GET", f"/api/v1/tickets/{HUGE}", "supervisor"),
        ("PUT", f"/api/v1/agents/{HUGE}", "admin"),
        ("DELETE", f"/api/v1/agents/{HUGE}", "admin"),
        ("GET", f"/api/v1/agent/chats/{HUGE}", "agent"),
        ("POST", f"/api/v1/agent/chats/{HUGE}/close", "agent"),
        ("POST", f"/api/v1/agent/offers/{HUGE}/accept", "agent"),
        ("GET", f"/tickets/{HUGE}", "supervisor"),
        ("GET", f"/faq/{HUGE}", "editor"),
        ("GET", f"/agents/{HUGE}", "admin"),
    ],
)
async def test_ids_beyond_64_bits_are_not_found(
    stack: dict[str, Any], method: str, path: str, role: str | None
) -> None:
    headers = bearer(stack["tokens"][role]) if role else {}
    response = await stack["client"].request(method, path, headers=headers, json={"name": "x"})
    assert response.status == 404, await response.text()


async def test_deep_json_is_a_400_on_api_bodies_import_and_webhook(
    stack: dict[str, Any],
) -> None:
    client, tokens = stack["client"], stack["tokens"]
    deep = b"[" * 50_000 + b"]" * 50_000
    for path, role in (
        ("/api/v1/faq/articles", "editor"),
        ("/api/v1/faq/try", "editor"),
        ("/api/v1/agents", "admin"),
        ("/api/v1/agent/status", "agent"),
    ):
        response = await client.post(
            path, data=deep, headers={**bearer(tokens[role]), "Content-Type": "application/json"}
        )
        assert "nested" in await _error(response), path
    response = await client.post(
        "/api/v1/faq/import?format=jsonl",
        data=deep + b"\n",
        headers={**bearer(tokens["editor"]), "Content-Type": "application/x-ndjson"},
    )
    await _error(response)
    nested_ok = b'{"q": ' + b"[" * 40 + b"]" * 40 + b"}"
    response = await client.post(
        "/api/v1/faq/try",
        data=nested_ok,
        headers={**bearer(tokens["editor"]), "Content-Type": "application/json"},
    )
    assert "nested more than 32" in await _error(response)


async def test_broken_multipart_on_faq_import_is_a_400(stack: dict[str, Any]) -> None:
    response = await stack["client"].post(
        "/api/v1/faq/import",
        data=b"--zz\r\nnot a header line\r\n\r\nx",
        headers={
            **bearer(stack["tokens"]["editor"]),
            "Content-Type": "multipart/form-data; boundary=zz",
        },
    )
    assert response.status == 400, await response.text()


async def _count(services: Services) -> int:
    async with services.db.transaction() as session:
        return int((await session.execute(select(func.count(Message.id)))).scalar_one())


@pytest.mark.parametrize("text", ["hello \ud800 there", "nul \x00 inside"])
async def test_a_chat_message_that_cannot_be_stored_gets_an_error_frame(
    stack: dict[str, Any], text: str
) -> None:
    chat = ChatClient(stack["client"])
    await chat.connect(name="Sara \udfff\x00")  # a bad name is cleaned, the chat goes on
    await chat.drain()
    before = await _count(stack["services"])
    client_id = await chat.say(text)
    error = await chat.next(lambda f: f["type"] == "error" and f["client_id"] == client_id)
    assert error["message"].startswith("text:")
    assert (await chat.ack(client_id))["id"] is None
    assert await _count(stack["services"]) == before
    ok = await chat.say("how many days does delivery take?")
    assert (await chat.ack(ok))["id"] is not None
    await chat.close()


async def test_string_and_integer_limits_name_the_field(stack: dict[str, Any]) -> None:
    client, tokens = stack["client"], stack["tokens"]
    admin = bearer(tokens["admin"])
    for body, field in (
        ({"name": "A", "routing_priority": 2**40}, "routing_priority"),
        ({"name": "A", "capacity": 2**62}, "capacity"),
        ({"name": "A" * 300}, "name"),
        ({"name": "A", "skills": ["s" * 300]}, "skills"),
        ({"name": "A\x00B"}, "name"),
    ):
        message = await _error(await client.post("/api/v1/agents", json=body, headers=admin))
        assert field in message, (body, message)
    huge = await client.post("/api/v1/faq/try", json={"q": "x", "n": 10**30}, headers=admin)
    assert "out of range" in await _error(huge)
    query = await client.get("/api/v1/faq/articles?q=a%00b", headers=bearer(tokens["editor"]))
    assert "NUL" in await _error(query)
    form = await client.post(
        "/login", data={"token": "sanad_x\x00", "next": "/faq"}, allow_redirects=False
    )
    assert form.status == 400


async def test_a_long_transfer_category_is_a_400(stack: dict[str, Any]) -> None:
    client, tokens = stack["client"], stack["tokens"]
    agent = bearer(tokens["agent"])
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=agent)
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    await chat.message("system")
    me = await (await client.get("/api/v1/agent/me", headers=agent)).json()
    offer = me["offers"][0]
    accepted = await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=agent)
    assert accepted.status == 200
    response = await client.post(
        f"/api/v1/agent/chats/{offer['ticket_id']}/transfer",
        json={"category": "c" * 300},
        headers=agent,
    )
    assert "category" in await _error(response)
    await chat.close()


@pytest.mark.parametrize("since", [10**30, 1e30, -5, "x", 2**63, False, True])
async def test_socket_errors_are_frames_not_html(stack: dict[str, Any], since: Any) -> None:
    ws = await stack["client"].ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "since": since})
    first = await ws.receive(timeout=5)
    assert first.type == WSMsgType.TEXT
    assert first.json()["type"] in ("welcome", "message")
    await ws.send_str("[" * 10_000)
    await ws.send_json({"type": "ping"})
    for _ in range(20):
        frame = (await ws.receive(timeout=5)).json()
        if frame["type"] == "pong":
            break
    else:
        raise AssertionError("no pong")
    await ws.close()


async def test_a_file_with_a_charset_in_its_content_type_downloads(
    stack: dict[str, Any],
) -> None:
    client, tokens = stack["client"], stack["tokens"]
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    form = aiohttp.FormData()
    form.add_field(
        "file",
        b"<script>alert(1)</script>",
        filename="x.html",
        content_type="text/html; charset=utf-8",
    )
    answer = await client.post(
        "/chat/upload", data=form, headers={"X-Sanad-Visitor": chat.visitor or ""}
    )
    assert answer.status == 200, await answer.text()
    url = (await answer.json())["file"]["url"]
    got = await client.get(url, headers=bearer(tokens["supervisor"]))
    assert got.status == 200, await got.text()
    assert got.headers["Content-Type"].startswith("text/html")
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    await chat.close()
