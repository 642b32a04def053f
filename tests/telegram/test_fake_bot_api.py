"""Tests of the fake Telegram Bot API (tests/fakes/bot_api/) driven by the real PTB classes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageId,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.bot_api import FakeBotApi, FakeUser

TOKEN = "123:ABC"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as api:
        yield api


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with fake.bot() as client:
        yield client


@pytest.fixture
def sara(fake: FakeBotApi) -> FakeUser:
    return fake.user(id=1001, first_name="Sara", language_code="ar")


def keyboard(*datas: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in datas]])


# ------------------------------------------------------------------ plain Bot calls


async def test_get_me_and_auth(fake: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123
    assert me.is_bot
    assert me.username == "sanad_test_bot"
    assert bot.username == "sanad_test_bot"  # Bot.initialize() called getMe already

    with pytest.raises(InvalidToken):  # Bot.initialize() calls getMe
        async with Bot("123:WRONG", base_url=fake.base_url):
            pass
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathicMessage")


async def test_send_message_with_keyboard_then_edit(
    fake: FakeBotApi, bot: Bot, sara: FakeUser
) -> None:
    sent = await bot.send_message(sara.id, "Was this helpful?", reply_markup=keyboard("yes", "no"))
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.chat.id == sara.id
    assert sent.reply_markup is not None

    recorded = await fake.wait_for_message(sara)
    assert recorded["text"] == "Was this helpful?"
    assert recorded["from"]["id"] == 123
    assert [b["callback_data"] for b in recorded["reply_markup"]["inline_keyboard"][0]] == [
        "yes",
        "no",
    ]

    edited = await sent.edit_text("Thanks!", reply_markup=keyboard("undo"))
    assert not isinstance(edited, bool)
    assert edited.text == "Thanks!"
    assert edited.edit_date is not None

    [current] = fake.messages(sara)
    assert current["text"] == "Thanks!"
    assert current["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "undo"
    assert [v["text"] for v in fake.edit_history(sara, sent.message_id)] == ["Was this helpful?"]

    with pytest.raises(BadRequest, match="not modified"):
        await sent.edit_text("Thanks!", reply_markup=keyboard("undo"))

    # Like Telegram, editMessageText without reply_markup removes the inline keyboard.
    await bot.edit_message_text("Thanks again!", chat_id=sara.id, message_id=sent.message_id)
    assert "reply_markup" not in fake.message(sara, sent.message_id)
    await bot.edit_message_reply_markup(sara.id, sent.message_id, reply_markup=keyboard("x"))
    assert fake.message(sara, sent.message_id)["reply_markup"]["inline_keyboard"][0][0]["text"]

    params = fake.calls_to("editMessageText")[0]
    assert params["chat_id"] == sara.id  # normalised from the form encoding PTB uses
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Undo", "callback_data": "undo"}]]
    }


async def test_validation_errors(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(sara.id, "x" * 4097)
    await bot.send_message(sara.id, "x" * 4096)

    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(sara.id, "pick", reply_markup=keyboard("d" * 65))
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):  # 33 x 2 bytes
        await bot.send_message(sara.id, "pick", reply_markup=keyboard("ب" * 33))
    await bot.send_message(sara.id, "pick", reply_markup=keyboard("d" * 64))

    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hello stranger")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(sara.id, "   \n ")
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(sara.id, "re", reply_to_message_id=4242)
    failed = [c for c in fake.calls if not c.ok]
    assert [c.status for c in failed] == [400] * 6


async def test_parse_modes_become_plain_text_and_entities(bot: Bot, sara: FakeUser) -> None:
    html_msg = await bot.send_message(
        sara.id, "<b>مرحبا 👋</b> order &lt;#12&gt;", parse_mode=ParseMode.HTML
    )
    assert html_msg.text == "مرحبا 👋 order <#12>"
    [bold] = html_msg.entities
    assert (bold.type, bold.offset, bold.length) == ("bold", 0, 8)  # UTF-16: the emoji counts 2

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(sara.id, "1 < 2 for sure", parse_mode=ParseMode.HTML)

    md = await bot.send_message(
        sara.id, "*Done*\\. See [docs](https://example.com/a_b)", parse_mode=ParseMode.MARKDOWN_V2
    )
    assert md.text == "Done. See docs"
    assert [(e.type, e.offset, e.length, e.url) for e in md.entities] == [
        ("bold", 0, 4, None),
        ("text_link", 10, 4, "https://example.com/a_b"),
    ]
    with pytest.raises(BadRequest, match="reserved and must be escaped"):
        await bot.send_message(sara.id, "Done.", parse_mode=ParseMode.MARKDOWN_V2)


async def test_blocked_chat_is_forbidden(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    fake.block(sara)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(sara.id, "are you there?")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(sara.id, "typing")
    assert fake.messages(sara) == []

    fake.unblock(sara)
    await bot.send_message(sara.id, "welcome back")
    assert (await fake.wait_for_message(sara))["text"] == "welcome back"


async def test_flood_raises_retry_after(
    fake: FakeBotApi, bot: Bot, sara: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, reading RetryAfter.retry_after emits a PTBDeprecationWarning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.flood(2, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(sara.id, "hi")
        assert info.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(sara.id, "hi")  # flood is over
    sends = [c for c in fake.calls if c.method == "sendMessage"]
    assert [c.status for c in sends] == [429, 429, 200]
    assert sends[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


async def test_aio_rate_limiter_retries_after_429(
    fake: FakeBotApi, sara: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RetryAfter.__init__ itself reads .retry_after, so it always warns without PTB_TIMEDELTA.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    app = fake.application_builder().rate_limiter(AIORateLimiter(max_retries=1)).build()
    async with app:
        fake.flood(1, retry_after=1)
        await app.bot.send_message(sara.id, "eventually")  # sleeps retry_after + 0.1 s
    assert [c.status for c in fake.calls if c.method == "sendMessage"] == [429, 200]


async def test_fail_next_injects_errors(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(sara.id, "1")
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found", times=2)
    for _ in range(2):
        with pytest.raises(BadRequest):
            await bot.send_message(sara.id, "2")
    await bot.send_message(sara.id, "3")


async def test_copy_message_to_agents_group(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    agents = fake.group(-100500, "Agents")
    photo = fake.send_photo(sara, caption="broken screen", content=b"jpeg bytes")
    text = fake.send_text(sara, "please help")

    copied = await bot.copy_message(agents.id, sara.id, photo["message_id"], caption="From Sara")
    assert isinstance(copied, MessageId)
    copy_msg = await fake.wait_for_message(agents)
    assert copy_msg["message_id"] == copied.message_id
    assert copy_msg["from"]["is_bot"] and copy_msg["chat"]["type"] == "supergroup"
    assert copy_msg["caption"] == "From Sara"
    assert copy_msg["photo"] == photo["photo"]
    assert fake.file_bytes(copy_msg["photo"][-1]["file_id"]) == b"jpeg bytes"

    copied_text = await bot.copy_message(agents.id, sara.id, text["message_id"])
    assert (await fake.wait_for_message(agents))["text"] == "please help"
    assert copied_text.message_id == copied.message_id + 1

    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(agents.id, sara.id, 9999)


async def test_media_commands_and_misc_methods(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    sent = await bot.send_photo(
        sara.id, photo=b"\x89PNG fake", caption="<i>receipt</i>", parse_mode="HTML"
    )
    assert sent.caption == "receipt"
    file = await bot.get_file(sent.photo[-1].file_id)
    assert await file.download_as_bytearray() == bytearray(b"\x89PNG fake")
    doc = await bot.send_document(sara.id, document=b"a,b\n1,2\n", filename="export.csv")
    assert doc.document is not None and doc.document.file_name == "export.csv"
    again = await bot.send_photo(sara.id, photo=sent.photo[0].file_id)  # re-send by file_id
    assert again.photo[-1].file_id == sent.photo[-1].file_id

    assert await bot.send_chat_action(sara.id, "typing")
    assert await bot.delete_message(sara.id, doc.message_id)
    assert fake.is_deleted(sara, doc.message_id)
    assert len(fake.messages(sara)) == 2
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(sara.id, doc.message_id)

    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([BotCommand("start", "ابدأ")], language_code="ar")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert fake.commands(language_code="ar") == [{"command": "start", "description": "ابدأ"}]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])

    assert await bot.close()
    assert await bot.log_out()


async def test_get_updates_offset_long_poll_and_filters(
    fake: FakeBotApi, bot: Bot, sara: FakeUser
) -> None:
    fake.send_text(sara, "one")
    fake.send_text(sara, "two")
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    # Not confirmed yet: delivered again, exactly like Telegram.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [u.update_id for u in first]
    offset = first[-1].update_id + 1
    assert await bot.get_updates(offset=offset, timeout=0) == ()
    assert fake.pending_update_count == 0

    # Long polling returns as soon as an update arrives ...
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=5))
    await asyncio.sleep(0.05)
    fake.send_text(sara, "three")
    [third] = await asyncio.wait_for(poll, 2)
    assert third.message is not None and third.message.text == "three"
    assert loop.time() - started < 1
    # ... and waits for the timeout when there is none.
    started = loop.time()
    assert (
        await bot.get_updates(offset=third.update_id + 1, timeout=dtm.timedelta(seconds=0.3)) == ()
    )
    assert loop.time() - started >= 0.25

    for text in ("a", "b", "c"):
        fake.send_text(sara, text)
    assert len(await bot.get_updates(limit=2, timeout=0)) == 2
    bot_msg = await bot.send_message(sara.id, "menu", reply_markup=keyboard("go"))
    fake.press(sara, bot_msg.to_dict(), "go")
    [only] = await bot.get_updates(allowed_updates=["callback_query"], timeout=0)
    assert only.callback_query is not None and only.callback_query.data == "go"
    assert [u["message"]["text"] for u in fake.dropped_updates] == ["a", "b", "c"]


async def test_user_side_helpers(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    agents = fake.group(-100777, "Agents")
    cmd = fake.send_text(sara, "/start ref_42")
    assert cmd["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    fake.edit_text(sara, cmd, "/start ref_43")
    fake.send_document(sara, file_name="invoice.pdf")
    fake.send_voice(sara, duration=4)
    fake.send_sticker(sara)
    fake.send_text(sara, "in the group", chat=agents, reply_to=None)
    updates = await bot.get_updates(timeout=0)
    assert all(u.effective_message is not None for u in updates)
    assert updates[1].edited_message is not None
    assert updates[1].edited_message.text == "/start ref_43"
    assert updates[2].message and updates[2].message.document
    assert updates[3].message and updates[3].message.voice
    assert updates[4].message and updates[4].message.sticker
    assert updates[5].message and updates[5].message.chat.id == agents.id

    sent = await bot.send_message(sara.id, "choose", reply_markup=keyboard("a"))
    with pytest.raises(AssertionError, match="no button with callback_data 'b'"):
        fake.press(sara, sent.to_dict(), "b")
    query = fake.press(sara, sent.to_dict(), "a")
    assert await bot.answer_callback_query(query["id"], text="ok")
    assert fake.callback_answer(query) == {"callback_query_id": query["id"], "text": "ok"}
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query["id"])


async def test_wait_for_message_failure_shows_chat_log(
    fake: FakeBotApi, bot: Bot, sara: FakeUser
) -> None:
    fake.send_text(sara, "hello?")
    await bot.send_message(sara.id, "first answer")
    await fake.wait_for_message(sara)
    with contextlib.suppress(BadRequest):
        await bot.send_message(sara.id, "x" * 5000)
    with pytest.raises(AssertionError) as info:
        await fake.wait_for_message(sara, timeout=0.1)
    report = str(info.value)
    assert "no new bot message in chat 1001" in report
    assert "'hello?'" in report and "'first answer'" in report
    assert "sendMessage -> 400 Bad Request: message is too long" in report
    await fake.assert_no_message(sara, within=0.05)


async def test_webhook_mode(fake: FakeBotApi, bot: Bot, sara: FakeUser) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret":
            return web.Response(status=403)
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram"
    try:
        assert await bot.set_webhook(url, secret_token="s3cret", allowed_updates=["message"])
        info = await bot.get_webhook_info()
        assert (info.url, info.allowed_updates) == (url, ("message",))
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()

        fake.send_text(sara, "via webhook")
        assert (await bot.get_webhook_info()).pending_update_count == 1
        assert await fake.deliver_to_webhook() == [200]
        assert received[0]["message"] == fake.message(sara, 1)
        assert fake.pending_update_count == 0

        update = {"update_id": 1, "message": fake.send_text(sara, "forged")}
        assert await fake.post_update_to(url, update, secret_token="wrong") == 403
        assert await fake.post_update_to(url, update, secret_token="s3cret") == 200
        assert await bot.delete_webhook(drop_pending_updates=True)
        assert (await bot.get_webhook_info()).url == ""
        assert fake.pending_update_count == 0
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------ a real Application, polling


async def start_handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("Welcome to Sanad")


async def echo_handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    await message.reply_text(
        f"echo: {message.text}", reply_markup=keyboard("helpful", "not_helpful")
    )


async def button_handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Thanks for the feedback")
    await query.edit_message_text(f"rated: {query.data}")


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_application_polling_round_trip(fake: FakeBotApi, sara: FakeUser) -> None:
    omar = fake.user(id=1002, first_name="Omar", language_code="en")
    app = fake.application_builder().build()
    app.add_handler(CommandHandler("start", start_handler))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo_handler))
    app.add_handler(CallbackQueryHandler(button_handler))

    async with polling(app):
        fake.send_text(sara, "/start")
        assert (await fake.wait_for_message(sara))["text"] == "Welcome to Sanad"

        fake.send_text(sara, "where is my order?")
        fake.send_text(omar, "hello")
        reply = await fake.wait_for_message(sara, contains="echo")
        assert reply["text"] == "echo: where is my order?"
        assert (await fake.wait_for_message(omar))["text"] == "echo: hello"

        query = fake.press(sara, reply, "helpful")
        answer = await fake.wait_for_call("answerCallbackQuery")
        assert answer.params["text"] == "Thanks for the feedback"
        await fake.wait_for_call("editMessageText")
        edited = fake.message(sara, reply["message_id"])
        assert edited["text"] == "rated: helpful"
        assert "reply_markup" not in edited
        assert fake.callback_answer(query) is not None
        await fake.assert_no_message(sara, within=0.05)

    # Every update was delivered exactly once and confirmed (PTB's final getUpdates on stop).
    delivered = fake.delivered_update_ids
    assert len(delivered) == 4
    assert len(set(delivered)) == len(delivered)
    assert fake.pending_update_count == 0
    assert fake.polls[-1].params["offset"] == max(delivered) + 1
    assert fake.calls_to("deleteWebhook")  # PTB's polling bootstrap
    assert not fake.internal_errors
