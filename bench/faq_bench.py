"""FAQ matcher benchmark: accuracy, latency and decision thresholds on faq-bench.

Two modes:

``python -m bench.faq_bench --articles FILE --queries FILE [--json] [--mode fused|lexical]``
    Evaluate one articles/queries pair (faq-bench record format) with Sanad's matcher in the
    default mode (fused where the model is installed, ``--mode lexical`` for the lexical
    matcher alone): top-1/top-3 accuracy, time per query (query embedding included), build
    time and the share of each outcome. ``--baseline`` (lexical) adds
    ``rapidfuzz.process.extractOne`` over all phrasings. ``--json`` prints one JSON object.

``python -m bench.faq_bench --modes``
    Lexical and fused modes side by side on the K=20 dev sets (see ``bench/faq_fused.py``),
    and their cost at 77 and 10,000 articles (also part of ``--all``).

``python -m bench.faq_bench --edit-stall 10000``
    How long chats wait while one FAQ edit is applied at 10,000 articles (``bench/faq_edit.py``).

``python -m bench.faq_bench --ablations``
    Design checks: top-1 of variants of the model (one choice changed at a time) and
    robustness to synthetic typos, on the K=20 dev sets.

``python -m bench.faq_bench --latency 10000 [--repeat N]``
    Only the latency benchmark, at the given index sizes (e.g. 10,000 articles), Sanad
    only: a quicker way to repeat that timing. ``--baseline`` adds the baseline (JSON).

``python -m bench.faq_bench --all`` (``make bench``)
    The full suite: English, MSA and Palestinian dev queries x K=5 and K=20, Sanad vs the
    baseline; latency at 77, 1,000 and 10,000 articles of 5 phrasings each (synthetic
    padding), the baseline timed in the same run; the threshold outcome figures with an
    out-of-scope check (15 articles removed from the index, their queries then have no
    right answer). Prints markdown tables (``--json``: one JSON object instead).

The data directory defaults to ``../shared/faq-bench`` relative to the repository root;
override it with ``--data DIR`` or the environment variable ``SANAD_FAQ_BENCH``.

Latency: one process pinned to one core (``os.sched_setaffinity``; BLAS limited to one
thread), garbage collector off while timing, ``time.perf_counter_ns`` around each call,
query caches cleared before each timed pass; p50/p99 are the medians over ``--repeat``
passes. A search is timed as the service calls it: ``index.search(text)`` (language
detected from the text).
"""

from __future__ import annotations

import os

# One core means one BLAS thread too; must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from rapidfuzz import process  # noqa: E402

from base.normalize import normalize  # noqa: E402
from bench import faq_edit, faq_fused  # noqa: E402
from bench.faq_data import (  # noqa: E402
    DATASET_TITLES,
    DATASETS,
    SEED,
    Record,
    article_texts,
    data_dir,
    entries_of,
    load_jsonl,
    pad_articles,
)
from faq.matcher import DEFAULT_THRESHOLDS, MatchIndex, Outcome, Thresholds  # noqa: E402

LATENCY_SIZES = (77, 1_000, 10_000)
OOS_REMOVED = 15

# Unrelated questions (not banking): a sanity check of NO_MATCH, not used for tuning.
UNRELATED = {
    "en": [
        "What's the weather like tomorrow?",
        "Recommend me a good pizza recipe",
        "Who won the football match yesterday?",
        "Can you book me a flight to Paris?",
        "What time does the pharmacy open?",
        "How many calories are in a banana?",
        "Tell me a joke about cats",
        "What is the capital of Australia?",
        "My washing machine is making a loud noise",
        "Which bus goes to the train station?",
    ],
    "ar": [
        "كيف حال الطقس غدا؟",
        "من فاز بالمباراة أمس؟",
        "أريد وصفة بيتزا سهلة",
        "متى تفتح الصيدلية؟",
        "احجزلي رحلة لباريس",
        "كم سعرة حرارية في الموزة؟",
        "احكيلي نكتة عن القطط",
        "ما هي عاصمة أستراليا؟",
        "الغسالة عم تعمل صوت عالي",
        "أي باص بروح على محطة القطار؟",
    ],
}


# -- data -----------------------------------------------------------------------------


# -- measurement helpers --------------------------------------------------------------


def _idle_ticks() -> dict[int, int]:
    """Idle time per CPU from /proc/stat (Linux), or {} when unavailable."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            out[int(name[3:])] = int(fields[3])
    return out


def pin_one_core() -> int | None:
    """Pin this process to one core, the least busy allowed one over half a second
    (the machine is shared); returns it, or None when pinning is not available."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        allowed = sorted(os.sched_getaffinity(0))
        before = _idle_ticks()
        time.sleep(0.5)
        after = _idle_ticks()
        core = max(allowed, key=lambda c: (after.get(c, 0) - before.get(c, 0), c))
        os.sched_setaffinity(0, {core})
    except OSError:
        return None
    return core


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def time_calls(
    fn: Callable[[str], object],
    queries: Sequence[str],
    repeats: int,
    before_pass: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Per-call latency in ms, wall clock (p50/p99/mean) and this thread's CPU time
    (cpu_p50/cpu_p99, which leaves out time the scheduler gave to other processes):
    medians over ``repeats`` passes over ``queries``."""
    stats: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "mean", "cpu_p50", "cpu_p99")}
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for _ in range(repeats):
        if before_pass is not None:
            before_pass()
        gc.collect()
        gc.disable()
        try:
            lat: list[float] = []
            lat_cpu: list[float] = []
            for q in queries:
                c0 = cpu()
                t0 = wall()
                fn(q)
                t1 = wall()
                c1 = cpu()
                lat.append((t1 - t0) / 1e6)
                lat_cpu.append((c1 - c0) / 1e6)
        finally:
            gc.enable()
        stats["p50"].append(percentile(lat, 50))
        stats["p99"].append(percentile(lat, 99))
        stats["mean"].append(statistics.fmean(lat))
        stats["cpu_p50"].append(percentile(lat_cpu, 50))
        stats["cpu_p99"].append(percentile(lat_cpu, 99))
    return {f"{k}_ms": statistics.median(v) for k, v in stats.items()}


class Baseline:
    """``rapidfuzz.process.extractOne`` over every phrasing, default scorer and processor."""

    def __init__(self, articles: Sequence[Record]) -> None:
        self.choices: list[str] = []
        self.owner: list[str] = []
        for a in articles:
            for t in article_texts(a):
                self.choices.append(t)
                self.owner.append(a["id"])

    def best(self, query: str) -> str | None:
        found = process.extractOne(query, self.choices)
        return None if found is None else self.owner[found[2]]

    def top(self, query: str, k: int) -> list[str]:
        """First ``k`` distinct articles of ``process.extract`` over all phrasings."""
        out: list[str] = []
        for _, _, i in process.extract(query, self.choices, limit=None):
            if self.owner[i] not in out:
                out.append(self.owner[i])
                if len(out) == k:
                    break
        return out


def accuracy(ranked: Sequence[Sequence[str]], gold: Sequence[str]) -> dict[str, float]:
    n = len(gold)
    top1 = sum(bool(r) and r[0] == g for r, g in zip(ranked, gold, strict=True))
    top3 = sum(g in r[:3] for r, g in zip(ranked, gold, strict=True))
    return {"top1": top1 / n, "top3": top3 / n}


def outcome_figures(
    index: MatchIndex, queries: Sequence[Record], thresholds: Thresholds, in_scope: bool
) -> dict[str, float]:
    """Outcome shares; for in-scope queries also how often ANSWER / SUGGEST is right."""
    n = len(queries)
    counts = dict.fromkeys(Outcome, 0)
    answer_right = suggest_right = 0
    for q in queries:
        d = index.decide(q["text"], q["lang"], thresholds)
        counts[d.outcome] += 1
        ids = [h.article_id for h in d.hits]
        if d.outcome is Outcome.ANSWER:
            answer_right += ids[0] == q["article_id"]
        elif d.outcome is Outcome.SUGGEST:
            suggest_right += q["article_id"] in ids
    out = {f"{o.value}_share": counts[o] / n for o in Outcome}
    if in_scope:
        out["answer_precision"] = answer_right / max(counts[Outcome.ANSWER], 1)
        out["suggest_contains_right"] = suggest_right / max(counts[Outcome.SUGGEST], 1)
        out["right_answered_or_suggested"] = (answer_right + suggest_right) / n
    return out


# -- single pair ----------------------------------------------------------------------


def run_pair(
    articles_path: Path, queries_path: Path, with_baseline: bool, repeats: int
) -> dict[str, Any]:
    articles = load_jsonl(articles_path)
    queries = load_jsonl(queries_path)
    core = pin_one_core()
    t0 = time.perf_counter_ns()
    index = MatchIndex.build(entries_of(articles))
    build_ms = (time.perf_counter_ns() - t0) / 1e6
    gold = [q["article_id"] for q in queries]
    ranked = [[h.article_id for h in index.search(q["text"], q["lang"], 3)] for q in queries]
    texts = [q["text"] for q in queries]
    result: dict[str, Any] = {
        "articles": len(index),
        "texts": index.n_texts,
        "queries": len(queries),
        **accuracy(ranked, gold),
        **time_calls(index.search, texts, repeats, index.clear_caches),
        "build_ms": build_ms,
        "outcomes": outcome_figures(index, queries, DEFAULT_THRESHOLDS, in_scope=True),
        "core": core,
        "mode": "lexical",
    }
    if with_baseline:
        base = Baseline(articles)
        b_ranked = [base.top(q["text"], 3) for q in queries]
        b_acc = accuracy(b_ranked, gold)
        b_time = time_calls(base.best, texts, repeats)
        result.update(
            baseline_top1=b_acc["top1"],
            baseline_top3=b_acc["top3"],
            baseline_p50_ms=b_time["p50_ms"],
            baseline_p99_ms=b_time["p99_ms"],
        )
    return result


# -- full suite -----------------------------------------------------------------------


def suite_accuracy(data: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    for k in (5, 20):
        for name, (art_pattern, query_file) in DATASETS.items():
            articles = load_jsonl(data / art_pattern.format(k=k))
            queries = load_jsonl(data / query_file)
            index = MatchIndex.build(entries_of(articles))
            base = Baseline(articles)
            gold = [q["article_id"] for q in queries]
            ours = accuracy(
                [[h.article_id for h in index.search(q["text"], q["lang"], 3)] for q in queries],
                gold,
            )
            theirs = accuracy([base.top(q["text"], 3) for q in queries], gold)
            rows.append(
                {
                    "dataset": name,
                    "k": k,
                    "queries": len(queries),
                    "top1": ours["top1"],
                    "top3": ours["top3"],
                    "baseline_top1": theirs["top1"],
                    "baseline_top3": theirs["top3"],
                }
            )
            log(f"accuracy {name} K={k}: top1 {ours['top1']:.3f} top3 {ours['top3']:.3f}")
    return rows


def suite_latency(
    data: Path,
    repeats: int,
    baseline_queries: dict[int, int],
    log: Callable[[str], None],
    sizes: Sequence[int] = LATENCY_SIZES,
) -> list[dict[str, Any]]:
    """Latency rows per language and index size; the baseline is timed on
    ``baseline_queries[size]`` queries (none: Sanad only)."""
    rows = []
    for name, lang in (("en", "en"), ("msa", "ar")):
        art_pattern, query_file = DATASETS[name]
        real = load_jsonl(data / art_pattern.format(k=5))
        pool = load_jsonl(data / art_pattern.format(k=20))
        queries = [q["text"] for q in load_jsonl(data / query_file)]
        subset_all = random.Random(SEED).sample(queries, len(queries))
        for size in sizes:
            articles = pad_articles(real, pool, size)
            t0 = time.perf_counter_ns()
            index = MatchIndex.build(entries_of(articles))
            build_ms = (time.perf_counter_ns() - t0) / 1e6
            distinct = {normalize(t) for a in articles for t in article_texts(a)}
            assert len(index) == size, (len(index), size)
            assert index.n_texts == len(distinct) == 5 * size, (index.n_texts, len(distinct))
            ours = time_calls(index.search, queries, repeats, index.clear_caches)
            row = {
                "dataset": name,
                "lang": lang,
                "articles": size,
                "texts": index.n_texts,
                "build_ms": build_ms,
                "queries": len(queries),
                **ours,
                "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            }
            if not baseline_queries.get(size):
                rows.append(row)
                log(
                    f"latency {name} {size} articles: p50 {ours['p50_ms']:.3f} ms "
                    f"p99 {ours['p99_ms']:.3f} ms (cpu {ours['cpu_p50_ms']:.3f} / "
                    f"{ours['cpu_p99_ms']:.3f} ms), build {build_ms / 1000:.2f} s"
                )
                continue
            base = Baseline(articles)
            subset = subset_all[: baseline_queries[size]]
            ours_sub = time_calls(index.search, subset, repeats, index.clear_caches)
            theirs = time_calls(base.best, subset, repeats)
            rows.append(
                {
                    **row,
                    "subset_queries": len(subset),
                    "subset_p50_ms": ours_sub["p50_ms"],
                    "subset_cpu_p50_ms": ours_sub["cpu_p50_ms"],
                    "subset_p99_ms": ours_sub["p99_ms"],
                    "baseline_p50_ms": theirs["p50_ms"],
                    "baseline_p99_ms": theirs["p99_ms"],
                    "speedup_p50": theirs["p50_ms"] / ours_sub["p50_ms"],
                    "speedup_p99": theirs["p99_ms"] / ours_sub["p99_ms"],
                }
            )
            log(
                f"latency {name} {size} articles: p50 {ours['p50_ms']:.3f} ms "
                f"p99 {ours['p99_ms']:.3f} ms (cpu {ours['cpu_p50_ms']:.3f} / "
                f"{ours['cpu_p99_ms']:.3f} ms), baseline p50 {theirs['p50_ms']:.1f} ms, "
                f"build {build_ms / 1000:.2f} s"
            )
    return rows


def suite_thresholds(data: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    for name, (art_pattern, query_file) in DATASETS.items():
        articles = load_jsonl(data / art_pattern.format(k=20))
        queries = load_jsonl(data / query_file)
        ids = sorted(a["id"] for a in articles)
        removed = set(random.Random(SEED).sample(ids, OOS_REMOVED))
        full = MatchIndex.build(entries_of(articles))
        partial = MatchIndex.build(entries_of([a for a in articles if a["id"] not in removed]))
        oos = [q for q in queries if q["article_id"] in removed]
        lang = "en" if name == "en" else "ar"
        unrelated = [{"text": t, "lang": lang, "article_id": ""} for t in UNRELATED[lang]]
        rows.append(
            {
                "dataset": name,
                "in_scope": outcome_figures(full, queries, DEFAULT_THRESHOLDS, in_scope=True),
                "out_of_scope": outcome_figures(partial, oos, DEFAULT_THRESHOLDS, in_scope=False),
                "out_of_scope_queries": len(oos),
                "unrelated": outcome_figures(full, unrelated, DEFAULT_THRESHOLDS, in_scope=False),
                "unrelated_queries": len(unrelated),
            }
        )
        log(f"thresholds {name}: done")
    return rows


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    load = report.get("load_average_before_after") or [None, None]
    load_text = ", ".join("-" if x is None else f"{x[0]:.2f}" for x in load)
    lines = [
        f"Machine: {report['machine']}; pinned to core {report['core']}; "
        f"Python {report['python']}; latency repeats {report['repeat']}; "
        f"1-min load average before/after: {load_text}.",
        "",
        "Accuracy (dev queries; top-k = the right article among the first k):",
        "",
        "| dataset | K | queries | Sanad top-1 | Sanad top-3 | baseline top-1 | baseline top-3 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["accuracy"]:
        lines.append(
            f"| {DATASET_TITLES[r['dataset']]} | {r['k']} | {r['queries']} | {r['top1']:.3f} "
            f"| {r['top3']:.3f} | {r['baseline_top1']:.3f} | {r['baseline_top3']:.3f} |"
        )
    lines += [
        "",
        "Latency per query (articles of 5 phrasings; p50/p99 over all dev queries; the baseline"
        " and the ratio on a fixed random subset, Sanad timed on the same subset):",
        "",
        "| queries | articles | texts | build | Sanad p50 | Sanad p99 | CPU p50 / p99 | subset "
        "| Sanad p50 / p99 (subset) | baseline p50 / p99 | ratio p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["latency"]:
        lines.append(
            f"| {DATASET_TITLES[r['dataset']]} | {r['articles']:,} | {r['texts']:,} "
            f"| {r['build_ms'] / 1000:.2f} s | {r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms "
            f"| {r['cpu_p50_ms']:.3f} / {r['cpu_p99_ms']:.3f} ms | {r['subset_queries']} "
            f"| {r['subset_p50_ms']:.3f} / {r['subset_p99_ms']:.3f} ms "
            f"| {r['baseline_p50_ms']:.2f} / {r['baseline_p99_ms']:.2f} ms "
            f"| {r['speedup_p50']:.0f}x / {r['speedup_p99']:.0f}x |"
        )
    t = report["thresholds_used"]
    lines += [
        "",
        f"Decisions with DEFAULT_THRESHOLDS (answer_min {t['answer_min']}, answer_margin "
        f"{t['answer_margin']}, suggest_min {t['suggest_min']}, max_suggestions "
        f"{t['max_suggestions']}), K=20. In scope: all 77 articles indexed. Out of scope: "
        f"{OOS_REMOVED} articles removed from the index, their queries asked. Unrelated: "
        "10 non-banking questions per language.",
        "",
        "| dataset | in scope: answer (right) | suggest (contains right) | no match "
        "| out of scope: answer | suggest | no match | unrelated: no match |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["thresholds"]:
        i, o, u = r["in_scope"], r["out_of_scope"], r["unrelated"]
        lines.append(
            f"| {DATASET_TITLES[r['dataset']]} | {pct(i['answer_share'])} "
            f"({pct(i['answer_precision'])}) | {pct(i['suggest_share'])} "
            f"({pct(i['suggest_contains_right'])}) | {pct(i['no_match_share'])} "
            f"| {pct(o['answer_share'])} | {pct(o['suggest_share'])} "
            f"| {pct(o['no_match_share'])} | {pct(u['no_match_share'])} |"
        )
    return "\n".join(lines)


def markdown_latency(report: dict[str, Any]) -> str:
    """Sanad-only latency table (``--latency``)."""
    lines = [
        f"Latency per query, Sanad only (articles of 5 phrasings; p50/p99 over all dev "
        f"queries, medians over {report['repeat']} passes); pinned to core {report['core']}.",
        "",
        "| queries | articles | texts | build | Sanad p50 | Sanad p99 | CPU p50 / p99 "
        "| 1-min load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["latency"]:
        load = "-" if r["load_average"] is None else f"{r['load_average']:.2f}"
        lines.append(
            f"| {DATASET_TITLES[r['dataset']]} | {r['articles']:,} | {r['texts']:,} "
            f"| {r['build_ms'] / 1000:.2f} s | {r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms "
            f"| {r['cpu_p50_ms']:.3f} / {r['cpu_p99_ms']:.3f} ms | {load} |"
        )
    return "\n".join(lines)


# Design checks: each variant changes one choice of the final model (faq.matcher._Params).
ABLATIONS: dict[str, dict[str, Any]] = {
    "final model": {},
    "nearest single phrasing (no aggregation)": {
        "w_max": 1.0,
        "w_centroid": 0.0,
        "w_artdoc": 0.0,
        "pool": 10**9,
        "candidates": 10**9,
    },
    "best phrasing + centroid, no article document": {
        "w_max": 0.4,
        "w_centroid": 0.6,
        "w_artdoc": 0.0,
    },
    "character n-grams only": {"w_word": 0.0, "w_bigram": 0.0, "w_char": 1.0},
    "words and word bigrams only": {"w_word": 0.75, "w_bigram": 0.25, "w_char": 0.0},
    "character 3-5-grams instead of 2-4": {"char_min": 3, "char_max": 5},
    "no misspelling correction": {"fuzzy_cutoff": 0.0},
    "exhaustive scoring (no staged search)": {
        "pool": 10**9,
        "candidates": 10**9,
        "postings_budget": 0,
    },
}
_ARABIC_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def add_typos(text: str, rng: random.Random) -> str:
    """One random edit (swap, deletion or insertion inside the word) in up to two words of
    five letters or more."""
    words = text.split()
    letters = _ARABIC_LETTERS if any("\u0600" <= c <= "\u06ff" for c in text) else None
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    for i in rng.sample(candidates, min(2, len(candidates))):
        w = list(words[i])
        j = rng.randrange(1, len(w) - 1)
        op = rng.choice("sdi")
        if op == "s":
            w[j], w[j + 1] = w[j + 1], w[j]
        elif op == "d":
            del w[j]
        else:
            w.insert(j, rng.choice(letters or "abcdefghijklmnopqrstuvwxyz"))
        words[i] = "".join(w)
    return " ".join(words)


def run_ablations(data: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Top-1 on the K=20 dev sets for each variant of ABLATIONS, and top-1 on the same
    queries with seeded synthetic typos, with and without misspelling correction."""
    from faq.matcher import _Params

    sets = {}
    for name, (art_pattern, query_file) in DATASETS.items():
        sets[name] = (load_jsonl(data / art_pattern.format(k=20)), load_jsonl(data / query_file))

    def top1(params: _Params, name: str, typos: bool) -> float:
        articles, queries = sets[name]
        index = MatchIndex._build(entries_of(articles), params)
        rng = random.Random(SEED)
        right = 0
        for q in queries:
            text = add_typos(q["text"], rng) if typos else q["text"]
            hits = index.search(text, q["lang"], 1)
            right += bool(hits) and hits[0].article_id == q["article_id"]
        return right / len(queries)

    variants = []
    for label, changes in ABLATIONS.items():
        params = _Params(**changes)
        variants.append({"variant": label, **{n: top1(params, n, False) for n in DATASETS}})
        log(f"ablation {label}: done")
    typos = []
    for label, params in (
        ("with correction (final)", _Params()),
        ("without correction", _Params(fuzzy_cutoff=0.0)),
    ):
        typos.append({"variant": label, **{n: top1(params, n, True) for n in DATASETS}})
    log("ablation typos: done")
    return {"variants": variants, "typos": typos, "staged": staged_vs_exhaustive(data, log)}


def staged_vs_exhaustive(data: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """At 10,000 articles (as in the latency benchmark): how often the staged search returns
    the same hits as exhaustive scoring, and how often its first hit is the query's own
    (real) article, for both."""
    from faq.matcher import _Params

    exhaustive = _Params(pool=10**9, candidates=10**9, postings_budget=0)
    rows = []
    for name in ("en", "msa"):
        art_pattern, query_file = DATASETS[name]
        real = load_jsonl(data / art_pattern.format(k=5))
        pool = load_jsonl(data / art_pattern.format(k=20))
        entries = entries_of(pad_articles(real, pool, 10_000))
        queries = load_jsonl(data / query_file)
        staged_index = MatchIndex.build(entries)
        full_index = MatchIndex._build(entries, exhaustive)
        same1 = same3 = right = right_full = 0
        for q in queries:
            got = [h.article_id for h in staged_index.search(q["text"], q["lang"], 3)]
            want = [h.article_id for h in full_index.search(q["text"], q["lang"], 3)]
            same1 += got[:1] == want[:1]
            same3 += got == want
            right += got[:1] == [q["article_id"]]
            right_full += want[:1] == [q["article_id"]]
        n = len(queries)
        rows.append(
            {
                "dataset": name,
                "queries": n,
                "same_first_hit": same1 / n,
                "same_top3": same3 / n,
                "first_hit_right": right / n,
                "first_hit_right_exhaustive": right_full / n,
            }
        )
        log(f"staged vs exhaustive {name}: done")
    return rows


def markdown_ablations(report: dict[str, Any]) -> str:
    lines = [
        "Top-1 on the dev queries, K=20:",
        "",
        "| variant | English | Arabic MSA | Arabic Palestinian |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['variant']} | {r['en']:.3f} | {r['msa']:.3f} | {r['pal']:.3f} |"
        for r in report["variants"]
    ]
    lines += [
        "",
        "Top-1 on the same queries with synthetic typos (one edit in up to two words of 5+ "
        "letters, seeded), K=20:",
        "",
        "| misspelling correction | English | Arabic MSA | Arabic Palestinian |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['variant']} | {r['en']:.3f} | {r['msa']:.3f} | {r['pal']:.3f} |"
        for r in report["typos"]
    ]
    lines += [
        "",
        "Staged search vs exhaustive scoring at 10,000 articles (5 phrasings each, padded as "
        "in the latency benchmark), all dev queries:",
        "",
        "| queries | same first hit | same top 3 | first hit right: staged / exhaustive |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {DATASET_TITLES[r['dataset']]} | {pct(r['same_first_hit'])} | "
        f"{pct(r['same_top3'])} | {pct(r['first_hit_right'])} / "
        f"{pct(r['first_hit_right_exhaustive'])} |"
        for r in report["staged"]
    ]
    return "\n".join(lines)


def run_modes(data: Path, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Fused and lexical modes side by side, and their cost (needs the model)."""
    cache = faq_fused.default_cache()
    if cache is None:
        log("semantic backend unavailable: fused figures skipped")
        return {"semantic": None}
    return {
        "semantic": cache.embedder.model,
        "thresholds_by_mode": faq_fused.thresholds_used(),
        "modes": faq_fused.suite_modes(
            data, DATASETS, entries_of, load_jsonl, UNRELATED, cache, log, OOS_REMOVED, SEED
        ),
        "cost": faq_fused.suite_cost(
            data, DATASETS, entries_of, load_jsonl, pad_articles, cache, repeats, log
        ),
    }


def markdown_modes(report: dict[str, Any]) -> str:
    if not report.get("semantic"):
        return "Fused mode: semantic backend unavailable."
    lines = [
        f"### Lexical vs fused ({report['semantic']}), dev queries, K=20",
        "",
        "| queries | mode | top-1 | top-3 | direct answers (precision) | suggestion has the "
        "right one | no match | out-of-scope direct answers | unrelated: no match |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["modes"]:
        for mode in ("lexical", "fused"):
            i, o, u = (r[mode][k] for k in ("in_scope", "out_of_scope", "unrelated"))
            lines.append(
                f"| {DATASET_TITLES[r['dataset']]} | {mode} | {i['top1']:.3f} | {i['top3']:.3f}"
                f" | {pct(i['answer_share'])} ({pct(i['answer_precision'])}) | "
                f"{pct(i['suggest_contains_right'])} | {pct(i['no_match_share'])} | "
                f"{pct(o['answer_share'])} | {pct(u['no_match_share'])} |"
            )
    lines += [
        "",
        "### Cost per query and per build (one core; fused includes the query embedding)",
        "",
        "| queries | articles | lexical CPU p50 / p99 | fused CPU p50 / p99 | lexical build | "
        "semantic index from stored vectors | cold build (estimate) | rebuild peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report["cost"]:
        lx, fu = c["lexical"], c["fused"]
        lines.append(
            f"| {DATASET_TITLES[c['dataset']]} | {c['articles']:,} | "
            f"{lx['cpu_p50_ms']:.2f} / {lx['cpu_p99_ms']:.2f} ms | "
            f"{fu['cpu_p50_ms']:.1f} / {fu['cpu_p99_ms']:.1f} ms | {c['lexical_build_s']:.2f} s | "
            f"{c['warm_semantic_build_s']:.2f} s | {c['cold_build_s_estimate']:.0f} s | "
            f"{c['rebuild_peak_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def run_all(data: Path, repeats: int, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    core = pin_one_core()
    baseline_queries = {77: 200, 1_000: 200, 10_000: 50}
    if quick:
        baseline_queries = {77: 50, 1_000: 20, 10_000: 5}
    t = DEFAULT_THRESHOLDS
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "core": core,
        "repeat": repeats,
        "accuracy": suite_accuracy(data, log),
        "latency": suite_latency(data, repeats, baseline_queries, log),
        "thresholds_used": {
            "answer_min": t.answer_min,
            "answer_margin": t.answer_margin,
            "suggest_min": t.suggest_min,
            "max_suggestions": t.max_suggestions,
        },
        "thresholds": suite_thresholds(data, log),
        **run_modes(data, repeats, log),
    }
    report["load_average_before_after"] = [
        load_before,
        os.getloadavg() if hasattr(os, "getloadavg") else None,
    ]
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faq_bench", description=__doc__)
    parser.add_argument("--articles", type=Path, help="articles JSONL (faq-bench format)")
    parser.add_argument("--queries", type=Path, help="queries JSONL (faq-bench format)")
    parser.add_argument("--baseline", action="store_true", help="also run the baseline")
    parser.add_argument("--all", action="store_true", help="run the full suite")
    parser.add_argument("--data", help="faq-bench directory (default: ../shared/faq-bench)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (median)")
    parser.add_argument("--quick", action="store_true", help="--all with fewer baseline calls")
    parser.add_argument(
        "--ablations", action="store_true", help="design checks: model variants, typo robustness"
    )
    parser.add_argument(
        "--mode",
        choices=("fused", "lexical"),
        default="fused",
        help="with --articles/--queries: matching mode (fused falls back to lexical when the "
        "model is absent)",
    )
    parser.add_argument(
        "--modes", action="store_true", help="only lexical vs fused figures and their cost"
    )
    parser.add_argument(
        "--edit-stall",
        type=int,
        metavar="ARTICLES",
        help="how long chats wait while an FAQ edit is applied at this many articles",
    )
    parser.add_argument(
        "--latency",
        type=int,
        nargs="+",
        metavar="ARTICLES",
        help="only the latency benchmark, at these index sizes (e.g. --latency 10000); "
        "Sanad only unless --baseline",
    )
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.edit_stall:
        report = faq_edit.run(args.edit_stall, data_dir(args.data), log)
        print(json.dumps(report, indent=2) if args.json else faq_edit.markdown(report))
        return 0
    if args.all or args.ablations or args.latency or args.modes:
        data = data_dir(args.data)
        if not data.is_dir():
            parser.error(f"faq-bench data not found at {data} (use --data or SANAD_FAQ_BENCH)")
        if args.latency:
            core = pin_one_core()
            counts = {77: 200, 1_000: 200, 10_000: 50} if args.baseline else {}
            rows = suite_latency(data, args.repeat, counts, log, args.latency)
            report = {"core": core, "repeat": args.repeat, "latency": rows}
            text = markdown_latency(report) if not args.baseline else json.dumps(rows, indent=2)
        elif args.modes:
            pin_one_core()
            report = run_modes(data, args.repeat, log)
            text = markdown_modes(report)
        elif args.ablations:
            report = run_ablations(data, log)
            text = markdown_ablations(report)
        else:
            report = run_all(data, args.repeat, args.quick, log)
            text = markdown(report) + "\n\n" + markdown_modes(report)
        print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else text)
        return 0
    if not (args.articles and args.queries):
        parser.error("give --articles and --queries, or --all")
    if args.baseline or args.mode == "lexical":
        result = run_pair(args.articles, args.queries, args.baseline, args.repeat)
    else:
        pin_one_core()
        result = faq_fused.run_pair(
            load_jsonl(args.articles), load_jsonl(args.queries), entries_of, "fused", args.repeat
        )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
