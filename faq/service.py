"""FAQ self-service: the live match index over published articles, and answering a question.

:class:`FaqService` keeps an in-memory :class:`~faq.matcher.MatchIndex` over the published
articles and rebuilds it when they change: at once after a change made through it, and within
``refresh_s`` seconds after a change made by another process (the CLI, another Sanad instance),
which it notices from a cheap fingerprint query.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from faq.articles import ArticleIn, count_articles, upsert_articles, validate_article
from faq.matcher import DEFAULT_THRESHOLDS, Entry, MatchIndex, Outcome, Thresholds
from faq.normalize import detect_language
from storage.db import Database
from storage.events import record_event
from storage.models import Article, QueryLog

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1_000


@dataclass(frozen=True)
class ArticleView:
    """What the bot needs of an article to show it, without a database read."""

    id: int
    slug: str
    lang: str
    question: str
    answer: str
    category: str


@dataclass(frozen=True)
class Reply:
    """The decision for one customer question, resolved to articles."""

    outcome: Outcome
    articles: tuple[ArticleView, ...]
    query_id: int
    score: float | None
    lang: str


def thresholds_from(
    answer_min: float | None, answer_margin: float | None, suggest_min: float | None
) -> Thresholds:
    """The tuned defaults, with any configured value put in its place."""
    base = DEFAULT_THRESHOLDS
    return Thresholds(
        answer_min=base.answer_min if answer_min is None else answer_min,
        answer_margin=base.answer_margin if answer_margin is None else answer_margin,
        suggest_min=base.suggest_min if suggest_min is None else suggest_min,
        max_suggestions=base.max_suggestions,
    )


def sample_articles() -> list[ArticleIn]:
    """The bilingual online-shop FAQ that ships with Sanad."""
    text = resources.files("faq").joinpath("data/sample_faq.jsonl").read_text("utf-8")
    return [validate_article(json.loads(line)) for line in text.splitlines() if line.strip()]


async def load_sample_if_empty(session: AsyncSession, at: datetime) -> int:
    """First run: an empty FAQ gets the sample articles. Returns how many were loaded."""
    if await count_articles(session):
        return 0
    result = await upsert_articles(session, sample_articles(), at, actor="system")
    return len(result.created)


class FaqService:
    def __init__(
        self,
        db: Database,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        refresh_s: float = 2.0,
    ) -> None:
        self.db = db
        self.thresholds = thresholds
        self.refresh_s = refresh_s
        self._index = MatchIndex.build([])
        self._articles: dict[int, ArticleView] = {}
        self._fingerprint: tuple[int, int, str] | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def index(self) -> MatchIndex:
        return self._index

    def article(self, article_id: int) -> ArticleView | None:
        return self._articles.get(article_id)

    async def _current_fingerprint(self, session: AsyncSession) -> tuple[int, int, str]:
        row = (
            await session.execute(
                select(func.count(Article.id), func.max(Article.id), func.max(Article.updated_at))
            )
        ).one()
        return int(row[0]), int(row[1] or 0), str(row[2])

    async def reload(self) -> int:
        """Rebuild the index from the published articles now. Returns their number."""
        async with self._lock, self.db.transaction() as session:
            fingerprint = await self._current_fingerprint(session)
            rows = (
                (await session.execute(select(Article).where(Article.status == "published")))
                .scalars()
                .all()
            )
        views = {
            r.id: ArticleView(r.id, r.slug, r.lang, r.question, r.answer, r.category) for r in rows
        }
        entries = [Entry(str(r.id), r.lang, (r.question, *r.phrasings)) for r in rows]
        started = time.perf_counter()
        index = await asyncio.to_thread(MatchIndex.build, entries)
        self._index, self._articles = index, views
        self._fingerprint = fingerprint
        self._checked_at = time.monotonic()
        log.info(
            "FAQ index rebuilt: %d articles in %.0f ms",
            len(views),
            (time.perf_counter() - started) * 1000,
        )
        return len(views)

    async def refresh_if_changed(self, session: AsyncSession) -> None:
        """Rebuild when another process changed the articles (checked every ``refresh_s``)."""
        now = time.monotonic()
        if now - self._checked_at < self.refresh_s:
            return
        self._checked_at = now
        if await self._current_fingerprint(session) != self._fingerprint:
            await self.reload()

    async def answer(
        self,
        session: AsyncSession,
        text: str,
        *,
        language: str,
        at: datetime,
        customer_id: int | None = None,
        ticket_id: int | None = None,
    ) -> Reply:
        """Match a customer question and log it (best article, score, outcome) in ``session``.

        The language of the question itself decides the partition searched (an Arabic question
        from a customer whose interface is English gets Arabic articles); ``language`` is the
        fallback when the text has no letters.
        """
        await self.refresh_if_changed(session)
        query = text.strip()[:MAX_QUERY_CHARS]
        lang = detect_language(query) if any(c.isalpha() for c in query) else language
        decision = self._index.decide(query, lang, self.thresholds)
        views = tuple(
            v for h in decision.hits if (v := self._articles.get(int(h.article_id))) is not None
        )
        best = decision.best
        best_id = int(best.article_id) if best is not None else None
        entry = QueryLog(
            customer_id=customer_id,
            ticket_id=ticket_id,
            query=query,
            lang=lang,
            outcome=decision.outcome.value,
            best_article_id=best_id if best_id in self._articles else None,
            score=best.score if best is not None else None,
            suggested_article_ids=[h.article_id for h in decision.hits],
            helpful=None,
            created_at=at,
        )
        session.add(entry)
        await session.flush()
        return Reply(decision.outcome, views, entry.id, entry.score, lang)

    async def record_feedback(
        self,
        session: AsyncSession,
        query_id: int,
        helpful: bool,
        at: datetime,
        *,
        customer_id: int | None,
        article_id: int | None = None,
    ) -> QueryLog | None:
        """ "Did this help?" pressed. Only the customer who asked can answer for their query."""
        entry = await session.get(QueryLog, query_id)
        if entry is None or entry.customer_id != customer_id:
            return None
        entry.helpful = helpful
        if article_id is not None:
            entry.best_article_id = article_id
        record_event(
            session,
            "faq_feedback",
            at,
            ticket_id=entry.ticket_id,
            customer_id=customer_id,
            actor="customer",
            query_id=query_id,
            helpful=helpful,
            article_id=entry.best_article_id,
        )
        return entry
