"""Live handoff on Telegram, end to end: the real PTB Application polling the fake Bot API over
HTTP, the handoff engine on the wall clock with a short offer timeout, a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import load_settings
from app.services import Services
from bot.app import build_application, start_application, stop_application
from handoff.agents import add_agent
from handoff.canned import add_canned
from handoff.customers import find_customer, set_tier
from handoff.hours import DAY_KEYS, DAY_NAMES
from storage.models import Agent, Customer, Event, Message, Note, Rating, Ticket
from tests.fakes.bot_api import FakeBotApi, FakeUser

OFFER_TIMEOUT = "0.4"


class Env:
    def __init__(self, fake: FakeBotApi, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.services: Services | None = None
        self.app: Any = None

    async def start(self, **env: str) -> Services:
        config = env.pop("SANAD_CONFIG", None)
        settings = load_settings(
            config_file=config,
            env={
                "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{self.tmp_path / 'live.db'}",
                "SANAD_TELEGRAM_TOKEN": self.fake.token,
                "SANAD_TELEGRAM_BASE_URL": self.fake.base_url,
                "SANAD_TELEGRAM_BASE_FILE_URL": self.fake.base_file_url,
                "SANAD_OFFER_TIMEOUT_S": OFFER_TIMEOUT,
                "SANAD_POSITION_UPDATE_S": "0",
                **env,
            },
        )
        self.services = Services.create(settings)
        self.app = build_application(self.services)
        await self.app.initialize()
        await self.services.start()
        await start_application(self.app, self.services)
        return self.services

    async def stop(self) -> None:
        if self.app is not None:
            await stop_application(self.app)
            self.app = None
        if self.services is not None:
            await self.services.close()
            self.services = None

    @property
    def svc(self) -> Services:
        assert self.services is not None
        return self.services

    async def agent(self, user: FakeUser, name: str, online: bool = True, **kw: Any) -> int:
        async with self.svc.db.transaction() as session:
            agent = await add_agent(
                session, name=name, at=self.svc.clock.now(), telegram_id=str(user.id), **kw
            )
            agent_id = agent.id
        if online:
            self.fake.send_text(user, "/online")
            await self.fake.wait_for_message(user, contains="Status: available")
        return agent_id

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.svc.db.transaction() as session:
            return list((await session.execute(select(model).where(*where))).scalars().all())

    async def until(self, check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
        for _ in range(int(within / 0.02)):
            if await check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("condition never held")

    async def ask_for_person(self, user: FakeUser) -> dict[str, Any]:
        """A customer whose question the bot cannot answer presses "Talk to a person"."""
        self.fake.send_text(user, "zxqv wplk mmrt")
        miss = await self.fake.wait_for_message(user, contains="don't have an answer")
        self.fake.press(user, miss, "human")
        return await self.fake.wait_for_message(user)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    fake = FakeBotApi()
    await fake.start()
    environment = Env(fake, tmp_path)
    try:
        yield environment
    finally:
        await environment.stop()
        await fake.stop()


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def _data(message: dict[str, Any], label: str) -> str:
    return next(d for text, d in _buttons(message) if text == label)


async def test_full_flow_miss_reassign_relay_close_and_rate(env: Env) -> None:
    fake = env.fake
    await env.start()
    a_user = fake.user(2001, "Amal", language_code="en")
    b_user = fake.user(2002, "Bilal", language_code="en")
    sara = fake.user(1001, "Sara", language_code="en")
    a = await env.agent(a_user, "Amal")
    b = await env.agent(b_user, "Bilal")

    queued = await env.ask_for_person(sara)
    assert "number 1 in the queue" in queued["text"]

    offer_a = await fake.wait_for_message(a_user, contains="New chat #")
    assert "zxqv wplk mmrt" in offer_a["text"]
    assert [label for label, _ in _buttons(offer_a)] == ["Accept", "Decline"]
    # A ignores it: after the timeout the buttons go, the text says why, B gets the offer.
    offer_b = await fake.wait_for_message(b_user, contains="New chat #", timeout=5)
    edited_a = fake.message(a_user, offer_a["message_id"])
    assert _buttons(edited_a) == []
    assert edited_a["text"].endswith("Not accepted in time: offered to someone else.")

    fake.press(b_user, offer_b, _data(offer_b, "Accept"))
    joined = await fake.wait_for_message(sara, contains="has joined")
    assert joined["text"] == "Bilal has joined the chat."
    await fake.wait_for_message(b_user, contains="You're now with Sara")
    (ticket,) = await env.rows(Ticket)
    assert (ticket.state, ticket.assignee_id) == ("assigned", b)

    # customer -> agent, tagged; agent reply -> customer
    fake.send_text(sara, "My parcel is late")
    relayed = await fake.wait_for_message(b_user, contains="My parcel is late")
    assert relayed["text"] == f"#{ticket.id} Sara: My parcel is late"
    fake.send_text(b_user, "Let me check that for you", reply_to=relayed)
    answer = await fake.wait_for_message(sara)
    assert answer["text"] == "Let me check that for you"
    # photos both ways
    fake.send_photo(sara, caption="the label")
    photo_to_agent = await fake.wait_for_message(b_user)
    assert (
        "photo" in photo_to_agent and photo_to_agent["caption"] == f"#{ticket.id} Sara: the label"
    )
    fake.send_photo(b_user, caption="this one?")
    photo_to_customer = await fake.wait_for_message(sara)
    assert "photo" in photo_to_customer and photo_to_customer["caption"] == "this one?"
    # an edit to a relayed text is mirrored
    sent = fake.send_text(sara, "it was ordred on Monday")
    copy = await fake.wait_for_message(b_user, contains="ordred")
    fake.edit_text(sara, sent, "it was ordered on Monday")
    await env.until(
        lambda: _async(
            fake.message(b_user, copy["message_id"])["text"].endswith("ordered on Monday")
        )
    )

    fake.send_text(b_user, "/close")
    rate = await fake.wait_for_message(sara, contains="How would you rate")
    assert [label for label, _ in _buttons(rate)] == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
    fake.press(sara, rate, _data(rate, "4 ★"))
    await env.until(lambda: _async("You rated 4" in fake.message(sara, rate["message_id"])["text"]))
    fake.send_text(sara, "Quick and kind, thanks")
    thanks = await fake.wait_for_message(sara, contains="Thanks for your feedback")
    assert thanks
    (rating,) = await env.rows(Rating)
    assert (rating.stars, rating.comment, rating.agent_id) == (4, "Quick and kind, thanks", b)
    (ticket,) = await env.rows(Ticket)
    assert (ticket.state, ticket.resolution, ticket.first_agent_reply_at is not None) == (
        "resolved",
        "agent",
        True,
    )
    senders = [m.sender for m in await env.rows(Message, Message.ticket_id == ticket.id)]
    assert "agent" in senders and "customer" in senders
    kinds = [e.kind for e in await env.rows(Event, Event.ticket_id == ticket.id)]
    for kind in ("offer_expired", "offer_accepted", "ticket_resolved", "rating_given"):
        assert kind in kinds
    assert a != b


async def _async(value: bool) -> bool:
    return value


async def test_vip_queued_after_a_normal_customer_is_offered_first(env: Env) -> None:
    fake = env.fake
    await env.start()
    agent_user = fake.user(2001, "Amal", language_code="en")
    await env.agent(agent_user, "Amal", online=False)
    normal = fake.user(1001, "Nadia", language_code="en")
    vip = fake.user(1002, "Victor", language_code="en")
    fake.send_text(vip, "/start")
    await fake.wait_for_message(vip)
    async with env.svc.db.transaction() as session:
        customer = await find_customer(session, "telegram", "1002")
        assert customer is not None
        await set_tier(session, customer, "vip", env.svc.clock.now())
    waiting = await env.ask_for_person(normal)
    assert "No agent is online" in waiting["text"]
    await env.ask_for_person(vip)
    fake.send_text(agent_user, "/online")
    offer = await fake.wait_for_message(agent_user, contains="New chat #")
    assert "from Victor" in offer["text"] and "(high" in offer["text"]


async def test_three_missed_offers_set_an_agent_away(env: Env) -> None:
    fake = env.fake
    await env.start()
    agent_user = fake.user(2001, "Amal", language_code="en")
    agent_id = await env.agent(agent_user, "Amal")
    await env.ask_for_person(fake.user(1001, "Sara", language_code="en"))
    away = await fake.wait_for_message(
        agent_user, contains="You missed 3 offers in a row", timeout=10
    )
    assert "/online" in away["text"]
    offers = [m for m in fake.messages(agent_user) if "New chat #" in (m.get("text") or "")]
    assert len(offers) == 3
    (agent,) = await env.rows(Agent, Agent.id == agent_id)
    assert agent.status == "away"


async def test_restart_in_the_middle_of_an_offer(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    agent_user = fake.user(2001, "Amal", language_code="en")
    await env.agent(agent_user, "Amal")
    sara = fake.user(1001, "Sara", language_code="en")
    await env.ask_for_person(sara)
    offer = await fake.wait_for_message(agent_user, contains="New chat #")
    await env.stop()  # the process dies with the offer pending
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    assert len(env.svc.handoff.acd.offers) == 1  # re-armed from the database
    fake.press(agent_user, offer, _data(offer, "Accept"))
    await fake.wait_for_message(sara, contains="Amal has joined")
    fake.send_text(sara, "still there?")
    relayed = await fake.wait_for_message(agent_user, contains="still there?")
    fake.send_text(agent_user, "yes", reply_to=relayed)
    assert (await fake.wait_for_message(sara))["text"] == "yes"


async def _assigned_chat(env: Env) -> tuple[FakeUser, FakeUser, dict[str, Any]]:
    fake = env.fake
    agent_user = fake.user(2001, "Amal", language_code="en")
    await env.agent(agent_user, "Amal")
    sara = fake.user(1001, "Sara", language_code="en")
    await env.ask_for_person(sara)
    offer = await fake.wait_for_message(agent_user, contains="New chat #")
    fake.press(agent_user, offer, _data(offer, "Accept"))
    await fake.wait_for_message(sara, contains="has joined")
    await fake.wait_for_message(agent_user, contains="You're now with")
    return agent_user, sara, offer


async def test_blocked_customer_closes_the_ticket_and_tells_the_agent(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    agent_user, sara, _ = await _assigned_chat(env)
    fake.block(sara)
    fake.send_text(agent_user, "Are you there?")
    told = await fake.wait_for_message(agent_user, contains="has left")
    assert "closed" in told["text"]
    (ticket,) = await env.rows(Ticket)
    assert (ticket.state, ticket.resolution) == ("closed", "abandoned")


async def test_blocked_agent_is_offline_and_the_chat_goes_to_another(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    agent_user, sara, _ = await _assigned_chat(env)
    other = fake.user(2002, "Bilal", language_code="en")
    await env.agent(other, "Bilal")
    fake.block(agent_user)
    fake.send_text(sara, "hello?")
    offer = await fake.wait_for_message(other, contains="New chat #")
    assert "Sara" in offer["text"]
    agents = {a.name: a.status for a in await env.rows(Agent)}
    assert agents["Amal"] == "offline"


async def test_a_429_storm_loses_and_duplicates_nothing(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    agent_user, sara, _ = await _assigned_chat(env)
    fake.flood(4, retry_after=1)
    for i in range(3):
        fake.send_text(sara, f"message {i}")
    got = [await fake.wait_for_message(agent_user, timeout=15) for _ in range(3)]
    assert [m["text"].split(": ", 1)[1] for m in got] == ["message 0", "message 1", "message 2"]
    await fake.assert_no_message(agent_user, within=1.5)
    assert sum(1 for c in fake.calls if c.status == 429) == 4


async def test_forged_and_foreign_callbacks_are_refused(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    a_user = fake.user(2001, "Amal", language_code="en")
    b_user = fake.user(2002, "Bilal", language_code="en")
    await env.agent(a_user, "Amal")
    b = await env.agent(b_user, "Bilal")
    sara = fake.user(1001, "Sara", language_code="en")
    await env.ask_for_person(sara)
    offer = await fake.wait_for_message(a_user, contains="New chat #")
    accept = _data(offer, "Accept")
    # Bilal replays Amal's Accept on a message of his own
    status = await _status_message(env, b_user)
    fake.queue_update({"callback_query": _callback(b_user, status, accept, "forged-agent")})
    answer = await fake.wait_for_call(
        "answerCallbackQuery", lambda p: p.get("callback_query_id") == "forged-agent"
    )
    assert answer.params["text"] == "This button is no longer valid."
    # a customer replays it too
    fake.queue_update({"callback_query": _callback(sara, status, accept, "forged-customer")})
    answer = await fake.wait_for_call(
        "answerCallbackQuery", lambda p: p.get("callback_query_id") == "forged-customer"
    )
    assert answer.params["text"] == "This button is no longer valid."
    (ticket,) = await env.rows(Ticket)
    assert ticket.state == "offered" and ticket.assignee_id is None
    # agent commands do nothing for a customer: they get the normal bot
    fake.send_text(sara, "/online")
    reply = await fake.wait_for_message(sara)
    assert reply["text"].startswith("I don't know the command /online")
    assert b


async def _status_message(env: Env, user: FakeUser) -> dict[str, Any]:
    env.fake.send_text(user, "/status")
    return await env.fake.wait_for_message(user, contains="Status:")


def _callback(user: FakeUser, message: dict[str, Any], data: str, query_id: str) -> dict[str, Any]:
    return {
        "id": query_id,
        "from": user.to_dict(),
        "chat_instance": str(user.id),
        "message": message,
        "data": data,
    }


async def test_agent_tools_note_canned_tag_priority_chats_transfer_and_back_to_bot(
    env: Env,
) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    agent_user, sara, _ = await _assigned_chat(env)
    bilal = fake.user(2002, "Bilal", language_code="en")
    await env.agent(bilal, "Bilal")
    sue = fake.user(2003, "Sue", language_code="en")
    await env.agent(sue, "Sue", online=False, role="supervisor")
    (ticket,) = await env.rows(Ticket)

    fake.send_text(agent_user, "/note customer is a regular")
    assert "Note saved on #" in (await fake.wait_for_message(agent_user))["text"]
    await fake.assert_no_message(sara, within=0.3)
    (note,) = await env.rows(Note)
    assert note.text == "customer is a regular"

    async with env.svc.db.transaction() as session:
        await add_canned(
            session, "hello", "Hi {name}, this is {agent} on #{ticket}.", env.svc.clock.now()
        )
    fake.send_text(agent_user, "/t hello")
    canned = await fake.wait_for_message(sara)
    assert canned["text"] == f"Hi Sara, this is Amal on #{ticket.id}."
    fake.send_text(agent_user, "/t nope")
    assert (
        "No canned reply nope"
        in (await fake.wait_for_message(agent_user, contains="No canned"))["text"]
    )

    fake.send_text(agent_user, "/tag refund")
    assert (await fake.wait_for_message(agent_user, contains="tags:"))["text"].endswith("refund")
    fake.send_text(agent_user, "/priority high")
    await fake.wait_for_message(agent_user, contains="is now high")
    (ticket,) = await env.rows(Ticket)
    assert (ticket.tags, ticket.priority) == (["refund"], "high")

    fake.send_text(agent_user, "/chats")
    chats = await fake.wait_for_message(agent_user, contains="Your chats")
    fake.press(agent_user, chats, _buttons(chats)[0][1])
    assert (
        "Current chat" in (await fake.wait_for_message(agent_user, contains="Current chat"))["text"]
    )

    fake.send_text(sue, "/queue")
    assert (await fake.wait_for_message(sue))["text"].startswith("Queue (0)")
    fake.send_text(sue, "/agents")
    team = (await fake.wait_for_message(sue))["text"]
    assert "Amal (agent): available, 1/1" in team and "Bilal (agent): available, 0/1" in team
    fake.send_text(bilal, "/queue")  # not a supervisor
    assert "don't know the command" in (await fake.wait_for_message(bilal))["text"]

    fake.send_text(agent_user, "/transfer")
    menu = await fake.wait_for_message(agent_user, contains="Transfer #")
    # Only who can take the chat now: Bilal (available), not Sue (offline).
    assert [label for label, _ in _buttons(menu)] == ["Bilal"]
    fake.press(
        agent_user, menu, next(d for label, d in _buttons(menu) if label.startswith("Bilal"))
    )
    offer = await fake.wait_for_message(bilal, contains="New chat #")
    fake.press(bilal, offer, _data(offer, "Accept"))
    await fake.wait_for_message(sara, contains="Bilal has joined")
    (ticket,) = await env.rows(Ticket)
    assert ticket.assignee_id is not None and ticket.rank_at is not None

    fake.send_text(bilal, "/bot")
    await fake.wait_for_message(sara, contains="back with the assistant")
    fake.send_text(sara, "how long does delivery take?")
    assert (
        "2-4 working days" in (await fake.wait_for_message(sara, contains="Did this help"))["text"]
    )


async def test_low_rating_reaches_the_supervisor(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    sue = fake.user(2003, "Sue", language_code="en")
    await env.agent(sue, "Sue", online=False, role="supervisor")
    agent_user, sara, _ = await _assigned_chat(env)
    fake.send_text(agent_user, "/close")
    rate = await fake.wait_for_message(sara, contains="How would you rate")
    fake.press(sara, rate, _data(rate, "1 ★"))
    low = await fake.wait_for_message(sue, contains="Low rating")
    assert "1 ★ (agent Amal)" in low["text"]
    # one rating per ticket cycle: a second press is refused
    fake.queue_update({"callback_query": _callback(sara, rate, _data(rate, "5 ★"), "again")})
    answer = await fake.wait_for_call(
        "answerCallbackQuery", lambda p: p.get("callback_query_id") == "again"
    )
    assert answer.params["text"] == "This button is no longer valid."
    fake.press(
        sara, fake.message(sara, rate["message_id"]), "rsk:" + str((await env.rows(Ticket))[0].id)
    )
    await env.until(lambda: _awaiting_cleared(env))
    # After the close the bot speaks first; asking for a person within the reopen window
    # reopens the same ticket.
    fake.send_text(sara, "one more thing")
    miss = await fake.wait_for_message(sara, contains="don't have an answer")
    fake.press(sara, miss, _data(miss, "Talk to a person"))
    await fake.wait_for_message(sara, contains="reopened")


async def _awaiting_cleared(env: Env) -> bool:
    customers = await env.rows(Customer)
    return all(c.awaiting_comment_ticket_id is None for c in customers)


async def test_arabic_customer_asks_for_a_person_in_plain_words_and_cancels(env: Env) -> None:
    fake = env.fake
    await env.start(SANAD_OFFER_TIMEOUT_S="30")
    laila = fake.user(1005, "ليلى", language_code="ar")
    fake.send_text(laila, "أبي أكلم موظف")
    waiting = await fake.wait_for_message(laila)
    assert waiting["text"].startswith("لا يوجد موظف متصل الآن")
    fake.send_text(laila, "/cancel")
    assert (await fake.wait_for_message(laila))["text"].startswith("غادرت قائمة الانتظار")
    (ticket,) = await env.rows(Ticket)
    assert (ticket.state, ticket.resolution) == ("closed", "abandoned")


async def test_outside_business_hours_gives_hours_and_ticket_number(
    env: Env, tmp_path: Path
) -> None:
    fake = env.fake
    today = datetime.now(UTC).weekday()
    open_day = DAY_KEYS[(today + 2) % 7]
    config = tmp_path / "hours.toml"
    config.write_text(f'[business_hours]\ntimezone = "UTC"\n{open_day} = "09:00-10:00"\n')
    await env.start(SANAD_CONFIG=str(config))
    agent_user = fake.user(2001, "Amal", language_code="en")
    await env.agent(agent_user, "Amal")
    sara = fake.user(1001, "Sara", language_code="en")
    reply = await env.ask_for_person(sara)
    (ticket,) = await env.rows(Ticket)
    assert reply["text"].startswith(f"Our team is away right now. Your ticket is #{ticket.id}")
    assert f"{DAY_NAMES[(today + 2) % 7]}: 09:00-10:00" in reply["text"]
    await fake.assert_no_message(agent_user, within=0.5)
    assert ticket.waiting_for_hours
