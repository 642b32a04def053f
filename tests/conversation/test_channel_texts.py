"""Per-channel texts: the web chat never tells a customer to type a Telegram command (it has
buttons for that); Telegram keeps its commands; in Arabic every command carries a left-to-right
mark so its slash stays on the left (checked in Chromium's own bidi layout too)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.webchat_client import ChatClient
from texts import CATALOGUES, LRM, on_web, placeholders, template
from texts import text as t

COMMAND = re.compile(r"(?<![\w:/])/[a-z]+")
CUSTOMER_KEYS = [key for key in CATALOGUES["en"] if key.startswith("customer.")]


def _filled(key: str, lang: str) -> str:
    fields = placeholders(template(key, lang))
    return t(key, lang, **dict.fromkeys(fields, "X"))


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_no_customer_text_on_the_web_names_a_command(lang: str) -> None:
    for key in CUSTOMER_KEYS:
        web = on_web(_filled(key, lang))
        assert not COMMAND.findall(web), (key, web)
    assert "Talk to a person" in on_web(t("customer.handed_back", "en"))
    assert "«إلغاء الانتظار»" in on_web(t("customer.queued", "ar", position=1, ticket=2, wait=""))


def test_telegram_keeps_its_commands_with_a_mark_in_arabic() -> None:
    assert "/cancel" in t("customer.queued", "en", position=1, ticket=2, wait="")
    assert "/human" in t("customer.greeting", "en", name="Sara", shop="Shop")
    for key in CATALOGUES["en"]:
        arabic = _filled(key, "ar")
        for found in re.finditer(r"(?<![\w:/])/[a-z]+", arabic):
            assert arabic[found.start() - 1] == LRM, (key, arabic)
    english = _filled("customer.greeting", "en")
    assert LRM not in english


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_web_chat_says_buttons_not_commands(
    client: TestClient[Any, Any], lang: str, agent_token: dict[str, Any]
) -> None:
    chat = ChatClient(client, lang=lang)
    try:
        await chat.connect()
        greeting = await chat.message("bot")
        await chat.ack(await chat.press("human"))
        said = await chat.message("system")
        await chat.ack(await chat.say("/cancel"))
        back = await chat.message("bot" if lang == "en" else None, within=5)
        await chat.drain()
        texts = [f["text"] for f in chat.frames if f.get("type") == "message"]
    finally:
        await chat.close()
    assert greeting and said and back
    for text in texts:
        if text == "/cancel":  # the customer's own line
            continue
        assert not COMMAND.findall(text), text
    button = "Talk to a person" if lang == "en" else "التحدث إلى موظف"
    assert button in greeting["text"]


async def test_arabic_command_slash_stays_on_the_left_in_chromium(browser: Any) -> None:
    """Chromium lays out the Arabic text right to left: with the mark, "/" is drawn left of
    "human"; without it (the old text) it was drawn on the right."""
    page = await browser.new_page()
    try:
        for text, slash_left in (
            (t("customer.handed_back", "ar"), True),
            (t("customer.handed_back", "ar").replace(LRM, ""), False),
        ):
            await page.set_content(
                '<div dir="rtl" style="font: 20px sans-serif; width: 900px" id="box"></div>'
            )
            await page.eval_on_selector("#box", "(el, text) => { el.textContent = text; }", text)
            positions = await page.evaluate(
                """() => {
                  const node = document.getElementById('box').firstChild;
                  const text = node.textContent;
                  const at = text.indexOf('/human');
                  const rect = (i) => { const r = document.createRange();
                    r.setStart(node, i); r.setEnd(node, i + 1); return r.getBoundingClientRect(); };
                  return { slash: rect(at).left, h: rect(at + 1).left };
                }"""
            )
            assert (positions["slash"] < positions["h"]) is slash_left, (text, positions)
    finally:
        await page.close()
