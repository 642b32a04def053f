"""FAQ gaps on a known query log: grouping of unanswered questions (English and Arabic
variants), top questions and terms, and per-article statistics. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from base.clock import VirtualClock
from base.periods import Period
from faq.gaps import (
    STOP_WORDS,
    article_stats,
    cluster,
    similarity_key,
    terms,
    top_queries,
    top_terms,
    unanswered_groups,
)
from faq.service import FaqService
from handoff.customers import touch_customer
from handoff.port import MemoryPort
from handoff.service import HandoffConfig, HandoffService
from handoff.tickets import current_ticket, record_message
from storage.db import Database
from storage.models import Article, QueryLog, Ticket

START = datetime(2026, 2, 1, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=1))


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


async def _log(
    db: Database,
    query: str,
    lang: str,
    outcome: str,
    *,
    times: int = 1,
    helpful: bool | None = None,
    best: int | None = None,
    suggested: list[int] | None = None,
    when: datetime | None = None,
    ticket_id: int | None = None,
    customer_id: int | None = None,
) -> list[int]:
    ids = []
    async with db.transaction() as session:
        for _ in range(times):
            row = QueryLog(
                customer_id=customer_id,
                ticket_id=ticket_id,
                query=query,
                lang=lang,
                outcome=outcome,
                best_article_id=best,
                score=0.5 if best else None,
                suggested_article_ids=[str(a) for a in suggested or []],
                helpful=helpful,
                created_at=when or at(3600),
            )
            session.add(row)
            await session.flush()
            ids.append(row.id)
    return ids


async def _article(db: Database, slug: str, lang: str, category: str = "") -> int:
    async with db.transaction() as session:
        article = Article(
            slug=slug,
            lang=lang,
            question=f"About {slug}?",
            phrasings=[],
            answer="...",
            category=category,
            tags=[],
            status="published",
            created_at=START,
            updated_at=START,
        )
        session.add(article)
        await session.flush()
        return article.id


async def _unanswered_history(db: Database) -> dict[str, int]:
    bitcoin = await _article(db, "payment-methods", "en")
    # the "where is my order" family: case, punctuation, a contraction, typos, a plural
    await _log(db, "Where is my order?", "en", "no_match", times=3)
    await _log(db, "where's my order??", "en", "no_match")
    await _log(db, "wher is my ordr", "en", "no_match")
    await _log(db, "Where is my orders", "en", "no_match")
    # answered, but the customer said it did not help: a gap too
    await _log(db, "can I pay with bitcoin", "en", "no_match")
    await _log(db, "pay with bitcoin?", "en", "answer", helpful=False, best=bitcoin)
    await _log(db, "cancel my order", "en", "no_match")
    # answered and helpful, or without feedback: not gaps
    await _log(db, "where is my order", "en", "answer", helpful=True, best=bitcoin, times=2)
    await _log(db, "where is my order", "en", "answer", helpful=None, best=bitcoin)
    await _log(db, "where is my order", "en", "suggest", helpful=None, suggested=[bitcoin])
    # outside the period (before its start, and at its end)
    await _log(db, "where is my order", "en", "no_match", when=at(-1), times=5)
    await _log(db, "where is my order", "en", "no_match", when=at(86_400))
    # Arabic: hamza forms, alef maqsura, a dialect word, a typo
    await _log(db, "أين طلبي؟", "ar", "no_match", times=2)
    await _log(db, "اين طلبى", "ar", "no_match")
    await _log(db, "إين طلبي", "ar", "no_match")
    await _log(db, "وين طلبي", "ar", "no_match")
    await _log(db, "أين طلبيي", "ar", "no_match")
    await _log(db, "كيف ألغي الطلب", "ar", "no_match")
    return {"bitcoin": bitcoin}


async def test_unanswered_questions_group_by_similarity(db: Database) -> None:
    ids = await _unanswered_history(db)
    async with db.transaction() as session:
        groups = await unanswered_groups(session, PERIOD, None)
    by_rep = {g["representative"]: g for g in groups}
    assert [(g["representative"], g["lang"], g["count"]) for g in groups] == [
        ("أين طلبي؟", "ar", 2 + 1 + 1 + 1 + 1),  # ties: by language, then representative
        ("Where is my order?", "en", 3 + 1 + 1 + 1),
        ("can I pay with bitcoin", "en", 2),
        ("كيف ألغي الطلب", "ar", 1),
        ("cancel my order", "en", 1),
    ]
    orders = by_rep["Where is my order?"]
    assert orders["queries"][0] == "Where is my order?"  # the most frequent wording first
    assert sorted(orders["queries"]) == sorted(
        ["Where is my order?", "where's my order??", "wher is my ordr", "Where is my orders"]
    )
    assert orders["reason_counts"] == {"no_match": 6, "not_helpful": 0}
    assert orders["best_article_id"] is None
    assert orders["id"] == hashlib.sha1(b"en:wher is my order").hexdigest()[:12]
    arabic = by_rep["أين طلبي؟"]
    assert set(arabic["queries"]) == {"أين طلبي؟", "اين طلبى", "إين طلبي", "وين طلبي", "أين طلبيي"}
    bitcoin = by_rep["can I pay with bitcoin"]
    assert bitcoin["reason_counts"] == {"no_match": 1, "not_helpful": 1}
    assert bitcoin["best_article_id"] == ids["bitcoin"]

    async with db.transaction() as session:
        arabic_only = await unanswered_groups(session, PERIOD, "ar")
        top = await unanswered_groups(session, PERIOD, None, limit=1)
    assert [g["count"] for g in arabic_only] == [6, 1]
    assert {g["lang"] for g in arabic_only} == {"ar"}
    assert [g["id"] for g in top] == [arabic["id"]]

    # the ids are stable: more questions of another kind do not change them
    await _log(db, "do you ship to Mars", "en", "no_match", times=4)
    async with db.transaction() as session:
        again = await unanswered_groups(session, PERIOD, None)
    assert {g["id"] for g in groups} <= {g["id"] for g in again}
    assert next(g for g in again if g["id"] == orders["id"])["count"] == 6


def test_cluster_compares_with_the_seed_and_keeps_subsets_apart() -> None:
    keys = {
        similarity_key(q, "en"): n
        for q, n in [("where is my order", 3), ("my order", 1), ("cancel my order", 2)]
    }
    groups = cluster(keys)
    # token_set_ratio alone would put "my order" in both other groups (a subset: 100)
    assert [members for _, members in groups] == [
        ["wher is my order"],
        ["cancel my order"],
        ["my order"],
    ]
    assert cluster({"": 2, "refund": 1}) == [("", [""]), ("refund", ["refund"])]


async def test_top_queries_and_terms(db: Database) -> None:
    await _unanswered_history(db)
    await _log(db, "order, order, ORDER!", "en", "no_match")  # one question: counts once
    async with db.transaction() as session:
        queries = await top_queries(session, PERIOD, None, limit=3)
        english = await top_queries(session, PERIOD, "en")
        words = await top_terms(session, PERIOD, None)
        arabic_words = await top_terms(session, PERIOD, "ar", limit=2)
    # "Where is my order?" (3 no match) and "where is my order" (2 + 1 answer, 1 suggest)
    # are one question once normalised
    assert queries[0] == {
        "query": "where is my order",  # its most frequent wording (4 times against 3)
        "normalized": "where is my order",
        "lang": "en",
        "count": 3 + 2 + 1 + 1,
        "answer": 3,
        "suggest": 1,
        "no_match": 3,
        "helpful": 2,
        "not_helpful": 0,
    }
    assert (queries[1]["normalized"], queries[1]["count"]) == ("اين طلبي", 2 + 1 + 1)
    assert len(queries) == 3
    assert {q["lang"] for q in english} == {"en"}
    assert sum(q["count"] for q in english) == 7 + 1 + 1 + 1 + 1 + 1 + 1 + 1  # in the period
    # terms: stop words gone; each question counts once per term
    vocabulary = {w["stem"] for w in words}
    assert not vocabulary & {"where", "is", "my", "can", "i", "with", "اين", "كيف"}
    order = next(w for w in words if w["stem"] == "order")
    # every English question but the bitcoin ones mentions an order ("ordr" is a typo)
    # + "where's my order??", "...orders", "cancel my order", "order, order, ORDER!"
    assert order["count"] == 7 + 1 + 1 + 1 + 1
    assert order["term"] == "order"
    assert words[0] == order
    # 7 Arabic questions; the typo "طلبيي" stems to another term
    assert arabic_words[0] == {"term": "طلبي", "stem": "طلب", "lang": "ar", "count": 7 - 1}
    assert {w["lang"] for w in arabic_words} == {"ar"}


def test_terms_drop_stop_words_numbers_and_single_letters() -> None:
    assert terms("Where's my order #12345? I want a refund", "en") == [
        ("order", "order"),
        ("refund", "refund"),
    ]
    assert [s for s, _ in terms("وين فلوسي؟ ابغى استرداد المبلغ", "ar")] == [
        "اموال",
        "استرداد",
        "مبلغ",
    ]
    assert "اين" in STOP_WORDS and "where" in STOP_WORDS


async def test_article_stats_views_feedback_and_handoffs(db: Database) -> None:
    delivery = await _article(db, "delivery", "en", "shipping")
    refunds = await _article(db, "refunds", "en", "billing")
    unused = await _article(db, "unused", "en")
    arabic = await _article(db, "delivery-ar", "ar", "shipping")
    tickets = []
    async with db.transaction() as session:
        for i in range(3):
            customer = await touch_customer(
                session,
                channel="test",
                external_id=str(i),
                name=f"C{i}",
                username=None,
                language_code="en",
                default_language="en",
                at=at(0),
            )
            ticket = await current_ticket(session, customer, at(0))
            tickets.append((customer.id, ticket.id))
    (c0, t0), (c1, t1), (c2, t2) = tickets

    # ticket 0: answered with "delivery", not helpful, then asked for a person
    await _log(
        db,
        "where is my parcel",
        "en",
        "answer",
        best=delivery,
        helpful=False,
        ticket_id=t0,
        customer_id=c0,
        when=at(100),
    )
    # ticket 1: asked for a person first, then answered with "delivery" (helpful): not led
    clock = VirtualClock(at(150))
    handoff = HandoffService(db, clock, MemoryPort(), HandoffConfig())
    await handoff.start(run_timers=False)
    assert (await handoff.request_human(t1, reason="test")).state == "queued"
    clock.set(at(200))
    assert (await handoff.request_human(t0, reason="test")).state == "queued"
    await handoff.stop()
    await _log(
        db,
        "delivery time",
        "en",
        "answer",
        best=delivery,
        helpful=True,
        ticket_id=t1,
        customer_id=c1,
        when=at(300),
    )
    # ticket 2: suggestions (delivery, refunds); the customer opens "refunds" and says it helped
    [suggest_id] = await _log(
        db,
        "money back",
        "en",
        "suggest",
        best=delivery,
        suggested=[delivery, refunds],
        ticket_id=t2,
        customer_id=c2,
        when=at(400),
    )
    faq = FaqService(db)
    async with db.transaction() as session:
        ticket2 = await session.get(Ticket, t2)
        assert ticket2 is not None
        await record_message(
            session,
            ticket2,
            sender="bot",
            text="Refunds take 5 days. Did it help?",
            at=at(410),
            meta={"query_id": suggest_id, "article_id": refunds, "outcome": "suggestion"},
        )
        entry = await faq.record_feedback(
            session, suggest_id, True, at(420), customer_id=c2, article_id=refunds
        )
        assert entry is not None and entry.best_article_id == refunds
    # outside the period: not counted
    await _log(db, "where is my parcel", "en", "answer", best=delivery, when=at(-10))
    await _log(db, "وين الطلب", "ar", "answer", best=arabic, helpful=True, when=at(500))

    async with db.transaction() as session:
        stats = await article_stats(session, PERIOD, "en")
        every = await article_stats(session, PERIOD, None)
    by_id = {s["article_id"]: s for s in stats}
    assert set(by_id) == {delivery, refunds, unused}
    assert [s["article_id"] for s in stats][:2] == [delivery, refunds]
    d = by_id[delivery]
    assert (d["views"], d["answered"], d["chosen"], d["suggested"]) == (2, 2, 0, 1)
    assert (d["helpful"], d["not_helpful"], d["helpful_rate"]) == (1, 1, 1 / 2)
    assert (d["led_to_handoff"], d["handoff_rate"]) == (1, 1 / 2)  # ticket 0 only
    r = by_id[refunds]
    assert (r["views"], r["answered"], r["chosen"], r["suggested"]) == (1, 0, 1, 1)
    assert (r["helpful"], r["not_helpful"], r["led_to_handoff"]) == (1, 0, 0)
    u = by_id[unused]
    assert (u["views"], u["helpful_rate"], u["handoff_rate"]) == (0, None, None)
    assert {s["article_id"]: s["views"] for s in every}[arabic] == 1
    assert len(every) == 4


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_similarity_key_folds_spelling(lang: str) -> None:
    if lang == "en":
        assert similarity_key("Where is my ORDERS?!", "en") == similarity_key(
            "where is my order", "en"
        )
    else:
        assert similarity_key("أين طلبي؟", "ar") == similarity_key("وين طلبى", "ar")
