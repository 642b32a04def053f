"""The lexical index build (faq/lexbuild.py) against a plain reference implementation.

The reference below computes the model of the matcher's docstring the straightforward way (a
dict of feature -> weight per text and per article, no numpy tricks, no feature numbering) and
is compared with what the build stored: the phrasing and article vectors read back from the
index's arrays, the IDF weights, and (for indexes of at most 16 articles, where search scores are
exact) the search scores and rankings of queries.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from base.normalize import normalize, stem_words
from bench.faq_data import data_dir, entries_of, load_jsonl, pad_articles
from faq.matcher import Entry, MatchIndex, _Params

P = _Params()
FAMILY_W = {"w": P.w_word, "b": P.w_bigram, "c": P.w_char}
SAMPLE_FAQ = Path(__file__).resolve().parents[2] / "faq" / "data" / "sample_faq.jsonl"

Vec = dict[tuple[str, str], float]


def _grams(word: str) -> list[str]:
    padded = f" {word} "
    return [
        padded[i : i + n]
        for n in range(P.char_min, P.char_max + 1)
        for i in range(len(padded) - n + 1)
    ]


def _features(norm: str, lang: str) -> Counter[tuple[str, str]]:
    words = norm.split()
    stems = stem_words(words, lang)
    feats: Counter[tuple[str, str]] = Counter()
    for w, s in zip(words, stems, strict=True):
        feats[("w", s)] += 1
        feats.update(("c", g) for g in _grams(w))
    feats.update(("b", f"{x} {y}") for x, y in itertools.pairwise(stems))
    return feats


def _unit_per_family(raw: Vec) -> Vec:
    sq: dict[str, float] = {}
    for (fam, _), v in raw.items():
        sq[fam] = sq.get(fam, 0.0) + v * v
    return {k: v * math.sqrt(FAMILY_W[k[0]]) / math.sqrt(sq[k[0]]) for k, v in raw.items()}


class Reference:
    """TF-IDF phrasing vectors and article vectors of one language, computed plainly."""

    def __init__(self, entries: list[Entry], lang: str) -> None:
        latest = {e.article_id: e for e in entries if e.lang == lang}
        self.docs: dict[str, list[Counter[tuple[str, str]]]] = {}
        for e in latest.values():
            norms = list(dict.fromkeys(n for n in (normalize(t, lang) for t in e.texts) if n))
            if norms:
                self.docs[e.article_id] = [_features(n, lang) for n in norms]
        n_docs = sum(len(d) for d in self.docs.values())
        df: Counter[tuple[str, str]] = Counter()
        for docs in self.docs.values():
            for tf in docs:
                df.update(tf.keys())
        self.idf = {f: math.log((n_docs + 1.0) / (c + 1.0)) + 1.0 for f, c in df.items()}
        self.oov_idf = math.log(n_docs + 1.0) + 1.0
        self.phrasings: dict[str, list[Vec]] = {}
        self.articles: dict[str, Vec] = {}
        for a, docs in self.docs.items():
            vecs = [self._weigh(tf) for tf in docs]
            self.phrasings[a] = vecs
            centroid: Vec = {}
            for v in vecs:
                for f, x in v.items():
                    centroid[f] = centroid.get(f, 0.0) + x
            cnorm = math.sqrt(sum(x * x for x in centroid.values()))
            total: Counter[tuple[str, str]] = Counter()
            for tf in docs:
                total.update(tf)
            artdoc = self._weigh(total)
            self.articles[a] = {
                f: P.w_centroid * centroid.get(f, 0.0) / cnorm + P.w_artdoc * artdoc.get(f, 0.0)
                for f in centroid.keys() | artdoc.keys()
            }

    def _weigh(self, tf: Counter[tuple[str, str]]) -> Vec:
        return _unit_per_family({f: (1.0 + math.log(c)) * self.idf[f] for f, c in tf.items()})

    def query(self, text: str, lang: str) -> Vec:
        """A query whose words are all words of the articles (no correction involved)."""
        tf = _features(normalize(text, lang), lang)
        raw = {f: (1.0 + math.log(c)) * self.idf.get(f, self.oov_idf) for f, c in tf.items()}
        unit = _unit_per_family(raw)
        return {f: v for f, v in unit.items() if f in self.idf}

    def scores(self, q: Vec) -> dict[str, float]:
        out = {}
        for a, v in self.articles.items():
            best = max(sum(q.get(f, 0.0) * x for f, x in p.items()) for p in self.phrasings[a])
            lin = sum(q.get(f, 0.0) * x for f, x in v.items())
            out[a] = min(max(lin + P.w_max * best, 0.0), 1.0)
        return out


def _stored(index: MatchIndex, lang: str) -> tuple[dict[str, list[Vec]], dict[str, Vec]]:
    """Phrasing vectors and article vectors as the index stores them (by feature name)."""
    part = index._partitions[lang]
    names: dict[int, tuple[str, str]] = {}
    for fam, table in zip("wbc", part.vocab, strict=True):
        names.update({i: (fam, key) for key, i in table.items()})
    dense_feat = {int(r): f for f, r in enumerate(part.dense_index.tolist()) if r >= 0}
    phrasings: dict[str, list[Vec]] = {}
    articles: dict[str, Vec] = {}
    seg = 0
    for a, article_id in enumerate(part.article_ids):
        at = int(part.blk_start[a])
        segments: list[Vec] = []
        for _ in range(int(part.seg_count[a])):
            n = int(part.seg_len[part.seg_first[a] + len(segments)])
            feats = part.blk_feat[at : at + n].tolist()
            vals = part.blk_val[at : at + n].tolist()
            segments.append(
                {names[f]: v for f, v in zip(feats, vals, strict=True) if f < len(part.idf)}
            )
            at += n
            seg += 1
        phrasings[article_id] = segments[:-1]
        art = segments[-1]
        for r, v in enumerate(part.dense[a].tolist()):
            if v != 0.0:
                art[names[dense_feat[r]]] = v
        articles[article_id] = art
    return phrasings, articles


def _close(got: Vec, want: Vec) -> None:
    assert got.keys() == {f for f, v in want.items() if v != 0.0}
    for f, v in want.items():
        if v != 0.0:
            assert got[f] == pytest.approx(v, rel=1e-5, abs=1e-7), f


def _check_structures(entries: list[Entry], lang: str) -> MatchIndex:
    index = MatchIndex.build(entries)
    ref = Reference(entries, lang)
    part = index._partitions[lang]
    assert part.article_ids == list(ref.docs)
    assert part.n_texts == sum(len(d) for d in ref.docs.values())
    idf = {}
    for fam, table in zip("wbc", part.vocab, strict=True):
        idf.update({(fam, key): float(part.idf[i]) for key, i in table.items()})
    assert idf == pytest.approx(ref.idf, rel=1e-12)
    phrasings, articles = _stored(index, lang)
    for a in ref.docs:
        assert len(phrasings[a]) == len(ref.phrasings[a])
        for got, want in zip(phrasings[a], ref.phrasings[a], strict=True):
            _close(got, want)
        _close(articles[a], ref.articles[a])
    return index


WORDS = [
    "card",
    "money",
    "send",
    "transfer",
    "account",
    "help",
    "why",
    "how",
    "my",
    "the",
    "can",
    "i",
    "not",
    "pay",
    "fee",
    "bank",
]
WORDS += ["kaza", "lomi", "nerusa", "tovi", "zepu", "qeda"]


def _random_entries(rng: random.Random, n: int) -> list[Entry]:
    out = []
    for i in range(n):
        texts = tuple(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))
            for _ in range(rng.randint(1, 5))
        )
        out.append(Entry(f"a{i}", "en", texts))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_random_small_indexes_match_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    entries = _random_entries(rng, rng.randint(1, 16))
    index = _check_structures(entries, "en")
    ref = Reference(entries, "en")
    known = sorted({w for e in entries for t in e.texts for w in t.split()})  # no correction
    for _ in range(10):
        query = " ".join(rng.choice(known) for _ in range(rng.randint(1, 8)))
        want = {a: s for a, s in ref.scores(ref.query(query, "en")).items() if s > 0}
        hits = index.search(query, "en", limit=len(entries))
        got = {h.article_id: h.score for h in hits}
        assert got.keys() == want.keys(), query
        for a, s in want.items():
            assert got[a] == pytest.approx(s, abs=2e-6), (query, a)
        # Same ranking, up to scores the reference cannot tell apart.
        order = sorted(want, key=lambda a: (-want[a], a))
        for x, y in zip(order, [h.article_id for h in hits], strict=True):
            assert x == y or abs(want[x] - want[y]) < 1e-6


def test_sample_faq_matches_the_reference() -> None:
    records = [json.loads(line) for line in SAMPLE_FAQ.read_text("utf-8").splitlines() if line]
    entries = [Entry(r["id"], r["lang"], (r["question"], *r.get("phrasings", []))) for r in records]
    for lang in {e.lang for e in entries}:
        _check_structures([e for e in entries if e.lang == lang], lang)


def test_bench_article_set_matches_the_reference() -> None:
    data = data_dir(None)
    path = data / "arbanking77-ar" / "articles-k5.jsonl"
    if not path.exists():
        pytest.skip("faq-bench data absent")
    real = load_jsonl(path)
    articles = pad_articles(real, load_jsonl(data / "arbanking77-ar" / "articles-k20.jsonl"), 300)
    index = _check_structures(entries_of(articles), "ar")
    assert len(index) == 300


def test_build_is_the_same_for_the_same_articles_in_a_worker_sized_set() -> None:
    # The numbering is deterministic: two builds give the same arrays, byte for byte.
    rng = random.Random(3)
    entries = _random_entries(rng, 200)
    a, b = MatchIndex.build(entries), MatchIndex.build(entries)
    pa, pb = a._partitions["en"], b._partitions["en"]
    for name in ("idf", "blk_feat", "blk_val", "inv_art", "inv_val", "dense", "seg_len"):
        assert np.array_equal(getattr(pa, name), getattr(pb, name)), name
    assert pa.vocab == pb.vocab
