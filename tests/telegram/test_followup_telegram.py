"""The follow-up after resolve on Telegram: the real PTB Application polling the fake Bot API,
the handoff engine on a virtual clock moved by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application
from storage.models import Customer, Event, Message, Ticket
from tests.fakes.bot_api import FakeBotApi
from tests.telegram.test_live_handoff_e2e import (
    Env,
    _assigned_chat,
    _buttons,
    _callback,
    _data,
)

DAY = 24 * 3600.0


class VirtualEnv(Env):
    """The live environment, with the services on a virtual clock."""

    clock = VirtualClock()

    async def start(self, **env: str) -> Services:
        settings = load_settings(
            env={
                "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{self.tmp_path / 'live.db'}",
                "SANAD_TELEGRAM_TOKEN": self.fake.token,
                "SANAD_TELEGRAM_BASE_URL": self.fake.base_url,
                "SANAD_TELEGRAM_BASE_FILE_URL": self.fake.base_file_url,
                "SANAD_OFFER_TIMEOUT_S": "30",
                "SANAD_POSITION_UPDATE_S": "0",
                **env,
            },
        )
        self.clock = VirtualClock()
        self.services = Services.create(settings, self.clock)
        self.app = build_application(self.services)
        await self.app.initialize()
        await self.services.start()
        await start_application(self.app, self.services)
        return self.services

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.svc.handoff.tick()
        await self.svc.handoff.settled()


@pytest.fixture
async def venv(tmp_path: Path) -> AsyncIterator[VirtualEnv]:
    fake = FakeBotApi()
    await fake.start()
    environment = VirtualEnv(fake, tmp_path)
    try:
        yield environment
    finally:
        await environment.stop()
        await fake.stop()


async def _events(env: Env, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data or {}) for e in await env.rows(Event, Event.kind == kind)]


async def test_asked_a_day_later_and_no_reopens_the_same_ticket_for_the_same_agent(
    venv: VirtualEnv,
) -> None:
    fake = venv.fake
    await venv.start()
    agent_user, sara, _ = await _assigned_chat(venv)
    fake.send_text(agent_user, "/close")
    await fake.wait_for_message(sara, contains="How would you rate")
    (ticket,) = await venv.rows(Ticket)
    await venv.later(DAY - 60)
    assert not [m for m in fake.messages(sara) if "still solved" in (m.get("text") or "")]
    await venv.later(60)
    question = await fake.wait_for_message(sara, contains="Is your problem still solved?")
    assert f"#{ticket.id}" in question["text"]
    assert [label for label, _ in _buttons(question)] == [
        "Yes, it's solved",
        "No, I still need help",
        "Don't ask me again",
    ]
    assert _data(question, "No, I still need help") == f"fu:{ticket.id}:0:n"
    fake.press(sara, question, _data(question, "No, I still need help"))
    await fake.wait_for_message(sara, contains=f"reopened ticket #{ticket.id}")
    offer = await fake.wait_for_message(agent_user, contains=f"New chat #{ticket.id}")
    assert "high" in offer["text"]
    assert not (fake.message(sara, question["message_id"]).get("reply_markup") or {}).get(
        "inline_keyboard"
    )
    (again,) = await venv.rows(Ticket)
    assert (again.id, again.state, again.priority, again.reopened_count) == (
        ticket.id,
        "offered",
        "high",
        1,
    )
    assert len(await _events(venv, "followup_sent")) == 1
    (reopened,) = await _events(venv, "followup_reopened")
    assert reopened["cycle"] == 0
    async with venv.svc.db.transaction() as session:
        choice = (
            (
                await session.execute(
                    select(Event.kind).where(
                        Event.kind == "ticket_reopened", Event.ticket_id == ticket.id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert choice == ["ticket_reopened"]
    # The transcript keeps the question with its options, and the press as the customer's
    # choice, labelled as the button was.
    lines = await venv.rows(Message, Message.ticket_id == ticket.id)
    [asked] = [m for m in lines if (m.meta or {}).get("notice") == "followup"]
    assert [o["data"] for o in asked.meta["options"]] == [
        f"fu:{ticket.id}:0:y",
        f"fu:{ticket.id}:0:n",
        f"fu:{ticket.id}:0:x",
    ]
    assert [m.text for m in lines if m.kind == "choice"][-1] == "No, I still need help"
    # The same button again: the question is answered already.
    fake.queue_update({"callback_query": _callback(sara, question, f"fu:{ticket.id}:0:n", "again")})
    await fake.wait_for_message(sara, contains="This question has expired")
    assert len(await _events(venv, "followup_reopened")) == 1


async def test_a_customer_who_blocked_the_bot_is_marked_and_not_asked_again(
    venv: VirtualEnv,
) -> None:
    fake = venv.fake
    await venv.start()
    agent_user, sara, _ = await _assigned_chat(venv)
    fake.send_text(agent_user, "/close")
    await fake.wait_for_message(sara, contains="How would you rate")
    fake.block(sara)
    await venv.later(DAY)
    (customer,) = await venv.rows(Customer, Customer.channel == "telegram")
    assert customer.unreachable
    assert len(await _events(venv, "followup_sent")) == 1  # asked, and found blocked
