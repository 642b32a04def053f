"""Article drafts from agents' answers (faq/drafts.py) on a synthetic history with planted
repeated questions and answers (tests/drafts_history.py): the grouping recovers the planted
groups (precision and recall computed here from the true labels), leaves out greetings,
"one moment" lines, the agents' opener and what the FAQ answers already, and a suggestion
becomes a draft article that the bot does not match. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from base.clock import VirtualClock
from base.periods import Period
from faq.drafts import (
    Conflict,
    DraftEdit,
    Line,
    Suggestion,
    create_draft,
    find_suggestion,
    group_pairs,
    load_pairs,
    pairs_of,
    suggest_articles,
    suggestion_slug,
)
from faq.matcher import Outcome
from faq.service import FaqService, load_sample_if_empty
from storage.db import Database
from storage.models import Article, Event
from tests.drafts_history import (
    COVERED,
    OPENER,
    PLANTED,
    WAIT,
    WELCOME,
    History,
    plant_history,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=7))
MIN_PRECISION = 0.9
MIN_RECALL = 0.8


@pytest.fixture
async def faq(db: Database) -> AsyncIterator[FaqService]:
    """The sample FAQ, published, behind a lexical matcher (as the bot answers)."""
    clock = VirtualClock(START)
    async with db.transaction() as session:
        await load_sample_if_empty(session, START - timedelta(days=30))
    service = FaqService(db, now=clock.now)
    await service.reload()
    yield service
    await service.close()


def _score(history: History, suggestions: list[Suggestion]) -> tuple[float, float, set[str]]:
    """Ticket-level precision (tickets in a suggestion that belong to its planted group, the
    group most of its tickets belong to) and recall (of each planted group's tickets, the
    share found in its best suggestion), and the planted groups found."""
    planted = {g.label for g in PLANTED}
    right = total = 0
    best: Counter[str] = Counter()
    found: set[str] = set()
    for s in suggestions:
        labels = Counter(history.labels[t] for t in s.ticket_ids)
        label, count = labels.most_common(1)[0]
        total += len(s.ticket_ids)
        if label in planted:
            right += count
            best[label] = max(best[label], count)
            found.add(str(label))
    precision = right / total if total else 0.0
    wanted = sum(len(history.tickets_of(label)) for label in planted)
    recall = sum(best.values()) / wanted
    return precision, recall, found


async def test_the_planted_groups_are_recovered_with_precision_and_recall(
    db: Database, faq: FaqService
) -> None:
    history = await plant_history(db, START + timedelta(hours=1))
    suggestions = await suggest_articles(db, faq, PERIOD, limit=50)

    precision, recall, found = _score(history, suggestions)
    assert precision >= MIN_PRECISION, (precision, suggestions)
    assert recall >= MIN_RECALL, (recall, suggestions)
    assert found == {g.label for g in PLANTED}  # every group, English and Arabic
    # one suggestion per planted group (not split), in the group's language, with its texts
    for group in PLANTED:
        mine = [s for s in suggestions if history.labels[s.ticket_ids[0]] == group.label]
        assert len(mine) == 1, (group.label, mine)
        s = mine[0]
        assert s.lang == group.lang
        assert s.question in group.questions
        assert set(s.phrasings) <= set(group.questions) and len(s.phrasings) >= 2
        assert s.answer in group.answers
        assert s.tickets == len(set(s.ticket_ids)) >= 3
        assert set(s.example_ticket_ids) <= set(s.ticket_ids)
    # ranked by the tickets they recur in
    counts = [s.tickets for s in suggestions]
    assert counts == sorted(counts, reverse=True)
    # the opener, "one moment" and "you're welcome" are not suggested
    noise = {OPENER["en"][:20], OPENER["ar"][:12], *WAIT.values(), *WELCOME.values()}
    assert not [s for s in suggestions if any(s.answer.startswith(n) for n in noise)]


async def test_a_group_the_faq_answers_is_found_and_left_out(db: Database, faq: FaqService) -> None:
    history = await plant_history(db, START + timedelta(hours=1))
    async with db.transaction() as session:
        pairs = await load_pairs(session, PERIOD)
    covered = history.tickets_of(COVERED.label)
    grouped = [s for s in group_pairs(pairs) if set(s.ticket_ids) & covered]
    assert len(grouped) == 1 and set(grouped[0].ticket_ids) == covered  # found by the grouping
    _, _, verdict = await faq.verdict(grouped[0].question, "en")
    assert verdict.decision.outcome is Outcome.ANSWER  # ... and answered by the sample FAQ
    suggestions = await suggest_articles(db, faq, PERIOD, limit=50)
    assert not [s for s in suggestions if set(s.ticket_ids) & covered]
    assert len(suggestions) == len(PLANTED)


def _line(ticket: int, n: int, sender: str, text: str) -> Line:
    return Line(ticket, n, sender, "text", text, START + timedelta(seconds=n))


def test_pairs_skip_greetings_requests_for_a_person_and_lines_that_answer_nothing() -> None:
    lines = [
        _line(1, 1, "customer", "hi"),
        _line(1, 2, "customer", "Do you offer gift wrapping?"),
        _line(1, 3, "customer", "agent please"),
        _line(1, 4, "agent", "One moment please."),
        _line(1, 5, "agent", "Yes, we gift wrap any item for 15 SAR at checkout."),
        _line(1, 6, "customer", "thanks!"),
        _line(1, 7, "agent", "You're welcome, have a nice day!"),
        _line(1, 8, "customer", "And is there a warranty on the headphones?"),
        _line(1, 9, "agent", "All electronics have a 2-year manufacturer warranty."),
        _line(1, 10, "agent", "نعم، الضمان سنتان على كل الأجهزة."),  # not the question's language
        _line(2, 11, "customer", "السلام عليكم"),
        _line(2, 12, "agent", "مرحبا، معك سارة من خدمة العملاء، كيف أقدر أساعدك اليوم؟"),
    ]
    pairs = pairs_of(reversed(lines))
    assert [(p.ticket_id, p.question, p.answer) for p in pairs] == [
        (1, "Do you offer gift wrapping?", "Yes, we gift wrap any item for 15 SAR at checkout."),
        (
            1,
            "And is there a warranty on the headphones?",
            "All electronics have a 2-year manufacturer warranty.",
        ),
    ]
    assert {p.lang for p in pairs} == {"en"}
    assert pairs_of(lines, "ar") == []


async def test_the_period_and_the_row_cap_bound_what_is_read(db: Database, faq: FaqService) -> None:
    await plant_history(db, START - timedelta(days=3))  # before the period: not read
    assert await suggest_articles(db, faq, PERIOD) == []
    await plant_history(db, START + timedelta(hours=1), seed=8)
    async with db.transaction() as session:
        everything = await load_pairs(session, PERIOD)
        capped = await load_pairs(session, PERIOD, row_cap=40)
    assert everything and all(PERIOD.contains(p.at) for p in everything)
    assert 0 < len(capped) < len(everything)
    latest = max(p.at for p in everything)
    assert max(p.at for p in capped) == latest  # the cap keeps the latest lines


async def test_a_suggestion_becomes_a_draft_that_is_not_matched(
    db: Database, faq: FaqService
) -> None:
    history = await plant_history(db, START + timedelta(hours=1))
    suggestions = await suggest_articles(db, faq, PERIOD, limit=50)
    wrap = next(s for s in suggestions if history.labels[s.ticket_ids[0]] == "gift-wrap")
    assert (await find_suggestion(db, faq, PERIOD, wrap.id)) == wrap
    at = START + timedelta(days=6)
    edit = DraftEdit(
        slug=suggestion_slug(wrap),
        question="Do you gift wrap orders?",
        answer="Yes: gift wrapping costs 15 SAR, chosen at checkout.",
    )
    article = await create_draft(db, wrap, edit, at, "editor:test")

    assert article.status == "draft"
    assert (article.question, article.answer) == (edit.question, edit.answer)
    assert wrap.question in article.phrasings  # the customers' wording is kept
    assert article.lang == "en" and article.slug == suggestion_slug(wrap)
    async with db.transaction() as session:
        events = (
            (await session.execute(select(Event).where(Event.created_at == at).order_by(Event.id)))
            .scalars()
            .all()
        )
        stored = await session.get(Article, article.id)
    assert stored is not None and stored.status == "draft"
    assert [e.kind for e in events] == ["article_created", "article_drafted"]
    drafted = events[1].data
    assert drafted["suggestion"] == wrap.id and drafted["article_id"] == article.id
    assert drafted["tickets"] == wrap.tickets and events[1].actor == "editor:test"

    # a draft is not matched: the bot does not answer with it
    await faq.reload()
    _, _, verdict = await faq.verdict(edit.question, "en")
    assert str(article.id) not in {s.article_id for s in verdict.scored}
    # ... and the suggestion it came from is not suggested again
    again = await suggest_articles(db, faq, PERIOD, limit=50)
    assert wrap.id not in {s.id for s in again} and len(again) == len(suggestions) - 1
    with pytest.raises(Conflict):
        await create_draft(db, wrap, edit, at, "editor:test")


async def test_the_read_is_served_by_an_index(sqlite_db: Database) -> None:
    ran: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        ran.append((statement, params))

    event.listen(sqlite_db.engine.sync_engine, "before_cursor_execute", keep)
    async with sqlite_db.transaction() as session:
        await load_pairs(session, PERIOD, row_cap=1000)
    event.remove(sqlite_db.engine.sync_engine, "before_cursor_execute", keep)
    statement, params = next((s, p) for s, p in ran if "FROM messages" in s)
    database = sqlite_db.engine.url.database
    assert database is not None
    plans = sqlite3.connect(database)
    plan = [row[3] for row in plans.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
    plans.close()
    assert any("ix_messages_created" in step for step in plan), plan
    assert not any(step.startswith("SCAN messages") and "INDEX" not in step for step in plan)
