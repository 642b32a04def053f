"""FAQ articles: validation and the named actions that change them.

An article is identified across imports and exports by ``(id, lang)``: the same ``id`` in English
and Arabic are two translations of one article. Every change writes an event row in the same
transaction as the change itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import record_event
from storage.models import Article

LANGUAGES = ("en", "ar")
STATUSES = ("published", "draft")
SLUG_RE = re.compile(r"^[^\s/\\]{1,128}$")
MAX_QUESTION = 1_000
MAX_ANSWER = 20_000
MAX_PHRASINGS = 200
MAX_TAGS = 30
MAX_TAG = 64
MAX_CATEGORY = 64


class ArticleError(ValueError):
    """An article that cannot be stored; the message says which field and why."""


@dataclass(frozen=True)
class ArticleIn:
    """A validated article as editors write it (CLI, import file, API)."""

    id: str
    lang: str
    question: str
    answer: str
    phrasings: tuple[str, ...] = ()
    category: str = ""
    tags: tuple[str, ...] = ()
    status: str = "published"

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lang": self.lang,
            "category": self.category,
            "tags": list(self.tags),
            "question": self.question,
            "phrasings": list(self.phrasings),
            "answer": self.answer,
            "status": self.status,
        }


def _text(record: dict[str, Any], key: str, limit: int, required: bool) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise ArticleError(f"'{key}' is missing")
        return ""
    if not isinstance(value, str):
        raise ArticleError(f"'{key}' must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise ArticleError(f"'{key}' is empty")
    if len(value) > limit:
        raise ArticleError(f"'{key}' is longer than {limit} characters")
    return value


def _text_list(record: dict[str, Any], key: str, limit: int, item_limit: int) -> tuple[str, ...]:
    value = record.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        raise ArticleError(f"'{key}' must be a list of texts")
    if not isinstance(value, list | tuple):
        raise ArticleError(f"'{key}' must be a list of texts, got {type(value).__name__}")
    if len(value) > limit:
        raise ArticleError(f"'{key}' has more than {limit} entries")
    items: list[str] = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise ArticleError(f"'{key}' entry {i} must be text")
        item = item.strip()
        if not item:
            continue
        if len(item) > item_limit:
            raise ArticleError(f"'{key}' entry {i} is longer than {item_limit} characters")
        if item not in items:
            items.append(item)
    return tuple(items)


def validate_article(record: dict[str, Any]) -> ArticleIn:
    """Check one article record (the JSON Lines shape) and return it cleaned up."""
    if not isinstance(record, dict):
        raise ArticleError("an article must be a JSON object")
    known = {"id", "lang", "question", "answer", "phrasings", "category", "tags", "status"}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ArticleError(f"unknown field(s): {', '.join(unknown)}")
    raw_id = record.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        record = {**record, "id": str(raw_id)}
    slug = _text(record, "id", 128, required=True)
    if not SLUG_RE.match(slug):
        raise ArticleError(f"'id' {slug!r} must not contain spaces or slashes")
    lang = _text(record, "lang", 8, required=True).lower()
    if lang not in LANGUAGES:
        raise ArticleError(f"'lang' must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    question = _text(record, "question", MAX_QUESTION, required=True)
    answer = _text(record, "answer", MAX_ANSWER, required=True)
    phrasings = tuple(
        p for p in _text_list(record, "phrasings", MAX_PHRASINGS, MAX_QUESTION) if p != question
    )
    category = _text(record, "category", MAX_CATEGORY, required=False).lower()
    tags = tuple(t.lower() for t in _text_list(record, "tags", MAX_TAGS, MAX_TAG))
    status = (_text(record, "status", 16, required=False) or "published").lower()
    if status not in STATUSES:
        raise ArticleError(f"'status' must be one of {', '.join(STATUSES)}, got {status!r}")
    return ArticleIn(slug, lang, question, answer, phrasings, category, tags, status)


def to_article_in(row: Article) -> ArticleIn:
    return ArticleIn(
        id=row.slug,
        lang=row.lang,
        question=row.question,
        answer=row.answer,
        phrasings=tuple(row.phrasings),
        category=row.category,
        tags=tuple(row.tags),
        status=row.status,
    )


@dataclass
class UpsertResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def get_article(session: AsyncSession, slug: str, lang: str) -> Article | None:
    result = await session.execute(
        select(Article).where(Article.slug == slug, Article.lang == lang)
    )
    return result.scalar_one_or_none()


async def list_articles(
    session: AsyncSession,
    *,
    lang: str | None = None,
    status: str | None = None,
    slug: str | None = None,
) -> Sequence[Article]:
    query = select(Article).order_by(Article.slug, Article.lang)
    if lang:
        query = query.where(Article.lang == lang)
    if status:
        query = query.where(Article.status == status)
    if slug:
        query = query.where(Article.slug == slug)
    return (await session.execute(query)).scalars().all()


async def count_articles(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Article.id)))).scalar_one())


async def upsert_articles(
    session: AsyncSession, articles: Iterable[ArticleIn], at: datetime, actor: str = "editor"
) -> UpsertResult:
    """Create or update articles by ``(id, lang)``; unchanged ones are left alone."""
    result = UpsertResult()
    for art in articles:
        key = f"{art.id}/{art.lang}"
        row = await get_article(session, art.id, art.lang)
        if row is None:
            row = Article(
                slug=art.id,
                lang=art.lang,
                question=art.question,
                answer=art.answer,
                phrasings=list(art.phrasings),
                category=art.category,
                tags=list(art.tags),
                status=art.status,
                created_at=at,
                updated_at=at,
            )
            session.add(row)
            result.created.append(key)
            kind = "article_created"
        elif to_article_in(row) == art:
            result.unchanged.append(key)
            continue
        else:
            row.question = art.question
            row.answer = art.answer
            row.phrasings = list(art.phrasings)
            row.category = art.category
            row.tags = list(art.tags)
            row.status = art.status
            row.updated_at = at
            result.updated.append(key)
            kind = "article_updated"
        record_event(session, kind, at, actor=actor, article=art.id, lang=art.lang)
    return result


async def remove_article(
    session: AsyncSession, slug: str, lang: str | None, at: datetime, actor: str = "editor"
) -> list[str]:
    """Delete an article (one language, or every language when ``lang`` is None)."""
    rows = await list_articles(session, slug=slug, lang=lang)
    removed = []
    for row in rows:
        removed.append(f"{row.slug}/{row.lang}")
        await session.delete(row)
        record_event(session, "article_removed", at, actor=actor, article=row.slug, lang=row.lang)
    return removed
