"""The dashboard in real headless Chromium: KPI cards and SVG charts, in English and in Arabic
(right to left, with the charts' numbers still left to right)."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tests.conftest import browser_login
from tests.web.test_web_reports import build_history


async def test_dashboard_in_english_and_arabic(
    page: Any, tokens: dict[str, str], services: Services
) -> None:
    await build_history(services)
    await browser_login(page, tokens["supervisor"], "/dashboard?period=today")
    await page.wait_for_selector("#kpi-csat")
    assert await page.get_attribute("html", "dir") == "ltr"
    assert "CSAT" in await page.inner_text("#kpi-csat")
    assert "50%" in await page.inner_text("#kpi-csat")
    assert "3" in await page.inner_text("#kpi-opened .v")
    assert await page.locator("#kpi-cards .kpi").count() >= 15
    for chart in ("#chart-volume", "#chart-ratings", "#chart-trends", "#chart-queue"):
        title = await page.locator(f"{chart} > title").text_content()
        assert title and await page.get_attribute(chart, "role") == "img"
    assert await page.locator("#chart-volume rect.bar").count() >= 1
    assert await page.locator("#chart-ratings rect.bar").count() == 2  # 2 and 5 stars
    box = await page.locator("#chart-volume").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 30
    assert "Amal" in await page.inner_text("#agent-table")

    await page.goto(page.sanad_url("/dashboard?period=today&lang=ar"))
    await page.wait_for_selector("#kpi-csat")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert "رضا العملاء" in await page.inner_text("#kpi-csat")
    assert "50%" in await page.inner_text("#kpi-csat")
    direction = await page.eval_on_selector("#chart-volume", "el => getComputedStyle(el).direction")
    assert direction == "ltr"
    assert "لوحة المتابعة" in await page.inner_text("h1")
