"""What the fake Bot API remembers: the bot, users and chats, every message of every chat (user
and bot, with its edit history), the update queue and the call log, plus the helpers the
method modules share to read request parameters and to look chats and messages up."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.bot_api.model import (
    JSON,
    ApiCall,
    ChatRef,
    FakeChat,
    FakeUser,
    MessageRef,
    PollRecord,
    bad_request,
    chat_id_of,
    now,
    safe_int,
)


class Signal:
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
class StoredMessage:
    """A message and its past versions; ``consumed`` once ``wait_for_message`` returned it."""

    message: JSON
    from_bot: bool
    history: list[JSON] = field(default_factory=list)
    consumed: bool = False
    deleted: bool = False


@dataclass
class StoredFile:
    """A file the fake knows by ``file_id`` (``data`` None: made up, served as placeholder)."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    file_path: str
    # For photos: all sizes of the same picture, so the photo can be re-sent by any file_id.
    photo_sizes: list[JSON] | None = None
    extra: JSON = field(default_factory=dict)


@dataclass
class Injection:
    """An error the next ``remaining`` matching calls answer with (``fail_next``, ``flood``)."""

    code: int
    description: str
    parameters: JSON | None
    remaining: int


class FakeState:
    """The state shared by the method modules that make up ``FakeBotApi``."""

    def __init__(self, token: str) -> None:
        self.token = token
        bot_id_part = token.split(":", 1)[0]
        self.bot_user = FakeUser(
            id=int(bot_id_part) if bot_id_part.isdigit() else 123456789,
            first_name="Sanad",
            username="sanad_test_bot",
            is_bot=True,
        )
        self.calls: list[ApiCall] = []
        self.polls: list[PollRecord] = []
        self.dropped_updates: list[JSON] = []
        self.internal_errors: list[str] = []
        self.webhook: JSON = {}

        self._closing = False
        self._updates_signal: Signal | None = None
        self._activity_signal: Signal | None = None

        self._chats: dict[int, FakeChat] = {}
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._message_ids: dict[int, Iterator[int]] = {}
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(100_001)
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._blocked: set[int] = set()
        self._flood: Injection | None = None
        self._injections: dict[str, list[Injection]] = {}
        self._callback_queries: dict[str, JSON] = {}
        self._callback_answers: dict[str, JSON] = {}
        self._query_ids = itertools.count(4_000_000_001)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._consumed_calls: set[int] = set()

    # ---------------------------------------------------------------- users and chats

    def user(
        self, id: int, first_name: str = "Test", *, language_code: str | None = None
    ) -> FakeUser:
        """Register a user and its private chat with the bot (``chat.id == user.id``)."""
        user = FakeUser(id=id, first_name=first_name, language_code=language_code)
        self._chats[id] = FakeChat(id=id, type="private", first_name=first_name)
        return user

    def group(self, id: int, title: str = "Test group") -> FakeChat:
        """Register a supergroup the bot is a member of (the agents' group)."""
        chat = FakeChat(id=id, type="supergroup", title=title)
        self._chats[id] = chat
        return chat

    # ---------------------------------------------------------------- updates and wake-ups

    def queue_update(self, update: Mapping[str, Any]) -> JSON:
        """Queue an arbitrary update (``update_id`` is assigned); returns the full update."""
        full: JSON = {"update_id": next(self._update_ids)}
        full.update({k: copy.deepcopy(v) for k, v in update.items() if k != "update_id"})
        self._updates.append(full)
        self._notify_updates()
        return copy.deepcopy(full)

    def _notify_updates(self) -> None:
        if self._updates_signal is not None:
            self._updates_signal.notify()
        self._activity().notify()

    def _activity(self) -> Signal:
        """Notified on every call and update: what the ``wait_for_*`` helpers sleep on."""
        if self._activity_signal is None:
            self._activity_signal = Signal()
        return self._activity_signal

    # ---------------------------------------------------------------- messages

    def _new_message(
        self, chat: FakeChat, sender: JSON, content: Mapping[str, Any], *, from_bot: bool
    ) -> JSON:
        counter = self._message_ids.setdefault(chat.id, itertools.count(1))
        message: JSON = {
            "message_id": next(counter),
            "from": sender,
            "chat": chat.to_dict(),
            "date": now(),
        }
        message.update(copy.deepcopy(dict(content)))
        self._messages.setdefault(chat.id, {})[message["message_id"]] = StoredMessage(
            message=copy.deepcopy(message), from_bot=from_bot
        )
        return message

    def _stored(self, chat_id: int, message_id: int) -> StoredMessage | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def _reply_snapshot(self, chat_id: int, message: MessageRef) -> JSON:
        """The ``reply_to_message`` a reply carries (without its own reply, like Telegram)."""
        _, message_id = self._message_key(message, default_chat=chat_id)
        stored = self._stored(chat_id, message_id)
        if stored is None:
            raise AssertionError(f"no message {message_id} in chat {chat_id} to reply to")
        snapshot = copy.deepcopy(stored.message)
        snapshot.pop("reply_to_message", None)
        return snapshot

    @staticmethod
    def _message_key(message: MessageRef, *, default_chat: int) -> tuple[int, int]:
        if isinstance(message, Mapping):
            chat = message.get("chat")
            chat_id = int(chat["id"]) if isinstance(chat, Mapping) else default_chat
            return chat_id, int(message["message_id"])
        return default_chat, int(message)

    def _user_chat(self, user: FakeUser, chat: ChatRef | None) -> FakeChat:
        chat_id = user.id if chat is None else chat_id_of(chat)
        if chat_id not in self._chats:
            raise AssertionError(f"unknown chat {chat_id}; register it with fake.user()/group()")
        return self._chats[chat_id]

    # ---------------------------------------------------------------- request parameters

    def _target_chat(self, params: JSON) -> FakeChat:
        """The chat of ``chat_id``; "chat not found" for a chat never registered."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat = self._chats.get(safe_int(raw) or 0)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    @staticmethod
    def _int(params: JSON, key: str, default: int | None = None) -> int:
        value = params.get(key)
        if value is None or value == "":
            if default is None:
                raise bad_request(f"{key} is empty")
            return default
        result = safe_int(value)
        if result is None:
            raise bad_request(f"invalid {key} specified")
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
