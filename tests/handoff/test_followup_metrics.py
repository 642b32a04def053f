"""The follow-up KPIs on a planted history, built with the real handoff service on virtual time
(SQLite and PostgreSQL): confirmed-resolved rate and reopen-after-follow-up rate, overall, per
agent and per category, as docs/metrics.md defines them.

=====  ============================================================================
t1     Amal, billing: asked a day later, "Yes"
t2     Amal, billing: asked, "No" (reopened, offered to Amal again)
t3     Badr, delivery: asked, "Yes"
t4     Badr, delivery: asked, no answer
t5     Amal, delivery: the customer opted out before: never asked
=====  ============================================================================
"""

from __future__ import annotations

from datetime import timedelta

from base.clock import VirtualClock
from handoff.followup import FollowUpPolicy
from handoff.metrics import Filters, Period, agent_table, kpis
from storage.db import Database
from storage.models import Customer, Ticket
from tests.handoff_harness import Harness

DAY = 24 * 3600.0


async def _serve(h: Harness, agent: int, category: str, *, opted_out: bool = False) -> int:
    ticket_id = await h.customer(f"about {category}")
    async with h.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.category = category
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        customer.followup_opt_out = opted_out
    await h.service.request_human(ticket_id, reason="test")
    offer = h.last_offer(agent)
    assert offer.ticket_id == ticket_id
    assert (await h.service.accept_offer(offer.offer_id, agent)).ok
    await h.service.resolve_ticket(ticket_id, agent)
    return ticket_id


async def test_followup_kpis_per_agent_and_category(db: Database, clock: VirtualClock) -> None:
    h = await Harness.create(db, clock, followup=FollowUpPolicy(after_s=DAY))
    start = clock.now()
    amal = await h.agent("Amal")
    t1 = await _serve(h, amal, "billing")
    t2 = await _serve(h, amal, "billing")
    await h.service.set_agent_status(amal, "away")
    badr = await h.agent("Badr")
    t3 = await _serve(h, badr, "delivery")
    await _serve(h, badr, "delivery")  # t4: never answered
    await h.service.set_agent_status(badr, "away")
    await h.service.set_agent_status(amal, "available")
    await _serve(h, amal, "delivery", opted_out=True)  # t5: never asked
    await h.advance(DAY)
    customers = {t: (await h.ticket(t)).customer_id for t in (t1, t2, t3)}
    assert await h.service.answer_followup(t1, customers[t1], 0, "y") == "confirmed"
    assert await h.service.answer_followup(t2, customers[t2], 0, "n") == "reopened"
    assert await h.service.answer_followup(t3, customers[t3], 0, "y") == "confirmed"

    period = Period(start, start + timedelta(days=2))
    async with db.transaction() as session:
        k = (await kpis(session, period, Filters(), clock.now()))["followup"]
        only_amal = (await kpis(session, period, Filters(agent_id=amal), clock.now()))["followup"]
        billing = (await kpis(session, period, Filters(category="billing"), clock.now()))[
            "followup"
        ]
        rows = {r["name"]: r for r in await agent_table(session, period, Filters(), clock.now())}
    assert (k["sent"], k["confirmed"], k["reopened"], k["unanswered"]) == (4, 2, 1, 1)
    assert k["confirmed_rate"] == 2 / 4 and k["reopen_rate"] == 1 / 4
    assert k["by_agent"][str(amal)] == {
        "sent": 2,
        "confirmed": 1,
        "reopened": 1,
        "unanswered": 0,
        "confirmed_rate": 1 / 2,
        "reopen_rate": 1 / 2,
    }
    assert k["by_agent"][str(badr)]["confirmed_rate"] == 1 / 2
    assert k["by_agent"][str(badr)]["reopen_rate"] == 0.0
    assert k["by_category"]["billing"]["sent"] == 2
    assert k["by_category"]["billing"]["reopen_rate"] == 1 / 2
    assert k["by_category"]["delivery"]["sent"] == 2  # t5 was never asked
    assert k["by_category"]["delivery"]["confirmed_rate"] == 1 / 2
    assert (only_amal["sent"], only_amal["confirmed"], only_amal["reopened"]) == (2, 1, 1)
    assert list(only_amal["by_agent"]) == [str(amal)]
    assert (billing["sent"], billing["confirmed"], billing["reopened"]) == (2, 1, 1)
    assert rows["Amal"]["followup_confirmed_rate"] == 1 / 2
    assert rows["Amal"]["followup_reopen_rate"] == 1 / 2
    assert rows["Badr"]["followup_confirmed_rate"] == 1 / 2
    assert rows["Badr"]["followup_reopen_rate"] == 0.0
    # Before the period of the tickets: nothing.
    async with db.transaction() as session:
        empty = (
            await kpis(session, Period(start - timedelta(days=2), start), Filters(), clock.now())
        )["followup"]
    assert empty["sent"] == 0 and empty["confirmed_rate"] is None and empty["by_agent"] == {}
