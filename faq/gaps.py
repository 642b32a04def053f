"""FAQ gaps: what customers ask, what the FAQ does not answer, and how each article does.

Read from the query log (one row per question the bot tried to answer, written by
:meth:`faq.service.FaqService.answer`, with the customer's "Did this help?" stored on it by
:meth:`~faq.service.FaqService.record_feedback`), the bot's transcript messages (a suggestion
the customer opened is a bot message with ``meta.outcome == "suggestion"``) and the
``handoff_requested`` events. A row is in the period when its own ``created_at`` is.

* :func:`top_queries`: the most frequent questions, compared after :func:`~base.normalize.
  normalize` (case, punctuation, Arabic letter forms folded), with their outcome mix.
* :func:`top_terms`: the most frequent words: normalised, stop words, numbers and one-letter
  words removed, light-stemmed (:func:`~base.normalize.tokenize`); counted once per question.
* :func:`unanswered_groups`: questions with no match, or answered (directly or by an opened
  suggestion) and marked "not helpful", grouped by similarity (see :func:`cluster`); a
  question whose wording an editor has since added to an article is fixed, and left out.
* :func:`article_stats`: per article, times shown, helpful / not helpful, and how many of those
  showings a request for a person followed in the same exchange.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from base.normalize import normalize, stem_words
from base.periods import Period
from storage.models import Article, Event, Message, QueryLog

__all__ = [
    "SIMILARITY_THRESHOLD",
    "STOP_WORDS",
    "article_stats",
    "cluster",
    "known_wordings",
    "similarities",
    "similarity_key",
    "terms",
    "top_queries",
    "top_terms",
    "unanswered_groups",
]

# Two questions are in one group when the similarity of their keys reaches this (0-100).
SIMILARITY_THRESHOLD = 85.0
MAX_GROUP_EXAMPLES = 10
_IN_BATCH = 1000  # ids per IN (...) list, well under the drivers' parameter limits
OUTCOMES = ("answer", "suggest", "no_match")

_ENGLISH_STOP = """
a about above after again against all am an and any are aren as at be because been before
being below between both but by can cannot could couldn did didn do does doesn doing don down
during each few for from further had hadn has hasn have haven having he her here hers herself
him himself his how i if in into is isn it its itself just let me more most mustn my myself no
nor not now of off on once only or other ought our ours ourselves out over own same shan she
should shouldn so some such than that the their theirs them themselves then there these they
this those through to too under until up very was wasn we were weren what when where which
while who whom why will with won would wouldn you your yours yourself yourselves
hi hello hey please pls plz thanks thank thx ok okay yes want wanna need would like get got
im ive id dont cant wont doesnt didnt isnt whats wheres hows s t d ll m re ve
"""
_ARABIC_STOP = """
من الى إلى عن على في مع هل ما ماذا لماذا كيف اين أين متى كم اي أي هذا هذه ذلك تلك هو هي
هم انا أنا انت أنت نحن انتم أنتم التي الذي الذين او أو و ثم لا لم لن ان أن إن كان يكون قد
لقد كل بعض غير عند عندي عندك لدي لي لك له لها فيه فيها به بها منه منها عليه عليها اذا إذا لو
يا ايضا أيضا الان الآن هناك هنا جدا ليس لكن بس حتى قبل بعد
مرحبا السلام عليكم سلام اهلا أهلا شكرا شكراً سمحت فضلك ممكن رجاء ارجو أرجو
اريد أريد ابغى ابغي ابي أبي بدي عايز عاوز ودي وين فين شو ايش إيش وش شنو ليش ليه
حقي تبعي بتاعي ديالي
"""
# Compared after normalisation (so أين and اين are one entry), on the word and on its stem
# (so a dialect word the stemmer maps to a listed standard word is dropped too: وين -> اين).
STOP_WORDS: frozenset[str] = frozenset(normalize(w) for w in (_ENGLISH_STOP + _ARABIC_STOP).split())


# ---------------------------------------------------------------------- text


def terms(text: str, lang: str | None) -> list[tuple[str, str]]:
    """``(stem, word)`` for each search term of ``text``: normalised words without stop words,
    numbers and one-letter words, light-stemmed."""
    words = normalize(text).split()
    stems = stem_words(words, lang)
    return [
        (stem, word)
        for word, stem in zip(words, stems, strict=True)
        if len(word) > 1
        and not word.isdigit()
        and word not in STOP_WORDS
        and stem not in STOP_WORDS
    ]


def similarity_key(text: str, lang: str | None) -> str:
    """What two questions are compared on: the normalised, light-stemmed words (dialect
    function words mapped to standard Arabic), stop words kept (they carry the intent)."""
    return " ".join(stem_words(normalize(text).split(), lang))


def similarities(seed: str, keys: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Mean of ``token_set_ratio`` and ``token_sort_ratio`` of ``seed`` to each key (0-100).

    ``token_set_ratio`` alone is 100 whenever one question's words are a subset of the
    other's ("my order" and "cancel my order"); ``token_sort_ratio`` counts the extra words.
    """
    as_set = process.cdist([seed], keys, scorer=fuzz.token_set_ratio, dtype=np.float64)[0]
    as_sort = process.cdist([seed], keys, scorer=fuzz.token_sort_ratio, dtype=np.float64)[0]
    result: np.ndarray[Any, np.dtype[np.float64]] = (as_set + as_sort) / 2.0
    return result


def cluster(
    weights: dict[str, int],
    threshold: float = SIMILARITY_THRESHOLD,
    *,
    block: Callable[[str], Iterable[str]] | None = None,
) -> list[tuple[str, list[str]]]:
    """Greedy clustering of similarity keys: the most frequent unassigned key (ties: in text
    order) seeds a group and takes every unassigned key whose similarity to it reaches
    ``threshold``. Members are compared with the seed only (no chaining), so a group never
    drifts away from its representative. Returns ``(seed, members)`` in seed order.

    ``block(seed)``, when given, names the only keys worth comparing with ``seed`` (those
    sharing enough words with it, from an inverted index): many thousands of distinct keys
    then cost about linear time instead of quadratic."""
    keys = sorted(weights, key=lambda k: (-weights[k], k))
    position = {k: i for i, k in enumerate(keys)}
    assigned = np.zeros(len(keys), dtype=bool)
    groups: list[tuple[str, list[str]]] = []
    for i, seed in enumerate(keys):
        if assigned[i]:
            continue
        members = [i]
        if block is None:
            rest = [j for j in range(i + 1, len(keys)) if not assigned[j]]
        else:
            rest = sorted(
                j for k in block(seed) if (j := position.get(k, -1)) > i and not assigned[j]
            )
        if seed and rest:  # a question of punctuation only is a group of its own
            scores = similarities(seed, [keys[j] for j in rest])
            members += [j for j, score in zip(rest, scores, strict=True) if score >= threshold]
        for j in members:
            assigned[j] = True
        groups.append((seed, [keys[j] for j in members]))
    return groups


def _group_id(lang: str, seed: str) -> str:
    return hashlib.sha1(f"{lang}:{seed}".encode()).hexdigest()[:12]


def _most_common_text(counter: Counter[str]) -> str:
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]


# ---------------------------------------------------------------------- loading


def _in_period(period: Period, lang: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        QueryLog.created_at >= period.start,
        QueryLog.created_at < period.end,
    ]
    if lang is not None:
        conditions.append(QueryLog.lang == lang)
    return conditions


@dataclass(frozen=True)
class _Query:
    id: int
    ticket_id: int | None
    query: str
    lang: str
    outcome: str
    best_article_id: int | None
    suggested: tuple[str, ...]
    helpful: bool | None
    created_at: datetime


async def _queries(
    session: AsyncSession, period: Period, lang: str | None, *extra: ColumnElement[bool]
) -> list[_Query]:
    rows = (
        await session.execute(
            select(
                QueryLog.id,
                QueryLog.ticket_id,
                QueryLog.query,
                QueryLog.lang,
                QueryLog.outcome,
                QueryLog.best_article_id,
                QueryLog.suggested_article_ids,
                QueryLog.helpful,
                QueryLog.created_at,
            )
            .where(*_in_period(period, lang), *extra)
            .order_by(QueryLog.id)
        )
    ).all()
    return [
        _Query(r[0], r[1], r[2], r[3], r[4], r[5], tuple(str(a) for a in r[6] or ()), r[7], r[8])
        for r in rows
    ]


# ---------------------------------------------------------------------- reports


async def top_queries(
    session: AsyncSession, period: Period, lang: str | None, limit: int = 20
) -> list[dict[str, Any]]:
    """The most frequent questions (same normalised text and language = same question):
    ``query`` (its most frequent wording), ``normalized``, ``lang``, ``count``, the outcome
    mix (``answer``, ``suggest``, ``no_match``) and the feedback (``helpful``,
    ``not_helpful``). Ordered by count, then text."""
    groups: dict[tuple[str, str], list[_Query]] = defaultdict(list)
    for q in await _queries(session, period, lang):
        groups[(q.lang, normalize(q.query))].append(q)
    result: list[dict[str, Any]] = []
    for (q_lang, normalized), rows in groups.items():
        outcomes = Counter(r.outcome for r in rows)
        result.append(
            {
                "query": _most_common_text(Counter(r.query for r in rows)),
                "normalized": normalized,
                "lang": q_lang,
                "count": len(rows),
                **{o: outcomes.get(o, 0) for o in OUTCOMES},
                "helpful": sum(1 for r in rows if r.helpful is True),
                "not_helpful": sum(1 for r in rows if r.helpful is False),
            }
        )
    result.sort(key=lambda g: (-g["count"], g["normalized"], g["lang"]))
    return result[:limit]


async def top_terms(
    session: AsyncSession, period: Period, lang: str | None, limit: int = 30
) -> list[dict[str, Any]]:
    """The most frequent search terms: ``term`` (the most frequent word with that stem),
    ``stem``, ``lang`` and ``count`` (questions containing it, each counted once)."""
    counts: Counter[tuple[str, str]] = Counter()
    words: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for q in await _queries(session, period, lang):
        seen: set[str] = set()
        for stem, word in terms(q.query, q.lang):
            words[(q.lang, stem)][word] += 1
            if stem not in seen:
                seen.add(stem)
                counts[(q.lang, stem)] += 1
    result: list[dict[str, Any]] = [
        {"term": _most_common_text(words[key]), "stem": key[1], "lang": key[0], "count": n}
        for key, n in counts.items()
    ]
    result.sort(key=lambda t: (-t["count"], t["stem"], t["lang"]))
    return result[:limit]


def _unanswered_reason(q: _Query) -> str | None:
    if q.outcome == "no_match":
        return "no_match"
    if q.helpful is False:
        return "not_helpful"
    return None


def _groups_of(rows: Sequence[_Query], lang: str, threshold: float) -> list[dict[str, Any]]:
    by_key: dict[str, list[_Query]] = defaultdict(list)
    for q in rows:
        by_key[similarity_key(q.query, lang)].append(q)
    result = []
    for seed, members in cluster({k: len(v) for k, v in by_key.items()}, threshold):
        group_rows = [q for k in members for q in by_key[k]]
        texts = Counter(q.query.strip() for q in group_rows)
        articles = Counter(q.best_article_id for q in group_rows if q.best_article_id is not None)
        reasons = Counter(_unanswered_reason(q) for q in group_rows)
        best = min(articles.items(), key=lambda a: (-a[1], a[0]))[0] if articles else None
        result.append(
            {
                "id": _group_id(lang, seed),
                "representative": _most_common_text(Counter(q.query.strip() for q in by_key[seed])),
                "count": len(group_rows),
                "queries": [t for t, _ in sorted(texts.items(), key=lambda x: (-x[1], x[0]))][
                    :MAX_GROUP_EXAMPLES
                ],
                "lang": lang,
                "best_article_id": best,
                "reason_counts": {
                    "no_match": reasons.get("no_match", 0),
                    "not_helpful": reasons.get("not_helpful", 0),
                },
            }
        )
    return result


async def unanswered_groups(
    session: AsyncSession,
    period: Period,
    lang: str | None,
    limit: int = 30,
    *,
    threshold: float = SIMILARITY_THRESHOLD,
) -> list[dict[str, Any]]:
    """Questions the FAQ did not answer (outcome ``no_match``, or shown an article and marked
    not helpful), grouped by similarity within each language (:func:`cluster` on
    :func:`similarity_key`). Each group: ``id`` (stable: a hash of the language and the seed's
    key), ``representative`` (the seed's most frequent wording), ``count`` (questions),
    ``queries`` (up to 10 distinct wordings, most frequent first), ``lang``,
    ``best_article_id`` (the most frequent best article, or None), ``reason_counts``.
    Ordered by count, then language and representative."""
    known = await known_wordings(session, lang)
    rows = [
        q
        for q in await _queries(
            session,
            period,
            lang,
            (QueryLog.outcome == "no_match") | (QueryLog.helpful.is_(False)),
        )
        if _unanswered_reason(q) is not None and not _fixed(q, known)
    ]
    by_lang: dict[str, list[_Query]] = defaultdict(list)
    for q in rows:
        by_lang[q.lang].append(q)
    groups: list[dict[str, Any]] = []
    for q_lang in sorted(by_lang):
        # rapidfuzz runs in C; a thread keeps a large period from stalling the event loop.
        groups += await asyncio.to_thread(_groups_of, by_lang[q_lang], q_lang, threshold)
    groups.sort(key=lambda g: (-g["count"], g["lang"], g["representative"], g["id"]))
    return groups[:limit]


async def known_wordings(
    session: AsyncSession, lang: str | None
) -> dict[tuple[str, str], datetime]:
    """Every wording an article has (question and phrasings), normalised, by language, with
    the last time an article holding it changed."""
    query = select(Article.lang, Article.question, Article.phrasings, Article.updated_at)
    if lang is not None:
        query = query.where(Article.lang == lang)
    known: dict[tuple[str, str], datetime] = {}
    for a_lang, question, phrasings, updated_at in (await session.execute(query)).all():
        for wording in (question, *(phrasings or ())):
            key = (a_lang, normalize(wording, a_lang))
            if key not in known or known[key] < updated_at:
                known[key] = updated_at
    return known


def _fixed(q: _Query, known: dict[tuple[str, str], datetime]) -> bool:
    """The question is no gap any more: since it was asked, an editor made its very wording
    part of an article ("Add as phrasings", or a new article from the group)."""
    changed = known.get((q.lang, normalize(q.query, q.lang)))
    return changed is not None and changed >= q.created_at


@dataclass
class _ArticleCounts:
    answered: int = 0
    chosen: int = 0
    suggested: int = 0
    helpful: int = 0
    not_helpful: int = 0
    led_to_handoff: int = 0


async def article_stats(
    session: AsyncSession, period: Period, lang: str | None
) -> list[dict[str, Any]]:
    """Per article (of ``lang``, or all), every article listed even when unused:

    * ``answered``: questions answered with it directly (outcome ``answer``, best article);
    * ``chosen``: times a customer opened it from a list of suggestions (the bot's transcript
      message with ``meta.outcome == "suggestion"``);
    * ``views`` = answered + chosen (times it was shown);
    * ``suggested``: times it was in a list of suggestions (opened or not);
    * ``helpful`` / ``not_helpful``: the "Did this help?" answers on the questions whose best
      article it is (the feedback on an opened suggestion makes it the best article);
    * ``led_to_handoff``: showings a request for a person came right after, in the same
      exchange: the showing was the ticket's last bot step (question or opened suggestion)
      before the request (docs/metrics.md, "Handoff attribution").
    """
    query = select(Article).order_by(Article.id)
    if lang is not None:
        query = query.where(Article.lang == lang)
    articles = (await session.execute(query)).scalars().all()
    counts: dict[int, _ArticleCounts] = {a.id: _ArticleCounts() for a in articles}

    # The bot's steps per ticket, in order: each question it tried to answer (showing an
    # article or not) and each suggestion the customer opened: (at, order, shown article).
    steps: dict[int, list[tuple[datetime, int, int | None]]] = defaultdict(list)
    for q in await _queries(session, period, None):
        if q.ticket_id is not None:
            article = q.best_article_id if q.outcome == "answer" else None
            steps[q.ticket_id].append((q.created_at, 2 * q.id, article))
        if q.outcome == "answer" and q.best_article_id in counts:
            counts[q.best_article_id].answered += 1
        if q.outcome == "suggest":
            for suggested_id in q.suggested:
                if suggested_id.isdigit() and int(suggested_id) in counts:
                    counts[int(suggested_id)].suggested += 1
        if q.helpful is not None and q.best_article_id in counts:
            c = counts[q.best_article_id]
            if q.helpful:
                c.helpful += 1
            else:
                c.not_helpful += 1

    chosen = (
        await session.execute(
            select(
                Message.meta["article_id"].as_integer(),
                Message.ticket_id,
                Message.created_at,
                Message.id,
            )
            .where(
                Message.sender == "bot",
                Message.created_at >= period.start,
                Message.created_at < period.end,
                Message.meta["outcome"].as_string() == "suggestion",
            )
            .order_by(Message.id)
        )
    ).all()
    for article_id, ticket_id, at, message_id in chosen:
        if article_id in counts:
            counts[article_id].chosen += 1
        if ticket_id is not None:
            steps[ticket_id].append((at, 2 * message_id + 1, article_id))

    # A request for a person goes to the last step before it on its ticket, if that step
    # showed an article: the same exchange (docs/metrics.md, "Handoff attribution").
    tickets = sorted(steps)
    credited: set[tuple[int, int]] = set()  # (ticket, step order)
    for start in range(0, len(tickets), _IN_BATCH):
        handoffs = await session.execute(
            select(Event.ticket_id, Event.created_at).where(
                Event.kind == "handoff_requested",
                Event.created_at >= period.start,
                Event.ticket_id.in_(tickets[start : start + _IN_BATCH]),
            )
        )
        for ticket_id, handoff_at in handoffs.all():
            if ticket_id is None or handoff_at is None:
                continue
            before = [step for step in steps[ticket_id] if step[0] <= handoff_at]
            if before:
                last = max(before)
                if last[2] in counts:
                    credited.add((ticket_id, last[1]))
    for ticket_id, order in credited:
        article_id = next(a for _, o, a in steps[ticket_id] if o == order)
        if article_id is not None:
            counts[article_id].led_to_handoff += 1

    result: list[dict[str, Any]] = []
    for a in articles:
        c = counts[a.id]
        views = c.answered + c.chosen
        rated = c.helpful + c.not_helpful
        result.append(
            {
                "article_id": a.id,
                "slug": a.slug,
                "lang": a.lang,
                "question": a.question,
                "category": a.category,
                "status": a.status,
                "views": views,
                "answered": c.answered,
                "chosen": c.chosen,
                "suggested": c.suggested,
                "helpful": c.helpful,
                "not_helpful": c.not_helpful,
                "helpful_rate": c.helpful / rated if rated else None,
                "led_to_handoff": c.led_to_handoff,
                "handoff_rate": c.led_to_handoff / views if views else None,
            }
        )
    result.sort(key=lambda r: (-r["views"], r["article_id"]))
    return result
