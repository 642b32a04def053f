"""Web access: tokens (hashed, revocable), Bearer for the API, login to an HttpOnly session
cookie, CSRF on form posts, JSON errors, the public endpoints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from accounts.tokens import revoke_token
from app.services import Services
from base.clock import VirtualClock
from storage.models import ApiToken
from tests.conftest import bearer

Client = TestClient[Any, Any]


async def test_public_endpoints_need_no_token(client: Client, services: Services) -> None:
    health = await client.get("/healthz")
    assert health.status == 200
    body = await health.json()
    assert body["status"] == "ok"
    # Whether the FAQ matcher still embeds its articles (what bench.scaleout waits for).
    assert body["faq_mode"] == services.faq.mode and body["faq_settled"] is services.faq.settled
    login = await client.get("/login")
    assert login.status == 200 and "<form" in await login.text()
    css = await client.get("/static/sanad.css")
    assert css.status == 200


async def test_api_without_or_with_a_bad_token_is_401_json(client: Client) -> None:
    for headers in ({}, bearer("sanad_nope"), {"Authorization": "Bearer "}):
        response = await client.get("/api/v1/openapi.json", headers=headers)
        assert response.status == 401
        body = await response.json()
        assert body["status"] == 401 and body["error"]


async def test_bearer_token_works_and_is_stored_hashed(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.")
    async with services.db.transaction() as session:
        rows = (await session.execute(select(ApiToken))).scalars().all()
    assert all(tokens[r.role] not in (r.token_hash, r.prefix) for r in rows)
    assert all(len(r.token_hash) == 64 for r in rows)
    editor = next(r for r in rows if r.role == "editor")
    assert editor.last_used_at is not None


async def test_a_tokens_last_use_is_written_at_most_once_a_minute(
    client: Client, tokens: dict[str, str], services: Services, clock: VirtualClock
) -> None:
    """Not on every request: a console's requests would each wait for the row's lock."""

    async def last_used() -> datetime | None:
        async with services.db.transaction() as session:
            return (
                await session.execute(
                    select(ApiToken.last_used_at).where(ApiToken.role == "editor")
                )
            ).scalar_one()

    async def use() -> None:
        response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
        assert response.status == 200

    await use()
    first = await last_used()
    assert first == clock.now()
    clock.advance(30)
    await use()
    assert await last_used() == first  # within the minute: not written again
    clock.advance(31)
    await use()
    assert await last_used() == clock.now()


async def test_revoked_token_stops_working(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    async with services.db.transaction() as session:
        row = (
            await session.execute(select(ApiToken).where(ApiToken.role == "editor"))
        ).scalar_one()
        assert await revoke_token(session, row.id, services.clock.now())
    response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
    assert response.status == 401


async def test_pages_redirect_to_login_and_login_sets_an_httponly_cookie(
    client: Client, tokens: dict[str, str]
) -> None:
    response = await client.get("/dashboard", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/login?next=/dashboard"
    bad = await client.post("/login", data={"token": "sanad_wrong", "next": "/faq"})
    assert bad.status == 401 and "not valid" in await bad.text()
    good = await client.post(
        "/login",
        data={"token": tokens["supervisor"], "next": "//evil.example/x"},
        allow_redirects=False,
    )
    assert good.status == 302
    assert good.headers["Location"] == "/dashboard"  # never off-site
    cookie = good.headers["Set-Cookie"]
    assert "sanad_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def _login(client: Client, token: str) -> str:
    response = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert response.status == 302
    page = await client.get("/login")  # any page carries the CSRF token once logged in
    match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match, "the logout form carries the CSRF token"
    return match.group(1)


async def test_form_posts_with_the_session_need_the_csrf_token(
    client: Client, tokens: dict[str, str]
) -> None:
    csrf = await _login(client, tokens["editor"])
    no_csrf = await client.post("/logout", data={}, allow_redirects=False)
    assert no_csrf.status == 403
    wrong = await client.post("/logout", data={"csrf_token": "x"}, allow_redirects=False)
    assert wrong.status == 403
    ok = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert ok.status == 302 and ok.headers["Location"] == "/login"
    after = await client.get("/dashboard", allow_redirects=False)
    assert after.status == 302  # the session is gone


async def test_api_calls_with_the_session_cookie_need_the_csrf_header(
    client: Client, tokens: dict[str, str]
) -> None:
    csrf = await _login(client, tokens["admin"])
    assert (await client.get("/api/v1/openapi.json")).status == 200  # reads need no CSRF
    response = await client.post("/api/v1/nothing-here", json={})
    assert response.status == 403
    assert (await response.json())["error"] == "missing or wrong CSRF token"
    response = await client.post("/api/v1/nothing-here", json={}, headers={"X-CSRF-Token": csrf})
    assert response.status == 404
    assert (await response.json())["status"] == 404


async def test_metrics_can_be_turned_off(services: Services) -> None:
    from dataclasses import replace

    from aiohttp.test_utils import TestServer

    from web.app import create_app

    services.settings = replace(services.settings, metrics_enabled=False)
    async with TestClient(TestServer(create_app(services))) as test_client:
        response = await test_client.get("/metrics")
        assert response.status == 401


async def test_oversized_bodies_are_refused(client: Client, tokens: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/faq/import", data=b"x" * (11 * 1024 * 1024), headers=bearer(tokens["admin"])
    )
    assert response.status == 413
    assert (await response.json())["error"] == "request body too large"


def test_cli_creates_lists_and_revokes_tokens(monkeypatch: Any, tmp_path: Any) -> None:
    import io

    from sanad.cli import main

    monkeypatch.setenv("SANAD_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    out = io.StringIO()
    assert main(["tokens", "create", "--role", "editor", "--name", "Rana"], out=out) == 0
    raw = out.getvalue().splitlines()[-1]
    assert raw.startswith("sanad_") and len(raw) > 40
    out = io.StringIO()
    assert main(["tokens", "list"], out=out) == 0
    assert "\teditor\tRana\t" in out.getvalue() and raw not in out.getvalue()
    assert main(["tokens", "revoke", "1"], out=io.StringIO()) == 0
    assert main(["tokens", "revoke", "1"], out=io.StringIO()) == 1
