"""The dashboard's staffing advice in real headless Chromium: the chart of agents needed and
online per hour and the table, picking a weekday with the form, in English and in Arabic
(right to left, the chart and the numbers still left to right)."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tests.conftest import browser_login
from tests.web.test_web_staffing import build_history


async def test_staffing_chart_and_table_in_english_and_arabic(
    page: Any, tokens: dict[str, str], services: Services
) -> None:
    await build_history(services)
    await browser_login(page, tokens["supervisor"], "/dashboard?period=7d&tz=UTC")
    await page.wait_for_selector("#staffing-table")
    assert "Staffing advice" in await page.inner_text("#staffing h2")
    assert await page.get_attribute("#chart-staffing", "role") == "img"
    title = await page.locator("#chart-staffing > title").text_content()
    assert title == "Agents needed and online, by hour"
    # Two lines (needed, online), a point per hour each.
    assert await page.locator("#chart-staffing polyline.line").count() == 2
    assert await page.locator("#chart-staffing circle.point").count() == 48
    box = await page.locator("#chart-staffing").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 30
    assert await page.locator("#staffing-table tbody tr").count() == 24
    assert await page.inner_text("#staffing-hour-9 td.needed") == "1"

    # Monday only, with the form: the period is kept, 09:00 needs two agents and had one.
    await page.select_option("#f-weekday", "0")
    await page.click("#staffing-show")
    await page.wait_for_url("**weekday=0**")
    await page.wait_for_selector("#staffing-hour-9.short")
    assert "period=7d" in page.url
    assert await page.inner_text("#staffing-hour-9 td.arrivals") == "6.0"
    assert await page.inner_text("#staffing-hour-9 td.needed") == "2"
    assert await page.inner_text("#staffing-hour-9 td.online") == "1.0"
    assert await page.inner_text("#staffing-hour-9 td.gap") == "-1.0"
    colour = await page.eval_on_selector(
        "#staffing-hour-9 td.gap", "el => getComputedStyle(el).color"
    )
    assert colour == "rgb(164, 22, 26)"

    await page.goto(page.sanad_url("/dashboard?period=7d&tz=UTC&weekday=0&lang=ar"))
    await page.wait_for_selector("#staffing-table")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert "توصيات التوظيف" in await page.inner_text("#staffing h2")
    assert "الموظفون اللازمون" in await page.inner_text("#staffing-table thead")
    assert await page.input_value("#f-weekday") == "0"
    assert "الاثنين" in await page.inner_text("#f-weekday")
    assert await page.inner_text("#staffing-hour-9 td.needed") == "2"
    direction = await page.eval_on_selector(
        "#chart-staffing", "el => getComputedStyle(el).direction"
    )
    assert direction == "ltr"
    table = await page.eval_on_selector("#staffing-table", "el => getComputedStyle(el).direction")
    assert table == "rtl"
