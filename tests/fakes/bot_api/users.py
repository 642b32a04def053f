"""The users' side: what a test makes customers and agents do in Telegram.  Each helper queues the
update Telegram would deliver (``message``, ``edited_message``, ``callback_query``) and returns
the Message or CallbackQuery dict, exactly what PTB receives."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.bot_api.files import FilesApi
from tests.fakes.bot_api.formatting import bot_command_entities
from tests.fakes.bot_api.model import JSON, ChatRef, FakeUser, MessageRef, now


class UsersSide(FilesApi):
    def send_text(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> JSON:
        """Queue a text message; ``/commands`` get ``bot_command`` entities like on Telegram."""
        content: JSON = {"text": text}
        entities = bot_command_entities(text)
        if entities:
            content["entities"] = entities
        return self._send(user, chat, reply_to, content)

    def send_photo(
        self,
        user: FakeUser,
        *,
        caption: str | None = None,
        content: bytes | None = None,
        chat: ChatRef | None = None,
    ) -> JSON:
        """Queue a photo message (three sizes, like Telegram; the largest is last)."""
        return self._send(user, chat, None, {"photo": self._new_photo(content, 1280, 960)}, caption)

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
        return self._send(user, chat, None, {"document": doc}, caption)

    def send_voice(self, user: FakeUser, *, duration: int = 3, chat: ChatRef | None = None) -> JSON:
        """Queue a voice message."""
        voice = self._new_file("voice", None, duration=duration, mime_type="audio/ogg")
        return self._send(user, chat, None, {"voice": voice})

    def send_sticker(self, user: FakeUser, *, chat: ChatRef | None = None) -> JSON:
        """Queue a (static, regular) sticker message."""
        sticker = self._new_file(
            "sticker",
            None,
            width=512,
            height=512,
            is_animated=False,
            is_video=False,
            type="regular",
            emoji="👍",
        )
        return self._send(user, chat, None, {"sticker": sticker})

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
        stored.message["edit_date"] = now()
        stored.message.pop("entities", None)
        entities = bot_command_entities(new_text)
        if entities:
            stored.message["entities"] = entities
        self.queue_update({"edited_message": copy.deepcopy(stored.message)})
        return copy.deepcopy(stored.message)

    def press(self, user: FakeUser, message: MessageRef, callback_data: str) -> JSON:
        """Press an inline button on a bot message; queues and returns the CallbackQuery.

        The button must exist on the message as it is now (after the bot's edits)."""
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

    def _send(
        self,
        user: FakeUser,
        chat: ChatRef | None,
        reply_to: MessageRef | None,
        content: JSON,
        caption: str | None = None,
    ) -> JSON:
        """Store a message from ``user`` in ``chat`` (their private chat by default), queue it."""
        target = self._user_chat(user, chat)
        fields: dict[str, Any] = dict(content)
        if caption is not None:
            fields["caption"] = caption
        if reply_to is not None:
            fields["reply_to_message"] = self._reply_snapshot(target.id, reply_to)
        message = self._new_message(target, user.to_dict(), fields, from_bot=False)
        self.queue_update({"message": message})
        return copy.deepcopy(message)
