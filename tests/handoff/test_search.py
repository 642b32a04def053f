"""Ticket search (handoff/search.py over storage/search.py), on SQLite and PostgreSQL: Arabic
folded as the matcher folds it, English stems, customers, tags, ticket numbers, rights, and a
line searchable as soon as its transaction commits."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from handoff.customers import touch_customer
from handoff.search import SearchPage, search_tickets, snippet, ticket_number
from handoff.tickets import current_ticket, record_message
from sanad.cli import main
from storage.db import Database
from storage.events import record_event
from storage.models import Agent, SearchDoc, Ticket
from storage.search import query_terms, reindex

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def _ticket(
    db: Database,
    external_id: str,
    name: str,
    lines: list[str],
    *,
    username: str | None = None,
    at: datetime = T0,
) -> int:
    async with db.transaction() as session:
        customer = await touch_customer(
            session,
            channel="telegram",
            external_id=external_id,
            name=name,
            username=username,
            language_code="en",
            default_language="en",
            at=at,
        )
        ticket = await current_ticket(session, customer, at)
        for i, line in enumerate(lines):
            sender = "customer" if i % 2 == 0 else "bot"
            await record_message(
                session, ticket, sender=sender, text=line, at=at + timedelta(seconds=i)
            )
        return int(ticket.id)


def _ids(page: SearchPage) -> list[int]:
    return [hit.ticket_id for hit in page.hits]


async def test_arabic_word_found_whatever_its_alef_ya_and_diacritics(db: Database) -> None:
    arabic = await _ticket(db, "1", "سارة", ["أُرِيدُ إِرْجَاعَ الطَّلَبِيَّة", "تم"])
    other = await _ticket(db, "2", "Bob", ["where is my parcel"])
    # Written with bare alef, ya for alef maqsura, ha for ta marbuta, no diacritics.
    for query in ("ارجاع", "إرجاع", "اِرْجاع", "الطلبيه", "الطلبيّة", "ارجـــاع"):
        page = await search_tickets(db, query)
        assert _ids(page) == [arabic], query
        hit = page.hits[0]
        assert hit.source == "message" and hit.sender == "customer"
        assert [f.text for f in hit.snippet if f.hit], query  # the word is marked
    assert _ids(await search_tickets(db, "parcel")) == [other]


async def test_english_word_case_and_stem(db: Database) -> None:
    refund = await _ticket(db, "1", "Ann", ["I asked for a Refund twice", "Refunds take 5 days"])
    await _ticket(db, "2", "Bob", ["hello there"])
    for query in ("refund", "REFUNDS", "refunded"):
        page = await search_tickets(db, query)
        assert _ids(page) == [refund], query
    page = await search_tickets(db, "refund twice")  # every word, in one line
    assert _ids(page) == [refund]
    marked = [f.text for f in page.hits[0].snippet if f.hit]
    assert marked == ["Refund", "twice"]
    assert _ids(await search_tickets(db, "refund hello")) == []


async def test_customer_name_username_external_id_and_prefix(db: Database) -> None:
    layla = await _ticket(db, "777001", "Layla Haddad", ["hi"], username="layla_h")
    await _ticket(db, "777002", "Omar", ["hi"])
    for query in ("layla", "Haddad", "layla_h", "777001", "Hadd*", "lay* hadd*"):
        page = await search_tickets(db, query)
        assert _ids(page) == [layla], query
        assert page.hits[0].source == "ticket"
        assert page.hits[0].customer_name == "Layla Haddad"
    assert _ids(await search_tickets(db, "Hadd")) == []  # a prefix is asked for with *


async def test_tags_are_searchable_once_added(db: Database) -> None:
    tagged = await _ticket(db, "1", "Ann", ["my card was charged"])
    assert _ids(await search_tickets(db, "billing")) == []
    async with db.transaction() as session:
        ticket = await session.get(Ticket, tagged)
        assert ticket is not None
        ticket.tags = [*ticket.tags, "billing", "urgent-refund"]
    assert _ids(await search_tickets(db, "billing")) == [tagged]
    assert _ids(await search_tickets(db, "urgent")) == [tagged]


async def test_ticket_number_finds_that_ticket_first(db: Database) -> None:
    first = await _ticket(db, "1", "Ann", ["hello"])
    second = await _ticket(db, "2", "Bob", [f"about ticket {first}", "ok"])
    for query in (str(first), f"#{first}", f" # {first} "):
        page = await search_tickets(db, query)
        assert page.hits[0].ticket_id == first and page.hits[0].source == "number", query
        # The line that quotes the number is found too, once per ticket.
        assert _ids(page) == [first, second], query
    assert ticket_number("#١٢") == 12 and ticket_number("12 a") is None
    assert _ids(await search_tickets(db, "#987654")) == []


async def test_agent_sees_only_tickets_they_were_assigned(db: Database) -> None:
    mine = await _ticket(db, "1", "Ann", ["the invoice is wrong"])
    was_mine = await _ticket(db, "2", "Bob", ["invoice missing"])
    theirs = await _ticket(db, "3", "Cy", ["invoice please"])
    async with db.transaction() as session:
        agent = Agent(name="Seven", idle_since=T0, created_at=T0, updated_at=T0)
        session.add(agent)
        await session.flush()
        seven = int(agent.id)
        ticket = await session.get(Ticket, mine)
        assert ticket is not None
        ticket.assignee_id = seven  # holds it now
        # Was assigned once (then transferred: the assignee is someone else or nobody).
        record_event(session, "ticket_assigned", T0, ticket_id=was_mine, actor=f"agent:{seven}")
    assert sorted(_ids(await search_tickets(db, "invoice"))) == sorted([mine, was_mine, theirs])
    assert sorted(_ids(await search_tickets(db, "invoice", involving=seven))) == sorted(
        [mine, was_mine]
    )
    assert _ids(await search_tickets(db, f"#{theirs}", involving=seven)) == []
    assert _ids(await search_tickets(db, f"#{mine}", involving=seven)) == [mine]
    assert _ids(await search_tickets(db, "Cy", involving=seven)) == []


async def test_a_line_is_searchable_in_its_own_transaction_and_after(db: Database) -> None:
    ticket_id = await _ticket(db, "1", "Ann", ["first"])
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await record_message(session, ticket, sender="customer", text="zebracorn", at=T0)
        inside = (
            await session.execute(
                select(SearchDoc.ticket_id).where(SearchDoc.body.contains("zebracorn"))
            )
        ).scalars()
        assert list(inside) == [ticket_id]
    page = await search_tickets(db, "zebracorn")
    assert _ids(page) == [ticket_id]


async def test_pages_go_back_in_time_one_ticket_per_hit(db: Database) -> None:
    ids = [
        await _ticket(db, str(i), f"C{i}", ["shipping delay", "shipping again"]) for i in range(7)
    ]
    seen: list[int] = []
    before = None
    for _ in range(5):
        page = await search_tickets(db, "shipping", limit=3, before=before)
        seen += _ids(page)
        assert len(set(_ids(page))) == len(page.hits)
        before = page.next_before
        if before is None:
            break
    assert seen == list(reversed(ids))


async def test_reindex_rebuilds_what_a_bulk_load_bypassed(db: Database) -> None:
    ticket_id = await _ticket(db, "1", "Ann", ["bulk loaded quokka"])
    async with db.transaction() as session:
        await session.execute(text("DELETE FROM search_docs"))
    assert _ids(await search_tickets(db, "quokka")) == []
    async with db.engine.begin() as conn:
        counts = await conn.run_sync(reindex)
    assert counts == {"tickets": 1, "messages": 1}
    assert _ids(await search_tickets(db, "quokka")) == [ticket_id]


def test_snippet_marks_words_around_the_first_hit() -> None:
    words = " ".join(f"w{i}" for i in range(60))
    cut = snippet(f"{words} Delivered late {words}", query_terms("deliver"))
    assert [f.text for f in cut if f.hit] == ["Delivered"]
    assert cut[0].text == "… " and cut[-1].text == " …"
    assert "Delivered late" in "".join(f.text for f in cut)


def test_cli_reindex_indexes_a_bulk_loaded_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SANAD_DATABASE_URL", url)

    async def load() -> int:
        db = Database(url)
        await db.upgrade()
        ticket_id = await _ticket(db, "1", "Ann", ["a wombat in the parcel"])
        async with db.transaction() as session:  # as a bulk load leaves it: no documents
            await session.execute(text("DELETE FROM search_docs"))
        await db.dispose()
        return ticket_id

    async def find() -> list[int]:
        db = Database(url)
        try:
            return _ids(await search_tickets(db, "wombat"))
        finally:
            await db.dispose()

    ticket_id = asyncio.run(load())
    assert asyncio.run(find()) == []
    out = io.StringIO()
    assert main(["search", "reindex"], out=out) == 0
    assert "indexed 1 tickets and 1 messages" in out.getvalue()
    assert asyncio.run(find()) == [ticket_id]
