"""Light English stemmer: plural, -ed and -ing endings, final silent e.

Much lighter than Porter on purpose: it only conflates inflections of one word
(``charges``/``charged``/``charging``/``charge`` -> ``charg``) and never derivations,
which keeps unrelated words apart. Character n-grams in the matcher cover the rest.
"""

from __future__ import annotations

__all__ = ["stem_english"]

_VOWELS = frozenset("aeiouy")
_NO_UNDOUBLE = frozenset("lsz")


def _has_vowel(s: str) -> bool:
    return any(c in _VOWELS for c in s)


def stem_english(word: str) -> str:
    """Return the light stem of a lower-case ASCII word."""
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    # Plurals and third person singular.
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies"):
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    # Past tense and gerund.
    if w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    else:
        for suffix in ("ing", "ed"):
            if w.endswith(suffix):
                stem = w[: -len(suffix)]
                if len(stem) >= 3 and _has_vowel(stem):
                    if stem[-1] == stem[-2] and stem[-1] not in _VOWELS | _NO_UNDOUBLE:
                        stem = stem[:-1]
                    w = stem
                break
    # Final silent e (charge/charged/charging -> charg), but keep -ee (fee, free).
    if len(w) > 3 and w.endswith("e") and not w.endswith("ee"):
        w = w[:-1]
    return w
