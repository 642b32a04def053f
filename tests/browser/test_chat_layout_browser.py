"""Layout checks in real Chromium, in English and Arabic: the rating stars are in view when the
agent closes the chat (the controls appearing below must not push them out of sight), and the
customer's Arabic lines in an offer card keep their bullets inside the card."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import bearer, browser_login, wait_for_js
from tests.webchat_client import ChatClient

IN_VIEW = """sel => {
  const box = document.getElementById('messages').getBoundingClientRect();
  const buttons = [...document.querySelectorAll(sel)];
  return buttons.length > 0 && buttons.every(b => {
    const r = b.getBoundingClientRect();
    return r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1
      && r.bottom <= window.innerHeight;
  });
}"""


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_rating_stars_are_scrolled_into_view(
    browser: Any, client: TestClient[Any, Any], agent_token: dict[str, Any], lang: str
) -> None:
    token = bearer(agent_token["token"])
    await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
    context = await browser.new_context(viewport={"width": 420, "height": 640})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    try:
        await page.goto(str(client.make_url(f"/chat?lang={lang}")))
        await page.wait_for_selector('.msg[data-sender="bot"]')
        await page.click("#talk-to-person")
        me = None
        for _ in range(100):
            me = await (await client.get("/api/v1/agent/me", headers=token)).json()
            if me["offers"]:
                break
            await page.wait_for_timeout(50)
        assert me and me["offers"], me
        offer = me["offers"][0]
        accepted = await client.post(
            f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token
        )
        assert accepted.status == 200
        ticket = offer["ticket_id"]
        for i in range(8):  # a transcript taller than the window
            await client.post(
                f"/api/v1/agent/chats/{ticket}/messages",
                json={"text": f"Line {i}: checking your order, one moment please."},
                headers=token,
            )
        await page.locator(".msg", has_text="Line 7").wait_for()
        await client.post(f"/api/v1/agent/chats/{ticket}/close", headers=token)
        stars = '.msg button.msg-button[data-data^="rate:"]'
        await page.wait_for_selector(stars)
        await page.locator("#talk-to-person").wait_for()  # the controls came back below
        await page.wait_for_timeout(300)
        assert await page.evaluate(IN_VIEW, stars), "the rating stars are out of view"
    finally:
        await context.close()


OUTSIDE = """() => {
  const hits = [];
  for (const card of document.querySelectorAll('#offers .offer')) {
    const c = card.getBoundingClientRect();
    for (const li of card.querySelectorAll('.offer-messages li')) {
      const r = li.getBoundingClientRect();
      const y = r.top + Math.min(r.height / 2, 8);
      for (let dx = 1; dx <= 30; dx++) {
        for (const x of [c.left - dx, c.right + dx]) {
          const e = document.elementFromPoint(x, y);
          if (e && (e === li || li.contains(e))) hits.push([x, y]);
        }
      }
    }
  }
  return hits;
}"""


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_offer_card_bullets_stay_inside_the_card(
    page: Any, client: TestClient[Any, Any], agent_token: dict[str, Any], lang: str
) -> None:
    page.set_default_timeout(10_000)
    await browser_login(page, agent_token["token"], f"/agent?lang={lang}")
    await page.wait_for_selector('#connection[data-state="connected"]')
    await page.select_option("#agent-status", "available")
    await wait_for_js(page, "document.querySelector('#agent-status').value === 'available'")
    customer = ChatClient(client, lang="ar")
    try:
        await customer.connect(name="ليلى")
        await customer.ack(await customer.say("أين طلبي؟ لم يصل بعد"))
        await customer.ack(await customer.say("Order 4711 please"))
        await customer.ack(await customer.press("human"))
        await page.locator("#offers .offer .offer-messages li").first.wait_for()
        assert await page.locator("#offers .offer .offer-messages li").count() >= 2
        assert await page.evaluate(OUTSIDE) == []
    finally:
        await customer.close()
