"""Recognising a plain request for a person ("agent", "human please", "موظف", "أبي أكلم أحد").

Only short messages count: "my agent said the parcel left" is a question, "agent" or "talk to a
human" is a request. Matching is on normalised text, so hamza forms, case and punctuation do not
matter.
"""

from __future__ import annotations

from faq.normalize import normalize

MAX_WORDS = 7
WORDS = frozenset(
    normalize(w)
    for w in (
        "agent",
        "agents",
        "human",
        "humans",
        "person",
        "operator",
        "representative",
        "rep",
        "staff",
        "someone",
        "somebody",
        "employee",
        "support",
        "موظف",
        "موظفه",
        "الموظف",
        "موظفين",
        "إنسان",
        "انسان",
        "شخص",
        "بشري",
        "ممثل",
        "أحد",
        "حد",
        "حدا",
        "العملاء",
    )
)
STRONG = tuple(
    normalize(p)
    for p in (
        "customer service",
        "customer support",
        "customer care",
        "real person",
        "live agent",
        "live person",
        "خدمة العملاء",
        "خدمة الزبائن",
    )
)
REQUESTS = tuple(
    normalize(p)
    for p in (
        "talk to",
        "speak to",
        "speak with",
        "talk with",
        "chat with",
        "connect me",
        "transfer me",
        "i want",
        "i need",
        "can i",
        "let me",
        "أكلم",
        "اكلم",
        "أتكلم",
        "اتكلم",
        "أتحدث",
        "احكي مع",
        "بدي",
        "ابي",
        "أبي",
        "اريد",
        "أريد",
        "عايز",
        "عاوز",
        "ممكن",
    )
)
TRIGGERS = frozenset(
    normalize(w)
    for w in (
        "agent",
        "human",
        "person",
        "operator",
        "representative",
        "staff",
        "someone",
        "somebody",
        "employee",
        "موظف",
        "موظفه",
        "الموظف",
        "انسان",
        "إنسان",
        "شخص",
        "بشري",
        "ممثل",
        "احد",
        "حد",
        "حدا",
    )
)


def wants_person(text: str) -> bool:
    """True for a short message that asks for a person, in English or Arabic."""
    norm = normalize(text)
    words = norm.split()
    if not words or len(words) > MAX_WORDS:
        return False
    if len(words) <= 2 and any(w in WORDS for w in words):
        return True
    padded = f" {norm} "
    if any(f" {p} " in padded for p in STRONG):
        return True
    if not any(w in TRIGGERS for w in words):
        return False
    return len(words) <= 5 or any(f" {p} " in padded for p in REQUESTS)
