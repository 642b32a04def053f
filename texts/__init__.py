"""Every user-facing text of Sanad (bot, web chat, agent console, pages), in one catalogue per
language (``texts/en.py``, ``texts/ar.py``), behind one lookup. Imports nothing of the project.

Keys are namespaced by where the text is used: ``customer.`` (the conversation, the same on
Telegram and in the web chat), ``agent.`` (agents and supervisors on Telegram), ``chat.`` (the
web chat page), ``console.`` (the agent console), ``page.`` (the other web pages), ``faqed.``
(the FAQ editor), ``roster.`` (the agents' pages), ``hooks.`` (the webhooks page),
``value.KIND.STORED`` (stored values as
shown), ``unit.`` (durations), and ``hint.`` (the sentences that name a Telegram command).

How :func:`text` behaves, everywhere:

- **Language**: a language without a catalogue falls back to English; a key missing from a
  catalogue too (tests/conversation/test_texts.py makes sure none is).
- **Unknown key**: :class:`MissingText` (a ``KeyError``), at once, in tests and in production: a
  key is a name in the code, so an unknown one is a bug to see, not a text to guess. A test
  checks that every literal key in the code and the templates exists.
- **Placeholders** are named (``{ticket}``) and filled from the keyword arguments; a missing
  one raises :class:`MissingText` too; a value is inserted as is, never read as a template.
  ``{{`` and ``}}`` in a catalogue show as braces. :func:`template` gives the text unfilled
  (for the browser's scripts, which fill it themselves).
- **Channel variants**: a placeholder with a dot (``{hint.cancel}``) is another text of the
  catalogue, embedded; for ``channel="web"`` its ``hint.cancel@web`` variant is used when there
  is one. So the web chat says "press the button" where Telegram says "/cancel", and both
  sentences live here, side by side. :func:`on_web` turns a text already said the Telegram way
  (by the channel-agnostic conversation) into the web chat's.
- **Arabic**: a left-to-right mark goes before every ``/command`` so its slash stays on the left
  in right-to-left text ("‎/human", not "human/").
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from texts import ar, en

LANGS = ("en", "ar")
LRM = "\u200e"
COMMAND_RE = re.compile(r"(?<![\w/:\u200e])/(?=[a-z])")
REFERENCE_RE = re.compile(r"\{(\w+\.[\w.@]+)\}")
WEB = "web"


class MissingText(KeyError):
    """A key the catalogue does not have, or a placeholder left without a value."""

    def __str__(self) -> str:
        return str(self.args[0])


def bidi(text: str, lang: str) -> str:
    """In Arabic, a left-to-right mark before each ``/command`` keeps its slash on the left."""
    return COMMAND_RE.sub(LRM + "/", text) if lang == "ar" else text


CATALOGUES: Mapping[str, Mapping[str, str]] = {
    "en": en.TEXTS,
    "ar": {key: bidi(value, "ar") for key, value in ar.TEXTS.items()},
}


def _catalogue(lang: str) -> Mapping[str, str]:
    return CATALOGUES.get(lang) or CATALOGUES["en"]


def exists(key: str) -> bool:
    return key in CATALOGUES["en"]


def template(key: str, lang: str, channel: str | None = None) -> str:
    """The text ``key`` in ``lang`` with its embedded texts in, its ``{placeholders}`` unfilled."""
    catalogue = _catalogue(lang)
    found = catalogue.get(key)
    if found is None:
        found = CATALOGUES["en"].get(key)
        if found is None:
            raise MissingText(f"no text {key!r} in the catalogue (texts/en.py)")

    def embed(match: re.Match[str]) -> str:
        name = match.group(1)
        variant = f"{name}@{channel}" if channel else None
        return template(variant if variant and variant in catalogue else name, lang)

    return REFERENCE_RE.sub(embed, found)


def text(key: str, lang: str, *, channel: str | None = None, **values: object) -> str:
    """The text ``key`` in ``lang`` (English when there is no such language), for ``channel``
    (Telegram's wording unless ``channel="web"``), with its ``{placeholders}`` filled."""
    found = template(key, lang, channel)
    try:
        return found.format_map(values)
    except (KeyError, AttributeError, IndexError) as exc:
        raise MissingText(f"text {key!r} needs a value for {exc}") from exc


def placeholders(raw: str) -> set[str]:
    """The ``{names}`` a catalogue entry is filled with (embedded texts included)."""
    return {field for _, field, _, _ in string.Formatter().parse(raw) if field}


# (Telegram's wording, the web chat's) of every hint, in every language, for on_web().
WEB_SWAPS = tuple(
    (fragment, catalogue[f"{key}@{WEB}"])
    for catalogue in CATALOGUES.values()
    for key, fragment in catalogue.items()
    if key.startswith("hint.") and "@" not in key
)


def on_web(said: str) -> str:
    """A text as the web chat says it: each sentence naming a Telegram command (a ``hint.``
    text, as Telegram says it) becomes its ``@web`` variant, about the web chat's button."""
    for telegram, web in WEB_SWAPS:
        said = said.replace(telegram, web)
    return said


def value(kind: str, stored: object, lang: str) -> str:
    """A stored value (a state, a priority, a channel...) in ``lang``; as stored when the
    catalogue has no ``value.KIND.STORED`` for it (events and fields with spaces for ``_``)."""
    shown = "" if stored is None else str(stored)
    key = f"value.{kind}.{shown}"
    if not exists(key):
        return shown.replace("_", " ") if kind in ("event", "field") else shown
    return text(key, lang)


def duration(seconds: float | None, lang: str) -> str:
    """45s, 3m 20s, 1h 05m, 2d 3h (in Arabic: 45ث, 3د 20ث, ...); "—" when there is none."""
    if seconds is None:
        return "—"
    u = {unit: text(f"unit.{unit}", lang) for unit in ("s", "m", "h", "d")}
    s = round(seconds)
    if s < 60:
        return f"{s}{u['s']}"
    if s < 3600:
        return f"{s // 60}{u['m']} {s % 60:02d}{u['s']}"
    if s < 86400:
        return f"{s // 3600}{u['h']} {s % 3600 // 60:02d}{u['m']}"
    return f"{s // 86400}{u['d']} {s % 86400 // 3600}{u['h']}"
