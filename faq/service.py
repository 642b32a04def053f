"""FAQ self-service: the live match index over published articles, and answering a question.

:class:`FaqService` keeps an in-memory :class:`~faq.matcher.MatchIndex` over the published
articles and rebuilds it when they change: at once after a change made through it, and within
``refresh_s`` seconds after a change made by another process (the CLI, another Sanad instance),
which it notices from a cheap fingerprint query.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from base.normalize import detect_language
from faq.articles import ArticleIn, count_articles, upsert_articles, validate_article
from faq.embeddings import Float32Array, load_vectors, store_vectors, text_key
from faq.fusion import FUSED_THRESHOLDS, Matcher, SemanticIndex, Verdict
from faq.index_worker import PROCESS_MIN_ARTICLES, IndexBuilder
from faq.matcher import DEFAULT_THRESHOLDS, Entry, MatchIndex, Outcome, Thresholds
from faq.semantic import Embedder, embedding_text, query_text
from storage.db import Database
from storage.events import record_event
from storage.models import Article, QueryLog
from storage.rows import insert_row, table_of

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1_000
INLINE_EMBED_MAX = 64  # new texts embedded before the swap; more: in the background
READ_CHUNK = 500  # articles read per transaction by a rebuild
EMBED_BATCH = 16
QUERY_VECTORS_KEPT = 4_096  # recent questions' embeddings kept (384 float32 each: ~6 MB)
_MEMO_MAX = 20_000
# The query log's row, written with Core (:func:`storage.rows.insert_row`), built once.
_INSERT_QUERY = insert(table_of(QueryLog)).returning(table_of(QueryLog).c.id)

# Vectors computed or loaded in this process, by (model, text key): a process serving several
# databases (tests, benchmarks) embeds a text once. Bounded; the database is the real store.
_MEMO: dict[tuple[str, str], Float32Array] = {}


def _remember(model: str, key: str, vector: Float32Array) -> None:
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[(model, key)] = vector


# An article's embedding keys and the texts they stand for (see ``FaqService._keys_of``).
_Keys = tuple[tuple[str, ...], list[str]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ArticleView:
    """What the bot needs of an article to show it, without a database read."""

    id: int
    slug: str
    lang: str
    question: str
    answer: str
    category: str


@dataclass(frozen=True)
class Reply:
    """The decision for one customer question, resolved to articles."""

    outcome: Outcome
    articles: tuple[ArticleView, ...]
    query_id: int
    score: float | None
    lang: str
    mode: str = "lexical"


@dataclass(frozen=True)
class Prepared:
    """A decision made before the transaction that logs it (see ``FaqService.prepare``)."""

    text: str
    language: str
    query: str
    lang: str
    verdict: Verdict


@dataclass(frozen=True)
class RebuildStats:
    """The last rebuild: articles, time to the new lexical index, total time to the swap,
    texts left to embed in the background, whether the lexical index was kept (no article's
    question or phrasings changed), and the index worker process's peak memory (None when
    built in a thread)."""

    articles: int
    lexical_ms: float
    total_ms: float
    pending_texts: int
    lexical_kept: bool = False
    worker_peak_mb: float | None = None


def thresholds_from(
    answer_min: float | None, answer_margin: float | None, suggest_min: float | None
) -> Thresholds:
    """The tuned defaults, with any configured value put in its place."""
    base = DEFAULT_THRESHOLDS
    return Thresholds(
        answer_min=base.answer_min if answer_min is None else answer_min,
        answer_margin=base.answer_margin if answer_margin is None else answer_margin,
        suggest_min=base.suggest_min if suggest_min is None else suggest_min,
        max_suggestions=base.max_suggestions,
    )


def sample_articles() -> list[ArticleIn]:
    """The bilingual online-shop FAQ that ships with Sanad."""
    text = resources.files("faq").joinpath("data/sample_faq.jsonl").read_text("utf-8")
    return [validate_article(json.loads(line)) for line in text.splitlines() if line.strip()]


async def load_sample_if_empty(session: AsyncSession, at: datetime) -> int:
    """First run: an empty FAQ gets the sample articles. Returns how many were loaded."""
    if await count_articles(session):
        return 0
    result = await upsert_articles(session, sample_articles(), at, actor="system")
    return len(result.created)


class FaqService:
    """The live matcher over the published articles, and answering a question.

    Rebuilds never run inside a caller's transaction nor on a chat's path, and hold the event
    loop only in short steps: the articles' columns (not ORM objects) are read in chunks of
    ``READ_CHUNK``, each in a short transaction of its own (on SQLite one transaction runs at
    a time), the new lexical index is built aside (:class:`~faq.index_worker.IndexBuilder`: in
    a child process from ``process_min_articles`` articles, else in a thread), and the new
    :class:`~faq.fusion.Matcher` is swapped in when ready (the old one serves meanwhile). The
    fingerprint is read before the first chunk: an edit made during the read is seen by the
    next check and rebuilt then. Rebuilds take turns (a lock); a change noticed while
    answering only schedules one.

    An edit of one article: the semantic index is updated incrementally (only that article's
    rows; embeddings are reused per article when its texts did not change, then from the
    database, and only what is new is embedded: inline when it is little (``inline_embed_max``
    texts), else in the background while the lexical matcher serves). The lexical index is
    kept as it is when no question or phrasing changed (an answer, a category), else rebuilt
    from scratch in the background while the old one serves: its IDF weights are global, so
    patching one article in place would give other answers than a fresh build, and a build
    in the worker process leaves the chats' event loop free (``docs/BENCHMARKS.md``, "FAQ
    edits and index rebuilds").
    """

    def __init__(
        self,
        db: Database,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        refresh_s: float = 2.0,
        *,
        embedder: Embedder | None = None,
        fused_thresholds: Mapping[str, Thresholds] = FUSED_THRESHOLDS,
        now: Callable[[], datetime] = _utc_now,
        inline_embed_max: int = INLINE_EMBED_MAX,
        process_min_articles: int = PROCESS_MIN_ARTICLES,
        query_tokens: int | None = None,
    ) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self.embedder = embedder
        self.query_tokens = query_tokens  # a cap on what is embedded of a question (query_text)
        # Recent questions' embeddings, by the text embedded (:func:`query_text`): the same
        # question asked again ("where is my order?") is not embedded again. They depend on the
        # model only, not on the articles, so rebuilds keep them.
        self._query_vectors: OrderedDict[str, Float32Array] = OrderedDict()
        self.now = now
        self.inline_embed_max = inline_embed_max
        self._lexical_thresholds = thresholds
        self._fused_thresholds = dict(fused_thresholds)
        self._matcher = Matcher(MatchIndex.build([]), None, thresholds, fused_thresholds)
        self._articles: dict[int, ArticleView] = {}
        self._entries: list[Entry] = []  # what the lexical index was built from
        self._builder = IndexBuilder(process_min_articles)
        # Per article: its texts and their embedding keys (hashing 50,000 texts takes 0.2 s).
        self._text_keys: dict[tuple[str, str], tuple[tuple[str, ...], _Keys]] = {}
        # Per article: (its texts' storage keys, their vectors), for incremental updates.
        self._vectors: dict[tuple[str, str], tuple[tuple[str, ...], Float32Array]] = {}
        self._semantic: SemanticIndex | None = None  # over ``_vectors``
        self._fingerprint: tuple[int, int, str] | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reload_pending = False
        self._bulk: Embedder | None = None
        self.last_rebuild: RebuildStats | None = None

    @property
    def index(self) -> MatchIndex:
        """The lexical index (what the lexical matcher searches)."""
        return self._matcher.lexical

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    @property
    def thresholds(self) -> Thresholds:
        """The lexical thresholds (used when the lexical matcher decides alone)."""
        return self._lexical_thresholds

    @thresholds.setter
    def thresholds(self, value: Thresholds) -> None:
        self._lexical_thresholds = value
        self._matcher = Matcher(
            self._matcher.lexical, self._matcher.semantic, value, self._fused_thresholds
        )

    @property
    def settled(self) -> bool:
        """Whether the matcher serves as it will go on serving: no rebuild or background
        embedding under way and, when semantic matching is on, the articles' embeddings ready
        (``mode`` is ``fused``). False at start-up while the sample FAQ's phrasings are
        embedded (seconds of CPU), which a benchmark must not measure as steady state."""
        if self._tasks or self._reload_pending:
            return False
        return self.embedder is None or self._matcher.fused_ready

    @property
    def mode(self) -> str:
        """``fused`` when answers use embeddings now, else ``lexical`` (semantic matching off
        or unavailable) or ``lexical (embedding)`` while article embeddings are computed."""
        if self.embedder is None:
            return "lexical"
        return "fused" if self._matcher.fused_ready else "lexical (embedding)"

    def article(self, article_id: int) -> ArticleView | None:
        return self._articles.get(article_id)

    async def _current_fingerprint(self, session: AsyncSession) -> tuple[int, int, str]:
        row = (
            await session.execute(
                select(func.count(Article.id), func.max(Article.id), func.max(Article.updated_at))
            )
        ).one()
        return int(row[0]), int(row[1] or 0), str(row[2])

    async def reload(self) -> int:
        """Rebuild from the published articles and swap the new matcher in; returns their
        number once it serves (embeddings of many new texts may still follow, see above)."""
        async with self._lock:
            return await self._rebuild()

    async def wait_idle(self) -> None:
        """Wait for scheduled rebuilds and background embedding (tests, benchmarks, stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop scheduled rebuilds, background embedding (what was stored stays) and the
        index worker process."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._builder.close()

    @property
    def builder(self) -> IndexBuilder:
        """Where lexical indexes are built (tests, benchmarks)."""
        return self._builder

    def schedule_reload(self) -> None:
        """Rebuild in the background: at most one waits behind a running rebuild, and it
        only rebuilds if the articles still differ from what the index was built from."""
        if self._reload_pending:
            return
        self._reload_pending = True

        async def run() -> None:
            async with self._lock:
                self._reload_pending = False
                async with self.db.transaction() as session:
                    fingerprint = await self._current_fingerprint(session)
                if fingerprint != self._fingerprint:
                    await self._rebuild()

        self._spawn(run())

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("FAQ index rebuild failed; the previous index keeps serving")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_articles(
        self,
    ) -> tuple[tuple[int, int, str], dict[int, ArticleView], list[Entry]]:
        """The fingerprint, then the published articles in chunks, a transaction each."""
        views: dict[int, ArticleView] = {}
        entries: list[Entry] = []
        columns = (
            Article.id,
            Article.slug,
            Article.lang,
            Article.question,
            Article.phrasings,
            Article.answer,
            Article.category,
        )
        last = 0
        fingerprint: tuple[int, int, str] | None = None
        while True:
            first = fingerprint is None
            async with self.db.transaction() as session:
                if fingerprint is None:
                    fingerprint = await self._current_fingerprint(session)
                rows = (
                    await session.execute(
                        select(*columns)
                        .where(Article.status == "published", Article.id > last)
                        .order_by(Article.id)
                        .limit(READ_CHUNK)
                    )
                ).all()
            if first:
                await self._builder.warm_up(fingerprint[0])
            for id_, slug, lang, question, phrasings, answer, category in rows:
                views[id_] = ArticleView(id_, slug, lang, question, answer, category)
                entries.append(Entry(str(id_), lang, (question, *phrasings)))
            if len(rows) < READ_CHUNK:
                return fingerprint, views, entries
            last = rows[-1][0]
            await asyncio.sleep(0)  # let the chats run between chunks

    async def _rebuild(self) -> int:
        started = time.perf_counter()
        fingerprint, views, entries = await self._read_articles()
        self._generation += 1
        generation = self._generation
        kept = bool(self._entries) and entries == self._entries
        lexical_done = started

        async def build_lexical() -> MatchIndex:
            nonlocal lexical_done
            # Nothing serves the articles yet (a start): the build is what everyone waits for.
            built = (
                self._matcher.lexical
                if kept
                else await self._builder.build(entries, urgent=not self._entries)
            )
            lexical_done = time.perf_counter()
            return built

        # The lexical index (in a worker process or thread) and the semantic one (stored
        # vectors read from the database) are made side by side; if either fails the other
        # is cancelled and nothing is swapped in.
        try:
            async with asyncio.TaskGroup() as group:
                lexical_task = group.create_task(build_lexical())
                semantic_task = group.create_task(self._semantic_for(entries))
        except BaseExceptionGroup as failed:  # the callers expect the error itself
            raise failed.exceptions[0] from None
        lexical = lexical_task.result()
        semantic, pending = semantic_task.result()
        worker = self._builder.uses_process(len(entries)) and not kept
        lexical_ms = (lexical_done - started) * 1000
        self._matcher = Matcher(lexical, semantic, self._lexical_thresholds, self._fused_thresholds)
        self._articles = views
        self._entries = entries
        self._fingerprint = fingerprint
        self._checked_at = time.monotonic()
        self.last_rebuild = RebuildStats(
            len(views),
            lexical_ms,
            (time.perf_counter() - started) * 1000,
            len(pending),
            lexical_kept=kept,
            worker_peak_mb=self._builder.last_peak_mb if worker else None,
        )
        log.info(
            "FAQ index rebuilt: %d articles in %.0f ms (%s)%s",
            len(views),
            self.last_rebuild.total_ms,
            self.mode,
            f"; embedding {len(pending)} texts in the background" if pending else "",
        )
        if pending:
            self._spawn(self._embed_later(entries, pending, generation))
        return len(views)

    # -- embeddings ---------------------------------------------------------------------

    def _keys_of(self, entry: Entry) -> _Keys:
        """The keys of the article's texts, computed again only when its texts changed."""
        held = self._text_keys.get((entry.lang, entry.article_id))
        if held is not None and held[0] == entry.texts:
            return held[1]
        texts = [t for t in dict.fromkeys(entry.texts) if embedding_text(t)]
        by_key = {text_key(t): t for t in texts}
        keys = tuple(by_key), list(by_key.values())
        self._text_keys[(entry.lang, entry.article_id)] = (entry.texts, keys)
        return keys

    async def _semantic_for(self, entries: list[Entry]) -> tuple[SemanticIndex | None, list[str]]:
        """The semantic index for ``entries``, or None and the texts still to embed (the
        lexical matcher serves until they are done). Only articles whose texts changed are
        touched; their vectors come from those held, the database, else the model."""
        if self.embedder is None:
            return None, []
        model, dim = self.embedder.model, self.embedder.dim
        wanted: dict[tuple[str, str], _Keys] = {}
        for i, e in enumerate(entries, 1):
            wanted[(e.lang, e.article_id)] = self._keys_of(e)
            if i % READ_CHUNK == 0:
                await asyncio.sleep(0)  # hashing new texts: let the chats run
        if len(self._text_keys) > len(wanted):  # forget deleted articles
            self._text_keys = {k: v for k, v in self._text_keys.items() if k in wanted}
        changed = {
            k: v for k, v in wanted.items() if k not in self._vectors or self._vectors[k][0] != v[0]
        }
        removed = [k for k in self._vectors if k not in wanted]
        if not changed and not removed and self._semantic is not None:
            return self._semantic, []
        texts_of = {
            key: text
            for keys, texts in changed.values()
            for key, text in zip(keys, texts, strict=True)
        }
        # Vectors already held (by any article): looked up for the changed articles' keys only.
        found: dict[str, Float32Array] = {}
        for keys, vecs in self._vectors.values():
            for i, key in enumerate(keys):
                if key in texts_of:
                    found[key] = vecs[i]
        need = {key: text for key, text in texts_of.items() if key not in found}
        found.update({k: v for k in need if (v := _MEMO.get((model, k))) is not None})
        unknown = [k for k in need if k not in found]
        if unknown:
            async with self.db.transaction() as session:
                found.update(await load_vectors(session, model, unknown, dim))
        missing = [text for key, text in need.items() if key not in found]
        if len(missing) > self.inline_embed_max:
            return None, missing
        found.update(await self._embed_and_store(missing))
        empty = np.zeros((0, dim), dtype=np.float32)
        update = {
            k: (keys, np.stack([found[x] for x in keys]) if keys else empty)
            for k, (keys, _) in changed.items()
        }
        vectors = dict(self._vectors)
        for k in removed:
            del vectors[k]
        vectors.update(update)
        gone = removed + [k for k, (keys, _) in update.items() if not keys]
        # Off the loop: tens of MB of rows are copied into the new index. Both are replaced
        # together after it (a cancelled rebuild leaves the previous pair).
        if self._semantic is None:
            by_lang: dict[str, dict[str, Float32Array]] = {}
            for (lang, article_id), (keys, vecs) in vectors.items():
                if keys:
                    by_lang.setdefault(lang, {})[article_id] = vecs
            semantic = await asyncio.to_thread(SemanticIndex, by_lang, dim)
        else:
            semantic = await asyncio.to_thread(
                self._semantic.with_changes,
                {k: vecs for k, (keys, vecs) in update.items() if keys},
                gone,
            )
        self._vectors, self._semantic = vectors, semantic
        return self._semantic, []

    async def _embed_and_store(self, texts: list[str]) -> dict[str, Float32Array]:
        """Embed ``texts`` in a worker thread (a second engine: query embeddings go on) and
        store the vectors, in batches; returns them by key."""
        out: dict[str, Float32Array] = {}
        if not texts or self.embedder is None:
            return out
        if self._bulk is None:
            self._bulk = await asyncio.to_thread(self.embedder.clone)
        model = self.embedder.model
        for i in range(0, len(texts), EMBED_BATCH):
            batch = texts[i : i + EMBED_BATCH]
            vecs = await asyncio.to_thread(self._bulk.embed, [embedding_text(t) for t in batch])
            fresh = {text_key(t): v for t, v in zip(batch, vecs, strict=True)}
            async with self.db.transaction() as session:
                await store_vectors(session, model, fresh, self.now())
            for k, v in fresh.items():
                _remember(model, k, v)
            out.update(fresh)
        return out

    async def _embed_later(self, entries: list[Entry], texts: list[str], generation: int) -> None:
        started = time.perf_counter()
        await self._embed_and_store(texts)
        async with self._lock:
            if generation != self._generation:
                return  # a newer rebuild took over (and found these vectors stored)
            semantic, pending = await self._semantic_for(entries)
            if pending:
                return
            m = self._matcher
            self._matcher = Matcher(m.lexical, semantic, m.lexical_thresholds, m.fused_thresholds)
        log.info(
            "FAQ embeddings ready: %d texts embedded in %.1f s; mode %s",
            len(texts),
            time.perf_counter() - started,
            self.mode,
        )

    async def embed_query(self, query: str) -> Float32Array | None:
        """The query's embedding, computed in a worker thread; None when semantic matching
        is not in use (off, unavailable, or article embeddings not ready)."""
        if self.embedder is None or not self._matcher.fused_ready:
            return None
        text = query_text(query, self.embedder, self.query_tokens)
        if not text:
            return None
        known = self._query_vectors.get(text)
        if known is not None:
            self._query_vectors.move_to_end(text)
            return known
        vecs = await asyncio.to_thread(self.embedder.embed, [text])
        out: Float32Array = vecs[0]
        out.flags.writeable = False  # shared by every later asker of the same question
        self._query_vectors[text] = out
        while len(self._query_vectors) > QUERY_VECTORS_KEPT:
            self._query_vectors.popitem(last=False)
        return out

    async def refresh_if_changed(self, session: AsyncSession) -> None:
        """Schedule a rebuild when another process changed the articles (checked every
        ``refresh_s``); never waits for it."""
        now = time.monotonic()
        if now - self._checked_at < self.refresh_s:
            return
        self._checked_at = now
        if await self._current_fingerprint(session) != self._fingerprint:
            self.schedule_reload()

    async def verdict(self, text: str, language: str) -> tuple[str, str, Verdict]:
        """(query as used, language, verdict) for a customer question; logs nothing."""
        query = text.strip()[:MAX_QUERY_CHARS]
        lang = detect_language(query) if any(c.isalpha() for c in query) else language
        matcher = self._matcher
        # One lexical search serves the shortcut and, when the query is embedded, the fusion.
        hits = matcher.lexical_pool(query, lang) if matcher.fused_ready else None
        clear = matcher.decisive(query, lang, lexical_hits=hits)
        if clear is not None:
            return query, lang, clear
        embedding = await self.embed_query(query)
        return query, lang, matcher.decide(query, lang, embedding, lexical_hits=hits)

    async def prepare(self, text: str, language: str) -> Prepared:
        """Decide on a question before any transaction is open: the query embedding (tens of
        ms) must not hold a transaction, which on SQLite holds up every other one."""
        query, lang, verdict = await self.verdict(text, language)
        return Prepared(text, language, query, lang, verdict)

    async def answer(
        self,
        session: AsyncSession,
        text: str,
        *,
        language: str,
        at: datetime,
        customer_id: int | None = None,
        ticket_id: int | None = None,
        prepared: Prepared | None = None,
    ) -> Reply:
        """Match a customer question and log it (best article, score, outcome) in ``session``.

        The language of the question itself decides the partition searched (an Arabic question
        from a customer whose interface is English gets Arabic articles); ``language`` is the
        fallback when the text has no letters. ``prepared``: the decision made by
        :meth:`prepare` for the same text and language, outside the transaction.
        """
        await self.refresh_if_changed(session)
        if prepared is not None and (prepared.text, prepared.language) == (text, language):
            query, lang, verdict = prepared.query, prepared.lang, prepared.verdict
        else:
            query, lang, verdict = await self.verdict(text, language)
        decision = verdict.decision
        views = tuple(
            v for h in decision.hits if (v := self._articles.get(int(h.article_id))) is not None
        )
        best = decision.best
        best_id = int(best.article_id) if best is not None else None
        score = best.score if best is not None else None
        query_id = await insert_row(
            session,
            _INSERT_QUERY,
            {
                "customer_id": customer_id,
                "ticket_id": ticket_id,
                "query": query,
                "lang": lang,
                "outcome": decision.outcome.value,
                "best_article_id": best_id if best_id in self._articles else None,
                "score": score,
                "suggested_article_ids": [h.article_id for h in decision.hits],
                "helpful": None,
                "created_at": at,
            },
        )
        return Reply(decision.outcome, views, query_id, score, lang, verdict.mode.value)

    async def record_feedback(
        self,
        session: AsyncSession,
        query_id: int,
        helpful: bool,
        at: datetime,
        *,
        customer_id: int | None,
        article_id: int | None = None,
    ) -> QueryLog | None:
        """ "Did this help?" pressed. Only the customer who asked can answer for their query."""
        entry = await session.get(QueryLog, query_id)
        if entry is None or entry.customer_id != customer_id:
            return None
        entry.helpful = helpful
        if article_id is not None:
            entry.best_article_id = article_id
        record_event(
            session,
            "faq_feedback",
            at,
            ticket_id=entry.ticket_id,
            customer_id=customer_id,
            actor="customer",
            query_id=query_id,
            helpful=helpful,
            article_id=entry.best_article_id,
        )
        return entry
