"""FAQ matcher: map a customer message to the best FAQ articles.

Model. Every article contributes several *phrasings* (its question and its phrasings,
normalised and de-duplicated). Each phrasing is a sparse TF-IDF vector over three feature
families: light-stemmed word unigrams, word bigrams, and word-bounded character 2-4-grams
of the normalised words (misspelling- and morphology-tolerant). Term frequencies are
sublinear (``1 + log tf``), IDF is smoothed (common words weigh little, no stop-word
list needed), and each family is L2-normalised and weighted so that a dot product is a
weighted mean of per-family cosines. An article's score for a query vector ``q`` is::

    w_max * max_p q.p  +  q.v_a,   v_a = w_centroid * centroid_a + w_artdoc * artdoc_a

a blend of the best single phrasing, the unit centroid of the article's phrasing vectors,
and the TF-IDF vector of all its phrasings concatenated (weights sum to 1, so scores lie
in ``[0, 1]``). Aggregating over the phrasings beats nearest-single-phrasing matching by
several points of top-1 accuracy. The features of the articles' own words are computed once,
at build time; query words unknown to the index are first mapped to a known word (Arabic
clitic/dialect spelling variants, then the closest vocabulary word by ``rapidfuzz`` ratio,
for misspellings) and cached per word.

Search, in three stages over numpy arrays (see ``docs/BENCHMARKS.md`` for accuracy,
latency and how the stages compare with exhaustive scoring):

1. ``q.v_a`` for every article over the *sparse* features (found in at most a tenth of the
   articles), from an inverted index: the postings of the query's features are
   concatenated and summed per article with one ``np.bincount``. The common features
   would dominate the postings; their part of ``q.v_a`` is estimated from a rank-32
   factorisation of their dense (articles x features) block. Long messages whose postings
   exceed ``postings_budget`` skip their lightest sparse features here. The ``pool`` (64)
   best articles are picked without a full ``argpartition`` (see :func:`_top`).
2. For the pool, the common features' part is computed exactly from the dense block (whole
   rows, one matrix-vector product).
3. For the ``candidates`` (16) best articles of stage 2, the best-phrasing term is computed
   from a forward index holding, per article, its phrasing vectors followed by the sparse
   features of its article vector: one gather and one ``np.add.reduceat`` over the
   candidates' blocks give every phrasing's score and, after a skip in stage 1, the exact
   sparse part of ``q.v_a``.

Scores are exact for indexes of up to 16 articles; beyond, the stages only decide which
articles get scored at all.

The index is immutable once built (the app rebuilds and swaps it when articles change);
its only mutable state is per-word query caches and a per-thread buffer, so concurrent
searches are safe. It pickles without them (large FAQs are built in a worker process).
Articles of several languages live in separate partitions; ``search``
looks at the partition of the query's language only, or at every partition when that one
is empty.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from base._arabic import dialect_standard
from base._arabic import variants as _arabic_variants
from base.normalize import detect_language, normalize, stem_words
from faq.decision import DEFAULT_THRESHOLDS, Decision, Hit, Outcome, Thresholds, decide_from_hits
from faq.lexbuild import BIGRAM as _BIGRAM
from faq.lexbuild import CHAR as _CHAR
from faq.lexbuild import WORD as _WORD
from faq.lexbuild import build_arrays, char_ngrams, offsets

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Decision",
    "Entry",
    "Hit",
    "MatchIndex",
    "Outcome",
    "Thresholds",
]

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Entry:
    """One FAQ article as seen by the matcher: its question followed by its phrasings."""

    article_id: str
    lang: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class _Params:
    """Scoring parameters (tuned on the dev sets; not part of the public API)."""

    char_min: int = 2
    char_max: int = 4
    w_word: float = 0.3  # feature-family weights (sum to 1)
    w_bigram: float = 0.1
    w_char: float = 0.6
    w_max: float = 0.2  # article score weights: best phrasing, centroid, article document
    w_centroid: float = 0.3
    w_artdoc: float = 0.5
    fuzzy_cutoff: float = 80.0  # rapidfuzz ratio for misspelling correction (0: off)
    fuzzy_min_len: int = 4
    fuzzy_scan_len: int = 8  # from this length, fall back to a full vocabulary scan
    ar_variants: bool = True
    dense_min: int = 256  # features in more than max(dense_min, dense_frac * articles)
    dense_frac: float = 0.1  # articles are stored as dense columns
    pool: int = 64  # articles scored on all features (stage 2)
    rank: int = 32  # rank of the common-feature approximation ranking the stage-2 pool
    candidates: int = 16  # articles whose phrasings are scored (stage 3)
    postings_budget: int = 12_000  # sparse postings scored in stage 1 (0: no limit)


_DEFAULT_PARAMS = _Params()

# Query word -> (stem after correction, known feature ids, unknown features).
_WordInfo = tuple[str, tuple[int, ...], tuple[str, ...]]


def _top(values: Float32Array, k: int) -> IntArray:
    """Indices of the ``k`` largest ``values`` (in no particular order; ``len(values) > k``).

    Cheaper than one ``np.argpartition`` over a long array: the smallest of the maxima of
    ``k`` chunks is a lower bound of the k-th largest value, and usually only a few times
    ``k`` values reach it; those are partitioned.
    """
    n = len(values)
    chunk = n // k
    if chunk < 4:
        return np.argpartition(values, n - k)[n - k :]
    bound = values[: k * chunk].reshape(k, chunk).max(axis=1).min()
    sel = np.flatnonzero(values >= bound)
    if len(sel) > k:
        sel = sel[np.argpartition(values[sel], len(sel) - k)[len(sel) - k :]]
    return sel


@dataclass
class _Partition:
    """Search structures for the articles of one language (see the module docstring).

    Feature ids index ``idf`` and ``family``. Article vectors ``v_a`` are split into the
    sparse features (inverted index ``inv_*``) and the dense ones (``dense``, articles x
    dense features, plus its low-rank factors); phrasing vectors are stored as a forward
    index (``ph_*``), the phrasings of one article forming one slice.
    """

    params: _Params
    lang: str
    article_ids: list[str]
    n_texts: int  # distinct normalised texts (phrasing vectors)
    vocab: tuple[dict[str, int], dict[str, int], dict[str, int]]
    idf: FloatArray  # per feature
    family: npt.NDArray[np.intp]  # per feature
    dense_index: IntArray  # per feature: row in ``dense``, or -1
    dense: Float32Array  # (articles, dense features): article vectors, common features
    dense_us_t: Float32Array  # low-rank factors of ``dense``: (U * S)^T and V
    dense_v: Float32Array
    inv_indptr: IntArray  # article vectors, other features: inverted index
    inv_art: Int32Array
    inv_val: Float32Array
    # Forward index, one block of entries (``blk_feat``, ``blk_val``) per article: the
    # vectors of its phrasings, then its article vector's sparse features (at least one
    # entry: a padding entry of feature ``n_feat``, always 0 in the query, if none).
    # Each phrasing and the article part form one *segment* of the block.
    blk_start: IntArray  # per article + 1: first entry of its block
    blk_ph_len: IntArray  # per article: entries of its phrasings
    seg_first: IntArray  # per article: its first segment
    seg_count: IntArray  # per article: its segments (phrasings + 1)
    seg_len: IntArray  # per segment: its entries
    blk_feat: Int32Array
    blk_val: Float32Array
    oov_idf: float
    word_set: frozenset[str]  # normalised (unstemmed) words of the articles
    word_list: list[str]  # sorted
    word_chars: dict[str, int]  # letters of the words -> row of ``word_letters``
    word_letters: npt.NDArray[np.int16]  # (letters, words): letter counts of each word
    word_lens: FloatArray  # per word: its length
    deletions: dict[str, tuple[str, ...]]  # word or single-deletion variant -> words
    known_words: dict[str, _WordInfo]  # word of the articles -> its features (precomputed)
    family_weight_sqrt: FloatArray  # sqrt of the family weights
    correction_cache: dict[str, str] = field(default_factory=dict)
    word_cache: dict[str, dict[str, _WordInfo]] = field(default_factory=dict)
    local: threading.local = field(default_factory=threading.local)

    @property
    def n_articles(self) -> int:
        return len(self.article_ids)

    # -- pickling: a partition built in a worker process travels without its query caches
    # and per-thread buffers (see ``faq/index_worker.py``).

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        for name in ("correction_cache", "word_cache", "local"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.correction_cache = {}
        self.word_cache = {}
        self.local = threading.local()

    # -- building ---------------------------------------------------------------------

    @classmethod
    def build(cls, lang: str, entries: Sequence[Entry], params: _Params) -> _Partition | None:
        fields = build_arrays(lang, entries, params)
        return None if fields is None else cls(params=params, **fields)

    # -- querying ---------------------------------------------------------------------

    def _correct(self, word: str) -> str:
        """Vocabulary word standing for an out-of-vocabulary query ``word``, or ``word``.

        Arabic: clitic/dialect variants known to the vocabulary (exact). Latin script:
        the closest vocabulary word by ``rapidfuzz`` ratio, for misspellings.
        """
        if word in self.word_set or word.isdigit():
            return word
        cached = self.correction_cache.get(word)
        if cached is not None:
            return cached
        p = self.params
        best = word
        arabic = "\u0620" <= word[0] <= "\u06ff"
        if arabic and dialect_standard(word) is not None:
            pass  # a known dialect word: the stemmer maps it to MSA
        elif stem_words([word], self.lang)[0] in self.vocab[_WORD]:
            pass  # the word's stem is known: no need to guess another word
        else:
            if arabic and p.ar_variants:
                best = next((v for v in _arabic_variants(word) if v in self.word_set), word)
            if best == word and p.fuzzy_cutoff > 0 and len(word) >= p.fuzzy_min_len:
                best = self._closest_word(word)
        if len(self.correction_cache) >= 100_000:
            self.correction_cache.clear()
        self.correction_cache[word] = best
        return best

    def _closest_word(self, word: str) -> str:
        """The vocabulary word most similar to ``word`` by ``rapidfuzz`` ratio, if at least
        ``fuzzy_cutoff``; else ``word``.

        Candidates are the words one edit away (substitution, insertion, deletion or
        adjacent transposition), found through the words' single-deletion variants
        (SymSpell-style); a full ``process.extractOne`` scan of the vocabulary is only
        made for long words (more edits fit under the cutoff) without such a candidate.
        """
        cutoff = self.params.fuzzy_cutoff
        candidates: set[str] = set()
        for variant in (word, *(word[:i] + word[i + 1 :] for i in range(len(word)))):
            candidates.update(self.deletions.get(variant, ()))
        if candidates:
            scored = process.extract(
                word, sorted(candidates), scorer=fuzz.ratio, score_cutoff=cutoff, limit=1
            )
            if scored:
                return scored[0][0]
        if len(word) >= self.params.fuzzy_scan_len:
            # ``fuzz.ratio`` is 2 x (longest common subsequence) / (sum of the lengths),
            # and the common subsequence has at most as many of each letter as either
            # word: only words sharing enough letters (as a multiset) can reach the
            # cutoff. Same result as scanning every word (the candidates keep the
            # vocabulary's order), with far fewer rapidfuzz calls.
            common = np.zeros(len(self.word_list), dtype=np.int16)
            for ch, c in Counter(word).items():
                j = self.word_chars.get(ch)
                if j is not None:
                    common += np.minimum(self.word_letters[j], c)
            need = cutoff / 200.0 * (self.word_lens + len(word)) - 1e-6
            words = self.word_list
            choices = [words[i] for i in np.flatnonzero(common >= need).tolist()]
            found = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
            if found is not None:
                return found[0]
        return word

    def _word_info(self, word: str, lang: str) -> _WordInfo:
        """Features of a query word: precomputed for the words of the articles (in the
        partition's language), else computed and cached per language."""
        in_vocab = self.known_words.get(word)
        if in_vocab is not None and lang == self.lang:
            return in_vocab
        cache = self.word_cache.setdefault(lang, {})
        info = cache.get(word)
        if info is not None:
            return info
        stem = stem_words([self._correct(word)], lang)[0]
        unigram = self.vocab[_WORD].get(stem, -1)
        unknown: list[str] = [] if unigram >= 0 else [f"{_WORD}{stem}"]
        if in_vocab is not None:
            chars = in_vocab[1][1:]  # a word of the articles: its n-grams are known
        else:
            table = self.vocab[_CHAR]
            grams = char_ngrams(word, self.params.char_min, self.params.char_max)
            ids = [table.get(g, -1) for g in grams]
            chars = tuple(i for i in ids if i >= 0)
            unknown.extend(f"{_CHAR}{g}" for g, i in zip(grams, ids, strict=True) if i < 0)
        info = (stem, (unigram, *chars) if unigram >= 0 else chars, tuple(unknown))
        if len(cache) >= 100_000:
            cache.clear()
        cache[word] = info
        return info

    def _query_buffer(self) -> Float32Array:
        """A zeroed float32 array over the features, one per thread (callers restore it)."""
        buf: Float32Array | None = getattr(self.local, "buffer", None)
        if buf is None:
            buf = np.zeros(len(self.idf) + 1, dtype=np.float32)  # + the padding feature
            self.local.buffer = buf
        return buf

    def query_vector(self, norm: str, lang: str) -> tuple[IntArray, FloatArray]:
        """Sparse query vector (feature ids, weights) for the normalised query ``norm``.

        Features unknown to the index count in the norm with the highest IDF, so a query
        that is mostly unknown words scores low everywhere.
        """
        known_words = self.known_words if lang == self.lang else {}
        cache = self.word_cache.get(lang) or {}
        infos = [
            known_words.get(w) or cache.get(w) or self._word_info(w, lang) for w in norm.split()
        ]
        known: list[int] = []
        unknown: list[str] = []  # features unknown to the index (family-prefixed)
        for _, word_ids, unk in infos:
            known.extend(word_ids)
            if unk:
                unknown.extend(unk)
        bigrams = self.vocab[_BIGRAM]
        for (x, _, _), (y, _, _) in itertools.pairwise(infos):
            key = f"{x} {y}"
            i = bigrams.get(key)
            if i is None:
                unknown.append(f"{_BIGRAM}{key}")
            else:
                known.append(i)
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        tf = Counter(known)
        ids = np.fromiter(tf.keys(), dtype=np.int64, count=len(tf))
        vals = 1.0 + np.log(np.fromiter(tf.values(), dtype=np.float64, count=len(tf)))
        vals *= self.idf[ids]
        fam = self.family[ids]
        sq = np.bincount(fam, weights=vals * vals, minlength=3)
        if unknown:
            unknown_tf: dict[str, int] = {}
            for key in unknown:
                unknown_tf[key] = unknown_tf.get(key, 0) + 1
            for key, c in unknown_tf.items():
                sq[ord(key[0]) - 48] += ((1.0 + math.log(c)) * self.oov_idf) ** 2
        scale = self.family_weight_sqrt / np.sqrt(np.maximum(sq, 1e-300))
        return ids, vals * scale[fam]

    def scores(self, norm: str, lang: str, limit: int) -> tuple[IntArray, FloatArray]:
        """(article indices, scores) of at least ``limit`` candidate articles (or all)."""
        ids, qvals = self.query_vector(norm, lang)
        n_art = self.n_articles
        p = self.params
        pool = max(p.pool, limit)
        n_cand = max(p.candidates, limit)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # Stage 1: q . v_a for every article over the sparse features. Exact unless the
        # query's postings exceed the budget (long messages): then the lightest features
        # are left out here and added back exactly for the final candidates (stage 3).
        rows = self.dense_index[ids]
        sparse = rows < 0
        sp_ids, sp_q = ids[sparse], qvals[sparse]
        starts = self.inv_indptr[sp_ids]
        lengths = self.inv_indptr[sp_ids + 1] - starts
        truncated = False
        if p.postings_budget > 0 and int(lengths.sum()) > p.postings_budget:
            order = np.argsort(-sp_q, kind="stable")
            keep = order[np.cumsum(lengths[order]) <= p.postings_budget]
            sp_q, starts, lengths = sp_q[keep], starts[keep], lengths[keep]
            truncated = True
        off = offsets(starts, lengths)
        weights = self.inv_val[off] * np.repeat(sp_q, lengths)
        lin: FloatArray = np.bincount(self.inv_art[off], weights=weights, minlength=n_art).astype(
            np.float64, copy=False
        )
        cand: IntArray
        dense_part: npt.NDArray[np.floating]
        if sparse.all():
            cand = np.arange(n_art)
            dense_part = np.zeros(n_art)
        else:
            d_rows = rows[~sparse]
            q_dense = qvals[~sparse].astype(np.float32)
            if n_art > pool:
                # The dense features' part, estimated from the low-rank factors.
                approx = ((q_dense @ self.dense_v[d_rows]) @ self.dense_us_t).astype(
                    np.float32, copy=False
                )
                approx += lin
                cand = _top(approx, pool)
                # Stage 2: the dense features' part, exactly, for the pool (whole rows
                # of the dense block: contiguous reads, one matrix-vector product).
                q_row = np.zeros(self.dense.shape[1], dtype=np.float32)
                q_row[d_rows] = q_dense
                dense_part = self.dense[cand] @ q_row
                lin = lin[cand] + dense_part
            else:
                cand = np.arange(n_art)
                dense_part = self.dense[:, d_rows] @ q_dense
                lin = lin + dense_part
        # Stage 3: best phrasing of the candidate articles.
        if len(cand) > n_cand:
            top = np.argpartition(lin, len(lin) - n_cand)[len(lin) - n_cand :]
            cand, lin, dense_part = cand[top], lin[top], dense_part[top]
        # The candidates' blocks of the forward index: their phrasings' entries and, when
        # stage 1 skipped features, their article vectors' sparse entries too.
        n_seg = self.seg_count[cand]
        if truncated:
            n_entries = self.blk_start[cand + 1] - self.blk_start[cand]
        else:
            n_seg = n_seg - 1
            n_entries = self.blk_ph_len[cand]
        seg_len = self.seg_len[offsets(self.seg_first[cand], n_seg)]
        off = offsets(self.blk_start[cand], n_entries)
        # The query vector, dense over the features, in a per-thread buffer reset after use.
        q_full = self._query_buffer()
        q_full[ids] = qvals
        try:
            contrib = q_full[self.blk_feat[off]] * self.blk_val[off]
        finally:
            q_full[ids] = 0.0
        sums = np.add.reduceat(contrib, np.cumsum(seg_len) - seg_len)
        group_end = np.cumsum(n_seg)
        if truncated:
            # The exact sparse part of q . v_a (the last segment of each block); it is
            # then zeroed so that the maximum below only sees phrasings (scores >= 0).
            art_part = group_end - 1
            lin = sums[art_part].astype(np.float64) + dense_part
            sums[art_part] = 0.0
        best = np.maximum.reduceat(sums, group_end - n_seg)
        total: FloatArray = np.clip(lin + p.w_max * best, 0.0, 1.0).astype(np.float64, copy=False)
        return cand, total


class MatchIndex:
    """Immutable FAQ search index over articles of one or more languages."""

    __slots__ = ("_n_articles", "_partitions")

    def __init__(self, partitions: dict[str, _Partition], n_articles: int) -> None:
        self._partitions = partitions
        self._n_articles = n_articles

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> MatchIndex:
        """Index ``entries``; a later entry with the same id and language replaces an
        earlier one, and entries without any non-blank text are left out."""
        return cls._build(entries, _DEFAULT_PARAMS)

    @classmethod
    def _build(cls, entries: Iterable[Entry], params: _Params) -> MatchIndex:
        by_lang: dict[str, dict[str, Entry]] = {}
        for e in entries:
            by_lang.setdefault(e.lang, {})[e.article_id] = e
        partitions: dict[str, _Partition] = {}
        for lang, group in by_lang.items():
            part = _Partition.build(lang, list(group.values()), params)
            if part is not None:
                partitions[lang] = part
        n = sum(len(p.article_ids) for p in partitions.values())
        return cls(partitions, n)

    def __len__(self) -> int:
        return self._n_articles

    @property
    def n_texts(self) -> int:
        """Distinct normalised texts (questions and phrasings) held by the index."""
        return sum(p.n_texts for p in self._partitions.values())

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages of the indexed articles."""
        return tuple(self._partitions)

    def clear_caches(self) -> None:
        """Forget the per-word query caches (for cold-cache benchmarks)."""
        for p in self._partitions.values():
            p.correction_cache.clear()
            p.word_cache.clear()

    def search(self, query: str, lang: str | None = None, limit: int = 5) -> list[Hit]:
        """Best articles for ``query``, one hit per article, best first (ties by id).

        ``lang`` selects the partition (``None``: detected from the query); when no
        article has that language, every partition is searched. Articles sharing no
        feature with the query are not returned.
        """
        norm = normalize(query)
        if not norm or limit <= 0 or not self._partitions:
            return []
        if lang is None:
            lang = detect_language(query)
        part = self._partitions.get(lang)
        parts = [part] if part is not None else list(self._partitions.values())
        hits: list[Hit] = []
        for p in parts:
            arts, scores = p.scores(norm, lang, limit)
            if len(scores) > limit:
                top = np.argpartition(-scores, limit - 1)[:limit]
                arts, scores = arts[top], scores[top]
            hits.extend(
                Hit(p.article_ids[a], s)
                for a, s in zip(arts.tolist(), scores.tolist(), strict=True)
                if s > 0
            )
        hits.sort(key=lambda h: (-h.score, h.article_id))
        return hits[:limit]

    def decide(
        self,
        query: str,
        lang: str | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
    ) -> Decision:
        """ANSWER / SUGGEST / NO_MATCH for ``query`` (see :class:`Thresholds`)."""
        hits = self.search(query, lang, limit=max(thresholds.max_suggestions, 2))
        return decide_from_hits(hits, thresholds)
