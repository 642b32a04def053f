"""End to end: the real PTB Application, polling a fake Bot API server over HTTP on loopback,
with Sanad's services on a real SQLite file and the bundled sample FAQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from app.config import Settings, load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application, stop_application
from faq.articles import ArticleIn, upsert_articles
from faq.matcher import Thresholds
from storage.models import Customer, Event, Message, QueryLog, Ticket
from tests.fakes.bot_api import FakeBotApi
from web.app import create_app

Env = tuple[FakeBotApi, Services]


def _settings(fake: FakeBotApi, tmp_path: Path, **extra: str) -> Settings:
    return load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "SANAD_TELEGRAM_TOKEN": fake.token,
            "SANAD_TELEGRAM_BASE_URL": fake.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            **extra,
        }
    )


@pytest.fixture
async def start_bot(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Env]]]:
    """Start fake Bot API + Sanad (polling); options tweak the services before start."""
    started: list[tuple[FakeBotApi, Services, Any]] = []

    async def start(thresholds: Thresholds | None = None) -> Env:
        fake = FakeBotApi()
        await fake.start()
        services = Services.create(_settings(fake, tmp_path), VirtualClock())
        if thresholds is not None:
            services.faq.thresholds = thresholds
        app = build_application(services)
        await services.start(run_timers=False)
        await start_application(app, services)
        started.append((fake, services, app))
        return fake, services

    yield start
    for fake, services, app in started:
        await stop_application(app)
        await services.close()
        await fake.stop()


async def _rows(services: Services, model: Any, *where: Any) -> list[Any]:
    async with services.db.transaction() as session:
        return list((await session.execute(select(model).where(*where))).scalars().all())


async def _settled(
    services: Services, model: Any, check: Callable[[list[Any]], bool], *where: Any
) -> list[Any]:
    """Rows once ``check`` holds: the handler stores what it sent just after sending it."""
    for _ in range(100):
        rows = await _rows(services, model, *where)
        if check(rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"{model.__name__} rows never satisfied the check: {rows}")


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [
        (b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row
    ]


async def test_english_question_gets_the_answer_and_yes_resolves_by_bot(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    sara = fake.user(1001, "Sara", language_code="en")
    fake.send_text(sara, "how many days does delivery take?")
    reply = await fake.wait_for_message(sara)
    assert "2-4 working days" in reply["text"]
    assert reply["text"].endswith("Did this help?")
    buttons = _buttons(reply)
    assert [b[0] for b in buttons] == ["Yes", "No"]

    fake.press(sara, reply, buttons[0][1])
    glad = await fake.wait_for_message(sara)
    assert glad["text"].startswith("Glad I could help")
    assert _buttons(fake.message(sara, reply["message_id"])) == []  # keyboard removed

    (customer,) = await _rows(services, Customer)
    assert (customer.external_id, customer.name, customer.language) == ("1001", "Sara", "en")
    (ticket,) = await _rows(services, Ticket)
    assert (ticket.state, ticket.resolution) == ("resolved", "bot")
    transcript = await _settled(
        services, Message, lambda rows: len(rows) == 4, Message.ticket_id == ticket.id
    )
    # The press is in the transcript as what the customer did (issue 10).
    assert [(m.sender, m.kind) for m in transcript] == [
        ("customer", "text"),
        ("bot", "text"),
        ("customer", "choice"),
        ("bot", "text"),
    ]
    assert transcript[2].text == "Yes" and transcript[2].meta["data"] == buttons[0][1]
    assert [o["label"] for o in transcript[1].meta["options"]] == ["Yes", "No"]
    assert transcript[0].text == "how many days does delivery take?"
    (query,) = await _rows(services, QueryLog)
    assert query.outcome == "answer"
    assert query.helpful is True
    assert query.score is not None and query.score > 0
    assert query.best_article_id is not None
    shown = services.faq.article(query.best_article_id)
    assert shown is not None and shown.slug == "delivery-time"


async def test_arabic_customer_gets_arabic_answer_and_buttons(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    omar = fake.user(1002, "عمر", language_code="ar")
    fake.send_text(omar, "/start")
    greeting = await fake.wait_for_message(omar)
    assert greeting["text"].startswith("أهلاً عمر")
    fake.send_text(omar, "كم يوم ياخذ التوصيل؟")
    reply = await fake.wait_for_message(omar)
    assert "أيام عمل" in reply["text"]
    assert [b[0] for b in _buttons(reply)] == ["نعم", "لا"]
    (query,) = await _rows(services, QueryLog)
    assert (query.lang, query.outcome) == ("ar", "answer")


async def test_suggestions_open_the_article(start_bot) -> None:  # type: ignore[no-untyped-def]
    # answer_min above any score: every match becomes a suggestion.
    fake, services = await start_bot(Thresholds(answer_min=1.01, answer_margin=0, suggest_min=0.0))
    lina = fake.user(1003, "Lina", language_code="en")
    fake.send_text(lina, "I want to return the shoes I bought")
    reply = await fake.wait_for_message(lina)
    assert reply["text"] == "I'm not sure which of these you mean. Pick one:"
    buttons = _buttons(reply)
    assert 2 <= len(buttons) <= 4
    assert buttons[-1] == ("None of these: talk to a person", "human")
    article_buttons = [b for b in buttons if b[1].startswith("art:")]
    _label, data = next(b for b in article_buttons if "return" in b[0].lower())
    fake.press(lina, reply, data)
    article = await fake.wait_for_message(lina)
    assert article["text"].endswith("Did this help?")
    assert "14 days" in article["text"]
    (query,) = await _rows(services, QueryLog)
    assert query.outcome == "suggest"


async def test_no_then_talk_to_a_person_records_the_handoff(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    sam = fake.user(1004, "Sam", language_code="en")
    fake.send_text(sam, "how do I reset my password?")
    reply = await fake.wait_for_message(sam)
    fake.press(sam, reply, next(d for t, d in _buttons(reply) if t == "No"))
    sorry = await fake.wait_for_message(sam)
    assert sorry["text"].startswith("Sorry about that")
    assert _buttons(sorry) == [("Talk to a person", "human")]
    fake.press(sam, sorry, "human")
    handoff = await fake.wait_for_message(sam)
    (ticket,) = await _rows(services, Ticket)
    assert f"ticket #{ticket.id}" in handoff["text"]
    assert ticket.state == "queued"
    assert ticket.handoff_requested_at is not None
    (query,) = await _rows(services, QueryLog)
    assert query.helpful is False
    kinds = [e.kind for e in await _rows(services, Event, Event.ticket_id == ticket.id)]
    assert "faq_feedback" in kinds and "handoff_requested" in kinds

    # While a person is asked for, the bot does not answer FAQs over them; it says once that
    # the message is kept for the person (issue 10: silence read as "nobody heard me").
    fake.send_text(sam, "how long does delivery take?")
    kept = await fake.wait_for_message(sam, contains="saved on ticket")
    assert kept["text"] == (
        f"Your message is saved on ticket #{ticket.id}; a person will reply here."
    )
    fake.send_text(sam, "and the cost?")
    await fake.assert_no_message(sam, within=0.5)
    transcript = await _rows(services, Message, Message.ticket_id == ticket.id)
    assert [m.text for m in transcript[-3:-1]] == ["how long does delivery take?", kept["text"]]
    assert transcript[-1].text == "and the cost?"


async def test_no_match_says_so_and_offers_a_person(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    kim = fake.user(1005, "Kim", language_code="en")
    fake.send_text(kim, "zxqv wplk mmrt")
    reply = await fake.wait_for_message(kim)
    assert reply["text"].startswith("Sorry, I don't have an answer")
    assert _buttons(reply) == [("Talk to a person", "human")]
    (query,) = await _rows(services, QueryLog)
    assert query.outcome == "no_match"


async def test_language_switch_and_unknown_command(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    ali = fake.user(1006, "Ali", language_code="de")
    fake.send_text(ali, "/frobnicate")
    reply = await fake.wait_for_message(ali)
    assert reply["text"].startswith("I don't know the command /frobnicate")
    fake.send_text(ali, "/language")
    choose = await fake.wait_for_message(ali)
    fake.press(ali, choose, "lang:ar")
    done = await fake.wait_for_message(ali)
    assert done["text"] == "تم: سأتحدث معك بالعربية."
    fake.send_text(ali, "/help")
    assert (await fake.wait_for_message(ali))["text"].startswith("اكتب سؤالك")
    (customer,) = await _rows(services, Customer)
    assert (customer.language, customer.language_chosen) == ("ar", True)


async def test_forged_callback_is_refused(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    a = fake.user(1007, "A", language_code="en")
    b = fake.user(1008, "B", language_code="en")
    fake.send_text(a, "what payment methods do you accept?")
    reply = await fake.wait_for_message(a)
    yes = next(d for t, d in _buttons(reply) if t == "Yes")
    # B replays A's callback data on a message of their own.
    fake.send_text(b, "what payment methods do you accept?")
    reply_b = await fake.wait_for_message(b)
    forged = fake.press(b, reply_b, next(d for t, d in _buttons(reply_b) if t == "Yes"))
    forged_query = {**forged}
    fake.queue_update({"callback_query": {**forged_query, "id": "forged-1", "data": yes}})
    call = await fake.wait_for_call(
        "answerCallbackQuery", lambda p: p.get("callback_query_id") == "forged-1"
    )
    assert call.params["text"] == "This button is no longer valid."
    queries = {q.customer_id: q for q in await _rows(services, QueryLog)}
    customers = {c.external_id: c.id for c in await _rows(services, Customer)}
    assert queries[customers["1007"]].helpful is None
    assert queries[customers["1008"]].helpful is True
    for data in ("fb:1:maybe", "art:abc:1", "x" * 60):
        fake.queue_update({"callback_query": {**forged_query, "id": f"bad-{data}", "data": data}})
        bad = await fake.wait_for_call(
            "answerCallbackQuery", lambda p, d=data: p.get("callback_query_id") == f"bad-{d}"
        )
        assert bad.params["text"] == "This button is no longer valid."


async def test_blocked_customer_is_marked_unreachable_and_nothing_crashes(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    zed = fake.user(1009, "Zed", language_code="en")
    fake.block(zed)
    fake.send_text(zed, "how long does delivery take?")
    await fake.wait_for_call("sendMessage", lambda p: p.get("chat_id") == 1009)
    (customer,) = await _settled(services, Customer, lambda rows: rows[0].unreachable)
    fake.unblock(zed)
    fake.send_text(zed, "how long does delivery take?")
    reply = await fake.wait_for_message(zed)
    assert "2-4 working days" in reply["text"]
    (customer,) = await _rows(services, Customer)
    assert not customer.unreachable
    kinds = [e.kind for e in await _rows(services, Event, Event.customer_id == customer.id)]
    assert kinds.count("customer_unreachable") == 1 and "customer_reachable" in kinds


async def test_flood_control_is_retried_without_duplicates(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, _ = await start_bot()
    nora = fake.user(1010, "Nora", language_code="en")
    fake.flood(2, retry_after=1)
    fake.send_text(nora, "how long does delivery take?")
    reply = await fake.wait_for_message(nora, timeout=10)
    assert "2-4 working days" in reply["text"]
    await fake.assert_no_message(nora, within=0.5)
    assert len(fake.messages(nora)) == 1
    statuses = [c.status for c in fake.calls if c.method == "sendMessage"]
    assert statuses == [429, 429, 200]


async def test_long_answer_is_split_with_the_keyboard_on_the_last_part(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    long_answer = "\n\n".join(f"Paragraph {i}: " + "details " * 300 for i in range(4))
    async with services.db.transaction() as session:
        await upsert_articles(
            session,
            [ArticleIn("warranty", "en", "What does the warranty cover?", long_answer)],
            services.clock.now(),
        )
    await services.faq.reload()
    ivy = fake.user(1011, "Ivy", language_code="en")
    fake.send_text(ivy, "what does the warranty cover?")
    parts = [await fake.wait_for_message(ivy)]
    while not _buttons(parts[-1]):
        parts.append(await fake.wait_for_message(ivy))
    assert len(parts) == 4  # one paragraph (~2,400 characters) per part: two do not fit
    assert all(len(p["text"]) <= 4096 for p in parts)
    assert parts[0]["text"].startswith("Paragraph 0:")
    assert "".join(p["text"] for p in parts).count("details") == 4 * 300
    assert parts[-1]["text"].endswith("Did this help?")


async def test_media_gets_a_text_only_reply_and_is_kept(start_bot) -> None:  # type: ignore[no-untyped-def]
    fake, services = await start_bot()
    max_ = fake.user(1012, "Max", language_code="en")
    fake.send_photo(max_, caption="my parcel")
    reply = await fake.wait_for_message(max_)
    assert reply["text"].startswith("I can only read text")
    (message,) = await _rows(services, Message, Message.sender == "customer")
    assert (message.kind, message.text) == ("photo", "my parcel")


async def test_webhook_checks_the_secret_and_feeds_the_application(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with FakeBotApi() as fake:
        settings = _settings(
            fake,
            tmp_path,
            SANAD_TELEGRAM_MODE="webhook",
            SANAD_WEBHOOK_URL=f"http://127.0.0.1:{unused_tcp_port}/tg/hook",
            SANAD_WEBHOOK_SECRET="s3cret-token",
            SANAD_WEB_PORT=str(unused_tcp_port),
        )
        services = Services.create(settings, VirtualClock())
        await services.start()
        app = build_application(services)
        runner = web.AppRunner(create_app(services, app))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        await start_application(app, services)
        try:
            url = settings.webhook_url
            hook = fake.calls_to("setWebhook")[-1]
            assert (hook["url"], hook["secret_token"]) == (url, "s3cret-token")
            sara = fake.user(1020, "Sara", language_code="en")
            update = fake.send_text(sara, "how long does delivery take?")
            body = {"update_id": 1, "message": update}
            assert await fake.post_update_to(url, body, secret_token="wrong") == 403
            assert await fake.post_update_to(url, body) == 403
            assert await fake.post_update_to(url, {"update_id": "x"}, "s3cret-token") == 400
            assert await fake.post_update_to(url, body, secret_token="s3cret-token") == 200
            reply = await fake.wait_for_message(sara)
            assert "2-4 working days" in reply["text"]
        finally:
            await stop_application(app)
            await runner.cleanup()
            await services.close()
