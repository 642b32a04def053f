"""The faq-bench data as the FAQ benchmarks read it: where it is, the datasets, loading them,
and padding an article set with synthetic articles up to a size (``bench.faq_bench`` and
``bench.faq_edit`` both use it)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from base.normalize import normalize
from faq.matcher import Entry

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "faq-bench"

# name -> (articles file pattern with {k}, queries file)
DATASETS: dict[str, tuple[str, str]] = {
    "en": ("banking77-en/articles-k{k}.jsonl", "banking77-en/queries-dev.jsonl"),
    "msa": ("arbanking77-ar/articles-k{k}.jsonl", "arbanking77-ar/queries-dev-msa.jsonl"),
    "pal": ("arbanking77-ar/articles-k{k}.jsonl", "arbanking77-ar/queries-dev-pal.jsonl"),
}

DATASET_TITLES = {"en": "English", "msa": "Arabic MSA", "pal": "Arabic Palestinian"}

SEED = 77

Record = dict[str, Any]


def data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("SANAD_FAQ_BENCH")
    return Path(env) if env else DEFAULT_DATA


def load_jsonl(path: Path) -> list[Record]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def article_texts(article: Record) -> list[str]:
    """Question and phrasings, without repeats (the question is usually phrasings[0])."""
    return list(dict.fromkeys([article["question"], *article["phrasings"]]))


def entries_of(articles: Sequence[Record]) -> list[Entry]:
    return [Entry(a["id"], a["lang"], tuple(article_texts(a))) for a in articles]


def pad_articles(
    articles: Sequence[Record], pool: Sequence[Record], total: int, k: int = 5, seed: int = SEED
) -> list[Record]:
    """``articles`` plus synthetic ones up to ``total``, each with ``k`` distinct phrasings
    made of the first half of one real phrasing (from ``pool``) and the second half of
    another. No synthetic text equals (after normalisation) any other text."""
    rng = random.Random(seed)
    halves = [p.split() for a in pool for p in a["phrasings"]]
    seen = {normalize(t) for a in articles for t in article_texts(a)}
    out = list(articles)
    lang = articles[0]["lang"]
    for i in range(total - len(articles)):
        phrasings: list[str] = []
        while len(phrasings) < k:
            x, y = rng.choice(halves), rng.choice(halves)
            text = " ".join(x[: max(1, len(x) // 2)] + y[len(y) // 2 :])
            norm = normalize(text)
            if not norm or norm in seen:
                continue
            seen.add(norm)
            phrasings.append(text)
        out.append(
            {
                "id": f"synthetic-{i:05d}",
                "question": phrasings[0],
                "phrasings": phrasings,
                "answer": "synthetic",
                "lang": lang,
            }
        )
    return out
