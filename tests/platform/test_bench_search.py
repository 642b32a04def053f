"""bench/search.py on a small database (the 1M-message run is ``make bench``'s): the prefill is
indexed by ``reindex`` and every query kind finds what it is meant to find."""

from __future__ import annotations

from bench.search import main, parse


async def test_search_bench_small_sqlite() -> None:
    out = await main(parse(["--messages", "3000", "--repeats", "2", "--backends", "sqlite"]))
    sqlite = out["sqlite"]
    assert sqlite["index"]["messages"] == 3000 and sqlite["index"]["tickets"] == 300
    rows = sqlite["search"]["supervisor"]
    for kind, row in rows.items():
        expected = 0 if kind == "word found nowhere" else 1
        assert row["hits"] >= expected, (kind, row)
    single = ("order number (1 ticket)", "ticket number", "customer name")
    assert all(rows[kind]["hits"] == 1 for kind in single)
    assert rows["English word (1/5 of lines)"]["hits"] == 20  # a full page
    assert sqlite["worst_p99_ms"] > 0
