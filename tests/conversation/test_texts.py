"""The text catalogue (texts/): both languages have every key with the same placeholders, the
lookup's rules (fallback, unknown key, placeholders, channel variants, Arabic commands), and no
user-facing text left in the adapters (bot/, web/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import texts
from texts import CATALOGUES, LRM, MissingText, on_web, placeholders, template, text, value

ROOT = Path(__file__).resolve().parents[2]
EN, AR = CATALOGUES["en"], CATALOGUES["ar"]
NAMESPACES: tuple[str, ...] = ("hint", "customer", "agent", "page", "chat", "console", "faqed")
NAMESPACES += ("roster", "hooks", "value", "unit", "people", "link", "account", "password")
ADAPTER_FILES = sorted(
    path
    for pattern in ("bot/*.py", "web/*.py", "web/templates/*.html", "web/static/*.js")
    for path in ROOT.glob(pattern)
)


def _filled(key: str, lang: str, channel: str | None = None) -> str:
    fields = placeholders(template(key, lang, channel))
    return text(key, lang, channel=channel, **{f: f"<{f}>" for f in fields})


def test_every_key_is_in_both_languages_with_the_same_placeholders() -> None:
    assert set(EN) == set(AR)
    for key in EN:
        assert placeholders(EN[key]) == placeholders(AR[key]), key
        assert EN[key].strip() and AR[key].strip(), key


def test_keys_are_namespaced_variants_have_a_base_and_embedded_texts_exist() -> None:
    for key in EN:
        assert key.split(".")[0] in NAMESPACES, key
        base, _, channel = key.partition("@")
        if channel:
            assert channel == texts.WEB and base in EN, key
        for field in placeholders(EN[key]):
            if "." in field:  # an embedded text
                assert field in EN and "@" not in field, (key, field)


def test_an_unknown_language_falls_back_to_english() -> None:
    assert text("customer.yes", "fr") == "Yes"
    assert text("customer.yes", "ar") == "نعم"
    assert value("priority", "high", "fr") == "high"
    assert texts.duration(200, "fr") == "3m 20s"


def test_a_key_missing_from_a_catalogue_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(texts.CATALOGUES, "ar", {k: v for k, v in AR.items() if k != "page.app"})
    assert text("page.app", "ar") == "Sanad"
    assert text("page.login", "ar") == "تسجيل الدخول"


def test_an_unknown_key_or_a_missing_value_is_a_clear_error() -> None:
    with pytest.raises(MissingText, match=r"no text 'customer\.nope'"):
        text("customer.nope", "en")
    with pytest.raises(MissingText, match="needs a value for 'ticket'"):
        text("customer.reopened", "en")
    assert isinstance(MissingText("x"), KeyError)


def test_template_is_unfilled_and_text_fills_named_placeholders() -> None:
    assert template("console.load", "en") == "Chats {load} / {capacity}"
    assert text("console.load", "en", load=1, capacity=3) == "Chats 1 / 3"
    # Escaped braces are shown as braces.
    assert "{name}, {agent}, {ticket}" in text("roster.canned_help", "en")


@given(st.text(max_size=40))
def test_a_value_is_inserted_as_is_never_read_as_a_template(said: str) -> None:
    assert text("customer.from_agent", "en", agent="Amal", text=said) == f"Amal: {said}"


def test_values_and_durations() -> None:
    assert value("state", "queued", "ar") == "في الانتظار"
    assert value("state", "weird", "ar") == "weird"  # an unknown stored value shows as stored
    assert value("event", "some_new_event", "en") == "some new event"
    assert value("state", None, "en") == ""
    assert [texts.duration(s, "ar") for s in (45, 200, 3900, 90000)] == [
        "45ث",
        "3د 20ث",
        "1س 05د",
        "1ي 1س",
    ]
    assert texts.duration(None, "en") == "—"


@pytest.mark.parametrize("lang", texts.LANGS)
def test_the_web_variant_is_what_on_web_makes_of_the_telegram_text(lang: str) -> None:
    changed = 0
    for key in EN:
        if key.startswith("customer."):
            telegram = _filled(key, lang)
            web = _filled(key, lang, texts.WEB)
            assert on_web(telegram) == web, key
            changed += telegram != web
    assert changed == 6  # greeting, help, queued, no_agents, handed_back, cancelled
    assert "/cancel" not in text(
        "customer.queued", lang, channel="web", position=1, ticket=2, wait=""
    )


def test_arabic_commands_carry_a_left_to_right_mark_in_every_text() -> None:
    for key in AR:
        for found in re.finditer(r"(?<![\w:/])/[a-z]+", AR[key]):
            assert AR[key][found.start() - 1] == LRM, key
    assert all(LRM not in entry for entry in EN.values())


# ---------------------------------------------------------------------- the adapters


def _literal_keys(source: str) -> set[str]:
    names = "|".join(NAMESPACES)
    found = re.findall(rf"""["']((?:{names})\.[\w.@]*)["']""", source)
    return {key for key in found if not key.endswith((".html", ".js", ".css"))}


def test_every_key_named_in_the_code_and_the_templates_exists() -> None:
    seen = 0
    for path in ADAPTER_FILES:
        for key in _literal_keys(path.read_text(encoding="utf-8")):
            seen += 1
            if key.endswith((".", "_")):  # a prefix: 'console.' ~ status, f"agent.{kind}"
                assert any(k.startswith(key) for k in EN), (path.name, key)
            else:
                assert key in EN, (path.name, key)
    assert seen > 300


def test_no_arabic_text_is_left_in_the_adapters() -> None:
    """Every Arabic word the users see comes from texts/ar.py (the widget, embedded in other
    sites without a page of ours, keeps a copy checked below)."""
    arabic = re.compile(r"[\u0600-\u06ff]")
    for path in ADAPTER_FILES:
        if path.name == "widget.js":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not arabic.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def _code(path: Path) -> str:
    """The file without its comments (which may quote a text while explaining it)."""
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".js":
        return re.sub(r"(?<![:\\])//.*", "", source)
    if path.suffix == ".html":
        return re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    return re.sub(r"(?m)^\s*#.*$", "", source)


def test_no_english_sentence_of_the_catalogue_is_written_in_the_adapters() -> None:
    sources = {p: _code(p) for p in ADAPTER_FILES if p.name != "widget.js"}
    for key, entry in EN.items():
        sentence = REFERENCE_FREE.sub("", entry)
        if len(sentence.split()) < 4:
            continue  # short labels ("Send", "Status") are also code words
        quoted = re.compile(rf"[\"'>]\s*{re.escape(sentence)}")
        for path, source in sources.items():
            assert not quoted.search(source), (key, path.name)


REFERENCE_FREE = re.compile(r"\{[\w.@]+\}")


@pytest.mark.parametrize("lang", texts.LANGS)
def test_the_widget_says_what_the_catalogue_says(lang: str) -> None:
    widget = (ROOT / "web/static/widget.js").read_text(encoding="utf-8")
    pair = f"open: {json.dumps(text('chat.title', lang), ensure_ascii=False)}, "
    pair += f"close: {json.dumps(text('chat.widget_close', lang), ensure_ascii=False)}"
    assert pair in widget
