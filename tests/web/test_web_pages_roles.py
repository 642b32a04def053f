"""Pages per role and in Arabic: each role's menu lists only the pages it may open; a page a
role may not open answers a translated page; agents see their own past tickets (and only
theirs); every value on the Arabic ticket and dashboard pages is translated, and ticket events
read as sentences, not JSON."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from accounts.tokens import create_token
from app.services import Services
from handoff.agents import add_agent
from tests.conftest import bearer
from tests.web.test_web_reports import build_history
from texts import text

Client = TestClient[Any, Any]
NAV_RE = re.compile(r"<nav>(.*?)</nav>", re.S)
LINK_RE = re.compile(r'href="(/[a-z]*)"')


async def _agent_token(services: Services, agent_id: int, role: str = "agent") -> str:
    async with services.db.transaction() as session:
        _, raw = await create_token(
            session,
            name=f"{role} {agent_id}",
            role=role,
            at=services.clock.now(),
            agent_id=agent_id,
        )
    return raw


async def _nav(client: Client, token: str, path: str) -> list[str]:
    response = await client.get(path, headers=bearer(token))
    html = await response.text()
    found = NAV_RE.search(html)
    assert found is not None, html[:500]
    return LINK_RE.findall(found.group(1))


async def test_each_role_sees_only_the_pages_it_may_open(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Amal", at=services.clock.now())
    agent_token = await _agent_token(services, agent.id)
    menus = {
        "agent": await _nav(client, agent_token, "/agent"),
        "editor": await _nav(client, tokens["editor"], "/faq"),
        "supervisor": await _nav(client, tokens["supervisor"], "/dashboard"),
        "admin": await _nav(client, tokens["admin"], "/dashboard"),
    }
    assert menus == {
        "agent": ["/agent", "/tickets"],
        "editor": ["/faq", "/gaps"],
        "supervisor": ["/dashboard", "/gaps", "/agents", "/tickets", "/customers"],
        "admin": [
            "/dashboard",
            "/faq",
            "/gaps",
            "/agents",
            "/tickets",
            "/customers",
            "/people",
            "/webhooks",
        ],
    }
    # Every link in a menu opens for that role.
    for role, links in menus.items():
        token = agent_token if role == "agent" else tokens[role]
        for link in links:
            response = await client.get(link, headers=bearer(token), allow_redirects=False)
            assert response.status == 200, (role, link, response.status)


async def test_a_forbidden_page_is_translated(client: Client, services: Services) -> None:
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Amal", at=services.clock.now())
    token = await _agent_token(services, agent.id)
    for path in ("/dashboard", "/faq", "/gaps", "/agents", "/customers"):
        arabic = await client.get(f"{path}?lang=ar", headers=bearer(token))
        assert arabic.status == 403
        html = await arabic.text()
        assert text("page.forbidden", "ar") in html
        assert "needs the" not in html and "Forbidden" not in html  # no English detail
        assert 'href="/agent"' in html  # where this role can go instead
        english = await (await client.get(f"{path}?lang=en", headers=bearer(token))).text()
        assert text("page.forbidden", "en") in english


async def test_agents_see_their_own_past_tickets_only(client: Client, services: Services) -> None:
    history = await build_history(services)
    amal = await _agent_token(services, history.agent)
    async with services.db.transaction() as session:
        other = await add_agent(session, name="Omar", at=services.clock.now())
    omar = await _agent_token(services, other.id)

    listing = await client.get("/tickets", headers=bearer(amal))
    assert listing.status == 200
    html = await listing.text()
    shown = set(map(int, re.findall(r'id="ticket-row-(\d+)"', html)))
    assert shown == {history.t1, history.t2}
    assert 'id="csv-tickets"' not in html  # the CSV API is for supervisors
    mine = await client.get(f"/tickets/{history.t1}", headers=bearer(amal))
    assert mine.status == 200
    assert "customer sounds upset" in await mine.text()  # the note they wrote
    # A filter cannot widen it.
    widened = await client.get(f"/tickets?agent_id={other.id}", headers=bearer(amal))
    assert set(map(int, re.findall(r'id="ticket-row-(\d+)"', await widened.text()))) == shown

    assert not re.findall(
        r'id="ticket-row-', await (await client.get("/tickets", headers=bearer(omar))).text()
    )
    assert (await client.get(f"/tickets/{history.t1}", headers=bearer(omar))).status == 404


async def test_arabic_ticket_page_translates_values_and_reads_events(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    history = await build_history(services)
    page = await client.get(f"/tickets/{history.t1}?lang=ar", headers=bearer(tokens["supervisor"]))
    html = await page.text()
    fields = dict(re.findall(r'<td id="field-(\w+)">([^<]*)</td>', html))
    # (the harness's channel is "test": an unknown value shows as stored)
    # (and the ticket has no tags: the row is there, empty)
    assert fields == {"state": "محلولة", "priority": "عادية", "channel": "test", "tags": ""}
    senders = set(re.findall(r'<td class="sender">([^<]*)</td>', html))
    assert senders and senders <= {"العميل", "البوت", "الموظف", "النظام"}
    events = re.findall(r'<td class="event-label">([^<]*)</td>', html)
    assert "أُسندت" in events and "حُلّت" in events
    assert not any(re.search(r"[a-z]_[a-z]", label) for label in events)
    details = "".join(re.findall(r'<td class="event-details">(.*?)</td>', html, re.S))
    details = re.sub(r"<[^>]+>", "", details)
    assert details and "{" not in details and "&#34;" not in details and '"' not in details
    assert "Amal" in html  # the agent named, not "agent:1"
    assert "agent:" not in html

    tickets = await client.get("/tickets?lang=ar", headers=bearer(tokens["supervisor"]))
    cells = re.findall(r'<td data-value="(\w*)">([^<]*)</td>', await tickets.text())
    assert cells and all(shown != stored for stored, shown in cells if stored not in ("", "test"))


async def test_arabic_dashboard_durations_and_counts(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    await build_history(services)
    page = await client.get("/dashboard?period=today&lang=ar", headers=bearer(tokens["supervisor"]))
    html = await page.text()
    frt = re.search(r'id="kpi-frt">(.*?)</div>\s*</div>', html, re.S)
    assert frt is not None
    text = re.sub(r"<[^>]+>", " ", frt.group(1))
    assert re.search(r"\d+د \d{2}ث", text), text
    assert not re.search(r"n=\d", html) and not re.search(r"\d+m \d{2}s", html)
    statuses = re.findall(r'<td class="status" data-value="(\w+)">([^<]*)</td>', html)
    assert statuses and all(stored != shown for stored, shown in statuses)
