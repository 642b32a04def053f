"""Import and export of FAQ articles as JSON Lines and CSV.

JSON Lines: one object per line, ``{"id", "lang", "question", "phrasings", "answer",
"category", "tags", "status"}``; only ``id``, ``lang``, ``question`` and ``answer`` are required,
so the ``faq-bench`` record format (``id, question, phrasings, answer, lang``) is valid input.

CSV: a header row with the same column names; ``phrasings`` are separated by ``|`` (``\\|``
inside a phrasing) and ``tags`` by ``,``. A cell that starts like a spreadsheet formula
(``=``, ``+``, ``-``, ``@``) is exported with a leading ``'``, taken off again on import.

Parsing checks every row and returns every problem with its line number, so an import can be
all or nothing: nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faq.articles import ArticleError, ArticleIn, validate_article

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("id", "lang", "category", "tags", "question", "phrasings", "answer", "status")
PHRASING_SEPARATOR = "|"
# What a spreadsheet reads as the start of a formula (CSV injection), and the guard itself.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
MAX_IMPORT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportFileError(ValueError):
    """The file as a whole is unusable (wrong format, unreadable, too large)."""


@dataclass(frozen=True)
class ParseResult:
    articles: list[ArticleIn]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


def guess_format(path: str | Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ImportFileError(f"unknown format {explicit!r}: use one of {', '.join(FORMATS)}")
        return explicit
    suffix = Path(path).suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise ImportFileError(
        f"cannot tell the format of {Path(path).name!r} from its extension: "
        "use .jsonl or .csv, or pass --format"
    )


def _decode(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8 text (byte {exc.start})") from None


def _check_duplicates(rows: list[tuple[int, ArticleIn]], errors: list[RowError]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for line, art in rows:
        key = (art.id, art.lang)
        if key in seen:
            errors.append(
                RowError(
                    line, f"article {art.id!r} ({art.lang}) already appears on line {seen[key]}"
                )
            )
        else:
            seen[key] = line


def parse_jsonl(data: bytes) -> ParseResult:
    text = _decode(data)
    rows: list[tuple[int, ArticleIn]] = []
    errors: list[RowError] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            rows.append((number, validate_article(record)))
        except ArticleError as exc:
            errors.append(RowError(number, str(exc)))
    _check_duplicates(rows, errors)
    errors.sort(key=lambda e: e.line)
    return ParseResult([a for _, a in rows], errors)


def _split(cell: str, sep: str) -> list[str]:
    return [part.strip() for part in cell.split(sep) if part.strip()]


def _split_phrasings(cell: str) -> list[str]:
    """Phrasings are separated by ``|``; ``\\|`` is a ``|`` inside one and ``\\\\`` a
    backslash (any other backslash is kept as it is)."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(cell):
        char = cell[i]
        if char == "\\" and i + 1 < len(cell) and cell[i + 1] in "\\|":
            current.append(cell[i + 1])
            i += 2
            continue
        if char == PHRASING_SEPARATOR:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _join_phrasings(phrasings: Iterable[str]) -> str:
    return PHRASING_SEPARATOR.join(
        p.replace("\\", "\\\\").replace(PHRASING_SEPARATOR, "\\" + PHRASING_SEPARATOR)
        for p in phrasings
    )


def guard_formula(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...) gets a
    leading ``'``; :func:`unguard_formula` takes it off again on import."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


def unguard_formula(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_STARTS else cell


def parse_csv(data: bytes) -> ParseResult:
    text = _decode(data)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in ("id", "lang", "question", "answer") if c not in header]
    if missing:
        raise ImportFileError(
            f"the CSV header lacks column(s) {', '.join(missing)} "
            f"(expected: {', '.join(CSV_COLUMNS)})"
        )
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise ImportFileError(f"the CSV header has unknown column(s) {', '.join(unknown)}")
    rows: list[tuple[int, ArticleIn]] = []
    errors: list[RowError] = []
    start = 2
    for raw in reader:
        number = start
        start = reader.line_num + 1
        if None in raw:
            errors.append(RowError(number, "more cells than columns in the header"))
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue
        record: dict[str, Any] = {k: unguard_formula(v) for k, v in raw.items() if v is not None}
        record["phrasings"] = _split_phrasings(record.get("phrasings", ""))
        record["tags"] = _split(record.get("tags", ""), ",")
        if not record.get("status"):
            record.pop("status", None)
        try:
            rows.append((number, validate_article(record)))
        except ArticleError as exc:
            errors.append(RowError(number, str(exc)))
    _check_duplicates(rows, errors)
    errors.sort(key=lambda e: e.line)
    return ParseResult([a for _, a in rows], errors)


def parse(data: bytes, fmt: str) -> ParseResult:
    if fmt == "jsonl":
        return parse_jsonl(data)
    if fmt == "csv":
        return parse_csv(data)
    raise ImportFileError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def dump_jsonl(articles: Iterable[ArticleIn]) -> str:
    return "".join(json.dumps(a.as_record(), ensure_ascii=False) + "\n" for a in articles)


def dump_csv(articles: Iterable[ArticleIn]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for a in articles:
        cells = [
            a.id,
            a.lang,
            a.category,
            ",".join(a.tags),
            a.question,
            _join_phrasings(a.phrasings),
            a.answer,
            a.status,
        ]
        writer.writerow([guard_formula(cell) for cell in cells])
    return out.getvalue()


def dump(articles: Iterable[ArticleIn], fmt: str) -> str:
    if fmt == "jsonl":
        return dump_jsonl(articles)
    if fmt == "csv":
        return dump_csv(articles)
    raise ImportFileError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
