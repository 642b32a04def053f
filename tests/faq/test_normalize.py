"""Text normalisation, tokenisation and language detection (base.normalize)."""

from __future__ import annotations

import pytest

from base.normalize import detect_language, normalize, stem_words, tokenize

# -- Latin script ------------------------------------------------------------------------


def test_case_folding() -> None:
    assert normalize("HeLLo WORLD") == "hello world"
    assert normalize("STRASSE Straße") == "strasse strasse"  # casefold, not lower


def test_latin_diacritics_stripped() -> None:
    assert normalize("Café déjà vu, naïve façade, Ångström, Ñandú") == (
        "cafe deja vu naive facade angstrom nandu"
    )


def test_punctuation_becomes_space() -> None:
    assert normalize("card's PIN—blocked?!(again)") == "card s pin blocked again"
    assert normalize("top-up/refund_request") == "top up refund request"
    assert normalize("a.b,c;d:e") == "a b c d e"


def test_whitespace_collapsed_and_stripped() -> None:
    assert normalize("  two\tspaces  \n\n and   lines  ") == "two spaces and lines"


def test_empty_and_blank() -> None:
    assert normalize("") == ""
    assert normalize("   \n\t ") == ""
    assert normalize("?!...") == ""
    assert tokenize("  ?! ") == []


def test_digits_kept() -> None:
    assert normalize("Card 1234, PIN 0000") == "card 1234 pin 0000"


# -- Arabic script -----------------------------------------------------------------------


def test_arabic_harakat_removed() -> None:
    # fatha, damma, kasra, sukun, shadda, tanween
    assert normalize("كَتَبَ") == "كتب"
    assert normalize("مُحَمَّدٌ") == "محمد"
    assert normalize("بِطَاقَتِي") == normalize("بطاقتي")
    assert normalize("كِتَابًا") == "كتابا"


def test_superscript_alef_and_quranic_marks_removed() -> None:
    assert normalize("هٰذا") == "هذا"
    assert normalize("الرَّحْمٰنِ") == "الرحمن"


def test_tatweel_removed() -> None:
    assert normalize("بطـــاقة") == normalize("بطاقة")
    assert normalize("مـرحـبـا") == "مرحبا"


@pytest.mark.parametrize("alef", ["أ", "إ", "آ", "ٱ"])
def test_alef_forms_unified(alef: str) -> None:
    assert normalize(f"{alef}حمد") == "احمد"


def test_hamza_on_waw_and_ya() -> None:
    assert normalize("مسؤول") == "مسوول"
    assert normalize("مسئول") == "مسيول"
    assert normalize("سؤال") == "سوال"
    assert normalize("رئيس") == "رييس"
    # standalone hamza is dropped, so final-hamza spellings meet their dialect forms
    assert normalize("شيء") == normalize("شي")


def test_taa_marbuta() -> None:
    assert normalize("بطاقة") == "بطاقه"
    assert normalize("مدينة جميلة") == "مدينه جميله"


def test_alef_maqsura() -> None:
    assert normalize("على") == "علي"
    assert normalize("مستشفى") == "مستشفي"


def test_arabic_indic_digits() -> None:
    assert normalize("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalize("رقم ٤٥") == "رقم 45"


def test_persian_digits() -> None:
    assert normalize("۰۱۲۳۴۵۶۷۸۹") == "0123456789"


def test_arabic_punctuation() -> None:
    assert normalize("نعم، لا؛ لماذا؟") == "نعم لا لماذا"
    assert normalize("٥٪") == "5"


def test_presentation_forms_folded() -> None:
    # U+FEFB is the lam-alef ligature; U+FE8D..U+FE8E are isolated/final alef forms
    assert normalize("\ufefb") == "لا"
    assert normalize("\ufe8d") == "ا"


def test_normalize_is_idempotent() -> None:
    for text in ["أَهْلاً وَسَهْلاً بِكُمْ!", "Café, déjà-vu ١٢٣", "بطـاقة الائتمان؟"]:
        once = normalize(text)
        assert normalize(once) == once


def test_mixed_script_text() -> None:
    assert normalize("بطاقة Visa الخاصة بي") == "بطاقه visa الخاصه بي"


# -- tokenize / stemming ---------------------------------------------------------------


def test_tokenize_english_light_stemming() -> None:
    assert tokenize("charges charged charging charge") == ["charg"] * 4
    assert tokenize("Cards card") == ["card", "card"]
    assert tokenize("topped topping") == ["top", "top"]
    assert tokenize("verified verifies verifying") == ["verify"] * 3
    assert tokenize("the fee is free") == ["the", "fee", "is", "free"]


def test_tokenize_arabic_light_stemming() -> None:
    # definite article, attached pronoun, taa marbuta written as ت before a pronoun
    assert tokenize("البطاقة بطاقتي بطاقات وبالبطاقة") == ["بطاق"] * 4
    assert tokenize("الحساب حسابي حساباتي") == ["حساب"] * 3


def test_tokenize_maps_common_dialect_words() -> None:
    # Levantine / Gulf / Egyptian words for "money", "why", "where", "I want"
    assert tokenize("مصاري فلوس الأموال")[0] == tokenize("الأموال")[0]
    assert tokenize("ليش")[0] == tokenize("لماذا")[0]
    assert tokenize("وين")[0] == tokenize("فين")[0] == tokenize("أين")[0]
    assert tokenize("بدي")[0] == tokenize("أريد")[0]


def test_tokenize_other_languages_unstemmed() -> None:
    assert tokenize("cartes bancaires", lang="fr") == ["cartes", "bancaires"]


def test_stem_words_matches_tokenize() -> None:
    text = "My cards were charged twice، بطاقتي"
    assert stem_words(normalize(text).split(), "en") == tokenize(text, "en")


# -- detect_language ---------------------------------------------------------------------


def test_detect_language() -> None:
    assert detect_language("Where is my card?") == "en"
    assert detect_language("أين بطاقتي؟") == "ar"
    assert detect_language("وين البطاقة تبعي") == "ar"
    assert detect_language("") == "en"
    assert detect_language("12345 ?!") == "en"
    assert detect_language("١٢٣") == "en"  # digits are not letters


def test_detect_language_majority_of_letters() -> None:
    assert detect_language("my Visa card لا تعمل") == "en"  # 10 Latin vs 6 Arabic letters
    assert detect_language("بطاقة Visa لا تعمل في الخارج") == "ar"
    assert detect_language("Café crème") == "en"
