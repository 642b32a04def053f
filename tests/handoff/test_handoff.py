"""The handoff service on virtual time: tickets, priority queue, ACD offers, reassignment on
no-answer, races, restart, business hours, SLA, transfers and the port."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from base.clock import VirtualClock
from handoff.hours import BusinessHours
from handoff.notices import (
    AgentJoined,
    AgentSetAway,
    Assigned,
    ChatsRequeued,
    CloseOrTransfer,
    CustomerLeft,
    HandedBack,
    LowRating,
    NoAgents,
    OfferEnded,
    OfferMade,
    OutsideHours,
    PositionChanged,
    Queued,
    Requeued,
    Resolved,
    SetAway,
    SlaBreached,
    SlaWarning,
)
from handoff.priority import PriorityRules
from handoff.service import HandoffError
from handoff.sla import SlaPolicy
from storage.db import Database
from storage.models import Note, Offer
from tests.handoff_harness import Harness


@pytest.fixture
async def h(sqlite_db: Database, clock: VirtualClock) -> Harness:
    return await Harness.create(sqlite_db, clock)


async def test_handoff_offer_accept_assigns_and_tells_everyone(h: Harness) -> None:
    agent = await h.agent("Amal")
    ticket_id = await h.ask("my order never came")
    offer = h.last_offer(agent)
    assert (offer.ticket_id, offer.priority, offer.customer_name) == (
        ticket_id,
        "normal",
        "Customer 1",
    )
    assert offer.last_messages == ("my order never came",)
    assert (offer.deadline - h.clock.now()).total_seconds() == 30
    queued = h.port.of(Queued)
    assert queued and queued[0].position == 1
    t = await h.ticket(ticket_id)
    assert t.state == "offered" and t.first_offered_at == h.clock.now()

    h.clock.advance(5)
    result = await h.service.accept_offer(offer.offer_id, agent)
    assert (result.ok, result.reason) == (True, "accepted")
    t = await h.ticket(ticket_id)
    assert (t.state, t.assignee_id, t.assigned_at) == ("assigned", agent, h.clock.now())
    joined = h.port.of(AgentJoined)
    assert joined[-1].agent_name == "Amal"
    assert await h.events(ticket_id) == [
        "ticket_opened",
        "handoff_requested",
        "ticket_queued",
        "offer_made",
        "offer_accepted",
        "ticket_assigned",
        "current_chat_set",  # the accepted chat is the agent's current one, in the same commit
    ]


async def test_no_agent_online_waits_and_dispatches_the_moment_one_comes(h: Harness) -> None:
    agent = await h.agent("Amal", online=False)
    ticket_id = await h.ask()
    assert h.port.of(NoAgents)
    assert (await h.ticket(ticket_id)).state == "queued"
    await h.advance(600)
    assert h.port.offers() == []
    await h.service.set_agent_status(agent, "available")
    assert h.last_offer(agent).ticket_id == ticket_id  # no tick needed: no polling delay


async def test_unanswered_offer_cascades_through_the_pool(h: Harness) -> None:
    a = await h.agent("A")
    b = await h.agent("B")
    c = await h.agent("C")
    ticket_id = await h.ask()
    first = h.last_offer()
    assert first.agent_id == a  # longest idle
    await h.advance(30)
    second = h.last_offer()
    assert second.agent_id == b
    withdrawn = h.port.of(OfferEnded, a)
    assert withdrawn[-1] == OfferEnded(
        a, offer_id=first.offer_id, ticket_id=ticket_id, reason="expired"
    )
    await h.service.decline_offer(second.offer_id, b)
    third = h.last_offer()
    assert third.agent_id == c
    assert (await h.ticket(ticket_id)).failed_agents == [a, b]
    assert [o.state for o in await h.offers(ticket_id)] == ["expired", "declined", "pending"]
    # the one who declined is not penalised; the one who missed is
    assert h.service.acd.agents[b].no_answer_streak == 0
    assert h.service.acd.agents[a].no_answer_streak == 1


async def test_three_missed_offers_set_the_agent_away_and_tell_why(h: Harness) -> None:
    lazy = await h.agent("Lazy")
    for _ in range(3):
        await h.ask()
        assert h.last_offer().agent_id == lazy
        await h.advance(30)
    assert h.port.of(SetAway, lazy)[-1].missed == 3
    assert h.port.of(AgentSetAway)[-1].agent_id == lazy
    offers_before = len(h.port.offers())
    await h.advance(300)
    assert len(h.port.offers()) == offers_before  # away: no more offers
    assert "agent_auto_away" in await h.events()
    # back online: the streak starts again and offers resume
    await h.service.set_agent_status(lazy, "available")
    assert len(h.port.offers()) == offers_before + 1


async def test_vip_queued_after_a_normal_customer_is_offered_first(h: Harness) -> None:
    agent = await h.agent("Amal", online=False)
    normal = await h.ask("hello")
    h.clock.advance(10)
    vip = await h.ask("hello", tier="vip")
    assert (await h.ticket(vip)).priority == "high"
    await h.service.set_agent_status(agent, "available")
    assert h.last_offer(agent).ticket_id == vip
    assert (await h.ticket(normal)).state == "queued"


async def test_priority_rules_keywords_categories_and_repeat_contact(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    rules = PriorityRules.from_config(
        {"keywords": {"fraud": "urgent", "احتيال": "urgent"}, "categories": {"payment": "high"}}
    )
    h = await Harness.create(sqlite_db, clock, rules=rules)
    urgent = await h.ask("I think this is FRAUD!")
    assert (await h.ticket(urgent)).priority == "urgent"
    arabic = await h.ask("أظن أن هذا احتيال", language="ar")
    assert (await h.ticket(arabic)).priority == "urgent"
    # a repeat contact within 7 days raises one level
    ticket_id = await h.customer("hi")
    await h.service.request_human(ticket_id, reason="test")
    await h.service.hand_back_to_bot(ticket_id, None)
    async with h.db.transaction() as session:
        from handoff.tickets import resolve_by_bot
        from storage.models import Ticket

        t = await session.get(Ticket, ticket_id)
        assert t is not None
        await resolve_by_bot(session, t, clock.now())
        from handoff.customers import find_customer
        from handoff.tickets import current_ticket

        customer = await find_customer(session, "test", "3")
        assert customer is not None
        again = await current_ticket(session, customer, clock.now())
        again_id = again.id
    await h.service.request_human(again_id, reason="test")
    t2 = await h.ticket(again_id)
    assert t2.priority == "high"
    events = await h.events(again_id)
    assert "handoff_requested" in events


async def test_head_start_lets_a_long_waiting_normal_chat_overtake_newer_high_ones(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(
        sqlite_db,
        clock,
        head_start_s={"low": 0.0, "normal": 0.0, "high": 600.0, "urgent": math.inf},
    )
    agent = await h.agent("Amal", online=False)
    old_normal = await h.ask()
    h.clock.advance(700)  # waited longer than high's head start
    await h.ask(tier="vip")
    await h.service.set_agent_status(agent, "available")
    assert h.last_offer(agent).ticket_id == old_normal

    h2 = await Harness.create(sqlite_db, clock, head_start_s={"normal": 0.0, "high": math.inf})
    assert (await h2.ticket(old_normal)).rank_at is not None


async def test_a_chat_nobody_can_take_does_not_block_the_queue(h: Harness) -> None:
    arabic_agent = await h.agent("Omar", online=False, languages=["ar"])
    english = await h.ask("help", language="en")
    arabic = await h.ask("مساعدة", language="ar")
    await h.service.set_agent_status(arabic_agent, "available")
    assert h.last_offer(arabic_agent).ticket_id == arabic
    assert (await h.ticket(english)).state == "queued"


async def test_one_agent_team_gets_the_chat_again_without_spinning(h: Harness) -> None:
    solo = await h.agent("Solo")
    ticket_id = await h.ask()
    await h.advance(30)  # missed once: the exclusion lapses at once in a one-agent team
    assert [o.agent_id for o in h.port.offers()] == [solo, solo]
    for _ in range(20):
        await h.advance(5)
    # at most one offer per offer timeout, and the agent goes away after three misses
    assert len(h.port.offers()) <= 3
    assert h.service.acd.agents[solo].status == "away"
    assert (await h.ticket(ticket_id)).state == "queued"


async def test_exclusion_lapses_after_a_delay_when_everyone_missed(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, exclusion_lapse_s=60.0)
    a = await h.agent("A")
    b = await h.agent("B")
    ticket_id = await h.ask()
    await h.advance(30)
    await h.advance(30)
    assert [o.agent_id for o in h.port.offers()] == [a, b]
    assert (await h.ticket(ticket_id)).failed_agents == [a, b]
    await h.advance(30)
    assert len(h.port.offers()) == 2  # nobody left: no tight loop
    await h.advance(30)
    assert len(h.port.offers()) == 3  # 60 s after the last miss, A gets it again
    assert (await h.ticket(ticket_id)).failed_agents == []
    assert "exclusion_lapsed" in await h.events(ticket_id)


async def test_two_accepts_at_once_have_exactly_one_winner(h: Harness) -> None:
    agent = await h.agent("Amal")
    ticket_id = await h.ask()
    offer = h.last_offer(agent)
    results = await asyncio.gather(
        h.service.accept_offer(offer.offer_id, agent),
        h.service.accept_offer(offer.offer_id, agent),
    )
    assert sorted(r.ok for r in results) == [False, True]
    assert {r.reason for r in results} == {"accepted", "taken"}
    assert (await h.ticket(ticket_id)).state == "assigned"
    assert [o.state for o in await h.offers(ticket_id)] == ["accepted"]


async def test_accept_racing_the_expiry_has_one_outcome(h: Harness) -> None:
    a = await h.agent("A")
    b = await h.agent("B")
    ticket_id = await h.ask()
    offer = h.last_offer(a)
    h.clock.advance(30)  # the deadline passed but the timer has not fired yet
    late = await h.service.accept_offer(offer.offer_id, a)
    assert (late.ok, late.reason) == (False, "expired")
    again = h.last_offer(b)
    assert again.ticket_id == ticket_id
    assert (await h.service.accept_offer(again.offer_id, b)).ok
    assert (await h.ticket(ticket_id)).assignee_id == b


async def test_forged_accept_by_another_agent_is_refused(h: Harness) -> None:
    a = await h.agent("A")
    b = await h.agent("B", online=False)
    await h.ask()
    offer = h.last_offer(a)
    result = await h.service.accept_offer(offer.offer_id, b)
    assert (result.ok, result.reason) == (False, "not_yours")
    assert (await h.service.accept_offer("nonexistent", a)).reason == "taken"


async def test_restart_rearms_pending_offers_and_keeps_the_queue(h: Harness) -> None:
    a = await h.agent("A")
    b = await h.agent("B")
    c = await h.agent("C", online=False)
    first = await h.ask()
    second = await h.ask()
    third = await h.ask()
    offer_a = h.last_offer(a)
    h.clock.advance(10)
    service = await h.restart()  # as after a crash: a new process, the same database
    assert set(service.acd.offers) == {offer_a.offer_id, h.last_offer(b).offer_id}
    assert [c_.ticket_id for c_ in service.acd.queued()] == [third]
    h.clock.advance(20)
    await service.tick()  # the re-armed offer expires at its stored deadline
    assert (await h.ticket(first)).failed_agents == [a]
    assert (await h.ticket(second)).state == "offered"
    await service.set_agent_status(c, "available")
    assert {h.last_offer(c).ticket_id} <= {first, third}
    # an offer still pending survives, and can be accepted after the restart
    offer_b = h.last_offer(b)
    assert (await service.accept_offer(offer_b.offer_id, b)).ok


async def test_agent_going_offline_is_asked_to_close_then_chats_requeue_with_rank(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, offline_grace_s=120.0)
    a = await h.agent("A")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    rank = (await h.ticket(ticket_id)).rank_at
    open_ids = await h.service.set_agent_status(a, "offline")
    assert open_ids == [ticket_id]
    assert h.port.of(CloseOrTransfer, a)[-1].ticket_ids == (ticket_id,)
    await h.advance(60)
    assert (await h.ticket(ticket_id)).state == "assigned"  # still within the grace period
    b = await h.agent("B")
    await h.advance(60)
    t = await h.ticket(ticket_id)
    assert (t.state, t.rank_at, t.assignee_id) == ("offered", rank, None)
    assert h.last_offer(b).ticket_id == ticket_id
    assert h.port.of(Requeued)
    assert h.port.of(ChatsRequeued, a)


async def test_transfer_to_an_agent_keeps_queue_time_and_hand_back_to_bot(h: Harness) -> None:
    a = await h.agent("A")
    b = await h.agent("B")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    before = await h.ticket(ticket_id)
    await h.advance(100)
    await h.service.transfer_ticket(ticket_id, a, to_agent=b)
    after = await h.ticket(ticket_id)
    assert (after.rank_at, after.handoff_requested_at) == (
        before.rank_at,
        before.handoff_requested_at,
    )
    offer = h.last_offer(b)
    assert offer.ticket_id == ticket_id
    await h.service.accept_offer(offer.offer_id, b)
    assert (await h.ticket(ticket_id)).assignee_id == b
    with pytest.raises(HandoffError):
        await h.service.transfer_ticket(ticket_id, a, to_agent=a)  # not A's chat any more
    await h.service.hand_back_to_bot(ticket_id, b)
    t = await h.ticket(ticket_id)
    assert (t.state, t.assignee_id) == ("bot", None)
    assert h.port.of(HandedBack)
    assert h.service.acd.agents[b].active == 0


async def test_transfer_to_a_skill_goes_to_an_agent_with_it(h: Harness) -> None:
    a = await h.agent("A")
    billing = await h.agent("Bill", online=False, skills=["billing"])
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.service.set_agent_status(billing, "available")
    await h.service.transfer_ticket(ticket_id, a, to_category="billing")
    assert h.last_offer(billing).ticket_id == ticket_id
    assert (await h.ticket(ticket_id)).category == "billing"


async def test_outside_business_hours_the_ticket_waits_for_the_opening(
    sqlite_db: Database,
) -> None:
    # Sunday 2026-01-04 20:00 UTC = 23:00 in Riyadh; open 09:00-17:00 Sunday-Thursday
    clock = VirtualClock(datetime(2026, 1, 4, 20, 0, tzinfo=UTC))
    hours = BusinessHours.from_config(
        {
            "timezone": "Asia/Riyadh",
            **{d: "09:00-17:00" for d in ("sunday", "monday", "tuesday", "wednesday", "thursday")},
        }
    )
    h = await Harness.create(sqlite_db, clock, hours=hours)
    agent = await h.agent("Night owl")
    ticket_id = await h.ask()
    notice = h.port.of(OutsideHours)[-1]
    assert notice.opens_at == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    assert h.port.offers() == []
    assert (await h.ticket(ticket_id)).waiting_for_hours
    await h.advance(9 * 3600 + 59 * 60)  # 05:59 UTC
    assert h.port.offers() == []
    await h.advance(60)
    assert h.last_offer(agent).ticket_id == ticket_id


async def test_sla_warning_and_breach_reach_supervisors(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    sla = SlaPolicy.from_config(
        {"warn_fraction": 0.5, "first_response": {"normal": "10m"}, "resolution": {}}, None
    )
    h = await Harness.create(sqlite_db, clock, sla=sla)
    ticket_id = await h.ask()
    await h.advance(299)
    assert h.port.of(SlaWarning) == []
    await h.advance(1)
    assert h.port.of(SlaWarning)[-1].ticket_id == ticket_id
    await h.advance(300)
    breach = h.port.of(SlaBreached)[-1]
    assert (breach.target, breach.ticket_id) == ("first_response", ticket_id)
    events = await h.events(ticket_id)
    assert events.count("sla_warning") == 1 and events.count("sla_breached") == 1


async def test_first_reply_stops_the_first_response_sla(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    sla = SlaPolicy.from_config({"first_response": {"normal": "10m"}, "resolution": {}}, None)
    h = await Harness.create(sqlite_db, clock, sla=sla)
    a = await h.agent("A")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.advance(60)
    await h.service.agent_message(ticket_id, a, "On it.", origin="web")
    await h.advance(3600)
    assert h.port.supervisors() == []
    assert (await h.ticket(ticket_id)).first_agent_reply_at is not None


async def test_resolve_reopen_within_window_then_autoclose(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, reopen_window_s=3600.0)
    a = await h.agent("A")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.service.resolve_ticket(ticket_id, a)
    t = await h.ticket(ticket_id)
    assert (t.state, t.resolution) == ("resolved", "agent")
    assert h.port.of(Resolved)[-1].agent_id == a
    await h.advance(600)
    assert await h.service.customer_wrote(ticket_id) == "reopened"
    assert (await h.ticket(ticket_id)).reopened_count == 1
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.service.resolve_ticket(ticket_id, a)
    await h.advance(3600)
    t = await h.ticket(ticket_id)
    assert (t.state, t.closed_at) == ("closed", h.clock.now())
    assert await h.service.customer_wrote(ticket_id) == "none"


async def test_notices_carry_what_the_channels_say(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    """What a channel says after an action comes with the notice (which offer was accepted,
    who the customer is, who resolved it, which rating cycle), not from a read after it."""
    h = await Harness.create(sqlite_db, clock, reopen_window_s=3600.0)
    a = await h.agent("Amal")
    ticket_id = await h.ask()
    customer_id = (await h.ticket(ticket_id)).customer_id
    first = h.last_offer(a)
    await h.service.accept_offer(first.offer_id, a)
    assert h.port.of(Assigned, a)[-1] == Assigned(
        a,
        ticket_id=ticket_id,
        offer_id=first.offer_id,
        customer_name=first.customer_name,
        recent=(("customer", "I need help"),),
    )
    await h.service.resolve_ticket(ticket_id, a)
    assert h.port.of(Resolved)[-1].cycle == 0
    await h.service.customer_wrote(ticket_id)
    second = h.last_offer(a)
    assert second.offer_id != first.offer_id
    await h.service.accept_offer(second.offer_id, a)
    assert h.port.of(Assigned, a)[-1].offer_id == second.offer_id
    await h.service.resolve_ticket(ticket_id, a)
    resolved = h.port.of(Resolved)[-1]
    assert (resolved.to.ticket_id, resolved.agent_name, resolved.cycle) == (ticket_id, "Amal", 1)
    assert await h.service.rate(ticket_id, customer_id, 1)
    low = h.port.of(LowRating)[-1]
    assert (low.ticket_id, low.stars, low.agent_id, low.agent_name) == (ticket_id, 1, a, "Amal")


async def test_wrap_up_holds_the_next_offer(sqlite_db: Database, clock: VirtualClock) -> None:
    h = await Harness.create(sqlite_db, clock, wrap_up_s=60.0)
    a = await h.agent("A")
    first = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.ask()
    await h.service.resolve_ticket(first, a)
    assert len(h.port.offers()) == 1
    await h.advance(59)
    assert len(h.port.offers()) == 1
    await h.advance(1)
    assert len(h.port.offers()) == 2


async def test_position_updates_only_when_they_improve(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, position_update_s=60.0)
    a = await h.agent("A")
    first = await h.ask()
    second = await h.ask()
    third = await h.ask()
    queued = {n.to.ticket_id: n.position for n in h.port.of(Queued)}
    assert queued == {first: 1, second: 2, third: 3}
    last_wait = h.port.of(Queued)[-1].wait_s
    assert last_wait is not None and last_wait > 0  # every slot is busy
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    assert h.port.of(PositionChanged) == []  # improved, but within the minimum interval
    await h.advance(60)
    updates = {n.to.ticket_id: n.position for n in h.port.of(PositionChanged)}
    assert updates == {second: 1, third: 2}
    await h.advance(60)
    assert len(h.port.of(PositionChanged)) == 2  # nothing changed: nothing sent


async def test_cancel_while_waiting_is_abandoned(h: Harness) -> None:
    a = await h.agent("A")
    ticket_id = await h.ask()
    offer = h.last_offer(a)
    assert await h.service.cancel_request(ticket_id)
    t = await h.ticket(ticket_id)
    assert (t.state, t.resolution) == ("closed", "abandoned")
    assert h.port.of(OfferEnded, a)[-1].reason == "withdrawn"
    assert not (await h.service.accept_offer(offer.offer_id, a)).ok


async def test_blocked_customer_mid_chat_closes_as_abandoned_and_agent_is_told(h: Harness) -> None:
    a = await h.agent("A")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.service.customer_unreachable(ticket_id)
    t = await h.ticket(ticket_id)
    assert (t.state, t.resolution) == ("closed", "abandoned")
    assert h.port.of(CustomerLeft, a)[-1] == CustomerLeft(a, ticket_id=ticket_id)
    assert h.service.acd.agents[a].active == 0


async def test_blocked_agent_is_offline_and_chats_go_back_to_the_queue(h: Harness) -> None:
    a = await h.agent("A")
    b = await h.agent("B")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    await h.service.agent_unreachable(a)
    assert h.last_offer(b).ticket_id == ticket_id
    assert h.service.acd.agents[a].status == "offline"


async def test_notes_are_stored_and_never_sent(h: Harness) -> None:
    a = await h.agent("A")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    sent_before = list(h.port.sent)
    note_id = await h.service.add_note(ticket_id, a, "customer sounds upset")
    assert h.port.sent == sent_before
    async with h.db.transaction() as session:
        note = await session.get(Note, note_id)
        assert note is not None and note.text == "customer sounds upset"
    assert "note_added" in await h.events(ticket_id)


async def test_changing_priority_moves_the_ticket(h: Harness) -> None:
    a = await h.agent("A", online=False)
    first = await h.ask()
    second = await h.ask()
    await h.service.set_priority(second, "urgent", actor="supervisor")
    await h.service.set_agent_status(a, "available")
    assert h.last_offer(a).ticket_id == second
    assert (await h.ticket(first)).state == "queued"


async def test_two_processes_sharing_a_database_never_double_offer(
    db: Database, clock: VirtualClock
) -> None:
    one = await Harness.create(db, clock)
    agents = [await one.agent(f"Agent {i}", online=False) for i in range(3)]
    tickets = [await one.ask(f"help {i}") for i in range(5)]
    two = await Harness.create(db, clock)  # a second process on the same database
    # Both processes see the same agents come online and race to dispatch the same queue.
    for agent in agents:
        async with db.transaction() as session:
            from storage.models import Agent

            row = await session.get(Agent, agent)
            assert row is not None
            row.status = "available"
    await asyncio.gather(one.service.resync(), two.service.resync())
    async with db.transaction() as session:
        pending = (
            (await session.execute(select(Offer).where(Offer.state == "pending"))).scalars().all()
        )
    assert len(pending) == 3
    assert len({o.ticket_id for o in pending}) == 3
    assert len({o.agent_id for o in pending}) == 3
    # Both processes now know the pending offers (as after their next sync); each offer can
    # still be accepted exactly once, through either process: the database arbitrates.
    await asyncio.gather(one.service.resync(), two.service.resync())
    assert set(one.service.acd.offers) == set(two.service.acd.offers) == {o.id for o in pending}
    offers_by_id = {
        n.offer_id: n for n in [*one.port.sent, *two.port.sent] if isinstance(n, OfferMade)
    }
    for o in pending:
        notice = offers_by_id[o.id]
        results = await asyncio.gather(
            one.service.accept_offer(notice.offer_id, o.agent_id),
            two.service.accept_offer(notice.offer_id, o.agent_id),
        )
        assert sorted(r.ok for r in results) == [False, True]
    assigned = [await one.ticket(t) for t in tickets]
    assert sorted(t.state for t in assigned) == ["assigned"] * 3 + ["queued"] * 2


async def test_silent_bot_conversations_close_and_the_next_message_starts_a_new_contact(
    sqlite_db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(sqlite_db, clock, bot_idle_close_s=3600.0, idle_sweep_s=600.0)
    quiet = await h.customer("hello?")
    await h.advance(1800)
    talking = await h.customer("where is my order")
    await h.advance(2400)  # quiet: 70 min of silence; talking: 40 min
    assert ((await h.ticket(quiet)).state, (await h.ticket(quiet)).resolution) == ("closed", "idle")
    assert (await h.ticket(talking)).state == "bot"
    waiting = await h.ask("a person please")
    await h.advance(7200)
    assert (await h.ticket(waiting)).state == "queued"  # only conversations with the bot
    assert "ticket_closed" in await h.events(quiet)
