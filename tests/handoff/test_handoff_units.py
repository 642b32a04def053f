"""Handoff actions inside a transaction the caller holds (``service.unit(session)``), and the
permission rules the actions check themselves, whatever the channel."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from base.clock import VirtualClock
from handoff import actions
from handoff.model import HandoffError, NotAllowed
from handoff.notices import Assigned, NoAgents, OfferMade
from handoff.tickets import record_message
from storage.db import Database
from storage.models import Agent, Message, Offer, Ticket
from tests.handoff_harness import Harness


@pytest.fixture
async def h(db: Database, clock: VirtualClock) -> Harness:
    """On SQLite and on PostgreSQL (when the server is there)."""
    return await Harness.create(db, clock)


class Boom(Exception):
    pass


async def _messages(h: Harness, ticket_id: int) -> int:
    async with h.db.transaction() as session:
        return int(
            (
                await session.execute(
                    select(func.count(Message.id)).where(Message.ticket_id == ticket_id)
                )
            ).scalar_one()
        )


async def test_a_customer_write_and_request_human_commit_together_and_notices_follow_the_commit(
    h: Harness,
) -> None:
    agent = await h.agent("A")
    ticket_id = await h.customer()
    sent_before = len(h.port.sent)
    async with h.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        async with h.service.unit(session) as uow:
            await record_message(session, ticket, sender="customer", text="a person", at=uow.now)
            info = await actions.request_human(uow, ticket_id, reason="asked")
        assert info.state == "offered"  # at once, to the free agent
        assert len(h.port.sent) == sent_before  # not before the caller's commit
    await h.service.settled()
    assert h.port.of(OfferMade)[-1].ticket_id == ticket_id
    assert h.last_offer(agent).ticket_id == ticket_id
    assert (await h.ticket(ticket_id)).state == "offered"
    assert await _messages(h, ticket_id) == 2
    # the engine's lock was released with the commit: the next action runs
    result = await h.service.accept_offer(h.last_offer(agent).offer_id, agent)
    assert result.ok


async def test_a_rolled_back_caller_transaction_undoes_the_write_the_action_and_the_memory(
    h: Harness,
) -> None:
    agent = await h.agent("A", online=False)
    ticket_id = await h.customer()
    sent_before = len(h.port.sent)
    with pytest.raises(Boom):
        async with h.db.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            async with h.service.unit(session) as uow:
                await record_message(session, ticket, sender="customer", text="hi", at=uow.now)
                await actions.request_human(uow, ticket_id, reason="asked")
                assert ticket_id in uow.acd.chats  # queued in memory...
            raise Boom  # ...and the caller's transaction fails after the action
    await h.service.settled()
    assert len(h.port.sent) == sent_before  # nothing was said
    assert (await h.ticket(ticket_id)).state == "bot"
    assert await _messages(h, ticket_id) == 1
    assert ticket_id not in h.service.acd.chats  # the memory was rebuilt from the rows
    # and the service goes on: the same request in its own transaction works
    await h.service.request_human(ticket_id, reason="asked")
    await h.service.set_agent_status(agent, "available")
    assert h.last_offer(agent).ticket_id == ticket_id


async def test_several_actions_in_one_caller_transaction_share_one_unit(h: Harness) -> None:
    await h.agent("A", online=False)
    first, second = await h.customer(), await h.customer()
    async with h.db.transaction() as session:
        async with h.service.unit(session) as uow:
            await actions.request_human(uow, first, reason="asked")
        async with h.service.unit(session) as again:
            assert again is uow  # joined, not a second lock (which would wait for ever)
            await actions.request_human(again, second, reason="asked")
    await h.service.settled()
    # nobody online: each customer is told so, after the commit
    assert [n.to.ticket_id for n in h.port.of(NoAgents)] == [first, second]


async def test_a_refused_action_in_a_caller_transaction_needs_no_rebuild(h: Harness) -> None:
    ticket_id = await h.customer()
    async with h.db.transaction() as session, h.service.unit(session) as uow:
        with pytest.raises(HandoffError):
            await actions.resolve_ticket(uow, ticket_id, None)  # not with an agent
        assert not uow.touched
        await actions.request_human(uow, ticket_id, reason="asked")
    await h.service.settled()
    assert (await h.ticket(ticket_id)).state == "queued"


async def test_a_caller_transaction_and_the_service_own_units_never_deadlock(h: Harness) -> None:
    """Every path opens its transaction before it takes the engine's lock: a caller holding
    its transaction (on SQLite, its turn) while a resync and another action start does not
    wait for ever."""
    first, second = await h.customer(), await h.customer()

    async def caller() -> None:
        async with h.db.transaction() as session:
            await session.get(Ticket, first)  # holds its transaction, lets the others start
            await asyncio.sleep(0.01)
            async with h.service.unit(session) as uow:
                await actions.request_human(uow, first, reason="asked")

    async with asyncio.timeout(20):
        await asyncio.gather(
            caller(), h.service.resync(), h.service.request_human(second, reason="asked")
        )
    await h.service.settled()
    assert {(await h.ticket(t)).state for t in (first, second)} == {"queued"}


async def test_a_unit_needs_an_open_transaction(h: Harness) -> None:
    async with h.db.sessions() as session:
        with pytest.raises(RuntimeError):
            async with h.service.unit(session):
                pass
    # the lock was not taken
    await h.service.request_human(await h.customer(), reason="asked")


async def _supervisor(h: Harness, name: str) -> int:
    agent_id = await h.agent(name)
    async with h.db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.role = "supervisor"
    return agent_id


async def test_priority_is_changed_by_the_agent_holding_the_chat_or_a_supervisor_only(
    h: Harness,
) -> None:
    holder = await h.agent("Holder")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(holder).offer_id, holder)
    other = await h.agent("Other")
    boss = await _supervisor(h, "Boss")

    with pytest.raises(NotAllowed) as refused:
        await h.service.set_priority(ticket_id, "urgent", actor=f"agent:{other}")
    assert refused.value.ticket_id == ticket_id
    assert (await h.ticket(ticket_id)).priority == "normal"

    await h.service.set_priority(ticket_id, "high", actor=f"agent:{holder}")
    assert (await h.ticket(ticket_id)).priority == "high"
    await h.service.set_priority(ticket_id, "urgent", actor=f"agent:{boss}")
    assert (await h.ticket(ticket_id)).priority == "urgent"
    assert (await h.events(ticket_id)).count("priority_changed") == 2


async def test_an_agent_may_not_reprioritise_a_waiting_chat_a_supervisor_may(
    h: Harness,
) -> None:
    agent = await h.agent("A", online=False)
    boss = await _supervisor(h, "Boss")
    await h.service.set_agent_status(boss, "away")
    ticket_id = await h.ask()
    with pytest.raises(NotAllowed):
        await h.service.set_priority(ticket_id, "urgent", actor=f"agent:{agent}")
    await h.service.set_priority(ticket_id, "urgent", actor=f"agent:{boss}")
    assert (await h.ticket(ticket_id)).priority == "urgent"


async def test_notes_tags_and_transfer_targets_follow_the_same_rule_on_every_channel(
    h: Harness,
) -> None:
    """Telegram's /note and /tag and the console share the actions, so the rule is the
    action's: the agent holding the chat, or a supervisor."""
    holder = await h.agent("Holder")
    ticket_id = await h.ask()
    await h.service.accept_offer(h.last_offer(holder).offer_id, holder)
    other = await h.agent("Other")
    boss = await _supervisor(h, "Boss")

    with pytest.raises(NotAllowed):
        await h.service.add_note(ticket_id, other, "not my chat")
    with pytest.raises(NotAllowed):
        await h.service.add_tag(ticket_id, "refund", actor=f"agent:{other}")
    with pytest.raises(NotAllowed):
        await h.service.transfer_targets(ticket_id, other)
    assert (await h.ticket(ticket_id)).tags == []

    await h.service.add_note(ticket_id, holder, "mine")
    await h.service.add_note(ticket_id, boss, "a supervisor's")
    assert await h.service.add_tag(ticket_id, "refund", actor=f"agent:{holder}") == ["refund"]
    targets = await h.service.transfer_targets(ticket_id, holder)
    assert holder not in [agent_id for agent_id, _name in targets.agents]
    assert (await h.events(ticket_id)).count("note_added") == 2


async def test_an_accept_tells_the_agent_all_a_channel_needs_to_open_the_chat(h: Harness) -> None:
    """The Assigned notice carries the chat's last lines and where the offer was shown, and
    the accepted chat becomes the agent's current one in the same transaction: no channel
    reads them back after the commit."""
    amal = await h.agent("Amal")
    ticket_id = await h.ask()
    offer = h.last_offer(amal)
    async with h.db.transaction() as session:
        stored = await session.get(Offer, offer.offer_id)
        assert stored is not None
        stored.agent_message = "42:7"
    await h.service.accept_offer(offer.offer_id, amal)
    (assigned,) = h.port.of(Assigned, amal)
    assert assigned.offer_message == "42:7"
    assert [sender for sender, _text in assigned.recent] == ["customer"]
    async with h.db.transaction() as session:
        agent = await session.get(Agent, amal)
        assert agent is not None and agent.current_ticket_id == ticket_id
    assert "current_chat_set" in await h.events(ticket_id)
