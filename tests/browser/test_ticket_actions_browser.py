"""Acting on tickets in real headless Chromium, in English and Arabic (issue 14, point 3): an
agent sets priority and a tag and hands the chat back from the console; a supervisor reassigns
a chat from its ticket page, watches a live chat (a new customer line appears) and takes it
over (the agent's console loses it, the supervisor's console has it)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from accounts.tokens import create_token
from app.services import Services
from handoff.agents import add_agent
from storage.models import Ticket
from tests.conftest import browser_login, wait_for_js
from tests.webchat_client import ChatClient


async def _person(services: Services, name: str, role: str) -> tuple[int, str]:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name=name, role=role, at=services.clock.now(), capacity=2)
        _, raw = await create_token(
            session, name=name, role=role, at=services.clock.now(), agent_id=agent.id
        )
    await services.handoff.resync()
    await services.handoff.set_agent_status(agent.id, "available" if role == "agent" else "away")
    return agent.id, raw


async def _ticket(services: Services, ticket_id: int) -> Ticket:
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _served(services: Services, customer: ChatClient, agent_id: int) -> int:
    """The visitor asks for a person; ``agent_id`` accepts (through the core)."""
    await customer.connect(name="Layla")
    await customer.press("human")
    await customer.message("system")
    offer = next(o for o in services.handoff.acd.offers.values() if o.agent_id == agent_id)
    result = await services.handoff.accept_offer(offer.id, agent_id)
    assert result.ok and result.ticket_id is not None
    return result.ticket_id


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_an_agent_sets_priority_tags_and_hands_back_from_the_console(
    browser: Any, client: TestClient[Any, Any], services: Services, lang: str
) -> None:
    agent_id, raw = await _person(services, "Huda", "agent")
    customer = ChatClient(client)
    context = await browser.new_context()
    try:
        page = await context.new_page()
        page.set_default_timeout(10_000)
        page.sanad_url = lambda path: str(client.make_url(path))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        ticket_id = await _served(services, customer, agent_id)
        await browser_login(page, raw, f"/agent?lang={lang}")
        await page.wait_for_selector('#connection[data-state="connected"]')
        assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        await page.click(f'#chats .chat[data-ticket-id="{ticket_id}"]')
        await wait_for_js(page, "document.querySelector('#chat-priority').value === 'normal'")

        async with page.expect_response(lambda r: r.url.endswith("/actions")) as answer:
            await page.select_option("#chat-priority", "high")
        assert (await answer.value).ok
        await page.wait_for_selector(".chat-priority", state="attached")
        assert (await _ticket(services, ticket_id)).priority == "high"

        await page.fill("#tag-text", "Refund")
        await page.press("#tag-text", "Enter")
        await page.wait_for_selector('#chat-tags .tag:has-text("refund")')
        assert (await _ticket(services, ticket_id)).tags == ["refund"]

        await page.click("#chat-hand-back")
        await wait_for_js(page, "document.querySelector('#chat-view').hidden")
        ticket = await _ticket(services, ticket_id)
        assert (ticket.state, ticket.assignee_id) == ("bot", None)
        await page.wait_for_selector(
            f'#chats .chat[data-ticket-id="{ticket_id}"]', state="detached"
        )
        assert errors == []
    finally:
        await context.close()
        await customer.close()


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_supervisor_reassigns_watches_and_takes_over_from_the_ticket_page(
    browser: Any, client: TestClient[Any, Any], services: Services, lang: str
) -> None:
    agent_id, agent_raw = await _person(services, "Huda", "agent")
    boss_id, boss_raw = await _person(services, "Salma", "supervisor")
    customer = ChatClient(client)
    contexts = [await browser.new_context(), await browser.new_context()]
    try:
        boss, agent = [await c.new_page() for c in contexts]
        errors: list[str] = []
        for tab in (boss, agent):
            tab.set_default_timeout(10_000)
            tab.sanad_url = lambda path: str(client.make_url(path))
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
        ticket_id = await _served(services, customer, agent_id)
        await browser_login(agent, agent_raw, f"/agent?lang={lang}")
        await agent.wait_for_selector(f'#chats .chat[data-ticket-id="{ticket_id}"]')

        # A second agent comes online; the supervisor reassigns the chat to them.
        other_id, _other_raw = await _person(services, "Omar", "agent")
        await browser_login(boss, boss_raw, f"/tickets/{ticket_id}?lang={lang}")
        await boss.wait_for_selector("#ticket-actions")
        await boss.select_option("#action-transfer", f"agent:{other_id}")
        # The page reloads itself once the action is done: wait for that before going on.
        async with (
            boss.expect_navigation(),
            boss.expect_response(lambda r: r.url.endswith("/actions")) as answer,
        ):
            await boss.click('button[data-action="transfer"]')
        assert (await answer.value).ok
        await agent.wait_for_selector(
            f'#chats .chat[data-ticket-id="{ticket_id}"]', state="detached"
        )
        offer = next(o for o in services.handoff.acd.offers.values() if o.agent_id == other_id)
        assert offer.ticket_id == ticket_id
        assert (await services.handoff.accept_offer(offer.id, other_id)).ok

        # The supervisor watches: a new customer line appears on the page by itself.
        await boss.goto(boss.sanad_url(f"/tickets/{ticket_id}?lang={lang}"))
        await boss.wait_for_selector("#ticket-transcript[data-watch]")
        line = "هل من أحد هنا؟" if lang == "ar" else "is anyone there?"
        await customer.say(line)
        await boss.wait_for_selector(f'#ticket-transcript tr.watched:has-text("{line}")')

        # ... and takes it over: the chat is theirs, in their console.
        async with (
            boss.expect_navigation(),
            boss.expect_response(lambda r: r.url.endswith("/actions")) as answer,
        ):
            await boss.click("#take-over")
        assert (await answer.value).ok
        ticket = await _ticket(services, ticket_id)
        assert (ticket.state, ticket.assignee_id) == ("assigned", boss_id)
        await customer.message("system", "Salma")
        await boss.goto(boss.sanad_url(f"/agent?lang={lang}"))
        await boss.wait_for_selector(f'#chats .chat[data-ticket-id="{ticket_id}"]')
        assert errors == []
    finally:
        for c in contexts:
            await c.close()
        await customer.close()
