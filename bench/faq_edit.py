"""How long chats wait while an FAQ edit is applied (issue 17, point 5).

``python -m bench.faq_bench --edit-stall 10000``: a SQLite database with 10,000 published
articles (the 77 English faq-bench articles of 5 phrasings, padded with synthetic ones) and their
embeddings stored; :class:`faq.service.FaqService` warm-starts from them (timed). Four simulated
chats then ask questions back to back through ``FaqService.answer`` inside their own
transactions, as the bot does, while

1. one article is changed by *another process* (a separate transaction, as the CLI does); the
   service notices it from its fingerprint check and rebuilds in the background, and
2. one article is changed *through this process* and ``reload()`` is called, as the web API
   does after an edit.

Reported: each chat's time per answer before the edits (a baseline of ``BASELINE_S`` after a
``WARMUP_S`` warm-up), while a rebuild is under way, and for ``BASELINE_S`` after the edits (the
shared machine's load drifts: a tail that is as long after as during is the load, not the
rebuild); the largest wait; the rebuild times; the resident memory of the process before and
during the rebuilds (sampled every 20 ms) and the index worker process's peak. Set
``SANAD_EDIT_STALL_DB=/some/path.db`` to seed a database once and reuse a copy of it afterwards
(seeding takes minutes, the measured part under two).

Synthetic articles get random unit vectors as stored embeddings (see ``bench/faq_fused.py``);
the edited article's new phrasing is embedded by the model during the edit.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faq.articles import ArticleIn, upsert_articles, validate_article
from faq.embeddings import store_vectors, text_key
from faq.semantic import load_embedder
from faq.service import FaqService
from storage.db import Database

CHATS = 4
WARMUP_S = 3.0  # first answers (cold per-word caches) are not part of the baseline
BASELINE_S = 10.0
# A seeded database to reuse (copied, never changed): seeding takes minutes, the run seconds.
DB_ENV = "SANAD_EDIT_STALL_DB"


def _now() -> datetime:
    return datetime.now(UTC)


def _article(record: dict[str, Any]) -> ArticleIn:
    return validate_article(
        {
            "id": record["id"],
            "lang": record["lang"],
            "question": record["question"],
            "phrasings": [p for p in record["phrasings"] if p != record["question"]],
            "answer": record.get("answer") or f"answer for {record['id']}",
        }
    )


async def _chat(
    faq: FaqService,
    db: Database,
    queries: list[str],
    stop: asyncio.Event,
    log: list[tuple[float, float]],
) -> None:
    rng = random.Random(len(log))
    while not stop.is_set():
        text = rng.choice(queries)
        t0 = time.perf_counter()
        prepared = await faq.prepare(text, "en")  # as the bot does: no transaction open
        async with db.transaction() as session:
            await faq.answer(session, text, language="en", at=_now(), prepared=prepared)
        log.append((t0, time.perf_counter() - t0))
        await asyncio.sleep(0.01)


async def _loop_lag(stop: asyncio.Event, log: list[tuple[float, float]]) -> None:
    """How late the event loop wakes up from 5 ms sleeps: the time nothing else could run."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.005)
        log.append((t0, time.perf_counter() - t0 - 0.005))


def _summary(waits: list[float]) -> dict[str, float]:
    if not waits:
        return {"answers": 0}
    ms = sorted(w * 1000 for w in waits)
    return {
        "answers": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": ms[-1],
    }


def _rss_mb() -> float:
    """Resident set of this process now (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _seed(
    path: Path, records: list[dict[str, Any]], real_ids: set[str], embedder: Any
) -> None:
    from bench.faq_data import article_texts

    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    async with db.transaction() as session:
        await upsert_articles(session, [_article(r) for r in records], _now(), actor="bench")
    if embedder is not None:
        rng = np.random.default_rng(77)
        vectors: dict[str, Any] = {}
        for r in records:
            texts = article_texts(r)
            if r["id"] in real_ids:
                rows = embedder.embed(texts)
            else:
                rows = rng.standard_normal((len(texts), embedder.dim)).astype(np.float32)
                rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            vectors.update({text_key(t): v for t, v in zip(texts, rows, strict=True)})
        async with db.transaction() as session:
            await store_vectors(session, embedder.model, vectors, _now())
    await db.dispose()


async def _run(n_articles: int, data: Path, say: Any) -> dict[str, Any]:
    from bench.faq_data import DATASETS, load_jsonl, pad_articles

    art_pattern, query_file = DATASETS["en"]
    real = load_jsonl(data / art_pattern.format(k=5))
    pool = load_jsonl(data / art_pattern.format(k=20))
    records = pad_articles(real, pool, n_articles)
    queries = [q["text"] for q in load_jsonl(data / query_file)]
    embedder = load_embedder("auto")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edit.db"
        seeded = Path(os.environ.get(DB_ENV) or path)
        if not await asyncio.to_thread(seeded.exists):
            say(f"storing {len(records)} articles and their embeddings")
            await _seed(seeded, records, {a["id"] for a in real}, embedder)
        if seeded != path:
            say(f"copying the seeded database {seeded}")
            shutil.copyfile(seeded, path)
        db = Database(f"sqlite+aiosqlite:///{path}")
        faq = FaqService(db, embedder=embedder, refresh_s=0.5)
        t0 = time.perf_counter()
        await faq.reload()
        warm_start_s = time.perf_counter() - t0
        say(f"warm start: {warm_start_s:.1f} s, mode {faq.mode}")
        waits: list[tuple[float, float]] = []
        stop = asyncio.Event()
        chats = [asyncio.create_task(_chat(faq, db, queries, stop, waits)) for _ in range(CHATS)]
        lags: list[tuple[float, float]] = []
        chats.append(asyncio.create_task(_loop_lag(stop, lags)))
        await asyncio.sleep(WARMUP_S)
        baseline_start = time.perf_counter()
        await asyncio.sleep(BASELINE_S)
        baseline_end = time.perf_counter()
        rebuilds: dict[str, Any] = {}
        rss_before = _rss_mb()
        rss_peak = rss_before
        sampling = asyncio.Event()

        async def sample_rss() -> None:
            nonlocal rss_peak
            while not sampling.is_set():
                rss_peak = max(rss_peak, _rss_mb())
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample_rss())

        async def edit(slug: str, phrasing: str) -> None:
            rec = next(r for r in records if r["id"] == slug)
            changed = {**rec, "phrasings": [*rec["phrasings"], phrasing]}
            async with db.transaction() as session:
                await upsert_articles(session, [_article(changed)], _now(), actor="bench")

        # 1. Another process edits: noticed by the chats' fingerprint check.
        edit_start = time.perf_counter()
        before = faq.last_rebuild
        await edit(real[0]["id"], "is my new card already on its way to me")
        while faq.last_rebuild is before:  # noqa: ASYNC110 (set by the background rebuild)
            await asyncio.sleep(0.05)
        await faq.wait_idle()
        rebuilds["other_process_s"] = time.perf_counter() - edit_start
        rebuilds["other_process_rebuild_ms"] = faq.last_rebuild.total_ms  # type: ignore[union-attr]
        # 2. This process edits and reloads (the web API's way).
        t0 = time.perf_counter()
        await edit(real[1]["id"], "the card payment I made is still showing as pending")
        await faq.reload()
        rebuilds["this_process_s"] = time.perf_counter() - t0
        edit_end = time.perf_counter()
        sampling.set()
        await sampler
        # The same chats after the edits: how much the machine's load drifted meanwhile.
        await asyncio.sleep(0.5)
        after_start = time.perf_counter()
        await asyncio.sleep(BASELINE_S)
        after_end = time.perf_counter()
        stop.set()
        await asyncio.gather(*chats)
        await faq.close()
        await db.dispose()
    windows = {
        "baseline": (baseline_start, baseline_end),
        "during_edits": (edit_start, edit_end),
        "after_edits": (after_start, after_end),
    }

    def window(log: list[tuple[float, float]], start: float, end: float) -> list[float]:
        return [w for t, w in log if start <= t < end or t < start < t + w]

    last = faq.last_rebuild
    return {
        "articles": n_articles,
        "chats": CHATS,
        "mode": faq.mode,
        "warm_start_s": warm_start_s,
        **{name: _summary(window(waits, *span)) for name, span in windows.items()},
        "loop_lag": {name: _summary(window(lags, *span)) for name, span in windows.items()},
        "rebuild_s": (last.total_ms / 1000) if last else None,
        "lexical_rebuild_s": (last.lexical_ms / 1000) if last else None,
        **rebuilds,
        "rss_before_edits_mb": rss_before,
        "rss_peak_during_edits_mb": rss_peak,
        "worker_peak_mb": getattr(last, "worker_peak_mb", None),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(n_articles: int, data: Path, say: Any) -> dict[str, Any]:
    return asyncio.run(_run(n_articles, data, say))


def markdown(r: dict[str, Any]) -> str:
    b, d, a = r["baseline"], r["during_edits"], r["after_edits"]
    lag = r["loop_lag"]
    return "\n".join(
        [
            f"FAQ edit at {r['articles']:,} articles, {r['chats']} chats, mode {r['mode']}:",
            "",
            "| | answers | p50 | p99 | max |",
            "|---|---:|---:|---:|---:|",
            f"| before the edits | {b['answers']} | {b['p50_ms']:.0f} ms | {b['p99_ms']:.0f} ms "
            f"| {b['max_ms']:.0f} ms |",
            f"| while rebuilding | {d['answers']} | {d['p50_ms']:.0f} ms | {d['p99_ms']:.0f} ms "
            f"| {d['max_ms']:.0f} ms |",
            f"| after the edits | {a['answers']} | {a['p50_ms']:.0f} ms | {a['p99_ms']:.0f} ms "
            f"| {a['max_ms']:.0f} ms |",
            "",
            "Event-loop lag (lateness of 5 ms sleeps), p99 / max: "
            + ", ".join(
                f"{name} {lag[key]['p99_ms']:.0f} / {lag[key]['max_ms']:.0f} ms"
                for name, key in (
                    ("before", "baseline"),
                    ("while rebuilding", "during_edits"),
                    ("after", "after_edits"),
                )
            )
            + ".",
            "",
            f"Rebuild (read, lexical index, semantic update, swap): "
            f"{r['rebuild_s']:.2f} s, of which lexical {r['lexical_rebuild_s']:.2f} s; an edit "
            f"by another process was serving after {r['other_process_s']:.2f} s, one made here "
            f"after {r['this_process_s']:.2f} s. Warm start: {r['warm_start_s']:.1f} s. "
            f"Peak RSS of the process: {r['max_rss_mb']:.0f} MB; while rebuilding "
            f"{r['rss_peak_during_edits_mb']:.0f} MB against {r['rss_before_edits_mb']:.0f} MB "
            f"before the edits; worker process peak: "
            + (f"{r['worker_peak_mb']:.0f} MB." if r["worker_peak_mb"] else "none (no worker)."),
        ]
    )
