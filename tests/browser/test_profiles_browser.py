"""The customer profile in real Chromium, in English and Arabic: a supervisor opens it from a
ticket, makes the customer VIP, links their web identity as the same person and undoes it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import texts
from app.services import Services
from tests.conftest import browser_login, wait_for_js
from tests.handoff.test_profiles import write
from tests.web.test_customer_profiles import served_customer
from tests.webchat_client import ChatClient

IDENTITIES = "document.querySelectorAll('#identities tr.identity').length"


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_profile_from_a_ticket_vip_merge_and_undo(
    page: Any, services: Services, tokens: dict[str, str], lang: str
) -> None:
    h, telegram, ticket, _, _ = await served_customer(services)
    web, web_ticket = await write(h, "web", "visitor-77", "same person, on the site")
    await browser_login(page, tokens["supervisor"], f"/tickets/{ticket}?lang={lang}")
    await page.click("#customer-profile-link")
    await page.wait_for_selector("#identities")
    assert page.url.endswith(f"/customers/{telegram}")
    assert await page.evaluate("document.documentElement.dir") == ("rtl" if lang == "ar" else "ltr")
    assert await page.text_content("#profile-tier") == texts.value("tier", "normal", lang)

    await page.click("#tier-button")
    await page.wait_for_selector("#profile-done")
    assert await page.text_content("#profile-done") == texts.text("page.cu_done_tier", lang)
    assert await page.get_attribute("#profile-tier", "data-tier") == "vip"
    assert await page.text_content("#profile-tier") == texts.value("tier", "vip", lang)

    await page.fill("#merge-other", str(web))
    await page.click("#merge-button")
    await page.wait_for_selector("#merges")
    assert await page.evaluate(IDENTITIES) == 2
    shown = await page.eval_on_selector_all(
        "#profile-tickets tr.profile-ticket", "rows => rows.map(r => Number(r.dataset.id))"
    )
    assert sorted(shown) == sorted([ticket, web_ticket])
    assert await page.text_content("#profile-done") == texts.text("page.cu_done_merge", lang)

    await page.click("#merges .undo-merge")
    await page.wait_for_selector("#profile-done")
    await wait_for_js(page, f"{IDENTITIES} === 1")
    assert await page.text_content("#profile-done") == texts.text("page.cu_done_undo", lang)
    assert await page.query_selector("#merges") is None
    kinds = await page.eval_on_selector_all(
        "#profile-events tr.event", "rows => rows.map(r => r.dataset.kind)"
    )
    assert {"customers_merged", "customers_unmerged", "customer_tier_set"} <= set(kinds)
    # The web identity is a person of its own again, with its ticket.
    await page.goto(page.sanad_url(f"/customers/{web}"))
    await page.wait_for_selector("#identities")
    assert await page.evaluate(IDENTITIES) == 1
    shown = await page.eval_on_selector_all(
        "#profile-tickets tr.profile-ticket", "rows => rows.map(r => Number(r.dataset.id))"
    )
    assert shown == [web_ticket]


async def test_the_console_chat_header_links_to_the_customers_profile(
    page: Any, client: TestClient[Any, Any], agent_token: dict[str, Any]
) -> None:
    page.set_default_timeout(10_000)
    await browser_login(page, agent_token["token"], "/agent")
    if not page.url.split("?")[0].endswith("/agent"):
        await page.goto(page.sanad_url("/agent"))
    await page.wait_for_selector('#connection[data-state="connected"]')
    await page.select_option("#agent-status", "available")
    customer = ChatClient(client)
    try:
        await customer.connect(name="Layla")
        await customer.ack(await customer.say("I want to talk to a person"))
        offer = page.locator("#offers .offer").first
        await offer.wait_for()
        await offer.locator("button.accept").click()
        await offer.wait_for(state="detached")
        await wait_for_js(
            page, "/\\/customers\\/\\d+$/.test(document.getElementById('chat-profile').href)"
        )
        href = await page.get_attribute("#chat-profile", "href")
        assert href is not None
        await page.goto(page.sanad_url(href))
        await page.wait_for_selector("#identities")
        channels = await page.eval_on_selector_all(
            "#identities tr.identity", "rows => rows.map(r => r.dataset.channel)"
        )
        assert channels == ["web"]
        assert "Layla" in (await page.text_content("#profile-title") or "")
        assert await page.query_selector("#tier-form") is None  # agents do not set tiers
    finally:
        await customer.close()
