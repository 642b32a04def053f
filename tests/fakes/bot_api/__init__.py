"""An in-process fake of the Telegram Bot API for tests, limited to what Sanad uses.

``FakeBotApi`` is a small aiohttp server on ``127.0.0.1`` that answers the Bot API calls
python-telegram-bot (PTB) makes, so the *real* ``telegram.Bot`` / ``Application`` (and Sanad's
bot) run against it, with long polling or a webhook.  Tests play the users and inspect what the
bot sent.

Usage::

    async with FakeBotApi(token="123:ABC") as fake:
        app = fake.application_builder().build()   # token + base_url + base_file_url set
        ...                                       # or load_settings(env=fake.sanad_env())
        sara = fake.user(id=1001, first_name="Sara", language_code="ar")
        fake.send_text(sara, "where is my order?")
        reply = await fake.wait_for_message(sara)

One module per concern, each a part of ``FakeBotApi``:

* ``server``: the HTTP server, routing ``/bot<token>/<method>`` to ``_api_<method>``, the call
  log (``fake.calls``: ``ApiCall`` with normalised params), ``response_delay_s``, ``bot()``,
  ``application_builder()``, ``sanad_env()``;
* ``state``: users and chats (``fake.user()``, ``fake.group()``), stored messages, the update
  queue (``fake.queue_update()``);
* ``users``: the users' side: ``send_text``, ``send_photo``, ``send_document``, ``send_voice``,
  ``send_sticker``, ``edit_text``, ``press`` (a button on a bot message);
* ``messages``: sendMessage, copyMessage, the edits, deleteMessage, answerCallbackQuery,
  sendChatAction, with Telegram's limits and errors; ``formatting``: ``parse_mode``;
* ``files``: sendPhoto, sendDocument, getFile and file downloads;
* ``updates``: getUpdates long polling, webhooks (``deliver_to_webhook``, ``post_update_to``);
* ``commands``: getMe, logOut/close, the command menus;
* ``faults``: ``block(chat)`` (403), ``flood(n, retry_after)`` (429), ``fail_next(method, ...)``;
* ``checks``: ``wait_for_message``, ``assert_no_message``, ``wait_for_call``, ``messages``,
  ``message``, ``edit_history``, ``is_deleted``, ``calls_to``, ``callback_answer``,
  ``describe_chat`` (what a failed wait prints).

Not modelled (Sanad does not use them): inline mode, payments, forum topics, media groups,
channels, sending voice/stickers/videos, HTTP URLs as files, legacy Markdown.
"""

from tests.fakes.bot_api.model import ApiCall, FakeChat, FakeUser, PollRecord
from tests.fakes.bot_api.server import FakeBotApi

__all__ = ["ApiCall", "FakeBotApi", "FakeChat", "FakeUser", "PollRecord"]
