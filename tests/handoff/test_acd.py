"""Unit tests of the ACD dispatcher (handoff/acd.py) on virtual time: deterministic and fast."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import pytest

from handoff.acd import (
    AcceptError,
    Acd,
    AcdConfig,
    AgentSetAway,
    AgentStatus,
    Effect,
    ExclusionLapsed,
    Offered,
    OfferEnded,
    Strategy,
    WrapUpEnded,
    rank_at,
)

HEADS = {"high": 600.0, "urgent": math.inf}
STRICT = {"high": math.inf}


def make(n_agents: int = 0, now: float = 0.0, *, stagger: float = 0.0, **config: object) -> Acd:
    """An Acd with agents 1..n available, agent i since ``now + (i - 1) * stagger``."""
    acd = Acd(AcdConfig(**config))  # type: ignore[arg-type]
    for i in range(1, n_agents + 1):
        t = now + (i - 1) * stagger
        acd.upsert_agent(i, t)
        acd.set_status(i, AgentStatus.AVAILABLE, t)
    return acd


def offers(effects: Iterable[Effect]) -> list[tuple[int, int]]:
    """(ticket, agent) of each offer made."""
    return [(e.offer.ticket_id, e.offer.agent_id) for e in effects if isinstance(e, Offered)]


def offer_of(acd: Acd, ticket_id: int) -> str:
    chat = acd.chats[ticket_id]
    assert chat.offer is not None, f"ticket {ticket_id} is not on offer"
    return chat.offer.id


def enqueue(acd: Acd, tid: int, now: float, priority: str = "normal", **kw: object) -> list[Effect]:
    heads = kw.pop("heads", HEADS)
    assert isinstance(heads, dict)
    return acd.enqueue(tid, now, rank_at=rank_at(now, priority, heads), priority=priority, **kw)  # type: ignore[arg-type]


def drive(
    acd: Acd, until: float, on_offer: Callable[[Acd, Offered, float], list[Effect]]
) -> list[Effect]:
    """Fire the Acd's timers up to ``until``; ``on_offer`` reacts to every offer."""
    log: list[Effect] = []

    def handle(effects: list[Effect], now: float) -> None:
        for e in effects:
            log.append(e)
            if isinstance(e, Offered):
                handle(on_offer(acd, e, now), now)

    while (t := acd.next_deadline()) is not None and t <= until:
        handle(acd.advance(t), t)
        assert len(log) < 100_000, "runaway"
    return log


def ignore(acd: Acd, e: Offered, now: float) -> list[Effect]:
    return []


def decline(acd: Acd, e: Offered, now: float) -> list[Effect]:
    return acd.decline(e.offer.id, e.offer.agent_id, now)


# ------------------------------------------------------------------------ queue order


def test_head_start_puts_a_newer_high_chat_ahead_of_older_normal_ones() -> None:
    acd = make()
    enqueue(acd, 1, 0.0)
    enqueue(acd, 2, 10.0)
    enqueue(acd, 3, 100.0, "high")  # rank 100 - 600 = -500
    assert [c.ticket_id for c in acd.queued()] == [3, 1, 2]
    assert [acd.position(t) for t in (1, 2, 3)] == [2, 3, 1]
    acd.upsert_agent(9, 200.0)
    assert offers(acd.set_status(9, AgentStatus.AVAILABLE, 200.0)) == [(3, 9)]


def test_fifo_within_a_class_and_ties_broken_by_ticket_id() -> None:
    acd = make()
    acd.enqueue(7, 0.0, rank_at=50.0)
    acd.enqueue(5, 0.0, rank_at=50.0)
    acd.enqueue(6, 0.0, rank_at=20.0)
    acd.enqueue(4, 0.0, rank_at=60.0)
    assert [c.ticket_id for c in acd.queued()] == [6, 5, 7, 4]


def test_strict_priority_with_an_infinite_head_start() -> None:
    acd = make()
    enqueue(acd, 1, 0.0, heads=STRICT)
    enqueue(acd, 2, 10 * 86400.0, "high", heads=STRICT)  # ten days later, still first
    enqueue(acd, 3, 10 * 86400.0 + 1, "high", heads=STRICT)
    assert [c.ticket_id for c in acd.queued()] == [2, 3, 1]


def test_an_old_normal_chat_overtakes_a_newer_high_one_with_a_finite_head_start() -> None:
    acd = make()
    enqueue(acd, 1, 0.0)  # rank 0
    enqueue(acd, 2, 700.0, "high")  # rank 100: the head start no longer covers the gap
    enqueue(acd, 3, 500.0, "high")  # rank -100
    assert [c.ticket_id for c in acd.queued()] == [3, 1, 2]


def test_dispatch_serves_best_ranked_first_and_a_failed_chat_keeps_its_rank() -> None:
    acd = make()
    for tid, t in ((1, 0.0), (2, 5.0), (3, 6.0)):
        enqueue(acd, tid, t)
    acd.upsert_agent(1, 10.0)
    assert offers(acd.set_status(1, AgentStatus.AVAILABLE, 10.0)) == [(1, 1)]
    rank = acd.chats[1].rank_at
    effects = acd.decline(offer_of(acd, 1), 1, 11.0)
    # Chat 1 is back in front with its rank; agent 1 (who declined it) gets chat 2.
    assert offers(effects) == [(2, 1)]
    assert acd.chats[1].rank_at == rank
    assert [c.ticket_id for c in acd.queued()] == [1, 3]
    assert acd.position(1) == 1


# ------------------------------------------------------------- no head-of-line blocking


def test_a_chat_nobody_can_take_does_not_block_the_ones_behind() -> None:
    acd = make()
    enqueue(acd, 1, 0.0, category="legal")
    enqueue(acd, 2, 1.0, category="billing", language="fr")
    enqueue(acd, 3, 2.0, category="billing", language="ar")
    enqueue(acd, 4, 3.0, category="billing", language="en")
    acd.upsert_agent(1, 5.0, skills=["billing"], languages=["ar", "en"])
    assert offers(acd.set_status(1, AgentStatus.AVAILABLE, 5.0)) == [(3, 1)]
    acd.upsert_agent(2, 6.0, skills=["billing"], languages=["fr", "en"])
    # Agent 2 speaks French: chat 2 (ahead of 4) is his; chat 1 (legal) still waits.
    assert offers(acd.set_status(2, AgentStatus.AVAILABLE, 6.0)) == [(2, 2)]
    assert [c.ticket_id for c in acd.queued()] == [1, 4]


def test_dispatch_reaches_a_matching_chat_deep_in_a_long_queue() -> None:
    acd = make()
    for tid in range(1, 2001):
        enqueue(acd, tid, float(tid), category="sales", dispatch=False)
    enqueue(acd, 5000, 5000.0, category="legal")
    acd.upsert_agent(1, 6000.0, skills=["legal"])
    assert offers(acd.set_status(1, AgentStatus.AVAILABLE, 6000.0)) == [(5000, 1)]
    acd.upsert_agent(2, 6001.0)
    assert offers(acd.set_status(2, AgentStatus.AVAILABLE, 6001.0)) == [(1, 2)]


def test_one_dispatch_fills_every_free_agent_in_rank_order() -> None:
    acd = Acd(AcdConfig())
    for i, skills in ((1, ["b"]), (2, ["a"]), (3, ["a"]), (4, ["c"])):
        acd.upsert_agent(i, float(i), skills=skills)
        acd.set_status(i, AgentStatus.AVAILABLE, float(i))
    for tid, category in ((1, "a"), (2, "b"), (3, "a"), (4, "d"), (5, "a")):
        enqueue(acd, tid, 10.0 + tid, category=category, dispatch=False)
    # Longest idle first among the eligible: chat 1 -> agent 2 (a, idle since 2), chat 2 ->
    # agent 1 (b), chat 3 -> agent 3 (a); nobody takes d; chat 5 has no "a" agent left; agent 4
    # (c only) stays free.
    assert offers(acd.dispatch(20.0)) == [(1, 2), (2, 1), (3, 3)]
    assert [c.ticket_id for c in acd.queued()] == [4, 5]
    assert acd._free == {4}


# ------------------------------------------------------------------------- strategies


def test_longest_idle_picks_the_agent_idle_longest() -> None:
    acd = make()
    for i, t in ((1, 20.0), (2, 5.0), (3, 10.0)):
        acd.upsert_agent(i, t)
        acd.set_status(i, AgentStatus.AVAILABLE, t)
    assert offers(enqueue(acd, 1, 30.0)) == [(1, 2)]
    assert offers(enqueue(acd, 2, 31.0)) == [(2, 3)]
    assert offers(enqueue(acd, 3, 32.0)) == [(3, 1)]


def test_longest_idle_a_missed_offer_sends_the_agent_to_the_back() -> None:
    acd = make(3, stagger=1.0, offer_timeout_s=30.0)  # idle since 0, 1, 2
    assert offers(enqueue(acd, 1, 10.0)) == [(1, 1)]
    effects = acd.advance(40.0)  # agent 1 missed it; chat 1 goes to agent 2
    assert offers(effects) == [(1, 2)]
    acd.accept(offer_of(acd, 1), 2, 40.0)
    # Agent 1 was idle since 0 but was offered a chat at 10: agent 3 (idle since 2) is first.
    assert offers(enqueue(acd, 2, 41.0)) == [(2, 3)]


def test_longest_idle_a_chat_end_restarts_the_idle_time() -> None:
    acd = make(2, stagger=1.0)
    enqueue(acd, 1, 5.0)
    acd.accept(offer_of(acd, 1), 1, 5.0)
    acd.release(1, 50.0)  # agent 1 idle since 50, agent 2 since 1
    assert offers(enqueue(acd, 2, 60.0)) == [(2, 2)]


def test_least_busy_picks_the_agent_with_fewest_chats() -> None:
    acd = Acd(AcdConfig(strategy=Strategy.LEAST_BUSY))
    for i in (1, 2):
        acd.upsert_agent(i, float(i), capacity=3)
        acd.set_status(i, AgentStatus.AVAILABLE, float(i))
    acd.restore_agent_load(1, 2)
    acd.restore_agent_load(2, 1)
    assert offers(enqueue(acd, 1, 10.0)) == [(1, 2)]  # agent 1 idle longer but busier
    acd.accept(offer_of(acd, 1), 2, 10.0)  # now 2 chats each: idle order decides
    assert offers(enqueue(acd, 2, 11.0)) == [(2, 1)]


def test_round_robin_goes_round_the_pool() -> None:
    acd = make(3, strategy=Strategy.ROUND_ROBIN)
    got = []
    for tid in range(1, 8):
        (ticket, agent), *_ = offers(enqueue(acd, tid, float(tid)))
        got.append(agent)
        acd.accept(offer_of(acd, ticket), agent, float(tid))
        acd.release(agent, float(tid))
    assert got == [1, 2, 3, 1, 2, 3, 1]


def test_round_robin_skips_busy_agents_and_wraps() -> None:
    acd = make(4, strategy=Strategy.ROUND_ROBIN)
    enqueue(acd, 1, 1.0)  # -> 1
    acd.accept(offer_of(acd, 1), 1, 1.0)
    enqueue(acd, 2, 2.0)  # -> 2
    acd.accept(offer_of(acd, 2), 2, 2.0)
    acd.release(1, 3.0)
    acd.set_status(3, AgentStatus.AWAY, 3.0)
    acd.set_status(4, AgentStatus.AWAY, 3.0)
    # After 2 comes 3 and 4 (away), then back to 1.
    assert offers(enqueue(acd, 3, 4.0)) == [(3, 1)]


def _random_picks(seed: int) -> list[int]:
    acd = make(5, strategy=Strategy.RANDOM, seed=seed)
    got = []
    for tid in range(1, 41):
        (_, agent), *_ = offers(enqueue(acd, tid, float(tid)))
        got.append(agent)
        acd.accept(offer_of(acd, tid), agent, float(tid))
        acd.release(agent, float(tid))
    return got


def test_random_is_reproducible_with_a_seed_and_spreads_the_work() -> None:
    a, b = _random_picks(7), _random_picks(7)
    assert a == b
    assert set(a) == {1, 2, 3, 4, 5}
    assert _random_picks(8) != a


def test_agent_priority_prefers_the_lowest_routing_priority() -> None:
    acd = Acd(AcdConfig(strategy=Strategy.AGENT_PRIORITY))
    for i, prio, t in ((1, 2, 0.0), (2, 1, 10.0), (3, 1, 5.0)):
        acd.upsert_agent(i, t, routing_priority=prio)
        acd.set_status(i, AgentStatus.AVAILABLE, t)
    # Agents 2 and 3 share the best level; 3 has been idle longer. Agent 1 comes last.
    assert offers(enqueue(acd, 1, 20.0)) == [(1, 3)]
    assert offers(enqueue(acd, 2, 21.0)) == [(2, 2)]
    assert offers(enqueue(acd, 3, 22.0)) == [(3, 1)]


# ---------------------------------------------------------------------- offer protocol


def test_offer_timeout_cascades_through_the_pool() -> None:
    acd = make(3, stagger=1.0, offer_timeout_s=30.0, exclusion_lapse_s=60.0)
    assert offers(enqueue(acd, 1, 10.0)) == [(1, 1)]
    assert acd.next_deadline() == 40.0
    log = drive(acd, 130.0, ignore)
    made = [(e.offer.agent_id, e.offer.made_at) for e in log if isinstance(e, Offered)]
    ended = [(e.offer.agent_id, e.reason) for e in log if isinstance(e, OfferEnded)]
    assert made == [(2, 40.0), (3, 70.0)]
    assert ended == [(1, "expired"), (2, "expired"), (3, "expired")]
    chat = acd.chats[1]
    # Everyone failed it: it waits, and the exclusion lapses 60 s after the last miss.
    assert chat.failed == {1, 2, 3} and chat.offer is None
    assert chat.lapse_at == 100.0 + 60.0
    assert all(a.no_answer_streak == 1 for a in acd.agents.values())


def test_decline_goes_to_the_next_agent_without_counting_a_no_answer() -> None:
    acd = make(2, stagger=1.0, max_no_answer=1)
    enqueue(acd, 1, 10.0)
    effects = acd.decline(offer_of(acd, 1), 1, 12.0)
    assert [type(e).__name__ for e in effects] == ["OfferEnded", "Offered"]
    assert isinstance(effects[0], OfferEnded) and effects[0].reason == "declined"
    assert offers(effects) == [(1, 2)]
    assert acd.agents[1].no_answer_streak == 0
    assert acd.agents[1].status == AgentStatus.AVAILABLE  # max_no_answer=1 not triggered
    assert acd.chats[1].failed == {1}


def test_max_no_answer_consecutive_misses_set_the_agent_away() -> None:
    acd = make(1, offer_timeout_s=30.0, max_no_answer=3)
    log: list[Effect] = []
    for tid, t in ((1, 0.0), (2, 100.0), (3, 200.0)):
        log += enqueue(acd, tid, t)
        log += acd.advance(t + 30.0)
    aways = [e for e in log if isinstance(e, AgentSetAway)]
    assert aways == [AgentSetAway(1, 3)]
    assert acd.agents[1].status == AgentStatus.AWAY
    assert 1 not in acd._free
    assert offers(enqueue(acd, 4, 300.0)) == []
    assert acd.next_deadline() is None  # nothing to wait for while he is away
    assert offers(acd.advance(10_000.0)) == []  # nobody offered anything while away
    # Coming back: the queue is offered to him again.
    effects = acd.set_status(1, AgentStatus.AVAILABLE, 10_000.0)
    assert len(offers(effects)) == 1


def test_streak_resets_on_accept() -> None:
    acd = make(1, offer_timeout_s=30.0, max_no_answer=3)
    t = 0.0
    for tid in (1, 2):  # two misses
        enqueue(acd, tid, t)
        acd.advance(t + 30.0)
        acd.remove(tid, t + 31.0)
        t += 100.0
    assert acd.agents[1].no_answer_streak == 2
    enqueue(acd, 3, t)
    acd.accept(offer_of(acd, 3), 1, t + 1)
    assert acd.agents[1].no_answer_streak == 0
    acd.release(1, t + 2)
    for tid in (4, 5):  # two more misses: 2 in a row, not 4
        t += 100.0
        enqueue(acd, tid, t)
        effects = acd.advance(t + 30.0)
        assert not any(isinstance(e, AgentSetAway) for e in effects)
        acd.remove(tid, t + 31.0)
    assert acd.agents[1].status == AgentStatus.AVAILABLE


def test_streak_resets_on_manual_available() -> None:
    acd = make(1, offer_timeout_s=30.0, max_no_answer=3)
    for tid, t in ((1, 0.0), (2, 100.0)):
        enqueue(acd, tid, t)
        acd.advance(t + 30.0)
        acd.remove(tid, t + 31.0)
    assert acd.agents[1].no_answer_streak == 2
    acd.set_status(1, AgentStatus.AWAY, 150.0)
    acd.set_status(1, AgentStatus.AVAILABLE, 160.0)
    assert acd.agents[1].no_answer_streak == 0
    enqueue(acd, 3, 200.0)
    assert not any(isinstance(e, AgentSetAway) for e in acd.advance(230.0))


# ----------------------------------------------------------------- exclusion lapse


def test_exclusion_lapses_after_the_delay_when_every_agent_failed() -> None:
    acd = make(2, stagger=1.0, exclusion_lapse_s=60.0)
    enqueue(acd, 1, 10.0)
    acd.decline(offer_of(acd, 1), 1, 11.0)
    assert acd.chats[1].lapse_at is None  # agent 2 has not failed it yet
    effects = acd.decline(offer_of(acd, 1), 2, 12.0)
    assert offers(effects) == []
    assert acd.chats[1].lapse_at == 72.0
    assert acd.next_deadline() == 72.0
    assert acd.advance(71.9) == []
    effects = acd.advance(72.0)
    assert effects[0] == ExclusionLapsed(1, (1, 2))
    assert offers(effects) == [(1, 1)]  # idle since 1 after its offer at 10 (vs 2 at 11)
    assert acd.chats[1].failed == set()


def test_exclusion_lapses_at_once_in_a_one_agent_team() -> None:
    acd = make(1, offer_timeout_s=30.0)
    enqueue(acd, 1, 0.0)
    effects = acd.advance(30.0)
    kinds = [type(e) for e in effects]
    assert kinds == [OfferEnded, ExclusionLapsed, Offered]
    assert offers(effects) == [(1, 1)]
    assert effects[2].offer.made_at == 30.0  # type: ignore[union-attr]


def test_exclusion_lapses_at_once_when_the_other_agents_are_away() -> None:
    acd = make(2, stagger=1.0, offer_timeout_s=30.0)
    acd.set_status(2, AgentStatus.AWAY, 5.0)
    enqueue(acd, 1, 10.0)
    effects = acd.advance(40.0)
    assert offers(effects) == [(1, 1)]


def test_no_tight_reoffer_loop_when_everybody_declines() -> None:
    acd = make(3, stagger=1.0, exclusion_lapse_s=60.0)
    log = enqueue(acd, 1, 10.0)
    log += decline(acd, log[0], 10.0)  # type: ignore[arg-type]
    log += drive(acd, 3610.0, decline)
    # Each round: three declines, then a 60 s pause. About 60 rounds in an hour, not thousands.
    n_offers = sum(isinstance(e, Offered) for e in log)
    assert 150 <= n_offers <= 3 * (3600 / 60 + 1)


def test_no_tight_reoffer_loop_with_an_absent_agent_in_a_one_agent_team() -> None:
    acd = make(1, offer_timeout_s=30.0, max_no_answer=3)
    log = enqueue(acd, 1, 0.0)
    log += drive(acd, 3600.0, ignore)
    assert sum(isinstance(e, Offered) for e in log) == 3
    assert [e for e in log if isinstance(e, AgentSetAway)] == [AgentSetAway(1, 3)]
    assert acd.chats[1].offer is None and acd.position(1) == 1


def test_a_chat_is_not_stranded_when_the_last_agent_it_could_go_to_leaves() -> None:
    acd = make(2, stagger=1.0, offer_timeout_s=30.0, exclusion_lapse_s=60.0)
    enqueue(acd, 9, 5.0)
    acd.accept(offer_of(acd, 9), 1, 5.0)  # agent 1 busy
    enqueue(acd, 1, 10.0)  # -> agent 2, who misses it
    acd.advance(40.0)
    assert acd.chats[1].failed == {2} and acd.chats[1].lapse_at is None  # waits for agent 1
    acd.set_status(1, AgentStatus.OFFLINE, 50.0)  # ... who leaves
    assert acd.chats[1].lapse_at == 50.0
    effects = acd.advance(50.0)
    assert offers(effects) == [(1, 2)]


def test_a_chat_is_not_stranded_when_an_agent_drops_the_skill() -> None:
    acd = make(2, stagger=1.0)
    enqueue(acd, 9, 5.0)
    acd.accept(offer_of(acd, 9), 1, 5.0)  # agent 1 busy
    enqueue(acd, 1, 10.0, category="billing")
    acd.decline(offer_of(acd, 1), 2, 11.0)
    assert acd.chats[1].lapse_at is None  # failed {2}; agent 1 could take it later
    acd.upsert_agent(1, 80.0, skills=["sales"])  # ... but no longer serves billing
    assert acd.chats[1].lapse_at == 80.0
    assert offers(acd.advance(80.0)) == [(1, 2)]


def test_an_enqueued_chat_excluding_every_agent_gets_its_lapse() -> None:
    acd = make(1)
    effects = enqueue(acd, 1, 10.0, failed=[1])
    assert offers(effects) == []
    assert acd.chats[1].lapse_at == 10.0
    assert offers(acd.advance(10.0)) == [(1, 1)]


# --------------------------------------------------------------------- wrap-up, capacity


def test_wrap_up_blocks_offers_until_it_ends() -> None:
    acd = make(1, wrap_up_s=60.0)
    enqueue(acd, 1, 0.0)
    acd.accept(offer_of(acd, 1), 1, 0.0)
    enqueue(acd, 2, 10.0)
    assert offers(acd.release(1, 100.0)) == []
    assert acd.agents[1].status == AgentStatus.WRAP_UP
    assert acd.next_deadline() == 160.0
    assert acd.advance(159.0) == []
    effects = acd.advance(160.0)
    assert effects[0] == WrapUpEnded(1)
    assert offers(effects) == [(2, 1)]


def test_end_wrap_up_early() -> None:
    acd = make(1, wrap_up_s=60.0)
    enqueue(acd, 1, 0.0)
    acd.accept(offer_of(acd, 1), 1, 0.0)
    acd.release(1, 100.0)
    enqueue(acd, 2, 110.0)
    effects = acd.end_wrap_up(1, 120.0)
    assert effects[0] == WrapUpEnded(1)
    assert offers(effects) == [(2, 1)]
    assert acd.end_wrap_up(1, 121.0) == []  # not in wrap-up any more


def test_available_during_wrap_up_waits_for_its_end_and_does_not_strand_the_agent() -> None:
    acd = make(1, wrap_up_s=60.0)
    enqueue(acd, 1, 0.0)
    acd.accept(offer_of(acd, 1), 1, 0.0)
    acd.release(1, 100.0)  # wrap-up until 160
    acd.set_status(1, AgentStatus.AWAY, 110.0)
    enqueue(acd, 2, 115.0)
    assert offers(acd.set_status(1, AgentStatus.AVAILABLE, 120.0)) == []  # still wrapping up
    assert acd.next_deadline() == 160.0
    assert offers(acd.advance(160.0)) == [(2, 1)]


def test_end_wrap_up_after_going_available_during_it() -> None:
    acd = make(1, wrap_up_s=60.0)
    enqueue(acd, 1, 0.0)
    acd.accept(offer_of(acd, 1), 1, 0.0)
    acd.release(1, 100.0)
    acd.set_status(1, AgentStatus.AWAY, 110.0)
    acd.set_status(1, AgentStatus.AVAILABLE, 120.0)
    enqueue(acd, 2, 125.0)
    assert offers(acd.end_wrap_up(1, 130.0)) == [(2, 1)]


def test_a_wrap_up_restored_field_by_field_still_ends() -> None:
    # handoff.service restores an agent by setting its fields, then calls _refresh_free.
    acd = Acd(AcdConfig(wrap_up_s=60.0))
    acd.upsert_agent(1, 0.0)
    acd.upsert_agent(2, 0.0)
    one, two = acd.agents[1], acd.agents[2]
    one.status, one.wrap_up_until = AgentStatus.WRAP_UP, 130.0
    acd._refresh_free(one, 100.0)
    two.status, two.wrap_up_until = AgentStatus.AVAILABLE, 200.0  # "available" in a wrap-up
    acd._refresh_free(two, 100.0)
    assert offers(enqueue(acd, 1, 100.0)) == []
    assert offers(enqueue(acd, 2, 101.0)) == []
    assert acd.next_deadline() == 130.0
    effects = acd.advance(130.0)
    assert effects[0] == WrapUpEnded(1) and offers(effects) == [(1, 1)]
    assert acd.next_deadline() == 160.0  # the offer's deadline; agent 2 at 200 after it
    acd.accept(offer_of(acd, 1), 1, 131.0)
    assert acd.next_deadline() == 200.0
    effects = acd.advance(200.0)
    assert offers(effects) == [(2, 2)]
    assert not any(isinstance(e, WrapUpEnded) for e in effects)  # it was not in wrap_up


def test_capacity_above_one() -> None:
    acd = Acd(AcdConfig())
    acd.upsert_agent(1, 0.0, capacity=2)
    acd.set_status(1, AgentStatus.AVAILABLE, 0.0)
    for tid in (1, 2, 3):
        enqueue(acd, tid, float(tid), dispatch=False)
    # One pending offer at a time; the second comes once the first is accepted.
    assert offers(acd.dispatch(5.0)) == [(1, 1)]
    assert offers(acd.accept(offer_of(acd, 1), 1, 6.0)) == [(2, 1)]
    assert offers(acd.accept(offer_of(acd, 2), 1, 7.0)) == []  # full: 2 of 2
    assert acd.agents[1].active == 2
    assert offers(acd.release(1, 8.0)) == [(3, 1)]


def test_restored_load_counts_against_capacity() -> None:
    acd = make(1)
    acd.restore_agent_load(1, 1)
    assert offers(enqueue(acd, 1, 0.0)) == []
    assert offers(acd.release(1, 5.0)) == [(1, 1)]


# ------------------------------------------------------------------ withdrawals, errors


def test_leaving_available_withdraws_the_offer_and_the_chat_keeps_its_rank() -> None:
    acd = make(2, stagger=1.0)
    enqueue(acd, 1, 10.0)
    enqueue(acd, 2, 11.0)  # -> agent 2
    rank = acd.chats[1].rank_at
    effects = acd.set_status(1, AgentStatus.AWAY, 12.0)
    ended = [e for e in effects if isinstance(e, OfferEnded)]
    assert len(ended) == 1 and ended[0].reason == "withdrawn" and ended[0].offer.ticket_id == 1
    assert acd.chats[1].rank_at == rank
    assert acd.chats[1].failed == set()  # a withdrawal is no penalty
    assert acd.agents[1].no_answer_streak == 0
    # Agent 2 declines chat 2 and gets chat 1, still ahead of chat 2.
    assert offers(acd.decline(offer_of(acd, 2), 2, 13.0)) == [(1, 2)]
    assert acd.position(2) == 2


def test_withdrawn_offer_goes_to_another_free_agent_at_once() -> None:
    acd = make(2, stagger=1.0)
    enqueue(acd, 1, 10.0)
    effects = acd.set_status(1, AgentStatus.OFFLINE, 12.0)
    assert offers(effects) == [(1, 2)]


def test_accept_errors() -> None:
    acd = make(2, stagger=1.0, offer_timeout_s=30.0)
    enqueue(acd, 1, 10.0)
    offer_id = offer_of(acd, 1)
    with pytest.raises(AcceptError) as err:
        acd.accept(offer_id, 2, 11.0)
    assert err.value.reason == "not_yours"
    with pytest.raises(AcceptError) as err:
        acd.accept(offer_id, 1, 40.0)
    assert err.value.reason == "expired"
    assert acd.chats[1].offer is not None  # the timer still owns it
    acd.advance(40.0)
    with pytest.raises(AcceptError) as err:
        acd.accept(offer_id, 1, 40.5)
    assert err.value.reason == "gone"
    second = offer_of(acd, 1)  # re-offered to agent 2
    acd.accept(second, 2, 41.0)
    with pytest.raises(AcceptError) as err:
        acd.accept(second, 2, 42.0)
    assert err.value.reason == "gone"
    with pytest.raises(AcceptError):
        acd.decline(second, 2, 42.0)


def test_remove_of_an_offered_chat_withdraws_the_offer() -> None:
    acd = make(1)
    enqueue(acd, 1, 10.0)
    enqueue(acd, 2, 11.0)
    offer_id = offer_of(acd, 1)
    effects = acd.remove(1, 12.0)
    assert isinstance(effects[0], OfferEnded) and effects[0].reason == "withdrawn"
    assert offers(effects) == [(2, 1)]
    assert 1 not in acd.chats and offer_id not in acd.offers
    with pytest.raises(AcceptError):
        acd.accept(offer_id, 1, 12.0)
    assert acd.remove(1, 13.0) == []


def test_remove_of_a_queued_chat() -> None:
    acd = make()
    enqueue(acd, 1, 0.0)
    enqueue(acd, 2, 1.0)
    acd.remove(1, 2.0)
    assert [c.ticket_id for c in acd.queued()] == [2]
    assert acd.position(1) is None and acd.position(2) == 1


def test_position_counts_offered_chats_ranked_ahead() -> None:
    acd = make(1)
    enqueue(acd, 1, 0.0)  # offered
    enqueue(acd, 2, 1.0)
    enqueue(acd, 3, 2.0, "high")
    assert acd.chats[1].offer is not None
    assert [acd.position(t) for t in (1, 2, 3)] == [2, 3, 1]
    assert acd.position(99) is None


def test_reprioritise() -> None:
    acd = make()
    enqueue(acd, 1, 0.0)
    enqueue(acd, 2, 10.0)
    acd.reprioritise(2, rank_at(10.0, "high", HEADS), "high", 20.0)
    assert [c.ticket_id for c in acd.queued()] == [2, 1]
    assert acd.chats[2].priority == "high"
    acd.upsert_agent(1, 30.0)
    effects = acd.set_status(1, AgentStatus.AVAILABLE, 30.0)
    assert [e.priority for e in effects if isinstance(e, Offered)] == ["high"]
    # An offered chat keeps its offer and takes the new rank when it comes back.
    acd.reprioritise(2, 100.0, "normal", 31.0)
    assert acd.chats[2].offer is not None
    acd.set_status(1, AgentStatus.AWAY, 32.0)
    assert [c.ticket_id for c in acd.queued()] == [1, 2]
    assert acd.reprioritise(99, 0.0, "high", 33.0) == []


def test_enqueue_twice_is_refused() -> None:
    acd = make()
    enqueue(acd, 1, 0.0)
    with pytest.raises(ValueError):
        enqueue(acd, 1, 1.0)


def test_rank_at() -> None:
    assert rank_at(1000.0, "normal", HEADS) == 1000.0
    assert rank_at(1000.0, "high", HEADS) == 400.0
    assert rank_at(1000.0, "urgent", HEADS) < rank_at(0.0, "high", {"high": math.inf})


# -------------------------------------------------- dispatch vs the plain walk of the spec


def _reference_dispatch(acd: Acd, now: float) -> list[tuple[int, int]]:
    """SEMANTICS 2.5 literally: walk every queued chat in rank order, give it the best eligible
    free agent (by the configured strategy), stop when nobody is free. Then a chat still
    waiting for a named transfer target forgets it, and the walk runs again."""
    free = [acd.agents[i] for i in acd._free]
    out: list[tuple[int, int]] = []
    offered: set[int] = set()
    targets = {c.ticket_id: c.target_agent for c in acd.queued()}

    def walk() -> None:
        for chat in sorted(acd.queued(), key=lambda c: c.key):
            if chat.ticket_id in offered or not free:
                continue
            target = targets[chat.ticket_id]
            cands = [
                a
                for a in free
                if a.serves(chat) and a.id not in chat.failed and (target is None or a.id == target)
            ]
            if not cands:
                continue
            best = acd._pick(cands)
            out.append((chat.ticket_id, best.id))
            offered.add(chat.ticket_id)
            acd._last_rr = best.id
            free.remove(best)

    walk()
    if any(t is not None and tid not in offered for tid, t in targets.items()):
        for tid in targets:
            if tid not in offered:
                targets[tid] = None
        walk()
    return out


@pytest.mark.parametrize("strategy", [s for s in Strategy if s != Strategy.RANDOM])
def test_dispatch_equals_the_plain_rank_order_walk(strategy: Strategy) -> None:
    rng = random.Random(hash(strategy.value) % 1000)
    cats, langs = ["", "a", "b", "c"], ["", "ar", "en"]
    for _ in range(60):
        acd = Acd(AcdConfig(strategy=strategy))
        n_agents = rng.randint(1, 12)
        for i in range(1, n_agents + 1):
            acd.upsert_agent(
                i,
                rng.random() * 100,
                capacity=rng.choice([1, 2]),
                skills=rng.sample(cats[1:], rng.randint(0, 2)),
                languages=rng.sample(langs[1:], rng.randint(0, 2)),
                routing_priority=rng.randint(0, 2),
            )
            acd.restore_agent_load(i, rng.randint(0, 1))
        for tid in range(1, rng.randint(1, 60)):
            enqueue(
                acd,
                tid,
                rng.random() * 1000,
                rng.choice(["normal", "high"]),
                category=rng.choice(cats),
                language=rng.choice(langs),
                failed=rng.sample(range(1, n_agents + 1), min(n_agents, rng.randint(0, 2))),
                target_agent=rng.choice([None] * 8 + [rng.randint(1, n_agents)]),
                dispatch=False,
            )
        for a in acd.agents.values():  # all available at once, then one dispatch
            a.status = AgentStatus.AVAILABLE
            acd._refresh_free(a, 2000.0)
        last_rr = acd._last_rr
        expected = _reference_dispatch(acd, 2000.0)
        acd._last_rr = last_rr
        assert offers(acd.dispatch(2000.0)) == expected


def test_forget_drops_a_chat_claimed_elsewhere_without_penalty_or_effects() -> None:
    acd = make(2, stagger=1.0)
    assert offers(enqueue(acd, 1, 10.0)) == [(1, 1)]
    enqueue(acd, 2, 11.0)  # offered to agent 2
    acd.forget(1, 12.0)  # another process won ticket 1
    assert 1 not in acd.chats and not any(o.ticket_id == 1 for o in acd.offers.values())
    assert acd.agents[1].pending is None and acd.agents[1].no_answer_streak == 0
    # agent 1 is free again and gets the next chat (agent 2 still holds ticket 2's offer)
    assert offers(enqueue(acd, 3, 13.0)) == [(3, 1)]
    # the forgotten offer's timer never fires
    expired = [e.offer.ticket_id for e in acd.advance(42.0) if isinstance(e, OfferEnded)]
    assert expired == [2]  # ticket 1's offer (deadline 40) is gone; ticket 3's ends at 43
    acd.forget(99, 50.0)  # unknown: nothing happens
