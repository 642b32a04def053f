"""The agent console (/agent) in real headless Chromium, with a web customer driven through the
/chat/ws protocol by aiohttp's client: an offer with a countdown, accept, the live chat both
ways (across a dropped push socket), an internal note the customer never sees, close, rating."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import browser_login, wait_for_js
from tests.webchat_client import ChatClient, Frame


def message_from(sender: str, text: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: (
        f.get("type") == "message"
        and f.get("sender") == sender
        and (text is None or f.get("text") == text)
    )


async def transcript_texts(page: Any, sender: str) -> list[str]:
    texts: list[str] = await page.eval_on_selector_all(
        f'#transcript .msg[data-sender="{sender}"] .msg-text', "els => els.map(e => e.textContent)"
    )
    return texts


async def test_offer_accept_chat_note_close_and_rating(
    page: Any, client: TestClient[Any, Any], agent_token: dict[str, Any]
) -> None:
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    posted_lines: list[str] = []  # the console sends its lines over the socket, not posted
    page.on(
        "request",
        lambda r: posted_lines.append(r.url) if r.url.endswith("/messages") else None,
    )

    # The agent logs in and goes available.
    await browser_login(page, agent_token["token"], "/agent")
    if not page.url.split("?")[0].endswith("/agent"):
        await page.goto(page.sanad_url("/agent"))
    await page.wait_for_selector('#connection[data-state="connected"]')
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/agent/status")) as answer:
        await page.select_option("#agent-status", "available")
    assert (await answer.value).ok
    assert await page.input_value("#agent-status") == "available"
    assert await page.locator("#offers .offer").count() == 0

    # A web customer asks for a person.
    customer = ChatClient(client)
    try:
        await customer.connect(name="Layla")
        first = "I want to talk to a person"
        await customer.ack(await customer.say(first))

        # The offer card, with its countdown; accept it.
        offer = page.locator("#offers .offer").first
        await offer.wait_for()
        ticket_id = int(await offer.get_attribute("data-ticket-id"))
        state = await customer.next(lambda f: f["type"] == "state")
        assert state["ticket"]["id"] == ticket_id
        assert "Layla" in await offer.inner_text()
        countdown = await offer.locator(".countdown").inner_text()
        assert re.fullmatch(r"\d+ s left", countdown), countdown
        assert int(countdown.split()[0]) > 0
        await offer.locator("button.accept").click()
        await offer.wait_for(state="detached")

        # The chat is in the list (channel web) and open, with the customer's message.
        chat = page.locator(f'#chats .chat[data-ticket-id="{ticket_id}"]')
        await chat.wait_for()
        assert await chat.locator(".channel").inner_text() == "web"
        await page.wait_for_selector(
            f'#transcript .msg[data-sender="customer"]:has-text("{first}")'
        )

        # The agent replies (Enter sends): the customer gets it from the agent, shown once.
        reply = "Hello Layla, Sara here. How can I help?"
        await page.fill("#reply-text", reply)
        await page.press("#reply-text", "Enter")
        got = await customer.next(message_from("agent", reply))
        await page.wait_for_selector(f'#transcript .msg[data-id="{got["id"]}"]')
        # The box empties when the socket answers "said" (the push frame may come first).
        await wait_for_js(page, "document.querySelector('#reply-text').value === ''")
        await page.wait_for_timeout(300)  # both the answer and the push frame are in
        assert await page.locator(f'#transcript .msg[data-id="{got["id"]}"]').count() == 1
        assert posted_lines == []

        # A line sent just as the socket drops: its answer may be lost, so the console sends
        # it again (same client_id) over the next socket; the customer gets it once.
        lost = "Let me check that for you"
        await page.fill("#reply-text", lost)
        await page.evaluate(
            "() => { document.querySelector('#reply-send').click();"
            " window.sanadConsole.socket.close(); }"
        )
        again = await customer.next(message_from("agent", lost))
        await wait_for_js(page, "document.querySelector('#reply-text').value === ''")
        await page.wait_for_selector(f'#transcript .msg[data-id="{again["id"]}"]')
        await customer.drain()
        assert [f["id"] for f in customer.frames if message_from("agent", lost)(f)] == [again["id"]]
        assert await page.locator(f'#transcript .msg[data-id="{again["id"]}"]').count() == 1
        await page.wait_for_selector('#connection[data-state="connected"]')

        # A line the server refuses (over 4096 characters): the reason is shown, the text kept.
        await page.fill("#reply-text", "x" * 4097)
        await page.press("#reply-text", "Enter")
        await page.wait_for_selector("#console-error:not([hidden])")
        assert "4096" in await page.inner_text("#console-error")
        assert await page.input_value("#reply-text") == "x" * 4097
        await page.click("#console-error .banner-dismiss")
        await page.fill("#reply-text", "")

        # The push socket drops; the console reconnects and the customer's next message arrives.
        old = await page.evaluate_handle("window.sanadConsole.socket")
        await page.evaluate("window.sanadConsole.socket.close()")
        await wait_for_js(
            page,
            "old => window.sanadConsole.socket !== old"
            " && window.sanadConsole.socket.readyState === WebSocket.OPEN",
            arg=old,
        )
        second = "My order 1042 has not arrived"
        await customer.say(second)
        await page.wait_for_selector(
            f'#transcript .msg[data-sender="customer"]:has-text("{second}")'
        )
        await page.wait_for_timeout(300)
        assert (await transcript_texts(page, "customer")).count(second) == 1
        ids = await page.eval_on_selector_all(
            "#transcript .msg", "els => els.map(e => e.dataset.id)"
        )
        assert len(ids) == len(set(ids))

        # An internal note: shown in the console, never sent to the customer.
        note = "Checked the courier: parcel stuck in Riyadh hub"
        await page.fill("#note-text", note)
        await page.click("#note-add")
        await page.wait_for_selector(f'#notes .note:has-text("{note}")')
        assert note not in await page.inner_text("#transcript")

        # Close: the chat leaves the list; the customer gets the 5-star rating and rates.
        await page.click("#close-chat")
        await chat.wait_for(state="detached")
        assert await page.is_hidden("#chat-view")

        def is_rating(f: Frame) -> bool:
            datas = [b["data"] for row in f.get("buttons") or [] for b in row]
            return f.get("type") == "message" and any(d.startswith("rate:") for d in datas)

        rating = await customer.next(is_rating)
        stars = [b for row in rating["buttons"] for b in row]
        assert len(stars) == 5
        five = stars[-1]["data"]
        assert five.endswith(":5")
        await customer.ack(await customer.press(five, rating["id"]))
        updated = await customer.next(lambda f: f["type"] == "update" and f["id"] == rating["id"])
        assert not any(b["data"].startswith("rate:") for row in updated["buttons"] for b in row)
        assert not [f for f in customer.frames if f.get("type") == "error"]
        assert note not in json.dumps(customer.frames, ensure_ascii=False)
    finally:
        await customer.close()
    assert not errors, errors
    assert await page.is_hidden("#console-error"), await page.inner_text("#console-error")


async def test_an_offer_pushed_while_the_console_refetches_its_state_stays_open(
    page: Any, client: TestClient[Any, Any], agent_token: dict[str, Any]
) -> None:
    """The console refetches ``GET /me`` when its push socket reconnects. An offer pushed
    while that answer is on its way is not in it (the server answered before the offer was
    made): the page must keep the offer, not mark it expired."""
    page.set_default_timeout(10_000)
    await browser_login(page, agent_token["token"], "/agent")
    if not page.url.split("?")[0].endswith("/agent"):
        await page.goto(page.sanad_url("/agent"))
    await page.wait_for_selector('#connection[data-state="connected"]')
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/agent/status")) as answer:
        await page.select_option("#agent-status", "available")
    assert (await answer.value).ok

    answered = asyncio.Event()  # the server has answered /me (before any offer)
    release = asyncio.Event()  # the page may have that answer now

    async def hold_me(route: Any) -> None:
        response = await route.fetch()
        answered.set()
        await release.wait()
        await route.fulfill(response=response)

    await page.route("**/api/v1/agent/me", hold_me)
    await page.evaluate("window.sanadConsole.socket.close()")  # reconnects, then asks /me
    await asyncio.wait_for(answered.wait(), 10)

    customer = ChatClient(client)
    try:
        await customer.connect(name="Layla")
        await customer.ack(await customer.say("I want to talk to a person"))
        offer = page.locator("#offers .offer").first
        await offer.wait_for()  # pushed while /me is held
        async with page.expect_response(lambda r: r.url.endswith("/api/v1/agent/me")):
            release.set()
        await page.wait_for_selector('#connection[data-state="connected"]')
        await page.evaluate("new Promise((done) => setTimeout(done, 100))")  # applied by now
        classes = await offer.get_attribute("class") or ""
        assert "ended" not in classes.split()
        assert await page.locator("#offers .offer:not(.ended)").count() == 1
    finally:
        await page.unroute("**/api/v1/agent/me")
        await customer.close()
