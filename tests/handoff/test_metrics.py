"""Support metrics on a known history built with the real handoff service on virtual time.

Every expected value is worked out by hand from the timeline below (seconds after 2026-01-05
00:00 UTC, the start of the "today" period), written as literal arithmetic. Runs on SQLite and
PostgreSQL (the ``db`` fixture).

Agents: A (Amal) and B (Badr), capacity 1. SLA: first response 10 min (normal), 5 min (high);
resolution 1 h.

=====  ==================================================================================
T0     Jan 4 23:59:00, stays with the bot (outside "today", inside "7d")
T1     0 opened; 30 the bot's answer helped (resolved by the bot)
T2     60 asks (category billing) -> A; 80 accepted; 120 A replies; 420 resolved; 5 stars
T3     420 asks on channel web -> A; B comes online; 450 A missed it: offered to B;
       460 B accepts; 1020 first-response SLA breached; 1060 B replies; 1120 resolved; 2 stars
T4     1120 asks (B offline) -> offered to A; 1135 the customer cancels (abandoned)
T5     1135 asks in Arabic -> A; 1140 accepted; 1160 replies; 1260 resolved; 4 stars;
       1860 the customer writes again: reopened -> A; 1870 accepted; 1920 resolved (no rating)
T6     1920 VIP (high) asks -> A; 1930 accepted; B online; 1950 A transfers to B;
       1960 B accepts; 1990 B replies; 2090 resolved
T7     2090 (B away) asks -> A; 2100 accepted; still open, no reply yet
T8     2100 VIP asks; A full, B away: still queued at "now" (2190)
T9     2190 opened, with the bot
T10    Jan 6 00:00:00 exactly (the end of "today": outside it)
=====  ==================================================================================
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from base.clock import VirtualClock
from handoff.customers import touch_customer
from handoff.metrics import (
    Filters,
    Period,
    agent_table,
    kpis,
    percentile,
    period_named,
    to_csv,
)
from handoff.sla import SlaPolicy
from handoff.tickets import current_ticket, record_message, resolve_by_bot
from storage.db import Database
from storage.models import Article, QueryLog, Ticket
from tests.handoff_harness import Harness

DAY = datetime(2026, 1, 5, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return DAY + timedelta(seconds=seconds)


@dataclass
class History:
    h: Harness
    a: int
    b: int
    t: dict[int, int]  # T-number -> ticket id


async def _customer_on(h: Harness, channel: str, external_id: str) -> int:
    """A customer on another channel than the harness's ``test`` (the harness has no option)."""
    async with h.db.transaction() as session:
        customer = await touch_customer(
            session,
            channel=channel,
            external_id=external_id,
            name="Web customer",
            username=None,
            language_code="en",
            default_language="en",
            at=h.clock.now(),
        )
        ticket = await current_ticket(session, customer, h.clock.now())
        await record_message(session, ticket, sender="customer", text="hello", at=h.clock.now())
        return ticket.id


async def _rate(h: Harness, ticket_id: int, stars: int) -> None:
    customer_id = (await h.ticket(ticket_id)).customer_id
    assert await h.service.rate(ticket_id, customer_id, stars)


async def _accept(h: Harness, agent: int) -> None:
    result = await h.service.accept_offer(h.last_offer(agent).offer_id, agent)
    assert result.ok, result


async def build_history(db: Database) -> History:
    clock = VirtualClock(at(-60))
    sla = SlaPolicy.from_config(
        {
            "first_response": {"normal": "10m", "high": "5m"},
            "resolution": {"normal": "1h", "high": "1h"},
        },
        None,
    )
    h = await Harness.create(db, clock, sla=sla)
    a = await h.agent("Amal")
    b = await h.agent("Badr", online=False)
    t: dict[int, int] = {}

    t[0] = await h.customer("hello")  # Jan 4 23:59:00
    await h.advance(60)
    assert h.clock.now() == at(0)

    t[1] = await h.customer("where is my order")  # at the period's very start
    await h.advance(30)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, t[1])
        assert ticket is not None and await resolve_by_bot(session, ticket, h.clock.now())

    await h.advance(30)  # 60
    t[2] = await h.customer("refund please")
    async with db.transaction() as session:  # the bot's answer gives the ticket its category
        article = Article(
            slug="refunds",
            lang="en",
            question="How do refunds work?",
            phrasings=[],
            answer="...",
            category="billing",
            tags=[],
            status="published",
            created_at=h.clock.now(),
            updated_at=h.clock.now(),
        )
        session.add(article)
        await session.flush()
        session.add(
            QueryLog(
                ticket_id=t[2],
                query="refund please",
                lang="en",
                outcome="answer",
                best_article_id=article.id,
                score=0.9,
                suggested_article_ids=[],
                created_at=h.clock.now(),
            )
        )
    await h.service.request_human(t[2], reason="test")
    assert (await h.ticket(t[2])).category == "billing"
    await h.advance(20)  # 80
    await _accept(h, a)
    await h.advance(40)  # 120
    await h.service.agent_message(t[2], a, "On it.", origin="web")
    await h.advance(300)  # 420
    await h.service.resolve_ticket(t[2], a)
    await _rate(h, t[2], 5)

    t[3] = await _customer_on(h, "web", "w1")
    await h.service.request_human(t[3], reason="test")
    assert h.last_offer(a).ticket_id == t[3]
    await h.service.set_agent_status(b, "available")  # (alone, A would get it again at once)
    await h.advance(30)  # 450: A did not answer; offered to B
    assert [o.state for o in await h.offers(t[3])] == ["expired", "pending"]
    assert h.last_offer(b).ticket_id == t[3]
    await h.advance(10)  # 460
    await _accept(h, b)
    await h.advance(600)  # 1060: the first-response SLA was due at 420 + 600
    assert "sla_breached" in await h.events(t[3])
    await h.service.agent_message(t[3], b, "On it.", origin="web")
    await h.advance(60)  # 1120
    await h.service.resolve_ticket(t[3], b)
    await _rate(h, t[3], 2)

    await h.service.set_agent_status(b, "offline")
    t[4] = await h.ask("anyone?")
    assert h.last_offer(a).ticket_id == t[4]
    await h.advance(15)  # 1135
    assert await h.service.cancel_request(t[4])

    t[5] = await h.ask("مرحبا", language="ar")
    await h.advance(5)  # 1140
    await _accept(h, a)
    await h.advance(20)  # 1160
    await h.service.agent_message(t[5], a, "On it.", origin="web")
    await h.advance(100)  # 1260
    await h.service.resolve_ticket(t[5], a)
    await _rate(h, t[5], 4)
    await h.advance(600)  # 1860
    assert await h.service.customer_wrote(t[5]) == "reopened"
    await h.advance(10)  # 1870
    await _accept(h, a)
    await h.advance(50)  # 1920
    await h.service.resolve_ticket(t[5], a)

    t[6] = await h.ask("urgent please", tier="vip")
    assert (await h.ticket(t[6])).priority == "high"
    await h.advance(10)  # 1930
    await _accept(h, a)
    await h.service.set_agent_status(b, "available")
    await h.advance(20)  # 1950
    await h.service.transfer_ticket(t[6], a, to_agent=b)
    await h.advance(10)  # 1960
    await _accept(h, b)
    await h.advance(30)  # 1990
    await h.service.agent_message(t[6], b, "On it.", origin="web")
    await h.advance(100)  # 2090
    await h.service.resolve_ticket(t[6], b)

    await h.service.set_agent_status(b, "away")
    t[7] = await h.ask("still open")
    await h.advance(10)  # 2100
    await _accept(h, a)
    t[8] = await h.ask("waiting", tier="vip")
    assert (await h.ticket(t[8])).state == "queued"
    await h.advance(90)  # 2190
    t[9] = await h.customer("just looking")
    assert h.clock.now() == at(2190)
    return History(h, a, b, t)


@pytest.fixture
async def history(db: Database) -> History:
    return await build_history(db)


TODAY = Period(at(0), at(86_400))
NOW = at(2190)


async def _kpis(
    history: History, filters: Filters | None = None, period: Period = TODAY
) -> dict[str, Any]:
    async with history.h.db.transaction() as session:
        return await kpis(session, period, filters or Filters(), NOW)


async def test_kpis_match_the_hand_computed_figures(history: History) -> None:
    a = history.a
    k = await _kpis(history)
    # T1..T9 were created today; T0 the day before
    assert k["opened"] == 9
    assert (k["resolved_bot"], k["resolved_agent"], k["resolved"]) == (1, 4, 1 + 4)
    assert k["deflected"] == 1
    assert k["handoffs"] == 7  # T2..T8
    assert k["bot_deflection_rate"] == 1 / 9
    assert k["handoff_rate"] == 7 / 9
    assert k["open_now"] == 3  # T7 assigned, T8 queued, T9 with the bot
    assert k["open_now_by_state"] == {
        "bot": 1,
        "queued": 1,
        "offered": 0,
        "assigned": 1,
        "pending": 0,
    }
    # queue wait = first assigned - first queued: T2 80-60, T3 460-420 (incl. the missed
    # offer), T5 1140-1135 (the reopen's wait is not counted), T6 1930-1920, T7 2100-2090
    assert k["queue_wait_n"] == 5
    assert k["queue_wait_mean_s"] == (20 + 40 + 5 + 10 + 10) / 5
    assert k["queue_wait_p90_s"] == 40  # nearest rank ceil(0.9 * 5) = 5th of 5
    # FRT = first agent reply - first handoff request: T2 120-60, T3 1060-420, T5 1160-1135,
    # T6 1990-1920 (T7 has no reply yet)
    assert k["frt_n"] == 4
    assert k["frt_mean_s"] == (60 + 640 + 25 + 70) / 4
    assert k["frt_p90_s"] == 640  # ceil(0.9 * 4) = 4th of 4
    # reaction = first reply - first assignment: 120-80, 1060-460, 1160-1140, 1990-1930
    assert k["reaction_mean_s"] == (40 + 600 + 20 + 60) / 4
    assert k["reaction_p90_s"] == 600
    # resolution = final resolution - first handoff request (agent-resolved):
    # T2 420-60, T3 1120-420, T5 1920-1135 (incl. the reopen), T6 2090-1920
    assert k["resolution_n"] == 4
    assert k["resolution_mean_s"] == (360 + 700 + 785 + 170) / 4
    assert k["resolution_p90_s"] == 785
    # FCR: T2 and T3 (one agent each, no reopen, no transfer); not T5 (reopened), T6 (transfer)
    assert (k["fcr_count"], k["fcr_rate"]) == (2, 2 / 4)
    assert k["missed_offers"] == 1  # A on T3; T4's withdrawn offer is not a miss
    assert k["missed_offers_by_agent"] == {str(a): 1}
    assert (k["abandoned"], k["abandoned_total"]) == (1, 1)  # T4
    assert k["abandon_rate"] == 1 / 7
    # ratings: T2 5, T3 2, T5 4; surveys: one per agent resolution: T2, T3, T5 twice, T6
    assert k["ratings_count"] == 3
    assert k["csat"] == 2 / 3
    assert k["rating_mean"] == (5 + 2 + 4) / 3
    assert k["rating_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert k["surveys_sent"] == 1 + 1 + 2 + 1
    assert k["rating_response_rate"] == 3 / 5
    # first response: T2 and T6 met, T3 breached; T5's due was cleared by the reopen (it had
    # been answered), T4 closed before its due, T7 and T8 not due yet: none of them counts
    assert k["sla"]["first_response"] == {"met": 2, "breached": 1, "met_rate": 2 / 3}
    # resolution (1 h): T2, T3, T5 (second cycle, due 1860 + 3600), T6 met
    assert k["sla"]["resolution"] == {"met": 4, "breached": 0, "met_rate": 1.0}
    assert k["queue_now"] == {
        "total": 1,
        "by_priority": {"low": 0, "normal": 0, "high": 1, "urgent": 0},
        "held_for_hours": 0,
        "oldest_wait_s": 2190 - 2100,
    }
    assert k["series"] == [
        {
            "date": "2026-01-05",
            "opened": 9,
            "resolved_bot": 1,
            "resolved_agent": 4,
            "handoffs": 7,
            "opened_by_channel": {"test": 8, "web": 1},
            "frt_mean_s": (60 + 640 + 25 + 70) / 4,
            "resolution_mean_s": (360 + 700 + 785 + 170) / 4,
        }
    ]
    assert k["period"] == {"start": at(0).isoformat(), "end": at(86_400).isoformat()}


async def test_filters_narrow_every_figure(history: History) -> None:
    b = history.b
    # agent B: the tickets B was assigned (T3, T6), B's ratings and surveys, B's misses
    k = await _kpis(history, Filters(agent_id=b))
    assert (k["opened"], k["resolved_agent"], k["handoffs"]) == (2, 2, 2)
    assert k["frt_mean_s"] == (640 + 70) / 2
    assert k["queue_wait_mean_s"] == (40 + 10) / 2
    assert k["resolution_mean_s"] == (700 + 170) / 2
    assert (k["fcr_count"], k["fcr_rate"]) == (1, 1 / 2)  # T3 yes, T6 transferred
    assert (k["ratings_count"], k["csat"], k["surveys_sent"]) == (1, 0.0, 2)
    assert k["rating_response_rate"] == 1 / 2
    assert (k["missed_offers"], k["missed_offers_by_agent"]) == (0, {str(b): 0})
    # agent A: T2, T5, T6, T7; T6's survey and resolution are B's (A transferred it)
    k = await _kpis(history, Filters(agent_id=history.a))
    assert (k["opened"], k["missed_offers"]) == (4, 1)
    assert (k["surveys_sent"], k["ratings_count"]) == (1 + 2, 2)
    assert k["rating_response_rate"] == 2 / 3

    # priority high: T6 and T8; the queue now holds T8 only
    k = await _kpis(history, Filters(priority="high"))
    assert (k["opened"], k["handoffs"], k["frt_mean_s"]) == (2, 2, 70)
    assert k["queue_now"]["total"] == 1
    assert (await _kpis(history, Filters(priority="normal")))["queue_now"]["total"] == 0

    # language ar: T5 alone, two surveys (two resolutions), one rating
    k = await _kpis(history, Filters(language="ar"))
    assert (k["opened"], k["frt_mean_s"], k["resolution_mean_s"]) == (1, 25, 785)
    assert (k["surveys_sent"], k["rating_response_rate"], k["fcr_rate"]) == (2, 1 / 2, 0.0)

    # channel web: T3, with the missed offer and the SLA breach
    k = await _kpis(history, Filters(channel="web"))
    assert (k["opened"], k["missed_offers"], k["frt_mean_s"]) == (1, 1, 640)
    assert k["sla"]["first_response"]["breached"] == 1
    assert k["series"][0]["opened_by_channel"] == {"web": 1}

    # category billing: T2 (given by the FAQ answer it saw)
    k = await _kpis(history, Filters(category="billing"))
    assert (k["opened"], k["csat"], k["frt_mean_s"]) == (1, 1.0, 60)
    assert (await _kpis(history, Filters(category="nothing")))["opened"] == 0


async def test_period_boundaries_are_half_open_and_series_split_by_day(history: History) -> None:
    h, t = history.h, history.t
    # [60, 420): T2 created at 60 is in, T3 created at 420 is not
    k = await _kpis(history, period=Period(at(60), at(420)))
    assert (k["opened"], k["frt_mean_s"]) == (1, 60)
    empty = await _kpis(history, period=Period(at(30), at(60)))
    assert empty["opened"] == 0
    assert (empty["frt_mean_s"], empty["csat"], empty["bot_deflection_rate"]) == (None, None, None)

    week = period_named("7d", NOW)
    assert (week.start, week.end) == (at(-6 * 86_400), at(86_400))
    k = await _kpis(history, period=week)
    assert k["opened"] == 10  # T0 too
    assert [d["date"] for d in k["series"]] == [f"2025-12-{d}" for d in range(30, 32)] + [
        f"2026-01-0{d}" for d in range(1, 6)
    ]
    assert [d["opened"] for d in k["series"]] == [0, 0, 0, 0, 0, 1, 9]
    assert sum(d["resolved_agent"] for d in k["series"]) == k["resolved_agent"]

    # a ticket opened at exactly the end of today belongs to tomorrow
    h.clock.set(at(86_400))
    t[10] = await h.customer("tomorrow")
    assert (await _kpis(history, period=period_named("today", NOW)))["opened"] == 9
    tomorrow = period_named("today", at(86_400))
    assert (await _kpis(history, period=tomorrow))["opened"] == 1


async def test_agent_table_per_agent_and_csv(history: History) -> None:
    a, b = history.a, history.b
    async with history.h.db.transaction() as session:
        rows = await agent_table(session, TODAY, Filters(), NOW)
    assert [r["agent_id"] for r in rows] == [a, b]  # by name: Amal, Badr
    amal, badr = rows
    # A: assigned T2, T5, T6, T7; resolved T2 and T5 (T5 twice, one ticket); replied first on T2, T5
    assert amal["chats_handled"] == 4
    assert amal["resolved"] == 2
    assert amal["frt_mean_s"] == (60 + 25) / 2
    assert amal["resolution_mean_s"] == (360 + 785) / 2
    assert amal["fcr_rate"] == 1 / 2
    assert (amal["csat"], amal["rating_mean"], amal["ratings_count"]) == (1.0, (5 + 4) / 2, 2)
    assert amal["missed_offers"] == 1
    assert (amal["status"], amal["load"], amal["capacity"], amal["load_ratio"]) == (
        "available",
        1,  # T7
        1,
        1.0,
    )
    # B: assigned T3, T6; replied first and resolved both
    assert (badr["chats_handled"], badr["resolved"]) == (2, 2)
    assert badr["frt_mean_s"] == (640 + 70) / 2
    assert badr["resolution_mean_s"] == (700 + 170) / 2
    assert (badr["csat"], badr["rating_mean"], badr["ratings_count"]) == (0.0, 2.0, 1)
    assert (badr["missed_offers"], badr["status"], badr["load"]) == (0, "away", 0)
    # the table and the totals agree
    k = await _kpis(history)
    assert sum(r["missed_offers"] for r in rows) == k["missed_offers"]
    assert sum(r["ratings_count"] for r in rows) == k["ratings_count"]
    assert sum(r["resolved"] for r in rows) == k["resolved_agent"]  # one definition

    async with history.h.db.transaction() as session:
        only_b = await agent_table(session, TODAY, Filters(agent_id=b), NOW)
    assert only_b == [badr]

    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [p["agent_id"] for p in parsed] == [str(a), str(b)]
    assert parsed[0]["frt_mean_s"] == str((60 + 25) / 2)
    assert parsed[1]["name"] == "Badr"


async def test_edge_cases_transfer_back_hand_back_late_reply_and_breach_unanswered(
    db: Database,
) -> None:
    clock = VirtualClock(at(0))
    sla = SlaPolicy.from_config({"first_response": {"normal": "10m"}, "resolution": {}}, None)
    h = await Harness.create(db, clock, sla=sla)
    a = await h.agent("Solo")
    # 1: Solo transfers to a skill nobody else has and gets it back (one-agent team): one
    # agent, no reopen, but a transfer: not first-contact resolution
    first = await h.ask("one")
    await _accept(h, a)
    offers = len(h.port.offers())
    await h.service.transfer_ticket(first, a, to_category="billing")
    await h.advance(0)  # the exclusion of the only agent lapses at once, on the next tick
    assert len(h.port.offers()) == offers + 1 and h.last_offer(a).ticket_id == first
    await _accept(h, a)
    # the reply comes after the 10 min due without a timer firing in between (a process that
    # was down): breached by the timestamps, though no breach event was written
    h.clock.advance(700)
    await h.service.agent_message(first, a, "On it.", origin="web")
    await h.service.resolve_ticket(first, a)
    assert "sla_breached" not in await h.events(first)
    # 2: handed back to the bot, which then resolves it: resolved by the bot, not deflected
    second = await h.ask("two")
    await _accept(h, a)
    await h.service.hand_back_to_bot(second, a)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, second)
        assert ticket is not None and await resolve_by_bot(session, ticket, h.clock.now())
    # 3: waits past its due with the timer firing, then the customer leaves: breached by the
    # event alone (never answered)
    await h.service.set_agent_status(a, "away")
    third = await h.ask("three")
    await h.advance(601)
    assert "sla_breached" in await h.events(third)
    assert await h.service.cancel_request(third)

    async with db.transaction() as session:
        k = await kpis(session, TODAY, Filters(), h.clock.now())
    assert (k["opened"], k["resolved_agent"], k["resolved_bot"]) == (3, 1, 1)
    assert (k["fcr_count"], k["fcr_rate"]) == (0, 0.0)
    assert (k["deflected"], k["bot_deflection_rate"]) == (0, 0.0)
    assert k["sla"]["first_response"] == {"met": 0, "breached": 2, "met_rate": 0.0}
    assert (k["abandoned"], k["abandon_rate"]) == (1, 1 / 3)


def test_to_csv_header_missing_keys_nested_values_and_formulas() -> None:
    text = to_csv(
        [
            {"a": 1, "b": None, "c": {"x": 1}},
            {"a": 2.5, "d": "=HYPERLINK(1)", "b": True},
        ]
    )
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b", "c", "d"],
        ["1", "", '{"x": 1}', ""],
        ["2.5", "true", "", "'=HYPERLINK(1)"],
    ]
    assert to_csv([]) == ""


def test_percentile_is_nearest_rank() -> None:
    values = [50.0, 15.0, 40.0, 20.0, 35.0]
    assert percentile(values, 30) == 20  # rank ceil(1.5) = 2
    assert percentile(values, 40) == 20  # rank ceil(2.0) = 2
    assert percentile(values, 50) == 35  # rank ceil(2.5) = 3
    assert percentile(values, 90) == 50  # rank ceil(4.5) = 5
    assert percentile([float(v) for v in range(1, 11)], 90) == 9  # rank 9 exactly
    assert percentile([float(v) for v in range(1, 21)], 90) == 18
    assert percentile([], 90) is None
    with pytest.raises(ValueError):
        percentile(values, 0)


def test_named_periods_are_whole_local_days() -> None:
    now = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    today = period_named("today", now)
    assert (today.start, today.end) == (
        datetime(2026, 3, 10, tzinfo=UTC),
        datetime(2026, 3, 11, tzinfo=UTC),
    )
    assert period_named("30d", now).start == datetime(2026, 2, 9, tzinfo=UTC)
    assert period_named("year", now).start == datetime(2025, 3, 11, tzinfo=UTC)
    # 22:30 UTC is already 01:30 on the 11th in Riyadh (UTC+3)
    riyadh = period_named("today", now, tz="Asia/Riyadh")
    assert (riyadh.start, riyadh.end) == (
        datetime(2026, 3, 10, 21, tzinfo=UTC),
        datetime(2026, 3, 11, 21, tzinfo=UTC),
    )
    with pytest.raises(ValueError):
        period_named("custom", now)
    with pytest.raises(ValueError):
        period_named("today", now, tz="Mars/Olympus")
    with pytest.raises(ValueError):
        Period(datetime(2026, 1, 2), datetime(2026, 1, 3))  # naive
    with pytest.raises(ValueError):
        Period(now, now)
