"""One definition per figure: the dashboard's KPI card, the agents table and the figures
filtered by agent agree (docs/metrics.md, "Resolved by agents"), also when a ticket is reopened
and resolved again, or transferred and resolved by the second agent; and the dashboard page
shows the same numbers in the card and the table."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from app.services import Services
from base.clock import VirtualClock
from base.periods import Period
from handoff.metrics import Filters, agent_table, kpis
from tests.conftest import bearer
from tests.handoff_harness import Harness


async def _reopen(h: Harness, ticket_id: int) -> None:
    """The customer comes back within the reopen window and asks for a person again."""
    if await h.service.customer_wrote(ticket_id) != "reopened":
        await h.service.request_human(ticket_id, reason="test", text="still broken")


async def build(services: Services) -> tuple[Harness, int, int]:
    assert isinstance(services.clock, VirtualClock)
    h = await Harness.create(services.db, services.clock)
    amal = await h.agent("Amal")
    badr = await h.agent("Badr", online=False)
    # t1: Amal resolves it, the customer comes back, Amal resolves it again.
    t1 = await h.ask("my order never came")
    await h.advance(5)
    assert (await h.service.accept_offer(h.last_offer(amal).offer_id, amal)).ok
    await h.service.agent_message(t1, amal, "On it.", origin="web")
    await h.advance(60)
    await h.service.resolve_ticket(t1, amal)
    await h.service.end_wrap_up(amal)
    await h.advance(30)
    await _reopen(h, t1)
    await h.advance(5)
    assert (await h.service.accept_offer(h.last_offer(amal).offer_id, amal)).ok
    await h.advance(60)
    await h.service.resolve_ticket(t1, amal)
    await h.service.end_wrap_up(amal)
    # t2: Amal takes it and transfers it to Badr, who resolves it.
    await h.service.set_agent_status(badr, "available")
    t2 = await h.ask("refund please")
    await h.advance(5)
    offer = h.last_offer()
    taker = offer.agent_id
    assert (await h.service.accept_offer(offer.offer_id, taker)).ok
    other = badr if taker == amal else amal
    await h.service.transfer_ticket(t2, taker, to_agent=other)
    await h.advance(5)
    assert (await h.service.accept_offer(h.last_offer(other).offer_id, other)).ok
    await h.service.agent_message(t2, other, "Done.", origin="web")
    await h.advance(30)
    await h.service.resolve_ticket(t2, other)
    return h, amal, badr


async def test_kpis_and_agent_table_agree(services: Services) -> None:
    await build(services)
    now = services.clock.now()
    period = Period(now - timedelta(days=1), now + timedelta(minutes=1))
    async with services.db.transaction() as session:
        overall = await kpis(session, period, Filters(), now)
        table = await agent_table(session, period, Filters(), now)
        per_agent = {
            row["agent_id"]: await kpis(session, period, Filters(agent_id=row["agent_id"]), now)
            for row in table
        }
    assert overall["resolved_agent"] == 2
    assert sum(row["resolved"] for row in table) == overall["resolved_agent"]
    for row in table:
        mine = per_agent[row["agent_id"]]
        assert row["resolved"] == mine["resolved_agent"], row["name"]
        assert row["chats_handled"] == mine["opened"], row["name"]
        assert row["ratings_count"] == mine["ratings_count"], row["name"]
        assert row["missed_offers"] == mine["missed_offers"], row["name"]
        assert (row["resolution_mean_s"] is None) == (mine["resolution_n"] == 0), row["name"]
    assert {row["name"]: row["resolved"] for row in table} == {"Amal": 1, "Badr": 1}


async def test_dashboard_card_equals_the_agents_table(
    client: TestClient[Any, Any], services: Services, tokens: dict[str, str]
) -> None:
    await build(services)
    html = await (
        await client.get("/dashboard?period=today", headers=bearer(tokens["supervisor"]))
    ).text()
    card = re.search(
        r'id="kpi-resolved">(.*?)</section>|id="kpi-resolved">(.*?)<div class="kpi"', html, re.S
    )
    assert card is not None
    card_text = re.sub(r"<[^>]+>", " ", card.group(1) or card.group(2))
    by_agents = int(re.search(r"(\d+) by agents", card_text).group(1))  # type: ignore[union-attr]
    rows = re.findall(r'<tr id="agent-row-\d+">(.*?)</tr>', html, re.S)
    resolved_column = [
        int(re.sub(r"<[^>]+>", "", cells[3]).strip())
        for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows)
    ]
    assert by_agents == sum(resolved_column) == 2
