"""Quick cost checks of FAQ matching at 10,000 articles (issue 11), for A/B runs against another
checkout (run the same command with ``PYTHONPATH`` set to it).

``python -m bench.faq_cost build``
    Lexical index build at 10,000 articles (English and MSA, synthetic padding as in
    ``bench.faq_bench``): wall and CPU time, and the peak of Python and numpy allocations
    (tracemalloc, a second build).
``python -m bench.faq_cost query [--dataset en|msa|pal] [--full] [--tokens N] [--passes N]``
    CPU per query at 10,000 articles (300 dev queries, one pinned core): the lexical search,
    the semantic scores (every phrasing, and the pool the matcher takes), the fused decision
    without the query embedding, the cap, the embedding, and the whole query as the service
    spends it. ``--full`` scores every phrasing (the search before the centroid pool) and
    ``--tokens N`` caps the embedded text at N tokens (``SANAD_FAQ_QUERY_TOKENS``; unset: the
    first 24 words, as shipped); the A/B in one checkout.
``python -m bench.faq_cost warm [--db FILE]``
    Warm start at 10,000 articles: ``FaqService.reload`` on SQLite with every embedding stored
    (the database is seeded once into ``--db``, default ``/tmp/sanad-faq-cost-10k.db``, and
    copied for each run).

Each line ends with the 1-minute load average.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench import faq_edit, faq_fused  # noqa: E402
from bench.faq_bench import pin_one_core  # noqa: E402
from bench.faq_data import DATASETS, data_dir, entries_of, load_jsonl, pad_articles  # noqa: E402
from faq.fusion import CENTROID_POOL, SEMANTIC_POOL, Matcher  # noqa: E402
from faq.matcher import MatchIndex  # noqa: E402
from faq.semantic import MAX_QUERY_WORDS, load_embedder, query_text  # noqa: E402
from faq.service import FaqService  # noqa: E402
from storage.db import Database  # noqa: E402

SIZE = 10_000


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _articles(name: str, size: int = SIZE) -> tuple[list[dict[str, Any]], int]:
    data = data_dir(None)
    pattern, _ = DATASETS[name]
    real = load_jsonl(data / pattern.format(k=5))
    return pad_articles(real, load_jsonl(data / pattern.format(k=20)), size), len(real)


def build() -> None:
    for name in ("en", "msa"):
        entries = entries_of(_articles(name)[0])
        load = _load()
        t0, c0 = time.perf_counter(), time.process_time()
        MatchIndex.build(entries)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        gc.collect()
        tracemalloc.start()
        MatchIndex.build(entries)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(
            f"build {name} {SIZE}: wall {wall:.2f} s, cpu {cpu:.2f} s, peak {peak:.0f} MB; {load}"
        )


def _percentiles(run: Callable[[int], object], n: int) -> tuple[float, float]:
    out = []
    for i in range(n):
        c0 = time.thread_time_ns()
        run(i)
        out.append((time.thread_time_ns() - c0) / 1e6)
    return float(np.percentile(out, 50)), float(np.percentile(out, 99))


def query(
    name: str = "en", pruned: bool = True, tokens: int | None = None, passes: int = 3
) -> None:
    """CPU per query at 10,000 articles of ``name``'s dev queries (300, one pinned core):
    the parts, then the whole as the service spends it (the lexical shortcut, the cap, the
    embedding, the decision), median of ``passes`` passes of p50 / p99. ``pruned=False``
    scores every phrasing (the search before the centroid pool), ``tokens`` caps what is
    embedded at that many tokens (``SANAD_FAQ_QUERY_TOKENS``): the A/B of both in one checkout."""
    pin_one_core()
    articles, n_real = _articles(name)
    cache = faq_fused.default_cache()
    if cache is None:
        raise SystemExit("the semantic backend is not installed")
    embedder = cache.embedder

    def cut(text: str) -> str:
        return query_text(text, embedder, tokens)

    queries = random.Random(77).sample(load_jsonl(data_dir(None) / DATASETS[name][1]), 300)
    vecs = cache.get([cut(q["text"]) for q in queries])
    lexical = MatchIndex.build(entries_of(articles))
    padding = frozenset(a["id"] for a in articles[n_real:])
    semantic = faq_fused.semantic_index(articles, cache, padding)
    matcher = Matcher(lexical, semantic, centroid_pool=CENTROID_POOL if pruned else None)
    n = len(queries)
    lang = queries[0]["lang"]
    setup = f"{name} {SIZE}, {'pruned' if pruned else 'full'} search, " + (
        f"{MAX_QUERY_WORDS}-word cap" if tokens is None else f"{tokens}-token cap"
    )

    def service(i: int) -> None:
        faq_fused.decide_as_service(matcher, embedder, queries[i]["text"], lang, tokens)

    gc.disable()
    try:
        rows = {
            "lexical search (20 hits)": lambda i: lexical.search(queries[i]["text"], lang, 20),
            "semantic scores, every phrasing": lambda i: semantic.scores(vecs[i], lang),
            "semantic pool (as the matcher)": lambda i: semantic.pooled(
                vecs[i], lang, SEMANTIC_POOL, (), matcher.centroid_pool
            ),
            "fused decision, embedding given": lambda i: matcher.decide(
                queries[i]["text"], lang, vecs[i]
            ),
            "cap (token count)": lambda i: cut(queries[i]["text"]),
            "query embedding": lambda i: embedder.embed([cut(queries[i]["text"])]),
            "fused per query, as the service": service,
        }
        for label, run in rows.items():
            figures = [_percentiles(run, n) for _ in range(passes)]
            p50 = float(np.median([f[0] for f in figures]))
            p99 = float(np.median([f[1] for f in figures]))
            print(f"query {setup}: {label}: CPU p50 / p99 {p50:.2f} / {p99:.2f} ms; {_load()}")
    finally:
        gc.enable()
    cache.save()


async def _warm(seeded: Path) -> None:
    embedder = load_embedder("auto")
    if not await asyncio.to_thread(seeded.exists):
        articles, n_real = _articles("en")
        print(f"seeding {seeded}", flush=True)
        await faq_edit._seed(seeded, articles, {a["id"] for a in articles[:n_real]}, embedder)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warm.db"
        shutil.copyfile(seeded, path)
        db = Database(f"sqlite+aiosqlite:///{path}")
        faq = FaqService(db, embedder=embedder)
        load = _load()
        t0 = time.perf_counter()
        await faq.reload()
        seconds = time.perf_counter() - t0
        stats = faq.last_rebuild
        lexical = stats.lexical_ms / 1000 if stats is not None else float("nan")
        print(
            f"warm start {SIZE}: {seconds:.2f} s (lexical index ready after {lexical:.2f} s), "
            f"mode {faq.mode}; {load}"
        )
        await faq.close()
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faq_cost", description=__doc__)
    parser.add_argument("what", choices=("build", "query", "warm"))
    parser.add_argument("--db", type=Path, default=Path("/tmp/sanad-faq-cost-10k.db"))
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="en", help="query: queries")
    parser.add_argument("--full", action="store_true", help="query: score every phrasing")
    parser.add_argument("--tokens", type=int, default=None, help="query: a token cap")
    parser.add_argument("--passes", type=int, default=3, help="query: passes (median)")
    args = parser.parse_args(argv)
    if args.what == "build":
        build()
    elif args.what == "query":
        query(args.dataset, not args.full, args.tokens, args.passes)
    else:
        asyncio.run(_warm(args.db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
