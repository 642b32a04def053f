"""A suggested article from agents' answers becomes a draft from the knowledge-gaps page in
real headless Chromium, in English and in Arabic (right to left): the question and the answer
are edited in the page, one click creates the draft, and the suggestion leaves the list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.services import Services
from faq.curation import ArticleFilters, find_articles
from tests.conftest import browser_login, wait_for_js
from tests.drafts_history import plant_history

PICK = """([lang, needle]) => {
  for (const box of document.querySelectorAll('.suggestion')) {
    const answer = box.querySelector('textarea[name=answer]');
    if (box.dataset.lang === lang && answer && answer.value.includes(needle)) return box.id;
  }
  return null;
}"""


async def _draft_from_page(page: Any, lang: str, needle: str, question: str, answer: str) -> str:
    box = await wait_for_js(page, PICK, [lang, needle])
    assert isinstance(box, str)
    await page.fill(f"#{box} input[name=question]", question)
    await page.fill(f"#{box} textarea[name=answer]", answer)
    slug = str(await page.input_value(f"#{box} input[name=id]"))
    await page.click(f"#{box} button[type=submit]")
    await page.wait_for_selector("#gaps-done")
    assert await page.locator(f"#{box}").count() == 0  # no longer suggested
    return slug


async def test_a_suggestion_becomes_a_draft_in_english_and_arabic(
    page: Any, tokens: dict[str, str], services: Services
) -> None:
    await plant_history(services.db, services.clock.now() - timedelta(days=3))
    await browser_login(page, tokens["editor"], "/gaps")
    await page.wait_for_selector("#gaps-suggestions")
    assert await page.get_attribute("html", "dir") == "ltr"
    assert "Suggested articles from agents' answers" in await page.inner_text("#gaps-suggestions")
    slug = await _draft_from_page(
        page, "en", "gift wrap", "Do you gift wrap orders?", "Yes: 15 SAR, chosen at checkout."
    )
    assert f"{slug}/en" in await page.inner_text("#gaps-done")

    await page.goto(page.sanad_url("/gaps?lang=ar&lang_filter=ar"))
    await page.wait_for_selector("#gaps-suggestions")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert "مقالات مقترحة من إجابات الموظفين" in await page.inner_text("#gaps-suggestions")
    box = await wait_for_js(page, PICK, ["ar", "نقط"])
    direction = await page.eval_on_selector(
        f"#{box} textarea[name=answer]", "el => getComputedStyle(el).direction"
    )
    assert direction == "rtl"
    slug_ar = await _draft_from_page(
        page, "ar", "نقط", "كيف أستخدم نقاط الولاء؟", "كل 100 نقطة تساوي 10 ريالات عند الدفع."
    )
    assert "تم إنشاء مسودة المقالة" in await page.inner_text("#gaps-done")
    assert await page.get_attribute("html", "dir") == "rtl"  # the language is kept

    drafts = {
        (a.slug, a.lang): a
        for a in await find_articles(services.db, ArticleFilters(status="draft"))
    }
    english, arabic = drafts[(slug, "en")], drafts[(slug_ar, "ar")]
    assert (english.question, english.answer) == (
        "Do you gift wrap orders?",
        "Yes: 15 SAR, chosen at checkout.",
    )
    assert (arabic.question, arabic.answer) == (
        "كيف أستخدم نقاط الولاء؟",
        "كل 100 نقطة تساوي 10 ريالات عند الدفع.",
    )
