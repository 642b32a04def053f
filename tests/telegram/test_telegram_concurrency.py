"""Telegram updates from different chats are handled at once; one chat's stay in order.

The real PTB application polls the fake Bot API, which answers every call after a delay (a
far Bot API server): one update at a time, each chat would wait for every other chat's
replies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from telegram import Chat, Update
from telegram import Message as TgMessage

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application, stop_application
from bot.updates import PerChatUpdateProcessor
from storage.models import Customer, Message
from tests.fakes.bot_api import FakeBotApi

QUESTIONS = (
    "how many days does delivery take?",
    "how do I return an item?",
    "which payment methods do you accept?",
)


async def test_chats_run_side_by_side_and_each_chat_keeps_its_order(tmp_path: Path) -> None:
    async with FakeBotApi() as fake:
        fake.response_delay_s = 0.05
        settings = load_settings(
            env={
                "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                **fake.sanad_env(),
                "SANAD_TELEGRAM_MAX_RATE": "1000",
            }
        )
        services = Services.create(settings, VirtualClock())
        app = build_application(services)
        processor = app.update_processor
        assert isinstance(processor, PerChatUpdateProcessor)
        await services.start(run_timers=False)
        await start_application(app, services)
        try:
            users = [fake.user(2000 + i, f"User {i}", language_code="en") for i in range(8)]
            for question in QUESTIONS:  # each user's three questions, interleaved
                for user in users:
                    fake.send_text(user, question)
            for user in users:
                answers = [await fake.wait_for_message(user, timeout=20) for _ in QUESTIONS]
                assert "working days" in answers[0]["text"]  # the answers came in order
                assert "return" in answers[1]["text"].lower()
                assert "pay" in answers[2]["text"].lower()
            assert processor.peak > 1  # chats really ran at the same time
            for _ in range(200):  # the last handlers store what they sent, then finish
                if processor.running == 0:
                    break
                await asyncio.sleep(0.02)
            assert len(processor.chats) == 0  # and left no lock behind
            async with services.db.transaction() as session:
                rows = (
                    await session.execute(
                        select(Customer.external_id, Message.text)
                        .join(Customer, Customer.id == Message.customer_id)
                        .where(Message.sender == "customer")
                        .order_by(Message.id)
                    )
                ).all()
            for user in users:
                kept = [text for who, text in rows if who == str(user.id)]
                assert kept == list(QUESTIONS)
        finally:
            await stop_application(app)
            await services.close()


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(id=chat_id, type="private")
    message = TgMessage(message_id=update_id, date=datetime.now(UTC), chat=chat, text="hi")
    return Update(update_id=update_id, message=message)


async def test_a_chats_waiting_updates_take_no_slot_from_other_chats() -> None:
    processor = PerChatUpdateProcessor(max_concurrent_updates=2)
    done: list[str] = []
    release = asyncio.Event()

    async def work(name: str, wait: bool) -> None:
        if wait:
            await release.wait()
        done.append(name)

    busy = [
        asyncio.create_task(processor.do_process_update(_update(i, 1), work(f"a{i}", True)))
        for i in range(5)
    ]
    await asyncio.sleep(0.01)
    other = processor.do_process_update(_update(9, 2), work("b", False))
    await asyncio.wait_for(other, 1.0)  # chat 1's four waiting updates hold no slot
    assert done == ["b"]
    release.set()
    await asyncio.gather(*busy)
    assert done == ["b", "a0", "a1", "a2", "a3", "a4"]  # chat 1 in arrival order
    assert len(processor.chats) == 0
