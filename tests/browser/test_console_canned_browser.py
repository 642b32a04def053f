"""Canned replies in the agent console (real Chromium): a reply an admin adds while the console
is open appears in the list at once (a push, no reload: the open chat and the half-written reply
stay); picking one puts it, filled in, into the reply box at the cursor, and nothing is sent
until the agent sends it. A visitor without a name gets no "Web visitor 1a2b"."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import bearer, browser_login, wait_for_js
from tests.webchat_client import ChatClient


async def test_canned_reply_arrives_live_and_inserts_for_editing(
    page: Any,
    client: TestClient[Any, Any],
    agent_token: dict[str, Any],
    tokens: dict[str, str],
) -> None:
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await browser_login(page, agent_token["token"], "/agent")
    await page.wait_for_selector('#connection[data-state="connected"]')
    await page.select_option("#agent-status", "available")
    await wait_for_js(page, "document.querySelector('#agent-status').value === 'available'")

    customer = ChatClient(client)  # no name given: the chat shows "Web visitor ..."
    try:
        await customer.connect()
        await customer.ack(await customer.say("I want to talk to a person"))
        offer = page.locator("#offers .offer").first
        await offer.wait_for()
        await offer.locator("button.accept").click()
        await page.wait_for_selector('#transcript .msg[data-sender="customer"]')
        opened = await page.evaluate("window.sanadConsole.state.openId")
        assert opened is not None
        await page.fill("#reply-text", "About your parcel: ")
        before = await page.evaluate("performance.getEntriesByType('navigation').length")

        # An admin adds a reply now; the open console lists it without a reload.
        added = await client.post(
            "/api/v1/canned",
            json={"shortcut": "late", "text": "Sorry {name}, it is late; I'm {agent}."},
            headers=bearer(tokens["admin"]),
        )
        assert added.status in (200, 201), await added.text()
        option = page.locator('#canned-select option[value="late"]')
        await option.wait_for(state="attached")
        assert await page.evaluate("window.sanadConsole.state.openId") == opened
        assert await page.input_value("#reply-text") == "About your parcel: "
        assert await page.evaluate("performance.getEntriesByType('navigation').length") == before

        # Picking it inserts the filled text at the cursor; nothing goes to the customer.
        await page.focus("#reply-text")
        await page.press("#reply-text", "End")
        await page.select_option("#canned-select", "late")
        expected = "About your parcel: Sorry, it is late; I'm Web Agent."
        await wait_for_js(
            page, "text => document.querySelector('#reply-text').value === text", arg=expected
        )
        await page.wait_for_timeout(300)
        assert not [f for f in customer.frames if f.get("sender") == "agent"]
        assert await page.locator('#transcript .msg[data-sender="agent"]').count() == 0

        # The agent edits it and sends.
        await page.press("#reply-text", "End")
        await page.keyboard.type(" Tomorrow!")
        await page.press("#reply-text", "Enter")
        got = await customer.next(lambda f: f.get("type") == "message" and f["sender"] == "agent")
        assert got["text"] == expected + " Tomorrow!"
        assert "Web visitor" not in got["text"]

        # Removing it takes it off the list, live too.
        removed = await client.delete("/api/v1/canned/late", headers=bearer(tokens["admin"]))
        assert removed.status in (200, 204)
        await option.wait_for(state="detached")
    finally:
        await customer.close()
    assert not errors, errors
