"""The follow-up after resolve on virtual time: the delay (calendar and business hours, per
category, off), the night in the customer's time zone, Yes / No / no answer, once per cycle,
unreachable and opted-out customers, and the timer rebuilt after a restart."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import ConfigError, load_settings
from app.services import handoff_config
from base.clock import VirtualClock
from handoff.followup import FollowUpError, FollowUpPolicy
from handoff.hours import BusinessHours
from handoff.notices import FollowUpAsked, Reopened
from handoff.schedule import FOLLOWUP_TIMER
from storage.db import Database
from storage.models import Customer, Event, Ticket
from tests.handoff_harness import Harness

DAY = 24 * 3600.0


@pytest.fixture
async def h(db: Database, clock: VirtualClock) -> Harness:
    return await Harness.create(db, clock, followup=FollowUpPolicy(after_s=DAY, window_s=3 * DAY))


async def served(h: Harness, agent: int, text: str = "my order is late") -> int:
    """A ticket asked for a person, accepted by ``agent`` and resolved by them."""
    ticket_id = await h.ask(text)
    offer = h.last_offer(agent)
    assert offer.ticket_id == ticket_id
    assert (await h.service.accept_offer(offer.offer_id, agent)).ok
    await h.service.resolve_ticket(ticket_id, agent)
    return ticket_id


async def customer_of(h: Harness, ticket_id: int) -> int:
    return (await h.ticket(ticket_id)).customer_id


async def event_data(h: Harness, kind: str) -> list[dict[str, object]]:
    async with h.db.transaction() as session:
        rows = (await session.execute(select(Event).where(Event.kind == kind))).scalars().all()
        return [dict(r.data or {}) for r in rows]


async def test_asked_after_the_delay_and_yes_is_recorded_once(h: Harness) -> None:
    agent = await h.agent("Amal")
    ticket_id = await served(h, agent)
    stored = await h.ticket(ticket_id)
    assert stored.followup_state == "scheduled"
    assert stored.followup_due_at == h.clock.now().replace(day=6)  # 24 h after the resolve
    await h.advance(DAY - 1)
    assert h.port.of(FollowUpAsked) == []
    await h.advance(1)
    [asked] = h.port.of(FollowUpAsked)
    assert asked.to.ticket_id == ticket_id and asked.cycle == 0
    assert (await h.ticket(ticket_id)).followup_state == "sent"
    [sent] = await event_data(h, "followup_sent")
    assert sent["agent_id"] == agent and sent["cycle"] == 0
    customer = await customer_of(h, ticket_id)
    assert await h.service.answer_followup(ticket_id, customer, 0, "y") == "confirmed"
    assert (await h.ticket(ticket_id)).followup_state == "confirmed"
    assert await h.service.answer_followup(ticket_id, customer, 0, "y") == "expired"
    assert await h.service.answer_followup(ticket_id, customer, 0, "n") == "expired"
    assert len(await event_data(h, "followup_confirmed")) == 1
    await h.advance(10 * DAY)
    assert len(h.port.of(FollowUpAsked)) == 1  # once per cycle
    assert (await h.ticket(ticket_id)).state == "closed"  # the reopen window passed meanwhile


async def test_no_reopens_the_same_ticket_raised_and_offered_to_the_previous_agent(
    h: Harness,
) -> None:
    first = await h.agent("Amal")
    ticket_id = await h.ask("my order is late")
    offer = h.last_offer(first)
    assert (await h.service.accept_offer(offer.offer_id, first)).ok
    second = await h.agent("Badr")  # idle longer than Amal once she resolves
    await h.advance(60)
    await h.service.resolve_ticket(ticket_id, first)
    await h.advance(DAY)
    await h.service.sweep()  # the reopen window is over: the ticket is closed
    assert (await h.ticket(ticket_id)).state == "closed"
    customer = await customer_of(h, ticket_id)
    h.port.clear()
    assert await h.service.answer_followup(ticket_id, customer, 0, "n") == "reopened"
    ticket = await h.ticket(ticket_id)
    assert ticket.id == ticket_id and ticket.reopened_count == 1
    assert ticket.priority == "high"  # normal, raised one level
    assert ticket.state == "offered" and ticket.closed_at is None
    assert ticket.followup_state == "reopened"
    [offer] = h.port.offers()
    assert offer.agent_id == first and offer.agent_id != second
    assert offer.priority == "high"
    assert [n.to.ticket_id for n in h.port.of(Reopened)] == [ticket_id]
    [reopened] = await event_data(h, "followup_reopened")
    assert reopened["agent_id"] == first and reopened["priority"] == "high"
    kinds = await h.events(ticket_id)
    assert kinds.index("followup_reopened") < kinds.index("ticket_reopened")
    # The old question's buttons are stale now; the history is the same ticket's.
    assert await h.service.answer_followup(ticket_id, customer, 0, "n") == "expired"
    assert await h.service.answer_followup(ticket_id, customer, 0, "y") == "expired"


async def test_no_answer_within_the_window_records_nothing(h: Harness) -> None:
    agent = await h.agent("Amal")
    ticket_id = await served(h, agent)
    await h.advance(DAY)
    assert len(h.port.of(FollowUpAsked)) == 1
    await h.advance(3 * DAY + 1)
    customer = await customer_of(h, ticket_id)
    assert await h.service.answer_followup(ticket_id, customer, 0, "n") == "expired"
    assert await h.service.answer_followup(ticket_id, customer, 0, "y") == "expired"
    ticket = await h.ticket(ticket_id)
    assert ticket.state == "closed" and ticket.followup_state == "sent"
    kinds = await h.events(ticket_id)
    assert "followup_confirmed" not in kinds and "followup_reopened" not in kinds


async def test_once_per_cycle_a_reopen_cancels_and_a_new_resolve_asks_again(h: Harness) -> None:
    agent = await h.agent("Amal")
    ticket_id = await served(h, agent)
    await h.advance(3600)
    assert await h.service.customer_wrote(ticket_id) == "reopened"  # back before the question
    assert (await h.ticket(ticket_id)).followup_state is None
    offer = h.last_offer(agent)
    assert (await h.service.accept_offer(offer.offer_id, agent)).ok
    await h.advance(DAY)
    assert h.port.of(FollowUpAsked) == []  # cycle 0 was not asked: the customer came back
    await h.service.resolve_ticket(ticket_id, agent)
    await h.advance(DAY)
    [asked] = h.port.of(FollowUpAsked)
    assert asked.cycle == 1
    customer = await customer_of(h, ticket_id)
    assert await h.service.answer_followup(ticket_id, customer, 0, "y") == "expired"
    assert await h.service.answer_followup(ticket_id, customer + 1, 1, "y") == "expired"
    assert await h.service.answer_followup(ticket_id, customer, 1, "y") == "confirmed"


async def test_unreachable_and_opted_out_customers_are_never_asked(h: Harness) -> None:
    agent = await h.agent("Amal")
    blocked = await served(h, agent, "first")
    opted = await served(h, agent, "second")
    async with h.db.transaction() as session:
        for ticket_id, column in ((blocked, "unreachable"), (opted, "followup_opt_out")):
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            customer = await session.get(Customer, ticket.customer_id)
            setattr(customer, column, True)
    await h.advance(DAY)
    assert h.port.of(FollowUpAsked) == []
    for ticket_id in (blocked, opted):
        ticket = await h.ticket(ticket_id)
        assert ticket.followup_state == "skipped" and ticket.followup_due_at is None
    assert "followup_sent" not in await h.events()


async def test_dont_ask_again_opts_the_customer_out_of_later_follow_ups(h: Harness) -> None:
    agent = await h.agent("Amal")
    first = await served(h, agent)
    await h.advance(DAY)
    customer = await customer_of(h, first)
    assert await h.service.answer_followup(first, customer, 0, "x") == "opted_out"
    async with h.db.transaction() as session:
        row = await session.get(Customer, customer)
        assert row is not None and row.followup_opt_out
    assert "followup_opted_out" in await h.events(first)


async def test_delay_counts_business_hours_and_categories_override(
    db: Database, clock: VirtualClock
) -> None:
    hours = BusinessHours(
        "UTC", {d: ((time(9), time(17)),) for d in range(5)}
    )  # Monday-Friday 09-17
    policy = FollowUpPolicy(after_s=8 * 3600, categories={"billing": 2 * 3600, "spam": 0})
    h = await Harness.create(db, clock, hours=hours, followup=policy)
    clock.set(datetime(2026, 1, 9, 16, 0, tzinfo=UTC))  # Friday 16:00
    agent = await h.agent("Amal")
    plain = await served(h, agent, "plain")
    billing = await h.ask("billing")
    spam = await h.ask("spam")
    async with h.db.transaction() as session:
        for ticket_id, category in ((billing, "billing"), (spam, "spam")):
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.category = category
    for ticket_id in (billing, spam):
        offer = h.last_offer(agent)
        assert offer.ticket_id == ticket_id
        assert (await h.service.accept_offer(offer.offer_id, agent)).ok
        await h.service.resolve_ticket(ticket_id, agent)
    # 1 open hour left on Friday: 7 more on Monday (business time), 1 on Monday for billing.
    assert (await h.ticket(plain)).followup_due_at == datetime(2026, 1, 12, 16, tzinfo=UTC)
    assert (await h.ticket(billing)).followup_due_at == datetime(2026, 1, 12, 10, tzinfo=UTC)
    assert (await h.ticket(spam)).followup_due_at is None
    clock.set(datetime(2026, 1, 12, 9, 59, tzinfo=UTC))
    await h.service.tick()
    assert h.port.of(FollowUpAsked) == []
    await h.advance(60)
    assert [n.to.ticket_id for n in h.port.of(FollowUpAsked)] == [billing]
    await h.advance(6 * 3600)
    assert [n.to.ticket_id for n in h.port.of(FollowUpAsked)] == [billing, plain]


async def test_never_at_night_in_the_customers_time_zone(h: Harness) -> None:
    agent = await h.agent("Amal")
    h.clock.set(datetime(2026, 1, 5, 19, 0, tzinfo=UTC))  # 22:00 in Riyadh
    riyadh = await served(h, agent, "riyadh")
    unknown = await served(h, agent, "no zone")
    async with h.db.transaction() as session:
        ticket = await session.get(Ticket, riyadh)
        assert ticket is not None
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        customer.time_zone = "Asia/Riyadh"
    await h.advance(DAY)  # Tuesday 19:00 UTC: 22:00 there, night; unknown zone: sent
    assert [n.to.ticket_id for n in h.port.of(FollowUpAsked)] == [unknown]
    assert (await h.ticket(riyadh)).followup_due_at == datetime(2026, 1, 7, 6, tzinfo=UTC)
    h.clock.set(datetime(2026, 1, 7, 5, 59, tzinfo=UTC))  # 08:59 there
    await h.service.tick()
    assert len(h.port.of(FollowUpAsked)) == 1
    await h.advance(60)  # 09:00 in Riyadh: the morning
    assert [n.to.ticket_id for n in h.port.of(FollowUpAsked)] == [unknown, riyadh]


async def test_survives_a_restart_with_one_timer_for_many_tickets(h: Harness) -> None:
    agent = await h.agent("Amal")
    tickets = [await served(h, agent, f"question {n}") for n in range(5)]
    await h.advance(60)
    service = await h.restart()
    armed = [e for e in service.engine.timers._heap if e[1] == FOLLOWUP_TIMER]
    assert len(armed) == 1  # the earliest due one only, read from the index
    assert h.port.of(FollowUpAsked) == []
    await h.advance(DAY)
    assert sorted(n.to.ticket_id for n in h.port.of(FollowUpAsked)) == tickets
    assert len(await event_data(h, "followup_sent")) == 5
    await h.restart()
    await h.advance(DAY)
    assert len(h.port.of(FollowUpAsked)) == 5


async def test_off_asks_nobody(db: Database, clock: VirtualClock) -> None:
    h = await Harness.create(db, clock, followup=FollowUpPolicy.off())
    agent = await h.agent("Amal")
    ticket_id = await served(h, agent)
    assert (await h.ticket(ticket_id)).followup_state is None
    await h.advance(5 * DAY)
    assert h.port.of(FollowUpAsked) == []


def test_the_followup_table_is_parsed_and_checked() -> None:
    policy = FollowUpPolicy.from_config(
        {
            "after_h": 48,
            "business_hours": False,
            "window_h": 24,
            "night": "22:00-08:30",
            "categories": {"billing": 2, "spam": "off"},
        }
    )
    assert policy.after_s == 48 * 3600 and not policy.business_hours
    assert policy.window_s == 24 * 3600
    assert policy.night == (time(22), time(8, 30))
    assert policy.delay_s("billing") == 7200 and policy.delay_s("spam") == 0
    assert FollowUpPolicy.from_config({"after_h": "off"}).after_s == 0
    assert FollowUpPolicy.from_config({"night": ""}).night is None
    for bad in ({"after_h": -1}, {"night": "late"}, {"colour": 1}, {"window_h": 0}):
        with pytest.raises(FollowUpError):
            FollowUpPolicy.from_config(bad)


def test_the_toml_file_configures_the_followup(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[followup]\nafter_h = 8\nnight = ""\ncategories = { billing = 48 }\n')
    settings = load_settings(env={}, config_file=good)
    assert settings.followup.after_s == 8 * 3600 and settings.followup.night is None
    assert handoff_config(settings).followup.delay_s("billing") == 48 * 3600
    assert load_settings(env={}).followup == FollowUpPolicy()  # a day after, by default
    bad = tmp_path / "bad.toml"
    bad.write_text('[followup]\nafter_h = "soon"\n')
    with pytest.raises(ConfigError, match=r"followup\.after_h"):
        load_settings(env={}, config_file=bad)
