"""Text normalisation and tokenisation for FAQ matching (English and Arabic).

``normalize`` folds surface variation that carries no meaning for retrieval:

* case folding (``str.casefold``), Latin diacritics stripped (``é`` -> ``e``);
* Arabic: harakat and other combining marks removed, tatweel removed, alef forms
  (``أ إ آ ٱ``) -> ``ا``, hamza on waw/ya (``ؤ ئ``) -> ``و ي``, standalone hamza ``ء``
  dropped, taa marbuta ``ة`` -> ``ه``, alef maqsura ``ى`` -> ``ي``, Persian ``ک ی`` -> ``ك ي``;
* Arabic-Indic (``٠-٩``) and Persian (``۰-۹``) digits -> ``0-9``;
* every character that is not a letter or a digit (Latin and Arabic punctuation such as
  ``، ؛ ؟``, symbols, underscores) -> space; whitespace collapsed, ends stripped.

``tokenize`` splits the normalised text into words and applies light stemming: a
light prefix/suffix stripper (plus a small table of common dialect words) for
Arabic-script words, and a light suffix stripper for Latin words when the language is
English. Stemming is deliberately light so that it stays generic across dialects and
domains; the matcher's character n-grams absorb the rest of the morphology.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

from base._arabic import stem_arabic
from base._english import stem_english

__all__ = ["detect_language", "normalize", "stem_words", "tokenize"]


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Combining marks (Latin accents after NFKD, Arabic harakat, shadda, sukun, superscript
    # alef, Quranic annotation marks, ...). Scanning the BMP once costs a few milliseconds.
    for cp in range(0x0300, 0x10000):
        if unicodedata.combining(chr(cp)) or unicodedata.category(chr(cp)) == "Mn":
            table[cp] = None
    table[0x0640] = None  # tatweel
    table[0x0621] = None  # standalone hamza
    for src in "أإآٱٲٳٵ":
        table[ord(src)] = "ا"
    table[ord("ؤ")] = "و"
    table[ord("ئ")] = "ي"
    table[ord("ة")] = "ه"
    table[ord("ى")] = "ي"
    table[ord("ی")] = "ي"  # Persian yeh
    table[ord("ک")] = "ك"  # Persian keheh
    table[ord("ە")] = "ه"
    for i in range(10):
        table[0x0660 + i] = str(i)  # Arabic-Indic digits
        table[0x06F0 + i] = str(i)  # Extended Arabic-Indic (Persian) digits
    return table


_TABLE = _build_table()
_NON_WORD = re.compile(r"[\W_]+")
# Runs of Arabic letters / of letters: deleting whole runs and comparing lengths counts the
# characters (about twice as fast as counting single-character matches).
_ARABIC_LETTERS = re.compile(r"[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f]+")
_LETTERS = re.compile(r"[^\W\d_]+")
assert sys.maxunicode > 0xFFFF


def normalize(text: str, lang: str | None = None) -> str:
    """Return ``text`` normalised for matching (see the module docstring).

    ``lang`` is accepted for API symmetry; the rules are script-based and safe to apply
    to any language, so mixed-language text is handled the same way.
    """
    del lang
    if not text:
        return ""
    s = text.casefold()
    if not s.isascii():
        # NFKD splits precomposed letters (é -> e + U+0301, أ -> ا + U+0654) and folds
        # compatibility forms (Arabic presentation forms, full-width Latin, ligatures).
        s = unicodedata.normalize("NFKD", s).translate(_TABLE)
    return _NON_WORD.sub(" ", s).strip()


def detect_language(text: str) -> str:
    """Return ``"ar"`` if Arabic letters are the majority of the letters, else ``"en"``."""
    if text.isascii():
        return "en"
    letters = len(text) - len(_LETTERS.sub("", text))
    arabic = len(text) - len(_ARABIC_LETTERS.sub("", text))
    return "ar" if arabic * 2 > letters else "en"


def _is_arabic_word(word: str) -> bool:
    return "\u0620" <= word[0] <= "\u06ff" or "\u0620" <= word[-1] <= "\u06ff"


@lru_cache(maxsize=65536)
def _stem(word: str, english: bool) -> str:
    if _is_arabic_word(word):
        return stem_arabic(word)
    if english and word.isascii():
        return stem_english(word)
    return word


def stem_words(words: list[str], lang: str | None = None) -> list[str]:
    """Light-stem already normalised words (see :func:`tokenize`)."""
    english = lang is None or lang == "en"
    return [_stem(w, english) for w in words]


def tokenize(text: str, lang: str | None = None) -> list[str]:
    """Normalise ``text`` and return its light-stemmed word tokens.

    Arabic-script words are always stemmed with the Arabic rules (plus a small table of
    common dialect words mapped to Modern Standard Arabic); Latin words get the English
    rules when ``lang`` is ``"en"`` or ``None`` and are left unstemmed otherwise.
    """
    return stem_words(normalize(text, lang).split(), lang)
