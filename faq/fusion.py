"""Fused FAQ matching: the lexical :class:`~faq.matcher.MatchIndex` plus sentence embeddings.

An article's fused score for a query is::

    w_lexical * lexical + (1 - w_lexical) * (w_best * max_p cos(q, p) + (1 - w_best) * cos(q, c))

where ``lexical`` is the lexical matcher's score (0 for an article outside its ``LEXICAL_POOL``
best), ``p`` runs over the embeddings of the article's question and phrasings, and ``c`` is their
unit centroid (negative cosines count as 0, so scores lie in ``[0, 1]``). Cosines of this model
sit in about ``[0.7, 1]`` for any two texts, so fused scores of unrelated texts are not near 0;
the decision leans on the lead of the best article over the runner-up. Beyond
:data:`CENTROID_POOL` articles of a language, only the articles with the nearest centroids (and
the lexical candidates) have their phrasings scored, the phrasings being most of the cost
(:meth:`SemanticIndex.pooled`).

The decision uses thresholds per *decision group* (:data:`FUSED_THRESHOLDS`,
:func:`decision_group`): English, Modern Standard Arabic, and dialectal Arabic as told by the
marker words of :mod:`base.dialect`. Dialect messages share fewer words with MSA articles and score
lower, so the same bar answers fewer of them; a bar of their own answers more at the same
precision. Each group's thresholds were tuned on one half of the dev queries and checked on the
other, both ways: a direct answer right at least 95% of the time, and no more out-of-scope direct
answers than the lexical matcher tuned the same way (``bench/faq_dialects.py``,
``docs/BENCHMARKS.md``). Dialect messages without a marker fall in the MSA group, whose thresholds
hold for them too.
Without a query embedding (semantic matching off, the package missing, or article embeddings
still being computed) the lexical matcher decides alone with its own thresholds.

:class:`SemanticIndex` holds the embeddings per language. Changing one article replaces its rows
only (:meth:`SemanticIndex.with_changes`: the other articles' rows are copied in a few large runs,
not gathered one by one); nothing is re-embedded that is already known.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from base.dialect import arabic_variety
from base.normalize import detect_language, normalize
from faq.decision import (
    DEFAULT_THRESHOLDS,
    Decision,
    Hit,
    Outcome,
    Thresholds,
    decide_from_hits,
)
from faq.matcher import MatchIndex

Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

LEXICAL_POOL = 20  # lexical candidates scored exactly and fused
SEMANTIC_POOL = 20  # semantic candidates fused
# Articles whose every phrasing is scored, chosen by their centroid's cosine (with the lexical
# candidates; the rest are not candidates): at 10,000 articles ~1,000 rows scored instead of
# 50,000. Forced down to 10-40 of the dev sets' 77 articles, the decisions were a full search's
# on every dev query (BENCHMARKS.md, "A token cap and a pruned search").
CENTROID_POOL = 200
W_LEXICAL = 0.2
W_BEST = 0.75

# Per decision group; tuned on each half of the dev queries, checked on the other, then rounded
# between the two halves' choices (docs/BENCHMARKS.md, "Semantic matching", 2026-12-06).
FUSED_THRESHOLDS: Mapping[str, Thresholds] = {
    "en": Thresholds(answer_min=0.83, answer_margin=0.015, suggest_min=0.75),
    "ar-msa": Thresholds(answer_min=0.79, answer_margin=0.03, suggest_min=0.72),
    "ar-dialect": Thresholds(answer_min=0.77, answer_margin=0.0275, suggest_min=0.72),
}
# A lexical ANSWER this clear is kept without embedding the query (on the dev queries the fused
# decision is then the same: same answers, same precision; it skips a quarter of English and a
# seventh of MSA embeddings).
DECISIVE = Thresholds(answer_min=0.45, answer_margin=0.15, suggest_min=0.15)
DECISIVE_GROUP = "decisive"
FUSED_DEFAULT = Thresholds(answer_min=0.80, answer_margin=0.035, suggest_min=0.75)


class Mode(enum.StrEnum):
    """Which scorer decided."""

    LEXICAL = "lexical"
    FUSED = "fused"


@dataclass(frozen=True)
class Scored:
    """A candidate with its fused score and both parts (``semantic`` None in lexical mode)."""

    article_id: str
    score: float
    lexical: float
    semantic: float | None


@dataclass(frozen=True)
class Verdict:
    """A decision, the mode that made it and the scored candidates (best first)."""

    decision: Decision
    mode: Mode
    scored: tuple[Scored, ...]
    thresholds: Thresholds
    # Whose thresholds decided: a decision group of the fused thresholds (decision_group), or
    # DECISIVE_GROUP when a clear lexical answer decided alone.
    group: str = ""


@dataclass(frozen=True)
class _Part:
    article_ids: tuple[str, ...]
    rows: Float32Array  # (texts, dim) unit vectors, an article's rows consecutive
    starts: IntArray  # per article: its first row
    centroids: Float32Array  # (articles, dim) unit centroids
    index_of: dict[str, int]  # article id -> its position (built once, not per query)


def _part(vectors: Mapping[str, Float32Array], dim: int) -> _Part:
    ids = tuple(vectors)
    if not ids:
        empty = np.zeros((0, dim), dtype=np.float32)
        return _Part((), empty, np.zeros(0, dtype=np.int64), empty, {})
    counts = np.array([len(vectors[i]) for i in ids], dtype=np.int64)
    rows = np.concatenate([vectors[i] for i in ids]).astype(np.float32, copy=False)
    starts = np.cumsum(counts) - counts
    sums = np.add.reduceat(rows, starts, axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    centroids = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    return _Part(ids, rows, starts, centroids, {a: i for i, a in enumerate(ids)})


def _part_updated(
    old: _Part, vectors: Mapping[str, Float32Array], touched: set[str], dim: int
) -> _Part:
    """``_part(vectors, dim)``, where ``vectors`` is what ``old`` was built from with the
    ``touched`` articles changed, added or removed: the untouched articles' rows and centroids
    are copied from ``old`` in runs (a few large copies instead of one per article), only the
    touched ones are computed. Same arrays as a build from scratch (per-article arithmetic)."""
    ids = tuple(vectors)
    fresh = _part({a: vectors[a] for a in ids if a in touched}, dim)
    fresh_at = {a: i for i, a in enumerate(fresh.article_ids)}
    old_at = {a: i for i, a in enumerate(old.article_ids)}
    old_ends = np.append(old.starts[1:], len(old.rows))
    fresh_ends = np.append(fresh.starts[1:], len(fresh.rows))
    rows: list[Float32Array] = []
    centroids: list[Float32Array] = []
    counts: list[IntArray] = []
    i = 0
    while i < len(ids):
        a = ids[i]
        if a in fresh_at:
            j = fresh_at[a]
            lo, hi = int(fresh.starts[j]), int(fresh_ends[j])
            rows.append(fresh.rows[lo:hi])
            centroids.append(fresh.centroids[j : j + 1])
            counts.append(np.array([hi - lo], dtype=np.int64))
            i += 1
            continue
        first = old_at[a]
        n = 1  # a run of untouched articles consecutive in ``old`` too
        while i + n < len(ids) and ids[i + n] not in fresh_at and old_at[ids[i + n]] == first + n:
            n += 1
        lo, hi = int(old.starts[first]), int(old_ends[first + n - 1])
        rows.append(old.rows[lo:hi])
        centroids.append(old.centroids[first : first + n])
        counts.append(old_ends[first : first + n] - old.starts[first : first + n])
        i += n
    if not ids:
        return _part({}, dim)
    count = np.concatenate(counts)
    return _Part(
        ids,
        np.concatenate(rows),
        np.cumsum(count) - count,
        np.concatenate(centroids),
        {a: i for i, a in enumerate(ids)},
    )


class SemanticIndex:
    """Embeddings of the articles' texts, per language; immutable (changes give a new one)."""

    __slots__ = ("_dim", "_parts", "_vectors")

    def __init__(self, vectors: Mapping[str, Mapping[str, Float32Array]], dim: int) -> None:
        self._dim = dim
        self._vectors = {lang: dict(v) for lang, v in vectors.items()}
        self._parts = {lang: _part(v, dim) for lang, v in self._vectors.items() if v}

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return sum(len(p.article_ids) for p in self._parts.values())

    @property
    def nbytes(self) -> int:
        return sum(p.rows.nbytes + p.centroids.nbytes for p in self._parts.values())

    def with_changes(
        self,
        changed: Mapping[tuple[str, str], Float32Array],
        removed: Iterable[tuple[str, str]] = (),
    ) -> SemanticIndex:
        """A new index with the ``(lang, article_id)`` rows put in place and removed ones gone;
        the partitions of untouched languages are shared, not rebuilt."""
        vectors = {lang: dict(v) for lang, v in self._vectors.items()}
        touched: dict[str, set[str]] = {}
        for lang, article_id in removed:
            if vectors.get(lang, {}).pop(article_id, None) is not None:
                touched.setdefault(lang, set()).add(article_id)
        for (lang, article_id), rows in changed.items():
            vectors.setdefault(lang, {})[article_id] = rows
            touched.setdefault(lang, set()).add(article_id)
        new = SemanticIndex.__new__(SemanticIndex)
        new._dim = self._dim
        new._vectors = vectors
        new._parts = {}
        for lang, v in vectors.items():
            old = self._parts.get(lang)
            if not v:
                continue
            if old is None:
                new._parts[lang] = _part(v, self._dim)
            elif lang in touched:
                new._parts[lang] = _part_updated(old, v, touched[lang], self._dim)
            else:
                new._parts[lang] = old
        return new

    def scores(self, query: Float32Array, lang: str) -> tuple[tuple[str, ...], Float32Array]:
        """(article ids, semantic scores in [0, 1]) of every article of ``lang``."""
        part = self._parts.get(lang)
        if part is None:
            return (), np.zeros(0, dtype=np.float32)
        # einsum rather than ``rows @ query``: the product over 50,000 x 384 rows takes about
        # half the time of OpenBLAS's single-threaded matrix-vector product here (same sums,
        # another order: float32 rounding differs, about 1e-7).
        cos = np.einsum("ij,j->i", part.rows, query)
        best = np.maximum.reduceat(cos, part.starts)
        mixed = W_BEST * best + (1.0 - W_BEST) * np.einsum("ij,j->i", part.centroids, query)
        out: Float32Array = np.clip(mixed, 0.0, 1.0).astype(np.float32)
        return part.article_ids, out

    def pooled(
        self,
        query: Float32Array,
        lang: str,
        pool: int,
        extra: Iterable[str] = (),
        centroid_pool: int | None = CENTROID_POOL,
    ) -> dict[str, float]:
        """Semantic scores (as :meth:`scores`) of the ``pool`` best articles of ``lang`` and of
        the ``extra`` ones (the lexical candidates).

        With ``centroid_pool``, only the articles with the ``centroid_pool`` best centroid
        cosines (and ``extra``) have their phrasings scored: the phrasing rows dominate the
        cost (5 per article), the centroids are one per article. An article whose centroid is
        far from the query but one phrasing of which is close could be missed; with coherent
        articles (phrasings of one question) the pool holds the best ones with a wide margin.
        ``None`` (or no more articles than that) scores every row: exactly :meth:`scores`."""
        part = self._parts.get(lang)
        if part is None:
            return {}
        n = len(part.article_ids)
        if centroid_pool is None or n <= centroid_pool:
            ids, sem = self.scores(query, lang)
            top = np.argpartition(-sem, pool - 1)[:pool] if n > pool else np.arange(n)
            out = {ids[i]: float(sem[i]) for i in top.tolist()}
            out.update({a: float(sem[part.index_of[a]]) for a in extra if a in part.index_of})
            return out
        cent = np.einsum("ij,j->i", part.centroids, query)
        near = np.argpartition(-cent, centroid_pool - 1)[:centroid_pool]
        known = [part.index_of[a] for a in extra if a in part.index_of]
        cand = np.unique(np.concatenate([near, np.asarray(known, dtype=np.int64)]))
        starts = part.starts[cand]
        ends = np.append(part.starts[1:], len(part.rows))[cand]
        counts = ends - starts
        offsets = np.cumsum(counts) - counts
        rows = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
        cos = np.einsum("ij,j->i", part.rows[rows], query)
        best = np.maximum.reduceat(cos, offsets)
        mixed = np.clip(W_BEST * best + (1.0 - W_BEST) * cent[cand], 0.0, 1.0).astype(np.float32)
        order = np.argpartition(-mixed, pool - 1)[:pool] if len(cand) > pool else None
        chosen = cand if order is None else cand[order]
        score_of = dict(zip(cand.tolist(), mixed.tolist(), strict=True))
        picked = set(chosen.tolist()) | set(known)
        return {part.article_ids[i]: score_of[i] for i in picked}

    def positions(self, lang: str) -> Mapping[str, int]:
        """Article id -> its position in :meth:`scores` of ``lang``."""
        part = self._parts.get(lang)
        return {} if part is None else part.index_of

    def covers(self, lexical: MatchIndex) -> bool:
        """True when every article of the lexical index has its embeddings here."""
        return len(self) == len(lexical)


class Matcher:
    """What the service asks: lexical index, optional semantic index, and the thresholds."""

    __slots__ = ("centroid_pool", "fused_thresholds", "lexical", "lexical_thresholds", "semantic")

    def __init__(
        self,
        lexical: MatchIndex,
        semantic: SemanticIndex | None = None,
        lexical_thresholds: Thresholds = DEFAULT_THRESHOLDS,
        fused_thresholds: Mapping[str, Thresholds] = FUSED_THRESHOLDS,
        centroid_pool: int | None = CENTROID_POOL,
    ) -> None:
        self.lexical = lexical
        self.centroid_pool = centroid_pool  # None: every phrasing scored (benchmarks' A/B)
        self.semantic = semantic
        self.lexical_thresholds = lexical_thresholds
        self.fused_thresholds = dict(fused_thresholds)

    def __len__(self) -> int:
        return len(self.lexical)

    @property
    def fused_ready(self) -> bool:
        """True when the semantic index covers every article (else lexical decides)."""
        return self.semantic is not None and self.semantic.covers(self.lexical)

    def thresholds_for(self, group: str, mode: Mode) -> Thresholds:
        """The thresholds of a decision group (:func:`decision_group`; a plain language code
        works too): the lexical ones in lexical mode. A mapping without the dialect groups
        (only ``"ar"``) serves both Arabic groups with its ``"ar"`` entry."""
        if mode is Mode.LEXICAL:
            return self.lexical_thresholds
        found = self.fused_thresholds.get(group)
        if found is None and group.startswith("ar-"):
            found = self.fused_thresholds.get("ar")
        return found or FUSED_DEFAULT

    def rank(
        self,
        query: str,
        lang: str | None,
        embedding: Float32Array | None,
        limit: int = 5,
        lexical_hits: Sequence[Hit] | None = None,
    ) -> tuple[Mode, list[Scored]]:
        """Candidates best first, fused when an embedding is given and the index is ready.
        ``lexical_hits``: :meth:`lexical_pool` of the same query and language, when the caller
        has it already (the lexical shortcut searched first)."""
        if lang is None:
            lang = detect_language(query) if normalize(query) else "en"
        lex: dict[str, float] = {}
        sem_of: dict[str, float] = {}
        if (
            embedding is not None
            and self.fused_ready
            and self.semantic is not None
            and lang in self.lexical.languages
        ):
            if lexical_hits is None:
                lexical_hits = self.lexical_pool(query, lang)
            lex = {h.article_id: h.score for h in lexical_hits}
            sem_of = self.semantic.pooled(embedding, lang, SEMANTIC_POOL, lex, self.centroid_pool)
        if not sem_of:  # no embedding, index not ready, or no article in this language
            hits = self.lexical.search(query, lang, limit=limit)
            return Mode.LEXICAL, [Scored(h.article_id, h.score, h.score, None) for h in hits]
        scored = [
            Scored(a, W_LEXICAL * lex.get(a, 0.0) + (1.0 - W_LEXICAL) * s, lex.get(a, 0.0), s)
            for a, s in sem_of.items()
        ]
        scored.sort(key=lambda x: (-x.score, x.article_id))
        return Mode.FUSED, scored[:limit]

    def lexical_pool(self, query: str, lang: str) -> list[Hit]:
        """The lexical candidates a fused ranking takes (:data:`LEXICAL_POOL`), best first."""
        return self.lexical.search(query, lang, LEXICAL_POOL)

    def decisive(
        self,
        query: str,
        lang: str | None,
        limit: int = 5,
        lexical_hits: Sequence[Hit] | None = None,
    ) -> Verdict | None:
        """The lexical verdict when it is a clear ANSWER (:data:`DECISIVE`) and the fused
        matcher is ready: the query need not be embedded. Else None. ``lexical_hits``:
        :meth:`lexical_pool` of the query, searched once for this and :meth:`decide`."""
        if not self.fused_ready:
            return None
        if lexical_hits is None:
            hits = self.lexical.search(query, lang, limit=max(limit, 3))
        else:
            hits = list(lexical_hits[: max(limit, 3)])
        decision = decide_from_hits(hits, DECISIVE)
        if decision.outcome is not Outcome.ANSWER:
            return None
        scored = tuple(Scored(h.article_id, h.score, h.score, None) for h in hits)
        return Verdict(decision, Mode.LEXICAL, scored, DECISIVE, DECISIVE_GROUP)

    def decide(
        self,
        query: str,
        lang: str | None,
        embedding: Float32Array | None,
        limit: int = 5,
        lexical_hits: Sequence[Hit] | None = None,
    ) -> Verdict:
        mode, scored = self.rank(query, lang, embedding, max(limit, 3), lexical_hits)
        used_lang = lang or (detect_language(query) if normalize(query) else "en")
        group = decision_group(query, used_lang)
        thresholds = self.thresholds_for(group, mode)
        hits = [Hit(s.article_id, s.score) for s in scored]
        decision = decide_from_hits(hits, thresholds)
        return Verdict(decision, mode, tuple(scored), thresholds, group)


def decision_group(query: str, lang: str) -> str:
    """The group whose fused thresholds decide ``query``: its language, and for Arabic
    ``ar-dialect`` or ``ar-msa`` by the marker words of :mod:`base.dialect`."""
    return arabic_variety(query).group if lang == "ar" else lang


def with_overrides(
    thresholds: Mapping[str, Thresholds],
    answer_min: float | None,
    answer_margin: float | None,
    suggest_min: float | None,
) -> dict[str, Thresholds]:
    """Per-language thresholds with any configured value put in every language's place."""
    out: dict[str, Thresholds] = {}
    for lang, t in thresholds.items():
        out[lang] = replace(
            t,
            answer_min=t.answer_min if answer_min is None else answer_min,
            answer_margin=t.answer_margin if answer_margin is None else answer_margin,
            suggest_min=t.suggest_min if suggest_min is None else suggest_min,
        )
    return out


__all__ = [
    "FUSED_THRESHOLDS",
    "Matcher",
    "Mode",
    "Scored",
    "SemanticIndex",
    "Verdict",
    "decision_group",
    "with_overrides",
]
