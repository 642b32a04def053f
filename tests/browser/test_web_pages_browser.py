"""The report pages in real Chromium, in English and Arabic: menus per role, chart text large
enough to read, and the gaps page's tables within their cards."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import texts
from accounts.tokens import create_token
from app.services import Services
from handoff.agents import add_agent
from handoff.notices import AgentSetAway
from tests.conftest import browser_login
from tests.web.test_web_reports import ask_bot, build_history
from tests.webchat_client import ChatClient

MIN_TEXT_PX = 11.0

CHART_TEXT_SIZES = """() => [...document.querySelectorAll('svg.chart text')]
  .filter(t => t.getBoundingClientRect().width > 0)
  .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"""

OVERFLOW = """sel => [...document.querySelectorAll(sel)].map(table => {
  const card = table.closest('.card').getBoundingClientRect();
  const r = table.getBoundingClientRect();
  return {id: table.id, inside: r.left >= card.left - 1 && r.right <= card.right + 1,
          table: [r.left, r.right], card: [card.left, card.right]};
})"""


@pytest.mark.parametrize("lang", ["en", "ar"])
@pytest.mark.parametrize("width", [1280, 1024])
async def test_chart_text_is_readable(
    browser: Any,
    client: TestClient[Any, Any],
    services: Services,
    tokens: dict[str, str],
    lang: str,
    width: int,
) -> None:
    await build_history(services)
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    page.sanad_url = lambda path: str(client.make_url(path))
    try:
        await browser_login(page, tokens["supervisor"], f"/dashboard?period=today&lang={lang}")
        await page.wait_for_selector("#chart-volume")
        sizes = await page.evaluate(CHART_TEXT_SIZES)
        assert sizes and min(sizes) >= MIN_TEXT_PX, sorted(sizes)[:5]
    finally:
        await context.close()


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_gaps_tables_stay_within_their_cards(
    page: Any, services: Services, tokens: dict[str, str], lang: str
) -> None:
    await ask_bot(
        services,
        "doyouhaveanyinformationaboutthesupercalifragilisticexpialidociousloyaltyprogramme",
        "what about the extraordinarily long question that somebody typed without stopping",
        "zebra xylophone quantum",
    )
    await page.set_viewport_size({"width": 1100, "height": 900})
    await browser_login(page, tokens["admin"], f"/gaps?lang={lang}")
    await page.wait_for_selector("#gaps-queries")
    for result in await page.evaluate(OVERFLOW, "#gaps-queries, #gaps-terms"):
        assert result["inside"], result


async def test_an_agent_sees_only_console_and_tickets_in_the_menu(
    page: Any, services: Services
) -> None:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Amal", at=services.clock.now())
        _, raw = await create_token(
            session, name="amal", role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await browser_login(page, raw, "/agent?lang=ar")
    await page.wait_for_selector('#connection[data-state="connected"]')
    links = await page.eval_on_selector_all(
        "header nav a", "as => as.map(a => a.getAttribute('href'))"
    )
    assert links == ["/agent", "/tickets"]
    await page.click('header nav a[href="/tickets"]')
    await page.wait_for_selector("#tickets-table")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert "التذاكر" in await page.inner_text("h1")
    # A page outside the menu answers a translated page with the way back.
    await page.goto(page.sanad_url("/dashboard"))
    assert "دورك لا يسمح بفتح هذه الصفحة" in await page.inner_text("#error-page")
    await page.click('#error-page a[href="/agent"]')
    await page.wait_for_selector('#connection[data-state="connected"]')


async def test_the_agent_login_page_asks_for_an_agent_token(
    client: TestClient[Any, Any],
) -> None:
    agent_login = await (await client.get("/login?next=/agent")).text()
    assert "--role agent" in agent_login and "--role editor" not in agent_login
    other = await (await client.get("/login?next=/dashboard")).text()
    assert "--role editor" in other


async def test_the_arabic_console_says_offers_and_supervisor_notices_in_arabic(
    page: Any, services: Services, client: TestClient[Any, Any]
) -> None:
    async with services.db.transaction() as session:
        agent = await add_agent(
            session, name="Amal", at=services.clock.now(), role="supervisor", capacity=2
        )
        _, raw = await create_token(
            session, name="amal", role="agent", at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    await browser_login(page, raw, "/agent?lang=ar")
    await page.wait_for_selector('#connection[data-state="connected"]')
    await services.handoff.set_agent_status(agent.id, "available")
    chat = ChatClient(client)
    await chat.connect()
    await chat.press("human")
    card = page.locator(".offer").first
    await card.wait_for()
    assert (
        texts.value("priority", "normal", "ar")
        in await card.locator(".offer-priority").inner_text()
    )
    assert await card.locator(".offer-language").inner_text() == texts.value("language", "en", "ar")
    await services.ports.notify_supervisors(AgentSetAway(agent_id=agent.id, name="Omar", missed=3))
    notice = page.locator("#console-notice")
    await notice.wait_for()
    shown = await notice.inner_text()
    assert shown == texts.text("console.notice_agent_set_away", "ar", name="Omar", missed=3)
    await chat.close()
