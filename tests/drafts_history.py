"""A synthetic support history with planted repeated questions and answers, for the article
drafts (faq/drafts.py): several paraphrases of one customer question (English, and Arabic with
dialect spellings) answered by near-identical agent replies across tickets, mixed with noise:
one-off chats, greetings and thank-yous, "one moment" lines, and the agents' opener sent in
every chat whatever the question. Every ticket's true group is known (``History.labels``), so
a test computes precision and recall from what the grouping returns."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.db import Database
from storage.models import Customer, Message, Ticket


@dataclass(frozen=True)
class Planted:
    label: str
    lang: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]  # near-identical variants of one reply


PLANTED = (
    Planted(
        "gift-wrap",
        "en",
        (
            "Do you offer gift wrapping?",
            "can you gift wrap my order please",
            "Is gift wrapping available for my order?",
            "I want this wrapped as a gift, is that possible?",
            "do u do gift wrapping",
            "Can I get the order gift wrapped?",
        ),
        (
            "Yes, we can gift wrap any item for 15 SAR: tick 'Gift wrap' at checkout and add a "
            "card message of up to 200 characters.",
            "Yes, we can gift wrap any item for 15 SAR. Just tick 'Gift wrap' at checkout and "
            "add a card message of up to 200 characters.",
            "yes we can gift wrap any item for 15 SAR: tick Gift wrap at checkout and add a card "
            "message up to 200 characters",
        ),
    ),
    Planted(
        "warranty",
        "en",
        (
            "Is there a warranty on the headphones?",
            "what warranty do your electronics have",
            "My headphones stopped working, are they under warranty?",
            "how long is the warranty on electronics?",
            "does the speaker come with a warranty",
        ),
        (
            "All electronics come with a 2-year manufacturer warranty; keep your invoice and "
            "contact us with the order number if the device stops working.",
            "All our electronics come with a 2 year manufacturer warranty. Keep your invoice and "
            "contact us with the order number if the device stops working.",
        ),
    ),
    Planted(
        "loyalty",
        "en",
        (
            "How do I use my loyalty points?",
            "how can i spend my points",
            "Can I pay with my loyalty points?",
            "where do I redeem loyalty points",
            "What are my loyalty points worth?",
        ),
        (
            "Every 100 loyalty points are worth 10 SAR; at checkout choose 'Use my points' and "
            "the discount is applied to the order total.",
            "Every 100 loyalty points are worth 10 SAR. At checkout choose 'Use my points' and "
            "the discount is applied to your order total.",
        ),
    ),
    Planted(
        "gift-wrap-ar",
        "ar",
        (
            "هل عندكم تغليف هدايا؟",
            "ابغى اغلف الطلب كهدية",
            "ممكن تغلفون الهديه؟",
            "فيه خدمة تغليف هدايا عندكم",
            "بدي غلّف الهدية، في تغليف؟",
            "عايز اغلف الطلب هديه",
        ),
        (
            "نعم، نغلّف أي منتج كهدية مقابل 15 ريالاً: اختر «تغليف هدية» عند الدفع وأضف رسالة "
            "البطاقة حتى 200 حرف.",
            "نعم نغلف اي منتج كهديه مقابل ١٥ ريال، اختر تغليف هدية عند الدفع واضف رسالة البطاقة "
            "حتى ٢٠٠ حرف",
            "نعم، نغلف أي منتج كهدية مقابل 15 ريالا. اختر «تغليف هدية» عند الدفع وأضف رسالة "
            "البطاقة حتى 200 حرف.",
        ),
    ),
    Planted(
        "loyalty-ar",
        "ar",
        (
            "كيف استخدم نقاط الولاء؟",
            "وش اسوي بنقاط الولاء اللي عندي",
            "ابي استخدم نقاطي في الطلب",
            "كيف استبدل النقاط حقتي؟",
            "ازاي استعمل نقاط الولاء",
            "شلون استخدم النقاط",
        ),
        (
            "كل 100 نقطة تساوي 10 ريالات؛ عند الدفع اختر «استخدم نقاطي» ويُخصم المبلغ من إجمالي "
            "الطلب.",
            "كل ١٠٠ نقطة تساوي ١٠ ريالات، عند الدفع اختر استخدم نقاطي ويخصم المبلغ من اجمالي الطلب",
        ),
    ),
)

# Answered by the sample FAQ's "payment-methods" article: found, then left out.
COVERED = Planted(
    "payment-methods",
    "en",
    (
        "What payment methods do you accept?",
        "what payment methods do you accept",
        "Which payment methods do you accept?",
        "What payment methods do you accept for orders?",
    ),
    (
        "We accept Visa, Mastercard, mada, Apple Pay and cash on delivery for orders under "
        "2000 SAR.",
        "We accept Visa, Mastercard, mada, Apple Pay, and cash on delivery for orders under "
        "2000 SAR.",
    ),
)

ONE_OFFS = {
    "en": (
        (
            "My parcel box arrived wet from the rain",
            "Sorry about that, I have noted the "
            "courier complaint under your account and asked them to use covers.",
        ),
        (
            "Can you tell me if the blue jacket comes in XXL?",
            "The blue jacket currently stops "
            "at XL; I have added you to the restock alert list for XXL.",
        ),
        (
            "The app crashes when I open my wishlist",
            "Thanks for reporting it; our developers "
            "shipped a fix yesterday, please update the app from the store.",
        ),
        (
            "I was charged twice for order 5521",
            "I checked order 5521: the second charge is a "
            "pending authorisation that your bank releases within three days.",
        ),
        (
            "Do you have a store in Dammam?",
            "We have no physical branch in Dammam yet, "
            "only online orders with courier delivery there.",
        ),
        (
            "Why is my account locked after travelling?",
            "Logins from new countries trigger a "
            "security lock; I unlocked it now, please change your password.",
        ),
        (
            "The invoice shows the wrong company name",
            "I corrected the company name and "
            "re-issued the invoice to your registered email address.",
        ),
        (
            "Can I book a fitting appointment at the mall?",
            "Fitting appointments at Riyadh "
            "Park mall can be booked by calling the branch directly in the evening.",
        ),
    ),
    "ar": (
        (
            "الكرتون وصل مبلول من المطر",
            "نعتذر عن ذلك، سجلت شكوى على شركة الشحن وطلبنا استخدام أغطية للطرود.",
        ),
        (
            "التطبيق يقفل لما افتح المفضلة",
            "شكرا على البلاغ، المطورون أصدروا تحديثا أمس، حدّث التطبيق من المتجر لو سمحت.",
        ),
        (
            "انخصم المبلغ مرتين من بطاقتي",
            "راجعت الطلب، الخصم الثاني حجز مؤقت يلغيه البنك خلال ثلاثة أيام.",
        ),
        (
            "عندكم فرع في الدمام؟",
            "لا يوجد لدينا فرع في الدمام حاليا، نوصل الطلبات الإلكترونية فقط هناك.",
        ),
        ("الفاتورة فيها اسم شركة غلط", "صححت اسم الشركة وأعدت إرسال الفاتورة إلى بريدك المسجل."),
    ),
}

OPENER = {
    "en": "Hello, this is {agent} from customer support, how can I help you today?",
    "ar": "مرحبا، معك {agent} من خدمة العملاء، كيف أقدر أساعدك اليوم؟",
}
AGENTS = {"en": ("Sara", "Omar", "Lina"), "ar": ("سارة", "عمر", "لينا")}
GREETING = {"en": ("hi", "hello", "Hi there"), "ar": ("السلام عليكم", "مرحبا", "هلا")}
PERSON = {"en": "agent please", "ar": "ابي موظف"}
WAIT = {"en": "One moment please.", "ar": "لحظة من فضلك"}
THANKS = {"en": "thanks!", "ar": "شكرا"}
WELCOME = {"en": "You're welcome, have a nice day!", "ar": "العفو، يومك سعيد"}


@dataclass
class History:
    labels: dict[int, str | None] = field(default_factory=dict)  # ticket: planted label

    def tickets_of(self, label: str) -> set[int]:
        return {t for t, lab in self.labels.items() if lab == label}


class _Writer:
    def __init__(self, start: datetime, prefix: str) -> None:
        self.at = start
        self.prefix = prefix
        self.customers = 0

    def tick(self, seconds: float = 30.0) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


async def _ticket(
    db: Database, w: _Writer, lang: str, script: list[tuple[str, str]], resolved: bool = True
) -> int:
    w.customers += 1
    async with db.transaction() as session:
        customer = Customer(
            channel="web",
            external_id=f"{w.prefix}-{w.customers}",
            name=f"Visitor {w.customers}",
            language=lang,
            created_at=w.tick(),
            last_seen_at=w.at,
        )
        session.add(customer)
        await session.flush()
        ticket = Ticket(
            customer_id=customer.id,
            channel="web",
            state="resolved" if resolved else "assigned",
            language=lang,
            created_at=w.at,
            resolved_at=None,
        )
        session.add(ticket)
        await session.flush()
        for sender, text in script:
            session.add(
                Message(
                    ticket_id=ticket.id,
                    customer_id=customer.id,
                    sender=sender,
                    text=text,
                    meta={},
                    created_at=w.tick(),
                )
            )
        if resolved:
            ticket.resolved_at = w.tick()
        return int(ticket.id)


def _chat(rng: random.Random, lang: str, question: str, answer: str) -> list[tuple[str, str]]:
    script: list[tuple[str, str]] = []
    if rng.random() < 0.5:
        script.append(("customer", rng.choice(GREETING[lang])))
    script += [
        ("customer", question),
        ("bot", "..."),
        ("customer", PERSON[lang]),
        ("agent", OPENER[lang].format(agent=rng.choice(AGENTS[lang]))),
    ]
    if rng.random() < 0.5:
        script.append(("agent", WAIT[lang]))
    script += [
        ("agent", answer),
        ("customer", THANKS[lang]),
        ("agent", WELCOME[lang]),
    ]
    return script


async def plant_history(
    db: Database, start: datetime, *, per_group: int = 6, seed: int = 7, covered: bool = True
) -> History:
    """Each planted group in ``per_group`` tickets (its paraphrases in turn, a random reply
    variant), the covered group, every one-off chat once and a few greeting-only chats,
    interleaved at random, 30 s between lines from ``start``."""
    rng = random.Random(seed)
    jobs: list[tuple[str | None, str, list[tuple[str, str]]]] = []
    groups = (*PLANTED, COVERED) if covered else PLANTED
    for group in groups:
        for i in range(per_group):
            question = group.questions[i % len(group.questions)]
            answer = rng.choice(group.answers)
            jobs.append((group.label, group.lang, _chat(rng, group.lang, question, answer)))
    for lang, chats in ONE_OFFS.items():
        for question, answer in chats:
            jobs.append((None, lang, _chat(rng, lang, question, answer)))
        for _ in range(3):  # a greeting, a thank-you, nothing asked
            script = [
                ("customer", rng.choice(GREETING[lang])),
                ("agent", OPENER[lang].format(agent=rng.choice(AGENTS[lang]))),
                ("customer", THANKS[lang]),
                ("agent", WELCOME[lang]),
            ]
            jobs.append((None, lang, script))
    rng.shuffle(jobs)
    writer = _Writer(start, f"drafts-{seed}-{int(start.timestamp())}")
    history = History()
    for label, lang, script in jobs:
        history.labels[await _ticket(db, writer, lang, script)] = label
    return history
