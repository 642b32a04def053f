"""Recognising a request for a person, in English and Arabic including dialects, in a message of
any length, without taking questions that merely mention a person."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faq.person import wants_person

REQUESTS = [
    "agent",
    "human please",
    "real person",
    "customer service please",
    "I want a human",
    "can i get an agent",
    "talk to someone",
    "I need to speak to a real human",
    "can I chat with an agent about my order",
    "connect me with customer service",
    "Hello, I have waited a week for my refund and nobody answers, can you put me through "
    "to a real person please",
    "This is the third time I write about the same parcel. I would like to speak with a "
    "manager today.",
    "موظف",
    "ابي موظف",
    "أبي أكلم موظف",
    "ممكن احكي مع حدا من خدمة العملاء",
    "بغيت نهضر مع شي واحد",
    "عايز اكلم حد من خدمة العملاء لو سمحت",
    "ابغى اتواصل مع الدعم بخصوص طلبي",
    "حولني على موظف",
    "طلبت من أسبوع وما وصل شي ولا حدا رد علي، بدي احكي مع موظف هلق",
]

QUESTIONS = [
    "my agent said the parcel left",
    "الموظف قال ان الطلب اتشحن",
    "How long does delivery take?",
    "I talked to an agent yesterday and he said it shipped",
    "كلمت موظف امبارح وقال الطلب بالطريق",
    "can someone tell me why my card was declined at the shop yesterday",
    "Does a person need to sign for the delivery?",
    "how do I contact you",
    "what are your customer service hours",
    "عندكم فرع في الرياض؟",
    "متى تفتح خدمة العملاء؟",
    "",
    "   ",
]


@pytest.mark.parametrize("text", REQUESTS)
def test_requests_for_a_person_are_recognised(text: str) -> None:
    assert wants_person(text)


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_mentioning_a_person_are_not_requests(text: str) -> None:
    assert not wants_person(text)


FILLER = st.lists(
    st.sampled_from(
        ["my", "order", "is", "late", "and", "the", "parcel", "was", "damaged", "طلبي", "متأخر"]
    ),
    max_size=30,
)


@given(FILLER, FILLER)
def test_a_request_is_recognised_whatever_surrounds_it(before: list[str], after: list[str]) -> None:
    for request in ("please connect me to a human agent", "بدي احكي مع موظف"):
        assert wants_person(" ".join([*before, request, *after]))


@given(FILLER, st.sampled_from(["agent", "employee", "الموظف", "person"]), FILLER)
def test_a_person_named_in_a_long_message_without_a_request_is_a_question(
    before: list[str], who: str, after: list[str]
) -> None:
    words = [*before, who, "said", *after]
    if len(words) > 7:
        assert not wants_person(" ".join(words))
