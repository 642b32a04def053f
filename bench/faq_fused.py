"""Fused (lexical + embeddings) versus lexical-only FAQ matching on faq-bench, same run.

Used by ``python -m bench.faq_bench`` (see its docstring): ``run_pair`` for one articles/queries
pair in either mode, ``suite_modes`` for the per-language and per-dialect table of both modes
(top-1/top-3, direct-answer share and precision, suggestion hit rate, no-match share,
out-of-scope direct answers with articles removed, unrelated questions), ``suite_cost`` for CPU
per query at 77 and 10,000 articles (query embedding included), build times cold and warm and
the memory a rebuild takes.

Embeddings of the bench texts are cached in a file per model (``--cache``, default
``$SANAD_FAQ_BENCH_CACHE`` or the system temporary directory) so that repeated runs do not
embed the same texts again; the cold build time is measured with the model, never from the
cache. At 10,000 articles the synthetic padding articles get random unit vectors instead of
model embeddings (embedding 50,000 texts would take about 15 minutes of one core and does not
change what a search costs: the same matrix sizes, the same code); the 77 real articles and
every query are embedded by the model.
"""

from __future__ import annotations

import gc
import hashlib
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faq.fusion import FUSED_THRESHOLDS, Matcher, Mode, SemanticIndex
from faq.matcher import DEFAULT_THRESHOLDS, MatchIndex, Outcome, Thresholds
from faq.semantic import Embedder, embedding_text, load_embedder, query_text

Record = dict[str, Any]
Float32Array = npt.NDArray[np.float32]
Log = Callable[[str], None]


def _key(text: str) -> str:
    return hashlib.sha256(embedding_text(text).encode("utf-8")).hexdigest()


class VectorCache:
    """Embeddings of bench texts, kept in an ``.npz`` file per model between runs."""

    def __init__(self, embedder: Embedder, directory: Path | None = None) -> None:
        self.embedder = embedder
        base = directory or Path(
            os.environ.get("SANAD_FAQ_BENCH_CACHE") or Path(tempfile.gettempdir())
        )
        safe = "".join(c if c.isalnum() else "_" for c in embedder.model)
        self.path = base / f"sanad-faq-bench-{safe}.npz"
        self.vectors: dict[str, Float32Array] = {}
        if self.path.exists():
            with np.load(self.path) as data:
                keys, rows = data["keys"], data["rows"]
                self.vectors = {str(k): rows[i] for i, k in enumerate(keys)}
        self.dirty = False

    def get(self, texts: Sequence[str], log: Log | None = None) -> Float32Array:
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in self.vectors))
        if missing:
            if log:
                log(f"embedding {len(missing)} texts (cached for later runs in {self.path})")
            for i in range(0, len(missing), 64):
                batch = missing[i : i + 64]
                rows = self.embedder.embed([embedding_text(t) for t in batch])
                self.vectors.update({_key(t): r for t, r in zip(batch, rows, strict=True)})
            self.dirty = True
        return np.stack([self.vectors[_key(t)] for t in texts]).astype(np.float32)

    def save(self) -> None:
        if not self.dirty:
            return
        keys = np.array(list(self.vectors))
        rows = np.stack(list(self.vectors.values()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, rows=rows)
        tmp.replace(self.path)
        self.dirty = False


def article_texts(article: Record) -> list[str]:
    return list(dict.fromkeys([article["question"], *article["phrasings"]]))


def semantic_index(
    articles: Sequence[Record], cache: VectorCache, random_ids: frozenset[str] = frozenset()
) -> SemanticIndex:
    """Embeddings of the articles' texts; articles in ``random_ids`` get random unit vectors."""
    dim = cache.embedder.dim
    rng = np.random.default_rng(77)
    real = [a for a in articles if a["id"] not in random_ids]
    rows = cache.get([t for a in real for t in article_texts(a)])
    by_lang: dict[str, dict[str, Float32Array]] = {}
    at = 0
    for a in real:
        n = len(article_texts(a))
        by_lang.setdefault(a["lang"], {})[a["id"]] = rows[at : at + n]
        at += n
    for a in articles:
        if a["id"] in random_ids:
            vecs = rng.standard_normal((len(article_texts(a)), dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            by_lang.setdefault(a["lang"], {})[a["id"]] = vecs
    return SemanticIndex(by_lang, dim)


def build_matcher(
    articles: Sequence[Record],
    entries_of: Callable[[Sequence[Record]], Any],
    cache: VectorCache | None,
    random_ids: frozenset[str] = frozenset(),
) -> Matcher:
    lexical = MatchIndex.build(entries_of(articles))
    semantic = semantic_index(articles, cache, random_ids) if cache is not None else None
    return Matcher(lexical, semantic)


def evaluate(
    matcher: Matcher,
    queries: Sequence[Record],
    query_vecs: Float32Array | None,
    in_scope: bool,
) -> dict[str, float]:
    """Ranking accuracy and outcome shares of one mode (fused when ``query_vecs`` given)."""
    n = len(queries)
    counts = dict.fromkeys(Outcome, 0)
    top1 = top3 = answer_right = suggest_right = 0
    for i, q in enumerate(queries):
        vec = None if query_vecs is None else query_vecs[i]
        clear = None if vec is None else matcher.decisive(q["text"], q["lang"])
        verdict = clear or matcher.decide(q["text"], q["lang"], vec)
        ranked = [s.article_id for s in verdict.scored]
        d = verdict.decision
        counts[d.outcome] += 1
        gold = q["article_id"]
        top1 += bool(ranked) and ranked[0] == gold
        top3 += gold in ranked[:3]
        if d.outcome is Outcome.ANSWER:
            answer_right += d.hits[0].article_id == gold
        elif d.outcome is Outcome.SUGGEST:
            suggest_right += gold in [h.article_id for h in d.hits]
    out = {f"{o.value}_share": counts[o] / n for o in Outcome}
    if in_scope:
        out.update(
            top1=top1 / n,
            top3=top3 / n,
            answer_precision=answer_right / max(counts[Outcome.ANSWER], 1),
            suggest_contains_right=suggest_right / max(counts[Outcome.SUGGEST], 1),
        )
    return out


def default_cache(directory: Path | None = None) -> VectorCache | None:
    embedder = load_embedder("auto")
    return None if embedder is None else VectorCache(embedder, directory)


def suite_modes(
    data: Path,
    datasets: dict[str, tuple[str, str]],
    entries_of: Callable[[Sequence[Record]], Any],
    load_jsonl: Callable[[Path], list[Record]],
    unrelated: dict[str, list[str]],
    cache: VectorCache,
    log: Log,
    oos_removed: int = 15,
    seed: int = 77,
) -> list[dict[str, Any]]:
    """Both modes per dataset (K=20): in scope, out of scope (articles removed), unrelated."""
    rows = []
    for name, (art_pattern, query_file) in datasets.items():
        articles = load_jsonl(data / art_pattern.format(k=20))
        queries = load_jsonl(data / query_file)
        lang = articles[0]["lang"]
        ids = sorted(a["id"] for a in articles)
        removed = set(random.Random(seed).sample(ids, oos_removed))
        full = build_matcher(articles, entries_of, cache)
        partial = build_matcher([a for a in articles if a["id"] not in removed], entries_of, cache)
        oos = [q for q in queries if q["article_id"] in removed]
        other = [{"text": t, "lang": lang, "article_id": ""} for t in unrelated[lang]]
        qv = cache.get([query_text(q["text"], cache.embedder) for q in queries], log)
        ov = cache.get([query_text(q["text"], cache.embedder) for q in oos])
        uv = cache.get([query_text(q["text"], cache.embedder) for q in other])
        row: dict[str, Any] = {"dataset": name, "queries": len(queries), "oos_queries": len(oos)}
        for mode, vecs in (("lexical", None), ("fused", (qv, ov, uv))):
            row[mode] = {
                "in_scope": evaluate(full, queries, None if vecs is None else vecs[0], True),
                "out_of_scope": evaluate(partial, oos, None if vecs is None else vecs[1], False),
                "unrelated": evaluate(full, other, None if vecs is None else vecs[2], False),
            }
        rows.append(row)
        f, lx = row["fused"]["in_scope"], row["lexical"]["in_scope"]
        log(
            f"modes {name}: top1 lexical {lx['top1']:.3f} fused {f['top1']:.3f}; answers "
            f"lexical {lx['answer_share']:.1%} @ {lx['answer_precision']:.1%}, fused "
            f"{f['answer_share']:.1%} @ {f['answer_precision']:.1%}"
        )
    cache.save()
    return rows


def decide_as_service(
    matcher: Matcher, embedder: Embedder, text: str, lang: str, max_tokens: int | None = None
) -> None:
    """What ``FaqService.verdict`` does with a question, synchronously: one lexical search for
    the shortcut and the fusion, the embedding (cut as the service cuts it) only when the
    lexical answer is not decisive."""
    hits = matcher.lexical_pool(text, lang)
    if matcher.decisive(text, lang, lexical_hits=hits) is None:
        vec = embedder.embed([query_text(text, embedder, max_tokens)])[0]
        matcher.decide(text, lang, vec, lexical_hits=hits)


def time_fused(
    matcher: Matcher, embedder: Embedder | None, queries: Sequence[Record], repeats: int
) -> dict[str, float]:
    """CPU and wall time per query as the service spends it: embedding (fused mode) and
    deciding. Medians over ``repeats`` passes of p50/p99."""
    stats: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "cpu_p50", "cpu_p99")}
    for _ in range(repeats):
        matcher.lexical.clear_caches()
        gc.collect()
        gc.disable()
        wall: list[float] = []
        cpu: list[float] = []
        try:
            for q in queries:
                c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
                if embedder is None:
                    matcher.decide(q["text"], q["lang"], None)
                else:
                    decide_as_service(matcher, embedder, q["text"], q["lang"])
                t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
                wall.append((t1 - t0) / 1e6)
                cpu.append((c1 - c0) / 1e6)
        finally:
            gc.enable()
        stats["p50"].append(float(np.percentile(wall, 50)))
        stats["p99"].append(float(np.percentile(wall, 99)))
        stats["cpu_p50"].append(float(np.percentile(cpu, 50)))
        stats["cpu_p99"].append(float(np.percentile(cpu, 99)))
    return {f"{k}_ms": float(np.median(v)) for k, v in stats.items()}


def rebuild_peak(
    articles: Sequence[Record],
    entries_of: Callable[[Sequence[Record]], Any],
    cache: VectorCache,
    random_ids: frozenset[str],
) -> dict[str, float]:
    """Peak memory (tracemalloc: Python and numpy allocations) and time of one full rebuild:
    lexical index and semantic index from held vectors."""
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    build_matcher(articles, entries_of, cache, random_ids)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rebuild_s": seconds, "rebuild_peak_mb": peak / 2**20}


def suite_cost(
    data: Path,
    datasets: dict[str, tuple[str, str]],
    entries_of: Callable[[Sequence[Record]], Any],
    load_jsonl: Callable[[Path], list[Record]],
    pad_articles: Callable[..., list[Record]],
    cache: VectorCache,
    repeats: int,
    log: Log,
    sizes: Sequence[int] = (77, 10_000),
    n_queries: int = 300,
) -> list[dict[str, Any]]:
    """CPU per query (both modes), build times and memory, per language and index size."""
    rows = []
    embedder = cache.embedder
    for name in ("en", "msa"):
        art_pattern, query_file = datasets[name]
        real = load_jsonl(data / art_pattern.format(k=5))
        pool = load_jsonl(data / art_pattern.format(k=20))
        queries = random.Random(77).sample(load_jsonl(data / query_file), n_queries)
        cache.get([query_text(q["text"], cache.embedder) for q in queries], log)
        # Cold: every text of the 77 real articles embedded by the model, not from the cache.
        texts = [embedding_text(t) for a in real for t in article_texts(a)]
        t0 = time.perf_counter()
        embedder.embed(texts)
        embed_s = time.perf_counter() - t0
        per_text_ms = embed_s * 1000 / len(texts)
        for size in sizes:
            articles = pad_articles(real, pool, size)
            padding = frozenset(a["id"] for a in articles[len(real) :])
            t0 = time.perf_counter()
            lexical = MatchIndex.build(entries_of(articles))
            lexical_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            semantic = semantic_index(articles, cache, padding)
            semantic_s = time.perf_counter() - t0
            matcher = Matcher(lexical, semantic)
            lex_only = Matcher(lexical, None)
            n_texts = sum(len(article_texts(a)) for a in articles)
            row: dict[str, Any] = {
                "dataset": name,
                "articles": size,
                "texts": n_texts,
                "lexical": time_fused(lex_only, None, queries, repeats),
                "fused": time_fused(matcher, embedder, queries, repeats),
                "lexical_build_s": lexical_s,
                "warm_semantic_build_s": semantic_s,
                "embed_ms_per_text": per_text_ms,
                "cold_build_s_estimate": lexical_s + n_texts * per_text_ms / 1000,
                "semantic_index_mb": semantic.nbytes / 2**20,
                **rebuild_peak(articles, entries_of, cache, padding),
            }
            rows.append(row)
            log(
                f"cost {name} {size}: fused cpu p50 {row['fused']['cpu_p50_ms']:.1f} p99 "
                f"{row['fused']['cpu_p99_ms']:.1f} ms; lexical p99 "
                f"{row['lexical']['cpu_p99_ms']:.2f} ms; rebuild {row['rebuild_s']:.1f} s, "
                f"peak {row['rebuild_peak_mb']:.0f} MB"
            )
    cache.save()
    return rows


def thresholds_json(t: Thresholds) -> dict[str, float]:
    return {
        "answer_min": t.answer_min,
        "answer_margin": t.answer_margin,
        "suggest_min": t.suggest_min,
    }


def thresholds_used() -> dict[str, Any]:
    return {
        "lexical": thresholds_json(DEFAULT_THRESHOLDS),
        "fused": {lang: thresholds_json(t) for lang, t in FUSED_THRESHOLDS.items()},
    }


def run_pair(
    articles: Sequence[Record],
    queries: Sequence[Record],
    entries_of: Callable[[Sequence[Record]], Any],
    mode: str,
    repeats: int,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """One pair in ``mode`` (``fused``: falls back to lexical when the model is absent)."""
    cache = default_cache(cache_dir) if mode == "fused" else None
    t0 = time.perf_counter_ns()
    matcher = build_matcher(articles, entries_of, cache)
    build_ms = (time.perf_counter_ns() - t0) / 1e6
    vecs = (
        None
        if cache is None
        else cache.get([query_text(q["text"], cache.embedder) for q in queries])
    )
    figures = evaluate(matcher, queries, vecs, in_scope=True)
    timing = time_fused(matcher, None if cache is None else cache.embedder, queries, repeats)
    if cache is not None:
        cache.save()
    return {
        "mode": (Mode.FUSED if cache is not None else Mode.LEXICAL).value,
        "articles": len(matcher),
        "queries": len(queries),
        "top1": figures["top1"],
        "top3": figures["top3"],
        "p50_ms": timing["p50_ms"],
        "p99_ms": timing["p99_ms"],
        "cpu_p50_ms": timing["cpu_p50_ms"],
        "cpu_p99_ms": timing["cpu_p99_ms"],
        "build_ms": build_ms,
        "outcomes": {k: v for k, v in figures.items() if k not in ("top1", "top3")},
    }
