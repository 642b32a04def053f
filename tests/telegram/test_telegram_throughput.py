"""What keeps Sanad's Telegram path cheap under many chats: Bot API calls bounded in flight
(:mod:`bot.requests`), and no query embedding when the lexical match is already decisive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application, stop_application
from bot.requests import BoundedHTTPXRequest
from faq.embeddings import Float32Array
from tests.fakes.bot_api import FakeBotApi

DECISIVE_QUESTION = "how many days does delivery take?"  # lexically clear: article 1
UNCLEAR_QUESTION = "how do I return an item?"  # two close candidates: fused matching decides


async def test_bot_api_calls_in_flight_never_exceed_the_connections_setting(
    tmp_path: Path,
) -> None:
    async with FakeBotApi() as fake:
        fake.response_delay_s = 0.05
        settings = load_settings(
            env={
                "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                **fake.sanad_env(),
                "SANAD_TELEGRAM_MAX_RATE": "1000",
                "SANAD_TELEGRAM_CONNECTIONS": "3",
                "SANAD_FAQ_SEMANTIC": "off",
            }
        )
        services = Services.create(settings, VirtualClock())
        app = build_application(services)
        request = app.bot.request
        assert isinstance(request, BoundedHTTPXRequest)
        assert request.limit == 3
        await services.start(run_timers=False)
        await start_application(app, services)
        try:
            users = [fake.user(3000 + i, f"User {i}", language_code="en") for i in range(12)]
            for user in users:
                fake.send_text(user, DECISIVE_QUESTION)
            for user in users:
                answer = await fake.wait_for_message(user, timeout=20)
                assert "working days" in answer["text"]
            assert request.peak == 3  # calls overlapped, up to the limit and never past it
        finally:
            await stop_application(app)
            await services.close()


async def test_a_decisive_question_on_telegram_is_answered_without_embedding_it(
    tmp_path: Path,
) -> None:
    async with FakeBotApi() as fake:
        settings = load_settings(
            env={
                "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                **fake.sanad_env(),
                "SANAD_FAQ_SEMANTIC": "on",
            }
        )
        services = Services.create(settings, VirtualClock())
        app = build_application(services)
        await services.start(run_timers=False)
        await start_application(app, services)
        embedder = services.faq.embedder
        assert embedder is not None
        embedded: list[str] = []
        real_embed = embedder.embed

        def counting_embed(texts: Sequence[str]) -> Float32Array:
            embedded.extend(texts)
            return real_embed(texts)

        embedder.embed = counting_embed  # type: ignore[method-assign]
        try:
            await services.faq.wait_idle()
            assert services.faq.mode == "fused"
            embedded.clear()
            sara = fake.user(4001, "Sara", language_code="en")
            fake.send_text(sara, DECISIVE_QUESTION)
            answer = await fake.wait_for_message(sara, timeout=20)
            assert "working days" in answer["text"]
            assert embedded == []  # decided lexically: the model was not run
            fake.send_text(sara, UNCLEAR_QUESTION)
            answer = await fake.wait_for_message(sara, timeout=20)
            assert "return" in answer["text"].lower()
            assert len(embedded) == 1  # not clear lexically: the question was embedded
        finally:
            await stop_application(app)
            await services.close()
