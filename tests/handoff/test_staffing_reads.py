"""Staffing advice from the stored history (handoff/staffing_reads.py), on SQLite and
PostgreSQL (the ``db`` fixture).

1. A planted history of two weeks (event rows written as the product writes them) with known
   arrivals per hour, handle times, waits, abandonments and agents' status changes: the report
   gives back the planted rates exactly, per hour of all days and of one weekday, in UTC and
   in a shifted time zone.
2. A short history made by the real handoff service on virtual time (requests, accepts,
   resolves, a cancel, status changes): the same read counts what the service wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from base.clock import VirtualClock
from base.periods import Period
from handoff import staffing
from handoff.agents import add_agent
from handoff.customers import touch_customer
from handoff.staffing_reads import (
    MIN_HANDLED,
    StaffingReport,
    slots_between,
    staffing_report,
)
from storage.db import Database
from storage.events import record_event
from storage.models import Ticket
from tests.handoff_harness import Harness

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
DAYS = 14
PERIOD = Period(MONDAY, MONDAY + timedelta(days=DAYS))
NOW = PERIOD.end + timedelta(days=1)


def at(day: int, hour: float, seconds: float = 0.0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, seconds=seconds)


@dataclass
class Planted:
    a: int
    b: int


async def plant(db: Database) -> Planted:
    """Every day: at 09:xx six chats (ten on Mondays), each waits 30 s and is handled for
    600 s; at 14:xx twelve chats, ten wait 30 s and are handled for 900 s, two give up after
    120 s. Agent A (capacity 1) is online 08:00-17:00 but auto-away 15:00-15:30; agent B
    (capacity 2) is online 12:00-16:00. One chat asked before the period is left out."""
    async with db.transaction() as session:
        a = (await add_agent(session, name="A", at=MONDAY - timedelta(days=30))).id
        b = (await add_agent(session, name="B", at=MONDAY - timedelta(days=30), capacity=2)).id
        customer = await touch_customer(
            session,
            channel="test",
            external_id="1",
            name="C",
            username=None,
            language_code="en",
            default_language="en",
            at=MONDAY - timedelta(days=30),
        )

        async def chat(start: datetime, wait: float, handle: float | None) -> None:
            ticket = Ticket(customer_id=customer.id, channel="test", language="en")
            ticket.created_at = start
            session.add(ticket)
            await session.flush()
            record_event(session, "handoff_requested", start, ticket_id=ticket.id)
            end = start + timedelta(seconds=wait)
            if handle is None:
                record_event(session, "ticket_abandoned", end, ticket_id=ticket.id)
                return
            record_event(session, "ticket_assigned", end, ticket_id=ticket.id, agent_id=a)
            done = end + timedelta(seconds=handle)
            record_event(session, "ticket_resolved", done, ticket_id=ticket.id, resolution="agent")

        def status(agent: int, when: datetime, new: str, previous: str) -> None:
            record_event(
                session,
                "agent_status_changed",
                when,
                agent_id=agent,
                status=new,
                previous=previous,
            )

        await chat(MONDAY - timedelta(minutes=5), 30, 600)  # before the period
        for day in range(DAYS):
            for i in range(10 if day % 7 == 0 else 6):
                await chat(at(day, 9, 60 * i), 30, 600)
            for i in range(12):
                await chat(at(day, 14, 60 * i), 120 if i < 2 else 30, None if i < 2 else 900)
            status(a, at(day, 8), "available", "offline")
            record_event(session, "agent_auto_away", at(day, 15), agent_id=a, missed=3)
            status(a, at(day, 15.5), "available", "away")
            status(a, at(day, 17), "offline", "available")
            status(b, at(day, 12), "available", "offline")
            status(b, at(day, 16), "offline", "available")
    return Planted(a, b)


async def _report(db: Database, **kwargs: object) -> StaffingReport:
    args: dict[str, object] = {
        "tz": "UTC",
        "weekday": None,
        "target_share": 0.8,
        "target_seconds": 60.0,
    }
    args.update(kwargs)
    return await staffing_report(db, PERIOD, NOW, **args)  # type: ignore[arg-type]


async def test_the_planted_history_gives_back_its_rates(db: Database) -> None:
    await plant(db)
    report = await _report(db)
    hours = {h.hour: h for h in report.hours}
    assert len(report.hours) == 24
    assert all(h.exposure_h == pytest.approx(DAYS) for h in report.hours)
    # Arrivals: 9:00 = 14 days x 6 + 2 Mondays x 4 = 92; 14:00 = 14 x 12 = 168.
    assert report.arrivals == 92 + 168
    assert hours[9].arrivals == 92
    assert hours[9].arrivals_per_hour == pytest.approx(92 / 14)
    assert hours[14].arrivals_per_hour == pytest.approx(12.0)
    assert hours[3].arrivals == 0 and hours[3].arrivals_per_hour == 0
    # Handle time: assigned -> resolved, credited to the hour of the assignment.
    assert hours[9].handled == 92 and hours[9].handle_mean_s == pytest.approx(600)
    assert hours[14].handled == 140 and hours[14].handle_mean_s == pytest.approx(900)
    assert report.handled == 232
    assert report.handle_mean_s == pytest.approx((92 * 600 + 140 * 900) / 232)
    # Abandonment: 28 waits given up; patience rate = abandoned / all waiting seconds.
    waiting = 92 * 30 + 14 * (10 * 30 + 2 * 120)
    assert (report.waits, report.abandoned) == (260, 28)
    assert report.waiting_s == pytest.approx(waiting)
    assert report.model == "erlang_a"
    assert report.patience_rate == pytest.approx(28 / waiting)
    # Online: A 08-17 minus 15:00-15:30 away, B 12-16.
    assert hours[7].online == 0
    assert hours[8].online == pytest.approx(1.0)
    assert hours[12].online == pytest.approx(2.0)
    assert hours[15].online == pytest.approx(1.5)
    assert hours[17].online == 0
    # Capacity weighted by online time: A 8.5 h x 1, B 4 h x 2 a day.
    assert report.mean_capacity == pytest.approx((8.5 + 8) / 12.5)
    # Needed: the formulas on the measured figures, slots turned into people.
    advice = staffing.slots_needed(12 / 3600, 1 / 900, 0.8, 60, 28 / waiting)
    assert hours[14].slots_needed == advice.slots
    assert hours[14].model == "erlang_a"
    assert hours[14].agents_needed == staffing.agents_for_slots(advice.slots, 16.5 / 12.5)
    needed = hours[14].agents_needed
    assert needed is not None and hours[14].gap == pytest.approx(2.0 - needed)
    assert hours[14].service_level is not None and hours[14].service_level >= 0.8
    assert (hours[3].slots_needed, hours[3].agents_needed, hours[3].model) == (0, 0, "none")


async def test_one_weekday_and_another_time_zone(db: Database) -> None:
    await plant(db)
    monday = await _report(db, weekday=0)
    hours = {h.hour: h for h in monday.hours}
    assert hours[9].exposure_h == pytest.approx(2)
    assert hours[9].arrivals == 20
    assert hours[9].arrivals_per_hour == pytest.approx(10.0)
    assert hours[14].arrivals_per_hour == pytest.approx(12.0)
    assert monday.arrivals == 20 + 24
    tuesday = await _report(db, weekday=1)
    assert {h.hour: h for h in tuesday.hours}[9].arrivals_per_hour == pytest.approx(6.0)
    # Riyadh is UTC+3 all year: the same history three local hours later.
    riyadh = await _report(db, tz="Asia/Riyadh")
    local = {h.hour: h for h in riyadh.hours}
    assert local[12].arrivals == 92
    assert local[17].arrivals_per_hour == pytest.approx(12.0)
    assert local[11].online == pytest.approx(1.0)
    assert local[15].online == pytest.approx(2.0)
    assert local[9].arrivals == 0


async def test_a_small_hour_uses_the_period_handle_time_and_few_abandons_use_erlang_c(
    db: Database,
) -> None:
    async with db.transaction() as session:
        agent = (await add_agent(session, name="A", at=MONDAY)).id
        customer = await touch_customer(
            session,
            channel="test",
            external_id="1",
            name="C",
            username=None,
            language_code="en",
            default_language="en",
            at=MONDAY,
        )
        for hour, handle, n in ((9, 300, MIN_HANDLED), (10, 1200, MIN_HANDLED - 1)):
            for i in range(n):
                ticket = Ticket(customer_id=customer.id, channel="test", language="en")
                ticket.created_at = at(0, hour, 60 * i)
                session.add(ticket)
                await session.flush()
                record_event(session, "handoff_requested", at(0, hour, 60 * i), ticket_id=ticket.id)
                record_event(
                    session, "ticket_assigned", at(0, hour, 60 * i + 10), ticket_id=ticket.id
                )
                record_event(
                    session,
                    "ticket_resolved",
                    at(0, hour, 60 * i + 10 + handle),
                    ticket_id=ticket.id,
                    resolution="agent",
                )
        del agent
    report = await _report(db)
    hours = {h.hour: h for h in report.hours}
    assert report.model == "erlang_c" and report.patience_rate is None
    period_mean = (5 * 300 + 4 * 1200) / 9
    assert hours[9].handle_mean_s == pytest.approx(300)
    assert hours[10].handle_mean_s is None  # fewer than MIN_HANDLED: the period's mean is used
    assert hours[10].handle_used_s == pytest.approx(period_mean)
    assert hours[10].model == "erlang_c"
    lam = 4 / (DAYS * 3600)
    assert hours[10].slots_needed == staffing.slots_needed(lam, 1 / period_mean, 0.8, 60).slots
    # Nobody online at any time; the agent's capacity (1) is the mean capacity.
    assert all(h.online == 0 for h in report.hours)
    assert report.mean_capacity == 1.0


async def test_the_real_service_history_is_read_back(db: Database) -> None:
    """Monday 09:00: A goes online; three customers ask at 09:10, 09:20, 09:30, A takes each
    at once (capacity 3) and resolves it 5 minutes later; at 10:00 one asks while A is away
    and cancels at 10:05; A comes back at 10:30 and goes offline at 11:00."""
    clock = VirtualClock(at(0, 9))
    h = await Harness.create(db, clock)
    a = await h.agent("A", capacity=3)
    for minute in (10, 20, 30):
        clock.set(at(0, 9, 60 * minute))
        ticket = await h.ask()
        offer = h.last_offer(a)
        assert offer.ticket_id == ticket
        assert (await h.service.accept_offer(offer.offer_id, a)).ok
        await h.advance(300)
        await h.service.resolve_ticket(ticket, a)
    clock.set(at(0, 9, 3000))
    await h.service.set_agent_status(a, "away")
    clock.set(at(0, 10))
    waiting = await h.ask()
    await h.advance(300)
    assert await h.service.cancel_request(waiting)
    clock.set(at(0, 10.5))
    await h.service.set_agent_status(a, "available")
    clock.set(at(0, 11))
    await h.service.set_agent_status(a, "offline")
    clock.set(at(1, 0))

    day = Period(MONDAY, MONDAY + timedelta(days=1))
    report = await staffing_report(
        db, day, clock.now(), tz="UTC", weekday=None, target_share=0.8, target_seconds=60
    )
    hours = {x.hour: x for x in report.hours}
    assert (hours[9].arrivals, hours[10].arrivals) == (3, 1)
    assert hours[9].arrivals_per_hour == 3
    assert report.handled == 3 and report.handle_mean_s == pytest.approx(300)
    assert (report.waits, report.abandoned) == (4, 1)
    assert report.waiting_s == pytest.approx(300)
    assert report.model == "erlang_c"  # one abandon is too few to estimate patience
    assert hours[8].online == 0
    assert hours[9].online == pytest.approx(50 / 60)  # away from 09:50
    assert hours[10].online == pytest.approx(0.5)
    assert hours[11].online == 0
    assert report.mean_capacity == 3.0
    slots = staffing.slots_needed(3 / 3600, 1 / 300, 0.8, 60).slots
    assert hours[9].agents_needed == staffing.agents_for_slots(slots, 3.0) == 1


def test_local_hours_are_cut_at_the_zone_boundaries_dst_included() -> None:
    from zoneinfo import ZoneInfo

    # Berlin leaves summer time on 2026-10-25 at 03:00 local: the 02:00 hour happens twice.
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 00:00 local, Sunday
    slots = slots_between(start, start + timedelta(hours=25), ZoneInfo("Europe/Berlin"))
    exposure = slots.exposure()
    assert exposure[(6, 2)] == 7200  # two hours of "Sunday 02:00"
    assert sum(exposure.values()) == 25 * 3600
    # India is UTC+5:30: a UTC hour straddles two local hours.
    india = slots_between(start, start + timedelta(hours=1), ZoneInfo("Asia/Kolkata"))
    assert sorted(india.exposure().values()) == [1800, 1800]
