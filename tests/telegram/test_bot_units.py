"""Pure parts of the Telegram adapter: message splitting, texts, callback data."""

from __future__ import annotations

import pytest

from bot.handlers import CALLBACK_RE, feedback_keyboard, suggestions_keyboard
from bot.split import split_text
from faq.service import ArticleView


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello") == ["hello"]


def test_long_text_splits_at_paragraphs_then_words_within_the_limit() -> None:
    paragraph = ("word " * 700).strip()  # 3499 characters
    text = f"{paragraph}\n\n{paragraph}\n\n{paragraph}"
    chunks = split_text(text)
    assert len(chunks) == 3
    assert all(len(c) <= 4096 for c in chunks)
    assert chunks == [paragraph, paragraph, paragraph]


def test_text_without_breaks_is_cut_hard_and_nothing_is_lost() -> None:
    text = "x" * 9000
    chunks = split_text(text)
    assert [len(c) for c in chunks] == [4096, 4096, 808]
    assert "".join(chunks) == text


def test_split_keeps_every_word() -> None:
    words = [f"w{i}" for i in range(3000)]
    chunks = split_text(" ".join(words), limit=100)
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks).split() == words


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ("fb:12:y", True),
        ("fb:12:n:7", True),
        ("art:7:12", True),
        ("human", True),
        ("lang:ar", True),
        ("lang:fr", False),
        ("fb:12:maybe", False),
        ("art:x:1", False),
        ("fb:1" + "9" * 30 + ":y", False),
        ("", False),
    ],
)
def test_callback_data_is_validated(data: str, ok: bool) -> None:
    assert (CALLBACK_RE.match(data) is not None) is ok


def test_callback_data_fits_telegrams_64_bytes_for_the_largest_ids() -> None:
    big = 10**18 - 1
    article = ArticleView(big, "s", "en", "q" * 300, "a", "")
    markups = [feedback_keyboard(big, "ar", big), suggestions_keyboard((article,) * 3, big, "ar")]
    for markup in markups:
        assert markup is not None
        for row in markup.inline_keyboard:
            for button in row:
                assert isinstance(button.callback_data, str)
                assert len(button.callback_data.encode()) <= 64
                assert CALLBACK_RE.match(button.callback_data)
                assert len(button.text) <= 64
