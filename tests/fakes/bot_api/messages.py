"""The bot's messages: sendMessage, copyMessage (customer <-> agent relay), the three edits,
deleteMessage, answerCallbackQuery and sendChatAction, with Telegram's checks: 4096 characters of
text, 1024 of caption, 64 bytes of callback_data, "message is not modified", "message to be
replied not found", editMessageText without ``reply_markup`` removing the inline keyboard, a
callback query answered at most once."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from tests.fakes.bot_api.formatting import format_text
from tests.fakes.bot_api.model import JSON, FakeChat, UploadedFile, bad_request, now, safe_int
from tests.fakes.bot_api.state import FakeState, StoredMessage

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

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
# Message fields copyMessage carries over: every kind of content the fake creates.
_COPYABLE_FIELDS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "photo",
    "document",
    "voice",
    "sticker",
)


class MessagesApi(FakeState):
    # Each _api_<methodName>(params, files) returns the "result" or raises ApiError.

    def _api_sendMessage(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        return self._bot_send(chat, params, self._text(params))

    def _api_sendChatAction(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self._target_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _api_copyMessage(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat = self._target_chat(params)
        source = self._stored(self._int(params, "from_chat_id"), self._int(params, "message_id"))
        if source is None or source.deleted:
            raise bad_request("message to copy not found")
        content: JSON = {
            key: copy.deepcopy(source.message[key])
            for key in _COPYABLE_FIELDS
            if key in source.message
        }
        if "caption" in params and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption(params))
        message = self._bot_send(chat, params, content)
        return {"message_id": message["message_id"]}

    def _api_editMessageText(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(params)
        if "text" not in stored.message:
            raise bad_request("there is no text in the message to edit")
        changes = {"entities": None, **self._text(params)}
        return self._apply_edit(stored, changes, self._markup(params))

    def _api_editMessageCaption(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(params)
        if "text" in stored.message:
            raise bad_request("there is no caption in the message to edit")
        changes = {"caption": None, "caption_entities": None, **self._caption(params)}
        return self._apply_edit(stored, changes, self._markup(params))

    def _api_editMessageReplyMarkup(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(params)
        return self._apply_edit(stored, {}, self._markup(params))

    def _api_deleteMessage(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat = self._target_chat(params)
        stored = self._stored(chat.id, self._int(params, "message_id"))
        if stored is None or stored.deleted:
            raise bad_request("message to delete not found")
        stored.deleted = True
        return True

    def _api_answerCallbackQuery(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._callback_queries or query_id in self._callback_answers:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_answers[query_id] = dict(params)
        return True

    # ---------------------------------------------------------------- shared by the methods

    def _bot_send(self, chat: FakeChat, params: JSON, content: JSON) -> JSON:
        """Store a message from the bot (with its reply and keyboard) and return it."""
        reply_to: JSON | None = None
        # PTB 21 sends reply_to_message_id as reply_parameters; both are understood.
        reply_parameters = params.get("reply_parameters")
        reply_to_id = params.get("reply_to_message_id")
        if isinstance(reply_parameters, dict):
            reply_to_id = reply_parameters.get("message_id")
        if reply_to_id is not None:
            stored = self._stored(chat.id, safe_int(reply_to_id) or 0)
            if stored is None or stored.deleted:
                raise bad_request("message to be replied not found")
            reply_to = self._reply_snapshot(chat.id, stored.message["message_id"])
        markup = self._markup(params)
        message = self._new_message(chat, self.bot_user.to_dict(), content, from_bot=True)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[chat.id][message["message_id"]].message = message
        self._activity().notify()
        return copy.deepcopy(message)

    @staticmethod
    def _text(params: JSON) -> JSON:
        """``text`` (+ ``entities``) of sendMessage / editMessageText after ``parse_mode``."""
        text = params.get("text")
        plain, entities = format_text(str(text or ""), params.get("parse_mode"))
        if not plain:
            raise bad_request("message text is empty")
        if len(plain) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return {"text": plain, "entities": entities} if entities else {"text": plain}

    @staticmethod
    def _caption(params: JSON) -> JSON:
        """``caption`` (+ ``caption_entities``) after ``parse_mode``; {} without a caption."""
        caption = params.get("caption")
        if not caption:
            return {}
        plain, entities = format_text(str(caption), params.get("parse_mode"))
        if len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        result: JSON = {}
        if plain:
            result["caption"] = plain
        if entities:
            result["caption_entities"] = entities
        return result

    @classmethod
    def _markup(cls, params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise bad_request("can't parse reply keyboard markup JSON object") from None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            keyboard = markup["inline_keyboard"]
            if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
                raise bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in keyboard:
                for button in row:
                    cls._check_button(button)
            if not any(keyboard):
                return None  # an empty inline keyboard removes the keyboard
        return copy.deepcopy(markup)

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or not str(button.get("text", "")):
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
        if "callback_data" not in button and "url" not in button:
            raise bad_request("text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = str(button["callback_data"])
            if not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                raise bad_request("BUTTON_DATA_INVALID")

    def _editable(self, params: JSON) -> StoredMessage:
        chat = self._target_chat(params)
        stored = self._stored(chat.id, self._int(params, "message_id"))
        if stored is None or stored.deleted:
            raise bad_request("message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        return stored

    def _apply_edit(
        self, stored: StoredMessage, changes: Mapping[str, Any], markup: JSON | None
    ) -> JSON:
        """Apply ``changes`` (None removes a field); "not modified" when nothing changes."""
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
        old_view = {k: v for k, v in stored.message.items() if k != "edit_date"}
        new_view = {k: v for k, v in new.items() if k != "edit_date"}
        if old_view == new_view:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        new["edit_date"] = now()
        stored.history.append(stored.message)
        stored.message = new
        self._activity().notify()
        return copy.deepcopy(new)
