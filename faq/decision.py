"""The answer / suggest / no-match decision over scored articles: the types every matcher
shares (:class:`Hit`, :class:`Outcome`, :class:`Thresholds`, :class:`Decision`) and the rule
(:func:`decide_from_hits`). The lexical matcher (:mod:`faq.matcher`) and the fused one
(:mod:`faq.fusion`) both decide with it."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """A candidate article; ``score`` is in ``[0, 1]``, higher is better."""

    article_id: str
    score: float


class Outcome(enum.StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    NO_MATCH = "no_match"


@dataclass(frozen=True)
class Thresholds:
    """Decision rule: ANSWER when the best score is at least ``answer_min`` and leads the
    runner-up by at least ``answer_margin``; else SUGGEST the hits scoring at least
    ``suggest_min`` (at most ``max_suggestions``); else NO_MATCH."""

    answer_min: float
    answer_margin: float
    suggest_min: float
    max_suggestions: int = 3


# Tuned on the dev queries of faq-bench (K=20; see docs/BENCHMARKS.md): ANSWER is right
# >= 95% of the time on English, MSA and Palestinian dev queries, and is given to at most
# ~20% of out-of-scope queries; SUGGEST keeps in-scope NO_MATCH rare.
DEFAULT_THRESHOLDS = Thresholds(answer_min=0.35, answer_margin=0.10, suggest_min=0.15)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    hits: tuple[Hit, ...]
    best: Hit | None


def decide_from_hits(hits: Sequence[Hit], thresholds: Thresholds) -> Decision:
    """Apply ``thresholds`` to hits sorted best first (as returned by ``search``)."""
    if not hits:
        return Decision(Outcome.NO_MATCH, (), None)
    best = hits[0]
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    if best.score >= thresholds.answer_min and best.score - runner_up >= thresholds.answer_margin:
        return Decision(Outcome.ANSWER, (best,), best)
    if best.score >= thresholds.suggest_min:
        suggested = tuple(h for h in hits if h.score >= thresholds.suggest_min)
        return Decision(Outcome.SUGGEST, suggested[: max(thresholds.max_suggestions, 1)], best)
    return Decision(Outcome.NO_MATCH, (), best)
