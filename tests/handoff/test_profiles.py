"""Customer profiles in the core (SQLite and PostgreSQL): VIP for any channel raises the next
handoff's priority, a VIP registered ahead is VIP on first contact, two identities merged as
one person and apart again (events, tickets, tier, live chats on both channels), and who may
do what."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from base.clock import VirtualClock
from handoff import people, profiles
from handoff.customers import touch_customer
from handoff.model import HandoffError
from handoff.notices import AgentMessage
from handoff.people import Actor, Refused
from handoff.tickets import current_ticket, record_message
from handoff.vip_list import Entry, VipListError, list_entries, parse_entry, parse_file
from storage.db import Database
from storage.models import Customer, Event, Message
from tests.handoff_harness import Harness

SUPERVISOR = Actor("web:Sara", supervising=True)


async def write(
    h: Harness,
    channel: str,
    external_id: str,
    text: str = "hello",
    *,
    username: str | None = None,
) -> tuple[int, int]:
    """A customer on ``channel`` writes (first contact or again): (customer id, ticket id)."""
    now = h.clock.now()
    async with h.db.transaction() as session:
        customer = await touch_customer(
            session,
            channel=channel,
            external_id=external_id,
            name=f"{channel} {external_id}",
            username=username,
            language_code="en",
            default_language="en",
            at=now,
        )
        ticket = await current_ticket(session, customer, now)
        await record_message(session, ticket, sender="customer", text=text, at=now)
        return customer.id, ticket.id


async def kinds(db: Database, customer_id: int) -> list[str]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(Event.kind).where(Event.customer_id == customer_id).order_by(Event.id)
        )
        return list(rows.scalars().all())


async def tier_of(db: Database, customer_id: int) -> str:
    async with db.transaction() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        return customer.tier


async def test_vip_set_from_the_profile_for_a_web_customer_raises_their_next_handoff(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    await h.agent("Amal", online=False)
    web_customer, first = await write(h, "web", "visitor-key-1")
    assert (await h.service.request_human(first, reason="asked")).priority == "normal"
    await h.service.cancel_request(first)

    changed = await people.change_tier(db, SUPERVISOR, web_customer, "vip", clock.now())
    assert changed == [web_customer]
    assert "customer_tier_set" in await kinds(db, web_customer)
    clock.advance(60)
    _, second = await write(h, "web", "visitor-key-1", "still waiting for my refund")
    assert second != first
    info = await h.service.request_human(second, reason="asked")
    # [priority] vip = high by default, and a repeat contact steps it up once more.
    assert info.priority == "urgent"
    async with db.transaction() as session:
        rules = await session.execute(
            select(Event.data).where(Event.ticket_id == second, Event.kind == "handoff_requested")
        )
        assert "vip:high" in rules.scalar_one()["rules"]
    # The same story without VIP: only the repeat contact counts.
    _, third = await write(h, "web", "visitor-key-2")
    await h.service.request_human(third, reason="asked")
    await h.service.cancel_request(third)
    clock.advance(60)
    _, fourth = await write(h, "web", "visitor-key-2", "still waiting for my refund")
    assert (await h.service.request_human(fourth, reason="asked")).priority == "high"


async def test_a_vip_registered_ahead_is_vip_from_the_first_telegram_message(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    await h.agent("Amal", online=False)
    by_id = parse_entry("telegram:777001")
    by_name = parse_entry("@Rami_K")
    assert await people.register_vip(db, by_id, "gold plan", clock.now()) == ("registered", [])
    assert await people.register_vip(db, by_name, "", clock.now()) == ("registered", [])
    assert await people.register_vip(db, by_id, "", clock.now()) == ("listed", [])

    customer, ticket = await write(h, "telegram", "777001")
    assert await tier_of(db, customer) == "vip"
    assert "customer_vip_matched" in await kinds(db, customer)
    assert (await h.service.request_human(ticket, reason="asked")).priority == "high"

    named, _ = await write(h, "telegram", "777002", username="rami_k")
    assert await tier_of(db, named) == "vip"
    stranger, other = await write(h, "telegram", "777003", username="someone")
    assert await tier_of(db, stranger) == "normal"
    assert (await h.service.request_human(other, reason="asked")).priority == "normal"

    listed = {e.entry: e for e in await list_entries(db)}
    assert listed["telegram:777001"].matched_customer_id == customer
    assert listed["telegram:@rami_k"].matched_customer_id == named

    # Already seen: set at once, nothing kept on the list.
    assert await people.register_vip(db, parse_entry("telegram:777003"), "", clock.now()) == (
        "set",
        [stranger],
    )
    assert "telegram:777003" not in {e.entry for e in await list_entries(db)}


async def test_an_email_on_the_vip_list_makes_the_person_vip_when_an_agent_records_it(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    customer, _ = await write(h, "web", "k1")
    entry = parse_entry("Boss@Example.com")
    assert entry == Entry("email", "", "boss@example.com")
    await people.register_vip(db, entry, "", clock.now())
    stored = await people.change_attribute(
        db, SUPERVISOR, customer, "Email", " BOSS@example.com ", clock.now()
    )
    assert stored == "boss@example.com"
    assert await tier_of(db, customer) == "vip"


def test_vip_entries_and_files_are_read_strictly() -> None:
    assert parse_entry("123") == Entry("id", "telegram", "123")
    assert parse_entry("web:abc-def") == Entry("id", "web", "abc-def")
    assert str(parse_entry("telegram:@Name")) == "telegram:@name"
    for bad in ("", "telegram:abc", "@bad name", "a@b", "email:nobody"):
        with pytest.raises(VipListError):
            parse_entry(bad)
    entries = parse_file("who,note\n# comment\n123,gold\n\n@rami\nx@y.example,\n")
    assert [(str(e), note) for e, note in entries] == [
        ("telegram:123", "gold"),
        ("telegram:@rami", ""),
        ("email:x@y.example", ""),
    ]
    with pytest.raises(VipListError, match="line 2"):
        parse_file("123\nnot an entry\n")


async def test_merge_shows_both_identities_and_undo_puts_them_apart(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    agent = await h.agent("Amal", capacity=2)
    telegram, t_ticket = await write(h, "telegram", "5001", "where is my order")
    web, w_ticket = await write(h, "web", "visitor-9", "order 42 please")
    await people.change_tier(db, SUPERVISOR, telegram, "vip", clock.now())
    await people.change_attribute(db, SUPERVISOR, web, "plan", "basic", clock.now())
    await people.change_attribute(db, SUPERVISOR, telegram, "plan", "gold", clock.now())
    for ticket in (t_ticket, w_ticket):
        await h.service.request_human(ticket, reason="asked")
        assert (await h.service.accept_offer(h.last_offer(agent).offer_id, agent)).ok

    merged = await people.link(db, SUPERVISOR, telegram, web, clock.now())
    for seen_from in (telegram, web):
        profile = await profiles.profile(db, SUPERVISOR, seen_from)
        assert profile.person_id == telegram
        assert [i.id for i in profile.identities] == [telegram, web]
        assert {t.id for t in profile.tickets} == {t_ticket, w_ticket}
        assert {a.key: a.value for a in profile.attributes} == {"plan": "gold"}
        assert profile.tier == "vip"
        assert [m.event_id for m in profile.merges] == [merged]
    assert await tier_of(db, web) == "vip"  # the merge raised it
    assert "customers_merged" in await kinds(db, telegram)
    with pytest.raises(HandoffError, match="one person already"):
        await people.link(db, SUPERVISOR, web, telegram, clock.now())

    # Both live chats still work, each on its own channel.
    await h.service.agent_message(t_ticket, agent, "Found it", origin="web")
    await h.service.agent_message(w_ticket, agent, "Here you go", origin="web")
    reached = {(n.to.channel, n.to.ticket_id) for n in h.port.of(AgentMessage)}
    assert reached == {("telegram", t_ticket), ("web", w_ticket)}

    undo = await people.unlink(db, SUPERVISOR, merged, clock.now())
    assert undo > merged
    apart_t = await profiles.profile(db, SUPERVISOR, telegram)
    apart_w = await profiles.profile(db, SUPERVISOR, web)
    assert [t.id for t in apart_t.tickets] == [t_ticket]
    assert [t.id for t in apart_w.tickets] == [w_ticket]
    assert apart_t.merges == () and apart_w.person_id == web
    assert {a.key: a.value for a in apart_w.attributes} == {"plan": "basic"}
    assert await tier_of(db, web) == "normal" and await tier_of(db, telegram) == "vip"
    assert "customers_unmerged" in await kinds(db, telegram)
    assert "customer_unmerged" in await kinds(db, web)
    with pytest.raises(HandoffError, match="undone already"):
        await people.unlink(db, SUPERVISOR, merged, clock.now())
    async with db.transaction() as session:
        count = await session.execute(
            select(func.count(Message.id)).where(Message.ticket_id.in_([t_ticket, w_ticket]))
        )
        assert count.scalar_one() >= 4  # two customer lines and two agent lines: none lost


async def test_undo_keeps_a_tier_set_after_the_merge_and_refuses_when_linked_elsewhere(
    db: Database, clock: VirtualClock
) -> None:
    h = await Harness.create(db, clock)
    a, _ = await write(h, "telegram", "1")
    b, _ = await write(h, "web", "b")
    c, _ = await write(h, "web", "c")
    first = await people.link(db, SUPERVISOR, a, b, clock.now())
    await people.change_tier(db, SUPERVISOR, b, "vip", clock.now())
    second = await people.link(db, SUPERVISOR, c, a, clock.now())  # a's person moves into c's
    with pytest.raises(HandoffError, match="linked elsewhere"):
        await people.unlink(db, SUPERVISOR, first, clock.now())
    await people.unlink(db, SUPERVISOR, second, clock.now())
    await people.unlink(db, SUPERVISOR, first, clock.now())
    assert [await tier_of(db, x) for x in (a, b)] == ["vip", "vip"]  # set since: kept
    assert await tier_of(db, c) == "normal"  # raised by the second merge only
    for x in (a, b, c):
        assert [i.id for i in (await profiles.profile(db, SUPERVISOR, x)).identities] == [x]


async def test_who_may_see_and_change_a_profile(db: Database, clock: VirtualClock) -> None:
    h = await Harness.create(db, clock)
    serving = await h.agent("Amal")
    other = await h.agent("Badr", online=False)
    customer, ticket = await write(h, "telegram", "9")
    second, _ = await write(h, "web", "v")
    await h.service.request_human(ticket, reason="asked")
    assert (await h.service.accept_offer(h.last_offer(serving).offer_id, serving)).ok
    amal, badr = Actor(f"agent:{serving}", serving), Actor(f"agent:{other}", other)

    seen = await profiles.profile(db, amal, customer)
    assert seen.rights.manage is False and [t.id for t in seen.tickets] == [ticket]
    assert await people.change_attribute(db, amal, customer, "order", "A-17", clock.now())
    assert await people.note_customer(db, amal, customer, "prefers Arabic", clock.now())
    assert [n.text for n in (await profiles.profile(db, amal, customer)).notes] == [
        "prefers Arabic"
    ]
    with pytest.raises(Refused):
        await people.change_tier(db, amal, customer, "vip", clock.now())
    with pytest.raises(Refused):
        await people.link(db, amal, customer, second, clock.now())
    with pytest.raises(Refused):
        await profiles.profile(db, amal, second)  # not theirs
    with pytest.raises(Refused):
        await profiles.profile(db, badr, customer)
    with pytest.raises(Refused):
        await people.change_attribute(db, badr, customer, "order", "x", clock.now())
    with pytest.raises(Refused):
        await profiles.find_customers(db, amal, "")
    with pytest.raises(Refused):
        await people.register_vip(db, parse_entry("1"), "", clock.now(), amal)

    # After the chat ends the agent still serves this customer (their past ticket).
    await h.service.resolve_ticket(ticket, serving)
    assert (await profiles.profile(db, amal, customer)).id == customer
    found = await profiles.find_customers(db, SUPERVISOR, "a-17")
    assert [f.id for f in found] == [customer]
    assert customer in [f.id for f in await profiles.find_customers(db, SUPERVISOR, "")]
