"""The whole flow, in English and in Arabic, in two real Chromium tabs (no Telegram): the
customer asks and gets the answer, asks for a person; the agent accepts in the console; they
chat; the agent picks a canned reply (it lands in the reply box, the agent edits it and sends);
the agent closes; the customer sees the rating stars without scrolling and rates. Along the way:
the web chat names its buttons (never a Telegram command) and the Arabic console says its
values in Arabic."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from handoff.canned import add_canned
from storage.models import Rating
from tests.conftest import browser_login, wait_for_js

FLOWS = {
    "en": {
        "question": "how many days does delivery take?",
        "answer": "2-4 working days",
        "queued": "Stop waiting",
        "joined": "joined",
        "reply": "Hi! I'm checking your order now.",
        "customer": "Thanks, it's order 4711",
        "channel": "web",
        "rated": "You rated 5",
    },
    "ar": {
        "question": "كم مدة التوصيل؟",
        "answer": "2 إلى 4 أيام عمل",
        "queued": "إلغاء الانتظار",
        "joined": "انضم",
        "reply": "أهلاً! أتحقق من طلبك الآن.",
        "customer": "شكراً، رقم الطلب 4711",
        "channel": "دردشة الموقع",
        "rated": "قيّمت بـ 5",
    },
}
COMMAND = re.compile(r"(?<![\w:/])/[a-z]+")
STARS_IN_VIEW = """() => {
  const box = document.getElementById('messages').getBoundingClientRect();
  const stars = [...document.querySelectorAll('.msg button.msg-button[data-data^="rate:"]')];
  return stars.length === 5 && stars.every(b => { const r = b.getBoundingClientRect();
    return r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.bottom <= innerHeight; });
}"""


SCROLL_STATE = """() => { const m = document.getElementById('messages');
  return {top: m.scrollTop, height: m.scrollHeight, client: m.clientHeight}; }"""


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_walkthrough_of_the_whole_flow(
    browser: Any,
    client: TestClient[Any, Any],
    services: Services,
    agent_token: dict[str, Any],
    lang: str,
) -> None:
    flow = FLOWS[lang]
    async with services.db.transaction() as session:
        await add_canned(
            session, "wait", "Thank you {name} for waiting; I'm {agent}.", services.clock.now()
        )
        await add_canned(
            session, "wait", "شكراً {name} على انتظارك، معك {agent}.", services.clock.now(), "ar"
        )

    def url(path: str) -> str:
        return str(client.make_url(path))

    errors: list[str] = []
    agent_ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    customer_ctx = await browser.new_context(viewport={"width": 420, "height": 700})
    try:
        agent = await agent_ctx.new_page()
        customer = await customer_ctx.new_page()
        for tab in (agent, customer):
            tab.set_default_timeout(10_000)
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
        agent.sanad_url = url
        # Available before the console opens (the status select is tested elsewhere).
        await services.handoff.set_agent_status(agent_token["agent_id"], "available")
        await browser_login(agent, agent_token["token"], f"/agent?lang={lang}")
        await agent.wait_for_selector('#connection[data-state="connected"]')
        assert await agent.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        assert await agent.input_value("#agent-status") == "available"

        # The customer asks and gets the answer with "Did this help?".
        await customer.goto(url(f"/chat?lang={lang}"))
        await customer.wait_for_selector('.msg[data-sender="bot"]')  # the greeting
        await customer.fill("#composer-text", flow["question"])
        await customer.click("#send")
        answer = customer.locator('.msg[data-sender="bot"]', has_text=flow["answer"])
        await answer.wait_for()
        assert await answer.locator("button.msg-button").count() == 2

        # ... asks for a person, and is told about the button, not /cancel.
        await customer.click("#talk-to-person")
        await customer.locator("#stop-waiting").wait_for()
        await customer.locator('.msg[data-sender="system"]', has_text=flow["queued"]).wait_for()

        # The agent accepts and the chat opens; the customer is told the agent joined.
        offer = agent.locator("#offers .offer").first
        await offer.wait_for()
        assert flow["question"][:6] in await offer.inner_text()
        await offer.locator("button.accept").click()
        chat = agent.locator("#chats .chat").first
        await chat.wait_for()
        assert await chat.locator(".channel").inner_text() == flow["channel"]
        await agent.locator(
            '#transcript .msg[data-sender="customer"]', has_text=flow["question"][:6]
        ).wait_for()
        await customer.locator('.msg[data-sender="system"]', has_text=flow["joined"]).wait_for()

        # They chat both ways.
        await agent.fill("#reply-text", flow["reply"])
        await agent.press("#reply-text", "Enter")
        await customer.locator('.msg[data-sender="agent"]', has_text=flow["reply"]).wait_for()
        await customer.fill("#composer-text", flow["customer"])
        await customer.press("#composer-text", "Enter")
        await agent.locator(
            '#transcript .msg[data-sender="customer"]', has_text=flow["customer"]
        ).wait_for()

        # A canned reply: into the box, edited, then sent (the visitor gave no name).
        await agent.select_option("#canned-select", "wait")
        await wait_for_js(agent, "document.querySelector('#reply-text').value !== ''")
        inserted = await agent.input_value("#reply-text")
        assert "Web visitor" not in inserted and "{name}" not in inserted
        assert "Web Agent" in inserted
        await agent.press("#reply-text", "End")
        await agent.keyboard.type(" 🙂")
        await agent.press("#reply-text", "Enter")
        await customer.locator('.msg[data-sender="agent"]', has_text="🙂").wait_for()

        # The agent closes; the customer sees the stars without scrolling and rates 5.
        await agent.click("#close-chat")
        stars = customer.locator('.msg button.msg-button[data-data^="rate:"]')
        await stars.first.wait_for()
        await customer.locator("#talk-to-person").wait_for()
        await customer.wait_for_timeout(300)
        assert await customer.evaluate(STARS_IN_VIEW), await customer.evaluate(SCROLL_STATE)
        await stars.nth(4).click()
        await customer.locator(".msg", has_text=flow["rated"]).wait_for()

        async with services.db.transaction() as session:
            stored = (await session.execute(select(Rating))).scalar_one()
        assert (stored.stars, stored.agent_id) == (5, agent_token["agent_id"])
        said = await customer.eval_on_selector_all(
            '.msg:not([data-sender="customer"]) .msg-text', "els => els.map(e => e.textContent)"
        )
        assert not [s for s in said if COMMAND.search(s)], said
        assert errors == []
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
