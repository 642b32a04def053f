"""An in-process fake of the Telegram Bot API for tests.

``FakeBotApi`` is a small aiohttp server on ``127.0.0.1`` (random free port) that answers the Bot
API calls python-telegram-bot (PTB) makes, so the *real* ``telegram.Bot`` / ``Application`` can run
against it, both with long polling (``getUpdates``) and with direct ``Bot`` calls.  Tests drive the
"users" side (queue updates) and inspect what the bot sent.

Usage::

    async def test_echo() -> None:
        async with FakeBotApi(token="123:ABC") as fake:
            app = fake.application_builder().build()   # token + base_url + base_file_url set
            app.add_handler(MessageHandler(filters.TEXT, echo))
            await app.initialize()
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                sara = fake.user(id=1001, first_name="Sara", language_code="ar")
                fake.send_text(sara, "where is my order?")
                reply = await fake.wait_for_message(sara)
                assert reply["text"] == "where is my order?"
            finally:
                await app.updater.stop()
                await app.stop()
                await app.shutdown()

Without the helpers, point PTB at the fake with
``ApplicationBuilder().token(fake.token).base_url(f"{fake.url}/bot")
.base_file_url(f"{fake.url}/file/bot")`` (PTB appends the token itself).

Users' side (all return Telegram-shaped JSON dicts, exactly what PTB receives):

* ``fake.user(id, first_name, ...)`` -> ``FakeUser`` (also registers its private chat,
  ``chat.id == user.id``); ``fake.group(id, title, ...)`` -> ``FakeChat`` for group chats.
* ``fake.send_text(user, text, chat=None, reply_to=None)``, ``send_photo``, ``send_document``,
  ``send_voice``, ``send_sticker``, ``send_raw(user, **content)`` queue a ``message`` update and
  return the Message dict (``/commands`` get ``bot_command`` entities like real Telegram).
* ``fake.edit_text(user, message, new_text)`` queues an ``edited_message`` update.
* ``fake.press(user, bot_message, callback_data)`` queues a ``callback_query`` for a button that
  must exist on the (current version of the) bot message; returns the CallbackQuery dict.
* ``fake.queue_update({"my_chat_member": {...}})`` queues any other update.

Bot's side:

* ``await fake.wait_for_message(chat, predicate=None, contains=None, timeout=5.0)`` returns the
  next not-yet-consumed bot message in the chat (sendMessage/copyMessage/sendPhoto/...), or fails
  with an ``AssertionError`` showing the chat log and failed API calls.
* ``await fake.assert_no_message(chat, within=0.3)``; ``await fake.wait_for_call(method, ...)``.
* ``fake.messages(chat)`` (bot messages, current state after edits), ``fake.message(chat, id)``,
  ``fake.edit_history(chat, id)``, ``fake.is_deleted(chat, id)``, ``fake.describe_chat(chat)``,
  ``fake.callback_answer(query)``, ``fake.commands(scope=None, language_code="")``,
  ``fake.calls`` (``ApiCall(method, params, status, response)`` for every call but getUpdates,
  params normalised: ``chat_id`` is an int, ``reply_markup`` a dict, whatever the encoding),
  ``fake.calls_to(method)``, ``fake.polls`` (getUpdates log), ``fake.file_bytes(file_id)``.

Slow server: ``fake.response_delay_s = 0.05`` delays every answer but getUpdates.

Fault injection: ``fake.block(chat)`` / ``fake.unblock(chat)`` (403 "Forbidden: bot was blocked by
the user"), ``fake.flood(n, retry_after=1)`` (next ``n`` send*/edit*/copyMessage calls get 429 with
``parameters.retry_after``), ``fake.fail_next(method, code, description)``.

Webhooks: ``await fake.post_update_to(url, update, secret_token=None)`` posts an update with the
``X-Telegram-Bot-Api-Secret-Token`` header and returns the HTTP status;
``await fake.deliver_to_webhook()`` posts the queued updates to the URL set with ``setWebhook``.

Telegram behaviours reproduced on purpose: ``getUpdates`` long polling with ``offset``
confirmation (an update is re-delivered until confirmed), sticky ``allowed_updates``, 409 when a
webhook is set or when a newer ``getUpdates`` supersedes a pending one; ``parse_mode`` (HTML,
MarkdownV2, Markdown) is parsed into plain ``text`` + ``entities`` with Telegram's "can't parse
entities" errors; text is trimmed and limited to 4096 characters, captions to 1024; callback_data
is limited to 64 bytes; editing without a change gives "message is not modified"; editMessageText
without ``reply_markup`` removes the inline keyboard; unknown chats give "chat not found" unless
``FakeBotApi(strict_chats=False)``; answering a callback query twice fails.  Not modelled: inline
mode, payments, forum topics, media groups, automatic url/mention entities in bot messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import itertools
import json
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext._applicationbuilder import InitApplicationBuilder

__all__ = [
    "ApiCall",
    "FakeBotApi",
    "FakeChat",
    "FakeUser",
    "PollRecord",
    "UploadedFile",
]

JSON: TypeAlias = dict[str, Any]
MessageRef: TypeAlias = int | Mapping[str, Any]
"""A message id (in the user's private chat) or a Message dict."""

_LOGGER = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

# Update types Telegram delivers when allowed_updates is unset or [].
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters that are always strings (never JSON-decoded when they arrive form-encoded).
_STRING_PARAMS = frozenset(
    {
        "action",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "certificate",
        "description",
        "document",
        "emoji",
        "file_id",
        "first_name",
        "game_short_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "phone_number",
        "photo",
        "question",
        "secret_token",
        "short_description",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "video",
        "video_note",
        "voice",
    }
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Message fields that copyMessage carries over to the copy.
_COPYABLE_FIELDS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "photo",
    "document",
    "voice",
    "sticker",
    "video",
    "video_note",
    "audio",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "show_caption_above_media",
    "has_media_spoiler",
)
_CONTENT_FIELDS = ("text", "caption", "photo", "document", "voice", "sticker", "video", "audio")

_BOT_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")
_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


# --------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------


@dataclass
class FakeUser:
    """A Telegram user; ``to_dict()`` is the ``User`` JSON object."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    is_premium: bool | None = None

    @property
    def chat_id(self) -> int:
        """The id of the private chat with the bot (equal to the user id)."""
        return self.id

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code", "is_premium"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class FakeChat:
    """A chat (``private``, ``group``, ``supergroup`` or ``channel``); ``to_dict()`` is its JSON."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool | None = None

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name", "is_forum"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


ChatRef: TypeAlias = int | FakeUser | FakeChat | Mapping[str, Any]
"""A chat id, a ``FakeUser`` (its private chat), a ``FakeChat``, a Chat dict or a Message dict."""


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part received by the fake."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class ApiCall:
    """One Bot API call: normalised ``params``, HTTP ``status`` and the JSON ``response``."""

    method: str
    params: JSON
    status: int
    response: JSON
    files: Mapping[str, UploadedFile] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return self.response.get("description")


@dataclass(frozen=True)
class PollRecord:
    """One answered getUpdates call and the update ids it returned."""

    params: JSON
    update_ids: list[int]
    status: int


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(reason: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {reason}")


class _Signal:
    """Wake every waiter whenever ``notify()`` is called (edge-triggered broadcast)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)


@dataclass
class _Injection:
    code: int
    description: str
    parameters: JSON | None
    remaining: int


@dataclass
class _StoredMessage:
    message: JSON
    from_bot: bool
    history: list[JSON] = field(default_factory=list)
    consumed: bool = False
    deleted: bool = False


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    file_path: str
    # For photos: all sizes of the same picture, so the photo can be re-sent by any file_id.
    photo_sizes: list[JSON] | None = None
    extra: JSON = field(default_factory=dict)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------------------------
# Formatting: parse_mode -> (plain text, entities), mimicking Telegram's parsers and errors
# --------------------------------------------------------------------------------------------


class _EntityError(Exception):
    pass


class _TextBuilder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0  # in UTF-16 code units
        self.entities: list[JSON] = []

    def append(self, text: str) -> None:
        self.parts.append(text)
        self.offset += _utf16_len(text)

    def add_entity(self, type_: str, start: int, **extra: Any) -> None:
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
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
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
            if src[i] == "/" and i + 1 < n and src[i + 1] == ">":
                i += 2
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
                quote = src[k]
                close = src.find(quote, k + 1)
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
        url = attrs.get("href", "")
        if not url:
            return
        out.add_entity("text_link", start, url=url)
    elif type_ == "code":
        language = attrs.get("class", "")
        if stack and stack[-1][0] == "pre" and language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
            return
        out.add_entity("code", start)
    elif type_ == "pre":
        out.add_entity("pre", start, language=attrs.get("language"))
    elif type_ == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        out.add_entity(kind, start)
    elif type_ == "custom_emoji":
        out.add_entity("custom_emoji", start, custom_emoji_id=attrs.get("emoji-id"))
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
    "custom_emoji": "CustomEmoji",
}


def _parse_markdown_v2(src: str) -> tuple[str, list[JSON]]:
    out = _TextBuilder()
    # (entity type, UTF-16 start offset, source index, pre language)
    stack: list[tuple[str, int, int, str | None]] = []
    quote_start: int | None = None
    i, n = 0, len(src)

    def reserved(ch: str) -> _EntityError:
        return _EntityError(
            f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        c = src[i]
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if c == ">" and not in_code and (i == 0 or src[i - 1] == "\n"):
            if quote_start is None:  # consecutive "> " lines form one blockquote
                quote_start = out.offset
            i += 1
            continue
        if c == "\\" and i + 1 < n and 0 < ord(src[i + 1]) < 127:
            out.append(src[i + 1])
            i += 2
            continue
        if c == "\n" and quote_start is not None and not in_code:
            following = src[i + 1] if i + 1 < n else ""
            if following != ">":
                out.add_entity("blockquote", quote_start)
                quote_start = None
        if c not in _MDV2_RESERVED or (in_code and c != "`"):
            out.append(c)
            i += 1
            continue
        top = stack[-1][0] if stack else None
        closes = False
        if top == "bold":
            closes = c == "*"
        elif top == "italic":
            closes = c == "_" and src[i + 1 : i + 2] != "_"
        elif top == "underline":
            closes = src[i : i + 2] == "__"
        elif top == "strikethrough":
            closes = c == "~"
        elif top == "spoiler":
            closes = src[i : i + 2] == "||"
        elif top == "code":
            closes = c == "`"
        elif top == "pre":
            closes = src[i : i + 3] == "```"
        elif top in ("text_link", "custom_emoji"):
            closes = c == "]"
        if closes:
            type_, start, _, language = stack.pop()
            if type_ in ("underline", "spoiler"):
                i += 2
            elif type_ == "pre":
                i += 3
            else:
                i += 1
            if type_ in ("text_link", "custom_emoji"):
                url = ""
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
                    url = "".join(chars)
                    i = j + 1
                if type_ == "custom_emoji":
                    emoji_id = url.partition("id=")[2]
                    out.add_entity("custom_emoji", start, custom_emoji_id=emoji_id)
                elif url:
                    out.add_entity("text_link", start, url=url)
                continue
            if type_ == "pre":
                out.add_entity("pre", start, language=language or None)
            else:
                out.add_entity(type_, start)
            continue
        # Start of a new entity.
        begin = i
        if c == "_" and src[i : i + 2] == "__":
            stack.append(("underline", out.offset, begin, None))
            i += 2
        elif c == "_":
            stack.append(("italic", out.offset, begin, None))
            i += 1
        elif c == "*":
            stack.append(("bold", out.offset, begin, None))
            i += 1
        elif c == "~":
            stack.append(("strikethrough", out.offset, begin, None))
            i += 1
        elif c == "|" and src[i : i + 2] == "||":
            stack.append(("spoiler", out.offset, begin, None))
            i += 2
        elif c == "[":
            stack.append(("text_link", out.offset, begin, None))
            i += 1
        elif c == "!" and src[i : i + 2] == "![":
            stack.append(("custom_emoji", out.offset, begin, None))
            i += 2
        elif c == "`" and src[i : i + 3] == "```":
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
            raise reserved(c)
    if stack:
        type_, _, begin, _ = stack[-1]
        raise _EntityError(
            f"Can't find end of {_MDV2_NAMES[type_]} entity at byte offset "
            f"{_byte_offset(src, begin)}"
        )
    if quote_start is not None:
        out.add_entity("blockquote", quote_start)
    return out.result()


def _parse_markdown(src: str) -> tuple[str, list[JSON]]:
    """Legacy ``Markdown`` parse mode."""
    out = _TextBuilder()
    i, n = 0, len(src)
    kinds = {"*": "bold", "_": "italic", "`": "code", "[": "text_link"}
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.append(src[i + 1])
            i += 2
            continue
        if c not in kinds:
            out.append(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = src[i : i + 3] == "```"
        language: str | None = None
        if is_pre:
            i += 3
            newline = src.find("\n", i)
            if newline >= 0 and re.fullmatch(r"[\w+#.-]+", src[i:newline]):
                language = src[i:newline]
                i = newline + 1
        else:
            i += 1
        start = out.offset
        while i < n and (src[i] != end_char or (is_pre and src[i : i + 3] != "```")):
            out.append(src[i])
            i += 1
        if i >= n:
            raise _EntityError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(src, begin)}"
            )
        i += 3 if is_pre else 1
        if is_pre:
            out.add_entity("pre", start, language=language)
        elif c == "[":
            url = ""
            if i < n and src[i] == "(":
                close = src.find(")", i)
                if close < 0:
                    raise _EntityError(
                        f"Can't find end of a url at byte offset {_byte_offset(src, i)}"
                    )
                url = src[i + 1 : close]
                i = close + 1
            if url:
                out.add_entity("text_link", start, url=url)
        else:
            out.add_entity(kinds[c], start)
    return out.result()


def _trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram strips leading/trailing whitespace; shift and clip the entities accordingly."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = _utf16_len(text[: len(text) - len(text.lstrip())])
    total = _utf16_len(stripped)
    result: list[JSON] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


def _format(text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
    if entities:
        if not isinstance(entities, list):
            raise _bad_request("can't parse entities JSON object")
        return _trim(text, [dict(e) for e in entities])
    mode = str(parse_mode or "").lower()
    parsed: list[JSON]
    try:
        if not mode:
            plain, parsed = text, []
        elif mode == "html":
            plain, parsed = _parse_html(text)
        elif mode == "markdownv2":
            plain, parsed = _parse_markdown_v2(text)
        elif mode == "markdown":
            plain, parsed = _parse_markdown(text)
        else:
            raise _bad_request(f"unsupported parse_mode {parse_mode}")
    except _EntityError as exc:
        raise _bad_request(f"can't parse entities: {exc}") from None
    return _trim(plain, parsed)


def _bot_command_entities(text: str) -> list[JSON]:
    return [
        {"type": "bot_command", "offset": _utf16_len(text[: m.start()]), "length": _utf16_len(m[0])}
        for m in _BOT_COMMAND_RE.finditer(text)
    ]


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


class FakeBotApi:
    """Fake Telegram Bot API server; see the module docstring for a tour."""

    def __init__(
        self,
        token: str = "123456789:TEST-token_for-FakeBotApi",
        *,
        bot_username: str = "sanad_test_bot",
        bot_first_name: str = "Sanad",
        strict_chats: bool = True,
    ) -> None:
        self.token = token
        bot_id_part = token.split(":", 1)[0]
        self.bot_user = FakeUser(
            id=int(bot_id_part) if bot_id_part.isdigit() else 123456789,
            first_name=bot_first_name,
            username=bot_username,
            is_bot=True,
        )
        self.strict_chats = strict_chats
        # Seconds every call but getUpdates takes to answer (a far or busy Bot API server).
        self.response_delay_s = 0.0

        self.calls: list[ApiCall] = []
        self.polls: list[PollRecord] = []
        self.dropped_updates: list[JSON] = []
        self.internal_errors: list[str] = []
        self.webhook: JSON = {}

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = False
        self._updates_signal: _Signal | None = None
        self._activity_signal: _Signal | None = None

        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, FakeChat] = {}
        self._messages: dict[int, dict[int, _StoredMessage]] = {}
        self._message_ids: dict[int, Iterator[int]] = {}
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(100_001)
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._blocked: set[int] = set()
        self._flood: _Injection | None = None
        self._injections: dict[str, list[_Injection]] = {}
        self._callback_queries: dict[str, JSON] = {}
        self._callback_answers: dict[str, JSON] = {}
        self._query_ids = itertools.count(4_000_000_001)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._consumed_calls: set[int] = set()

        self._methods: dict[str, Callable[[JSON, dict[str, UploadedFile]], Any]] = {
            name.removeprefix("_api_").lower(): getattr(self, name)
            for name in dir(self)
            if name.startswith("_api_")
        }
        self._method_names = {
            name.removeprefix("_api_").lower(): name.removeprefix("_api_")
            for name in dir(self)
            if name.startswith("_api_")
        }
        self._method_names["getupdates"] = "getUpdates"

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on 127.0.0.1 on a random free port (see ``url``)."""
        if self._runner is not None:
            raise RuntimeError("FakeBotApi is already running")
        self._closing = False
        self._updates_signal = _Signal()
        self._activity_signal = _Signal()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Release pending long polls and shut the server down. Safe to call twice."""
        if self._runner is None:
            return
        self._closing = True
        self._notify_updates()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; PTB base_url is ``f"{url}/bot"``."""
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def sanad_env(self) -> dict[str, str]:
        """The settings that point Sanad's bot at this fake (``load_settings(env=...)``)."""
        return {
            "SANAD_TELEGRAM_TOKEN": self.token,
            "SANAD_TELEGRAM_BASE_URL": self.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": self.base_file_url,
        }

    def bot(self, **kwargs: Any) -> Bot:
        """A ``telegram.Bot`` pointed at the fake (not initialised; use ``async with``)."""
        from telegram import Bot

        return Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url, **kwargs)

    def application_builder(self) -> InitApplicationBuilder:
        """An ``ApplicationBuilder`` with token, base_url and base_file_url already set."""
        from telegram.ext import ApplicationBuilder

        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    # ---------------------------------------------------------------- users and chats

    def user(
        self,
        id: int,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_premium: bool | None = None,
    ) -> FakeUser:
        """Register a user and its private chat with the bot (``chat.id == user.id``)."""
        user = FakeUser(
            id=id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self._users[id] = user
        self._chats[id] = FakeChat(
            id=id,
            type="private",
            first_name=first_name,
            last_name=last_name,
            username=username,
        )
        return user

    def group(
        self,
        id: int,
        title: str = "Test group",
        *,
        type: str = "supergroup",
        username: str | None = None,
        is_forum: bool | None = None,
    ) -> FakeChat:
        """Register a group/supergroup/channel chat the bot is a member of."""
        chat = FakeChat(id=id, type=type, title=title, username=username, is_forum=is_forum)
        self._chats[id] = chat
        return chat

    def get_chat(self, chat: ChatRef) -> FakeChat:
        """The registered chat for an id / user / chat / chat dict."""
        chat_id = self._chat_id(chat)
        if chat_id not in self._chats:
            raise KeyError(f"unknown chat {chat_id}; register it with fake.user() or fake.group()")
        return self._chats[chat_id]

    # ---------------------------------------------------------------- queueing updates

    def queue_update(self, update: Mapping[str, Any]) -> JSON:
        """Queue an arbitrary update (``update_id`` is assigned); returns the full update."""
        full: JSON = {"update_id": next(self._update_ids)}
        full.update({k: copy.deepcopy(v) for k, v in update.items() if k != "update_id"})
        self._updates.append(full)
        self._notify_updates()
        return copy.deepcopy(full)

    def send_raw(
        self,
        user: FakeUser,
        *,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        **content: Any,
    ) -> JSON:
        """Queue a ``message`` update from ``user`` with arbitrary content fields."""
        target = self._user_chat(user, chat)
        if reply_to is not None:
            content["reply_to_message"] = self._reply_snapshot(target.id, reply_to)
        message = self._new_message(target, user.to_dict(), content, from_bot=False)
        self.queue_update({"message": message})
        return copy.deepcopy(message)

    def send_text(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """Queue a text message; ``/commands`` get ``bot_command`` entities automatically."""
        content: JSON = {"text": text}
        found = entities if entities is not None else _bot_command_entities(text)
        if found:
            content["entities"] = found
        return self.send_raw(user, chat=chat, reply_to=reply_to, **content)

    def send_photo(
        self,
        user: FakeUser,
        *,
        caption: str | None = None,
        content: bytes | None = None,
        width: int = 1280,
        height: int = 960,
        chat: ChatRef | None = None,
    ) -> JSON:
        """Queue a photo message (three sizes, like Telegram; the largest is last)."""
        sizes = self._new_photo(content, width, height)
        fields: JSON = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self.send_raw(user, chat=chat, **fields)

    def send_document(
        self,
        user: FakeUser,
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        content: bytes | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
    ) -> JSON:
        """Queue a document message."""
        doc = self._new_file("document", content, file_name=file_name, mime_type=mime_type)
        fields: JSON = {"document": doc}
        if caption is not None:
            fields["caption"] = caption
        return self.send_raw(user, chat=chat, **fields)

    def send_voice(
        self,
        user: FakeUser,
        *,
        duration: int = 3,
        content: bytes | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
    ) -> JSON:
        """Queue a voice message."""
        voice = self._new_file("voice", content, duration=duration, mime_type="audio/ogg")
        fields: JSON = {"voice": voice}
        if caption is not None:
            fields["caption"] = caption
        return self.send_raw(user, chat=chat, **fields)

    def send_sticker(
        self, user: FakeUser, *, emoji: str = "👍", chat: ChatRef | None = None
    ) -> JSON:
        """Queue a (static, regular) sticker message."""
        sticker = self._new_file(
            "sticker",
            None,
            width=512,
            height=512,
            is_animated=False,
            is_video=False,
            type="regular",
            emoji=emoji,
        )
        return self.send_raw(user, chat=chat, sticker=sticker)

    def edit_text(self, user: FakeUser, message: MessageRef, new_text: str) -> JSON:
        """Queue an ``edited_message`` update for a text message the user sent earlier."""
        chat_id, message_id = self._message_key(message, default_chat=user.id)
        stored = self._stored(chat_id, message_id)
        if stored is None or stored.from_bot or stored.message.get("from", {}).get("id") != user.id:
            raise AssertionError(f"user {user.id} has no message {message_id} in chat {chat_id}")
        if "text" not in stored.message:
            raise AssertionError(f"message {message_id} in chat {chat_id} has no text to edit")
        stored.history.append(copy.deepcopy(stored.message))
        stored.message["text"] = new_text
        stored.message["edit_date"] = _now()
        stored.message.pop("entities", None)
        found = _bot_command_entities(new_text)
        if found:
            stored.message["entities"] = found
        self.queue_update({"edited_message": copy.deepcopy(stored.message)})
        return copy.deepcopy(stored.message)

    def press(self, user: FakeUser, message: MessageRef, callback_data: str) -> JSON:
        """Press an inline button on a bot message; queues and returns the CallbackQuery."""
        chat_id, message_id = self._message_key(message, default_chat=user.id)
        stored = self._stored(chat_id, message_id)
        if stored is None or stored.deleted:
            raise AssertionError(f"no message {message_id} in chat {chat_id} to press a button on")
        if not stored.from_bot:
            raise AssertionError(f"message {message_id} in chat {chat_id} is not a bot message")
        markup = stored.message.get("reply_markup") or {}
        datas = [
            button.get("callback_data")
            for row in markup.get("inline_keyboard", [])
            for button in row
            if "callback_data" in button
        ]
        if callback_data not in datas:
            raise AssertionError(
                f"message {message_id} in chat {chat_id} has no button with callback_data "
                f"{callback_data!r}; current buttons: {datas!r}"
            )
        query_id = str(next(self._query_ids))
        query: JSON = {
            "id": query_id,
            "from": user.to_dict(),
            "message": copy.deepcopy(stored.message),
            "chat_instance": str(-(abs(chat_id) * 7919 % 10**18) - 1),
            "data": callback_data,
        }
        self._callback_queries[query_id] = query
        self.queue_update({"callback_query": query})
        return copy.deepcopy(query)

    # ---------------------------------------------------------------- inspecting the bot's side

    def messages(self, chat: ChatRef, *, include_deleted: bool = False) -> list[JSON]:
        """Bot messages in ``chat`` in send order, with their current text/markup after edits."""
        chat_id = self._chat_id(chat)
        return [
            copy.deepcopy(stored.message)
            for stored in self._messages.get(chat_id, {}).values()
            if stored.from_bot and (include_deleted or not stored.deleted)
        ]

    def message(self, chat: ChatRef, message_id: int) -> JSON:
        """Current state of any message (user or bot) in ``chat``."""
        stored = self._stored(self._chat_id(chat), message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {self._chat_id(chat)}")
        return copy.deepcopy(stored.message)

    def edit_history(self, chat: ChatRef, message_id: int) -> list[JSON]:
        """Earlier versions of a message, oldest first (the current one is ``message()``)."""
        stored = self._stored(self._chat_id(chat), message_id)
        return copy.deepcopy(stored.history) if stored else []

    def is_deleted(self, chat: ChatRef, message_id: int) -> bool:
        stored = self._stored(self._chat_id(chat), message_id)
        return bool(stored and stored.deleted)

    def calls_to(self, method: str) -> list[JSON]:
        """Params of every successful call to ``method`` (case-insensitive), in order."""
        return [c.params for c in self.calls if c.method.lower() == method.lower() and c.ok]

    def callback_answer(self, query: str | Mapping[str, Any]) -> JSON | None:
        """The answerCallbackQuery params for a query (dict from ``press`` or its id)."""
        query_id = query if isinstance(query, str) else str(query["id"])
        return self._callback_answers.get(query_id)

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSON]:
        """Commands set with setMyCommands for ``scope`` (default scope) and language."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def file_bytes(self, file_id: str) -> bytes | None:
        """Content of a file uploaded by the bot or given to ``send_photo(content=...)``."""
        stored = self._files.get(file_id)
        return stored.data if stored else None

    @property
    def pending_update_count(self) -> int:
        """Updates queued and not yet confirmed through a getUpdates ``offset``."""
        return len(self._updates)

    @property
    def delivered_update_ids(self) -> list[int]:
        """Every update id returned by getUpdates, in order (duplicates = re-deliveries)."""
        return [uid for poll in self.polls for uid in poll.update_ids]

    async def wait_for_message(
        self,
        chat: ChatRef,
        predicate: Callable[[JSON], bool] | None = None,
        *,
        contains: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline, not a cancellation scope
    ) -> JSON:
        """Return (and consume) the next unconsumed bot message in ``chat`` that matches.

        ``contains`` matches a substring of the text or caption.  The returned dict is a snapshot
        of the message's current state.  Raises ``AssertionError`` with the chat log on timeout.
        """
        chat_id = self._chat_id(chat)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for stored in self._messages.get(chat_id, {}).values():
                if not stored.from_bot or stored.consumed or stored.deleted:
                    continue
                msg = stored.message
                if contains is not None and contains not in (
                    msg.get("text") or msg.get("caption") or ""
                ):
                    continue
                if predicate is not None and not predicate(copy.deepcopy(msg)):
                    continue
                stored.consumed = True
                return copy.deepcopy(msg)
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = f" containing {contains!r}" if contains is not None else ""
                what += " matching the predicate" if predicate is not None else ""
                raise AssertionError(
                    f"no new bot message{what} in chat {chat_id} within {timeout}s\n"
                    + self.describe_chat(chat_id)
                )
            await self._activity().wait(remaining)

    async def assert_no_message(self, chat: ChatRef, *, within: float = 0.3) -> None:
        """Fail if the bot sends (or already sent, unconsumed) a message to ``chat``."""
        chat_id = self._chat_id(chat)
        await asyncio.sleep(within)
        pending = [
            stored.message
            for stored in self._messages.get(chat_id, {}).values()
            if stored.from_bot and not stored.consumed and not stored.deleted
        ]
        if pending:
            raise AssertionError(
                f"expected no new bot message in chat {chat_id}, got {len(pending)}\n"
                + self.describe_chat(chat_id)
            )

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSON], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline, not a cancellation scope
    ) -> ApiCall:
        """Return (and consume) the next unconsumed call to ``method`` whose params match."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, call in enumerate(self.calls):
                if index in self._consumed_calls or call.method.lower() != method.lower():
                    continue
                if predicate is not None and not predicate(call.params):
                    continue
                self._consumed_calls.add(index)
                return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n".join(f"  {c.method} {c.status} {c.params}" for c in self.calls[-15:])
                raise AssertionError(
                    f"no call to {method} within {timeout}s; recent calls:\n{recent or '  none'}"
                    + self._internal_errors_text()
                )
            await self._activity().wait(remaining)

    def describe_chat(self, chat: ChatRef) -> str:
        """Human-readable log of a chat: messages (user and bot) and failed calls to it."""
        chat_id = self._chat_id(chat)
        lines = [f"chat {chat_id} log:"]
        for stored in self._messages.get(chat_id, {}).values():
            msg = stored.message
            who = "bot " if stored.from_bot else "user"
            flags = []
            if stored.from_bot:
                flags.append("consumed" if stored.consumed else "NEW")
            if stored.deleted:
                flags.append("deleted")
            if stored.history:
                flags.append(f"edited x{len(stored.history)}")
            body = (
                msg.get("text")
                or msg.get("caption")
                or next((f"<{key}>" for key in _CONTENT_FIELDS if key in msg), "<service>")
            )
            buttons = [
                b.get("callback_data") or b.get("url") or b.get("text")
                for row in (msg.get("reply_markup") or {}).get("inline_keyboard", [])
                for b in row
            ]
            extra = f" buttons={buttons}" if buttons else ""
            lines.append(f"  #{msg['message_id']} {who} [{', '.join(flags)}] {body!r}{extra}")
        if len(lines) == 1:
            lines.append("  (no messages)")
        failed = [
            c for c in self.calls if not c.ok and self._safe_int(c.params.get("chat_id")) == chat_id
        ]
        if failed:
            lines.append("failed calls to this chat:")
            lines += [f"  {c.method} -> {c.status} {c.description}" for c in failed[-10:]]
        return "\n".join(lines) + self._internal_errors_text()

    # ---------------------------------------------------------------- fault injection

    def block(self, chat: ChatRef) -> None:
        """Sends/edits to ``chat`` fail with 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(self._chat_id(chat))

    def unblock(self, chat: ChatRef) -> None:
        self._blocked.discard(self._chat_id(chat))

    def flood(self, n: int = 1, retry_after: int = 1) -> None:
        """The next ``n`` send*/edit*/copyMessage calls fail with 429 (``retry_after`` seconds)."""
        self._flood = _Injection(
            code=429,
            description=f"Too Many Requests: retry after {retry_after}",
            parameters={"retry_after": retry_after},
            remaining=n,
        )

    def fail_next(
        self,
        method: str,
        code: int = 400,
        description: str = "Bad Request: injected failure",
        *,
        times: int = 1,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """The next ``times`` calls to ``method`` fail with ``code``/``description``."""
        self._injections.setdefault(method.lower(), []).append(
            _Injection(code, description, dict(parameters) if parameters else None, times)
        )

    # ---------------------------------------------------------------- webhooks

    async def post_update_to(
        self,
        url: str,
        update: Mapping[str, Any],
        secret_token: str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> int:
        """POST an update to a webhook URL like Telegram does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.post(url, data=json.dumps(dict(update)), headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def deliver_to_webhook(self) -> list[int]:
        """POST queued updates to the ``setWebhook`` URL (with its secret) in order.

        Updates answered with 2xx are confirmed; stops at the first failure.  Returns statuses.
        """
        url = self.webhook.get("url")
        if not url:
            raise AssertionError("no webhook set (setWebhook was not called)")
        statuses: list[int] = []
        while self._updates:
            update = self._updates[0]
            if not self._wanted(update, self._webhook_allowed()):
                self.dropped_updates.append(self._updates.pop(0))
                continue
            status = await self.post_update_to(url, update, self.webhook.get("secret_token"))
            statuses.append(status)
            if not 200 <= status < 300:
                break
            self._updates.pop(0)
        return statuses

    # ================================================================ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        key = request.match_info["method"].lower()
        if key != "getupdates" and key not in self._methods:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        method = self._method_names[key]
        try:
            params, files = await self._read_params(request)
        except _ApiError as exc:
            return web.json_response(exc.body(), status=exc.code)

        if key == "getupdates":
            return await self._handle_get_updates(params)

        if self.response_delay_s:
            await asyncio.sleep(self.response_delay_s)
        status = 200
        try:
            self._check_injections(method, params)
            result = self._methods[key](params, files)
            body: JSON = {"ok": True, "result": result}
        except _ApiError as exc:
            status, body = exc.code, exc.body()
        except Exception:
            status = 500
            error = traceback.format_exc()
            self.internal_errors.append(f"{method}: {error}")
            _LOGGER.error("FakeBotApi bug while handling %s:\n%s", method, error)
            body = {"ok": False, "error_code": 500, "description": "Internal Server Error (fake)"}
        self.calls.append(ApiCall(method, params, status, copy.deepcopy(body), files))
        self._activity().notify()
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                data = stored.data
                if data is None:
                    data = f"fake content of {stored.file_id}".encode()
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        form_encoded = True
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad_request("can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise _bad_request("request body must be a JSON object")
                raw.update(body)
                form_encoded = False
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        files[name] = UploadedFile(
                            field=name,
                            filename=value.filename,
                            content_type=value.content_type,
                            data=value.file.read(),
                        )
                    else:
                        raw[name] = value
        return {k: self._normalise(k, v, form_encoded) for k, v in raw.items()}, files

    @staticmethod
    def _normalise(key: str, value: Any, form_encoded: bool) -> Any:
        """Turn form strings into JSON values (``"1001"`` -> 1001, ``"{...}"`` -> dict)."""
        if not isinstance(value, str) or key in _STRING_PARAMS:
            return value
        if not form_encoded and key not in (
            "chat_id",
            "from_chat_id",
            "message_id",
            "reply_markup",
            "reply_parameters",
            "allowed_updates",
            "entities",
            "caption_entities",
            "commands",
            "scope",
            "link_preview_options",
        ):
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    def _check_injections(self, method: str, params: JSON) -> None:
        queue = self._injections.get(method.lower())
        if queue:
            injection = queue[0]
            injection.remaining -= 1
            if injection.remaining <= 0:
                queue.pop(0)
            raise _ApiError(injection.code, injection.description, injection.parameters)
        sending = method.startswith(("send", "edit")) or method in ("copyMessage", "forwardMessage")
        if sending and self._flood is not None:
            flood = self._flood
            flood.remaining -= 1
            if flood.remaining <= 0:
                self._flood = None
            raise _ApiError(flood.code, flood.description, flood.parameters)
        if sending and self._safe_int(params.get("chat_id")) in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")

    # ================================================================ getUpdates

    async def _handle_get_updates(self, params: JSON) -> web.Response:
        try:
            result = await self._get_updates(params)
        except _ApiError as exc:
            self.polls.append(PollRecord(params, [], exc.code))
            return web.json_response(exc.body(), status=exc.code)
        self.polls.append(PollRecord(params, [u["update_id"] for u in result], 200))
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()  # an older pending getUpdates is now superseded

        offset = self._int(params, "offset", default=0)
        limit = min(max(self._int(params, "limit", default=100), 1), 100)
        try:
            timeout = max(float(params.get("timeout") or 0), 0.0)
        except (TypeError, ValueError):
            raise _bad_request("invalid timeout specified") from None
        if "allowed_updates" in params:  # sticky, like Telegram: omitted = keep the last value
            allowed = params["allowed_updates"]
            if isinstance(allowed, str):
                allowed = [allowed]
            self._allowed_updates = frozenset(allowed) if allowed else None

        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            batch: list[JSON] = []
            for update in list(self._updates):
                if not self._wanted(update, self._allowed_updates):
                    self._updates.remove(update)
                    self.dropped_updates.append(update)
                    continue
                batch.append(update)
                if len(batch) >= limit:
                    break
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return copy.deepcopy(batch)
            assert self._updates_signal is not None
            await self._updates_signal.wait(remaining)

    @staticmethod
    def _wanted(update: JSON, allowed: frozenset[str] | None) -> bool:
        kinds = set(update) - {"update_id"}
        if allowed is None:
            return not kinds <= _DEFAULT_EXCLUDED_UPDATES
        return bool(kinds & allowed)

    def _webhook_allowed(self) -> frozenset[str] | None:
        allowed = self.webhook.get("allowed_updates")
        return frozenset(allowed) if allowed else None

    def _notify_updates(self) -> None:
        if self._updates_signal is not None:
            self._updates_signal.notify()
        if self._activity_signal is not None:
            self._activity_signal.notify()

    def _activity(self) -> _Signal:
        if self._activity_signal is None:
            self._activity_signal = _Signal()
        return self._activity_signal

    # ================================================================ Bot API methods
    # Each _api_<methodName>(params, files) returns the "result" or raises _ApiError.

    def _api_getMe(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return {
            **self.bot_user.to_dict(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_logOut(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        return True

    def _api_close(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        return True

    def _api_setWebhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        url = params.get("url")
        if not isinstance(url, str):
            raise _bad_request("url is empty") if url is None else _bad_request("invalid url")
        loopback = re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])[:/]", url)
        if url and not url.startswith("https://") and not loopback:  # http only for local tests
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if self._truthy(params.get("drop_pending_updates")):
            self._updates.clear()
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
            "ip_address": params.get("ip_address"),
            "has_certificate": "certificate" in files or "certificate" in params,
        }
        if not url:
            self.webhook = {}
        return True

    def _api_deleteWebhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        if self._truthy(params.get("drop_pending_updates")):
            self._updates.clear()
        self.webhook = {}
        return True

    def _api_getWebhookInfo(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        info: JSON = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": bool(self.webhook.get("has_certificate")),
            "pending_update_count": len(self._updates),
        }
        if self.webhook.get("url"):
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
        return info

    def _api_setMyCommands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        clean: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not _COMMAND_NAME_RE.match(name.removeprefix("/")):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise _bad_request(
                    "command description is empty"
                    if not description
                    else "BOT_COMMAND_DESCRIPTION_INVALID"
                )
            clean.append({"command": name.removeprefix("/"), "description": description})
        key = self._commands_key(params.get("scope"), params.get("language_code") or "")
        self._commands[key] = clean
        return True

    def _api_deleteMyCommands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code") or "")
        self._commands.pop(key, None)
        return True

    def _api_getMyCommands(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        key = self._commands_key(params.get("scope"), params.get("language_code") or "")
        return copy.deepcopy(self._commands.get(key, []))

    def _api_sendMessage(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        text = params.get("text")
        if text is None or str(text) == "":
            raise _bad_request("message text is empty")
        plain, entities = _format(str(text), params.get("parse_mode"), params.get("entities"))
        if not plain:
            raise _bad_request("message text is empty")
        if len(plain) > TEXT_LIMIT:
            raise _bad_request("message is too long")
        content: JSON = {"text": plain}
        if entities:
            content["entities"] = entities
        if params.get("link_preview_options"):
            content["link_preview_options"] = params["link_preview_options"]
        return self._bot_send(chat, params, content)

    def _api_sendPhoto(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        upload = self._upload(params, files, "photo")
        if upload is not None:
            sizes = self._new_photo(upload.data, 1280, 960)
        else:
            ref = self._file_ref(params, "photo")
            known = self._files.get(ref)
            if known is not None and known.photo_sizes:
                sizes = copy.deepcopy(known.photo_sizes)
            elif ref.startswith(("http://", "https://")):
                sizes = self._new_photo(None, 1280, 960)
            else:
                raise _bad_request("wrong file identifier/HTTP URL specified")
        content: JSON = {"photo": sizes, **self._caption(params)}
        return self._bot_send(chat, params, content)

    def _api_sendDocument(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_file(params, files, "document")

    def _api_sendVoice(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_file(params, files, "voice")

    def _api_sendSticker(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_file(params, files, "sticker")

    def _api_sendChatAction(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self._target_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _api_copyMessage(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        from_chat_id = self._int(params, "from_chat_id")
        source = self._stored(from_chat_id, self._int(params, "message_id"))
        if source is None or source.deleted:
            raise _bad_request("message to copy not found")
        content: JSON = {
            key: copy.deepcopy(source.message[key])
            for key in _COPYABLE_FIELDS
            if key in source.message
        }
        if not content:  # service messages
            raise _bad_request("message can't be copied")
        if "caption" in params and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption(params))
        message = self._bot_send(chat, params, content)
        return {"message_id": message["message_id"]}

    def _api_editMessageText(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(params)
        if "text" not in stored.message:
            raise _bad_request("there is no text in the message to edit")
        text = params.get("text")
        if text is None or str(text) == "":
            raise _bad_request("message text is empty")
        plain, entities = _format(str(text), params.get("parse_mode"), params.get("entities"))
        if not plain:
            raise _bad_request("message text is empty")
        if len(plain) > TEXT_LIMIT:
            raise _bad_request("message is too long")
        markup = self._markup(params)
        return self._apply_edit(stored, {"text": plain, "entities": entities or None}, markup)

    def _api_editMessageCaption(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(params)
        if "text" in stored.message:
            raise _bad_request("there is no caption in the message to edit")
        caption = self._caption(params)
        changes = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
        }
        return self._apply_edit(stored, changes, self._markup(params))

    def _api_editMessageReplyMarkup(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(params)
        return self._apply_edit(stored, {}, self._markup(params))

    def _api_deleteMessage(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._int(params, "chat_id")
        if chat_id not in self._chats and self.strict_chats:
            raise _bad_request("chat not found")
        stored = self._stored(chat_id, self._int(params, "message_id"))
        if stored is None or stored.deleted:
            raise _bad_request("message to delete not found")
        stored.deleted = True
        return True

    def _api_answerCallbackQuery(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._callback_queries or query_id in self._callback_answers:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._callback_answers[query_id] = dict(params)
        return True

    def _api_getFile(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _bad_request("invalid file_id")
        result: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if stored.data is not None:
            result["file_size"] = len(stored.data)
        return result

    # ================================================================ helpers for methods

    def _target_chat(self, params: JSON) -> FakeChat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self._chats.values():
                if chat.username and chat.username.lower() == raw[1:].lower():
                    return chat
            raise _bad_request("chat not found")
        chat_id = self._safe_int(raw)
        if chat_id is None:
            raise _bad_request("chat not found")
        known = self._chats.get(chat_id)
        if known is not None:
            return known
        if self.strict_chats:
            raise _bad_request("chat not found")
        if chat_id > 0:
            auto = FakeChat(id=chat_id, type="private", first_name="Auto")
        else:
            auto = FakeChat(id=chat_id, type="supergroup", title=f"Auto chat {chat_id}")
        self._chats[chat_id] = auto
        return auto

    def _bot_send(self, chat: FakeChat, params: JSON, content: JSON) -> JSON:
        reply_to: JSON | None = None
        reply_parameters = params.get("reply_parameters")
        reply_to_id = params.get("reply_to_message_id")
        allow_without = self._truthy(params.get("allow_sending_without_reply"))
        if isinstance(reply_parameters, dict):
            reply_to_id = reply_parameters.get("message_id")
            allow_without = allow_without or self._truthy(
                reply_parameters.get("allow_sending_without_reply")
            )
            reply_chat = reply_parameters.get("chat_id")
            if reply_chat is not None and self._safe_int(reply_chat) != chat.id:
                raise _bad_request("replies to other chats are not supported by the fake")
        if reply_to_id is not None:
            stored = self._stored(chat.id, self._safe_int(reply_to_id) or 0)
            if stored is None or stored.deleted:
                if not allow_without:
                    raise _bad_request("message to be replied not found")
            else:
                reply_to = self._reply_snapshot(chat.id, stored.message["message_id"])
        markup = self._markup(params)
        message = self._new_message(chat, self.bot_user.to_dict(), content, from_bot=True)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
        if self._truthy(params.get("protect_content")):
            message["has_protected_content"] = True
        stored_msg = self._messages[chat.id][message["message_id"]]
        stored_msg.message = message
        self._activity().notify()
        return copy.deepcopy(message)

    def _markup(self, params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise _bad_request("can't parse reply keyboard markup JSON object") from None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            keyboard = markup["inline_keyboard"]
            if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in keyboard:
                for button in row:
                    self._check_button(button)
            if not any(keyboard):
                return None  # an empty inline keyboard removes the keyboard
        return copy.deepcopy(markup)

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or not str(button.get("text", "")):
            raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed")
        actions = (
            "callback_data",
            "url",
            "login_url",
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
            "callback_game",
            "pay",
            "web_app",
            "copy_text",
        )
        if not any(key in button for key in actions):
            raise _bad_request("text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = str(button["callback_data"])
            if not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                raise _bad_request("BUTTON_DATA_INVALID")
        if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
            raise _bad_request(
                f"inline keyboard button URL '{button['url']}' is invalid: Unsupported URL protocol"
            )

    def _caption(self, params: JSON) -> JSON:
        caption = params.get("caption")
        if caption is None or caption == "":
            return {}
        plain, entities = _format(
            str(caption), params.get("parse_mode"), params.get("caption_entities")
        )
        if len(plain) > CAPTION_LIMIT:
            raise _bad_request("message caption is too long")
        result: JSON = {}
        if plain:
            result["caption"] = plain
        if entities:
            result["caption_entities"] = entities
        return result

    def _editable(self, params: JSON) -> _StoredMessage:
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID (inline messages are not supported by the fake)")
        chat = self._target_chat(params)
        stored = self._stored(chat.id, self._int(params, "message_id"))
        if stored is None or stored.deleted:
            raise _bad_request("message to edit not found")
        if not stored.from_bot:
            raise _bad_request("message can't be edited")
        return stored

    def _apply_edit(
        self, stored: _StoredMessage, changes: Mapping[str, Any], markup: JSON | None
    ) -> JSON:
        new = copy.deepcopy(stored.message)
        for key, value in changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if markup is None:
            new.pop("reply_markup", None)
        else:
            new["reply_markup"] = markup
        old_view = {k: v for k, v in stored.message.items() if k not in ("edit_date",)}
        new_view = {k: v for k, v in new.items() if k not in ("edit_date",)}
        if old_view == new_view:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        new["edit_date"] = _now()
        stored.history.append(stored.message)
        stored.message = new
        self._activity().notify()
        return copy.deepcopy(new)

    def _send_file(self, params: JSON, files: dict[str, UploadedFile], kind: str) -> JSON:
        chat = self._target_chat(params)
        upload = self._upload(params, files, kind)
        if upload is not None:
            extra: JSON = {}
            if kind == "document":
                extra = {
                    "file_name": upload.filename or "document",
                    "mime_type": upload.content_type or "application/octet-stream",
                }
            elif kind == "voice":
                extra = {
                    "duration": self._int(params, "duration", default=1),
                    "mime_type": "audio/ogg",
                }
            elif kind == "sticker":
                extra = {
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            obj = self._new_file(kind, upload.data, **extra)
        else:
            ref = self._file_ref(params, kind)
            known = self._files.get(ref)
            if known is not None and known.kind == kind:
                obj = {
                    "file_id": known.file_id,
                    "file_unique_id": known.file_unique_id,
                    **known.extra,
                }
            elif ref.startswith(("http://", "https://")) and kind != "sticker":
                name = ref.rsplit("/", 1)[-1] or kind
                extra = {"file_name": name} if kind == "document" else {"duration": 1}
                obj = self._new_file(kind, None, **extra)
            else:
                raise _bad_request("wrong file identifier/HTTP URL specified")
        content: JSON = {kind: obj}
        if kind != "sticker":
            content.update(self._caption(params))
        return self._bot_send(chat, params, content)

    @staticmethod
    def _upload(params: JSON, files: dict[str, UploadedFile], name: str) -> UploadedFile | None:
        if name in files:
            return files[name]
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = files.get(value.removeprefix("attach://"))
            if attached is None:
                raise _bad_request(f"file {value} not found in the request")
            return attached
        return None

    @staticmethod
    def _file_ref(params: JSON, name: str) -> str:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise _bad_request(f"there is no {name} in the request")
        return value

    # ================================================================ storage helpers

    def _new_message(
        self, chat: FakeChat, sender: JSON, content: Mapping[str, Any], *, from_bot: bool
    ) -> JSON:
        counter = self._message_ids.setdefault(chat.id, itertools.count(1))
        message: JSON = {
            "message_id": next(counter),
            "from": sender,
            "chat": chat.to_dict(),
            "date": _now(),
        }
        message.update(copy.deepcopy(dict(content)))
        self._messages.setdefault(chat.id, {})[message["message_id"]] = _StoredMessage(
            message=copy.deepcopy(message), from_bot=from_bot
        )
        return message

    def _new_file(self, kind: str, data: bytes | None, **extra: Any) -> JSON:
        n = next(self._file_counter)
        prefix = {
            "photo": "AgACAgI",
            "document": "BQACAgI",
            "voice": "AwACAgI",
            "sticker": "CAACAgI",
        }.get(kind, "BAACAgI")
        file_id = f"{prefix}AAxkBAAI{n:06d}_fake_{kind}"
        unique = f"AQAD{n:06d}"
        ext = {"photo": "jpg", "voice": "oga", "sticker": "webp"}.get(kind, "bin")
        if kind == "document" and "file_name" in extra and "." in str(extra["file_name"]):
            ext = str(extra["file_name"]).rsplit(".", 1)[-1]
        obj: JSON = {"file_id": file_id, "file_unique_id": unique}
        if data is not None:
            obj["file_size"] = len(data)
        obj.update(extra)
        self._files[file_id] = _StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            kind=kind,
            data=data,
            file_path=f"{kind}s/file_{n}.{ext}",
            extra={k: v for k, v in obj.items() if k not in ("file_id", "file_unique_id")},
        )
        return obj

    def _new_photo(self, data: bytes | None, width: int, height: int) -> list[JSON]:
        sizes = []
        for scale in (0.0703125, 0.25, 1.0):
            sizes.append(
                self._new_file(
                    "photo",
                    data,
                    width=max(int(width * scale), 1),
                    height=max(int(height * scale), 1),
                )
            )
        for size in sizes:
            self._files[size["file_id"]].photo_sizes = copy.deepcopy(sizes)
        return sizes

    def _stored(self, chat_id: int, message_id: int) -> _StoredMessage | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def _reply_snapshot(self, chat_id: int, message: MessageRef) -> JSON:
        _, message_id = self._message_key(message, default_chat=chat_id)
        stored = self._stored(chat_id, message_id)
        if stored is None:
            raise AssertionError(f"no message {message_id} in chat {chat_id} to reply to")
        snapshot = copy.deepcopy(stored.message)
        snapshot.pop("reply_to_message", None)
        return snapshot

    def _user_chat(self, user: FakeUser, chat: ChatRef | None) -> FakeChat:
        if user.id not in self._users:
            self._users[user.id] = user
            self._chats.setdefault(
                user.id, FakeChat(id=user.id, type="private", first_name=user.first_name)
            )
        chat_id = user.id if chat is None else self._chat_id(chat)
        if chat_id not in self._chats:
            raise AssertionError(f"unknown chat {chat_id}; register it with fake.group()")
        return self._chats[chat_id]

    @staticmethod
    def _commands_key(scope: Any, language_code: str) -> tuple[str, str]:
        if isinstance(scope, str):
            with contextlib.suppress(ValueError):
                scope = json.loads(scope)
        if not scope or scope == {"type": "default"}:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code

    @staticmethod
    def _chat_id(chat: Any) -> int:
        if isinstance(chat, FakeUser | FakeChat):
            return chat.id
        if isinstance(chat, Mapping):
            if "chat" in chat and isinstance(chat["chat"], Mapping):
                return int(chat["chat"]["id"])
            return int(chat["id"])
        return int(chat)

    def _message_key(self, message: MessageRef, *, default_chat: int) -> tuple[int, int]:
        if isinstance(message, Mapping):
            chat = message.get("chat")
            chat_id = int(chat["id"]) if isinstance(chat, Mapping) else default_chat
            return chat_id, int(message["message_id"])
        return default_chat, int(message)

    @staticmethod
    def _safe_int(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)
        return None

    def _int(self, params: JSON, key: str, default: int | None = None) -> int:
        value = params.get(key)
        if value is None or value == "":
            if default is None:
                raise _bad_request(f"{key} is empty")
            return default
        result = self._safe_int(value)
        if result is None:
            raise _bad_request(f"invalid {key} specified")
        return result

    @staticmethod
    def _truthy(value: Any) -> bool:
        return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))

    def _internal_errors_text(self) -> str:
        if not self.internal_errors:
            return ""
        return "\nFakeBotApi internal errors (bugs in the fake):\n" + "\n".join(
            self.internal_errors[-3:]
        )
