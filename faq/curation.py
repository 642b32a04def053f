"""FAQ curation: what editors read and change (the web API and pages use it).

Every read and every write is one transaction; the writes go through :mod:`faq.articles`,
which writes their events. The caller rebuilds the bot's match index afterwards
(``FaqService.reload``). Rows never leave a transaction: reads return :class:`StoredArticle`.
Errors say what is wrong: :class:`ArticleError` (a bad article), :class:`NotFound`,
:class:`Conflict`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from base.periods import Period
from faq import gaps
from faq.articles import (
    ArticleError,
    ArticleIn,
    UpsertResult,
    get_article,
    list_articles,
    remove_article,
    to_article_in,
    upsert_articles,
    validate_article,
)
from faq.service import FaqService
from storage.db import Database
from storage.models import Article

__all__ = [
    "ArticleError",
    "ArticleFilters",
    "Conflict",
    "NotFound",
    "StoredArticle",
    "article_choices",
    "create_article",
    "delete_article",
    "export_articles",
    "find_articles",
    "find_group",
    "gap_table",
    "gaps_overview",
    "group_to_article",
    "group_to_phrasings",
    "import_articles",
    "load_article",
    "refresh_index",
    "update_article",
]

GAP_TABLES = ("queries", "terms", "unanswered", "articles")


class NotFound(LookupError):
    """The article or group asked for does not exist; the message says which."""


class Conflict(ValueError):
    """The change collides with what is stored (an article that exists already)."""


@dataclass(frozen=True)
class StoredArticle:
    """An article as stored: its database id, the record, and when it was written."""

    id: int
    slug: str
    lang: str
    question: str
    answer: str
    phrasings: tuple[str, ...]
    category: str
    tags: tuple[str, ...]
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Article) -> StoredArticle:
        return cls(
            id=row.id,
            slug=row.slug,
            lang=row.lang,
            question=row.question,
            answer=row.answer,
            phrasings=tuple(row.phrasings),
            category=row.category,
            tags=tuple(row.tags),
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def article_in(self) -> ArticleIn:
        """The JSON Lines record of this article (``id`` is its slug)."""
        return ArticleIn(
            id=self.slug,
            lang=self.lang,
            question=self.question,
            answer=self.answer,
            phrasings=self.phrasings,
            category=self.category,
            tags=self.tags,
            status=self.status,
        )


@dataclass(frozen=True)
class ArticleFilters:
    lang: str | None = None
    status: str | None = None
    category: str | None = None
    q: str | None = None


def _matches(row: Article, q: str) -> bool:
    needle = q.casefold()
    texts = (row.slug, row.question, row.answer, row.category, *row.phrasings, *row.tags)
    return any(needle in text.casefold() for text in texts)


async def find_articles(db: Database, filters: ArticleFilters) -> list[StoredArticle]:
    """The articles passing the filters (``q``: text anywhere in them), by slug and language."""
    query = select(Article).order_by(Article.slug, Article.lang)
    if filters.lang:
        query = query.where(Article.lang == filters.lang)
    if filters.status:
        query = query.where(Article.status == filters.status)
    if filters.category:
        query = query.where(Article.category == filters.category)
    async with db.transaction() as session:
        rows = list((await session.execute(query)).scalars().all())
        if filters.q:
            rows = [r for r in rows if _matches(r, filters.q)]
        return [StoredArticle.of(r) for r in rows]


async def load_article(db: Database, article_id: int) -> StoredArticle:
    async with db.transaction() as session:
        row = await session.get(Article, article_id)
        if row is None:
            raise NotFound(f"no article with id {article_id}")
        return StoredArticle.of(row)


def _exists(article: ArticleIn) -> Conflict:
    return Conflict(f"article {article.id!r} ({article.lang}) already exists: change it with PUT")


async def create_article(
    db: Database, article: ArticleIn, at: datetime, actor: str
) -> StoredArticle:
    """A new article; :class:`Conflict` when its id and language are taken."""
    try:
        async with db.transaction() as session:
            if await get_article(session, article.id, article.lang) is not None:
                raise _exists(article)
            await upsert_articles(session, [article], at, actor=actor)
            row = await get_article(session, article.id, article.lang)
            assert row is not None
            return StoredArticle.of(row)
    except IntegrityError:  # created by somebody else at the same moment
        raise _exists(article) from None


async def update_article(
    db: Database,
    article_id: int,
    change: Callable[[StoredArticle], ArticleIn],
    at: datetime,
    actor: str,
) -> StoredArticle:
    """Replace an article with ``change(current)`` (which validates, given what is stored),
    in the same transaction as the read."""
    async with db.transaction() as session:
        row = await session.get(Article, article_id)
        if row is None:
            raise NotFound(f"no article with id {article_id}")
        article = change(StoredArticle.of(row))
        await upsert_articles(session, [article], at, actor=actor)
        return StoredArticle.of(row)


async def delete_article(db: Database, article_id: int, at: datetime, actor: str) -> StoredArticle:
    async with db.transaction() as session:
        row = await session.get(Article, article_id)
        if row is None:
            raise NotFound(f"no article with id {article_id}")
        gone = StoredArticle.of(row)
        await remove_article(session, row.slug, row.lang, at, actor=actor)
        return gone


async def import_articles(
    db: Database, articles: Sequence[ArticleIn], at: datetime, actor: str
) -> UpsertResult:
    """Create or update the articles of a checked import file, all in one transaction."""
    async with db.transaction() as session:
        return await upsert_articles(session, articles, at, actor)


async def export_articles(db: Database, lang: str | None) -> list[ArticleIn]:
    async with db.transaction() as session:
        return [to_article_in(r) for r in await list_articles(session, lang=lang)]


async def article_choices(db: Database) -> list[dict[str, Any]]:
    """Every article as ``id, slug, lang`` (the gaps page's "add as phrasings of" menu)."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Article.id, Article.slug, Article.lang).order_by(Article.slug, Article.lang)
            )
        ).all()
    return [{"id": a, "slug": s, "lang": lg} for a, s, lg in rows]


async def refresh_index(db: Database, faq: FaqService) -> None:
    """Rebuild the match index if another process changed the articles."""
    async with db.transaction() as session:
        await faq.refresh_if_changed(session)


# ---------------------------------------------------------------------- knowledge gaps


async def gap_table(
    db: Database, kind: str, period: Period, lang: str | None, limit: int
) -> list[dict[str, Any]]:
    """One table of :mod:`faq.gaps`: ``queries``, ``terms``, ``unanswered`` or ``articles``."""
    async with db.transaction() as session:
        if kind == "queries":
            return await gaps.top_queries(session, period, lang, limit)
        if kind == "terms":
            return await gaps.top_terms(session, period, lang, limit)
        if kind == "unanswered":
            return await gaps.unanswered_groups(session, period, lang, limit)
        if kind == "articles":
            return (await gaps.article_stats(session, period, lang))[:limit]
    raise ValueError(f"unknown gaps table {kind!r}; expected one of {', '.join(GAP_TABLES)}")


async def gaps_overview(
    db: Database, period: Period, lang: str | None
) -> dict[str, list[dict[str, Any]]]:
    """The four tables of the gaps page, read in one transaction."""
    async with db.transaction() as session:
        return {
            "terms": await gaps.top_terms(session, period, lang, 30),
            "queries": await gaps.top_queries(session, period, lang, 20),
            "groups": await gaps.unanswered_groups(session, period, lang, 30),
            "articles": await gaps.article_stats(session, period, lang),
        }


async def find_group(db: Database, period: Period, group_id: str) -> dict[str, Any]:
    """An unanswered group of the period by its id."""
    async with db.transaction() as session:
        groups = await gaps.unanswered_groups(session, period, None, limit=100_000)
    for group in groups:
        if group["id"] == group_id:
            return group
    raise NotFound(f"no unanswered group {group_id!r} in this period (the list may have changed)")


async def group_to_article(
    db: Database, article: ArticleIn, at: datetime, actor: str
) -> StoredArticle:
    """A new article answering a group's questions; :class:`Conflict` when it exists."""
    async with db.transaction() as session:
        if await get_article(session, article.id, article.lang) is not None:
            raise Conflict(
                f"article {article.id}/{article.lang} already exists; add the questions "
                "as its phrasings instead"
            )
        await upsert_articles(session, [article], at, actor=actor)
        row = await get_article(session, article.id, article.lang)
        assert row is not None
        return StoredArticle.of(row)


@dataclass(frozen=True)
class ArticleRef:
    """An article named by its number, or by its slug and language."""

    article_id: int | None = None
    slug: str | None = None
    lang: str | None = None


async def group_to_phrasings(
    db: Database, group: dict[str, Any], target: ArticleRef, at: datetime, actor: str
) -> tuple[StoredArticle, list[str]]:
    """Add the group's questions as phrasings of an existing article of the same language:
    the article and the phrasings added."""
    async with db.transaction() as session:
        if target.article_id is not None:
            row = await session.get(Article, target.article_id)
        else:
            row = await get_article(session, target.slug or "", target.lang or group["lang"])
        if row is None:
            raise NotFound("no such article")
        if row.lang != group["lang"]:
            raise ArticleError(
                f"article {row.slug} is in {row.lang!r} but this group's questions are in "
                f"{group['lang']!r}"
            )
        existing = [row.question, *row.phrasings]
        added = [q for q in group["queries"] if q not in existing]
        record = to_article_in(row).as_record()
        record["phrasings"] = [*row.phrasings, *added]
        await upsert_articles(session, [validate_article(record)], at, actor=actor)
        return StoredArticle.of(row), added
