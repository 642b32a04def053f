"""The shapes of the FAQ gaps routes (``/api/v1/gaps/...``): what customers asked that the bot
could not answer, and the article or phrasing an editor makes of it. Kept apart from
:mod:`web.shapes` (the same rules hold: responses checked against them, the OpenAPI document
generated from them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from faq.articles import STATUSES
from web.shapes import Out


class QueryRow(Out):
    """A question as customers asked it (same normalised text and language)."""

    query: str
    normalized: str
    lang: str
    count: int
    answer: int
    suggest: int
    no_match: int
    helpful: int
    not_helpful: int


class TermRow(Out):
    term: str
    stem: str
    lang: str
    count: int


class ReasonCounts(Out):
    no_match: int
    not_helpful: int


class UnansweredGroup(Out):
    """Unanswered or not-helpful questions that look alike."""

    id: str
    representative: str
    count: int
    queries: list[str]
    lang: str
    best_article_id: int | None
    reason_counts: ReasonCounts


class ArticleUse(Out):
    article_id: int
    slug: str
    lang: str
    question: str
    category: str
    status: str
    views: int
    answered: int
    chosen: int
    suggested: int
    helpful: int
    not_helpful: int
    helpful_rate: float | None
    led_to_handoff: int
    handoff_rate: float | None


class QueriesOut(Out):
    items: list[QueryRow]


class TermsOut(Out):
    items: list[TermRow]


class UnansweredOut(Out):
    items: list[UnansweredGroup]


class ArticleUsesOut(Out):
    items: list[ArticleUse]


def _lines(value: object) -> object:
    """A form's textarea: one entry per line."""
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    return value


TextLines = Annotated[list[str] | None, BeforeValidator(_lines)]


class GapPeriod(BaseModel):
    """The period a group is looked up in may come in the body too (a form posts it)."""

    model_config = ConfigDict(extra="ignore")

    period: str | None = None
    start: str | None = None
    end: str | None = None
    tz: str | None = None


class GapArticleIn(GapPeriod):
    """A new article for an unanswered group (editor, admin)."""

    id: str | None = Field(default=None, description="the article's slug (required; or 'slug')")
    slug: str | None = None
    lang: str | None = Field(default=None, description="default: the group's")
    question: str | None = Field(default=None, description="default: the group's representative")
    answer: str | None = Field(default=None, description="required")
    phrasings: TextLines = Field(default=None, description="default: the group's questions")
    category: str | None = None
    tags: TextLines = None
    status: str | None = Field(default=None, json_schema_extra={"enum": [*STATUSES, None]})


class GapPhrasingIn(GapPeriod):
    """The existing article that gets a group's questions as phrasings."""

    article_id: int | None = Field(default=None, description="the article's number")
    id: str | None = Field(default=None, description="or its slug (with lang)")
    slug: str | None = None
    lang: str | None = None


class GapArticle(Out):
    """An article as the gaps routes show it (``id`` is the slug)."""

    article_id: int
    id: str
    lang: str
    question: str
    phrasings: list[str]
    answer: str
    category: str
    tags: list[str]
    status: str


class GapArticleOut(Out):
    article: GapArticle
    group: UnansweredGroup


class GapPhrasingOut(Out):
    article: GapArticle
    added: list[str]
    group: UnansweredGroup
