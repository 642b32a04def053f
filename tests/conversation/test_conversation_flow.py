"""The conversation a customer and an agent live through (issue 10), through the real entry
points: Telegram (the real python-telegram-bot application polling the fake Bot API) and the
web chat (the real aiohttp server, tests/webchat_client.py), in English and Arabic, with the
handoff engine on the virtual clock. Agents act through the handoff service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application, stop_application
from faq.matcher import Thresholds
from handoff.agents import add_agent
from handoff.tickets import last_customer_texts
from storage.models import Agent, Message, Offer, Rating, Ticket
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.webchat_client import ChatClient, settle
from web.app import create_app

QUESTION = {"en": "how long does delivery take?", "ar": "كم مدة التوصيل؟"}
DID_IT_HELP = {"en": "Did this help?", "ar": "هل أفادتك"}
COMMENT = "the agent was quick but didn't answer about the order number"


@dataclass
class Stack:
    fake: FakeBotApi
    services: Services
    client: TestClient[Any, Any]
    clock: VirtualClock

    async def agent(self, name: str, **kw: Any) -> int:
        async with self.services.db.transaction() as session:
            agent = await add_agent(session, name=name, at=self.clock.now(), **kw)
            agent_id = agent.id
        await self.services.handoff.resync()
        await self.services.handoff.set_agent_status(agent_id, "available")
        return agent_id

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.services.db.transaction() as session:
            return list((await session.execute(select(model).where(*where))).scalars().all())

    async def pending_offer(self, agent_id: int | None = None) -> Offer:
        offers: list[Offer] = []

        async def found() -> bool:
            nonlocal offers
            offers = await self.rows(Offer, Offer.state == "pending")
            offers = [o for o in offers if agent_id in (None, o.agent_id)]
            return bool(offers)

        await settle(found)
        return offers[-1]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    fake = FakeBotApi()
    await fake.start()
    clock = VirtualClock()
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'flow.db'}",
            "SANAD_TELEGRAM_TOKEN": fake.token,
            "SANAD_TELEGRAM_BASE_URL": fake.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        }
    )
    services = Services.create(settings, clock)
    telegram = build_application(services)
    await telegram.initialize()
    app = create_app(services, telegram)
    await services.start(run_timers=False)
    await start_application(telegram, services)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Stack(fake, services, client, clock)
    finally:
        await client.close()
        await stop_application(telegram)
        await services.close()
        await fake.stop()


class Customer:
    """One customer on one channel: say, press a button by its label, wait for a text."""

    async def say(self, text: str) -> None:
        raise NotImplementedError

    async def expect(self, contains: str) -> tuple[str, list[tuple[str, str]], Any]:
        """The next bot/system line containing ``contains``: (text, buttons, handle)."""
        raise NotImplementedError

    async def press(self, handle: Any, data: str) -> None:
        raise NotImplementedError

    async def expect_update(self, handle: Any, contains: str) -> None:
        """The message ``handle`` is changed in place to a text containing ``contains``."""
        raise NotImplementedError

    async def expect_silence(self) -> None:
        """Nothing more is said to the customer for a moment."""
        raise NotImplementedError


class TelegramCustomer(Customer):
    def __init__(self, fake: FakeBotApi, user: FakeUser) -> None:
        self.fake, self.user = fake, user

    async def say(self, text: str) -> None:
        self.fake.send_text(self.user, text)

    async def expect(self, contains: str) -> tuple[str, list[tuple[str, str]], Any]:
        message = await self.fake.wait_for_message(self.user, contains=contains)
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = [(b["text"], b["callback_data"]) for row in rows for b in row]
        return message.get("text") or "", buttons, message

    async def press(self, handle: Any, data: str) -> None:
        self.fake.press(self.user, handle, data)

    async def expect_silence(self) -> None:
        await self.fake.assert_no_message(self.user, within=0.3)

    async def expect_update(self, handle: Any, contains: str) -> None:
        await settle(lambda: contains in self.fake.message(self.user, handle["message_id"])["text"])


class WebCustomer(Customer):
    def __init__(self, chat: ChatClient) -> None:
        self.chat = chat

    async def say(self, text: str) -> None:
        await self.chat.say(text)

    async def expect(self, contains: str) -> tuple[str, list[tuple[str, str]], Any]:
        frame = await self.chat.next(
            lambda f: (
                f["type"] in ("message", "update")
                and f.get("sender") != "customer"
                and contains in f["text"]
            )
        )
        buttons = [(b["label"], b["data"]) for row in frame["buttons"] for b in row]
        return frame["text"], buttons, frame["id"]

    async def press(self, handle: Any, data: str) -> None:
        await self.chat.press(data, handle)

    async def expect_silence(self) -> None:
        start = len(self.chat.frames)
        await self.chat.drain()
        said = [
            f
            for f in self.chat.frames[start:]
            if f["type"] == "message" and f["sender"] != "customer"
        ]
        assert not said, said

    async def expect_update(self, handle: Any, contains: str) -> None:
        await self.chat.next(
            lambda f: f["type"] == "update" and f["id"] == handle and contains in f["text"]
        )


async def customer_on(stack: Stack, channel: str, lang: str) -> Customer:
    if channel == "telegram":
        user = stack.fake.user(1001, "Sara", language_code=lang)
        return TelegramCustomer(stack.fake, user)
    chat = ChatClient(stack.client, lang=lang)
    await chat.connect(name="Sara")
    return WebCustomer(chat)


def button(buttons: list[tuple[str, str]], start: str) -> str:
    return next(data for _, data in buttons if data.startswith(start))


TEXTS = {
    "en": {
        "queue": "queue",
        "joined": "has joined",
        "rate": "rate",
        "rated": "You rated",
        "thanks": "Thanks for your feedback",
        "sorry": "Sorry",
        "reopened": "reopened ticket",
        "kept": "Your message is saved on ticket",
    },
    "ar": {
        "queue": "قائمة الانتظار",
        "joined": "انضم",
        "rate": "قيّم",
        "rated": "قيّمت",
        "thanks": "شكراً على ملاحظاتك",
        "sorry": "نأسف",
        "reopened": "أعدت فتح التذكرة",
        "kept": "حُفظت رسالتك",
    },
}


@pytest.mark.parametrize("lang", ["en", "ar"])
@pytest.mark.parametrize("channel", ["telegram", "web"])
async def test_after_close_the_bot_speaks_first_and_a_person_reopens_the_same_ticket(
    stack: Stack, channel: str, lang: str
) -> None:
    """Findings 2 and 3: after the agent closes and the customer rates (with a comment), the
    next question is answered by the bot, the ticket staying closed; asking for a person then
    reopens the same ticket, offered to the agent who had it (free, though another agent has
    been idle longer), and the offer does not show the rating comment as a customer line."""
    words = TEXTS[lang]
    amal = await stack.agent("Amal")
    stack.clock.advance(5)
    bilal = await stack.agent("Bilal")
    customer = await customer_on(stack, channel, lang)
    await customer.say("/human" if channel == "telegram" else "I want to talk to a person")
    await customer.expect(words["queue"])
    first = await stack.pending_offer()
    assert first.agent_id == amal  # idle the longest
    await stack.services.handoff.accept_offer(first.id, amal)
    await customer.expect(words["joined"])
    stack.clock.advance(60)
    await stack.services.handoff.resolve_ticket(first.ticket_id, amal)
    _, stars, rate = await customer.expect(words["rate"])
    await customer.press(rate, button(stars, "rate:")[:-1] + "5")
    await customer.expect_update(rate, words["rated"])
    await customer.say(COMMENT)
    await customer.expect(words["thanks"])
    (rating,) = await stack.rows(Rating)
    assert (rating.stars, rating.comment) == (5, COMMENT)

    # The bot answers the next question; the ticket stays resolved, nobody is offered it.
    stack.clock.advance(120)
    await customer.say(QUESTION[lang])
    _, feedback, answer = await customer.expect(DID_IT_HELP[lang])
    (ticket,) = await stack.rows(Ticket)
    assert (ticket.id, ticket.state, ticket.reopened_count) == (first.ticket_id, "resolved", 0)
    assert len(await stack.rows(Offer)) == 1

    # "No", then "Talk to a person": the same ticket reopens, offered to Amal.
    await customer.press(answer, next(d for _, d in feedback if d.startswith("fb:") and ":n" in d))
    _, human, sorry = await customer.expect(words["sorry"])
    await customer.press(sorry, button(human, "human"))
    await customer.expect(words["reopened"])
    (ticket,) = await stack.rows(Ticket)
    assert (ticket.id, ticket.state, ticket.reopened_count) == (first.ticket_id, "offered", 1)
    again = await stack.pending_offer()
    assert again.ticket_id == first.ticket_id
    assert again.agent_id == amal and bilal != amal  # the previous agent, though Bilal idled longer
    # The history is kept on the ticket; the offer's last lines are real customer lines.
    texts = [m.text for m in await stack.rows(Message, Message.ticket_id == ticket.id)]
    assert QUESTION[lang] in texts
    async with stack.services.db.transaction() as session:
        last = await last_customer_texts(session, ticket.id)
    assert COMMENT not in last and QUESTION[lang] in last
    # While waiting, a line is kept for the agent and said so once, not after every line.
    await customer.say("are you there?")
    await customer.expect(words["kept"])
    await customer.say("hello?")
    await customer.expect_silence()
    kept = [m for m in await stack.rows(Message) if (m.meta or {}).get("notice") == "kept"]
    assert len(kept) == 1


async def _closed_and_rated(stack: Stack, customer: Customer, lang: str) -> Offer:
    words = TEXTS[lang]
    amal = await stack.agent("Amal")
    await customer.say("I want to talk to a person")
    await customer.expect(words["queue"])
    first = await stack.pending_offer()
    await stack.services.handoff.accept_offer(first.id, amal)
    await customer.expect(words["joined"])
    await stack.services.handoff.resolve_ticket(first.ticket_id, amal)
    _, stars, rate = await customer.expect(words["rate"])
    await customer.press(rate, button(stars, "rate:")[:-1] + "2")
    await customer.expect_update(rate, words["rated"])
    await customer.say(COMMENT)
    await customer.expect(words["thanks"])
    return first


@pytest.mark.parametrize("channel", ["telegram", "web"])
async def test_the_rating_comment_is_the_ratings_only(stack: Stack, channel: str) -> None:
    """Finding 3: the comment after the stars is the rating's comment, never one of the
    customer's "last messages" in the next offer of that ticket."""
    customer = await customer_on(stack, channel, "en")
    first = await _closed_and_rated(stack, customer, "en")
    (rating,) = await stack.rows(Rating)
    assert rating.comment == COMMENT
    await customer.say("I want to talk to a person")
    await customer.expect("reopened ticket")
    again = await stack.pending_offer()
    assert again.id != first.id and again.ticket_id == first.ticket_id
    async with stack.services.db.transaction() as session:
        last = await last_customer_texts(session, again.ticket_id)
    assert COMMENT not in last
    assert last[-1] == "I want to talk to a person"
    (kept,) = await stack.rows(Message, Message.text == COMMENT)
    assert (kept.sender, kept.kind) == ("customer", "rating_comment")


@pytest.mark.parametrize("channel", ["telegram", "web"])
async def test_a_waiting_customer_hears_where_they_stand_while_offers_lapse(
    stack: Stack, channel: str
) -> None:
    """Finding 4: one agent, busy in another chat, keeps missing the offer (12 offer/expire
    cycles over 6 minutes). The customer is told where they stand every 2 minutes, not left
    with silence; the busy agent's misses do not set them away."""
    amal = await stack.agent("Amal", capacity=2)
    other = ChatClient(stack.client)
    await other.connect(name="Omar")
    await other.say("I want to talk to a person")
    busy = await stack.pending_offer(amal)
    await stack.services.handoff.accept_offer(busy.id, amal)

    customer = await customer_on(stack, channel, "en")
    await customer.say("I want to talk to a person")
    await customer.expect("number 1 in the queue")
    for cycle in range(1, 13):
        stack.clock.advance(30)
        await stack.services.handoff.tick()
        if cycle % 4 == 0:  # every 120 s
            text, _, _ = await customer.expect("still number 1 in the queue")
            assert text.startswith("Our agents are busy right now.")
    await customer.expect_silence()
    told = [m for m in await stack.rows(Message) if (m.meta or {}).get("notice") == "still_waiting"]
    assert len(told) == 3
    offers = await stack.rows(Offer, Offer.ticket_id != busy.ticket_id)
    assert len(offers) == 13 and {o.state for o in offers[:-1]} == {"expired"}
    (agent,) = await stack.rows(Agent)
    assert (agent.status, agent.no_answer_streak) == ("available", 0)


@pytest.mark.parametrize("channel", ["telegram", "web"])
async def test_every_press_is_in_the_transcript_with_the_options_offered(
    stack: Stack, channel: str
) -> None:
    """Finding 6: a suggestion pick, "No" and "Talk to a person" are lines of the transcript,
    as what the customer did; the agent's console and the ticket page show the options each
    bot line offered; the suggestions picked from can no longer be pressed."""
    stack.services.faq.thresholds = Thresholds(answer_min=1.01, answer_margin=0, suggest_min=0.0)
    customer = await customer_on(stack, channel, "en")
    await customer.say("I want to return the shoes I bought")
    _, options, suggestions = await customer.expect("Pick one:")
    picked_label, picked = next((la, d) for la, d in options if "return" in la.lower())
    await customer.press(suggestions, picked)
    if channel == "web":
        web = customer
        assert isinstance(web, WebCustomer)
        # The pick is shown as the customer's line, before the answer; the buttons go.
        choice = await web.chat.next(lambda f: f["type"] == "message" and f["kind"] == "choice")
        assert (choice["sender"], choice["text"]) == ("customer", picked_label)
        dropped = await web.chat.next(lambda f: f["type"] == "update" and f["id"] == suggestions)
        assert dropped["buttons"] == []
    else:
        await settle(lambda: not customer_buttons(stack, customer, suggestions))
    _, feedback, answer = await customer.expect("Did this help?")
    await customer.press(answer, next(d for la, d in feedback if la == "No"))
    _, human, sorry = await customer.expect("Sorry about that")
    amal = await stack.agent("Amal")
    await customer.press(sorry, button(human, "human"))
    await customer.expect("queue")
    offer = await stack.pending_offer(amal)
    await stack.services.handoff.accept_offer(offer.id, amal)

    (ticket,) = await stack.rows(Ticket)
    lines = await stack.rows(Message, Message.ticket_id == ticket.id)
    choices = [(m.sender, m.text) for m in lines if m.kind == "choice"]
    assert choices == [
        ("customer", picked_label),
        ("customer", "No"),
        ("customer", "Talk to a person"),
    ]
    # What the agent reads: the options under each bot line, each press as a choice.
    async with stack.services.db.transaction() as session:
        _, raw = await create_token(
            session, name="amal", role="agent", at=stack.clock.now(), agent_id=amal
        )
    view = await (
        await stack.client.get(
            f"/api/v1/agent/chats/{ticket.id}", headers={"Authorization": f"Bearer {raw}"}
        )
    ).json()
    texts = [m["text"] for m in view["messages"]]
    pick_line = next(x for x in texts if x.startswith("I'm not sure which of these you mean."))
    assert f"[{picked_label}]" in pick_line and "[None of these: talk to a person]" in pick_line
    assert f"▸ {picked_label}" in texts and "▸ No" in texts and "▸ Talk to a person" in texts
    assert texts.index(f"▸ {picked_label}") < texts.index("▸ No")
    answer_line = next(x for x in texts if "Did this help?" in x)
    assert answer_line.endswith("[Yes]  [No]")
    # The ticket, as a supervisor reads it, the same.
    async with stack.services.db.transaction() as session:
        _, boss = await create_token(session, name="sue", role="supervisor", at=stack.clock.now())
    detail = await (
        await stack.client.get(
            f"/api/v1/tickets/{ticket.id}", headers={"Authorization": f"Bearer {boss}"}
        )
    ).json()
    rows = [(m["sender"], m["text"], m["options"]) for m in detail["messages"]]
    assert ("customer", "▸ No", []) in rows
    assert any(o[-1] == "None of these: talk to a person" for _, _, o in rows if o)
    # The offer's "last messages" are what the customer wrote, not the buttons they pressed.
    async with stack.services.db.transaction() as session:
        assert await last_customer_texts(session, ticket.id) == (
            "I want to return the shoes I bought",
        )


def customer_buttons(stack: Stack, customer: Customer, handle: Any) -> list[Any]:
    assert isinstance(customer, TelegramCustomer)
    message = stack.fake.message(customer.user, handle["message_id"])
    return list((message.get("reply_markup") or {}).get("inline_keyboard", []))
