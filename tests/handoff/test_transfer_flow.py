"""Transfers never strand a chat (issue 10, finding 1): a transfer goes to someone who can take
the chat or is refused with the reason, and the lists of targets offer only such people.
Checked on the handoff service (virtual time, a real SQLite file), and on random sequences of
actions with the invariant "no chat waits while an eligible agent is free" read back from the
database after every action."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from base.clock import VirtualClock
from handoff.service import HandoffError, TransferRefused
from storage.db import Database
from storage.models import Agent, Offer, Ticket
from tests.handoff_harness import Harness


@pytest.fixture
async def h(sqlite_url: str, clock: VirtualClock) -> AsyncIterator[Harness]:
    database = Database(sqlite_url)
    await database.upgrade()
    yield await Harness.create(database, clock)
    await database.dispose()


async def _orders_chat(h: Harness) -> tuple[int, int, int, int]:
    """The issue's team: A (any skill) holds an "orders" chat; B handles billing and delivery
    only; C handles orders. Returns (ticket, A, B, C)."""
    a = await h.agent("A")
    ticket_id = await h.ask("where is my order")
    await h.service.accept_offer(h.last_offer(a).offer_id, a)
    async with h.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.category = "orders"
    b = await h.agent("B", skills=["billing", "delivery"])
    c = await h.agent("C", skills=["orders"])
    return ticket_id, a, b, c


async def test_a_transfer_to_an_agent_without_the_skill_is_refused_with_the_reason(
    h: Harness,
) -> None:
    ticket_id, a, b, c = await _orders_chat(h)
    with pytest.raises(TransferRefused) as refused:
        await h.service.transfer_ticket(ticket_id, a, to_agent=b)
    assert refused.value.reason == "skill" and "B does not handle 'orders'" in str(refused.value)
    t = await h.ticket(ticket_id)
    assert (t.state, t.assignee_id, t.target_agent_id) == ("assigned", a, None)
    assert "ticket_transferred" not in await h.events(ticket_id)
    # The list of targets offers only C (who can take it), not B; and the category.
    targets = await h.service.transfer_targets(ticket_id, a)
    assert targets.agents == [(c, "C")]
    assert "orders" in targets.categories
    # To C it goes at once.
    await h.service.transfer_ticket(ticket_id, a, to_agent=c)
    assert h.last_offer(c).ticket_id == ticket_id


async def test_a_transfer_to_an_away_or_busy_agent_is_refused(h: Harness) -> None:
    ticket_id, a, b, c = await _orders_chat(h)
    await h.service.set_agent_status(c, "away")
    with pytest.raises(TransferRefused, match="C is away"):
        await h.service.transfer_ticket(ticket_id, a, to_agent=c)
    await h.service.set_agent_status(b, "away")
    await h.service.set_agent_status(c, "available")
    other = await h.ask("another order question")
    await h.service.accept_offer(h.last_offer(c).offer_id, c)  # C's only slot is taken
    assert (await h.ticket(other)).assignee_id == c
    with pytest.raises(TransferRefused, match="C has no free slot"):
        await h.service.transfer_ticket(ticket_id, a, to_agent=c)
    assert (await h.service.transfer_targets(ticket_id, a)).agents == []
    with pytest.raises(TransferRefused, match="A already has this chat"):
        await h.service.transfer_ticket(ticket_id, a, to_agent=a)


async def test_a_transfer_to_a_category_nobody_online_handles_is_refused(h: Harness) -> None:
    ticket_id, a, _b, c = await _orders_chat(h)
    await h.service.set_agent_status(c, "offline")
    async with h.db.transaction() as session:
        agent_a = await session.get(Agent, a)
        assert agent_a is not None
        agent_a.skills = ["orders"]
    await h.service.resync()
    with pytest.raises(TransferRefused, match="no agent online handles 'returns'"):
        await h.service.transfer_ticket(ticket_id, a, to_category="returns")
    assert "returns" not in (await h.service.transfer_targets(ticket_id, a)).categories


async def test_a_named_target_who_declines_passes_the_chat_to_another_free_agent(
    h: Harness,
) -> None:
    ticket_id, a, _b, c = await _orders_chat(h)
    d = await h.agent("D", skills=["orders"])
    await h.service.transfer_ticket(ticket_id, a, to_agent=c)
    offer = h.last_offer(c)
    await h.service.decline_offer(offer.offer_id, c)
    # Not waiting for C any more: D, free and able, is offered it at once.
    assert h.last_offer(d).ticket_id == ticket_id
    t = await h.ticket(ticket_id)
    assert t.target_agent_id is None
    assert "transfer_target_dropped" in await h.events(ticket_id)


async def test_a_named_target_who_misses_the_offer_passes_the_chat_on(h: Harness) -> None:
    ticket_id, a, _b, c = await _orders_chat(h)
    d = await h.agent("D", skills=["orders"])
    await h.service.transfer_ticket(ticket_id, a, to_agent=c)
    await h.advance(31)
    assert h.last_offer(d).ticket_id == ticket_id


async def test_transfer_errors_still_apply(h: Harness) -> None:
    ticket_id, a, _b, _c = await _orders_chat(h)
    with pytest.raises(HandoffError, match="no agent 999"):
        await h.service.transfer_ticket(ticket_id, a, to_agent=999)


# ------------------------------------------------------------- the invariant, on random runs


async def _check_db_invariant(h: Harness) -> None:
    """Read back from the database: no queued ticket while an agent who could take it is free,
    and no queued ticket waiting for a named target."""
    async with h.db.transaction() as session:
        queued = (
            (await session.execute(select(Ticket).where(Ticket.state == "queued"))).scalars().all()
        )
        agents = (await session.execute(select(Agent))).scalars().all()
        loads = dict(
            (
                await session.execute(
                    select(Ticket.assignee_id, func.count(Ticket.id))
                    .where(Ticket.state.in_(("assigned", "pending")))
                    .group_by(Ticket.assignee_id)
                )
            ).all()
        )
        holding = set(
            (await session.execute(select(Offer.agent_id).where(Offer.state == "pending")))
            .scalars()
            .all()
        )
    for ticket in queued:
        assert ticket.target_agent_id is None, f"#{ticket.id} waits for a named agent"
        for agent in agents:
            can = (
                agent.status == "available"
                and agent.id not in holding
                and loads.get(agent.id, 0) < agent.capacity
                and (not agent.skills or not ticket.category or ticket.category in agent.skills)
                and agent.id not in ticket.failed_agents
            )
            assert not can, f"#{ticket.id} waits while {agent.name} is free for it"


# One step: (what happens, which offer/chat/agent, a transfer target, a category, a status, a
# time step). Asks, accepts and transfers weigh more: they make the interesting states.
KINDS = (
    "ask",
    "ask",
    "accept",
    "accept",
    "transfer",
    "transfer",
    "decline",
    "resolve",
    "status",
    "time",
)
steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 5),
        st.one_of(st.integers(0, 2), st.sampled_from(("orders", "billing", "returns"))),
        st.sampled_from(("", "orders", "billing")),
        st.sampled_from(("available", "away")),
        st.sampled_from((5.0, 31.0, 61.0)),
    ),
    min_size=3,
    max_size=18,
)


Step = tuple[str, int, int | str, str, str, float]


async def _run(script: list[Step], root: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{root / 'sanad.db'}")
    await database.upgrade()
    try:
        h = await Harness.create(database, VirtualClock())
        team = [
            await h.agent("Any"),
            await h.agent("Bil", skills=["billing", "delivery"]),
            await h.agent("Ord", skills=["orders"]),
        ]
        for kind, index, target, category, status, seconds in script:
            async with h.db.transaction() as session:
                live = list(
                    (
                        await session.execute(
                            select(Ticket.id, Ticket.assignee_id)
                            .where(Ticket.state == "assigned")
                            .order_by(Ticket.id)
                        )
                    ).all()
                )
            pending = sorted(h.service.acd.offers.values(), key=lambda o: o.id)
            if kind == "ask":
                ticket_id = await h.customer()
                async with h.db.transaction() as session:
                    ticket = await session.get(Ticket, ticket_id)
                    assert ticket is not None
                    ticket.category = category
                await h.service.request_human(ticket_id, reason="test")
            elif kind == "status":
                await h.service.set_agent_status(team[index % 3], status)
            elif kind in ("accept", "decline") and pending:
                offer = pending[index % len(pending)]
                if kind == "accept":
                    await h.service.accept_offer(offer.id, offer.agent_id)
                else:
                    await h.service.decline_offer(offer.id, offer.agent_id)
            elif kind == "resolve" and live:
                ticket_id, holder = live[index % len(live)]
                await h.service.resolve_ticket(ticket_id, holder)
            elif kind == "transfer" and live:
                ticket_id, holder = live[index % len(live)]
                try:
                    if isinstance(target, int):
                        await h.service.transfer_ticket(ticket_id, holder, to_agent=team[target])
                    else:
                        await h.service.transfer_ticket(ticket_id, holder, to_category=target)
                except TransferRefused:
                    pass  # refused with a reason: nothing changed
            elif kind == "time":
                await h.advance(seconds)
            await _check_db_invariant(h)
    finally:
        await database.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(script=steps)
def test_no_chat_waits_while_an_eligible_agent_is_free_through_the_service(
    script: list[Step],
) -> None:
    with tempfile.TemporaryDirectory() as root:
        asyncio.run(_run(script, Path(root)))


async def test_a_supervisor_takes_over_a_waiting_chat_and_the_load_follows(h: Harness) -> None:
    """Taking over a chat nobody holds yet (queued or on offer): it leaves the queue, its
    offer is withdrawn, it counts on the supervisor's load (so the ACD offers them no more
    than they can take), and the load survives a restart."""
    a = await h.agent("A")
    boss = await h.agent("Boss", role="supervisor", capacity=1)
    await h.service.set_agent_status(boss, "away")  # not taking offers: only what they take
    ticket_id = await h.ask("my card is blocked")
    offer = h.last_offer(a)
    assert offer.ticket_id == ticket_id
    with pytest.raises(HandoffError):  # an agent may not take over
        await h.service.take_over(ticket_id, a)
    await h.service.take_over(ticket_id, boss)
    t = await h.ticket(ticket_id)
    assert (t.state, t.assignee_id) == ("assigned", boss)
    assert "ticket_taken_over" in await h.events(ticket_id)
    assert ticket_id not in h.service.acd.chats and not h.service.acd.offers
    assert h.service.acd.agents[boss].active == 1 and h.service.acd.agents[a].active == 0
    # A's offer was withdrawn: accepting it now is too late.
    late = await h.service.accept_offer(offer.offer_id, a)
    assert not late.ok
    restarted = await h.restart()
    assert restarted.acd.agents[boss].active == 1
    await restarted.resolve_ticket(ticket_id, boss)
    assert restarted.acd.agents[boss].active == 0
