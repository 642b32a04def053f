"""Article drafts from agents' answers: what agents answer by hand again and again.

Read from the transcripts (``messages``) of a past period, at most ``row_cap`` customer and
agent lines (the latest), through the ``created_at`` index:

1. **Pairs.** Each agent line is paired with the customer question it answers: the customer
   lines of the same ticket since the agent's previous turn (consecutive agent lines are one
   turn, so "Let me check" followed by the answer pairs the answer with the question too;
   customer lines no agent answered are never examined).
   Of those lines, a greeting or a thank-you (fewer than :data:`MIN_QUESTION_TERMS` search
   terms once stop words are removed, :func:`faq.gaps.terms`) and a request for a person
   (:func:`faq.person.wants_person`) are left out; the last :data:`MAX_QUESTION_LINES` lines
   left are the question. The pair's language is the question's (:func:`~base.normalize.
   detect_language`); an answer in another language is no answer to it.
2. **Lines that answer nothing are left out.** An agent line with fewer than
   :data:`MIN_ANSWER_TERMS` search terms ("One moment please", "You're welcome!", «لحظة من
   فضلك») says nothing an article could hold. Canned-reply boilerplate (the opener "Hello,
   this is Sara from support, how can I help?", a closing line) has words, but is sent
   whatever was asked, and is told apart by that: a group of replies sent in more than
   :data:`BOILERPLATE_SHARE` of the language's tickets with a paired reply (once there are
   :data:`BOILERPLATE_MIN_TICKETS`), or whose questions have no main family (see 3), is
   left out. Canned replies are not excluded as such: one that answers a question ("Refunds
   take 5 to 7 days") is exactly what an article should say.
3. **Groups.** Within one language, the answers are grouped by similarity (the knowledge
   gaps' :func:`faq.gaps.cluster` on :func:`faq.gaps.similarity_key`: normalised, Arabic
   letter forms and digits folded, light-stemmed, dialect words mapped), at
   :data:`ANSWER_SIMILARITY`; an answer is compared only with the answers sharing half of its
   :data:`SIGNATURE` rarest words (an inverted index), so the cost stays near linear. In a
   group, questions are linked when alike (their search terms compared the same way,
   :data:`QUESTION_SIMILARITY`); the largest
   linked family must hold :data:`FAMILY_SHARE` of the group's tickets and is kept (a pair
   whose question is like no other is an answer reused for something else). A group needs
   :data:`MIN_TICKETS` distinct tickets.
4. **Suggestions.** The question is the group's most representative customer phrasing (its
   medoid: the wording most like the others), the phrasings a few other distinct wordings,
   the answer the most representative agent reply (the medoid of the answers). Groups are
   ranked by the distinct tickets they recur in.
5. **Already answered.** A group is left out when the live FAQ matcher answers its question
   directly with a published article (outcome ``answer``), or when an article, published or
   draft, already holds one of its wordings (a draft made from it, for instance).

:func:`create_draft` turns a suggestion, as an editor edited it, into an article with status
``draft`` (never matched until published) and writes ``article_created`` and
``article_drafted`` (which suggestion, which tickets) in the same transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from base.normalize import detect_language, normalize
from base.periods import Period
from faq.articles import ArticleError, ArticleIn, get_article, upsert_articles, validate_article
from faq.curation import Conflict, NotFound, StoredArticle
from faq.gaps import STOP_WORDS, cluster, known_wordings, similarities, similarity_key, terms
from faq.matcher import Outcome
from faq.person import wants_person
from faq.service import FaqService
from storage.db import Database
from storage.events import record_event
from storage.models import Message

__all__ = [
    "BOILERPLATE_SHARE",
    "MIN_ANSWER_TERMS",
    "MIN_QUESTION_TERMS",
    "MIN_TICKETS",
    "ROW_CAP",
    "DraftEdit",
    "Line",
    "Pair",
    "Suggestion",
    "create_draft",
    "find_suggestion",
    "group_pairs",
    "load_pairs",
    "pairs_of",
    "suggest_articles",
    "suggestion_slug",
]

ROW_CAP = 100_000  # customer and agent lines read per request (the period's latest)
MIN_QUESTION_TERMS = 2  # a customer line with fewer search terms is a greeting or a thank-you
MIN_ANSWER_TERMS = 3  # an agent line with fewer says nothing an article could hold
MAX_QUESTION_LINES = 2  # the question: the last customer lines before the answer
MAX_QUESTION_CHARS = 300
ANSWER_SIMILARITY = 80.0  # two replies are "the same answer" from here (0-100)
QUESTION_SIMILARITY = 60.0  # two questions are alike from here (on their search terms)
FAMILY_SHARE = 0.5  # the main question family holds this share of a group's tickets, or more
MIN_TICKETS = 3  # a suggestion recurs in at least this many tickets
BOILERPLATE_SHARE = 0.6  # a reply found in more of the tickets than this answers nothing
BOILERPLATE_MIN_TICKETS = 10  # ... once the period has this many tickets with agent replies
MAX_PHRASINGS = 5
MAX_EXAMPLES = 5
MEDOID_SAMPLE = 200  # distinct wordings compared for a medoid (the most frequent)
BLOCK_SHARE = 0.5  # an answer is compared with those sharing half of its rarest words
SIGNATURE = 6  # ... of its this many rarest words


@dataclass(frozen=True)
class Line:
    """One transcript line as the grouping reads it."""

    ticket_id: int
    message_id: int
    sender: str
    kind: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Pair:
    """An agent reply and the customer question it answers."""

    ticket_id: int
    message_id: int
    lang: str
    question: str
    answer: str
    at: datetime


@dataclass(frozen=True)
class Suggestion:
    """A suggested article: what customers asked and what agents answered, ``tickets``
    distinct tickets (``replies`` replies) in the period, the latest at ``last_at``."""

    id: str
    lang: str
    question: str
    phrasings: tuple[str, ...]
    answer: str
    tickets: int
    replies: int
    example_ticket_ids: tuple[int, ...]
    last_at: datetime
    ticket_ids: tuple[int, ...] = field(default=(), repr=False)  # every ticket of the group


@dataclass(frozen=True)
class DraftEdit:
    """What the editor sends: the slug, and the question and answer as edited."""

    slug: str
    question: str
    answer: str
    phrasings: tuple[str, ...] | None = None  # None: the suggestion's
    category: str = ""


# ---------------------------------------------------------------------- pairs


@lru_cache(maxsize=65_536)  # greetings, thank-yous, openers, canned replies: the same texts
def _terms_in(text: str, lang: str) -> int:
    return len(terms(text, lang))


@lru_cache(maxsize=65_536)
def _asks(text: str) -> bool:
    """A customer line that can be (part of) a question."""
    if not text.strip() or wants_person(text):
        return False
    return _terms_in(text, detect_language(text)) >= MIN_QUESTION_TERMS


def _question_line(line: Line) -> bool:
    return line.kind == "text" and _asks(line.text)


def _question_of(turn: list[Line]) -> str:
    """The last :data:`MAX_QUESTION_LINES` lines of the turn that ask something."""
    asked: list[str] = []
    for line in reversed(turn):
        if _question_line(line):
            asked.append(" ".join(line.text.split()))
            if len(asked) == MAX_QUESTION_LINES:
                break
    return " ".join(reversed(asked))[:MAX_QUESTION_CHARS]


def pairs_of(lines: Iterable[Line], lang: str | None = None) -> list[Pair]:
    """Each agent line with the customer question before it (see the module docstring);
    ``lines`` in any order, ``lang`` keeps one language."""
    by_ticket: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        by_ticket[line.ticket_id].append(line)
    pairs: list[Pair] = []
    for ticket_id in sorted(by_ticket):
        turn: list[Line] = []  # the customer's lines since the agent's previous turn
        question: str | None = None  # what they asked, once an agent line follows
        for line in sorted(by_ticket[ticket_id], key=lambda x: x.message_id):
            if line.sender == "customer":
                if question is not None:  # a new customer turn after an agent turn
                    turn, question = [], None
                turn.append(line)
                continue
            if line.sender != "agent":
                continue
            if question is None:  # read only the lines an agent answered (lazily: cheaper)
                question = _question_of(turn)
            if not question or line.kind != "text":
                continue
            q_lang = detect_language(question)
            if (lang is not None and q_lang != lang) or detect_language(line.text) != q_lang:
                continue
            if _terms_in(line.text, q_lang) < MIN_ANSWER_TERMS:
                continue
            answer = line.text.strip()
            pairs.append(
                Pair(ticket_id, line.message_id, q_lang, question, answer, line.created_at)
            )
    return pairs


async def load_pairs(
    session: AsyncSession, period: Period, lang: str | None = None, row_cap: int = ROW_CAP
) -> list[Pair]:
    """The pairs of the period's latest ``row_cap`` customer and agent lines (one range read
    of the ``created_at`` index)."""
    rows = (
        await session.execute(
            select(
                Message.ticket_id,
                Message.id,
                Message.sender,
                Message.kind,
                Message.text,
                Message.created_at,
            )
            .where(
                Message.created_at >= period.start,
                Message.created_at < period.end,
                Message.sender.in_(("customer", "agent")),
            )
            .order_by(Message.created_at.desc())
            .limit(row_cap)
        )
    ).all()
    lines = [Line(r[0], r[1], r[2], r[3], r[4] or "", r[5]) for r in rows]
    return await asyncio.to_thread(pairs_of, lines, lang)


# ---------------------------------------------------------------------- grouping


class _Blocker:
    """Which answers are worth comparing with a seed (an inverted index): those sharing at
    least :data:`BLOCK_SHARE` of its rarest :data:`SIGNATURE` words (stop words left out,
    when the answer has other words). Two answers :data:`ANSWER_SIMILARITY` alike share most
    of their words, their rare ones included; a word every answer has says nothing."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.words: dict[str, set[str]] = {}
        self.postings: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            words = set(key.split())
            content = {w for w in words if w not in STOP_WORDS}
            self.words[key] = content or words
            for w in self.words[key]:
                self.postings[w].append(key)

    def __call__(self, seed: str) -> set[str]:
        rarest = sorted(self.words[seed], key=lambda w: (len(self.postings[w]), w))[:SIGNATURE]
        shared: Counter[str] = Counter()
        for w in rarest:
            shared.update(self.postings[w])
        need = max(1, int(len(rarest) * BLOCK_SHARE))
        return {k for k, n in shared.items() if n >= need and k != seed}


def _medoid(texts: Counter[str], lang: str) -> str:
    """The wording most like the others (weighted by how often each was used); ties: the
    more frequent, then the shorter."""
    common = sorted(texts.items(), key=lambda x: (-x[1], len(x[0]), x[0]))[:MEDOID_SAMPLE]
    if len(common) == 1:
        return common[0][0]
    keys = [similarity_key(t, lang) for t, _ in common]
    weights = np.array([n for _, n in common], dtype=np.float64)
    best, best_score = common[0][0], -1.0
    for i, (text, _) in enumerate(common):
        score = float(similarities(keys[i], keys) @ weights)
        if score > best_score + 1e-9:
            best, best_score = text, score
    return best


def _distinct(texts: Counter[str], first: str, lang: str, limit: int) -> tuple[str, ...]:
    seen = {normalize(first, lang)}
    out: list[str] = []
    for text, _ in sorted(texts.items(), key=lambda x: (-x[1], len(x[0]), x[0])):
        norm = normalize(text, lang)
        if norm and norm not in seen:
            seen.add(norm)
            out.append(text)
        if len(out) == limit:
            break
    return tuple(out)


def _question_key(question: str, lang: str) -> str:
    """Questions are compared on their search terms only (stop words, which all questions
    share, would make any two alike): light-stemmed, sorted, each once."""
    return " ".join(sorted({stem for stem, _ in terms(question, lang)}))


def _family(pairs: list[Pair], lang: str) -> list[Pair]:
    """The pairs of the group's main question family: questions are linked when alike
    (:data:`QUESTION_SIMILARITY`, or the same wording in two tickets); the largest linked
    family is kept if it holds at least :data:`FAMILY_SHARE` of the group's tickets, else
    the reply follows unrelated questions (boilerplate) and nothing is kept."""
    keys = [_question_key(p.question, lang) for p in pairs]
    distinct = sorted(set(keys))
    index = {k: i for i, k in enumerate(distinct)}
    parent = list(range(len(distinct)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, key in enumerate(distinct[:-1]):
        scores = similarities(key, distinct[i + 1 :])
        for j in np.flatnonzero(scores >= QUESTION_SIMILARITY).tolist():
            parent[root(i + 1 + j)] = root(i)
    tickets: dict[int, set[int]] = defaultdict(set)
    for key, pair in zip(keys, pairs, strict=True):
        tickets[root(index[key])].add(pair.ticket_id)
    main = max(tickets, key=lambda r: (len(tickets[r]), -r))
    all_tickets = {p.ticket_id for p in pairs}
    if len(tickets[main]) < FAMILY_SHARE * len(all_tickets):
        return []
    return [p for key, p in zip(keys, pairs, strict=True) if root(index[key]) == main]


def _suggestion(lang: str, pairs: list[Pair]) -> Suggestion:
    questions = Counter(p.question for p in pairs)
    answers = Counter(p.answer for p in pairs)
    question = _medoid(questions, lang)
    answer = _medoid(answers, lang)
    tickets = sorted({p.ticket_id for p in pairs})
    latest = sorted({p.ticket_id: p.at for p in pairs}.items(), key=lambda x: (x[1], x[0]))
    key = similarity_key(answer, lang)
    return Suggestion(
        id=hashlib.sha1(f"{lang}:{key}".encode()).hexdigest()[:12],
        lang=lang,
        question=question,
        phrasings=_distinct(questions, question, lang, MAX_PHRASINGS),
        answer=answer,
        tickets=len(tickets),
        replies=len(pairs),
        example_ticket_ids=tuple(t for t, _ in reversed(latest[-MAX_EXAMPLES:])),
        last_at=max(p.at for p in pairs),
        ticket_ids=tuple(tickets),
    )


def group_pairs(pairs: Sequence[Pair], min_tickets: int = MIN_TICKETS) -> list[Suggestion]:
    """The suggestions of these pairs, most recurring first (no FAQ check: see
    :func:`suggest_articles`)."""
    by_lang: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_lang[p.lang].append(p)
    result: list[Suggestion] = []
    for lang in sorted(by_lang):
        by_key: dict[str, list[Pair]] = defaultdict(list)
        keys: dict[str, str] = {}
        for p in by_lang[lang]:
            key = keys.get(p.answer)
            if key is None:
                key = keys[p.answer] = similarity_key(p.answer, lang)
            by_key[key].append(p)
        answered = len({p.ticket_id for p in by_lang[lang]})
        boilerplate_at = (
            BOILERPLATE_SHARE * answered if answered >= BOILERPLATE_MIN_TICKETS else float("inf")
        )
        weights = {k: len({p.ticket_id for p in v}) for k, v in by_key.items()}
        for _, members in cluster(weights, ANSWER_SIMILARITY, block=_Blocker(by_key)):
            group = [p for k in members for p in by_key[k]]
            if len({p.ticket_id for p in group}) < min_tickets:
                continue
            if len({p.ticket_id for p in group}) > boilerplate_at:
                continue  # sent in most chats, whatever was asked: an opener, a closing line
            group = _family(group, lang)
            if len({p.ticket_id for p in group}) >= min_tickets:
                result.append(_suggestion(lang, group))
    result.sort(key=lambda s: (-s.tickets, -s.replies, s.lang, s.question, s.id))
    return result


# ---------------------------------------------------------------------- reads


async def _answered(faq: FaqService, suggestion: Suggestion) -> bool:
    """The live matcher answers the group's question directly with a published article."""
    _, _, verdict = await faq.verdict(suggestion.question, suggestion.lang)
    return verdict.decision.outcome is Outcome.ANSWER


def _held(suggestion: Suggestion, known: Iterable[tuple[str, str]]) -> bool:
    wordings = {
        (suggestion.lang, normalize(q)) for q in (suggestion.question, *suggestion.phrasings)
    }
    return not wordings.isdisjoint(known)


async def _groups(
    db: Database, period: Period, lang: str | None, min_tickets: int, row_cap: int
) -> tuple[list[Suggestion], set[tuple[str, str]]]:
    """The period's groups (no FAQ check) and the wordings articles hold."""
    async with db.transaction() as session:
        pairs = await load_pairs(session, period, lang, row_cap)
        known = set(await known_wordings(session, lang))
    # rapidfuzz and the stemmer run in a thread: a large period does not stall the event loop
    return await asyncio.to_thread(group_pairs, pairs, min_tickets), known


async def suggest_articles(
    db: Database,
    faq: FaqService,
    period: Period,
    lang: str | None = None,
    limit: int = 20,
    *,
    min_tickets: int = MIN_TICKETS,
    row_cap: int = ROW_CAP,
) -> list[Suggestion]:
    """Suggested articles from the agents' answers of the period (see the module docstring),
    most recurring first, without those the FAQ answers already."""
    groups, known = await _groups(db, period, lang, min_tickets, row_cap)
    result: list[Suggestion] = []
    for suggestion in groups:
        if len(result) == limit:
            break
        if _held(suggestion, known) or await _answered(faq, suggestion):
            continue
        result.append(suggestion)
    return result


async def find_suggestion(
    db: Database, faq: FaqService, period: Period, suggestion_id: str
) -> Suggestion:
    """A suggestion of the period by its id; :class:`NotFound` when it is gone (the history
    changed, or the FAQ answers it now)."""
    groups, known = await _groups(db, period, None, MIN_TICKETS, ROW_CAP)
    for suggestion in groups:
        if suggestion.id == suggestion_id:
            if _held(suggestion, known) or await _answered(faq, suggestion):
                break
            return suggestion
    raise NotFound(
        f"no suggested article {suggestion_id!r} in this period (the list may have changed)"
    )


# ---------------------------------------------------------------------- the action

_SLUG_WORDS = re.compile(r"[^\W_]+")


def suggestion_slug(suggestion: Suggestion) -> str:
    """A slug to start from: the question's first words, or ``answer-<id>``."""
    words = _SLUG_WORDS.findall(normalize(suggestion.question))[:6]
    slug = "-".join(words)[:60].strip("-")
    return slug or f"answer-{suggestion.id}"


async def create_draft(
    db: Database, suggestion: Suggestion, edit: DraftEdit, at: datetime, actor: str
) -> StoredArticle:
    """An article of ``status = draft`` from a suggestion as the editor edited it; writes
    ``article_created`` and ``article_drafted`` (the suggestion, its tickets).
    :class:`ArticleError` for a bad article, :class:`Conflict` when the slug is taken."""
    question = edit.question.strip()
    phrasings = suggestion.phrasings if edit.phrasings is None else edit.phrasings
    if suggestion.question.strip() != question:
        phrasings = (suggestion.question, *phrasings)
    article: ArticleIn = validate_article(
        {
            "id": edit.slug.strip(),
            "lang": suggestion.lang,
            "question": question,
            "answer": edit.answer,
            "phrasings": [p for p in phrasings if p.strip()],
            "category": edit.category,
            "status": "draft",
        }
    )
    try:
        async with db.transaction() as session:
            if await get_article(session, article.id, article.lang) is not None:
                raise Conflict(f"article {article.id!r} ({article.lang}) already exists")
            await upsert_articles(session, [article], at, actor=actor)
            row = await get_article(session, article.id, article.lang)
            assert row is not None
            record_event(
                session,
                "article_drafted",
                at,
                actor=actor,
                article=article.id,
                lang=article.lang,
                article_id=row.id,
                suggestion=suggestion.id,
                tickets=suggestion.tickets,
                replies=suggestion.replies,
                example_ticket_ids=list(suggestion.example_ticket_ids),
            )
            return StoredArticle.of(row)
    except IntegrityError:
        raise Conflict(f"article {article.id!r} ({article.lang}) already exists") from None


__all__ += ["ArticleError", "Conflict", "NotFound"]
