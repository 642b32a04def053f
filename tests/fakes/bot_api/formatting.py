"""``parse_mode`` (HTML, MarkdownV2) turned into plain ``text`` + ``entities`` the way Telegram
does, with its "can't parse entities" errors, and the ``bot_command`` entities Telegram adds to
users' ``/commands``.  Sanad sends plain text; the parsers keep the fake honest for any caller
that sets ``parse_mode`` (legacy Markdown, custom emoji and blockquotes are not modelled)."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.fakes.bot_api.model import JSON, bad_request, utf16_len

_BOT_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")


class _EntityError(Exception):
    pass


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _TextBuilder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0  # in UTF-16 code units
        self.entities: list[JSON] = []

    def append(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def add_entity(self, type_: str, start: int, **extra: str | None) -> None:
        if self.offset > start:
            self.entities.append({"type": type_, "offset": start, "length": self.offset - start})
            self.entities[-1].update({k: v for k, v in extra.items() if v is not None})

    def result(self) -> tuple[str, list[JSON]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


_HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
}
_HTML_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def _parse_html(src: str) -> tuple[str, list[JSON]]:
    out = _TextBuilder()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            m = _HTML_ENTITY_RE.match(src, i)
            if m:
                out.append(html.unescape(m.group(0)))
                i = m.end()
            else:
                out.append(c)
                i += 1
            continue
        if c != "<":
            out.append(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and src[i] == "/":
            end = src.find(">", i)
            if end < 0:
                raise _EntityError(f"Unclosed end tag at byte offset {_byte_offset(src, begin)}")
            name = src[i + 1 : end].strip().lower()
            if not stack:
                raise _EntityError(f"Unexpected end tag at byte offset {_byte_offset(src, begin)}")
            open_name, start, open_attrs = stack.pop()
            if name != open_name:
                raise _EntityError(
                    f"Unmatched end tag at byte offset {_byte_offset(src, begin)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            _close_html_entity(out, stack, open_name, start, open_attrs)
            i = end + 1
            continue
        j = i
        while j < n and not src[j].isspace() and src[j] not in ">/":
            j += 1
        if j >= n:
            raise _EntityError(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
        name = src[i:j].lower()
        if name not in _HTML_TAGS:
            raise _EntityError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, begin)}'
            )
        attrs: dict[str, str] = {}
        i = j
        while True:
            while i < n and src[i].isspace():
                i += 1
            if i >= n:
                raise _EntityError(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
            if src[i] == ">":
                i += 1
                break
            k = i
            while k < n and not src[k].isspace() and src[k] not in "=>":
                k += 1
            attr_name = src[i:k].lower()
            if k >= n or src[k] != "=":
                raise _EntityError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{name}" at byte offset {_byte_offset(src, begin)}'
                )
            k += 1
            if k < n and src[k] in "\"'":
                close = src.find(src[k], k + 1)
                if close < 0:
                    raise _EntityError(
                        f"Unclosed end of attribute value at byte offset {_byte_offset(src, k)}"
                    )
                value = src[k + 1 : close]
                i = close + 1
            else:
                m_end = k
                while m_end < n and not src[m_end].isspace() and src[m_end] != ">":
                    m_end += 1
                value = src[k:m_end]
                i = m_end
            attrs[attr_name] = html.unescape(value)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _EntityError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, begin)}'
            )
        stack.append((name, out.offset, attrs))
    if stack:
        raise _EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _close_html_entity(
    out: _TextBuilder,
    stack: list[tuple[str, int, dict[str, str]]],
    name: str,
    start: int,
    attrs: dict[str, str],
) -> None:
    type_ = _HTML_TAGS[name]
    if type_ == "text_link":
        if attrs.get("href"):
            out.add_entity("text_link", start, url=attrs["href"])
    elif type_ == "code":
        language = attrs.get("class", "")
        if stack and stack[-1][0] == "pre" and language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
            return
        out.add_entity("code", start)
    elif type_ == "pre":
        out.add_entity("pre", start, language=attrs.get("language"))
    else:
        out.add_entity(type_, start)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}
# Opening (and closing) marker of each MarkdownV2 entity but links and pre.
_MDV2_MARKERS = {
    "__": "underline",
    "||": "spoiler",
    "_": "italic",
    "*": "bold",
    "~": "strikethrough",
}


def _mdv2_closes(top: str, src: str, i: int) -> int:
    """Length of the marker at ``src[i]`` that closes entity ``top``; 0 when it does not."""
    if top == "pre":
        return 3 if src.startswith("```", i) else 0
    if top == "code":
        return 1 if src[i] == "`" else 0
    if top == "text_link":
        return 1 if src[i] == "]" else 0
    if top == "italic" and src.startswith("__", i):
        return 0  # "__" inside italic opens underline
    marker = next(m for m, kind in _MDV2_MARKERS.items() if kind == top)
    return len(marker) if src.startswith(marker, i) else 0


def _parse_markdown_v2(src: str) -> tuple[str, list[JSON]]:
    out = _TextBuilder()
    # (entity type, UTF-16 start offset, source index, pre language)
    stack: list[tuple[str, int, int, str | None]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if c == "\\" and i + 1 < n and 0 < ord(src[i + 1]) < 127:
            out.append(src[i + 1])
            i += 2
            continue
        if c not in _MDV2_RESERVED or (in_code and c != "`"):
            out.append(c)
            i += 1
            continue
        closing = _mdv2_closes(stack[-1][0], src, i) if stack else 0
        if closing:
            type_, start, _, language = stack.pop()
            i += closing
            if type_ != "text_link":
                out.add_entity(type_, start, language=language or None)
                continue
            if i < n and src[i] == "(":
                j = i + 1
                chars: list[str] = []
                while j < n and src[j] != ")":
                    if src[j] == "\\" and j + 1 < n:
                        j += 1
                    chars.append(src[j])
                    j += 1
                if j >= n:
                    raise _EntityError(
                        f"Can't find end of a url at byte offset {_byte_offset(src, i)}"
                    )
                i = j + 1
                if chars:
                    out.add_entity("text_link", start, url="".join(chars))
            continue
        # Start of a new entity.
        begin = i
        marker = next((m for m in _MDV2_MARKERS if src.startswith(m, i)), None)
        if marker is not None:
            stack.append((_MDV2_MARKERS[marker], out.offset, begin, None))
            i += len(marker)
        elif c == "[":
            stack.append(("text_link", out.offset, begin, None))
            i += 1
        elif src.startswith("```", i):
            i += 3
            newline = src.find("\n", i)
            language = ""
            if newline >= 0 and re.fullmatch(r"[\w+#.-]*", src[i:newline]):
                language = src[i:newline]
                i = newline + 1
            stack.append(("pre", out.offset, begin, language))
        elif c == "`":
            stack.append(("code", out.offset, begin, None))
            i += 1
        else:
            raise _EntityError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
    if stack:
        type_, _, begin, _ = stack[-1]
        raise _EntityError(
            f"Can't find end of {_MDV2_NAMES[type_]} entity at byte offset "
            f"{_byte_offset(src, begin)}"
        )
    return out.result()


def _trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram strips leading/trailing whitespace; shift and clip the entities accordingly."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    result: list[JSON] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


def format_text(text: str, parse_mode: Any) -> tuple[str, list[JSON]]:
    """The plain text and entities Telegram stores for ``text`` sent with ``parse_mode``."""
    mode = str(parse_mode or "").lower()
    try:
        if not mode:
            return _trim(text, [])
        if mode == "html":
            return _trim(*_parse_html(text))
        if mode == "markdownv2":
            return _trim(*_parse_markdown_v2(text))
    except _EntityError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    raise bad_request(f"unsupported parse_mode {parse_mode}")


def bot_command_entities(text: str) -> list[JSON]:
    """The ``bot_command`` entities Telegram gives a user's message (``/start ref``)."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for m in _BOT_COMMAND_RE.finditer(text)
    ]
