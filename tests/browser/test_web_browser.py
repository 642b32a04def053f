"""Pages in real headless Chromium: logging in with a token."""

from __future__ import annotations

from typing import Any

from tests.conftest import browser_login


async def test_login_with_a_token_and_a_bad_token(page: Any, tokens: dict[str, str]) -> None:
    await page.goto(page.sanad_url("/login"))
    await page.fill("#token", "sanad_not-a-token")
    await page.click("#login-button")
    assert "not valid" in await page.inner_text("#login-error")
    await browser_login(page, tokens["editor"], "/login")
    assert "Signed in as editor test (editor)" in await page.inner_text("header")
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "sanad_session")
    assert session["httpOnly"] is True


async def test_arabic_layout_is_right_to_left(page: Any) -> None:
    await page.goto(page.sanad_url("/login?lang=ar"))
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.get_attribute("html", "lang") == "ar"
    assert "تسجيل الدخول" in await page.inner_text("h1")
