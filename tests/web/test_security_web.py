"""Web hardening: open redirects, bounded bodies, clear 4xx on malformed input, headers,
health checks, cookies."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from tests.conftest import bearer
from tests.webchat_client import ChatClient
from web.app import create_app

Client = TestClient[Any, Any]


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0D/evil.example",
        "/%5C/evil.example",
        "/\\evil.example",
        "//evil.example",
        "/%2F/evil.example",
        "https://evil.example",
        "/ /evil.example",
    ],
)
async def test_login_never_redirects_off_site(
    client: Client, tokens: dict[str, str], target: str
) -> None:
    page = await client.get(f"/login?next={target}")
    assert page.status == 200
    response = await client.post(
        f"/login?next={target}",
        data={"token": tokens["admin"], "next": page.url.query.get("next", "")},
        allow_redirects=False,
    )
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert "evil.example" not in location.split("?")[0].lstrip("/").split("/")[0]


async def test_login_keeps_a_local_next(client: Client, tokens: dict[str, str]) -> None:
    response = await client.post(
        "/login", data={"token": tokens["admin"], "next": "/faq?q=x"}, allow_redirects=False
    )
    assert response.headers["Location"] == "/faq?q=x"


async def _stream(client: Client, path: str, head: bytes, total: int, **kw: Any) -> tuple[int, int]:
    """POST ``head`` then filler, chunked (no Content-Length), up to ``total`` bytes; the
    status (0 when the server closed the connection) and how many bytes the client could
    send before the server answered."""
    sent = 0

    async def body() -> Any:
        nonlocal sent
        yield head
        sent += len(head)
        chunk = b"x" * (64 * 1024)
        while sent < total:
            yield chunk
            sent += len(chunk)

    try:
        response = await client.post(path, data=body(), **kw)
        status = response.status
    except (aiohttp.ClientError, ConnectionError):
        status = 0
    return status, sent


MB = 1024 * 1024


async def test_unauthenticated_chunked_upload_is_refused_before_the_body_is_read(
    client: Client,
) -> None:
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="junk"\r\n\r\n'.encode()
    status, sent = await _stream(
        client,
        "/chat/upload",
        head,
        40 * MB,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status in (0, 401)
    assert sent < 20 * MB  # not read to the end


async def test_chunked_bodies_are_bounded_while_read(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    services.settings = dataclasses.replace(services.settings, web_upload_max_mb=0.5)
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="junk"\r\n\r\n'.encode()
    status, sent = await _stream(
        client,
        "/chat/upload",
        head,
        40 * MB,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Sanad-Visitor": chat.visitor or "",
        },
    )
    assert status in (0, 400, 413)
    assert sent < 8 * MB, sent  # 0.5 MB of file and 64 KiB of fields at most, and buffers
    # A JSON API body: 256 KiB at most, chunked or not.
    status, sent = await _stream(
        client,
        "/api/v1/faq/try",
        b'{"q": "',
        40 * MB,
        headers={**bearer(tokens["editor"]), "Content-Type": "application/json"},
    )
    assert status in (0, 413)
    assert sent < 8 * MB, sent  # the limit is 256 KiB (it was 10 MB for every route)


async def test_upload_parts_are_bounded_in_number_and_size(client: Client) -> None:
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    as_visitor = {"X-Sanad-Visitor": chat.visitor or ""}
    many = aiohttp.FormData()
    for i in range(50):
        many.add_field(f"f{i}", "x")
    many.add_field("file", b"data", filename="a.txt")
    response = await client.post("/chat/upload", data=many, headers=as_visitor)
    assert response.status == 400 and "parts" in (await response.json())["error"]
    wide = aiohttp.FormData()
    wide.add_field("client_id", "c" * 100_000)
    wide.add_field("file", b"data", filename="a.txt")
    response = await client.post("/chat/upload", data=wide, headers=as_visitor)
    assert response.status == 400 and "client_id" in (await response.json())["error"]
    broken = await client.post(
        "/chat/upload",
        data=b"--zz\r\nthis is not a part",
        headers={**as_visitor, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert broken.status == 400, await broken.text()
    assert (await broken.json())["status"] == 400


async def test_healthz_is_liveness_and_readyz_checks_a_write(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"


async def test_readyz_fails_while_sqlite_cannot_be_written(
    client: Client, services: Services
) -> None:
    path = services.db.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the file: no write gets through
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        assert "database" in body["problems"]
        assert (await client.get("/healthz")).status == 200  # alive, not ready
    finally:
        other.rollback()
        other.close()
    assert (await client.get("/readyz")).status == 200


async def test_readyz_fails_on_a_read_only_postgresql(pg_url: str) -> None:
    services = Services.create(load_settings(env={"SANAD_DATABASE_URL": pg_url}), VirtualClock())
    await services.start()
    name = pg_url.rsplit("/", 1)[1]
    try:
        async with TestClient(TestServer(create_app(services))) as client:
            assert (await client.get("/readyz")).status == 200
            async with services.db.engine.connect() as conn:
                await conn.execute(
                    text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
                )
                await conn.commit()
            await services.db.engine.dispose()  # new connections: read-only, like a replica
            response = await client.get("/readyz")
            assert response.status == 503, await response.text()
            assert "cannot write" in (await response.json())["problems"]["database"]
    finally:  # the fixture drops the database
        await services.close()


async def _uploaded(client: Client) -> tuple[ChatClient, str]:
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 mine", filename="r.pdf", content_type="application/pdf")
    answer = await client.post(
        "/chat/upload", data=form, headers={"X-Sanad-Visitor": chat.visitor or ""}
    )
    assert answer.status == 200, await answer.text()
    return chat, str((await answer.json())["file"]["url"])


async def test_a_customer_opens_their_file_from_the_widget_frame_by_a_signed_link(
    client: Client, services: Services
) -> None:
    """In another site's frame the visitor cookie is not sent: the signed link is enough,
    for that file only, until it expires; the visitor secret is never taken from a URL."""
    chat, url = await _uploaded(client)
    client.session.cookie_jar.clear()  # as in the frame: no cookie at all
    assert "sig=" in url and "exp=" in url
    assert (await client.get(url)).status == 200
    plain = url.split("?")[0]
    assert (await client.get(plain, params={"visitor": chat.visitor or ""})).status == 404
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert (await client.get(tampered)).status == 404
    other, other_url = await _uploaded(client)
    other_id = other_url.split("?")[0].rsplit("/", 1)[1]
    forged = url.replace(plain, f"/chat/files/{other_id}")
    assert (await client.get(forged)).status == 404  # a signature is for one file
    # The socket re-signs links for their owner: a reload gets fresh ones.
    again = ChatClient(client)
    again.visitor = chat.visitor
    await again.connect(since=0)
    shown = await again.next(lambda f: f["type"] == "message" and f["kind"] == "file")
    assert shown["file"]["url"].split("?")[0] == plain
    services.clock.advance(8 * 86400)  # type: ignore[attr-defined]
    assert (await client.get(url)).status == 404  # expired
    for c in (chat, other, again):
        await c.close()


async def test_security_headers_on_pages_api_and_static_files(
    client: Client, tokens: dict[str, str]
) -> None:
    for path in ("/login", "/static/chat.js", "/api/v1/openapi.json", "/healthz", "/nowhere"):
        response = await client.get(path, headers=bearer(tokens["editor"]))
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
    chat = await client.get("/chat?embed=1")
    assert "frame-ancestors *" in chat.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in chat.headers
    await client.post("/login", data={"token": tokens["admin"]})
    page = await client.get("/faq")
    html = await page.text()
    assert page.status == 200 and "<script>" not in html  # no inline script to allow


async def test_405_says_what_is_allowed(client: Client, tokens: dict[str, str]) -> None:
    response = await client.patch("/api/v1/faq/articles", headers=bearer(tokens["editor"]))
    assert response.status == 405
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
    assert (await response.json())["status"] == 405
    page = await client.delete("/login")
    assert page.status == 405 and "POST" in page.headers["Allow"]


@pytest.mark.parametrize(
    ("env", "headers", "secure"),
    [
        ({}, {}, False),
        ({"SANAD_PUBLIC_URL": "https://support.example"}, {}, True),
        ({}, {"X-Forwarded-Proto": "https"}, True),  # the local proxy is trusted by default
        ({"SANAD_TRUSTED_PROXIES": "10.0.0.1"}, {"X-Forwarded-Proto": "https"}, False),
    ],
)
async def test_cookies_are_secure_when_the_site_is_https(
    tmp_path: Any, env: dict[str, str], headers: dict[str, str], secure: bool
) -> None:
    settings_ = load_settings(
        env={"SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}", **env}
    )
    services = Services.create(settings_, VirtualClock())
    await services.start()
    async with services.db.transaction() as session:
        _, raw = await create_token(session, name="a", role="admin", at=services.clock.now())
    try:
        async with TestClient(TestServer(create_app(services))) as client:
            login = await client.post(
                "/login", data={"token": raw}, headers=headers, allow_redirects=False
            )
            chat = await client.get("/chat?lang=ar", headers=headers)
            cookies = [login.headers["Set-Cookie"], *chat.headers.getall("Set-Cookie")]
            assert len(cookies) == 3
            for cookie in cookies:
                assert ("Secure" in cookie) is secure, cookie
            visitor = next(c for c in cookies if c.startswith("sanad_visitor"))
            assert ("SameSite=None" in visitor) is secure
    finally:
        await services.close()


async def test_removing_an_agent_revokes_their_token_and_keeps_an_admins(
    client: Client, services: Services
) -> None:
    from handoff.agents import add_agent
    from storage.models import ApiToken, Event

    now = services.clock.now()
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Leaving", at=now)
        agent_row, agent_raw = await create_token(
            session, name="console", role="agent", at=now, agent_id=agent.id
        )
        admin_row, admin_raw = await create_token(
            session, name="boss", role="admin", at=now, agent_id=agent.id
        )
    await services.handoff.resync()
    response = await client.delete(f"/api/v1/agents/{agent.id}", headers=bearer(admin_raw))
    assert response.status in (200, 204), await response.text()
    assert (await client.get("/api/v1/agent/me", headers=bearer(agent_raw))).status == 401
    still = await client.get("/api/v1/agents", headers=bearer(admin_raw))
    assert still.status == 200  # the admin keeps their token (without the console)
    async with services.db.transaction() as session:
        rows = {t.id: t for t in (await session.execute(select(ApiToken))).scalars()}
        kinds = [
            (e.kind, e.data.get("token_id"))
            for e in (await session.execute(select(Event))).scalars()
        ]
    assert rows[agent_row.id].revoked_at is not None
    assert rows[admin_row.id].revoked_at is None and rows[admin_row.id].agent_id is None
    assert ("token_revoked", agent_row.id) in kinds
    assert ("token_unlinked", admin_row.id) in kinds


async def test_the_webhook_bounds_chunked_updates_and_refuses_deep_json(tmp_path: Any) -> None:
    from bot.app import build_application

    settings_ = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
            "SANAD_TELEGRAM_TOKEN": "123456789:" + "A" * 35,
            "SANAD_TELEGRAM_MODE": "webhook",
            "SANAD_WEBHOOK_URL": "https://bot.example/telegram/webhook",
            "SANAD_WEBHOOK_SECRET": "s3cret",
        }
    )
    services = Services.create(settings_, VirtualClock())
    await services.start()
    telegram = build_application(services)
    try:
        async with TestClient(TestServer(create_app(services, telegram))) as client:
            secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            status, sent = await _stream(
                client, "/telegram/webhook", b'{"update_id": 1, "x": "', 40 * MB, headers=secret
            )
            assert status in (0, 413)
            assert sent < 8 * MB, sent  # 1 MB at most, chunked or not
            deep = await client.post(
                "/telegram/webhook",
                data=b'{"update_id": 1, "message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                headers=secret,
            )
            assert deep.status in (400, 413), await deep.text()
            nested = await client.post(
                "/telegram/webhook",
                data=b'{"update_id": 1, "message": ' + b"[" * 100 + b"]" * 100 + b"}",
                headers=secret,
            )
            assert nested.status == 400 and "nested" in (await nested.json())["error"]
    finally:
        await services.close()
