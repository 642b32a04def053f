"""Every text the bot says to a customer, in English and Arabic, in one place.

``t(key, lang, **values)`` picks the language (falling back to English) and fills ``{values}``.
A test checks that every key exists in both languages with the same placeholders.

Commands (``/human``, ``/language``, ``/cancel``) are how Telegram customers act; the web chat
has buttons instead. The sentences that mention commands are the fragments of ``HINTS``, and
:func:`on_web` swaps each for its ``WEB_HINTS`` twin, so a web customer is never told to type
a command. In Arabic, a left-to-right mark goes before every command so that the slash stays
on its left in right-to-left text ("‎/human", not "human/").
"""

from __future__ import annotations

import re

LRM = "\u200e"
COMMAND_RE = re.compile(r"(?<![\w/:\u200e])/(?=[a-z])")

# The sentences that tell a Telegram customer which command to type, and what the web chat
# says instead (its buttons: "Talk to a person", "Stop waiting", the language link on top).
HINTS: dict[str, dict[str, str]] = {
    "commands": {
        "en": "/language switches between English and Arabic; /human asks for a person.",
        "ar": "الأمر /language للتبديل بين العربية والإنجليزية، والأمر /human لطلب موظف.",
    },
    "help": {
        "en": "/human: talk to a person\n/language: English or Arabic\n/start: start over",
        "ar": "/human: التحدث إلى موظف\n/language: العربية أو الإنجليزية\n/start: البدء من جديد",
    },
    "cancel": {"en": "/cancel stops waiting.", "ar": "الأمر /cancel يلغي الانتظار."},
    "human": {"en": "or /human for a person.", "ar": "أو استخدم /human لطلب موظف."},
    "human_if": {"en": "or /human if you need a person.", "ar": "أو /human إن احتجت إلى موظف."},
}
WEB_HINTS: dict[str, dict[str, str]] = {
    "commands": {
        "en": "The “Talk to a person” button below asks for a person; the link at the top "
        "switches between English and Arabic.",
        "ar": "زر «التحدث إلى موظف» في الأسفل لطلب موظف، ورابط اللغة في الأعلى للتبديل بين "
        "العربية والإنجليزية.",
    },
    "help": {
        "en": "Press “Talk to a person” below for a person; the link at the top switches "
        "between English and Arabic.",
        "ar": "اضغط «التحدث إلى موظف» في الأسفل لطلب موظف، ورابط اللغة في الأعلى للتبديل بين "
        "العربية والإنجليزية.",
    },
    "cancel": {
        "en": "The “Stop waiting” button below takes you out of the queue.",
        "ar": "زر «إلغاء الانتظار» في الأسفل يخرجك من قائمة الانتظار.",
    },
    "human": {
        "en": "or press “Talk to a person” below.",
        "ar": "أو اضغط «التحدث إلى موظف» في الأسفل.",
    },
    "human_if": {
        "en": "or press “Talk to a person” below if you need a person.",
        "ar": "أو اضغط «التحدث إلى موظف» في الأسفل إن احتجت إلى موظف.",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "greeting": {
        "en": (
            "Hello {name}! I'm the support assistant of {shop}.\n"
            "Ask me anything about delivery, returns, payment or your account, in your own "
            "words. If I can't help, I'll bring in a person.\n" + HINTS["commands"]["en"]
        ),
        "ar": (
            "أهلاً {name}! أنا مساعد الدعم في {shop}.\n"
            "اسألني بكلماتك عن التوصيل أو الإرجاع أو الدفع أو حسابك. "
            "وإن لم أستطع المساعدة فسأحوّلك إلى أحد موظفينا.\n" + HINTS["commands"]["ar"]
        ),
    },
    "help": {
        "en": "Type your question and I'll look for the answer.\n" + HINTS["help"]["en"],
        "ar": "اكتب سؤالك وسأبحث لك عن الإجابة.\n" + HINTS["help"]["ar"],
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
    # --- flood control (handoff/flood.py)
    "slow_down": {
        "en": (
            "You're sending messages faster than I can read them. Please wait a few "
            "seconds, then send your message again."
        ),
        "ar": (
            "أنت ترسل الرسائل أسرع مما أستطيع قراءته. انتظر بضع ثوانٍ من فضلك ثم أعد إرسال رسالتك."
        ),
    },
    "handoff_limited": {
        "en": (
            "Many requests for a person came from your network just now. Please try again "
            "in {minutes} min; meanwhile I'm happy to answer your questions."
        ),
        "ar": (
            "وصلت للتو طلبات كثيرة للتحدث إلى موظف من شبكتك. حاول مرة أخرى بعد {minutes} "
            "دقيقة من فضلك، وإلى ذلك الحين يسعدني أن أجيب عن أسئلتك."
        ),
    },
    "too_many_visitors": {
        "en": (
            "Too many new chats were started from your network. Please try again in {minutes} min."
        ),
        "ar": "بدأت محادثات جديدة كثيرة من شبكتك. حاول مرة أخرى بعد {minutes} دقيقة من فضلك.",
    },
    # --- handoff, customer side
    "queued": {
        "en": (
            "You're number {position} in the queue (ticket #{ticket}). {wait}\n"
            + HINTS["cancel"]["en"]
        ),
        "ar": (
            "ترتيبك {position} في قائمة الانتظار (تذكرة رقم {ticket}). {wait}\n"
            + HINTS["cancel"]["ar"]
        ),
    },
    "position": {
        "en": "You're now number {position} in the queue. {wait}",
        "ar": "ترتيبك الآن {position} في قائمة الانتظار. {wait}",
    },
    "still_waiting": {
        "en": (
            "Our agents are busy right now. You're still number {position} in the queue "
            "(ticket #{ticket}). {wait}"
        ),
        "ar": (
            "موظفونا مشغولون الآن. ما زال ترتيبك {position} في قائمة الانتظار "
            "(تذكرة رقم {ticket}). {wait}"
        ),
    },
    "wait_minutes": {
        "en": "Estimated wait: about {minutes} min.",
        "ar": "مدة الانتظار المتوقعة: نحو {minutes} دقيقة.",
    },
    "wait_long": {
        "en": "Estimated wait: more than {minutes} min.",
        "ar": "مدة الانتظار المتوقعة: أكثر من {minutes} دقيقة.",
    },
    "wait_shortly": {
        "en": "An agent will be with you shortly.",
        "ar": "سينضم إليك أحد موظفينا خلال لحظات.",
    },
    "no_agents": {
        "en": (
            "No agent is online right now. Your chat stays in the queue (ticket #{ticket}) and "
            "you'll be connected as soon as someone is available. " + HINTS["cancel"]["en"]
        ),
        "ar": (
            "لا يوجد موظف متصل الآن. تبقى محادثتك في قائمة الانتظار (تذكرة رقم {ticket}) "
            "وسنوصلك بأول موظف يتاح. " + HINTS["cancel"]["ar"]
        ),
    },
    "outside_hours": {
        "en": (
            "Our team is away right now. Your ticket is #{ticket}; we'll reply when we open "
            "({opens}).\nOur hours ({timezone}):\n{hours}"
        ),
        "ar": (
            "فريقنا خارج أوقات العمل الآن. رقم تذكرتك {ticket}، وسنرد عليك عند بدء الدوام "
            "({opens}).\nأوقات العمل ({timezone}):\n{hours}"
        ),
    },
    "closed_day": {"en": "closed", "ar": "مغلق"},
    "agent_joined": {
        "en": "{agent} has joined the chat.",
        "ar": "انضم {agent} إلى المحادثة.",
    },
    "requeued": {
        "en": "Your agent had to leave, so you're back in the queue; your place is kept.",
        "ar": "اضطر الموظف إلى المغادرة، فعدت إلى قائمة الانتظار مع الاحتفاظ بمكانك.",
    },
    "transferred": {
        "en": "I'm passing you to a colleague; your place in the queue is kept.",
        "ar": "سأحوّلك إلى زميل آخر مع الاحتفاظ بمكانك في قائمة الانتظار.",
    },
    "handed_back": {
        "en": "You're back with the assistant. Ask me anything, " + HINTS["human"]["en"],
        "ar": "عدت إلى المساعد الآلي. اسألني ما تشاء، " + HINTS["human"]["ar"],
    },
    "reopened": {
        "en": "I've reopened ticket #{ticket}; an agent will be with you soon.",
        "ar": "أعدت فتح التذكرة رقم {ticket}، وسينضم إليك أحد موظفينا قريباً.",
    },
    "cancelled": {
        "en": "You've left the queue. Ask me anything, " + HINTS["human_if"]["en"],
        "ar": "غادرت قائمة الانتظار. اسألني ما تشاء، " + HINTS["human_if"]["ar"],
    },
    "nothing_to_cancel": {
        "en": "You're not waiting for anyone.",
        "ar": "أنت لست في قائمة انتظار.",
    },
    "rate": {
        "en": "{agent} closed the conversation. How would you rate the help you got?",
        "ar": "أنهى {agent} المحادثة. كيف تقيّم المساعدة التي تلقيتها؟",
    },
    "rated": {
        "en": "You rated {stars} ★. Thank you! Anything to add? Write it here, or press Skip.",
        "ar": "قيّمت بـ {stars} ★. شكراً لك! هل لديك ما تضيفه؟ اكتبه هنا أو اضغط تخطٍّ.",
    },
    "skip": {"en": "Skip", "ar": "تخطٍّ"},
    "thanks_feedback": {
        "en": "Thanks for your feedback!",
        "ar": "شكراً على ملاحظاتك!",
    },
    "from_agent": {"en": "{agent}: {text}", "ar": "{agent}: {text}"},
    # --- agents
    "agent_help": {
        "en": (
            "You're registered as {role} {name}.\n/online /away /offline /status: your status\n"
            "/chats: your chats (switch the current one)\nReply to a customer's message to answer "
            "it; other messages go to your current chat.\n/note TEXT, /canned, /t SHORTCUT, "
            "/transfer, /priority, /tag TAG, /bot, /close, /pending\n/console: the web console, "
            "logged in\n{supervisor}"
        ),
        "ar": (
            "أنت مسجل بصفة {role}: {name}.\n/online /away /offline /status: حالتك\n"
            "/chats: محادثاتك (اختيار المحادثة الحالية)\nرد على رسالة العميل للإجابة عنها، "
            "والرسائل الأخرى تذهب إلى محادثتك الحالية.\n/note نص، /canned، /t اختصار، "
            "/transfer، /priority، /tag وسم، /bot، /close، /pending\n/console: وحدة الموظف على "
            "الويب مع تسجيل الدخول\n{supervisor}"
        ),
    },
    "supervisor_help": {
        "en": "Supervisor: /queue shows the queue, /agents the team.",
        "ar": "مشرف: /queue لعرض قائمة الانتظار، /agents لعرض الفريق.",
    },
    "status_is": {
        "en": "Status: {status}. Open chats: {load}/{capacity}. Current chat: {current}.",
        "ar": (
            "الحالة: {status}. المحادثات المفتوحة: {load}/{capacity}. المحادثة الحالية: {current}."
        ),
    },
    "offer": {
        "en": (
            "New chat #{ticket} ({priority}{category}) from {name}, waiting {waiting}.\n"
            "{messages}\nAccept within {timeout} s."
        ),
        "ar": (
            "محادثة جديدة رقم {ticket} ({priority}{category}) من {name}، تنتظر منذ {waiting}.\n"
            "{messages}\nاقبلها خلال {timeout} ثانية."
        ),
    },
    "accept": {"en": "Accept", "ar": "قبول"},
    "decline": {"en": "Decline", "ar": "رفض"},
    "offer_expired": {
        "en": "Not accepted in time: offered to someone else.",
        "ar": "لم تُقبل في الوقت المحدد: عُرضت على زميل آخر.",
    },
    "offer_taken": {"en": "Taken by someone else.", "ar": "أخذها زميل آخر."},
    "offer_withdrawn": {
        "en": "Withdrawn: the customer left or you changed status.",
        "ar": "سُحبت: غادر العميل أو تغيّرت حالتك.",
    },
    "offer_declined": {"en": "You declined it.", "ar": "رفضتها."},
    "offer_accepted": {"en": "Accepted.", "ar": "قُبلت."},
    "assigned": {
        "en": (
            "You're now with {name} (ticket #{ticket}). Your messages here go to them; "
            "/close when done.\n{messages}"
        ),
        "ar": (
            "أنت الآن مع {name} (تذكرة رقم {ticket}). رسائلك هنا تصل إليه، "
            "واستخدم /close عند الانتهاء.\n{messages}"
        ),
    },
    "set_away": {
        "en": "You missed {missed} offers in a row, so I set you to away. Send /online when back.",
        "ar": "فاتتك {missed} عروض متتالية، فغيّرت حالتك إلى غائب. أرسل /online عند عودتك.",
    },
    "close_or_transfer": {
        "en": (
            "You're offline with open chats ({tickets}). Close (/close) or transfer (/transfer) "
            "them; otherwise they go back to the queue shortly."
        ),
        "ar": (
            "أنت غير متصل ولديك محادثات مفتوحة ({tickets}). أغلقها (/close) أو حوّلها "
            "(/transfer)، وإلا ستعود إلى قائمة الانتظار قريباً."
        ),
    },
    "chats_requeued": {
        "en": "Your chats {tickets} went back to the queue.",
        "ar": "عادت محادثاتك {tickets} إلى قائمة الانتظار.",
    },
    "customer_left": {
        "en": "The customer of #{ticket} has left (blocked the bot); the ticket is closed.",
        "ar": "غادر عميل التذكرة {ticket} (حظر البوت)، وأُغلقت التذكرة.",
    },
    "no_current_chat": {
        "en": "You have no current chat. Reply to a customer's message, or pick one with /chats.",
        "ar": "ليست لديك محادثة حالية. رد على رسالة عميل، أو اختر محادثة عبر /chats.",
    },
    "not_your_chat": {
        "en": "Ticket #{ticket} is not one of your live chats.",
        "ar": "التذكرة {ticket} ليست من محادثاتك الجارية.",
    },
    "chats_list": {"en": "Your chats:", "ar": "محادثاتك:"},
    "no_chats": {"en": "You have no open chats.", "ar": "ليست لديك محادثات مفتوحة."},
    "current_set": {
        "en": "Current chat: #{ticket} ({name}).",
        "ar": "المحادثة الحالية: {ticket} ({name}).",
    },
    "note_saved": {
        "en": "Note saved on #{ticket} (not sent to the customer).",
        "ar": "حُفظت الملاحظة على التذكرة {ticket} (لم تُرسل إلى العميل).",
    },
    "usage": {"en": "Usage: {usage}", "ar": "الاستخدام: {usage}"},
    "canned_list": {"en": "Canned replies:\n{items}", "ar": "الردود الجاهزة:\n{items}"},
    "canned_none": {
        "en": "No canned replies yet (admins add them with `sanad canned add`).",
        "ar": "لا توجد ردود جاهزة بعد (يضيفها المشرفون عبر sanad canned add).",
    },
    "canned_unknown": {
        "en": "No canned reply {shortcut}. /canned lists them.",
        "ar": "لا يوجد رد جاهز باسم {shortcut}. الأمر /canned يعرضها.",
    },
    "transfer_to": {"en": "Transfer #{ticket} to:", "ar": "تحويل التذكرة {ticket} إلى:"},
    "transferred_agent": {
        "en": "#{ticket} is back in the queue for the transfer, with its place kept.",
        "ar": "عادت التذكرة {ticket} إلى قائمة الانتظار للتحويل مع الاحتفاظ بمكانها.",
    },
    "priority_pick": {"en": "Priority of #{ticket}:", "ar": "أولوية التذكرة {ticket}:"},
    "priority_set": {
        "en": "#{ticket} is now {priority}.",
        "ar": "أولوية التذكرة {ticket} الآن {priority}.",
    },
    "tagged": {"en": "#{ticket} tags: {tags}", "ar": "وسوم التذكرة {ticket}: {tags}"},
    "handed_back_agent": {
        "en": "#{ticket} is back with the bot.",
        "ar": "عادت التذكرة {ticket} إلى البوت.",
    },
    "closed_agent": {
        "en": "#{ticket} closed; the customer is asked for a rating.",
        "ar": "أُغلقت التذكرة {ticket}، وطُلب من العميل تقييمها.",
    },
    "pending_set": {
        "en": "#{ticket} is waiting on the customer.",
        "ar": "التذكرة {ticket} بانتظار رد العميل.",
    },
    "action_failed": {"en": "Not done: {reason}", "ar": "لم يتم: {reason}"},
    "queue_list": {"en": "Queue ({count}):\n{items}", "ar": "قائمة الانتظار ({count}):\n{items}"},
    "agents_list": {"en": "Agents:\n{items}", "ar": "الموظفون:\n{items}"},
    "sla_warning": {
        "en": "SLA warning: #{ticket} ({priority}) must get its {target} by {due}.",
        "ar": "تنبيه اتفاقية الخدمة: التذكرة {ticket} ({priority}) تستحق {target} قبل {due}.",
    },
    "sla_breached": {
        "en": "SLA breached: #{ticket} ({priority}) missed its {target} due {due}.",
        "ar": "خرق اتفاقية الخدمة: التذكرة {ticket} ({priority}) تجاوزت موعد {target} ({due}).",
    },
    "agent_set_away_sup": {
        "en": "{name} missed {missed} offers in a row and was set away.",
        "ar": "فاتت {name} {missed} عروض متتالية فصار غائباً.",
    },
    "low_rating": {
        "en": "Low rating: #{ticket} got {stars} ★ (agent {agent}).",
        "ar": "تقييم منخفض: التذكرة {ticket} نالت {stars} ★ (الموظف {agent}).",
    },
    "low_rating_comment": {
        "en": "Comment on #{ticket} ({stars} ★): {comment}",
        "ar": "تعليق على التذكرة {ticket} ({stars} ★): {comment}",
    },
    "console_echo": {
        "en": "→ #{ticket} (console): {text}",
        "ar": "← #{ticket} (وحدة الموظف): {text}",
    },
    "console_link": {
        "en": "Your agent console, logged in (one use, valid {minutes} min):\n{url}",
        "ar": "وحدة الموظف الخاصة بك، مع تسجيل الدخول (لمرة واحدة، صالح {minutes} دقيقة):\n{url}",
    },
    "console_unavailable": {
        "en": "The web console address is not configured (SANAD_PUBLIC_URL).",
        "ar": "عنوان وحدة الموظف على الويب غير مضبوط (SANAD_PUBLIC_URL).",
    },
}


def bidi(text: str, lang: str) -> str:
    """In Arabic, a left-to-right mark before each ``/command`` keeps its slash on the left."""
    return COMMAND_RE.sub(LRM + "/", text) if lang == "ar" else text


def t(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English when missing), with ``values`` filled in."""
    entry = TEXTS[key]
    chosen = lang if lang in entry else "en"
    return bidi(entry[chosen], chosen).format(**values)


def on_web(text: str) -> str:
    """A bot text as the web chat says it: each sentence about a Telegram command becomes the
    sentence about the web chat's button for it."""
    for name, hint in HINTS.items():
        for lang, fragment in hint.items():
            text = text.replace(bidi(fragment, lang), WEB_HINTS[name][lang])
    return text
