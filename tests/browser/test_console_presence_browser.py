"""Presence and alerts in the agent console, in real headless Chromium, in English and Arabic:
a desktop notification (permission granted to the context; the page's ``Notification`` calls
recorded by an init script) for a new offer and for a customer's line in a chat not in view,
unread counts per chat and the tab title counting pending work, the mute switch remembered;
closing the tab makes the agent absent at once and offline after the grace."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

import texts
from app.services import Services
from base.clock import VirtualClock
from storage.models import Agent, Offer
from tests.conftest import browser_login, wait_for_js
from tests.webchat_client import ChatClient

# Records every desktop notification the page makes (the real one is still shown).
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, body: (options || {}).body || "" });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""

GRACE_S = 5.0


async def _agent(services: Services, agent_id: int) -> Agent:
    async with services.db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        return agent


async def _until_absent(services: Services, agent_id: int) -> None:
    async with asyncio.timeout(10):
        while True:
            if (await _agent(services, agent_id)).absent_since is not None:
                return
            await asyncio.sleep(0.1)


async def _ask(client: TestClient[Any, Any], name: str, lang: str) -> ChatClient:
    customer = ChatClient(client, lang=lang)
    await customer.connect(name=name)
    await customer.ack(await customer.say("I want to talk to a person"))
    return customer


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_alerts_unread_title_and_closing_the_tab(
    browser: Any,
    client: TestClient[Any, Any],
    services: Services,
    clock: VirtualClock,
    agent_token: dict[str, Any],
    lang: str,
) -> None:
    config = replace(services.handoff.config, presence_grace_s=GRACE_S)
    services.handoff.config = services.handoff.engine.config = config
    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=str(client.make_url("/"))[:-1])
    await context.add_init_script(RECORD_NOTIFICATIONS)
    page = await context.new_page()
    page.sanad_url = lambda path: str(client.make_url(path))
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    customers: list[ChatClient] = []
    agent_id = agent_token["agent_id"]
    try:
        await browser_login(page, agent_token["token"], f"/agent?lang={lang}")
        if "/agent" not in page.url:
            await page.goto(page.sanad_url(f"/agent?lang={lang}"))
        await page.wait_for_selector('#connection[data-state="connected"]')
        base_title = await page.title()
        # Permission is granted already: the bell says alerts are on.
        on = texts.text("console.alerts_on", lang)
        await wait_for_js(
            page, "t => document.querySelector('#alerts-enable').textContent.includes(t)", on
        )
        # The mute switch is remembered.
        await page.check("#alerts-mute")
        assert await page.evaluate("localStorage.getItem('sanad.console.mute')") == "1"
        await page.uncheck("#alerts-mute")
        assert await page.evaluate("localStorage.getItem('sanad.console.mute')") == "0"
        async with page.expect_response(lambda r: r.url.endswith("/api/v1/agent/status")):
            await page.select_option("#agent-status", "available")

        # A new offer: a notification, and the title counts it.
        customers.append(await _ask(client, "Layla", lang))
        offer = page.locator("#offers .offer").first
        await offer.wait_for()
        notes = await wait_for_js(page, "window.__notes.length >= 1 && window.__notes")
        assert notes[0]["title"] == texts.text("console.alert_offer", lang)
        assert "Layla" in notes[0]["body"]
        await wait_for_js(page, "t => document.title === '(1) ' + t", base_title)
        await offer.locator("button.accept").click()
        await offer.wait_for(state="detached")
        await wait_for_js(page, "t => document.title === t", base_title)

        # A second chat, accepted: it is the one in view.
        customers.append(await _ask(client, "Omar", lang))
        second = page.locator("#offers .offer").first
        await second.wait_for()
        second_id = int(await second.get_attribute("data-ticket-id"))
        await second.locator("button.accept").click()
        await wait_for_js(page, "id => window.sanadConsole.state.openId === id", second_id)
        chats = await page.eval_on_selector_all(
            "#chats .chat", "els => els.map(e => Number(e.dataset.ticketId))"
        )
        (first_id,) = [c for c in chats if c != second_id]

        # Layla writes twice in the chat not in view: unread 2, title (2), a notification.
        before = await page.evaluate("window.__notes.length")
        await customers[0].say("Are you there?")
        await customers[0].say("My order 1042")
        badge = page.locator(f'#chats .chat[data-ticket-id="{first_id}"] .unread-badge')
        await wait_for_js(
            page,
            'id => document.querySelector(`#chats .chat[data-ticket-id="${id}"] .unread-badge`)'
            "?.dataset.count === '2'",
            first_id,
        )
        assert await badge.inner_text() == "2"
        await wait_for_js(page, "t => document.title === '(2) ' + t", base_title)
        notes = await wait_for_js(
            page, "n => window.__notes.length >= n + 2 && window.__notes", before
        )
        assert notes[-1]["title"] == texts.text("console.alert_message", lang, name="Layla")
        # Omar writes in the chat in view: no unread count, and no notification.
        count = len(notes)
        await customers[1].say("Thank you")
        await page.wait_for_selector(
            '#transcript .msg[data-sender="customer"]:has-text("Thank you")'
        )
        assert await page.evaluate("window.__notes.length") == count

        # Opening Layla's chat clears its count and the title.
        await page.click(f'#chats .chat[data-ticket-id="{first_id}"]')
        await badge.wait_for(state="detached")
        await wait_for_js(page, "t => document.title === t", base_title)
        assert errors == []

        # The tab closes: absent at once (no new offer), offline after the grace.
        await page.close()
        await _until_absent(services, agent_id)
        customers.append(await _ask(client, "Nour", lang))
        async with services.db.transaction() as session:
            pending = await session.scalars(
                select(Offer).where(Offer.agent_id == agent_id, Offer.state == "pending")
            )
            assert list(pending) == []
        assert (await _agent(services, agent_id)).status == "available"
        clock.advance(GRACE_S + 1)
        await services.presence.beat()
        assert (await _agent(services, agent_id)).status == "offline"
    finally:
        for customer in customers:
            await customer.close()
        await context.close()
