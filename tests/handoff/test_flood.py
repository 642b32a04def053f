"""Flood control (handoff/flood.py): one policy for the web chat and Telegram, on the
injected clock. A flooding customer is told kindly to slow down and their flood is neither
stored nor answered nor logged as FAQ queries; one network cannot fill the human queue or
open endless new chats; wrong logins are throttled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from accounts.tokens import create_token
from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from bot.app import build_application, start_application, stop_application
from handoff.flood import FloodLimits, FloodPolicy, TokenBuckets, WindowCounter
from storage.models import Message, QueryLog, Ticket
from tests.fakes.bot_api import FakeBotApi
from tests.webchat_client import ChatClient

DELIVERY = "how many days does delivery take?"


class Time:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.1, 10),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 5), min_size=1, max_size=200),
)
def test_a_token_bucket_never_lets_more_through_than_burst_plus_rate(
    rate: float, burst: int, gaps: list[float]
) -> None:
    time = Time()
    buckets = TokenBuckets(rate, burst, time)
    allowed: list[float] = []
    for gap in gaps:
        time.t += gap
        if buckets.take("k") == 0.0:
            allowed.append(time.t)
    # In every interval, at most the burst plus what refilled meanwhile got through.
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= burst + rate * (allowed[j] - start) + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 10),
    gaps=st.lists(st.floats(0, 30), min_size=1, max_size=100),
)
def test_a_window_counter_counts_at_most_its_limit_per_window(
    limit: int, gaps: list[float]
) -> None:
    time = Time()
    counter = WindowCounter(limit, 60.0, time)
    allowed: list[float] = []
    for gap in gaps:
        time.t += gap
        if counter.hit("k") == 0.0:
            allowed.append(time.t)
    # Fixed windows, each opened by the first event after the last one ended: at most
    # ``limit`` in each, so at most twice that in any 60 s span.
    window_start = None
    in_window = 0
    for at in allowed:
        if window_start is None or at - window_start >= 60.0:
            window_start, in_window = at, 0
        in_window += 1
        assert in_window <= limit
        assert sum(1 for other in allowed if at <= other < at + 60.0) <= 2 * limit


def test_the_policy_tells_once_per_streak_and_recovers() -> None:
    time = Time()
    policy = FloodPolicy(FloodLimits(message_burst=3, message_per_min=60), time)
    verdicts = [policy.message("customer:1") for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, False]
    assert [v.tell for v in verdicts[3:]] == [True, False, False]
    assert verdicts[3].retry_after_s == pytest.approx(1.0)
    time.t += 1.0
    assert policy.message("customer:1").allowed
    assert policy.message("customer:2").allowed  # others are not affected


async def _count(services: Services, model: Any, *where: Any) -> int:
    async with services.db.transaction() as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar_one())


@pytest.fixture
async def flood_env(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Services]]:
    settings_ = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'f.db'}",
            "SANAD_FLOOD_MESSAGE_BURST": "5",
            "SANAD_FLOOD_MESSAGE_PER_MIN": "30",
            "SANAD_FLOOD_NEW_VISITORS_PER_IP": "6",
            "SANAD_FLOOD_HANDOFFS_PER_IP": "3",
            "SANAD_LOGIN_FAILURES_PER_IP": "4",
        }
    )
    services = Services.create(settings_, VirtualClock())
    await services.start()
    async with TestClient(TestServer(_app(services))) as client:
        yield client, services
    await services.close()


def _app(services: Services) -> Any:
    from web.app import create_app

    return create_app(services)


async def test_one_web_visitor_flooding_is_told_to_slow_down_and_not_answered(
    flood_env: tuple[TestClient[Any, Any], Services],
) -> None:
    client, services = flood_env
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    before = await _count(services, Message)
    ids = []
    for _ in range(200):  # frozen clock: one burst, nothing refills
        ids.append(await chat.say(DELIVERY))
    acks = [await chat.ack(i) for i in ids]
    stored = [a for a in acks if a["id"] is not None]
    assert len(stored) == 5
    slow = [f for f in chat.frames if f["type"] == "error" and "faster" in f["message"]]
    assert len(slow) == 195
    assert await _count(services, QueryLog) == 5  # the flood is not in the knowledge gaps
    await chat.drain()
    assert await _count(services, Message) - before == 10  # 5 questions, 5 answers
    services.clock.advance(2.0)  # type: ignore[attr-defined]
    again = await chat.say(DELIVERY)
    assert (await chat.ack(again))["id"] is not None
    await chat.close()


async def test_the_slow_down_is_said_in_arabic_to_an_arabic_visitor(
    flood_env: tuple[TestClient[Any, Any], Services],
) -> None:
    client, _ = flood_env
    chat = ChatClient(client, lang="ar")
    await chat.connect()
    await chat.drain()
    for _ in range(6):
        last = await chat.say("كم يوم ياخذ التوصيل؟")
    error = await chat.next(lambda f: f["type"] == "error" and f["client_id"] == last)
    assert "أسرع" in error["message"]
    await chat.close()


async def test_one_network_cannot_open_endless_chats_or_fill_the_queue(
    flood_env: tuple[TestClient[Any, Any], Services],
) -> None:
    client, services = flood_env
    attacker = {"X-Forwarded-For": "198.51.100.7"}  # through the (trusted, local) proxy
    visitors = []
    for _ in range(6):
        chat = ChatClient(client, headers=attacker)
        await chat.connect()
        visitors.append(chat)
    refused = ChatClient(client, headers=attacker)
    with pytest.raises(ConnectionError, match="4029"):
        await refused.connect()
    assert any("Too many new chats" in f.get("message", "") for f in refused.frames)
    for chat in visitors:
        await chat.drain()
        await chat.press("human")
    limited = [
        chat
        for chat in visitors
        if any("Many requests for a person" in f.get("text", "") for f in chat.frames)
        or await _has(chat, "Many requests for a person")
    ]
    assert len(limited) == 3
    assert await _count(services, Ticket, Ticket.state == "queued") == 3
    # A real customer on another network still gets their place in the queue.
    customer = ChatClient(client, headers={"X-Forwarded-For": "203.0.113.20"})
    await customer.connect()
    await customer.press("human")
    await customer.message("system", "queue")
    assert await _count(services, Ticket, Ticket.state == "queued") == 4
    # A returning visitor is not new: their chat opens even from the capped network.
    back = ChatClient(client, headers=attacker)
    back.visitor = visitors[0].visitor
    await back.connect()
    for chat in (*visitors, customer, back):
        await chat.close()


async def _has(chat: ChatClient, text: str) -> bool:
    try:
        await chat.message(None, text, within=1.0)
    except AssertionError:
        return False
    return True


async def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    settings_ = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
            "SANAD_FLOOD_NEW_VISITORS_PER_IP": "2",
            "SANAD_TRUSTED_PROXIES": "10.0.0.0/8",  # not this machine
        }
    )
    services = Services.create(settings_, VirtualClock())
    await services.start()
    async with TestClient(TestServer(_app(services))) as client:
        for n in range(2):  # a different spoofed address each time: the peer is what counts
            await ChatClient(client, headers={"X-Forwarded-For": f"192.0.2.{n}"}).connect()
        with pytest.raises(ConnectionError, match="4029"):
            await ChatClient(client, headers={"X-Forwarded-For": "192.0.2.99"}).connect()
    await services.close()


async def test_wrong_logins_are_throttled_per_address(
    flood_env: tuple[TestClient[Any, Any], Services],
) -> None:
    client, services = flood_env
    async with services.db.transaction() as session:
        _, raw = await create_token(session, name="a", role="admin", at=services.clock.now())
    for _ in range(4):
        bad = await client.post("/login", data={"token": "sanad_wrong"}, allow_redirects=False)
        assert bad.status == 401
    blocked = await client.post("/login", data={"token": raw}, allow_redirects=False)
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    link = await client.get("/agent/login?key=whatever", allow_redirects=False)
    assert link.status == 429
    other = await client.post(
        "/login",
        data={"token": raw},
        headers={"X-Forwarded-For": "203.0.113.5"},
        allow_redirects=False,
    )
    assert other.status == 302  # another address is not affected
    services.clock.advance(16 * 60)  # type: ignore[attr-defined]
    good = await client.post("/login", data={"token": raw}, allow_redirects=False)
    assert good.status == 302


async def test_a_flooding_telegram_user_is_told_once_and_not_answered(tmp_path: Path) -> None:
    fake = FakeBotApi()
    await fake.start()
    settings_ = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tg.db'}",
            "SANAD_TELEGRAM_TOKEN": fake.token,
            "SANAD_TELEGRAM_BASE_URL": fake.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            "SANAD_FLOOD_MESSAGE_BURST": "3",
        }
    )
    services = Services.create(settings_, VirtualClock())
    app = build_application(services)
    await services.start(run_timers=False)
    await start_application(app, services)
    try:
        sara = fake.user(1001, "Sara", language_code="ar")
        for _ in range(12):
            fake.send_text(sara, DELIVERY)
        replies = [await fake.wait_for_message(sara) for _ in range(4)]
        texts = [r["text"] for r in replies]
        assert sum("أسرع" in text for text in texts) == 1, texts
        assert await _count(services, QueryLog) == 3
        assert await _count(services, Message, Message.sender == "customer") == 3
    finally:
        await stop_application(app)
        await services.close()
        await fake.stop()
