"""The agent side's reads and writes in the core (handoff/views.py, handoff/desk.py): what the
Telegram agent handlers and the web console show, read on a real database, and the rule that
those adapters reach the database only through them."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from base.clock import VirtualClock
from handoff import desk, views
from handoff.agents import add_agent
from handoff.canned import add_canned
from handoff.tickets import State, is_with_agent, record_message
from storage.db import Database
from storage.models import Event, Message, Ticket
from tests.handoff_harness import Harness

ROOT = Path(__file__).resolve().parents[2]
AGENT_SIDE = ["bot/agents.py", "bot/port.py", "bot/relay.py", "web/console.py"]


@pytest.fixture
async def h(sqlite_url: str, clock: VirtualClock) -> AsyncIterator[Harness]:
    database = Database(sqlite_url)
    await database.upgrade()
    yield await Harness.create(database, clock)
    await database.dispose()


async def _taken(h: Harness, agent_id: int, text: str = "I need help") -> int:
    """A customer asks for a person and ``agent_id`` accepts; returns the ticket."""
    ticket_id = await h.ask(text)
    result = await h.service.accept_offer(h.last_offer(agent_id).offer_id, agent_id)
    assert result.ok
    return ticket_id


async def _events(db: Database, kind: str) -> list[Event]:
    async with db.transaction() as session:
        rows = await session.execute(select(Event).where(Event.kind == kind).order_by(Event.id))
        return list(rows.scalars().all())


def test_with_an_agent_is_assigned_or_pending_and_held() -> None:
    for state in State:
        held = state in (State.ASSIGNED, State.PENDING)
        assert is_with_agent(state.value, 7) is held
        assert is_with_agent(state.value, 7, agent_id=7) is held
        assert is_with_agent(state.value, 7, agent_id=8) is False
        assert is_with_agent(state.value, None) is False


async def test_live_chats_follow_the_ticket_on_sqlite_and_postgres(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    amal = await h.agent("Amal", telegram_id="501", languages=["ar", "en"], capacity=2)
    omar = await h.agent("Omar", online=False)
    first = await _taken(h, amal, "where is my order")
    clock.advance(5)
    second = await _taken(h, amal, "my card was charged twice")

    chat = await views.live_chat(db, first, amal)
    assert chat is not None
    assert (chat.ticket_id, chat.state, chat.assignee_id) == (first, "assigned", amal)
    assert chat.customer.name == "Customer 1" and chat.customer.channel == "test"
    assert await views.live_chat(db, first, omar) is None  # not his
    assert [c.ticket_id for c in await views.live_chats(db, amal)] == [first, second]
    assert await views.live_chats(db, omar) == []
    assert await views.agents_holding(db, chat.customer.id) == [amal]

    me = await views.agent_by_telegram(db, "501")
    assert me is not None and (me.id, me.name, me.load, me.languages) == (
        amal,
        "Amal",
        2,
        ("ar", "en"),
    )
    assert await views.agent_by_telegram(db, "999") is None
    assert [(a.name, a.load) for a in await views.roster(db)] == [("Amal", 2), ("Omar", 0)]

    await h.service.set_pending(second, amal)
    assert [c.state for c in await views.live_chats(db, amal)] == ["assigned", "pending"]
    await h.service.resolve_ticket(first, amal)
    assert await views.live_chat(db, first, amal) is None  # resolved: no longer with him
    assert [c.ticket_id for c in await views.live_chats(db, amal)] == [second]
    assert await views.agents_holding(db, chat.customer.id) == []
    again = await views.agent(db, amal)
    assert again is not None and again.load == 1


async def test_the_queue_and_pending_offers(h: Harness) -> None:
    first = await h.ask("first")
    h.clock.advance(60)
    second = await h.ask("second", tier="vip")
    queued = await views.queue(h.db)
    assert {q.ticket_id for q in queued} == {first, second}
    assert all(q.state == "queued" for q in queued)
    assert {q.customer_name for q in queued} == {"Customer 1", "Customer 2"}
    assert len(await views.queue(h.db, limit=1)) == 1

    amal = await h.agent("Amal")
    now = h.clock.now()
    (offer,) = await views.pending_offers(h.db, amal, now)
    assert offer.offer_id == h.last_offer(amal).offer_id
    assert offer.agent_id == amal and offer.ticket_id in (first, second)
    assert offer.last_messages  # what the customer wrote, as the offer showed it
    offered = [q for q in await views.queue(h.db) if q.state == "offered"]
    assert [q.ticket_id for q in offered] == [offer.ticket_id]
    # Past its deadline an offer is no longer pending for the console.
    assert await views.pending_offers(h.db, amal, offer.deadline + timedelta(seconds=1)) == []


async def test_chat_detail_transcript_and_notes(h: Harness) -> None:
    amal = await h.agent("Amal")
    omar = await h.agent("Omar", online=False)
    ticket_id = await _taken(h, amal, "hello there")
    note_id = await h.service.add_note(ticket_id, amal, "VIP, be gentle")
    await h.service.agent_message(ticket_id, amal, "Hi, Amal here", origin="web")

    assert await views.chat_detail(h.db, ticket_id, omar) is None
    detail = await views.chat_detail(h.db, ticket_id, amal)
    assert detail is not None and detail.chat.ticket_id == ticket_id
    said = [(m.sender, m.text) for m in detail.messages if m.sender != "system"]
    assert said == [("customer", "hello there"), ("agent", "Hi, Amal here")]
    assert [(n.id, n.text, n.agent) for n in detail.notes] == [(note_id, "VIP, be gentle", "Amal")]
    assert await views.note(h.db, note_id) == detail.notes[0]
    assert await views.note(h.db, note_id + 100) is None

    last = await views.last_lines(h.db, [ticket_id, ticket_id + 100])
    assert list(last) == [ticket_id] and last[ticket_id].text == "Hi, Amal here"
    assert detail.last is not None and detail.last.id == last[ticket_id].id
    (listed,) = await views.chat_list(h.db, amal)
    assert listed.chat == detail.chat and listed.last is not None
    assert listed.last.id == last[ticket_id].id
    assert await views.chat_list(h.db, omar) == []
    rows = await views.transcript_rows(h.db, [last[ticket_id].id, 10_000])
    assert [r.id for r in rows] == [last[ticket_id].id]

    found = await views.delivery(h.db, last[ticket_id].id)
    assert found is not None
    assert (found.line.sender, found.line.ticket_id) == ("agent", ticket_id)
    assert found.customer.name == "Customer 1"
    assert await views.delivery(h.db, 10_000) is None


async def test_canned_replies_filled_for_the_chat(h: Harness) -> None:
    amal = await h.agent("Amal")
    ticket_id = await _taken(h, amal)
    async with h.db.transaction() as session:
        await add_canned(session, "hi", "Hello {name}, {agent} here (#{ticket}).", h.clock.now())
    (reply,) = await views.canned_replies(h.db)
    assert (reply.shortcut, reply.lang) == ("hi", "")
    filled = await views.filled_canned(h.db, "hi", ticket_id, amal)
    assert filled == f"Hello Customer 1, Amal here (#{ticket_id})."
    assert await views.filled_canned(h.db, "nope", ticket_id, amal) is None


async def test_the_current_chat_is_only_a_chat_with_the_agent_and_writes_its_event(
    h: Harness,
) -> None:
    amal = await h.agent("Amal")
    omar = await h.agent("Omar", online=False)
    ticket_id = await _taken(h, amal)
    now = h.clock.now()
    assert await desk.set_current_chat(h.db, omar, ticket_id, now) is False
    assert await desk.set_current_chat(h.db, amal, ticket_id + 100, now) is False
    assert await desk.set_current_chat(h.db, amal, ticket_id, now) is True
    assert await desk.set_current_chat(h.db, amal, ticket_id, now) is True  # no change, no event
    me = await views.agent(h.db, amal)
    assert me is not None and me.current_ticket_id == ticket_id
    (event,) = await _events(h.db, "current_chat_set")
    assert (event.ticket_id, event.actor, event.data) == (
        ticket_id,
        f"agent:{amal}",
        {"agent_id": amal},
    )

    await desk.leave_current_chat(h.db, amal, ticket_id + 1, now)  # another chat: kept
    me = await views.agent(h.db, amal)
    assert me is not None and me.current_ticket_id == ticket_id
    await desk.leave_current_chat(h.db, amal, ticket_id, now)
    me = await views.agent(h.db, amal)
    assert me is not None and me.current_ticket_id is None
    assert [e.ticket_id for e in await _events(h.db, "current_chat_cleared")] == [ticket_id]


async def test_relays_route_replies_and_edits(h: Harness) -> None:
    amal = await h.agent("Amal")
    ticket_id = await _taken(h, amal)
    now = h.clock.now()
    await desk.record_relays(h.db, ticket_id, "to_agent", (-5, 40), [(501, 7), (501, 8)], now)
    await desk.record_relays(h.db, ticket_id, "to_agent", (-5, 41), [], now)  # nothing carried
    assert await views.relayed_ticket(h.db, 501, 8) == ticket_id
    assert await views.relayed_ticket(h.db, 501, 9) is None
    assert await views.relayed_ticket(h.db, 502, 7) is None
    assert sorted(await views.relayed_copies(h.db, -5, 40)) == [(501, 7), (501, 8)]
    assert await views.relayed_copies(h.db, -5, 41) == []


async def test_what_a_channel_sent_is_kept_on_sqlite_and_postgres(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    amal = await h.agent("Amal")
    ticket_id = await _taken(h, amal)
    now = h.clock.now()
    await desk.record_sent(
        h.db, ticket_id, "system", [("part one", 70), ("part two", 71)], now, meta={"notice": "x"}
    )
    await desk.record_sent(h.db, ticket_id + 100, "system", [("lost", 72)], now)  # no ticket
    async with h.db.transaction() as session:
        rows = (
            await session.execute(
                select(Message).where(Message.ticket_id == ticket_id, Message.sender == "system")
            )
        ).scalars()
        kept = [(m.text, m.channel_message_id, m.meta, m.created_at) for m in rows][-2:]
        lost = (await session.execute(select(Message).where(Message.text == "lost"))).first()
    assert kept == [
        ("part one", "70", {"notice": "x"}, now),
        ("part two", "71", {"notice": "x"}, now),
    ]
    assert lost is None

    message_id = await h.service.agent_message(ticket_id, amal, "hi", origin="web")
    await desk.mark_delivered(h.db, message_id, "99")
    found = await views.delivery(h.db, message_id)
    assert found is not None and found.line.channel_message_id == "99"


async def test_an_offer_remembers_its_telegram_message(h: Harness) -> None:
    amal = await h.agent("Amal", telegram_id="501")
    await h.ask()
    offer_id = h.last_offer(amal).offer_id
    assert await views.offer_message_ref(h.db, offer_id) is None
    await desk.remember_offer_message(h.db, offer_id, "501", 33)
    assert await views.offer_message_ref(h.db, offer_id) == "501:33"
    assert await views.offer_message_ref(h.db, "0" * 32) is None


async def test_supervisors_and_attachments(h: Harness) -> None:
    now = h.clock.now()
    async with h.db.transaction() as session:
        await add_agent(session, name="Sam", role="supervisor", at=now)
        await add_agent(session, name="Amal", at=now)
    assert [s.name for s in await views.supervisors(h.db)] == ["Sam"]
    sam = (await views.supervisors(h.db))[0]
    assert sam.is_supervisor and sam.telegram_id is None
    assert await views.attachment(h.db, 12345) is None


async def test_a_read_model_outlives_its_transaction(h: Harness) -> None:
    """Read models are plain frozen values: a later change does not show through them."""
    amal = await h.agent("Amal")
    ticket_id = await _taken(h, amal)
    chat = await views.live_chat(h.db, ticket_id, amal)
    assert chat is not None
    async with h.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.priority = "urgent"
        await record_message(session, ticket, sender="customer", text="x", at=h.clock.now())
    assert chat.priority == "normal"
    again = await views.live_chat(h.db, ticket_id, amal)
    assert again is not None and again.priority == "urgent"


def test_the_agent_side_adapters_import_neither_sqlalchemy_nor_storage() -> None:
    for name in AGENT_SIDE:
        tree = ast.parse((ROOT / name).read_text(), name)
        imported = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        bad = [m for m in imported if m.split(".")[0] in ("sqlalchemy", "storage")]
        assert bad == [], f"{name} imports {bad}"
