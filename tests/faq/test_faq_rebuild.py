"""FAQ index rebuilds off the chats' path (issue 17, point 5): the lexical index built in a worker
process for large FAQs and in a thread for small ones, the same answers either way as from a
build from scratch, the old index serving while a rebuild is held or after it failed, the
worker stopped on close, and the semantic index updated per article."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from faq import index_worker
from faq import service as faq_service
from faq.articles import ArticleIn, upsert_articles
from faq.fusion import Float32Array, SemanticIndex
from faq.index_worker import BuildFailed, IndexBuilder
from faq.matcher import Entry, MatchIndex
from faq.service import FaqService, sample_articles
from storage.db import Database

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def _sqlite(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'faq.db'}")
    await db.upgrade()
    return db


async def _load(db: Database, articles: Sequence[ArticleIn]) -> None:
    async with db.transaction() as session:
        await upsert_articles(session, articles, NOW, actor="test")


def _synthetic(n: int) -> list[ArticleIn]:
    """The sample articles and ``n`` more made of halves of their phrasings (enough of them
    for the index's dense block and its low-rank factors to be used)."""
    base = sample_articles()
    rng = random.Random(17)
    out = list(base)
    for i in range(n):
        lang = rng.choice(["en", "ar"])
        texts = [t.split() for a in base if a.lang == lang for t in (a.question, *a.phrasings)]
        phrasings = []
        for _ in range(4):
            x, y = rng.choice(texts), rng.choice(texts)
            phrasings.append(" ".join(x[: len(x) // 2 or 1] + y[len(y) // 2 :]))
        out.append(
            ArticleIn(f"synthetic-{i}", lang, phrasings[0], "synthetic", tuple(phrasings[1:]))
        )
    return out


def _queries(articles: Sequence[ArticleIn]) -> list[str]:
    """Every text of the articles, a misspelled variant of some, and unknown words."""
    texts = [t for a in articles for t in (a.question, *a.phrasings)]
    typos = [t.replace("e", "a", 1) + " pleese" for t in texts[::3]]
    return [*texts, *typos, "zzyzx quux", "مرحبا كيف حالك", "12345"]


def _answers(index: MatchIndex, queries: Sequence[str]) -> list[list[tuple[str, float]]]:
    return [[(h.article_id, h.score) for h in index.search(q, limit=5)] for q in queries]


async def _asked(faq: FaqService, db: Database, queries: Sequence[str]) -> list[object]:
    out: list[object] = []
    for q in queries:
        async with db.transaction() as session:
            r = await faq.answer(session, q, language="en", at=NOW)
        out.append((r.outcome, [a.slug for a in r.articles], r.score))
    return out


# ---------------------------------------------------------------------- the worker process


async def test_a_worker_build_answers_exactly_as_a_build_from_scratch() -> None:
    articles = _synthetic(400)
    entries = [Entry(a.id, a.lang, (a.question, *a.phrasings)) for a in articles]
    builder = IndexBuilder(process_min=1)
    try:
        built = await builder.build(entries)
        assert builder.worker_pid is not None
        assert builder.last_peak_mb is not None and builder.last_peak_mb > 0
    finally:
        await builder.close()
    fresh = MatchIndex.build(entries)
    queries = _queries(articles)
    assert len(built) == len(fresh) == len(articles) and built.n_texts == fresh.n_texts
    assert _answers(built, queries) == _answers(fresh, queries)


async def test_small_faqs_are_built_in_a_thread_without_a_worker() -> None:
    builder = IndexBuilder()
    entries = [Entry(a.id, a.lang, (a.question, *a.phrasings)) for a in sample_articles()]
    index = await builder.build(entries)
    assert len(index) == len(entries) and builder.worker_pid is None
    await builder.close()


async def test_a_build_failing_in_the_worker_raises_and_the_worker_serves_on() -> None:
    builder = IndexBuilder(process_min=1)
    try:
        with pytest.raises(BuildFailed, match="Traceback"):
            # A text that is not a str (the type says it cannot be): the build fails.
            await builder.build([Entry("1", "en", (123,))])  # type: ignore[arg-type]
        pid = builder.worker_pid
        index = await builder.build([Entry("1", "en", ("where is my order",))])
        assert len(index) == 1 and builder.worker_pid == pid
    finally:
        await builder.close()


async def test_large_faqs_use_the_worker_which_close_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the size threshold the service builds in the worker process (the articles read
    in several chunks here) and answers as a service building in a thread; close() ends the
    worker."""
    monkeypatch.setattr(faq_service, "READ_CHUNK", 7)
    db = await _sqlite(tmp_path)
    articles = _synthetic(40)
    await _load(db, articles)
    large = FaqService(db, process_min_articles=10, now=lambda: NOW)
    small = FaqService(db, now=lambda: NOW)
    assert await large.reload() == await small.reload() == len(articles)
    pid = large.builder.worker_pid
    assert pid is not None and small.builder.worker_pid is None
    stats = large.last_rebuild
    assert stats is not None and stats.worker_peak_mb is not None and stats.worker_peak_mb > 0
    queries = _queries(articles[:12])
    assert await _asked(large, db, queries) == await _asked(small, db, queries)
    await large.close()
    await small.close()
    assert large.builder.worker_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await db.dispose()


async def test_the_old_index_answers_while_a_worker_build_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await _sqlite(tmp_path)
    await _load(db, [a for a in sample_articles() if a.lang == "en"][:5])
    faq = FaqService(db, refresh_s=0.0, process_min_articles=1, now=lambda: NOW)
    await faq.reload()
    building, release = threading.Event(), threading.Event()
    real = IndexBuilder._build_in_child

    def held(
        self: IndexBuilder, rows: list[tuple[str, str, tuple[str, ...]]], urgent: bool = False
    ) -> MatchIndex:
        building.set()
        assert release.wait(30)
        return real(self, rows, urgent)

    monkeypatch.setattr(IndexBuilder, "_build_in_child", held)
    question = "Do you deliver on the moon?"
    await _load(db, [ArticleIn("moon", "en", question, "Not yet.", category="delivery")])
    async with db.transaction() as session:  # notices the change and schedules the rebuild
        await faq.answer(session, question, language="en", at=NOW)
    assert await asyncio.to_thread(building.wait, 30)
    async with db.transaction() as session:
        during = await faq.answer(session, question, language="en", at=NOW)
    assert all(a.slug != "moon" for a in during.articles) and len(faq.index) == 5
    release.set()
    await faq.wait_idle()
    async with db.transaction() as session:
        after = await faq.answer(session, question, language="en", at=NOW)
    assert len(faq.index) == 6 and after.articles[0].slug == "moon"
    await faq.close()
    await db.dispose()


async def test_a_failed_rebuild_leaves_the_old_index_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies (here: cannot even start) fails the rebuild; the old index keeps
    answering, and the next rebuild starts a new worker."""
    db = await _sqlite(tmp_path)
    articles = [a for a in sample_articles() if a.lang == "en"][:5]
    await _load(db, articles)
    faq = FaqService(db, process_min_articles=1, now=lambda: NOW)
    await faq.reload()
    old = faq.matcher
    await faq.builder.close()
    monkeypatch.setattr(index_worker, "_CHILD", "raise SystemExit(3)")
    await _load(db, [ArticleIn("moon", "en", "Do you deliver on the moon?", "Not yet.")])
    with pytest.raises(BuildFailed):
        await faq.reload()
    assert faq.matcher is old and len(faq.index) == 5
    async with db.transaction() as session:
        reply = await faq.answer(session, articles[0].question, language="en", at=NOW)
    assert reply.articles[0].slug == articles[0].id
    monkeypatch.undo()
    assert await faq.reload() == 6 and faq.builder.worker_pid is not None
    await faq.close()
    await db.dispose()


async def test_an_answer_only_edit_keeps_the_lexical_index(tmp_path: Path) -> None:
    db = await _sqlite(tmp_path)
    articles = [a for a in sample_articles() if a.lang == "en"][:5]
    await _load(db, articles)
    faq = FaqService(db, now=lambda: NOW)
    await faq.reload()
    index = faq.index
    await _load(db, [replace(articles[0], answer="A new answer.")])
    await faq.reload()
    assert faq.index is index and faq.last_rebuild is not None and faq.last_rebuild.lexical_kept
    async with db.transaction() as session:
        reply = await faq.answer(session, articles[0].question, language="en", at=NOW)
    assert reply.articles[0].answer == "A new answer."
    await _load(db, [replace(articles[0], phrasings=(*articles[0].phrasings, "a new way"))])
    await faq.reload()
    assert faq.index is not index and not faq.last_rebuild.lexical_kept
    await db.dispose()


# ---------------------------------------------------------------------- the semantic index


def _rows(rng: np.random.Generator, n: int, dim: int) -> Float32Array:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    out: Float32Array = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_semantic_changes_give_the_arrays_of_a_build_from_scratch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = 8
    vectors = {
        lang: {f"{lang}{i}": _rows(rng, int(rng.integers(1, 5)), dim) for i in range(30)}
        for lang in ("en", "ar")
    }
    index = SemanticIndex(vectors, dim)
    ids = list(vectors["en"])
    picked = rng.choice(len(ids), size=6, replace=False).tolist()
    changed = {("en", ids[i]): _rows(rng, int(rng.integers(1, 6)), dim) for i in picked[:3]}
    changed[("en", "new")] = _rows(rng, 2, dim)
    removed = [("en", ids[i]) for i in picked[3:]]
    updated = index.with_changes(changed, removed)
    expected = {lang: dict(v) for lang, v in vectors.items()}
    for lang, a in removed:
        del expected[lang][a]
    for (lang, a), rows in changed.items():
        expected[lang][a] = rows
    fresh = SemanticIndex(expected, dim)
    assert updated._parts["ar"] is index._parts["ar"]  # untouched language shared
    got, want = updated._parts["en"], fresh._parts["en"]
    assert got.article_ids == want.article_ids
    for name in ("rows", "starts", "centroids"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    query = _rows(rng, 1, dim)[0]
    assert np.array_equal(updated.scores(query, "en")[1], fresh.scores(query, "en")[1])


async def test_an_urgent_build_keeps_the_priority_later_builds_lower_it() -> None:
    # A start (no index serves yet) must not wait behind every other process: the child
    # builds it at the service's priority and lowers its own only for the rebuilds after.
    articles = _synthetic(50)
    entries = [Entry(a.id, a.lang, (a.question, *a.phrasings)) for a in articles]
    builder = IndexBuilder(process_min=1)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        first = await builder.build(entries, urgent=True)
        pid = builder.worker_pid
        assert pid is not None
        assert os.getpriority(os.PRIO_PROCESS, pid) == own
        second = await builder.build(entries)
        assert builder.worker_pid == pid
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(own + 10, 19)
        third = await builder.build(entries, urgent=True)  # the priority stays lowered
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(own + 10, 19)
    finally:
        await builder.close()
    queries = _queries(articles)
    assert _answers(first, queries) == _answers(second, queries) == _answers(third, queries)
