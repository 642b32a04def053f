"""The customer chat page (/chat) in real headless Chromium, customer side only: ask the bot,
answer "Did this help?", ask for a person and land in the queue; Arabic is right to left and
answered in Arabic; a reload keeps the conversation without duplicates; uploads; the widget
on another site's page."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import wait_for_js

QUESTION = "How long does delivery take?"
QUESTION_AR = "كم تستغرق مدة التوصيل؟"
MESSAGES = "#messages .msg"


async def _open_chat(page: Any, path: str = "/chat?lang=en") -> None:
    """Opens the chat and waits for the server's `welcome` (the ticket state is then known)."""
    await page.goto(page.sanad_url(path))
    await wait_for_js(page, "() => window.sanadChat && window.sanadChat.state !== null")


async def _ask(page: Any, text: str) -> None:
    await page.fill("#composer-text", text)
    await page.press("#composer-text", "Enter")


async def _transcript(page: Any) -> list[tuple[str, str, str]]:
    """(id, sender, text) of every message shown, in order."""
    rows: list[tuple[str, str, str]] = await page.eval_on_selector_all(
        MESSAGES,
        """els => els.map(e => [e.dataset.id || "", e.dataset.sender,
                               e.querySelector('.msg-text').textContent])""",
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def _wait_acked(page: Any) -> None:
    """Every frame sent has been acknowledged (the outbox is empty)."""
    await wait_for_js(page, "() => window.sanadChat.outbox.length === 0")


async def test_ask_the_bot_say_no_and_ask_for_a_person(page: Any) -> None:
    await _open_chat(page)
    assert await page.get_attribute("html", "dir") == "ltr"
    assert await page.evaluate("window.sanadChat.state") == "bot"
    assert await page.is_visible("#talk-to-person")
    assert not await page.is_visible("#stop-waiting")
    visitor = await page.evaluate("JSON.parse(localStorage.getItem('sanad_visitor'))")
    assert isinstance(visitor, str) and visitor

    # Too long: refused in the page, nothing sent (the bot's greeting may already be there).
    await page.wait_for_timeout(300)
    shown = await page.locator(MESSAGES).count()
    await page.fill("#composer-text", "x" * 4097)
    await page.click("#send")
    await page.wait_for_selector("#chat-error:not([hidden])")
    assert "4096" in await page.inner_text("#chat-error")
    assert await page.evaluate("window.sanadChat.outbox.length") == 0
    assert await page.locator(MESSAGES).count() == shown

    await _ask(page, QUESTION)
    mine = page.locator(f'{MESSAGES}[data-sender="customer"]')
    await mine.first.wait_for()
    answer = page.locator(f'{MESSAGES}[data-sender="bot"]', has_text="2-4 working days")
    await answer.first.wait_for()
    messages = page.locator("#messages")
    yes = messages.get_by_role("button", name="Yes", exact=True)
    no = messages.get_by_role("button", name="No", exact=True)
    await no.wait_for()
    assert await yes.count() == 1 and await no.count() == 1
    assert (await no.get_attribute("data-data") or "") != ""
    await _wait_acked(page)
    assert await mine.count() == 1, "the customer's message is shown exactly once"
    assert await page.input_value("#composer-text") == ""

    await no.click()
    # The message's buttons are disabled at once (or removed by the server's `update`).
    await wait_for_js(
        page,
        """() => [...document.querySelectorAll('#messages button.msg-button')]
                   .filter(b => b.textContent === 'No').every(b => b.disabled)""",
    )
    await page.locator(f'{MESSAGES}[data-sender="bot"]', has_text="Sorry").first.wait_for()

    await page.click("#talk-to-person")
    await page.locator(f'{MESSAGES}[data-sender="system"]', has_text="queue").first.wait_for()
    await wait_for_js(page, "() => ['queued', 'offered'].includes(window.sanadChat.state)")
    await page.wait_for_selector("#stop-waiting", state="visible")
    assert not await page.is_visible("#talk-to-person")
    await _wait_acked(page)

    ids = [row[0] for row in await _transcript(page)]
    assert all(ids) and len(ids) == len(set(ids)), ids
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert await page.evaluate("window.sanadChat.socket.readyState") == 1


async def test_arabic_chat_is_right_to_left_and_answers_in_arabic(page: Any) -> None:
    await _open_chat(page, "/chat?lang=ar")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.get_attribute("html", "lang") == "ar"
    assert await page.inner_text("#talk-to-person") == "التحدث إلى موظف"
    assert await page.get_attribute("#switch-lang", "href") == "?lang=en"
    await _ask(page, QUESTION_AR)
    answer = page.locator(f'{MESSAGES}[data-sender="bot"]', has_text="أيام عمل")
    await answer.first.wait_for()
    await page.locator("#messages").get_by_role("button", name="نعم", exact=True).wait_for()
    # The customer's bubble sits on the end side: the left, right to left.
    mine = page.locator(f'{MESSAGES}[data-sender="customer"]').first
    bot = answer.first
    mine_box, bot_box = await mine.bounding_box(), await bot.bounding_box()
    assert mine_box["x"] < bot_box["x"]
    assert mine_box["x"] + mine_box["width"] < bot_box["x"] + bot_box["width"]


async def test_reload_keeps_the_conversation_without_duplicates(page: Any) -> None:
    await _open_chat(page)
    await _ask(page, QUESTION)
    await page.locator(
        f'{MESSAGES}[data-sender="bot"]', has_text="2-4 working days"
    ).first.wait_for()
    await page.locator("#messages button.msg-button").first.wait_for()
    await _wait_acked(page)
    await page.wait_for_timeout(300)  # let any trailing frame arrive
    before = await _transcript(page)
    visitor = await page.evaluate("localStorage.getItem('sanad_visitor')")
    assert len(before) >= 2

    # A plain reload: the cached transcript, and only newer messages from the server.
    await page.reload()
    await wait_for_js(page, "() => window.sanadChat && window.sanadChat.state !== null")
    await page.wait_for_timeout(500)
    assert await _transcript(page) == before
    assert await page.evaluate("localStorage.getItem('sanad_visitor')") == visitor

    # Without the page's cache the server replays the whole conversation (since = 0) for the
    # same visitor: still the same messages, once each.
    await page.evaluate(
        """() => Object.keys(localStorage).filter(k => k.startsWith('sanad_transcript:'))
                   .forEach(k => localStorage.removeItem(k))"""
    )
    await page.reload()
    await wait_for_js(
        page, "n => document.querySelectorAll('#messages .msg').length >= n", arg=len(before)
    )
    await page.wait_for_timeout(500)
    assert await _transcript(page) == before

    # The conversation goes on: a new message shows once, after the old ones.
    await _ask(page, "Is shipping free?")
    await _wait_acked(page)
    await page.locator(f'{MESSAGES}[data-sender="bot"]', has_text="25 SAR").first.wait_for()
    after = await _transcript(page)
    assert after[: len(before)] == before
    ids = [row[0] for row in after]
    assert all(ids) and len(ids) == len(set(ids))
    assert [row[2] for row in after].count("Is shipping free?") == 1


async def test_upload_a_file_and_refuse_one_too_big(page: Any) -> None:
    await _open_chat(page)
    limit = json.loads(await page.inner_text("#chat-config"))["uploadMaxBytes"]
    await page.set_input_files(
        "#attach",
        files=[
            {
                "name": "big.bin",
                "mimeType": "application/octet-stream",
                "buffer": b"0" * (limit + 1),
            }
        ],
    )
    await page.wait_for_selector("#chat-error:not([hidden])")
    assert await page.locator(f'{MESSAGES}[data-sender="customer"]').count() == 0

    await page.set_input_files(
        "#attach",
        files=[{"name": "receipt.txt", "mimeType": "text/plain", "buffer": b"order 1234, paid"}],
    )
    link = page.locator(f'{MESSAGES}[data-sender="customer"][data-id] a.msg-file')
    await link.first.wait_for()
    assert "receipt.txt" in await link.first.inner_text()
    href = await link.first.get_attribute("href")
    assert href and href.startswith("/chat/files/")
    response = await page.request.get(page.sanad_url(href))
    assert response.status == 200 and await response.body() == b"order 1234, paid"
    await page.wait_for_timeout(300)
    assert await page.locator(f'{MESSAGES}[data-sender="customer"]').count() == 1

    # A refusal from the server (as docs/webchat.md has it: 413 and a JSON error) is shown.
    async def refuse(route: Any) -> None:
        await route.fulfill(status=413, json={"error": "file larger than 5 MB", "status": 413})

    await page.route("**/chat/upload", refuse)
    await page.set_input_files(
        "#attach", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"x"}]
    )
    await page.locator("#chat-error", has_text="file larger than 5 MB").wait_for()
    assert await page.locator(f'{MESSAGES}[data-sender="customer"]').count() == 1


async def test_server_refuses_a_file_too_big_with_a_json_error(page: Any) -> None:
    await _open_chat(page)
    limit = json.loads(await page.inner_text("#chat-config"))["uploadMaxBytes"]
    # Past the page's own check (a script, say): the server answers 413 with a JSON error.
    refused = await page.evaluate(
        """async size => {
            const body = new FormData();
            body.append("visitor", JSON.parse(localStorage.getItem("sanad_visitor")));
            body.append("client_id", "big1");
            body.append("file", new Blob([new Uint8Array(size)]), "big.bin");
            const r = await fetch("/chat/upload", {method: "POST", body});
            const text = await r.text();
            try { return [r.status, JSON.parse(text), r.headers.get("content-type")]; }
            catch { return [r.status, text.slice(0, 400), r.headers.get("content-type")]; }
        }""",
        limit + 1,
    )
    assert refused[0] == 413 and isinstance(refused[1], dict) and refused[1]["error"], refused


async def test_widget_on_another_site_opens_a_working_chat(
    browser: Any, client: TestClient[Any, Any]
) -> None:
    """A shop's page on another origin embeds widget.js; the frame it opens is Sanad's chat,
    and a question asked there gets its answer."""
    sanad = str(client.make_url("/static/widget.js"))
    shop = web.Application()

    async def shop_page(request: web.Request) -> web.Response:
        html = (
            '<!doctype html><html lang="en"><body><h1>The shop</h1>'
            f'<script src="{sanad}" async></script></body></html>'
        )
        return web.Response(text=html, content_type="text/html")

    shop.router.add_get("/", shop_page)
    async with TestServer(shop) as shop_server:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            page.set_default_timeout(10_000)
            await page.goto(str(shop_server.make_url("/")))
            await page.locator("#sanad-widget button").first.click()
            frame = page.frame_locator("#sanad-widget iframe")
            await frame.locator('.msg[data-sender="bot"]').first.wait_for()
            await frame.locator("#composer-text").fill("how many days does delivery take?")
            await frame.locator("#send").click()
            answer = frame.locator('.msg[data-sender="bot"]', has_text="2-4 working days")
            await answer.wait_for()
            assert "Did this help?" in await answer.inner_text()
        finally:
            await context.close()


async def test_a_message_written_while_the_connection_is_down_arrives_once(page: Any) -> None:
    """The socket drops; the customer writes meanwhile (the page keeps it in its outbox);
    the page reconnects by itself, resends it, and it is answered exactly once."""
    await _open_chat(page)
    await _wait_acked(page)
    await page.evaluate("window.sanadChat.socket.close()")
    await wait_for_js(page, "() => window.sanadChat.socket.readyState !== 1")
    await _ask(page, QUESTION)  # the page reconnects after 0.5 s: this waits in the outbox
    await _wait_acked(page)  # after the reconnect
    answer = page.locator('#messages .msg[data-sender="bot"]', has_text="2-4 working days")
    await answer.wait_for()
    await page.wait_for_timeout(500)
    rows = await _transcript(page)
    assert [text for _, sender, text in rows if sender == "customer"] == [QUESTION]
    assert await answer.count() == 1
