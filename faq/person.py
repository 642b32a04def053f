"""Recognising a request for a person ("agent", "I need to speak to a real human", "موظف",
"ممكن احكي مع حدا من خدمة العملاء"), in a message of any length.

Two rules, on normalised text (hamza forms, case and punctuation do not matter):

- a *short* message (up to three words) that names a person ("agent", "human please",
  "موظف لو سمحت"), or up to seven words with a request ("i want a human", "أبي موظف");
- in a message of any length, a *request to talk* followed closely by a *person*: a verb of
  talking or being put through ("speak to", "connect me with", "اكلم", "احكي مع", "نهضر مع",
  "حولني") and, within a few words after it, a person or the support team ("a real human",
  "someone", "موظف", "حدا", "خدمة العملاء"). A person named without such a verb ("my agent said
  the parcel left", "الموظف قال ان الطلب اتشحن") is a question, not a request.
"""

from __future__ import annotations

import re

from base.normalize import normalize

SHORT_WORDS = 3
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
        "real human",
        "live agent",
        "live person",
        "human agent",
        "خدمة العملاء",
        "خدمة الزبائن",
        "خدمة الزباين",
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
        "ابغى",
        "اريد",
        "أريد",
        "عايز",
        "عاوز",
        "بغيت",
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

# Any length: a verb of talking / being put through, then (within a few words) a person.
_EN_TALK = (
    r"(?:talk|speak|chat|connect|transfer|put|escalate)"
    r"(?: me| us| this| it| my (?:call|chat|case))?"
    r"(?: (?:to|with|through to|through|thru|over to|in touch with))?"
)
_EN_PERSON = (
    r"(?:(?:a|an|the|some|your|one of your|any|real|live|actual|proper|human|customer|"
    r"support|service|care|of|team|member) ){0,4}"
    r"(?:human|humans|person|people|agent|agents|someone|somebody|representative|rep|"
    r"operator|staff|employee|manager|supervisor|customer (?:service|support|care)|support)"
    r"\b"
)
_EN = re.compile(rf"\b{_EN_TALK} {_EN_PERSON}")
_AR_TALK = (
    r"(?:اكلم|نكلم|يكلم|كلم|اكلمك|اتكلم|نتكلم|احكي|نحكي|بحكي|احچي|اتحدث|نتحدث|اتواصل|نتواصل|"
    r"حولني|حولوني|نهضر|نهدر|نتهدر|اهضر|ندوي|اسولف|اخاطب)"
)
_AR_PERSON = (
    r"(?:موظف|موظفه|الموظف|موظفين|حدا|احد|حد|واحد|شخص|انسان|بشري|ممثل|بني ادم|"
    r"خدمه العملا|خدمه الزباين|خدمه الزبائن|الدعم|المسؤول|مسؤول|المدير)"
)
_AR = re.compile(rf"(?:^| ){_AR_TALK}(?: \S+){{0,2}} {_AR_PERSON}(?: |$)")


def wants_person(text: str) -> bool:
    """True for a message that asks for a person, in English or Arabic (any length)."""
    norm = normalize(text)
    words = norm.split()
    if not words:
        return False
    if _EN.search(norm) or _AR.search(norm):
        return True
    if len(words) > MAX_WORDS:
        return False
    if len(words) <= 2 and any(w in WORDS for w in words):
        return True
    padded = f" {norm} "
    named = any(f" {p} " in padded for p in STRONG) or any(w in TRIGGERS for w in words)
    if not named:
        return False
    return len(words) <= SHORT_WORDS or any(f" {p} " in padded for p in REQUESTS)
