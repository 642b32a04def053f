"""What tests read back from the bot's side: its messages as they are now (after edits and
deletions), the calls it made, the answers to button presses, and waits that fail with a readable
log of the chat (``describe_chat``) instead of a bare timeout."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.bot_api.model import JSON, ApiCall, ChatRef, chat_id_of, safe_int
from tests.fakes.bot_api.state import FakeState

_CONTENT_FIELDS = ("text", "caption", "photo", "document", "voice", "sticker")


class ChecksApi(FakeState):
    def messages(self, chat: ChatRef) -> list[JSON]:
        """Bot messages in ``chat`` in send order, with their current text/markup after edits."""
        return [
            copy.deepcopy(stored.message)
            for stored in self._messages.get(chat_id_of(chat), {}).values()
            if stored.from_bot and not stored.deleted
        ]

    def message(self, chat: ChatRef, message_id: int) -> JSON:
        """Current state of any message (user or bot) in ``chat``."""
        stored = self._stored(chat_id_of(chat), message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id_of(chat)}")
        return copy.deepcopy(stored.message)

    def edit_history(self, chat: ChatRef, message_id: int) -> list[JSON]:
        """Earlier versions of a message, oldest first (the current one is ``message()``)."""
        stored = self._stored(chat_id_of(chat), message_id)
        return copy.deepcopy(stored.history) if stored else []

    def is_deleted(self, chat: ChatRef, message_id: int) -> bool:
        stored = self._stored(chat_id_of(chat), message_id)
        return bool(stored and stored.deleted)

    def calls_to(self, method: str) -> list[JSON]:
        """Params of every successful call to ``method`` (case-insensitive), in order."""
        return [c.params for c in self.calls if c.method.lower() == method.lower() and c.ok]

    def callback_answer(self, query: str | Mapping[str, Any]) -> JSON | None:
        """The answerCallbackQuery params for a query (dict from ``press`` or its id)."""
        query_id = query if isinstance(query, str) else str(query["id"])
        return self._callback_answers.get(query_id)

    async def wait_for_message(
        self,
        chat: ChatRef,
        *,
        contains: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline, not a cancellation scope
    ) -> JSON:
        """Return (and consume) the next unconsumed bot message in ``chat``.

        ``contains`` matches a substring of the text or caption.  The returned dict is a snapshot
        of the message's current state.  Raises ``AssertionError`` with the chat log on timeout.
        """
        chat_id = chat_id_of(chat)
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
                stored.consumed = True
                return copy.deepcopy(msg)
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = f" containing {contains!r}" if contains is not None else ""
                raise AssertionError(
                    f"no new bot message{what} in chat {chat_id} within {timeout}s\n"
                    + self.describe_chat(chat_id)
                )
            await self._activity().wait(remaining)

    async def assert_no_message(self, chat: ChatRef, *, within: float = 0.3) -> None:
        """Fail if the bot sends (or already sent, unconsumed) a message to ``chat``."""
        chat_id = chat_id_of(chat)
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
        chat_id = chat_id_of(chat)
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
            c for c in self.calls if not c.ok and safe_int(c.params.get("chat_id")) == chat_id
        ]
        if failed:
            lines.append("failed calls to this chat:")
            lines += [f"  {c.method} -> {c.status} {c.description}" for c in failed[-10:]]
        return "\n".join(lines) + self._internal_errors_text()
