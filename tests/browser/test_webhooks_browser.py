"""The Webhooks page in real headless Chromium, English and Arabic: an admin adds an endpoint,
sees its secret once, sends a test and finds the delivery in the log; Arabic is right to left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import texts
from tests.conftest import browser_login
from tests.webhooks.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = await Receiver().start()
    yield hook
    await hook.stop()


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_add_an_endpoint_send_a_test_and_see_the_log_line(
    page: Any, tokens: dict[str, str], receiver: Receiver, lang: str
) -> None:
    await browser_login(page, tokens["admin"], f"/webhooks?lang={lang}")
    await page.wait_for_selector("#hook-form")
    assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
    nav = await page.inner_text("header nav")
    assert texts.text("page.webhooks", lang) in nav
    assert await page.is_visible("#no-hooks")

    await page.fill("#hook-name", "CRM")
    await page.fill("#hook-url", receiver.url)
    await page.check("#hook-type-ticket_assigned")
    await page.check("#hook-type-message")
    await page.click("#hook-save")
    await page.wait_for_selector("#created-secret")
    secret = (await page.inner_text("#created-secret")).strip()
    assert secret.startswith("whsec_")
    assert texts.text("hooks.type.message", lang) in await page.inner_text("#hooks-table")

    await page.click("#created-link")
    await page.wait_for_selector("#hook-test")
    assert await page.is_visible("#no-log")
    await page.click("#hook-test")
    await page.wait_for_selector("#test-result")
    assert await page.get_attribute("#test-result", "data-state") == "delivered"
    assert await page.inner_text("#test-result") == texts.text("hooks.tested_ok", lang, status=200)
    row = page.locator('#log-table tr[data-type="ping"]')
    assert await row.count() == 1
    assert await row.get_attribute("data-state") == "delivered"
    assert texts.text("hooks.state.delivered", lang) in await row.inner_text()
    assert "200" in await row.locator(".status").inner_text()
    [ping] = receiver.requests
    assert ping.signed_with(secret) and ping.json["type"] == "ping"
    # The secret is not on any page after its one showing.
    assert secret not in await page.content()
