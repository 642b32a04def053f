"""Is an Arabic message written in a spoken dialect rather than Modern Standard Arabic?

Dialect messages share fewer words with FAQ articles written in MSA, so the FAQ matcher's
scores mean something else for them (see ``faq/fusion.py``): it decides with thresholds per
*decision group* (``en``, ``ar-msa``, ``ar-dialect``), and this module tells the two Arabic
groups apart.

The rule is deliberately small and explainable: a message is dialectal when one of its
(normalised) words is a *marker* — a function word or very common word that the dialects use
and MSA does not (``بدي``, ``شو``, ``عايز``, ``ازاي``, ``وش``, ``بغيت``, ``كيفاش`` ...), the
same word behind the conjunction ``و``, the dialect negation circumfix ``ما...ش``
(``ماعنديش``), or a letter MSA does not write (``گ چ ڤ پ``). The markers come from general
knowledge of the main dialect groups (Levantine, Egyptian, Gulf, Iraqi, Maghrebi), not from
any evaluation data. Words that are also ordinary MSA words (``كيف``, ``بعد``, ``زين``, ``حاجة``)
are left out on purpose: a marker must never fire on MSA. A dialect message without any marker
is classed as MSA; the MSA thresholds are tuned to stay precise for such messages too.
"""

from __future__ import annotations

from dataclasses import dataclass

from base.normalize import normalize

__all__ = ["DIALECT_MARKERS", "ArabicVariety", "arabic_variety"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Normalised words (see base.normalize: ة -> ه, ى -> ي, أ/إ/آ -> ا) per dialect group.
DIALECT_MARKERS: dict[str, frozenset[str]] = {
    "levantine": _words(
        "بدي بدك بده بدو بدها بدنا بدكم بدهم شو هيك ليش وين هلق هلاق هسا هسع كتير منيح "
        "هاد هادا هادي هدول هيدا هيدي هاي اشي حدا لسا لسه قديش اديش ازا منشان مشان تبعي "
        "تبعك تبعه تبعها تبعنا تبعكم تبعتي رح مين ايمتي كيفك عنجد"
    ),
    "egyptian": _words(
        "عايز عاوز عايزه عاوزه عايزين ازاي فين دلوقتي دلوقت كده كدا ده دي مفيش مافيش "
        "بتاع بتاعي بتاعتي بتاعك بتاعه امتي ليه ايه ازيك اوي برضه برضو علشان عشان مش اللي"
    ),
    "gulf": _words(
        "ابي ابغي ابغا تبغي تبي يبغي وش شلون اشلون وايد واجد الحين جذي هني شفيه ودي مب مو"
    ),
    "iraqi": _words("شكو اكو ماكو شكد شقد هواي هسه شنو اشو"),
    "maghrebi": _words(
        "بغيت بغيتي نبغي واش كيفاش دابا علاش بزاف ديال ديالي ديالك ديالو شحال مزيان باش "
        "غادي كاين كاينه ماكاينش شنهو برشا باهي راني هادشي"
    ),
}
_MARKER_GROUP: dict[str, str] = {w: g for g, ws in DIALECT_MARKERS.items() for w in ws}
_NON_MSA_LETTERS = frozenset("گچڤپ")


@dataclass(frozen=True)
class ArabicVariety:
    """The verdict and its reasons (the markers found, with their dialect groups)."""

    dialect: bool
    markers: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def group(self) -> str:
        """The FAQ decision group: ``ar-dialect`` or ``ar-msa``."""
        return "ar-dialect" if self.dialect else "ar-msa"


def _marker(word: str) -> str | None:
    """The dialect group ``word`` marks, or None."""
    group = _MARKER_GROUP.get(word)
    if group is None and len(word) >= 4 and word[0] == "و":
        group = _MARKER_GROUP.get(word[1:])
    if group is None and len(word) >= 5 and word.startswith("ما") and word[-1] == "ش":
        group = "negation"  # ما...ش: Egyptian, Levantine, Maghrebi
    if group is None and not _NON_MSA_LETTERS.isdisjoint(word):
        group = "spelling"
    return group


def arabic_variety(text: str) -> ArabicVariety:
    """Dialect or MSA, by the marker words of ``text`` (see the module docstring)."""
    markers: list[str] = []
    groups: list[str] = []
    for word in normalize(text).split():
        group = _marker(word)
        if group is not None:
            markers.append(word)
            if group not in groups:
                groups.append(group)
    return ArabicVariety(bool(markers), tuple(markers), tuple(groups))
