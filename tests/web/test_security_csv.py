"""FAQ CSV export: a phrasing with ``|`` no longer fails the whole export, and cells that a
spreadsheet would run as formulas are guarded; import reads back exactly what was exported."""

from __future__ import annotations

import csv
import io

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from faq.articles import ArticleError, ArticleIn, validate_article
from faq.io import dump_csv, parse_csv

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)


@st.composite
def articles(draw: st.DrawFn) -> ArticleIn:
    record = {
        "id": draw(st.from_regex(r"[a-z0-9=+@-][a-z0-9-]{0,20}", fullmatch=True)),
        "lang": draw(st.sampled_from(["en", "ar"])),
        "question": draw(TEXT),
        "answer": draw(TEXT),
        "phrasings": draw(st.lists(TEXT, max_size=4)),
        "category": draw(st.sampled_from(["", "delivery", "=cmd", "-x", "@sum"])),
    }
    try:
        return validate_article(record)
    except ArticleError:
        assume(False)
        raise


@settings(max_examples=80, deadline=None)
@given(st.lists(articles(), min_size=1, max_size=5, unique_by=lambda a: (a.id, a.lang)))
def test_csv_export_then_import_gives_back_the_same_articles(items: list[ArticleIn]) -> None:
    text = dump_csv(items)
    parsed = parse_csv(text.encode())
    assert parsed.errors == []
    assert parsed.articles == items
    for row in list(csv.reader(io.StringIO(text)))[1:]:
        for cell in row:  # nothing a spreadsheet would evaluate
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row


def test_a_phrasing_with_a_pipe_is_exported_not_refused() -> None:
    article = validate_article(
        {
            "id": "sizes",
            "lang": "en",
            "question": "Which sizes?",
            "answer": '=HYPERLINK("http://evil")',
            "phrasings": ["S | M | L", "back\\slash", "a\\|b"],
        }
    )
    text = dump_csv([article])
    assert "'=HYPERLINK" in text
    assert parse_csv(text.encode()).articles == [article]
