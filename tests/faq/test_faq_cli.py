"""Editors' CLI on a real SQLite file: import (all or nothing), export, add/list/show/remove."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from faq import io as faq_io
from sanad.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "faq-bench"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SANAD_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = main(list(argv), out=out)
        return code, out.getvalue()

    return run


def _article(i: int, lang: str = "en", **extra: object) -> dict[str, object]:
    return {
        "id": f"art-{i}",
        "lang": lang,
        "question": f"Question number {i}?",
        "phrasings": [f"phrasing {i} a", f"phrasing {i} b"],
        "answer": f"Answer {i}.",
        **extra,
    }


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


def _exported(cli, *args: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    code, out = cli("faq", "export", *args)
    assert code == 0
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_import_export_round_trip_and_reimport_updates(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = _write_jsonl(tmp_path / "a.jsonl", [_article(1), _article(2, category="Delivery")])
    code, out = cli("faq", "import", str(src))
    assert code == 0
    assert "2 new, 0 updated" in out
    rows = _exported(cli)
    assert [r["id"] for r in rows] == ["art-1", "art-2"]
    assert rows[1]["category"] == "delivery"
    assert rows[0]["phrasings"] == ["phrasing 1 a", "phrasing 1 b"]

    changed = _article(2, answer="A better answer.")
    _write_jsonl(src, [_article(1), changed])
    code, out = cli("faq", "import", str(src))
    assert code == 0
    assert "0 new, 1 updated, 1 unchanged" in out
    rows = _exported(cli)
    assert len(rows) == 2
    assert rows[1]["answer"] == "A better answer."


def test_bad_rows_are_all_reported_and_nothing_is_imported(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps(_article(1)),
                "{not json",
                json.dumps({**_article(3), "lang": "fr"}),
                json.dumps({k: v for k, v in _article(4).items() if k != "answer"}),
                json.dumps(_article(1)),
                json.dumps({**_article(6), "phrasings": "one string"}),
            ]
        )
        + "\n"
    )
    code, _ = cli("faq", "import", str(src))
    err = capsys.readouterr().err
    assert code == 1
    assert "line 2: not valid JSON" in err
    assert "line 3: 'lang' must be one of en, ar" in err
    assert "line 4: 'answer' is missing" in err
    assert "line 5: article 'art-1' (en) already appears on line 1" in err
    assert "line 6: 'phrasings' must be a list" in err
    assert "5 bad row(s); nothing was imported" in err
    assert _exported(cli) == []


def test_csv_import_and_export(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "faq.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lang", "question", "answer", "phrasings", "tags", "category"])
        w.writerow(
            [
                "ship",
                "en",
                "How long is shipping?",
                "2-4 days,\nusually.",
                "ship time|eta",
                "a,b",
                "",
            ]
        )
        w.writerow(["ship", "ar", "كم مدة الشحن؟", "من ٢ إلى ٤ أيام", "مدة التوصيل", "", ""])
        w.writerow(["bad", "en", "", "x", "", "", ""])
    code, _ = cli("faq", "import", str(src))
    assert code == 1
    assert _exported(cli) == []

    lines = src.read_text().splitlines()
    src.write_text("\n".join(lines[:-1]) + "\n")
    code, out = cli("faq", "import", str(src))
    assert code == 0, out
    out_csv = tmp_path / "out.csv"
    assert cli("faq", "export", str(out_csv))[0] == 0
    parsed = faq_io.parse_csv(out_csv.read_bytes())
    assert parsed.ok
    by_lang = {a.lang: a for a in parsed.articles}
    assert by_lang["en"].answer == "2-4 days,\nusually."
    assert by_lang["en"].phrasings == ("ship time", "eta")
    assert by_lang["en"].tags == ("a", "b")
    assert by_lang["ar"].question == "كم مدة الشحن؟"


def test_csv_line_numbers_count_multiline_cells() -> None:
    data = b'id,lang,question,answer\na,en,Q?,"two\nlines"\nb,en,,missing question\n'
    result = faq_io.parse_csv(data)
    assert [str(e) for e in result.errors] == ["line 4: 'question' is empty"]


def test_broken_files_get_a_clear_error(cli, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    binary = tmp_path / "x.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert cli("faq", "import", str(binary))[0] == 1
    assert "not UTF-8" in capsys.readouterr().err
    odd = tmp_path / "x.txt"
    odd.write_text("hello")
    assert cli("faq", "import", str(odd))[0] == 1
    assert "--format" in capsys.readouterr().err
    assert cli("faq", "import", str(tmp_path / "nope.jsonl"))[0] == 1
    assert "no such file" in capsys.readouterr().err
    header = tmp_path / "h.csv"
    header.write_text("id,language,question,answer\n")
    assert cli("faq", "import", str(header))[0] == 1
    assert "lacks column(s) lang" in capsys.readouterr().err


def test_add_list_show_remove(cli) -> None:  # type: ignore[no-untyped-def]
    code, out = cli(
        "faq",
        "add",
        "--id",
        "hours",
        "--lang",
        "en",
        "--question",
        "When are you open?",
        "--answer",
        "9 to 5.",
        "--phrasing",
        "opening hours",
        "--tags",
        "Hours, time",
    )
    assert (code, out.strip()) == (0, "added: hours (en)")
    code, out = cli(
        "faq",
        "add",
        "--id",
        "hours",
        "--lang",
        "ar",
        "--question",
        "متى تفتحون؟",
        "--answer",
        "من ٩ إلى ٥",
        "--draft",
    )
    assert code == 0
    code, out = cli("faq", "list")
    assert "hours\tar\t-\tمتى تفتحون؟ [draft]" in out
    assert "2 article(s)" in out
    code, out = cli("faq", "show", "hours", "--lang", "en")
    assert "also:    opening hours" in out
    assert "tags:      hours, time" in out
    code, out = cli("faq", "remove", "hours", "--lang", "ar")
    assert (code, out.strip()) == (0, "removed: hours/ar")
    assert cli("faq", "show", "hours", "--lang", "ar")[0] == 1
    assert (
        cli("faq", "add", "--id", "bad id!", "--lang", "en", "--question", "q", "--answer", "a")[0]
        == 1
    )


@pytest.mark.skipif(not SHARED.exists(), reason=f"faq-bench data not found at {SHARED}")
def test_faq_bench_files_are_valid_input(cli) -> None:  # type: ignore[no-untyped-def]
    for path in (
        SHARED / "banking77-en" / "articles-k20.jsonl",
        SHARED / "arbanking77-ar" / "articles-k20.jsonl",
    ):
        code, out = cli("faq", "import", str(path))
        assert code == 0, out
        assert "77 new" in out
    assert len(_exported(cli, "--lang", "ar")) == 77
    assert len(_exported(cli)) == 154


def test_sample_faq_is_bilingual_and_valid() -> None:
    from faq.service import sample_articles

    articles = sample_articles()
    ids = {a.id for a in articles}
    assert len(ids) >= 20
    for slug in ids:
        assert {a.lang for a in articles if a.id == slug} == {"en", "ar"}
    assert {a.category for a in articles} >= {"delivery", "returns", "payment", "account"}


def test_agents_and_customer_tiers(cli, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out = cli(
        "agents",
        "add",
        "--telegram-id",
        "555",
        "--name",
        "Amal",
        "--skills",
        "Billing, delivery",
        "--languages",
        "ar,en",
        "--capacity",
        "3",
    )
    assert code == 0 and "Amal (Telegram 555)" in out
    code, out = cli(
        "agents", "add", "--telegram-id", "555", "--name", "Amal K", "--role", "supervisor"
    )
    assert code == 0
    code, out = cli("agents", "list")
    assert "Amal K\tsupervisor\ttelegram:555\toffline\t0/1\tskills:any" in out
    assert "1 agent(s)" in out
    assert cli("agents", "add", "--telegram-id", "abc", "--name", "X")[0] == 1
    assert "Telegram id is a number" in capsys.readouterr().err
    assert cli("agents", "add", "--telegram-id", "7", "--name", "X", "--capacity", "0")[0] == 1
    assert cli("agents", "remove", "--telegram-id", "555")[0] == 0
    assert cli("agents", "remove", "--telegram-id", "555")[0] == 1
    # a customer must have written first
    assert cli("customers", "tier", "--telegram-id", "42", "vip")[0] == 1
    assert "must write to the bot first" in capsys.readouterr().err


def test_canned_replies(cli, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli("canned", "add", "hello", "Hi {name}, I'm {agent}. Ticket #{ticket}.")[0] == 0
    assert cli("canned", "add", "hello", "مرحباً {name}", "--lang", "ar")[0] == 0
    code, out = cli("canned", "list")
    assert code == 0
    assert "hello\tany\tHi {name}, I'm {agent}. Ticket #{ticket}." in out
    assert "hello\tar\tمرحباً {name}" in out
    assert cli("canned", "add", "Bad Shortcut!", "x")[0] == 1
    assert "shortcut" in capsys.readouterr().err
    assert cli("canned", "remove", "hello")[0] == 0
    assert cli("canned", "remove", "hello")[0] == 1
    assert "2 canned" not in cli("canned", "list")[1]
