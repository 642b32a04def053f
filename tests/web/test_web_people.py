"""Accounts on the web (a real aiohttp server): the setup link makes the first admin, an
invitation made on the People page is accepted and its agent logs in with a password, wrong
passwords and the per-username limit, admin-only pages, disabling, API tokens made and revoked
from the web, and the token login kept for integrations."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from accounts import people
from app.services import Services
from base.clock import VirtualClock
from tests.conftest import bearer

Client = TestClient[Any, Any]
SECRET = "a long admin secret"
CSRF = re.compile(r'name="sanad-csrf" content="([^"]+)"')
LINK = re.compile(r'id="made-link" value="https?://[^/"]+(/\w+/[\w-]+)"')


@pytest.fixture
async def browserless(client: Client) -> AsyncIterator[aiohttp.ClientSession]:
    """A second visitor with its own cookies (the invitee)."""
    async with aiohttp.ClientSession(
        str(client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def _csrf(client: Client, path: str = "/people") -> str:
    page = await client.get(path)
    found = CSRF.search(await page.text())
    assert found, path
    return found.group(1)


async def admin_session(client: Client, services: Services) -> str:
    """The first admin, made through the setup link: their CSRF token."""
    key = await people.setup_link(services.db, services.clock.now(), 72, only_first=True)
    assert key is not None
    made = await client.post(
        f"/setup/{key}",
        data={"username": "owner", "password": SECRET, "password_again": SECRET},
        allow_redirects=False,
    )
    assert made.status == 302 and made.headers["Location"] == "/dashboard"
    assert "HttpOnly" in made.headers["Set-Cookie"]
    return await _csrf(client)


async def test_the_setup_link_makes_the_first_admin_once(
    client: Client, services: Services
) -> None:
    key = await people.setup_link(services.db, services.clock.now(), 72, only_first=True)
    assert key is not None
    page = await client.get(f"/setup/{key}")
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    differ = await client.post(
        f"/setup/{key}", data={"username": "owner", "password": SECRET, "password_again": "x"}
    )
    assert differ.status == 400 and "The two passwords differ" in await differ.text()
    short = await client.post(
        f"/setup/{key}", data={"username": "owner", "password": "short", "password_again": "short"}
    )
    assert short.status == 400 and "at least 10 characters" in await short.text()
    same = await client.post(
        f"/setup/{key}?lang=ar",
        data={"username": "owner", "password": "owner", "password_again": "owner"},
    )
    assert same.status == 400 and 'dir="rtl"' in await same.text()
    made = await client.post(
        f"/setup/{key}",
        data={"username": "Owner", "password": SECRET, "password_again": SECRET},
        allow_redirects=False,
    )
    assert made.status == 302
    listing = await client.get("/people")
    assert listing.status == 200 and 'data-username="owner"' in await listing.text()
    assert (await client.get(f"/setup/{key}")).status == 404
    assert (await client.get("/setup/not-a-key")).status == 404


async def test_invite_accept_and_log_in_with_a_password(
    client: Client, services: Services, browserless: aiohttp.ClientSession
) -> None:
    csrf = await admin_session(client, services)
    made = await client.post(
        "/people/invite",
        data={
            "csrf_token": csrf,
            "role": "agent",
            "agent": "new",
            "name": "Layla",
            "email": "layla@example.com",
            "capacity": "2",
            "languages": "ar, en",
        },
    )
    html = await made.text()
    assert made.status == 201, html
    found = LINK.search(html)
    assert found and found.group(1).startswith("/invite/"), html
    assert 'id="copy-link"' in html and 'id="link-' in html  # copy button; pending link listed
    agents = await (await client.get("/api/v1/agents")).json()
    layla = next(a for a in agents["items"] if a["name"] == "Layla")
    assert layla["capacity"] == 2 and layla["languages"] == ["ar", "en"]

    roster = await (await client.get("/agents")).text()
    assert f'href="/people?agent={layla["id"]}#invite-form"' in roster  # no account yet
    preset = await (await client.get(f"/people?agent={layla['id']}")).text()
    assert f'<option value="{layla["id"]}" selected>' in preset

    invite = found.group(1)
    form = await browserless.get(invite)
    assert form.status == 200 and "layla@example.com" in await form.text()
    taken = await browserless.post(
        invite, data={"username": "owner", "password": SECRET + "!", "password_again": SECRET + "!"}
    )
    assert taken.status == 400 and "That username is taken" in await taken.text()
    joined = await browserless.post(
        invite,
        data={
            "username": "layla",
            "password": "layla's secret",
            "password_again": "layla's secret",
        },
        allow_redirects=False,
    )
    assert joined.status == 302 and joined.headers["Location"] == "/agent"
    me = await (await browserless.get("/api/v1/agent/me")).json()
    assert me["agent"]["name"] == "Layla"
    assert (await browserless.get("/agent")).status == 200
    assert (await browserless.get("/people")).status == 403  # an agent is no admin

    logout_csrf = CSRF.search(await (await browserless.get("/agent")).text())
    assert logout_csrf
    await browserless.post("/logout", data={"csrf_token": logout_csrf.group(1)})
    assert (await browserless.get("/agent", allow_redirects=False)).status == 302
    wrong = await browserless.post(
        "/login", data={"username": "layla", "password": "nope nope nope", "next": "/agent"}
    )
    assert wrong.status == 401 and "Wrong username or password" in await wrong.text()
    unknown = await browserless.post(
        "/login", data={"username": "nobody", "password": "nope nope nope"}
    )
    assert unknown.status == 401 and "Wrong username or password" in await unknown.text()
    by_email = await browserless.post(
        "/login",
        data={"username": "Layla@Example.com", "password": "layla's secret"},
        allow_redirects=False,
    )
    assert by_email.status == 302 and by_email.headers["Location"] == "/agent"  # her page
    assert (await browserless.get("/agent")).status == 200
    assert (await client.get(invite)).status == 404  # used once
    roster = await (await client.get("/agents")).text()
    assert f'href="/people?agent={layla["id"]}' not in roster  # she has her account


async def test_failed_passwords_are_limited_per_username(
    client: Client, services: Services, browserless: aiohttp.ClientSession, clock: VirtualClock
) -> None:
    await admin_session(client, services)
    for _ in range(services.settings.login_failures_per_user):
        bad = await browserless.post("/login", data={"username": "owner", "password": "guess it"})
        assert bad.status == 401
    locked = await browserless.post("/login", data={"username": "OWNER", "password": SECRET})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    other = await client.post("/login", data={"username": "someone", "password": "x" * 12})
    assert other.status == 429  # this address too (the per-IP count)
    clock.advance(15 * 60)  # the window ends
    ok = await browserless.post(
        "/login", data={"username": "owner", "password": SECRET}, allow_redirects=False
    )
    assert ok.status == 302


async def test_the_people_page_is_for_admins_only(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    assert (await client.get("/people", allow_redirects=False)).status == 302  # to the login
    for role in ("supervisor", "editor"):
        response = await client.get("/people", headers=bearer(tokens[role]))
        assert response.status == 403, role
        posted = await client.post(
            "/people/tokens", data={"name": "x", "role": "admin"}, headers=bearer(tokens[role])
        )
        assert posted.status == 403, role
    page = await client.get("/people", headers=bearer(tokens["admin"]))
    assert page.status == 200 and 'id="invite-form"' in await page.text()
    csrf = await admin_session(client, services)
    no_csrf = await client.post("/people/invite", data={"role": "editor", "name": "E"})
    assert no_csrf.status == 403
    menu = await (await client.get("/dashboard")).text()
    assert 'href="/people"' in menu and csrf


async def test_admins_make_and_revoke_api_tokens_on_the_web(
    client: Client, services: Services
) -> None:
    csrf = await admin_session(client, services)
    made = await client.post(
        "/people/tokens", data={"csrf_token": csrf, "name": "CRM sync", "role": "supervisor"}
    )
    html = await made.text()
    assert made.status == 201
    raw = re.search(r'id="made-token" value="(sanad_[\w-]+)"', html)
    assert raw, html
    used = await client.get("/api/v1/agents", headers=bearer(raw.group(1)))
    assert used.status == 200
    listing = await (await client.get("/people")).text()
    row = re.search(r'<tr id="token-(\d+)" data-revoked="no">\s*<td><bdi>CRM sync</bdi>', listing)
    assert row and raw.group(1) not in listing  # shown once, never listed
    bad = await client.post(
        "/people/tokens", data={"csrf_token": csrf, "name": "x", "role": "agent"}
    )
    assert bad.status == 400 and "needs the agent" in await bad.text()
    revoked = await client.post(
        f"/people/tokens/{row.group(1)}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert revoked.status == 302
    assert (await client.get("/api/v1/agents", headers=bearer(raw.group(1)))).status == 401


async def test_reset_and_disable_from_the_people_page(
    client: Client, services: Services, browserless: aiohttp.ClientSession
) -> None:
    csrf = await admin_session(client, services)
    made = await client.post(
        "/people/invite", data={"csrf_token": csrf, "role": "editor", "name": "Ed", "agent": ""}
    )
    invite = LINK.search(await made.text())
    assert invite
    await browserless.post(
        invite.group(1),
        data={
            "username": "eddie",
            "password": "eddie's secret",
            "password_again": "eddie's secret",
        },
    )
    assert (await browserless.get("/faq")).status == 200
    page = await (await client.get("/people")).text()
    account_id = re.search(r'<tr id="account-(\d+)" data-username="eddie"', page)
    assert account_id
    disabled = await client.post(
        f"/people/{account_id.group(1)}/disable", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert disabled.status == 302
    assert (await browserless.get("/faq", allow_redirects=False)).status == 302  # session ended
    refused = await browserless.post(
        "/login", data={"username": "eddie", "password": "eddie's secret"}
    )
    assert refused.status == 401
    await client.post(f"/people/{account_id.group(1)}/enable", data={"csrf_token": csrf})
    reset = await client.post(f"/people/{account_id.group(1)}/reset", data={"csrf_token": csrf})
    link = LINK.search(await reset.text())
    assert reset.status == 201 and link and link.group(1).startswith("/reset/")
    form = await (await browserless.get(link.group(1))).text()
    assert 'value="eddie" readonly' in form
    done = await browserless.post(
        link.group(1),
        data={"password": "a new secret!!", "password_again": "a new secret!!"},
        allow_redirects=False,
    )
    assert done.status == 302 and done.headers["Location"] == "/faq"
