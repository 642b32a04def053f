"""Lines of a live chat run without the handoff engine's lock (chat units, issue 15): an agent's
line and a customer's line to the agent who holds the chat do not queue behind the accepts,
offers and rebuilds of other chats; an action that changes the engine's memory is refused in a
chat unit before it writes anything, and runs again with the lock."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from base.clock import VirtualClock
from handoff import actions
from handoff.engine import NeedsLock
from handoff.notices import AgentMessage, ChatMessage
from handoff.tickets import record_message
from storage.db import Database
from storage.models import Message, Ticket
from tests.handoff_harness import Harness


@pytest.fixture
async def h(db: Database, clock: VirtualClock) -> Harness:
    """On SQLite and on PostgreSQL (when the server is there)."""
    return await Harness.create(db, clock)


async def _with_agent(h: Harness) -> tuple[int, int]:
    """An agent holding a customer's chat: (agent id, ticket id)."""
    agent = await h.agent("A")
    ticket_id = await h.ask()
    result = await h.service.accept_offer(h.last_offer(agent).offer_id, agent)
    assert result.ok
    return agent, ticket_id


async def _lines(h: Harness, ticket_id: int, sender: str) -> list[str]:
    async with h.db.transaction() as session:
        rows = await session.execute(
            select(Message.text)
            .where(Message.ticket_id == ticket_id, Message.sender == sender)
            .order_by(Message.id)
        )
        return list(rows.scalars())


async def test_an_agent_line_is_not_held_up_by_the_engine_lock(h: Harness) -> None:
    agent, ticket_id = await _with_agent(h)
    async with h.service.engine.lock:  # another chat's accept, offer or rebuild holds it
        message_id = await asyncio.wait_for(
            h.service.agent_message(ticket_id, agent, "Hello, I can help", origin="web"), 5
        )
    assert await _lines(h, ticket_id, "agent") == ["Hello, I can help"]
    sent = h.port.of(AgentMessage)[-1]
    assert (sent.to.ticket_id, sent.message_id) == (ticket_id, message_id)
    echoed = h.port.of(ChatMessage)[-1]
    assert (echoed.ticket_id, echoed.message_id, echoed.sender) == (ticket_id, message_id, "agent")
    ticket = await h.ticket(ticket_id)
    assert ticket.first_agent_reply_at is not None  # the first response is still stamped
    assert (await h.events(ticket_id)).count("first_agent_reply") == 1


async def test_a_customer_line_to_the_agent_is_relayed_without_the_lock(h: Harness) -> None:
    agent, ticket_id = await _with_agent(h)
    async with h.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        message = await record_message(
            session, ticket, sender="customer", text="hi", at=h.clock.now()
        )
        message_id = message.id
    async with h.service.engine.lock:
        done = await asyncio.wait_for(h.service.customer_wrote(ticket_id, message_id), 5)
    assert done == "relayed"
    relayed = h.port.of(ChatMessage)[-1]
    assert (relayed.agent_id, relayed.message_id, relayed.sender) == (agent, message_id, "customer")


async def test_a_line_that_changes_the_ticket_runs_again_with_the_lock(h: Harness) -> None:
    """A pending chat woken by the customer's line: the chat unit refuses before writing,
    the action runs again in a unit with the lock."""
    agent, ticket_id = await _with_agent(h)
    await h.service.set_pending(ticket_id, agent)
    assert (await h.ticket(ticket_id)).state == "pending"
    assert await h.service.customer_wrote(ticket_id) == "active"
    assert (await h.ticket(ticket_id)).state == "assigned"
    assert (await h.events(ticket_id)).count("ticket_active") == 1


async def test_a_chat_unit_refuses_what_changes_the_memory_before_writing(h: Harness) -> None:
    ticket_id = await h.customer()
    async with h.db.transaction() as session, h.service.chat_unit(session) as uow:
        with pytest.raises(NeedsLock):
            await actions.request_human(uow, ticket_id, reason="asked")
        with pytest.raises(NeedsLock):
            uow.acd  # noqa: B018 - the memory itself is out of a chat unit's reach
        assert not uow.touched
    # and a chat unit never takes the lock part-way (the lock order of handoff.engine)
    async with h.db.transaction() as session, h.service.chat_unit(session):
        with pytest.raises(RuntimeError, match="part-way"):
            async with h.service.unit(session):
                pass
    await h.service.settled()
    assert (await h.ticket(ticket_id)).state == "bot"
    assert not h.service.engine.lock.locked()


async def test_a_rolled_back_chat_unit_delivers_nothing(h: Harness) -> None:
    agent, ticket_id = await _with_agent(h)
    before = len(h.port.sent)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with h.db.transaction() as session, h.service.chat_unit(session) as uow:
            await actions.agent_message(uow, ticket_id, agent, "never sent", origin="web")
            raise Boom
    await h.service.settled()
    assert len(h.port.sent) == before
    assert await _lines(h, ticket_id, "agent") == []


async def test_an_agent_resend_sent_twice_at_once_is_kept_once(h: Harness) -> None:
    """Without the engine's lock, one ticket's agent lines still go one at a time in a
    process: the second of two identical requests finds the first one kept."""
    agent, ticket_id = await _with_agent(h)
    first, second = await asyncio.gather(
        h.service.agent_message(ticket_id, agent, "once", origin="web", client_id="c-1"),
        h.service.agent_message(ticket_id, agent, "once", origin="web", client_id="c-1"),
    )
    assert first == second
    assert await _lines(h, ticket_id, "agent") == ["once"]
    async with h.db.transaction() as session:
        count = (
            await session.execute(select(func.count(Message.id)).where(Message.sender == "agent"))
        ).scalar_one()
    assert count == 1
