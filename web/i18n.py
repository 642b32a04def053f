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
