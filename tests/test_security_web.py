"""Web hardening: open redirects, bounded bodies, clear 4xx on malformed input, headers,
health checks, cookies."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from sanad.clock import VirtualClock
from sanad.config import load_settings
from sanad.services import Services
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
