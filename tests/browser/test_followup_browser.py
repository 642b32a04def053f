"""The follow-up after resolve in the customer chat page, in real headless Chromium (English and
Arabic): the browser's time zone reaches the server in the hello frame; a day after the agent
closed the chat the question appears with its buttons; the customer answers it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from base.clock import VirtualClock
from storage.models import Customer, Ticket
from tests.conftest import bearer, wait_for_js

MESSAGES = "#messages .msg"
CASES = {
    "en": ("Is your problem still solved?", "Yes, it's solved", "thank you for letting us know"),
    "ar": ("هل ما زالت مشكلتك محلولة؟", "لا، ما زلت أحتاج مساعدة", "أعدت فتح التذكرة"),
}


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_customer_answers_the_follow_up_in_the_chat_page(
    lang: str,
    browser: Any,
    client: TestClient[Any, Any],
    services: Services,
    agent_token: dict[str, Any],
) -> None:
    question_text, answer, after = CASES[lang]
    token = bearer(agent_token["token"])
    context = await browser.new_context(timezone_id="Asia/Riyadh")
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(str(client.make_url(f"/chat?lang={lang}")))
        await wait_for_js(page, "() => window.sanadChat && window.sanadChat.state !== null")
        await client.post("/api/v1/agent/status", json={"status": "available"}, headers=token)
        await page.click("#talk-to-person")
        await wait_for_js(page, "() => ['queued', 'offered'].includes(window.sanadChat.state)")
        me = await (await client.get("/api/v1/agent/me", headers=token)).json()
        offer = me["offers"][0]
        ticket_id = offer["ticket_id"]
        await client.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept", headers=token)
        await client.post(f"/api/v1/agent/chats/{ticket_id}/close", headers=token)
        await wait_for_js(page, "() => window.sanadChat.state === 'resolved'")
        async with services.db.transaction() as session:
            customer = (
                await session.execute(select(Customer).where(Customer.channel == "web"))
            ).scalar_one()
            assert customer.time_zone == "Asia/Riyadh"  # Intl's zone, sent with the hello

        assert isinstance(services.clock, VirtualClock)
        services.clock.advance(24 * 3600)  # 12:00 in Riyadh: not night
        await services.handoff.tick()
        await services.handoff.settled()
        question = page.locator(f'{MESSAGES}[data-sender="system"]', has_text=question_text)
        await question.wait_for()
        buttons = question.locator("button.msg-button")
        assert len(await buttons.all_inner_texts()) == 3
        await question.get_by_role("button", name=answer, exact=True).click()
        await page.locator(MESSAGES, has_text=after).first.wait_for()
        await wait_for_js(  # the question's buttons are gone (or disabled)
            page,
            """(text) => [...document.querySelectorAll('#messages .msg')]
                   .filter(m => m.textContent.includes(text))
                   .every(m => [...m.querySelectorAll('button.msg-button')]
                                 .every(b => b.disabled))""",
            question_text,
        )
        await page.locator(f'{MESSAGES}[data-sender="customer"]', has_text=answer).wait_for()
        async with services.db.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            expected = "confirmed" if lang == "en" else "reopened"
            assert ticket.followup_state == expected
            if lang == "ar":
                assert ticket.state in ("queued", "offered") and ticket.priority == "high"
        assert errors == []
    finally:
        await context.close()
