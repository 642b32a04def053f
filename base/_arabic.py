"""Arabic light stemming, common dialect words, and spelling variants.

Input words are already normalised by :func:`base.normalize.normalize` (no diacritics,
alef forms unified, ``ة`` -> ``ه``, ``ى`` -> ``ي``, standalone hamza dropped).

* :func:`stem_arabic` follows the *light stemming* family (Larkey et al., Light10):
  strip the conjunction ``و``, a definite-article prefix, an attached pronoun and a
  plural/dual ending, always keeping at least three letters. No root extraction.
* ``DIALECT_WORDS`` maps frequent function words and a few very common words of the
  main dialect groups (Levantine, Egyptian, Gulf, Iraqi, Maghrebi) to the Modern Standard
  Arabic word an FAQ author would write. FAQ articles are normally written in MSA while
  customers write in their dialect; these words are where the two differ most.
* :func:`variants` lists plausible standard spellings of a word the index does not know
  (attached prepositions, the dialect present-tense ``ب``, dialect suffixes, and the
  regular dialect sound shifts ث -> ت/س and ذ -> د/ز); the matcher keeps the first one the
  index knows.
"""

from __future__ import annotations

__all__ = ["DIALECT_WORDS", "dialect_standard", "stem_arabic", "variants"]

_ARTICLE_PREFIXES = ("وبال", "وكال", "فبال", "وال", "فال", "بال", "كال", "لل", "ال")
_PRONOUN_SUFFIXES = ("هما", "كما", "كم", "هم", "ها", "نا", "ني", "ك", "ه", "ي")
_PLURAL_SUFFIXES = ("ات", "ون", "ين", "ان", "يه")

# MSA word (normalised) -> dialect words (normalised), by meaning.
_DIALECT_GROUPS: dict[str, tuple[str, ...]] = {
    # question words
    "ماذا": ("شو", "ايش", "شنو", "وش", "شنهو", "شنهي", "اش", "واش", "شنو"),
    "لماذا": ("ليش", "ليه", "علاش", "لويش", "علاه", "ليشن"),
    "اين": ("وين", "فين", "وينه", "فينه", "وينو", "وينها"),
    "كيف": ("كيفاش", "ازاي", "شلون", "كيفن"),
    "كم": ("قديش", "كديش", "قداش", "كام", "شحال", "قديه", "بكام"),
    "متي": ("امتي", "امته", "امتا", "ايمتي", "وقتيش", "وقتاش", "امتين", "وينتا", "اياتا"),
    # time, degree, manner
    "الان": ("هلق", "هسا", "هسه", "هسع", "دلوقتي", "دلوقت", "دابا", "توا", "الحين", "هلاء"),
    "كثير": ("كتير", "واجد", "برشا", "بزاف", "ياسر", "وايد", "هوايه"),
    "هكذا": ("هيك", "كده", "كدا", "هكا", "هيكا", "جذي", "هيج"),
    "جيد": ("منيح", "كويس", "مليح", "باهي", "مزيان", "زين", "خوش"),
    "ايضا": ("كمان", "برضه", "برضو", "بعد", "زاده"),
    "مثل": ("زي", "متل", "كيف", "بحال"),
    "خارج": ("برا", "بره", "لبرا"),
    "داخل": ("جوا", "جوه", "لجوا"),
    # demonstratives, relatives, conjunctions, negation, indefinites
    "هذا": ("هاد", "هادا", "هيدا", "هاذا", "ده", "دا", "هذي", "هاذ"),
    "هذه": ("هاي", "هيدي", "هاذي", "دي", "هادي"),
    "الذي": ("اللي", "يلي", "اللى"),
    "لان": ("عشان", "علشان", "مشان", "منشان", "لانو", "حيت"),
    "ليس": ("مش", "مو", "موش", "مب", "ماهوش", "مهوش"),
    "لكن": ("بس", "لاكن"),
    "شي": ("اشي", "حاجه", "شيي", "حاجات"),
    "احد": ("حدا", "حدن", "واحد"),
    "سوف": ("رح", "راح", "حا", "غادي", "غا", "بش"),
    # very common verbs and nouns of support requests
    "اريد": ("بدي", "ابغي", "ابغا", "ابي", "عايز", "عاوز", "عايزه", "بغيت", "حابب", "ودي"),
    "تريد": ("بدك", "تبغي", "تبي", "عايزه"),
    "يريد": ("بده", "بدو", "بدها", "يبغي", "يبي"),
    "يمكن": ("بقدر", "اقدر", "نقدر", "بتقدر", "بيقدر", "بنقدر", "تقدر", "يقدر", "اگدر"),
    "افعل": ("اسوي", "بسوي", "اعمل", "بعمل", "ندير", "نعمل"),
    "حدث": ("صار", "صارت", "حصل", "حصلت"),
    "صحيح": ("صح", "مزبوط", "مظبوط"),
    "خطا": ("غلط", "غلطه"),
    "اموال": ("مصاري", "مصريات", "فلوس", "مصاريي", "مصرياتي", "فلوسي", "نقود"),
    "بطاقه": ("كرت", "كارت", "كرته", "كرتي", "كارتي"),
    "هاتف": ("تلفون", "تليفون", "موبايل", "جوال", "تلفوني", "موبايلي", "جوالي"),
    "خاص": (
        "تبعي",
        "تبعك",
        "تبعه",
        "تبعها",
        "تبعنا",
        "تبعتي",
        "تاعي",
        "تاعك",
        "بتاعي",
        "بتاعتي",
        "بتاعك",
        "ديالي",
        "ديالك",
        "حقي",
        "حقك",
        "مالي",
    ),
}


def _dialect_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for msa, words in _DIALECT_GROUPS.items():
        for w in words:
            if w != msa:
                table.setdefault(w, msa)
    return table


DIALECT_WORDS: dict[str, str] = _dialect_table()


def dialect_standard(word: str) -> str | None:
    """MSA equivalent of a dialect ``word`` (also behind ``و``/article prefixes), or None."""
    mapped = DIALECT_WORDS.get(word)
    if mapped is None and len(word) >= 4:
        if word[0] == "و":
            mapped = DIALECT_WORDS.get(word[1:])
        if mapped is None:
            for p in _ARTICLE_PREFIXES:
                if word.startswith(p):
                    mapped = DIALECT_WORDS.get(word[len(p) :])
                    break
    return mapped


def _light_stem(w: str) -> str:
    if len(w) >= 4 and w[0] == "و":
        w = w[1:]
    for p in _ARTICLE_PREFIXES:
        if w.startswith(p) and len(w) - len(p) >= 2:
            w = w[len(p) :]
            break
    stripped_pronoun = False
    for s in _PRONOUN_SUFFIXES:
        if w.endswith(s) and len(w) - len(s) >= 3:
            w = w[: -len(s)]
            stripped_pronoun = True
            break
    for s in _PLURAL_SUFFIXES:
        if w.endswith(s) and len(w) - len(s) >= 3:
            return w[: -len(s)]
    if stripped_pronoun and w.endswith("ت") and len(w) >= 4:
        # Taa marbuta written as ت before a pronoun: بطاقتي -> بطاقت -> بطاق (= البطاقه).
        return w[:-1]
    if w.endswith("ه") and len(w) >= 4:
        w = w[:-1]
    return w


def stem_arabic(word: str) -> str:
    """Light stem of a normalised Arabic word (dialect words first mapped to MSA)."""
    mapped = dialect_standard(word)
    return _light_stem(word if mapped is None else mapped)


_PROCLITICS = ("وب", "فب", "ول", "فل", "وع", "ب", "ل", "ك", "ف", "و", "ع")
# Regular sound shifts of the dialects, written as pronounced: MSA letter -> dialect letters.
_SOUND_SHIFTS = {"ت": "ث", "س": "ث", "د": "ذ", "ز": "ذظ", "ض": "ظ"}


def variants(word: str) -> list[str]:
    """Plausible standard spellings of a normalised Arabic ``word``, most likely first.

    For query words missing from the index vocabulary (the caller keeps the first
    variant the vocabulary knows): attached prepositions and conjunctions (بحسابي,
    لموضوع, عالتطبيق), the dialect present-tense ب (بعتقد -> اعتقد, بتقدر -> تقدر),
    the negation suffix ش, dative/object suffixes (رجعلي, شحنتو), and one dialect sound
    shift (اكتر -> اكثر, اخد -> اخذ, ازا -> اذا).
    """
    out: list[str] = []

    def add(w: str) -> None:
        if len(w) >= 2 and w != word and w not in out:
            out.append(w)

    bases = [word]
    if len(word) >= 4 and word.endswith("ش"):
        bases.append(word[:-1])
    for b in list(bases):
        if len(b) >= 5 and b.endswith(("لي", "لو", "له", "لك")):
            bases.append(b[:-2])
        if len(b) >= 4 and b.endswith("و"):
            bases.append(b[:-1] + "ه")
            bases.append(b[:-1])
    stripped: list[str] = []
    for b in bases:
        add(b)
        if b.startswith("عال") and len(b) >= 5:
            add("ال" + b[3:])
        for p in _PROCLITICS:
            if b.startswith(p) and len(b) - len(p) >= 3:
                add(b[len(p) :])
                stripped.append(b[len(p) :])
        if b.startswith("ب") and len(b) >= 4:
            add("ا" + b[1:])
            add("ي" + b[1:])
    for b in (word, *stripped):
        for i, c in enumerate(b):
            for s in _SOUND_SHIFTS.get(c, ""):
                add(b[:i] + s + b[i + 1 :])
    return out
