"""Presence on the virtual clock: an agent is offered chats only while a console of theirs is
open on some process (or they are present on Telegram); the last console closing sets them
offline after the grace, no activity sets them away, a process that stops beating does not
keep its agents present."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.clock import VirtualClock
from handoff.notices import ConsoleGone, IdleAway, OfferEnded, OfferMade
from handoff.presence import CHAT, CONSOLE, Presence, PresenceConfig
from storage.db import Database
from storage.models import Agent
from tests.handoff_harness import Harness

GRACE = 40.0
BEAT = 10.0


async def _harness(db: Database, clock: VirtualClock, **overrides: float) -> Harness:
    config: dict[str, float] = {
        "presence_grace_s": GRACE,
        "idle_away_s": 0.0,
        "presence_expire_s": BEAT * 3,
        "offer_timeout_s": 30.0,
    }
    config.update(overrides)
    return await Harness.create(db, clock, **config)


def _process(h: Harness, name: str) -> Presence:
    return Presence(h.db, h.clock, h.service, PresenceConfig(heartbeat_s=BEAT), process_id=name)


async def _agent(h: Harness, agent_id: int) -> Agent:
    async with h.db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        return agent


async def _status(h: Harness, agent_id: int) -> str:
    return (await _agent(h, agent_id)).status


async def _beat(h: Harness, seconds: float, *processes: Presence) -> None:
    """``seconds`` pass, the given processes beating every ``BEAT`` (the others are silent)."""
    while seconds > 0:
        step = min(BEAT, seconds)
        seconds -= step
        h.clock.advance(step)
        for process in processes:
            await process.beat()
        await h.service.tick()


async def test_the_last_console_closing_sets_the_agent_offline_after_the_grace(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A")
    p = _process(h, "p1")
    await p.opened(CONSOLE, a)
    await p.opened(CONSOLE, a)  # two tabs
    await p.closed(CONSOLE, a)
    assert (await _agent(h, a)).absent_since is None  # one tab is still open
    await p.closed(CONSOLE, a)
    agent = await _agent(h, a)
    assert agent.absent_since == clock.now() and agent.status == "available"
    # Absent at once: a chat asked for now is not offered to them.
    ticket_id = await h.ask()
    assert not h.port.offers(a)
    assert (await h.ticket(ticket_id)).state == "queued"
    await _beat(h, GRACE - 5, p)
    assert await _status(h, a) == "available"  # still within the grace
    await _beat(h, 10, p)
    assert await _status(h, a) == "offline"
    assert h.port.of(ConsoleGone, a)
    events = await h.events()
    assert events.count("agent_absent") == 1 and events.count("agent_presence_lost") == 1
    assert "agent_status_changed" in events


async def test_a_reconnect_within_the_grace_keeps_the_agent_and_their_offers(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A")
    p = _process(h, "p1")
    await p.opened(CONSOLE, a)
    await p.closed(CONSOLE, a)  # a reload: closed...
    ticket_id = await h.ask()
    assert not h.port.offers(a)
    await _beat(h, 5, p)
    await p.opened(CONSOLE, a)  # ...and open again
    assert h.last_offer(a).ticket_id == ticket_id  # the waiting chat is offered at once
    assert (await h.service.accept_offer(h.last_offer(a).offer_id, a)).ok
    await _beat(h, GRACE * 3, p)
    assert await _status(h, a) == "available"
    assert (await _agent(h, a)).absent_since is None
    assert not h.port.of(ConsoleGone, a)


async def test_a_pending_offer_is_withdrawn_when_the_console_closes(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A")
    p = _process(h, "p1")
    await p.opened(CONSOLE, a)
    ticket_id = await h.ask()
    offer = h.last_offer(a)
    b = await h.agent("B", online=False)
    await p.opened(CONSOLE, b)
    await h.service.set_agent_status(b, "available", origin="web")
    await p.closed(CONSOLE, a)
    ended = h.port.of(OfferEnded, a)
    assert ended and ended[-1].offer_id == offer.offer_id and ended[-1].reason == "withdrawn"
    assert h.last_offer(b).ticket_id == ticket_id
    assert not (await h.service.accept_offer(offer.offer_id, a)).ok


async def test_an_agent_present_on_telegram_stays_when_the_console_closes(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A", online=False)
    await h.service.set_agent_status(a, "available", origin="telegram")
    p = _process(h, "p1")
    await p.opened(CONSOLE, a)
    await p.closed(CONSOLE, a)
    await _beat(h, GRACE * 2, p)
    assert await _status(h, a) == "available"
    await h.ask()
    assert h.port.offers(a)  # offered on Telegram
    # Going away from Telegram ends that presence: with no console they are absent.
    await h.service.set_agent_status(a, "away", origin="telegram")
    await p.opened(CONSOLE, a)
    await p.closed(CONSOLE, a)
    await _beat(h, GRACE + 1, p)
    assert await _status(h, a) == "offline"


async def test_available_from_telegram_clears_an_absence(db: Database, clock: VirtualClock) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A")
    p = _process(h, "p1")
    await p.opened(CONSOLE, a)
    await p.closed(CONSOLE, a)
    await _beat(h, GRACE + 1, p)
    assert await _status(h, a) == "offline"
    await h.service.set_agent_status(a, "available", origin="telegram")
    assert (await _agent(h, a)).absent_since is None
    await h.ask()
    assert h.port.offers(a)


async def test_idle_console_sets_the_agent_away_with_their_chats_kept(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock, idle_away_s=600.0)
    a = await h.agent("A", capacity=2)
    p = _process(h, "p1")
    await p.opened(CONSOLE, a)
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    for _ in range(5):  # active: a report every 5 minutes keeps them available
        await _beat(h, 300, p)
        await p.activity(a)
    assert await _status(h, a) == "available"
    await _beat(h, 590, p)
    assert await _status(h, a) == "available"
    await _beat(h, 20, p)
    assert await _status(h, a) == "away"
    assert h.port.of(IdleAway, a)[-1].idle_s == 600.0
    assert "agent_idle_away" in await h.events()
    t = await h.ticket(ticket_id)
    assert (t.state, t.assignee_id) == ("assigned", a)  # the open chat stays theirs
    await h.ask()
    assert len(h.port.offers(a)) == 1  # away: no new offer


async def test_a_console_on_another_process_keeps_the_agent_present(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A")
    p1, p2 = _process(h, "p1"), _process(h, "p2")
    await p1.opened(CONSOLE, a)
    await p2.opened(CONSOLE, a)
    await p1.closed(CONSOLE, a)
    await _beat(h, GRACE * 2, p1, p2)
    assert await _status(h, a) == "available"
    assert (await _agent(h, a)).absent_since is None
    await p2.closed(CONSOLE, a)
    await _beat(h, GRACE + 1, p1, p2)
    assert await _status(h, a) == "offline"


async def test_a_process_that_stops_beating_does_not_keep_its_agents_present(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    a = await h.agent("A")
    alive, dead = _process(h, "alive"), _process(h, "dead")
    await dead.opened(CONSOLE, a)
    await dead.opened(CHAT, 77)  # untracked here (one process's visitors stay in memory)
    await _beat(h, BEAT, alive, dead)
    await _beat(h, BEAT, alive)  # "dead" beats no more
    assert (await _agent(h, a)).absent_since is None
    await _beat(h, BEAT * 3, alive)  # silent past the expiry: its rows are removed
    assert (await _agent(h, a)).absent_since is not None
    assert await alive.present(CONSOLE, [a]) == set()
    await _beat(h, GRACE, alive)
    assert await _status(h, a) == "offline"


async def test_visitors_are_online_through_any_live_process(
    db: Database, clock: VirtualClock
) -> None:
    h = await _harness(db, clock)
    config = PresenceConfig(heartbeat_s=BEAT, track_visitors=True)
    p1 = Presence(h.db, clock, h.service, config, process_id="p1")
    p2 = Presence(h.db, clock, h.service, config, process_id="p2")
    await p2.opened(CHAT, 5)
    assert await p1.present(CHAT, [5, 6]) == {5}
    await _beat(h, BEAT * 4, p1)  # p2 silent: its visitor is not online any more
    assert await p1.present(CHAT, [5]) == set()
    await p2.beat()
    assert await p1.present(CHAT, [5]) == {5}
    await p2.closed(CHAT, 5)
    assert await p1.present(CHAT, [5]) == set()


# ---------------------------------------------------------------------- property

OPS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["open", "close"]), st.integers(0, 1), st.integers(0, 1)),
        st.tuples(st.just("ask"), st.just(0), st.just(0)),
        st.tuples(st.just("wait"), st.integers(1, 30), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
async def test_no_offer_ever_goes_to_an_agent_with_no_console_open(
    ops: list[tuple[str, int, int]],
) -> None:
    """Whatever the order of opens, closes, requests and waits on two processes: every offer
    goes to an agent holding a console at that moment."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'p.db'}")
        await db.upgrade()
        try:
            clock = VirtualClock()
            h = await _harness(db, clock)
            agents = [await h.agent(f"A{i}", online=False) for i in range(2)]
            procs = [_process(h, "p0"), _process(h, "p1")]
            held = {(p, a): 0 for p in range(2) for a in agents}
            for agent_id in agents:
                await procs[0].opened(CONSOLE, agent_id)
                held[(0, agent_id)] += 1
                await h.service.set_agent_status(agent_id, "available", origin="web")
            seen = 0
            for op, x, y in ops:
                if op == "open":
                    await procs[x].opened(CONSOLE, agents[y])
                    held[(x, agents[y])] += 1
                elif op == "close" and held[(x, agents[y])] > 0:
                    await procs[x].closed(CONSOLE, agents[y])
                    held[(x, agents[y])] -= 1
                elif op == "ask":
                    await h.ask()
                elif op == "wait":
                    await _beat(h, float(x), *procs)
                offers = h.port.of(OfferMade)
                for offer in offers[seen:]:
                    assert held[(0, offer.agent_id)] + held[(1, offer.agent_id)] > 0, ops
                seen = len(offers)
        finally:
            await db.dispose()


async def test_the_heartbeat_sleeps_between_beats(db: Database, clock: VirtualClock) -> None:
    """An idle process beats once per interval, no more (no busy loop), and stops cleanly,
    removing its rows."""
    h = await _harness(db, clock)
    a = await h.agent("A")
    p = Presence(db, clock, h.service, PresenceConfig(heartbeat_s=0.2), process_id="loop")
    await p.opened(CONSOLE, a)
    p.start()
    await asyncio.sleep(1.1)
    beats = p.beats
    await p.stop()
    assert 3 <= beats <= 6, beats
    p2 = _process(h, "other")
    assert await p2.present(CONSOLE, [a]) == set()  # stopped: its rows are gone
