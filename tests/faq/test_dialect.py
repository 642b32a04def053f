"""Dialect-aware FAQ decisions: the marker-word detector (on sentences written for these tests,
one set per dialect group, none from faq-bench), the fused decision taking the thresholds of the
query's group, the lexical-only mode unchanged, and settings overrides reaching every group."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.config import load_settings
from app.services import Services
from base.dialect import DIALECT_MARKERS, arabic_variety
from faq.fusion import FUSED_THRESHOLDS, Matcher, Mode, SemanticIndex, decision_group
from faq.fusion import with_overrides as overrides
from faq.matcher import DEFAULT_THRESHOLDS, Entry, MatchIndex, Outcome, Thresholds
from faq.semantic import Embedder, load_embedder, query_text

DIALECT_SENTENCES = [
    ("levantine", "بدي اعرف شو صار مع الحوالة تبعتي"),
    ("levantine", "ليش الكرت لسا ما وصل؟ صارلي اسبوع بستنى"),
    ("levantine", "وين بقدر اغير الرقم السري؟ هيك ما زبط"),
    ("gulf", "ابغى اعرف وش صار على التحويل"),
    ("gulf", "شلون اغير رقم الجوال الحين؟"),
    ("egyptian", "عايز اعرف ازاي اغير الباسورد"),
    ("egyptian", "الكارت بتاعي فين دلوقتي؟"),
    ("maghrebi", "بغيت نعرف كيفاش نبدل الكود ديال البطاقة"),
    ("maghrebi", "واش التحويل وصل دابا؟"),
    ("iraqi", "اكو رسوم على السحب من الصراف؟"),
    ("iraqi", "شكد ياخذ التحويل حتى يوصل؟"),
]

MSA_SENTENCES = [
    "كيف يمكنني تغيير رقم التعريف الشخصي؟",
    "لماذا تم رفض بطاقتي عند الدفع في المتجر؟",
    "أين يمكنني العثور على كشف الحساب الشهري؟",
    "متى ستصل بطاقتي الجديدة؟",
    "هل توجد رسوم على التحويل الدولي؟",
    "ما هي أسعار الصرف المعتمدة اليوم؟",
    "أريد إلغاء المعاملة التي قمت بها أمس.",
    "لم يصل المبلغ الذي حولته إلى حساب صديقي بعد.",
]


@pytest.mark.parametrize(("group", "text"), DIALECT_SENTENCES)
def test_dialect_sentences_are_detected_with_their_group(group: str, text: str) -> None:
    variety = arabic_variety(text)
    assert variety.dialect and variety.group == "ar-dialect"
    assert group in variety.groups
    marking = [m for m in variety.markers if {m, m[1:]} & DIALECT_MARKERS[group]]
    assert marking, variety  # a marker word of that group, found as written (normalised)


@pytest.mark.parametrize("text", MSA_SENTENCES)
def test_msa_sentences_are_not_dialect(text: str) -> None:
    variety = arabic_variety(text)
    assert not variety.dialect and variety.group == "ar-msa"
    assert variety.markers == () and variety.groups == ()


def test_spellings_and_negation_no_msa_text_uses() -> None:
    assert arabic_variety("ماعنديش رصيد كافي").groups == ("negation",)
    assert arabic_variety("اگدر اسحب فلوس من برا؟").groups == ("spelling",)
    assert arabic_variety("وبدي اعرف").markers == ("وبدي",)  # behind the conjunction و
    assert decision_group("what is my balance", "en") == "en"
    assert decision_group("شو رصيدي", "ar") == "ar-dialect"
    assert decision_group("ما هو رصيدي", "ar") == "ar-msa"


# ---------------------------------------------------------------------- decisions


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    model = load_embedder("on")
    assert model is not None
    return model


ARTICLES = [
    Entry("card-lost", "ar", ("فقدت بطاقتي", "كيف أبلغ عن بطاقة مفقودة", "ضاعت البطاقة")),
    Entry("transfer-fee", "ar", ("ما رسوم التحويل", "كم تكلفة التحويل البنكي")),
    Entry("pin-change", "ar", ("كيف أغير الرقم السري", "تغيير رقم التعريف الشخصي")),
]


@pytest.fixture(scope="module")
def matcher_parts(embedder: Embedder) -> tuple[MatchIndex, SemanticIndex]:
    vectors = {"ar": {e.article_id: embedder.embed(list(e.texts)) for e in ARTICLES}}
    return MatchIndex.build(ARTICLES), SemanticIndex(vectors, embedder.dim)


NEVER = Thresholds(answer_min=1.01, answer_margin=1.0, suggest_min=1.01)
ALWAYS = Thresholds(answer_min=0.0, answer_margin=0.0, suggest_min=0.0)


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("كيف يمكنني تغيير الرقم السري لبطاقتي", "ar-msa"),
        ("بدي اغير الرقم السري تبع الكرت", "ar-dialect"),
    ],
)
def test_the_fused_decision_takes_the_thresholds_of_the_query_group(
    matcher_parts: tuple[MatchIndex, SemanticIndex], embedder: Embedder, text: str, group: str
) -> None:
    lexical, semantic = matcher_parts
    vec = embedder.embed([query_text(text)])[0]
    other = "ar-dialect" if group == "ar-msa" else "ar-msa"
    matcher = Matcher(
        lexical, semantic, fused_thresholds={"en": NEVER, group: ALWAYS, other: NEVER}
    )
    verdict = matcher.decide(text, "ar", vec)
    assert verdict.mode is Mode.FUSED and verdict.group == group
    assert verdict.thresholds == ALWAYS
    assert verdict.decision.outcome is Outcome.ANSWER
    assert verdict.decision.hits[0].article_id == "pin-change"
    flipped = Matcher(lexical, semantic, fused_thresholds={group: NEVER, other: ALWAYS})
    again = flipped.decide(text, "ar", vec)
    assert again.thresholds == NEVER and again.decision.outcome is Outcome.NO_MATCH
    assert [s.article_id for s in again.scored] == [s.article_id for s in verdict.scored]


def test_a_mapping_with_only_ar_serves_both_arabic_groups(
    matcher_parts: tuple[MatchIndex, SemanticIndex],
) -> None:
    lexical, semantic = matcher_parts
    mine = Thresholds(answer_min=0.5, answer_margin=0.01, suggest_min=0.4)
    matcher = Matcher(lexical, semantic, fused_thresholds={"ar": mine})
    assert matcher.thresholds_for("ar-msa", Mode.FUSED) == mine
    assert matcher.thresholds_for("ar-dialect", Mode.FUSED) == mine
    shipped = Matcher(lexical, semantic)
    assert shipped.thresholds_for("ar-dialect", Mode.FUSED) == FUSED_THRESHOLDS["ar-dialect"]
    assert shipped.thresholds_for("ar-msa", Mode.FUSED) == FUSED_THRESHOLDS["ar-msa"]
    assert shipped.thresholds_for("ar-dialect", Mode.LEXICAL) == DEFAULT_THRESHOLDS


@pytest.mark.parametrize("text", ["بدي اغير الرقم السري تبع الكرت", "كيف أغير الرقم السري"])
def test_lexical_only_mode_is_unaffected_by_the_group(
    matcher_parts: tuple[MatchIndex, SemanticIndex], text: str
) -> None:
    lexical, _ = matcher_parts
    lexical_only = Matcher(lexical, None, fused_thresholds={"ar-dialect": NEVER, "ar-msa": NEVER})
    verdict = lexical_only.decide(text, "ar", None)
    assert verdict.mode is Mode.LEXICAL and verdict.thresholds == DEFAULT_THRESHOLDS
    assert verdict.decision == lexical.decide(text, "ar", DEFAULT_THRESHOLDS)
    assert verdict.decision.outcome is not Outcome.NO_MATCH


def test_shipped_thresholds_cover_every_group_and_overrides_reach_them() -> None:
    assert set(FUSED_THRESHOLDS) == {"en", "ar-msa", "ar-dialect"}
    changed = overrides(FUSED_THRESHOLDS, 0.9, None, 0.5)
    for group, t in FUSED_THRESHOLDS.items():
        assert changed[group] == replace(t, answer_min=0.9, suggest_min=0.5)


async def test_settings_overrides_reach_the_dialect_group(tmp_path: Path) -> None:
    env = {
        "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "SANAD_FAQ_ANSWER_MARGIN": "0.07",
    }
    services = Services.create(load_settings(env=env))
    try:
        matcher = services.faq.matcher
        for group in ("ar-dialect", "ar-msa", "en"):
            used = matcher.thresholds_for(group, Mode.FUSED)
            assert used == replace(FUSED_THRESHOLDS[group], answer_margin=0.07)
    finally:
        await services.close()
