"""The FAQ editor in real headless Chromium: edit an article, see "try it" change; validation
errors next to the form; delete with confirmation; the Arabic page is right to left."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tests.conftest import browser_login

QUESTION = "Which telescope fits a beginner astronomer"


async def _ask(page: Any, question: str) -> str:
    await page.fill("#try-question", question)
    await page.click("#try-button")
    await page.wait_for_selector("#try-result")
    outcome: str = await page.get_attribute("#try-result", "data-outcome")
    return outcome


async def test_edit_an_article_and_try_it(
    page: Any, tokens: dict[str, str], services: Services
) -> None:
    await browser_login(page, tokens["editor"], "/faq?lang=en")
    await page.wait_for_selector("#articles-table")
    # A paraphrase, decided on words and meaning, both scores shown per candidate (asked
    # before the edit below adds an unrelated phrasing to the article, moving its centroid).
    assert await _ask(page, "the thing I bought arrived broken") == "answer"
    assert await page.get_attribute("#try-mode", "data-mode") == "fused"
    assert await page.get_attribute("#try-group", "data-group") == "en"
    assert await page.inner_text("#try-group") == "English"
    lexical = await page.inner_text('tr[data-slug="damaged-item"] .try-lexical')
    meaning = await page.inner_text('tr[data-slug="damaged-item"] .try-semantic')
    assert 0 < float(lexical) <= 1 and 0 < float(meaning) <= 1
    assert await _ask(page, QUESTION) != "answer"

    await page.click('tr[data-slug="damaged-item"][data-lang="en"] a.edit-link')
    await page.wait_for_selector("#f-phrasings")
    phrasings = await page.input_value("#f-phrasings")
    await page.fill("#f-phrasings", f"{phrasings}\n{QUESTION}")
    await page.click("#save-button")
    await page.wait_for_selector("#saved-message")

    assert await _ask(page, QUESTION) == "answer"
    assert await page.inner_text("#try-answer") == "damaged-item"
    assert "damaged-item" in await page.inner_text("#try-hits")
    # An exact phrasing: the lexical score alone is decisive (no embedding needed).
    assert await page.get_attribute("#try-mode", "data-mode") == "lexical"
    view = services.faq.article(int(page.url.split("/faq/")[1].split("?")[0]))
    assert view is not None and view.slug == "damaged-item"


async def test_new_article_errors_then_delete_with_confirmation(
    page: Any, tokens: dict[str, str], services: Services
) -> None:
    await browser_login(page, tokens["admin"], "/faq/new")
    await page.wait_for_selector("#article-form")
    await page.fill("#f-slug", "gift-wrap")
    await page.fill("#f-question", "Do you offer gift wrapping?")
    await page.fill("#f-answer", "   ")  # blank after trimming: the server says so
    await page.click("#save-button")
    await page.wait_for_selector("#form-error")
    assert "'answer' is empty" in await page.inner_text("#form-error")
    assert await page.input_value("#f-question") == "Do you offer gift wrapping?"
    await page.fill("#f-answer", "Yes, at checkout.")
    await page.click("#save-button")
    await page.wait_for_selector("#saved-message")
    article_id = int(page.url.split("/faq/")[1].split("?")[0])
    assert services.faq.article(article_id) is not None

    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#delete-button")
    await page.wait_for_selector("#deleted-message")
    assert "gift-wrap" in await page.inner_text("#deleted-message")
    assert services.faq.article(article_id) is None


async def test_arabic_faq_page_is_right_to_left(page: Any, tokens: dict[str, str]) -> None:
    await browser_login(page, tokens["editor"], "/faq?lang=ar")
    await page.wait_for_selector("#articles-table")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert "مقالات الأسئلة الشائعة" in await page.inner_text("h1")
    direction = await page.evaluate("getComputedStyle(document.body).direction")
    assert direction == "rtl"
    assert await _ask(page, "كم تكلفة التوصيل؟") == "answer"
    assert await page.inner_text("#try-answer") == "delivery-cost"
    assert await page.get_attribute("#try-group", "data-group") == "decisive"
    # Palestinian words: the dialect's thresholds decide.
    await _ask(page, "بدي أعرف شو تكلفة التوصيل بالزبط")
    assert await page.get_attribute("#try-group", "data-group") == "ar-dialect"
    assert await page.inner_text("#try-group") == "العربية العامية (لهجة)"
