"""The shapes of the suggested-articles routes (``/api/v1/gaps/suggestions``): articles drafted
from what agents answered (:mod:`faq.drafts`). Kept apart from :mod:`web.shapes`, which is at
its size limit; the same rules hold (responses checked against them, the OpenAPI document
generated from them)."""

from __future__ import annotations

from pydantic import Field

from web.shapes import Instant, Out
from web.shapes_gaps import GapArticle, GapPeriod, TextLines


class SuggestedArticle(Out):
    """A suggested article: what customers asked again and again, and what agents answered."""

    id: str = Field(description="stable while its most representative answer stays the same")
    lang: str
    question: str = Field(description="the most representative customer phrasing")
    phrasings: list[str] = Field(description="other distinct phrasings (a few)")
    answer: str = Field(description="the most representative agent reply")
    tickets: int = Field(description="distinct tickets it recurs in, in the period")
    replies: int = Field(description="agent replies in the group")
    example_ticket_ids: list[int] = Field(description="the latest tickets, newest first")
    last_at: Instant
    slug: str = Field(description="a slug to start from (the question's first words)")


class SuggestionsOut(Out):
    items: list[SuggestedArticle]


class DraftIn(GapPeriod):
    """A draft article from a suggestion, as edited (editor, admin). Unset fields take the
    suggestion's."""

    id: str | None = Field(default=None, description="the article's slug (or 'slug')")
    slug: str | None = None
    question: str | None = Field(default=None, description="default: the suggestion's")
    answer: str | None = Field(default=None, description="default: the suggestion's")
    phrasings: TextLines = Field(default=None, description="default: the suggestion's")
    category: str | None = None


class DraftOut(Out):
    article: GapArticle = Field(description="the new article, status 'draft'")
    suggestion: SuggestedArticle
