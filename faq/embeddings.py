"""Stored sentence embeddings: one row per (model, normalised text), computed once.

Keys are the SHA-256 of :func:`faq.semantic.embedding_text` of a text, so the same text in two
articles, or an article saved again unchanged, never costs a second embedding; a different model
(or model version) has its own rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from faq.semantic import embedding_text
from storage.models import TextEmbedding

Float32Array = npt.NDArray[np.float32]

_CHUNK = 500  # keys per SELECT ... IN (...)
_SCAN_FROM = 5_000  # more keys than this: read all of the model's rows once


def text_key(text: str) -> str:
    """Storage key of a text's embedding (hash of its normalised form)."""
    return hashlib.sha256(embedding_text(text).encode("utf-8")).hexdigest()


async def load_vectors(
    session: AsyncSession, model: str, keys: Iterable[str], dim: int
) -> dict[str, Float32Array]:
    """The stored vectors of ``model`` for those of ``keys`` that have one."""
    wanted = list(dict.fromkeys(keys))
    out: dict[str, Float32Array] = {}
    if len(wanted) > _SCAN_FROM:
        # Most of them (a start): one pass over the model's rows beats many IN lists.
        keep = set(wanted)
        result = await session.stream(
            select(TextEmbedding.text_hash, TextEmbedding.vector).where(
                TextEmbedding.model == model, TextEmbedding.dim == dim
            )
        )
        async for key, blob in result:
            if key in keep:
                out[key] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        return out
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        rows = await session.execute(
            select(TextEmbedding.text_hash, TextEmbedding.vector).where(
                TextEmbedding.model == model,
                TextEmbedding.text_hash.in_(chunk),
                TextEmbedding.dim == dim,
            )
        )
        for key, blob in rows.all():
            vec = np.frombuffer(blob, dtype="<f4")
            if len(vec) == dim:
                out[key] = vec.astype(np.float32)
    return out


async def store_vectors(
    session: AsyncSession, model: str, vectors: Mapping[str, Float32Array], at: datetime
) -> int:
    """Store vectors not stored yet (another process may have stored some meanwhile)."""
    keys = list(vectors)
    known: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        found = await session.execute(
            select(TextEmbedding.text_hash).where(
                TextEmbedding.model == model, TextEmbedding.text_hash.in_(chunk)
            )
        )
        known.update(found.scalars().all())
    fresh = [k for k in keys if k not in known]
    if not fresh:
        return 0
    # Two processes starting together embed the same texts: whichever stores a vector second
    # keeps the first one (the same text gives the same vector) instead of failing.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "model": model,
            "text_hash": k,
            "dim": len(vectors[k]),
            "vector": np.asarray(vectors[k], dtype="<f4").tobytes(),
            "created_at": at,
        }
        for k in fresh
    ]
    await session.execute(insert(TextEmbedding).on_conflict_do_nothing(), rows)
    return len(fresh)
