"""Shared fixtures: real databases (a SQLite file, and PostgreSQL where reachable), a virtual
clock, and Sanad's services wired on them."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("PTB_TIMEDELTA", "true")  # PTB 22: RetryAfter.retry_after as timedelta
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from storage.db import Database
from web.app import create_app

PG_URL = os.environ.get("SANAD_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({exc}); set SANAD_TEST_PG_URL")
    name = f"sanad_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'sanad.db'}"


async def _migrated(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    """A migrated SQLite file."""
    async for database in _migrated(sqlite_url):
        yield database


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on a SQLite file and on PostgreSQL (skipped when unreachable)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sanad.db'}"
    url = request.getfixturevalue("pg_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
async def db(any_db_url: str) -> AsyncIterator[Database]:
    async for database in _migrated(any_db_url):
        yield database


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def services(sqlite_url: str, clock: VirtualClock) -> AsyncIterator[Services]:
    """Services on a fresh SQLite file with the sample FAQ loaded."""
    settings = load_settings(env={"SANAD_DATABASE_URL": sqlite_url})
    svc = Services.create(settings, clock)
    await svc.start()
    await svc.faq.wait_idle()  # the sample FAQ's embeddings (computed in the background)
    yield svc
    await svc.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    """A real aiohttp server on loopback with Sanad's web app, and a client for it."""
    async with TestClient(TestServer(create_app(services))) as test_client:
        yield test_client


@pytest.fixture
async def tokens(services: Services) -> dict[str, str]:
    """One raw token per role: {"editor": ..., "supervisor": ..., "admin": ...}."""
    raw: dict[str, str] = {}
    async with services.db.transaction() as session:
        for role in ("editor", "supervisor", "admin"):
            _, raw[role] = await create_token(
                session, name=f"{role} test", role=role, at=services.clock.now()
            )
    return raw


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests are grouped by area (``tests/<area>/``); those in ``tests/browser/`` carry the
    ``browser`` marker, so ``pytest -m "not browser"`` runs everything but them."""
    for item in items:
        if item.path.parent.name == "browser":
            item.add_marker(pytest.mark.browser)


CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)  # checked once, at import
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed (make test installs Debian's chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def page(browser: Any, client: TestClient[Any, Any]) -> AsyncIterator[Any]:
    """A fresh browser page; ``page.sanad_url(path)`` points at the test server."""
    context = await browser.new_context()
    tab = await context.new_page()
    tab.sanad_url = lambda path: str(client.make_url(path))
    yield tab
    await context.close()


async def wait_for_js(page: Any, expression: str, arg: Any = None, within: float = 10.0) -> Any:
    """Wait until ``expression`` (JavaScript: an expression, or a function of ``arg``) is
    truthy in ``page``. Playwright's own ``wait_for_function`` polls with ``eval`` inside the
    page, which Sanad's Content Security Policy rightly forbids; ``evaluate`` runs through the
    DevTools protocol instead."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    is_function = "=>" in expression.split("\n", 1)[0][:40]
    source = expression if is_function else f"() => ({expression})"
    while True:
        result = await page.evaluate(source, arg)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"still false after {within} s: {expression}")
        await asyncio.sleep(0.05)


async def browser_login(page: Any, token: str, path: str = "/dashboard") -> None:
    await page.goto(page.sanad_url(f"/login?next={path}"))
    await page.fill("#token", token)
    await page.click("#login-button")
    await page.wait_for_load_state()


@pytest.fixture
async def agent_token(services: Services) -> dict[str, Any]:
    """An agent (no Telegram, any language, two chats at once) and a console token for them:
    {"token": raw token, "agent_id": id}."""
    from handoff.agents import add_agent

    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Web Agent", at=services.clock.now(), capacity=2)
        _, raw = await create_token(
            session, name="web agent", role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    return {"token": raw, "agent_id": agent.id}
