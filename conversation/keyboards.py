"""The conversation's buttons, the same on every channel.

A button is a :class:`Button` whose ``data`` is the same compact string on every channel
(``fb:12:y``, ``art:7:12``, ``human``, ``lang:ar``, ``rate:9:0:5``, ``fu:9:0:y``...; at most 64
bytes, Telegram's callback-data limit), parsed back by :data:`PRESS_RE`. A channel draws them
its own way (Telegram's inline keyboards, the web chat's button rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import texts
from faq.service import ArticleView

BUTTON_LABEL_MAX = 60
PRESS_RE = re.compile(
    r"^(?:fb:(?P<fb_q>\d{1,18}):(?P<fb_v>[yn])(?::(?P<fb_a>\d{1,18}))?"
    r"|art:(?P<art_a>\d{1,18}):(?P<art_q>\d{1,18})"
    r"|(?P<human>human)"
    r"|(?P<cancel>cancel)"
    r"|lang:(?P<lang>en|ar)"
    r"|rate:(?P<rate_t>\d{1,18}):(?P<rate_c>\d{1,6}):(?P<rate_s>[1-5])"
    r"|rsk:(?P<rsk>\d{1,18})"
    r"|fu:(?P<fu_t>\d{1,18}):(?P<fu_c>\d{1,6}):(?P<fu_v>[ynx]))$"
)


@dataclass(frozen=True)
class Button:
    label: str
    data: str


Keyboard = list[list[Button]]


def label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_MAX else text[: BUTTON_LABEL_MAX - 1] + "…"


def feedback_keyboard(query_id: int, lang: str, article_id: int | None = None) -> Keyboard:
    suffix = f":{article_id}" if article_id is not None else ""
    return [
        [
            Button(texts.text("customer.yes", lang), f"fb:{query_id}:y{suffix}"),
            Button(texts.text("customer.no", lang), f"fb:{query_id}:n{suffix}"),
        ]
    ]


def human_keyboard(lang: str) -> Keyboard:
    return [[Button(texts.text("customer.talk_to_person", lang), "human")]]


def suggestions_keyboard(articles: tuple[ArticleView, ...], query_id: int, lang: str) -> Keyboard:
    rows = [[Button(label(a.question), f"art:{a.id}:{query_id}")] for a in articles]
    rows.append([Button(texts.text("customer.none_of_these", lang), "human")])
    return rows


def language_keyboard() -> Keyboard:
    return [
        [Button(texts.text("customer.language_name", lang), f"lang:{lang}") for lang in texts.LANGS]
    ]


def rating_keyboard(ticket_id: int, cycle: int) -> Keyboard:
    return [[Button(f"{n} ★", f"rate:{ticket_id}:{cycle}:{n}") for n in range(1, 6)]]


def skip_keyboard(ticket_id: int, lang: str) -> Keyboard:
    return [[Button(texts.text("customer.skip", lang), f"rsk:{ticket_id}")]]


def followup_keyboard(ticket_id: int, cycle: int, lang: str) -> Keyboard:
    """The follow-up's answers: still solved, not solved (reopens), don't ask me again."""
    data = f"fu:{ticket_id}:{cycle}"
    return [
        [
            Button(texts.text("customer.followup_yes", lang), f"{data}:y"),
            Button(texts.text("customer.followup_no", lang), f"{data}:n"),
        ],
        [Button(texts.text("customer.followup_never", lang), f"{data}:x")],
    ]


def offered(keyboard: Keyboard, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The meta of a line that offers buttons: the options are kept with it, so agents and
    ticket transcripts see what the customer was offered (on every channel)."""
    options = [{"label": b.label, "data": b.data} for row in keyboard for b in row]
    return {**(meta or {}), "options": options}


def answer_text(article: ArticleView, lang: str) -> str:
    return f"{article.answer}\n\n{texts.text('customer.did_it_help', lang)}"


def keyboard_rows(keyboard: Keyboard | None) -> list[list[dict[str, str]]]:
    """The buttons as stored with a line (``meta["buttons"]``) and sent in web chat frames."""
    return [[{"label": b.label, "data": b.data} for b in row] for row in keyboard or []]
