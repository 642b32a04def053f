"""Issue 10 in real headless Chromium: what the agent console and the web chat show as the
conversation flows. The server runs on the virtual clock; the browsers count down on their
own clocks, as they do in production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from faq.matcher import Thresholds
from handoff.agents import add_agent
from tests.conftest import browser_login, wait_for_js
from tests.webchat_client import ChatClient
from web.app import create_app

OFFER_TIMEOUT_S = 3


@pytest.fixture
async def short_offers(tmp_path: Path) -> AsyncIterator[tuple[Services, TestClient[Any, Any]]]:
    """Services with 3 s offers on the virtual clock, and the web app on a real server."""
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}",
            "SANAD_OFFER_TIMEOUT_S": str(OFFER_TIMEOUT_S),
        }
    )
    services = Services.create(settings, VirtualClock())
    await services.start(run_timers=False)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    try:
        yield services, client
    finally:
        await client.close()
        await services.close()


async def _console(
    browser: Any, client: TestClient[Any, Any], services: Services, name: str
) -> tuple[Any, int]:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name=name, at=services.clock.now())
        _, raw = await create_token(
            session, name=name, role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    context = await browser.new_context()
    page = await context.new_page()
    page.sanad_url = lambda path: str(client.make_url(path))
    page.set_default_timeout(10_000)
    await browser_login(page, raw, "/agent")
    if not page.url.split("?")[0].endswith("/agent"):
        await page.goto(page.sanad_url("/agent"))
    await page.wait_for_selector('#connection[data-state="connected"]')
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/agent/status")):
        await page.select_option("#agent-status", "available")
    return page, agent.id


async def test_a_lapsed_offer_card_goes_at_once_and_never_reads_1_s_left(
    browser: Any, short_offers: tuple[Services, TestClient[Any, Any]]
) -> None:
    """Finding 4: when an offer lapses its card leaves the console at once, before (or as) the
    next agent's card appears, and a card whose time ran out never stays on screen."""
    services, client = short_offers
    first, _ = await _console(browser, client, services, "Amal")
    second, _ = await _console(browser, client, services, "Bilal")
    customer = ChatClient(client)
    await customer.connect(name="Layla")
    try:
        await customer.say("I want to talk to a person")
        card = first.locator("#offers .offer")
        await card.wait_for()
        # The server's clock reaches the deadline: Amal's offer lapses, Bilal gets it.
        clock = services.clock
        assert isinstance(clock, VirtualClock)
        clock.advance(OFFER_TIMEOUT_S)
        await services.handoff.tick()
        await second.locator("#offers .offer").wait_for()
        # Gone as the frame arrives (two pages, two sockets: allow it a moment to land), not
        # left on screen for seconds beside Bilal's.
        await first.locator("#offers .offer").wait_for(state="detached", timeout=700)
        assert await first.is_visible("#no-offers")

        # Bilal lets his card run out on the browser's clock (the server's has not moved):
        # the card goes at its deadline, never showing a lapsed "1 s left" or "0 s left".
        countdown = second.locator("#offers .offer .countdown")
        seen: list[str] = []
        started = time.monotonic()
        while await second.locator("#offers .offer").count():
            shown = await countdown.all_inner_texts()  # never waits: the card may just go
            seen.append(shown[0] if shown else "")
            await asyncio.sleep(0.05)
            assert time.monotonic() - started < OFFER_TIMEOUT_S + 2.0, seen
        assert "0 s left" not in seen
        assert await second.is_visible("#no-offers")
    finally:
        await customer.close()
        for page in (first, second):
            await page.context.close()


async def test_the_web_chat_shows_the_pick_as_the_customers_and_retires_old_buttons(
    page: Any, services: Services
) -> None:
    """Finding 6 in the page: a suggestion clicked shows as the customer's line (not an answer
    under an unrelated question), the suggestions clicked from go, and the buttons of an
    older answer can no longer be pressed once the bot has said something newer; all of it
    the same after a reload."""
    services.faq.thresholds = Thresholds(answer_min=1.01, answer_margin=0, suggest_min=0.0)
    await page.goto(page.sanad_url("/chat?lang=en"))
    await wait_for_js(page, "() => window.sanadChat && window.sanadChat.state !== null")
    await page.fill("#composer-text", "I want to return the shoes I bought")
    await page.press("#composer-text", "Enter")
    suggestions = page.locator("#messages .msg[data-sender='bot']", has_text="Pick one:")
    await suggestions.wait_for()
    pick = suggestions.locator("button.msg-button", has_text="return").first
    label = await pick.inner_text()
    await pick.click()
    choice = page.locator("#messages .msg.msg-choice[data-sender='customer']")
    await choice.wait_for()
    assert await choice.locator(".msg-text").inner_text() == label
    answer = page.locator("#messages .msg[data-sender='bot']", has_text="Did this help?")
    await answer.wait_for()
    # Shown in this order: the suggestions, the customer's pick, the answer.
    order = await page.eval_on_selector_all(
        "#messages .msg", "els => els.map(e => e.querySelector('.msg-text').textContent)"
    )
    assert order.index(label) == order.index("I'm not sure which of these you mean. Pick one:") + 1
    assert order.index(label) < len(order) - 1 and "Did this help?" in order[-1]
    await suggestions.locator("button.msg-button").first.wait_for(state="detached")

    # A new question: the previous answer's Yes / No can no longer be pressed once a newer
    # line offers buttons (an answer's Yes / No, or suggestions: whichever the matcher gives).
    await page.fill("#composer-text", "how much does delivery cost")
    await page.press("#composer-text", "Enter")
    newer = page.locator("#messages .msg[data-sender='bot']:has(button.msg-button)").nth(1)
    await newer.wait_for()
    old_buttons = answer.first.locator("button.msg-button")  # the first answer's Yes / No
    assert await old_buttons.count() == 2
    assert all([await b.is_disabled() for b in await old_buttons.all()])
    assert not await newer.locator("button.msg-button").first.is_disabled()

    await page.reload()
    await wait_for_js(page, "() => window.sanadChat && window.sanadChat.state !== null")
    await choice.wait_for()
    assert await choice.locator(".msg-text").inner_text() == label
    reloaded = page.locator("#messages .msg[data-sender='bot']", has_text="Did this help?").first
    assert all([await b.is_disabled() for b in await reloaded.locator("button").all()])
