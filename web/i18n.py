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
        "en": "Paste a token created with: sanad tokens create --role editor --name YOU",
        "ar": "الصق رمزاً أنشأته بالأمر: sanad tokens create --role editor --name YOU",
    },
    "bad_token": {"en": "That token is not valid.", "ar": "هذا الرمز غير صالح."},
    "signed_in_as": {"en": "Signed in as", "ar": "مسجل باسم"},
    "forbidden": {
        "en": "Your role cannot open this page.",
        "ar": "دورك لا يسمح بفتح هذه الصفحة.",
    },
    "not_found": {"en": "Page not found.", "ar": "الصفحة غير موجودة."},
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
    "console_no_script": {
        "en": "The console needs JavaScript.",
        "ar": "تحتاج وحدة الموظف إلى جافاسكربت.",
    },
}


def tr(key: str, lang: str) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["en"]


def request_lang(request: web.Request, default: str = "en") -> str:
    """?lang= wins (and is remembered in a cookie), then the cookie, then the default."""
    lang = request.query.get("lang") or request.cookies.get(COOKIE) or default
    return lang if lang in LANGS else "en"
