"""Accounts in real headless Chromium, in English and Arabic: the first admin made through the
setup link, an agent invited on the People page (the link copied from the page), the invitee
choosing a username and password and landing in the console, then logging out and in again
with the password."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import texts
from accounts import people
from app.services import Services
from tests.conftest import wait_for_js

SECRET = "a long admin secret"


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_invitation_accepted_first_login_and_the_console_opens(
    browser: Any, page: Any, client: TestClient[Any, Any], services: Services, lang: str
) -> None:
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def t(key: str, **values: str) -> str:
        return texts.text(key, lang, **values)

    # The first admin, through the setup link the first start prints.
    key = await people.setup_link(services.db, services.clock.now(), 72, only_first=True)
    assert key is not None
    await page.goto(page.sanad_url(f"/setup/{key}?lang={lang}"))
    assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
    assert await page.inner_text("h1") == t("link.title.setup")
    await page.fill("#username", "owner")
    await page.fill("#password", SECRET)
    await page.fill("#password-again", SECRET)
    await page.click("#link-button")
    await page.wait_for_url("**/dashboard")

    # The admin invites a new agent on the People page and copies the link.
    await page.click('nav a[href="/people"]')
    await page.wait_for_selector("#invite-form")
    await page.select_option("#invite-role", "agent")
    await page.select_option("#invite-agent", "new")
    await page.fill("#invite-name", "Layla")
    await page.fill("#invite-languages", "ar, en")
    await page.click("#invite-button")
    await page.wait_for_selector("#made-link")
    link = await page.input_value("#made-link")
    assert "/invite/" in link
    await page.click("#copy-link")
    # The label changes once the clipboard write settles (asynchronous).
    copied = t("people.copied")
    await wait_for_js(
        page, "text => document.querySelector('#copy-link').textContent === text", copied
    )
    assert await page.locator("#links-table tr[data-kind=invite]").count() == 1

    # The invitee, in a browser of their own, opens the link and joins.
    context = await browser.new_context()
    invitee = await context.new_page()
    invitee.set_default_timeout(15_000)
    invitee.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await invitee.goto(link + f"?lang={lang}")
        assert await invitee.inner_text("#link-about") == t(
            "link.invited_as", role=texts.value("role", "agent", lang)
        )
        await invitee.fill("#username", "layla")
        await invitee.fill("#password", "short")
        await invitee.fill("#password-again", "short")
        # The browser's own check (minlength) keeps the form: the server says it too.
        await invitee.eval_on_selector("#link-form", "f => f.noValidate = true")
        await invitee.click("#link-button")
        await invitee.wait_for_selector("#link-error")
        assert await invitee.inner_text("#link-error") == t("password.too_short", min="10")
        await invitee.fill("#password", "layla's secret")
        await invitee.fill("#password-again", "layla's secret")
        await invitee.click("#link-button")
        await invitee.wait_for_url("**/agent")
        await invitee.wait_for_selector('#connection[data-state="connected"]')
        assert await invitee.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        assert "Layla" in await invitee.inner_text("#signed-in")

        # Logged out, she logs in with her password: the console again.
        await invitee.click("header form[action='/logout'] button")
        await invitee.wait_for_url("**/login")
        await invitee.goto(page.sanad_url("/agent"))
        await invitee.wait_for_url("**/login?next=/agent")
        await invitee.fill("#username", "layla")
        await invitee.fill("#password", "not her password")
        await invitee.click("#password-login")
        await invitee.wait_for_selector("#login-error")
        assert await invitee.inner_text("#login-error") == t("page.bad_password")
        await invitee.fill("#username", "layla")
        await invitee.fill("#password", "layla's secret")
        await invitee.click("#password-login")
        await invitee.wait_for_url("**/agent")
        await invitee.wait_for_selector('#connection[data-state="connected"]')
        await invitee.select_option("#agent-status", "available")
        await wait_for_js(invitee, "document.querySelector('#agent-status').value === 'available'")
    finally:
        await context.close()

    # The admin's page lists her account, with her agent.
    await page.goto(page.sanad_url("/people"))
    row = page.locator('#accounts-table tr[data-username="layla"]')
    assert "Layla" in await row.inner_text()
    assert await page.locator("#links-table tr[data-kind=invite]").count() == 0
    assert errors == []
