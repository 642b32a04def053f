"""Ticket search from the tickets page in real headless Chromium, in English and in Arabic
(right to left; the Arabic query written with other letter forms than the message)."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tests.conftest import browser_login
from tests.handoff.test_search import _ticket
from tests.web.test_web_reports import build_history


async def test_search_from_the_tickets_page_in_english_and_arabic(
    page: Any, tokens: dict[str, str], services: Services
) -> None:
    history = await build_history(services)
    arabic = await _ticket(
        services.db, "555", "سارة", ["أُرِيدُ إِرْجَاعَ الطَّلَبِيَّة من فضلك"], at=services.clock.now()
    )
    await browser_login(page, tokens["supervisor"], "/tickets")
    await page.fill("#search-q", "Refunds")
    await page.click("#search-go")
    await page.wait_for_selector("#search-results")
    assert await page.locator("#search-results .search-hit").count() == 1
    hit = page.locator(f"#hit-{history.t2}")
    assert await hit.locator("mark").all_inner_texts() == ["refund"]
    await hit.locator(f'a[href="/tickets/{history.t2}"]').click()
    await page.wait_for_url(f"**/tickets/{history.t2}")

    await page.goto(page.sanad_url("/tickets?lang=ar"))
    await page.wait_for_selector("#ticket-search")
    assert await page.get_attribute("html", "dir") == "rtl"
    await page.fill("#search-q", "ارجاع الطلبيه")  # bare alef, ha for ta marbuta, no marks
    await page.click("#search-go")
    await page.wait_for_selector("#search-results")
    assert "نتائج البحث عن" in await page.inner_text("#search-results h2")
    hits = page.locator("#search-results .search-hit")
    assert await hits.count() == 1
    marks = await page.locator(f"#hit-{arabic} mark").all_inner_texts()
    assert marks == ["إِرْجَاعَ", "الطَّلَبِيَّة"]
    assert await page.input_value("#search-q") == "ارجاع الطلبيه"
