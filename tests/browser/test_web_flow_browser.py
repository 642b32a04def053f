"""The whole product in two real Chromium tabs, no Telegram: a customer on /chat and an agent
on /agent. The customer asks, gets the answer, asks for a person; the agent accepts; messages
flow both ways; the agent closes; the customer rates."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from storage.models import Message, Rating
from tests.conftest import browser_login, wait_for_js


async def test_customer_tab_and_agent_tab_full_flow(
    browser: Any,
    client: TestClient[Any, Any],
    services: Services,
    agent_token: dict[str, Any],
) -> None:
    def url(path: str) -> str:
        return str(client.make_url(path))

    errors: list[str] = []
    agent_ctx = await browser.new_context()
    customer_ctx = await browser.new_context()
    try:
        agent = await agent_ctx.new_page()
        customer = await customer_ctx.new_page()
        for tab in (agent, customer):
            tab.set_default_timeout(10_000)
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
        agent.sanad_url = url
        await browser_login(agent, agent_token["token"], "/agent")
        await agent.wait_for_selector('#connection[data-state="connected"]')
        await agent.select_option("#agent-status", "available")
        await wait_for_js(agent, "document.querySelector('#agent-status').value === 'available'")

        # The customer asks a question and gets the answer with "Did this help?".
        await customer.goto(url("/chat"))
        await customer.wait_for_selector('.msg[data-sender="bot"]')  # the greeting
        await customer.fill("#composer-text", "how many days does delivery take?")
        await customer.click("#send")
        answer = customer.locator('.msg[data-sender="bot"]', has_text="2-4 working days")
        await answer.wait_for()
        assert await answer.locator("button.msg-button").all_inner_texts() == ["Yes", "No"]

        # ... then asks for a person.
        await customer.click("#talk-to-person")
        await customer.locator('.msg[data-sender="system"]', has_text="in the queue").wait_for()
        await customer.locator("#stop-waiting").wait_for()

        # The agent accepts the offer and opens the chat.
        offer = agent.locator("#offers .offer").first
        await offer.wait_for()
        assert "delivery take" in await offer.inner_text()
        await offer.locator("button.accept").click()
        chat = agent.locator("#chats .chat").first
        await chat.wait_for()
        assert await chat.locator(".channel").inner_text() == "web"
        await chat.click()
        await agent.locator(
            '#transcript .msg[data-sender="customer"]', has_text="delivery take"
        ).wait_for()
        await customer.locator('.msg[data-sender="system"]', has_text="joined").wait_for()

        # Both ways.
        await agent.fill("#reply-text", "Hi! I'm checking your order now.")
        await agent.click("#reply-send")
        from_agent = customer.locator('.msg[data-sender="agent"]', has_text="checking your order")
        await from_agent.wait_for()
        await customer.fill("#composer-text", "Thanks, it's order 4711")
        await customer.press("#composer-text", "Enter")
        await agent.locator(
            '#transcript .msg[data-sender="customer"]', has_text="order 4711"
        ).wait_for()
        # The agent attaches a file: the customer gets a download link.
        await agent.set_input_files(
            "#reply-file",
            files=[{"name": "label.pdf", "mimeType": "application/pdf", "buffer": b"%PDF l"}],
        )
        link = customer.locator('.msg[data-sender="agent"] a', has_text="label.pdf")
        await link.wait_for()
        assert (await link.get_attribute("href") or "").startswith("/chat/files/")

        # The agent closes; the customer rates 5 stars.
        agent.on("dialog", lambda dialog: dialog.accept())
        await agent.click("#close-chat")
        rating = customer.locator('.msg[data-sender="system"]', has_text="rate")
        await rating.wait_for()
        stars = rating.locator("button.msg-button")
        assert await stars.all_inner_texts() == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
        await stars.nth(4).click()
        await customer.locator(".msg", has_text="You rated 5").wait_for()
        await customer.locator("#talk-to-person").wait_for()

        async with services.db.transaction() as session:
            stored = (await session.execute(select(Rating))).scalar_one()
            texts = (await session.execute(select(Message.text))).scalars().all()
        assert (stored.stars, stored.agent_id) == (5, agent_token["agent_id"])
        # Every line shown once in the customer's tab.
        ids = await customer.eval_on_selector_all(".msg", "els => els.map(e => e.dataset.id)")
        assert len(ids) == len(set(ids)) == len(texts)
        assert errors == []
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
