"""Building the arrays of one partition of the lexical FAQ index (:mod:`faq.matcher`).

:func:`build_arrays` turns the articles of one language into the fields of
``faq.matcher._Partition`` (what they hold is described there and in the matcher's module
docstring). It is written for large FAQs (10,000 articles, 50,000 texts, about 8 million
feature occurrences): the per-token work is done by dict look-ups in C (``map``) and by numpy,
not by Python code per token, and the large intermediate arrays are 32-bit where the values fit
and dropped as soon as they are used.

Feature ids are numbered in the order in which a straightforward pass would meet them: text by
text, a text's new words in order (a new word's character n-grams, then its stem), then the
text's new bigrams. The order matters beyond taste: sums over the features of a text run in
that order, so the same numbering gives the same floating-point results, array for array, as
that pass (``tests/faq/test_lexbuild.py`` checks the scores against a plain reference).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from base.normalize import normalize, stem_words

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

WORD, BIGRAM, CHAR = 0, 1, 2


class EntryLike(Protocol):
    @property
    def article_id(self) -> str: ...

    @property
    def texts(self) -> tuple[str, ...]: ...


class ParamsLike(Protocol):
    @property
    def char_min(self) -> int: ...

    @property
    def char_max(self) -> int: ...

    @property
    def w_word(self) -> float: ...

    @property
    def w_bigram(self) -> float: ...

    @property
    def w_char(self) -> float: ...

    @property
    def w_centroid(self) -> float: ...

    @property
    def w_artdoc(self) -> float: ...

    @property
    def fuzzy_min_len(self) -> int: ...

    @property
    def dense_min(self) -> int: ...

    @property
    def dense_frac(self) -> float: ...

    @property
    def pool(self) -> int: ...

    @property
    def rank(self) -> int: ...


def char_ngrams(word: str, nmin: int, nmax: int) -> list[str]:
    padded = f" {word} "
    size = len(padded)
    return [padded[i : i + n] for n in range(nmin, nmax + 1) for i in range(size - n + 1)]


def offsets(starts: IntArray, lengths: IntArray) -> IntArray:
    """Concatenated ranges ``starts[i] : starts[i] + lengths[i]`` (entries of some rows of
    a CSR/CSC layout)."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - ends + lengths, lengths) + np.arange(total, dtype=np.int64)


def _orthonormal(y: Float32Array) -> Float32Array:
    """Orthonormal basis of the columns of a tall matrix (Gram-matrix eigenvectors; cheap,
    and accurate enough for a ranking approximation)."""
    y64 = y.astype(np.float64)
    ev, vec = np.linalg.eigh(y64.T @ y64)
    keep = ev > ev.max() * 1e-10
    q: Float32Array = (y64 @ (vec[:, keep] / np.sqrt(ev[keep]))).astype(np.float32)
    return q


def low_rank(matrix: Float32Array, rank: int) -> tuple[Float32Array, Float32Array]:
    """Factors ``(U * S, V^T)`` of a rank-``rank`` approximation of ``matrix`` (randomised
    SVD with one power iteration, seeded: the index build is deterministic)."""
    n, m = matrix.shape
    rank = min(rank, n, m)
    if rank == 0:
        return np.zeros((n, 0), dtype=np.float32), np.zeros((0, m), dtype=np.float32)
    width = min(m, rank + 8)
    omega = np.random.default_rng(0).standard_normal((m, width)).astype(np.float32)
    q = _orthonormal(matrix @ omega)
    q = _orthonormal(matrix @ (matrix.T @ q))
    u, sv, vt = np.linalg.svd((q.T @ matrix).astype(np.float64), full_matrices=False)
    us = (q @ u[:, :rank].astype(np.float32)) * sv[:rank].astype(np.float32)
    return us, vt[:rank].astype(np.float32)


def _index(values: Iterable[int], size: int) -> IntArray:
    return np.fromiter(values, dtype=np.int64, count=size)


def _log_tf(counts: npt.NDArray[Any]) -> FloatArray:
    """``1 + log(counts)`` (counts >= 1), from a table of the few distinct counts."""
    table = 1.0 + np.log(np.arange(1, int(counts.max()) + 1, dtype=np.float64))
    out: FloatArray = table[counts - 1]
    return out


def _texts(lang: str, entries: Sequence[EntryLike]) -> tuple[list[str], list[list[str]], list[int]]:
    """Article ids (articles with at least one non-blank text), each text's words (distinct
    normalised texts per article) and each text's article."""
    article_ids: list[str] = []
    doc_words: list[list[str]] = []
    doc_article: list[int] = []
    for entry in entries:
        seen: set[str] = set()
        a = len(article_ids)
        for text in dict.fromkeys(entry.texts):
            norm = normalize(text, lang)
            if not norm or norm in seen:
                continue
            seen.add(norm)
            doc_words.append(norm.split())
            doc_article.append(a)
        if seen:
            article_ids.append(entry.article_id)
    return article_ids, doc_words, doc_article


def build_arrays(
    lang: str, entries: Sequence[EntryLike], params: ParamsLike
) -> dict[str, Any] | None:
    """The fields of a partition (all but ``params`` and the query caches), or None when no
    entry has a non-blank text."""
    article_ids, doc_tokens, doc_article = _texts(lang, entries)
    if not article_ids:
        return None
    n_docs, n_art = len(doc_tokens), len(article_ids)
    doc_len = _index(map(len, doc_tokens), n_docs)
    tokens = list(itertools.chain.from_iterable(doc_tokens))
    del doc_tokens
    n_tok = len(tokens)
    # Distinct words, numbered by first appearance.
    word_ids = {w: i for i, w in enumerate(dict.fromkeys(tokens))}
    words_in_order = list(word_ids)
    occ_w = _index(map(word_ids.__getitem__, tokens), n_tok)
    del tokens
    word_stems = stem_words(words_in_order, lang)
    stem_ids = {s: i for i, s in enumerate(dict.fromkeys(word_stems))}
    word_stem = _index(map(stem_ids.__getitem__, word_stems), len(word_stems))

    # Word-family features (character n-grams, then the stem, per word in id order) get a
    # provisional id by first appearance; ``first_word``/``first_j``: where they first occur.
    nmin, nmax = params.char_min, params.char_max
    prov: dict[tuple[int, str], int] = {}
    prov_first: list[int] = []  # per provisional feature: first word, first position in it
    prov_j: list[int] = []
    word_prov: list[list[int]] = []
    for wi, (w, stem) in enumerate(zip(words_in_order, word_stems, strict=True)):
        keys = [(CHAR, g) for g in char_ngrams(w, nmin, nmax)]
        keys.append((WORD, stem))
        ids: list[int] = []
        for j, key in enumerate(keys):
            i = prov.get(key)
            if i is None:
                i = prov[key] = len(prov_first)
                prov_first.append(wi)
                prov_j.append(j)
            ids.append(i)
        word_prov.append(ids)
    n_wprov = len(prov_first)

    # Bigrams: pairs of consecutive tokens of a text, as stem-id pairs.
    tok_doc = np.repeat(np.arange(n_docs, dtype=np.int64), doc_len)
    doc_end = np.cumsum(doc_len)  # per text: one past its last token
    pair_at = np.flatnonzero(tok_doc[:-1] == tok_doc[1:]) if n_tok > 1 else np.zeros(0, np.int64)
    tok_stem = word_stem[occ_w]
    n_stems = len(stem_ids)
    pair_code = tok_stem[pair_at] * n_stems + tok_stem[pair_at + 1]
    del tok_stem
    bg_codes, bg_first, bg_of_pair = np.unique(pair_code, return_index=True, return_inverse=True)
    del pair_code

    # The order of first appearance across the families: a word's features at its first token
    # (by position in the word), a text's bigrams after all of its words.
    new_tok = np.ones(n_tok, dtype=bool)  # tokens where a word appears first
    if n_tok > 1:
        running = np.maximum.accumulate(occ_w)
        new_tok[1:] = running[1:] > running[:-1]
    word_first_tok = np.flatnonzero(new_tok)
    del new_tok
    max_j = max(prov_j) + 1
    stride = max_j + int(doc_len.max())
    w_event = word_first_tok[np.asarray(prov_first, dtype=np.int64)] * stride + np.asarray(
        prov_j, dtype=np.int64
    )
    first_pair_tok = pair_at[bg_first]
    pair_doc = tok_doc[first_pair_tok]
    b_event = (
        (doc_end[pair_doc] - 1) * stride
        + max_j
        + (first_pair_tok - (doc_end[pair_doc] - doc_len[pair_doc]))
    )
    order = np.argsort(np.concatenate((w_event, b_event)), kind="stable")
    final = np.empty(len(order), dtype=np.int64)
    final[order] = np.arange(len(order), dtype=np.int64)
    del w_event, b_event, order, first_pair_tok, pair_doc
    n_feat = len(final)

    # Vocabularies and families in the final numbering.
    stems_list = list(stem_ids)
    s0 = bg_codes // n_stems
    s1 = bg_codes - s0 * n_stems
    bg_keys = [
        f"{stems_list[x]} {stems_list[y]}" for x, y in zip(s0.tolist(), s1.tolist(), strict=True)
    ]
    vocab: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    family = np.empty(n_feat, dtype=np.intp)
    wfinal = final[:n_wprov].tolist()
    for (fam_id, gram), f in zip(prov, wfinal, strict=True):
        vocab[fam_id][gram] = f
        family[f] = fam_id
    bfinal = final[n_wprov:]
    family[bfinal] = BIGRAM
    vocab[BIGRAM].update(zip(bg_keys, bfinal.tolist(), strict=True))
    del bg_keys, bg_codes, s0, s1
    # Per word: its stem's feature, then its n-grams (the form the matcher's queries use).
    word_feats = [(wfinal[ids[-1]], *(wfinal[i] for i in ids[:-1])) for ids in word_prov]
    del word_prov, wfinal

    arrays = _weights(
        params,
        n_docs=n_docs,
        n_art=n_art,
        n_feat=n_feat,
        family=family,
        doc_article=np.asarray(doc_article, dtype=np.int64),
        doc_len=doc_len,
        occ_w=occ_w,
        word_feats=word_feats,
        pair_at=pair_at,
        tok_doc=tok_doc,
        pair_feat=bfinal[bg_of_pair],
    )
    words = sorted(word_ids)
    return {
        "lang": lang,
        "article_ids": article_ids,
        "n_texts": n_docs,
        "vocab": vocab,
        "family": family,
        **arrays,
        "oov_idf": math.log(n_docs + 1.0) + 1.0,
        **_word_tables(words, params),
        "known_words": {w: (word_stems[i], word_feats[i], ()) for w, i in word_ids.items()},
        "family_weight_sqrt": np.sqrt(np.array([params.w_word, params.w_bigram, params.w_char])),
    }


def _word_tables(words: list[str], params: ParamsLike) -> dict[str, Any]:
    """What the misspelling correction reads: letter counts and single-deletion variants."""
    word_chars: dict[str, int] = {}
    for w in words:
        for ch in w:
            word_chars.setdefault(ch, len(word_chars))
    word_letters = np.zeros((len(word_chars), len(words)), dtype=np.int16)
    for r, w in enumerate(words):
        for ch, c in Counter(w).items():
            word_letters[word_chars[ch], r] = c
    deletions: dict[str, list[str]] = {}
    for w in words:
        if len(w) >= params.fuzzy_min_len - 1:
            deletions.setdefault(w, []).append(w)
            for i in range(len(w)):
                deletions.setdefault(w[:i] + w[i + 1 :], []).append(w)
    return {
        "word_set": frozenset(words),
        "word_list": words,
        "word_chars": word_chars,
        "word_letters": word_letters,
        "word_lens": np.fromiter(map(len, words), dtype=np.float64, count=len(words)),
        "deletions": {k: tuple(v) for k, v in deletions.items()},
    }


def _weights(
    params: ParamsLike,
    *,
    n_docs: int,
    n_art: int,
    n_feat: int,
    family: npt.NDArray[np.intp],
    doc_article: IntArray,
    doc_len: IntArray,
    occ_w: IntArray,
    word_feats: list[tuple[int, ...]],
    pair_at: IntArray,
    tok_doc: IntArray,
    pair_feat: IntArray,
) -> dict[str, Any]:
    """TF-IDF vectors of the texts and articles, and the search structures built on them."""
    fam_w = np.sqrt(np.array([params.w_word, params.w_bigram, params.w_char]))
    fam8 = family.astype(np.int8)
    article_start = np.searchsorted(doc_article, np.arange(n_art + 1)).astype(np.int64)

    # Feature occurrences (text, feature) as one int64 key each: every token expanded into its
    # word's features, and every bigram. Only their distinct values and counts are kept.
    w_len = np.fromiter(map(len, word_feats), dtype=np.int64, count=len(word_feats))
    w_indptr = np.concatenate(([0], np.cumsum(w_len)))
    w_feat = np.fromiter(
        itertools.chain.from_iterable(word_feats), dtype=np.int64, count=int(w_indptr[-1])
    )
    lengths = w_len[occ_w]
    off = offsets(w_indptr[occ_w], lengths)
    occ_key = np.repeat(tok_doc * n_feat, lengths)
    occ_key += w_feat[off]
    del lengths, off, w_feat
    occ_key = np.concatenate((occ_key, tok_doc[pair_at] * n_feat + pair_feat))
    # Keys are sorted by text already, in short unsorted runs: a stable sort (timsort) merges
    # them much faster than a quicksort.
    occ_key.sort(kind="stable")
    n_occ = len(occ_key)
    edge = np.empty(n_occ, dtype=bool)
    edge[0] = True
    np.not_equal(occ_key[1:], occ_key[:-1], out=edge[1:])
    first = np.flatnonzero(edge)
    del edge
    uniq = occ_key[first]
    del occ_key
    counts = np.diff(np.append(first, n_occ)).astype(np.int32)
    del first
    # Text and feature of each entry: 32-bit (the build's memory peak is in the arrays of
    # entries; the values fit while texts x 3 and features stay below 2**31).
    doc64 = uniq // n_feat
    feat = (uniq - doc64 * n_feat).astype(np.int32)
    del uniq
    doc = doc64.astype(np.int32)
    del doc64

    # Phrasing vectors: sublinear TF x smoothed IDF, L2-normalised per family.
    df = np.bincount(feat, minlength=n_feat).astype(np.float64)
    idf = np.log((n_docs + 1.0) / (df + 1.0)) + 1.0
    del df

    def weigh(
        row: npt.NDArray[Any], f: npt.NDArray[Any], tf: npt.NDArray[Any], n_rows: int
    ) -> FloatArray:
        v = _log_tf(tf)
        v *= idf[f]
        ff = fam8[f]
        grp = row * 3
        grp += ff
        sq = np.bincount(grp, weights=v * v, minlength=n_rows * 3)
        v *= fam_w[ff]
        del ff
        v /= np.sqrt(sq)[grp]
        return v

    val = weigh(doc, feat, counts, n_docs)

    # Article vectors: w_centroid * unit(sum of phrasing vectors) + w_artdoc * TF-IDF
    # vector of the concatenated phrasings (term counts summed over phrasings). Entries
    # are sorted by (phrasing, feature) and each article's phrasings are consecutive,
    # so sorting by (article, feature) only merges a few sorted runs (timsort).
    akey = doc_article[doc] * n_feat
    akey += feat
    order = np.argsort(akey, kind="stable")
    akey = akey[order]
    starts = np.flatnonzero(np.concatenate(([True], akey[1:] != akey[:-1])))
    akey = akey[starts]
    a_art = akey // n_feat
    a_feat = akey - a_art * n_feat
    del akey
    sums = np.add.reduceat(val[order], starts)
    cnorm = np.sqrt(np.bincount(a_art, weights=sums * sums, minlength=n_art))
    a_val = params.w_centroid * sums / cnorm[a_art]
    if params.w_artdoc > 0:
        tf_sum = np.add.reduceat(counts[order], starts)
        a_val += params.w_artdoc * weigh(a_art, a_feat, tf_sum, n_art)
        del tf_sum
    del counts, order, starts, sums

    # Common features -> dense rows; the rest -> inverted index.
    af = np.bincount(a_feat, minlength=n_feat)
    is_dense = af > max(params.dense_min, params.dense_frac * n_art)
    n_dense = int(is_dense.sum())
    dense_index = np.full(n_feat, -1, dtype=np.int64)
    dense_index[is_dense] = np.arange(n_dense)
    in_dense = is_dense[a_feat]
    dense = np.zeros((n_art, n_dense), dtype=np.float32)
    dense[a_art[in_dense], dense_index[a_feat[in_dense]]] = a_val[in_dense]
    us, vt = low_rank(dense, params.rank) if n_art > params.pool else low_rank(dense, 0)
    sp = ~in_dense
    del in_dense
    # Entries are sorted by (article, feature): a stable sort of the sparse ones by
    # feature gives the inverted index.
    fwd_art, fwd_feat, fwd_val = a_art[sp], a_feat[sp], a_val[sp]
    del a_art, a_feat, a_val, sp
    order = np.argsort(fwd_feat, kind="stable")
    inv_indptr = np.zeros(n_feat + 1, dtype=np.int64)
    np.cumsum(np.bincount(fwd_feat, minlength=n_feat), out=inv_indptr[1:])
    inv_art = fwd_art[order].astype(np.int32)
    inv_val = fwd_val[order].astype(np.float32)
    del order

    # Forward blocks: phrasing entries (sorted by phrasing, an article's phrasings
    # consecutive), then the article's sparse entries (a padding entry if none). Both
    # parts are sorted by article already: the blocks are one merge of the two.
    fwd_len = np.bincount(fwd_art, minlength=n_art)
    empty = np.flatnonzero(fwd_len == 0)
    if len(empty):
        fwd_art = np.concatenate((fwd_art, empty))
        fwd_feat = np.concatenate((fwd_feat, np.full(len(empty), n_feat, dtype=np.int64)))
        fwd_val = np.concatenate((fwd_val, np.zeros(len(empty))))
    fwd_len[empty] = 1
    blk_key = np.concatenate((doc_article[doc] * 2, fwd_art * 2 + 1))
    del fwd_art
    blk_order = np.argsort(blk_key, kind="stable")
    del blk_key
    blk_feat = np.concatenate((feat, fwd_feat))[blk_order].astype(np.int32)
    del feat, fwd_feat
    blk_val = np.concatenate((val, fwd_val))[blk_order].astype(np.float32)
    del val, fwd_val, blk_order
    ph_len = np.bincount(doc, minlength=n_docs)
    seg_key = np.concatenate((doc_article * 2, np.arange(n_art) * 2 + 1))
    seg_len = np.concatenate((ph_len, fwd_len))[np.argsort(seg_key, kind="stable")]
    n_docs_art = np.diff(article_start)
    blk_ph_len = np.bincount(doc_article[doc], minlength=n_art)
    del doc
    blk_start = np.zeros(n_art + 1, dtype=np.int64)
    np.cumsum(blk_ph_len + fwd_len, out=blk_start[1:])
    seg_count = n_docs_art + 1
    return {
        "idf": idf,
        "dense_index": dense_index,
        "dense": dense,
        "dense_us_t": np.ascontiguousarray(us.T),
        "dense_v": np.ascontiguousarray(vt.T),
        "inv_indptr": inv_indptr,
        "inv_art": inv_art,
        "inv_val": inv_val,
        "blk_start": blk_start,
        "blk_ph_len": blk_ph_len,
        "seg_first": np.cumsum(seg_count) - seg_count,
        "seg_count": seg_count,
        "seg_len": seg_len,
        "blk_feat": blk_feat,
        "blk_val": blk_val,
    }
