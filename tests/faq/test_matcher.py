"""FAQ matcher (faq.matcher): search, decisions, language partitions, accuracy on faq-bench."""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import fuzz, process

from base.normalize import detect_language
from faq.lexbuild import offsets as _offsets
from faq.matcher import (
    DEFAULT_THRESHOLDS,
    Decision,
    Entry,
    Hit,
    MatchIndex,
    Outcome,
    Thresholds,
    _Params,
    _top,
)

EN = [
    Entry(
        "reset-password",
        "en",
        (
            "How do I reset my password?",
            "I forgot my password",
            "I can't log in and need a new password",
            "change my login password",
        ),
    ),
    Entry(
        "delivery-time",
        "en",
        (
            "How long does delivery take?",
            "When will my order arrive?",
            "What is the usual shipping time?",
            "how many days until my package arrives",
        ),
    ),
    Entry(
        "refund",
        "en",
        (
            "How do I get a refund?",
            "I want my money back",
            "return an item and get refunded",
            "what is your refund policy",
        ),
    ),
    Entry(
        "opening-hours",
        "en",
        ("What are your opening hours?", "when is the shop open", "are you open on weekends"),
    ),
    Entry(
        "payment-methods",
        "en",
        (
            "Which payment methods do you accept?",
            "can I pay with a credit card",
            "do you take cash on delivery",
            "can I pay by bank transfer",
        ),
    ),
]
AR = [
    Entry(
        "ar-delivery",
        "ar",
        (
            "كم تستغرق مدة التوصيل؟",
            "متى يصل طلبي؟",
            "ما هي مدة الشحن المعتادة؟",
            "كم يوم حتى تصل الشحنة",
        ),
    ),
    Entry(
        "ar-refund",
        "ar",
        (
            "كيف أسترجع أموالي؟",
            "أريد استرداد المبلغ",
            "ما هي سياسة الاسترجاع؟",
            "إرجاع منتج واسترداد ثمنه",
        ),
    ),
    Entry(
        "ar-password",
        "ar",
        ("كيف أغير كلمة المرور؟", "نسيت كلمة السر", "لا أستطيع تسجيل الدخول إلى حسابي"),
    ),
]
EN_IDS = {e.article_id for e in EN}
AR_IDS = {e.article_id for e in AR}


@pytest.fixture(scope="module")
def index() -> MatchIndex:
    return MatchIndex.build(EN + AR)


# -- search ------------------------------------------------------------------------------


def test_len_counts_articles(index: MatchIndex) -> None:
    assert len(index) == len(EN) + len(AR)
    assert set(index.languages) == {"en", "ar"}
    assert index.n_texts == sum(len(e.texts) for e in EN + AR)


def test_paraphrase_finds_article(index: MatchIndex) -> None:
    assert index.search("how long does shipping take")[0].article_id == "delivery-time"
    assert index.search("can I pay cash")[0].article_id == "payment-methods"
    assert index.search("weekend opening times")[0].article_id == "opening-hours"
    assert index.search("money back please")[0].article_id == "refund"


def test_arabic_paraphrase_and_dialect(index: MatchIndex) -> None:
    assert index.search("نسيت كلمة المرور")[0].article_id == "ar-password"
    assert index.search("كم يوم الشحن")[0].article_id == "ar-delivery"
    # Levantine: "where is my order? when will it arrive", "I want my money back"
    assert index.search("وين طلبي؟ متى بيوصل")[0].article_id == "ar-delivery"
    assert index.search("بدي ارجع مصاريي")[0].article_id == "ar-refund"


def test_arabic_diacritics_do_not_matter(index: MatchIndex) -> None:
    plain = index.search("نسيت كلمة السر")
    vocalised = index.search("نَسِيتُ كَلِمَةَ السِّرِّ")
    assert [h.article_id for h in plain] == [h.article_id for h in vocalised]
    assert plain[0].score == pytest.approx(vocalised[0].score)


def test_misspellings_tolerated(index: MatchIndex) -> None:
    assert index.search("how long dose shiping tak")[0].article_id == "delivery-time"
    assert index.search("I forgot my pasword")[0].article_id == "reset-password"
    assert index.search("pasword resset")[0].article_id == "reset-password"
    assert index.search("refnud polcy")[0].article_id == "refund"


def test_one_hit_per_article_sorted_and_bounded(index: MatchIndex) -> None:
    for query in ["I want a refund for my order", "password", "delivery", "pay"]:
        hits = index.search(query, limit=10)
        ids = [h.article_id for h in hits]
        assert len(ids) == len(set(ids))
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 < s <= 1.0 for s in scores)


def test_limit(index: MatchIndex) -> None:
    assert len(index.search("refund password delivery payment hours", limit=2)) == 2
    assert len(index.search("refund password delivery payment hours", limit=100)) <= len(EN)
    assert index.search("refund", limit=0) == []


def test_empty_query(index: MatchIndex) -> None:
    for query in ["", "   ", "\n\t", "?!.،"]:
        assert index.search(query) == []
        assert index.decide(query) == Decision(Outcome.NO_MATCH, (), None)


def test_query_sharing_nothing_gives_no_hits(index: MatchIndex) -> None:
    assert index.search("你好世界") == []
    assert index.search("98765 43210") == []
    assert index.decide("你好世界") == Decision(Outcome.NO_MATCH, (), None)


def test_exact_question_scores_highest(index: MatchIndex) -> None:
    for entry in EN + AR:
        hits = index.search(entry.texts[0], entry.lang)
        assert hits[0].article_id == entry.article_id


# -- languages ---------------------------------------------------------------------------


def test_language_partitions(index: MatchIndex) -> None:
    # detected from the query
    assert {h.article_id for h in index.search("refund delivery password", limit=10)} <= EN_IDS
    assert {h.article_id for h in index.search("استرداد التوصيل كلمة", limit=10)} <= AR_IDS
    # explicit language wins over detection: an English query in the Arabic partition
    assert index.search("refund", lang="ar") == []


def test_fallback_to_all_articles_when_language_has_none(index: MatchIndex) -> None:
    hits = index.search("how long does shipping take", lang="fr", limit=10)
    assert hits[0].article_id == "delivery-time"
    en_only = MatchIndex.build(EN)
    assert en_only.search("refund policy", lang="ar")[0].article_id == "refund"
    # detected Arabic, no Arabic article: every partition is searched (none matches here)
    assert en_only.search("كلمة المرور") == []


def test_empty_index() -> None:
    empty = MatchIndex.build([])
    assert len(empty) == 0
    assert empty.search("anything") == []
    assert empty.decide("anything").outcome is Outcome.NO_MATCH


def test_blank_entries_skipped_and_duplicates_replaced() -> None:
    idx = MatchIndex.build(
        [
            Entry("a", "en", ("old question about parcels",)),
            Entry("blank", "en", ("", "  ", "?!")),
            Entry("a", "en", ("new question about refunds",)),
            Entry("b", "en", ("opening hours",)),
        ]
    )
    assert len(idx) == 2
    assert idx.n_texts == 2  # the first "a" and the blank entry are not indexed
    assert idx.search("refunds")[0].article_id == "a"
    assert idx.search("question about refunds")[0].score > 0.9
    assert idx.search("question about parcels")[0].score < 0.9


def test_index_is_deterministic() -> None:
    a = MatchIndex.build(EN + AR).search("refund to my credit card", limit=5)
    b = MatchIndex.build(list(reversed(EN + AR))).search("refund to my credit card", limit=5)
    assert [h.article_id for h in a] == [h.article_id for h in b]
    assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-7)


# -- decisions ---------------------------------------------------------------------------


def test_answer(index: MatchIndex) -> None:
    d = index.decide("I forgot my password")
    assert d.outcome is Outcome.ANSWER
    assert d.hits == (d.best,)
    assert d.best is not None and d.best.article_id == "reset-password"
    assert index.decide("كم يوم الشحن").outcome is Outcome.ANSWER


def test_suggest(index: MatchIndex) -> None:
    # touches two articles about equally: refunds and payment methods
    d = index.decide("refund to my credit card")
    assert d.outcome is Outcome.SUGGEST
    ids = [h.article_id for h in d.hits]
    assert {"refund", "payment-methods"} <= set(ids)
    assert 2 <= len(d.hits) <= DEFAULT_THRESHOLDS.max_suggestions
    assert d.best == d.hits[0]


def test_no_match(index: MatchIndex) -> None:
    d = index.decide("zzqx wvvk")  # shares only a few letter pairs with the articles
    assert d.outcome is Outcome.NO_MATCH
    assert d.hits == ()
    assert d.best is None or d.best.score < DEFAULT_THRESHOLDS.suggest_min
    strict = Thresholds(answer_min=0.99, answer_margin=0.5, suggest_min=0.95)
    d = index.decide("how long does shipping take", thresholds=strict)
    assert d.outcome is Outcome.NO_MATCH
    assert d.hits == ()
    assert d.best is not None and d.best.article_id == "delivery-time"  # kept for logging


def test_thresholds_rules(index: MatchIndex) -> None:
    query = "how long does shipping take"
    hits = index.search(query, limit=3)
    best, second = hits[0].score, hits[1].score
    # margin too small -> SUGGEST, even with a high score
    t = Thresholds(answer_min=0.0, answer_margin=best - second + 1e-6, suggest_min=0.0)
    assert index.decide(query, thresholds=t).outcome is Outcome.SUGGEST
    t = Thresholds(answer_min=0.0, answer_margin=best - second - 1e-6, suggest_min=0.0)
    assert index.decide(query, thresholds=t).outcome is Outcome.ANSWER
    # SUGGEST keeps only hits at or above suggest_min, at most max_suggestions
    t = Thresholds(answer_min=1.0, answer_margin=0.0, suggest_min=second, max_suggestions=3)
    d = index.decide(query, thresholds=t)
    assert d.outcome is Outcome.SUGGEST
    assert [h.article_id for h in d.hits] == [h.article_id for h in hits[:2]]
    t = Thresholds(answer_min=1.0, answer_margin=0.0, suggest_min=0.0, max_suggestions=1)
    assert len(index.decide(query, thresholds=t).hits) == 1


def test_hit_and_decision_are_frozen() -> None:
    hit = Hit("a", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.score = 1.0  # type: ignore[misc]
    assert Outcome.ANSWER.value == "answer" and Outcome.NO_MATCH.value == "no_match"
    assert str(Outcome.ANSWER) == "answer"  # a StrEnum: stored and compared as its text


# -- large indexes: the staged search agrees with exhaustive scoring ----------------------


def _synthetic_articles(n: int, seed: int = 5) -> list[Entry]:
    rng = random.Random(seed)
    common = ["my", "the", "card", "account", "money", "transfer", "payment", "please", "help"]
    common += ["why", "how", "can", "i"]
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pu", "qe", "da"]
    entries = []
    for i in range(n):
        key = "".join(rng.choice(syllables) for _ in range(4)) + str(i)
        texts = tuple(
            " ".join([*rng.sample(common, 5), key, *rng.sample(common, 2)]) for _ in range(4)
        )
        entries.append(Entry(f"a{i}", "en", texts))
    return entries


def test_staged_search_matches_exhaustive_search() -> None:
    entries = _synthetic_articles(700)
    staged = MatchIndex.build(entries)
    exhaustive = MatchIndex._build(entries, _Params(pool=10**9, candidates=10**9))
    part = staged._partitions["en"]
    assert part.dense.shape[1] > 0  # the common words are stored as dense features
    rng = random.Random(1)
    for entry in rng.sample(entries, 40):
        query = entry.texts[0]
        got = staged.search(query, limit=1)
        want = exhaustive.search(query, limit=1)
        assert got[0].article_id == want[0].article_id == entry.article_id
        assert got[0].score == pytest.approx(want[0].score, abs=1e-5)


def test_truncated_stage_one_keeps_final_scores_exact() -> None:
    # A tiny postings budget makes every query skip sparse features in stage 1; the final
    # scores of the returned articles are still the exhaustive ones.
    entries = _synthetic_articles(700)
    staged = MatchIndex._build(entries, _Params(postings_budget=20))
    exhaustive = MatchIndex._build(entries, _Params(pool=10**9, candidates=10**9))
    rng = random.Random(2)
    for entry in rng.sample(entries, 30):
        query = " ".join(entry.texts[1].split()[:6]) + " please help my card"
        want = {h.article_id: h.score for h in exhaustive.search(query, limit=700)}
        got = staged.search(query, limit=3)
        assert got[0].article_id == entry.article_id
        for hit in got:
            assert hit.score == pytest.approx(want[hit.article_id], abs=1e-5)


def test_top_selects_the_largest_values() -> None:
    rng = np.random.default_rng(3)
    for n, k in ((10_000, 64), (1_000, 16), (300, 64), (65, 64), (5_000, 1)):
        for values in (
            rng.random(n).astype(np.float32),
            rng.integers(0, 5, n).astype(np.float32),  # many ties
        ):
            got = np.sort(values[_top(values, k)])
            assert len(set(_top(values, k).tolist())) == k
            assert np.array_equal(got, np.sort(values)[n - k :])


def test_offsets_concatenate_ranges() -> None:
    starts = np.array([5, 0, 9], dtype=np.int64)
    lengths = np.array([2, 0, 3], dtype=np.int64)
    assert _offsets(starts, lengths).tolist() == [5, 6, 9, 10, 11]
    assert _offsets(starts[:0], lengths[:0]).tolist() == []


def test_closest_word_scan_matches_full_rapidfuzz_scan() -> None:
    # Long misspellings without a one-edit neighbour take the full-vocabulary path; its
    # letter-count prefilter must not change the result.
    index = MatchIndex.build(_synthetic_articles(300) + EN)
    part = index._partitions["en"]
    rng = random.Random(4)
    words = [w for w in part.word_list if len(w) >= 8]
    for word in rng.sample(words, 40):
        chars = list(word)
        for _ in range(2):
            i = rng.randrange(len(chars))
            chars[i] = rng.choice("aeioukzx")
        typo = "".join(chars)
        found = process.extractOne(typo, part.word_list, scorer=fuzz.ratio, score_cutoff=80.0)
        if typo in part.deletions or any(
            typo[:i] + typo[i + 1 :] in part.deletions for i in range(len(typo))
        ):
            continue  # a one-edit candidate exists: the scan is not reached
        assert part._closest_word(typo) == (typo if found is None else found[0])


def test_detect_language_counts_letters() -> None:
    assert detect_language("How do I reset my password?") == "en"
    assert detect_language("كيف أغير كلمة المرور؟") == "ar"
    assert detect_language("my بطاقة card") == "en"  # 6 Latin letters, 5 Arabic
    assert detect_language("بطاقتي card") == "ar"
    assert detect_language("١٢٣ 456 ؟!") == "en"  # no letters at all


# -- accuracy on faq-bench (skipped when the shared data is absent) -----------------------

BENCH = Path(
    os.environ.get("SANAD_FAQ_BENCH", Path(__file__).resolve().parents[3] / "shared" / "faq-bench")
)
TARGETS = {  # top-1 on dev queries, K=20 phrasings per article
    "banking77-en/queries-dev.jsonl": ("banking77-en/articles-k20.jsonl", 0.75),
    "arbanking77-ar/queries-dev-msa.jsonl": ("arbanking77-ar/articles-k20.jsonl", 0.70),
    "arbanking77-ar/queries-dev-pal.jsonl": ("arbanking77-ar/articles-k20.jsonl", 0.58),
}


def _load(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.skipif(
    not BENCH.is_dir(), reason=f"faq-bench data not found at {BENCH} (set SANAD_FAQ_BENCH)"
)
@pytest.mark.parametrize("queries_file", sorted(TARGETS))
def test_dev_accuracy_k20(queries_file: str) -> None:
    articles_file, target = TARGETS[queries_file]
    articles = _load(BENCH / articles_file)
    index = MatchIndex.build(
        Entry(a["id"], a["lang"], (a["question"], *a["phrasings"])) for a in articles
    )
    queries = _load(BENCH / queries_file)
    right = sum(
        (hits := index.search(q["text"], q["lang"], limit=1)) != []
        and hits[0].article_id == q["article_id"]
        for q in queries
    )
    assert right / len(queries) >= target, f"top-1 {right / len(queries):.3f} < {target}"
