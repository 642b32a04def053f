"""Texts of the web pages in English and Arabic (Arabic pages are laid out right to left)."""

from __future__ import annotations

from aiohttp import web

LANGS = ("en", "ar")
COOKIE = "sanad_lang"

TEXTS: dict[str, dict[str, str]] = {
    "app": {"en": "Sanad", "ar": "سند"},
    "dashboard": {"en": "Dashboard", "ar": "لوحة المتابعة"},
    "faq": {"en": "FAQ", "ar": "الأسئلة الشائعة"},
    "gaps": {"en": "Knowledge gaps", "ar": "فجوات المعرفة"},
    "agents": {"en": "Agents", "ar": "الموظفون"},
    "tickets": {"en": "Tickets", "ar": "التذاكر"},
    "login": {"en": "Log in", "ar": "تسجيل الدخول"},
    "logout": {"en": "Log out", "ar": "تسجيل الخروج"},
    "token": {"en": "API token", "ar": "رمز الوصول"},
    "login_help": {
        "en": "Paste a token created with: sanad tokens create --role editor --name YOU "
        "(or supervisor, admin)",
        "ar": "الصق رمزاً أنشأته بالأمر: sanad tokens create --role editor --name YOU "
        "(أو supervisor أو admin)",
    },
    "login_help_agent": {
        "en": "Paste your agent token, created with: sanad tokens create --role agent --agent ID "
        "--name YOU. On Telegram, /console sends you a login link instead.",
        "ar": "الصق رمز الموظف الخاص بك، المنشأ بالأمر: sanad tokens create --role agent "
        "--agent ID --name YOU. وفي تيليجرام يرسل لك الأمر \u200e/console رابط دخول بدلاً منه.",
    },
    "token_agent": {"en": "Agent token", "ar": "رمز الموظف"},
    "bad_token": {"en": "That token is not valid.", "ar": "هذا الرمز غير صالح."},
    "signed_in_as": {"en": "Signed in as", "ar": "مسجل باسم"},
    "forbidden": {
        "en": "Your role cannot open this page.",
        "ar": "دورك لا يسمح بفتح هذه الصفحة.",
    },
    "not_found": {"en": "Page not found.", "ar": "الصفحة غير موجودة."},
    "too_large": {"en": "That was too large to send.", "ar": "كان ذلك أكبر من المسموح بإرساله."},
    "forbidden_go": {"en": "Pages you can open:", "ar": "الصفحات التي يمكنك فتحها:"},
    "error": {"en": "Something went wrong.", "ar": "حدث خطأ ما."},
    "language": {"en": "العربية", "ar": "English"},
    "console_link_invalid": {
        "en": "That login link was used already or has expired. Ask the bot for a new one "
        "with /console, or log in with a token.",
        "ar": "رابط الدخول هذا استُخدم من قبل أو انتهت صلاحيته. اطلب رابطاً جديداً من البوت "
        "بالأمر /console، أو سجّل الدخول برمز.",
    },
    # --- customer chat (/chat) ---
    "chat_title": {"en": "Chat with us", "ar": "تحدث معنا"},
    "chat_placeholder": {"en": "Type your message…", "ar": "اكتب رسالتك…"},
    "chat_send": {"en": "Send", "ar": "إرسال"},
    "chat_attach": {"en": "Attach a file", "ar": "إرفاق ملف"},
    "chat_talk_to_person": {"en": "Talk to a person", "ar": "التحدث إلى موظف"},
    "chat_stop_waiting": {"en": "Stop waiting", "ar": "إلغاء الانتظار"},
    "chat_connecting": {"en": "Connecting…", "ar": "جارٍ الاتصال…"},
    "chat_reconnecting": {"en": "Reconnecting…", "ar": "جارٍ إعادة الاتصال…"},
    "chat_sending": {"en": "Sending…", "ar": "جارٍ الإرسال…"},
    "chat_too_long": {
        "en": "Your message is too long: at most {max} characters.",
        "ar": "رسالتك طويلة جداً: الحد الأقصى {max} حرف.",
    },
    "chat_file_too_big": {
        "en": "That file is too big: at most {max}.",
        "ar": "هذا الملف كبير جداً: الحد الأقصى {max}.",
    },
    "chat_upload_failed": {"en": "The upload failed.", "ar": "تعذر رفع الملف."},
    "chat_uploading": {"en": "Uploading {name}…", "ar": "جارٍ رفع {name}…"},
    "chat_you": {"en": "You", "ar": "أنت"},
    "chat_bot": {"en": "Assistant", "ar": "المساعد"},
    "chat_agent": {"en": "Agent", "ar": "موظف"},
    "chat_no_script": {
        "en": "This chat needs JavaScript.",
        "ar": "تحتاج هذه المحادثة إلى جافاسكربت.",
    },
    # --- agent console (/agent) ---
    "console": {"en": "Console", "ar": "وحدة الموظف"},
    "console_title": {"en": "Agent console", "ar": "وحدة الموظف"},
    "console_status": {"en": "Status", "ar": "الحالة"},
    "console_available": {"en": "Available", "ar": "متاح"},
    "console_away": {"en": "Away", "ar": "غير متواجد"},
    "console_offline": {"en": "Offline", "ar": "غير متصل"},
    "console_wrap_up": {"en": "Wrapping up", "ar": "ينهي محادثة"},
    "console_ready": {"en": "Ready", "ar": "جاهز"},
    "console_load": {"en": "Chats {load} / {capacity}", "ar": "المحادثات {load} / {capacity}"},
    "console_connecting": {"en": "Connecting…", "ar": "جارٍ الاتصال…"},
    "console_connected": {"en": "Live", "ar": "متصل"},
    "console_reconnecting": {"en": "Reconnecting…", "ar": "جارٍ إعادة الاتصال…"},
    "console_offers": {"en": "Chats offered to you", "ar": "محادثات معروضة عليك"},
    "console_no_offers": {"en": "No offers right now.", "ar": "لا توجد عروض الآن."},
    "console_accept": {"en": "Accept", "ar": "قبول"},
    "console_decline": {"en": "Decline", "ar": "رفض"},
    "console_seconds_left": {"en": "{n} s left", "ar": "متبقٍ {n} ث"},
    "console_waiting": {"en": "waiting {time}", "ar": "ينتظر منذ {time}"},
    "console_priority": {"en": "Priority", "ar": "الأولوية"},
    "console_category": {"en": "Category", "ar": "الفئة"},
    "console_no_category": {"en": "general", "ar": "عام"},
    "console_offer_accepted": {"en": "Accepted", "ar": "تم القبول"},
    "console_offer_expired": {"en": "Time ran out", "ar": "انتهى الوقت"},
    "console_offer_taken": {"en": "Taken by someone else", "ar": "أخذها موظف آخر"},
    "console_offer_withdrawn": {"en": "Withdrawn", "ar": "سُحب العرض"},
    "console_offer_cancelled": {
        "en": "The customer stopped waiting",
        "ar": "توقف العميل عن الانتظار",
    },
    "console_offer_declined": {"en": "Declined", "ar": "تم الرفض"},
    "console_chats": {"en": "My chats", "ar": "محادثاتي"},
    "console_no_chats": {"en": "No open chats.", "ar": "لا توجد محادثات مفتوحة."},
    "console_unread": {"en": "new", "ar": "جديد"},
    "console_customer_here": {"en": "in the chat now", "ar": "في المحادثة الآن"},
    "console_customer_gone": {
        "en": "has left the page (sees your messages on return)",
        "ar": "غادر الصفحة (سيرى رسائلك عند عودته)",
    },
    "console_pick_chat": {"en": "Choose a chat to open it.", "ar": "اختر محادثة لفتحها."},
    "console_customer": {"en": "Customer", "ar": "العميل"},
    "console_bot": {"en": "Assistant", "ar": "المساعد"},
    "console_agent": {"en": "Agent", "ar": "موظف"},
    "console_system": {"en": "System", "ar": "النظام"},
    "console_file": {"en": "File", "ar": "ملف"},
    "console_reply_placeholder": {
        "en": "Write a reply (Enter sends, Shift+Enter for a new line)",
        "ar": "اكتب رداً (Enter للإرسال، Shift+Enter لسطر جديد)",
    },
    "console_send": {"en": "Send", "ar": "إرسال"},
    "console_attach": {"en": "Attach a file", "ar": "إرفاق ملف"},
    "console_sending": {"en": "Sending…", "ar": "جارٍ الإرسال…"},
    "console_retrying": {
        "en": "Not sent (network). Retrying…",
        "ar": "لم تُرسل (الشبكة). جارٍ إعادة المحاولة…",
    },
    "console_canned": {"en": "Canned reply…", "ar": "رد جاهز…"},
    "console_notes": {"en": "Internal notes", "ar": "ملاحظات داخلية"},
    "console_notes_help": {
        "en": "Only agents see notes; the customer never does.",
        "ar": "الملاحظات يراها الموظفون فقط، ولا يراها العميل.",
    },
    "console_no_notes": {"en": "No notes yet.", "ar": "لا توجد ملاحظات بعد."},
    "console_note_placeholder": {"en": "Add a note for the team", "ar": "أضف ملاحظة للفريق"},
    "console_add_note": {"en": "Add note", "ar": "إضافة ملاحظة"},
    "console_transfer": {"en": "Transfer", "ar": "تحويل"},
    "console_transfer_to": {"en": "Transfer this chat to", "ar": "تحويل هذه المحادثة إلى"},
    "console_transfer_agents": {"en": "Agents", "ar": "الموظفون"},
    "console_transfer_categories": {"en": "Categories (queue)", "ar": "الفئات (قائمة الانتظار)"},
    "console_transfer_none": {
        "en": "No one to transfer to.",
        "ar": "لا يوجد من يمكن التحويل إليه.",
    },
    "console_transferred": {"en": "Chat transferred.", "ar": "تم تحويل المحادثة."},
    "console_cancel": {"en": "Cancel", "ar": "إلغاء"},
    "console_close": {"en": "Close chat", "ar": "إغلاق المحادثة"},
    "console_closed": {"en": "Chat closed.", "ar": "تم إغلاق المحادثة."},
    "console_chat_gone": {
        "en": "This chat is no longer yours.",
        "ar": "لم تعد هذه المحادثة مسندة إليك.",
    },
    "console_error": {"en": "Error: {message}", "ar": "خطأ: {message}"},
    "console_dismiss": {"en": "Dismiss", "ar": "إخفاء"},
    "console_notice_set_away": {
        "en": "You were set away after {missed} missed offers.",
        "ar": "عُيّنت حالتك «غير متواجد» بعد {missed} عروض فائتة.",
    },
    "console_notice_close_or_transfer": {
        "en": "Close or transfer your open chats before going offline.",
        "ar": "أغلق محادثاتك المفتوحة أو حوّلها قبل قطع الاتصال.",
    },
    "console_notice_chats_requeued": {
        "en": "Your open chats went back to the queue.",
        "ar": "عادت محادثاتك المفتوحة إلى قائمة الانتظار.",
    },
    "console_notice_customer_left": {
        "en": "The customer of chat #{ticket_id} left (blocked the bot).",
        "ar": "غادر عميل المحادثة رقم {ticket_id} (حظر البوت).",
    },
    "console_no_script": {
        "en": "The console needs JavaScript.",
        "ar": "تحتاج وحدة الموظف إلى جافاسكربت.",
    },
}


# Values shown on the pages and in the console (stored in English), by kind: ``value(kind,
# stored, lang)`` says them in the page's language; an unknown value shows as stored.
VALUES: dict[str, dict[str, dict[str, str]]] = {
    "state": {
        "bot": {"en": "with the bot", "ar": "مع البوت"},
        "queued": {"en": "queued", "ar": "في الانتظار"},
        "offered": {"en": "offered", "ar": "معروضة"},
        "assigned": {"en": "assigned", "ar": "مسندة"},
        "pending": {"en": "pending", "ar": "معلقة"},
        "resolved": {"en": "resolved", "ar": "محلولة"},
        "closed": {"en": "closed", "ar": "مغلقة"},
    },
    "priority": {
        "low": {"en": "low", "ar": "منخفضة"},
        "normal": {"en": "normal", "ar": "عادية"},
        "high": {"en": "high", "ar": "عالية"},
        "urgent": {"en": "urgent", "ar": "عاجلة"},
    },
    "channel": {
        "telegram": {"en": "Telegram", "ar": "تيليجرام"},
        "web": {"en": "web", "ar": "دردشة الموقع"},
    },
    "language": {
        "en": {"en": "English", "ar": "الإنجليزية"},
        "ar": {"en": "Arabic", "ar": "العربية"},
    },
    "sender": {
        "customer": {"en": "customer", "ar": "العميل"},
        "bot": {"en": "bot", "ar": "البوت"},
        "agent": {"en": "agent", "ar": "الموظف"},
        "system": {"en": "system", "ar": "النظام"},
    },
    "resolution": {
        "bot": {"en": "by the bot", "ar": "بواسطة البوت"},
        "agent": {"en": "by an agent", "ar": "بواسطة موظف"},
        "abandoned": {"en": "abandoned", "ar": "متروكة"},
        "cancelled": {"en": "cancelled", "ar": "ملغاة"},
        "inactive": {"en": "inactive", "ar": "خاملة"},
    },
    "status": {
        "available": {"en": "available", "ar": "متاح"},
        "away": {"en": "away", "ar": "غير متواجد"},
        "offline": {"en": "offline", "ar": "غير متصل"},
        "wrap_up": {"en": "wrapping up", "ar": "ينهي محادثة"},
    },
    "role": {
        "admin": {"en": "admin", "ar": "مدير"},
        "supervisor": {"en": "supervisor", "ar": "مشرف"},
        "editor": {"en": "editor", "ar": "محرر"},
        "agent": {"en": "agent", "ar": "موظف"},
    },
    "event": {
        "ticket_opened": {"en": "Ticket opened", "ar": "فُتحت التذكرة"},
        "ticket_queued": {"en": "Queued for an agent", "ar": "دخلت قائمة الانتظار"},
        "ticket_held_for_hours": {
            "en": "Held until opening hours",
            "ar": "مؤجلة حتى أوقات العمل",
        },
        "offer_made": {"en": "Offered to an agent", "ar": "عُرضت على موظف"},
        "offer_accepted": {"en": "Offer accepted", "ar": "قُبل العرض"},
        "offer_expired": {"en": "Offer timed out", "ar": "انتهت مهلة العرض"},
        "offer_withdrawn": {"en": "Offer withdrawn", "ar": "سُحب العرض"},
        "ticket_assigned": {"en": "Assigned", "ar": "أُسندت"},
        "ticket_transferred": {"en": "Transferred", "ar": "حُوّلت"},
        "exclusion_lapsed": {
            "en": "Transfer exclusion ended",
            "ar": "انتهى استثناء التحويل",
        },
        "ticket_requeued": {"en": "Back in the queue", "ar": "عادت إلى قائمة الانتظار"},
        "ticket_pending": {"en": "Waiting for the customer", "ar": "بانتظار العميل"},
        "ticket_active": {"en": "Active again", "ar": "نشطة من جديد"},
        "ticket_resolved": {"en": "Resolved", "ar": "حُلّت"},
        "ticket_closed": {"en": "Closed", "ar": "أُغلقت"},
        "ticket_reopened": {"en": "Reopened", "ar": "أُعيد فتحها"},
        "ticket_abandoned": {"en": "Customer stopped waiting", "ar": "توقف العميل عن الانتظار"},
        "ticket_handed_back": {"en": "Handed back to the bot", "ar": "أُعيدت إلى البوت"},
        "ticket_tagged": {"en": "Tagged", "ar": "وُسمت"},
        "sla_warning": {"en": "SLA warning", "ar": "تنبيه اتفاقية الخدمة"},
        "sla_breached": {"en": "SLA breached", "ar": "مخالفة اتفاقية الخدمة"},
        "file_attached": {"en": "File attached", "ar": "أُرفق ملف"},
        "customer_unreachable": {"en": "Customer unreachable", "ar": "تعذر الوصول إلى العميل"},
        "customer_reachable": {"en": "Customer reachable again", "ar": "أمكن الوصول إلى العميل"},
        "customer_language_set": {"en": "Language chosen", "ar": "اختيرت اللغة"},
        "wrap_up_started": {"en": "Wrap-up started", "ar": "بدأ إنهاء المحادثة"},
        "wrap_up_ended": {"en": "Wrap-up ended", "ar": "انتهى إنهاء المحادثة"},
        "agent_unreachable": {"en": "Agent unreachable", "ar": "تعذر الوصول إلى الموظف"},
    },
    "field": {
        "agent_id": {"en": "agent", "ar": "الموظف"},
        "to_agent": {"en": "to agent", "ar": "إلى الموظف"},
        "from_agent": {"en": "from agent", "ar": "من الموظف"},
        "agent": {"en": "agent", "ar": "الموظف"},
        "priority": {"en": "priority", "ar": "الأولوية"},
        "category": {"en": "category", "ar": "الفئة"},
        "to_category": {"en": "to category", "ar": "إلى الفئة"},
        "reason": {"en": "reason", "ar": "السبب"},
        "position": {"en": "position", "ar": "الترتيب"},
        "stars": {"en": "stars", "ar": "النجوم"},
        "missed": {"en": "missed", "ar": "الفائتة"},
        "waited_s": {"en": "waited", "ar": "الانتظار"},
        "wait_s": {"en": "wait", "ar": "الانتظار"},
        "tags": {"en": "tags", "ar": "الوسوم"},
        "tag": {"en": "tag", "ar": "الوسم"},
        "language": {"en": "language", "ar": "اللغة"},
        "resolution": {"en": "resolution", "ar": "طريقة الحل"},
        "name": {"en": "name", "ar": "الاسم"},
        "target": {"en": "target", "ar": "الهدف"},
    },
}


def value(kind: str, stored: object, lang: str) -> str:
    """A stored value (a state, a priority, a channel...) in ``lang``; as stored if unknown."""
    text = "" if stored is None else str(stored)
    entry = VALUES.get(kind, {}).get(text)
    if entry is None:
        return text.replace("_", " ") if kind in ("event", "field") else text
    return entry.get(lang) or entry["en"]


UNITS = {
    "en": {"s": "s", "m": "m", "h": "h", "d": "d"},
    "ar": {"s": "ث", "m": "د", "h": "س", "d": "ي"},
}


def duration(seconds: float | None, lang: str) -> str:
    """45s, 3m 20s, 1h 05m, 2d 3h (in Arabic: 45ث, 3د 20ث, ...); "—" when there is none."""
    if seconds is None:
        return "—"
    u = UNITS.get(lang, UNITS["en"])
    s = round(seconds)
    if s < 60:
        return f"{s}{u['s']}"
    if s < 3600:
        return f"{s // 60}{u['m']} {s % 60:02d}{u['s']}"
    if s < 86400:
        return f"{s // 3600}{u['h']} {s % 3600 // 60:02d}{u['m']}"
    return f"{s // 86400}{u['d']} {s % 86400 // 3600}{u['h']}"


def tr(key: str, lang: str) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["en"]


def request_lang(request: web.Request, default: str = "en") -> str:
    """?lang= wins (and is remembered in a cookie), then the cookie, then the default."""
    lang = request.query.get("lang") or request.cookies.get(COOKIE) or default
    return lang if lang in LANGS else "en"
