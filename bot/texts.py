"""Every text the bot says to a customer, in English and Arabic, in one place.

``t(key, lang, **values)`` picks the language (falling back to English) and fills ``{values}``.
A test checks that every key exists in both languages with the same placeholders.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "greeting": {
        "en": (
            "Hello {name}! I'm the support assistant of {shop}.\n"
            "Ask me anything about delivery, returns, payment or your account, in your own "
            "words. If I can't help, I'll bring in a person.\n"
            "/language switches between English and Arabic; /human asks for a person."
        ),
        "ar": (
            "أهلاً {name}! أنا مساعد الدعم في {shop}.\n"
            "اسألني بكلماتك عن التوصيل أو الإرجاع أو الدفع أو حسابك. "
            "وإن لم أستطع المساعدة فسأحوّلك إلى أحد موظفينا.\n"
            "الأمر /language للتبديل بين العربية والإنجليزية، والأمر /human لطلب موظف."
        ),
    },
    "help": {
        "en": (
            "Type your question and I'll look for the answer.\n"
            "/human: talk to a person\n/language: English or Arabic\n/start: start over"
        ),
        "ar": (
            "اكتب سؤالك وسأبحث لك عن الإجابة.\n"
            "/human: التحدث إلى موظف\n/language: العربية أو الإنجليزية\n/start: البدء من جديد"
        ),
    },
    "unknown_command": {
        "en": "I don't know the command {command}. Here is what I can do:",
        "ar": "لا أعرف الأمر {command}. هذا ما يمكنني فعله:",
    },
    "choose_language": {
        "en": "Choose your language:",
        "ar": "اختر لغتك:",
    },
    "language_set": {
        "en": "Done: I'll speak English with you.",
        "ar": "تم: سأتحدث معك بالعربية.",
    },
    "did_it_help": {
        "en": "Did this help?",
        "ar": "هل أفادتك هذه الإجابة؟",
    },
    "yes": {"en": "Yes", "ar": "نعم"},
    "no": {"en": "No", "ar": "لا"},
    "glad": {
        "en": "Glad I could help! Write any time if you have another question.",
        "ar": "سعيد بأنني استطعت المساعدة! اكتب لي في أي وقت إن كان لديك سؤال آخر.",
    },
    "sorry_not_helpful": {
        "en": "Sorry about that. You can rephrase your question, or talk to a person.",
        "ar": "نأسف لذلك. يمكنك إعادة صياغة سؤالك، أو التحدث إلى موظف.",
    },
    "suggest": {
        "en": "I'm not sure which of these you mean. Pick one:",
        "ar": "لست متأكداً أيّ هذه تقصد. اختر واحداً:",
    },
    "none_of_these": {
        "en": "None of these: talk to a person",
        "ar": "لا شيء مما سبق: التحدث إلى موظف",
    },
    "no_match": {
        "en": (
            "Sorry, I don't have an answer to that. You can rephrase your question, "
            "or talk to a person."
        ),
        "ar": "عذراً، ليست لدي إجابة عن هذا. يمكنك إعادة صياغة سؤالك، أو التحدث إلى موظف.",
    },
    "talk_to_person": {
        "en": "Talk to a person",
        "ar": "التحدث إلى موظف",
    },
    "handoff_recorded": {
        "en": (
            "I've passed your request to our team (ticket #{ticket}). A person will reply "
            "here; you can keep writing and they will see your messages."
        ),
        "ar": (
            "أرسلت طلبك إلى فريقنا (تذكرة رقم {ticket}). سيرد عليك أحد موظفينا هنا، "
            "ويمكنك مواصلة الكتابة وسيرى رسائلك."
        ),
    },
    "handoff_waiting": {
        "en": "Your message is saved on ticket #{ticket}; a person will reply here.",
        "ar": "حُفظت رسالتك في التذكرة رقم {ticket}، وسيرد عليك أحد موظفينا هنا.",
    },
    "text_only": {
        "en": "I can only read text messages. Please type your question, or talk to a person.",
        "ar": "أستطيع قراءة الرسائل النصية فقط. اكتب سؤالك من فضلك، أو تحدّث إلى موظف.",
    },
    "too_long": {
        "en": "That's a long message: I read the first {limit} characters of it.",
        "ar": "رسالتك طويلة: قرأت أول {limit} حرف منها.",
    },
    "button_expired": {
        "en": "This button is no longer valid.",
        "ar": "هذا الزر لم يعد صالحاً.",
    },
    "error": {
        "en": "Sorry, something went wrong on our side. Please try again in a moment.",
        "ar": "عذراً، حدث خطأ لدينا. حاول مرة أخرى بعد قليل من فضلك.",
    },
}


def t(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English when missing), with ``values`` filled in."""
    entry = TEXTS[key]
    return entry.get(lang, entry["en"]).format(**values)
