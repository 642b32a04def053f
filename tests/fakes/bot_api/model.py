"""The vocabulary every part of the fake shares: Telegram-shaped users and chats, the records
tests read back (``ApiCall``, ``PollRecord``) and ``ApiError``, the error a Bot API method answers
with (``{"ok": false, "error_code": ..., "description": ...}``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

JSON: TypeAlias = dict[str, Any]
MessageRef: TypeAlias = int | Mapping[str, Any]
"""A message id (in the user's private chat) or a Message dict."""


@dataclass
class FakeUser:
    """A Telegram user; ``to_dict()`` is the ``User`` JSON object."""

    id: int
    first_name: str
    language_code: str | None = None
    username: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class FakeChat:
    """A private chat or a supergroup (the agents' group); ``to_dict()`` is its JSON."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "first_name"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


ChatRef: TypeAlias = int | FakeUser | FakeChat | Mapping[str, Any]
"""A chat id, a ``FakeUser`` (its private chat), a ``FakeChat``, a Chat dict or a Message dict."""


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part received by the fake (a photo or document the bot uploads)."""

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

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def description(self) -> str | None:
        return self.response.get("description")


@dataclass(frozen=True)
class PollRecord:
    """One answered getUpdates call and the update ids it returned."""

    params: JSON
    update_ids: list[int]
    status: int


class ApiError(Exception):
    """A Bot API error answer; ``parameters`` carries ``retry_after`` for 429."""

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


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def chat_id_of(chat: ChatRef) -> int:
    """The chat id of any ``ChatRef``."""
    if isinstance(chat, FakeUser | FakeChat):
        return chat.id
    if isinstance(chat, Mapping):
        if "chat" in chat and isinstance(chat["chat"], Mapping):
            return int(chat["chat"]["id"])
        return int(chat["id"])
    return int(chat)


def safe_int(value: Any) -> int | None:
    """An int from an int or a numeric string (form-encoded params), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def now() -> int:
    return int(time.time())
