"""Outgoing webhooks end to end: a real aiohttp receiver on loopback hears, signed, about what
real actions did (a web chat customer asks for a person, an agent accepts, writes, closes, the
customer rates and writes again), on SQLite and PostgreSQL; failures are retried with backoff
on the virtual clock; nothing is lost when the service restarts while the receiver is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from handoff.agents import add_agent
from storage.models import WebhookDelivery, WebhookOutbox
from tests.webchat_client import ChatClient
from tests.webhooks.receiver import Receiver
from web.app import create_app
from webhooks.endpoints import EndpointFields, create_endpoint, delivery_log
from webhooks.outbox import TYPES

SECRET = "s3cret-for-the-tests-0123456789"


@dataclass
class Stack:
    services: Services
    client: TestClient[Any, Any]
    receiver: Receiver
    endpoint_id: int

    @property
    def clock(self) -> VirtualClock:
        clock = self.services.clock
        assert isinstance(clock, VirtualClock)
        return clock

    async def agent(self, name: str = "Pat") -> int:
        async with self.services.db.transaction() as session:
            agent = await add_agent(session, name=name, at=self.clock.now())
            agent_id = agent.id
        await self.services.handoff.resync()
        await self.services.handoff.set_agent_status(agent_id, "available")
        return agent_id

    async def count(self, model: Any, *where: Any) -> int:
        async with self.services.db.transaction() as session:
            return int(
                (
                    await session.execute(select(func.count()).select_from(model).where(*where))
                ).scalar_one()
            )


async def _services(url: str, clock: VirtualClock, **env: str) -> Services:
    services = Services.create(load_settings(env={"SANAD_DATABASE_URL": url, **env}), clock)
    return services


async def open_ticket(services: Services, external_id: str) -> int:
    """A new web contact: writes ``ticket_opened`` (its outbox row in the same transaction);
    the ticket's id."""
    from handoff.customers import touch_customer
    from handoff.tickets import current_ticket

    now = services.clock.now()
    async with services.db.transaction() as session:
        customer = await touch_customer(
            session,
            channel="web",
            external_id=external_id,
            name=external_id,
            username=None,
            language_code="en",
            default_language="en",
            at=now,
        )
        return (await current_ticket(session, customer, now)).id


@pytest.fixture
async def stack(any_db_url: str) -> AsyncIterator[Stack]:
    receiver = await Receiver().start()
    services = await _services(any_db_url, VirtualClock())
    app = create_app(services)  # gives the webhooks their aiohttp sender
    await services.start(run_timers=False)  # the tests run the worker themselves
    view, _ = await create_endpoint(
        services.db,
        EndpointFields("crm", receiver.url, TYPES, True, SECRET),
        services.clock.now(),
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Stack(services, client, receiver, view.id)
    finally:
        await client.close()
        await services.close()
        await receiver.stop()


async def test_every_type_reaches_the_receiver_signed_once(stack: Stack) -> None:
    agent_id = await stack.agent()
    chat = ChatClient(stack.client)
    await chat.connect()
    await chat.say("I want to talk to a person")
    await chat.message("system", "in the queue")
    offer = next(iter(stack.services.handoff.acd.offers.values()))
    ticket_id = offer.ticket_id
    assert (await stack.services.handoff.accept_offer(offer.id, agent_id)).ok
    await stack.services.handoff.agent_message(ticket_id, agent_id, "Hello, I am Pat", origin="web")
    await chat.message("agent", "Hello, I am Pat")
    await stack.services.handoff.resolve_ticket(ticket_id, agent_id)
    await chat.press(f"rate:{ticket_id}:0:5")
    await chat.message("customer", "5 ★")
    await chat.say("quick and kind")  # the rating's comment
    await chat.message("customer", "quick and kind")
    # Asking again within the reopen window reopens the same ticket.
    await chat.say("one more thing: I want to talk to a person")
    await chat.message("system", "reopened")

    posts = await stack.services.webhooks.run_once()
    received = stack.receiver.requests
    assert posts == len(received) > 0
    assert all(r.signed_with(SECRET) for r in received)
    assert not any(r.signed_with("another secret, 16+ chars") for r in received)
    payloads = stack.receiver.payloads()
    types = [p["type"] for p in payloads]
    for wanted in (
        "ticket_opened",
        "handoff_requested",
        "ticket_queued",
        "ticket_assigned",
        "message",
        "ticket_resolved",
        "ticket_rated",
        "ticket_reopened",
    ):
        assert wanted in types, (wanted, types)
    ids = [p["id"] for p in payloads]
    assert len(ids) == len(set(ids))  # each event once per endpoint
    assert [r.headers["X-Sanad-Event-Id"] for r in received] == ids
    for p in payloads:
        assert set(p) == {"id", "type", "created_at", "ticket", "data"}
        assert p["ticket"]["id"] == ticket_id and p["ticket"]["channel"] == "web"
        assert p["created_at"].endswith("Z")

    def first(type_: str) -> dict[str, Any]:
        return next(p for p in payloads if p["type"] == type_)

    assert first("ticket_assigned")["data"]["agent"] == {"id": agent_id, "name": "Pat"}
    assert first("ticket_rated")["data"]["stars"] == 5
    assert first("ticket_resolved")["data"]["resolution"] == "agent"
    senders = {p["data"]["message"]["sender"] for p in payloads if p["type"] == "message"}
    assert {"customer", "agent"} <= senders
    said = [p["data"]["message"]["text"] for p in payloads if p["type"] == "message"]
    assert "Hello, I am Pat" in said and "quick and kind" in said
    # In order: opened before requested before assigned before resolved before rated.
    order = [types.index(t) for t in ("ticket_opened", "ticket_assigned", "ticket_resolved")]
    assert order == sorted(order)

    # Nothing left and nothing sent twice.
    assert await stack.services.webhooks.run_once() == 0
    assert await stack.count(WebhookOutbox) == 0
    log = await delivery_log(stack.services.db, stack.endpoint_id, limit=500)
    assert len(log) == len(received) and {d.state for d in log} == {"delivered"}
    assert {d.last_status for d in log} == {200}


async def test_an_endpoint_gets_only_the_types_it_asked_for(stack: Stack) -> None:
    only = Receiver()
    await only.start()
    try:
        await create_endpoint(
            stack.services.db,
            EndpointFields("assigned only", only.url, ("ticket_assigned",), True, None),
            stack.clock.now(),
        )
        agent_id = await stack.agent()
        chat = ChatClient(stack.client)
        await chat.connect()
        await chat.say("I want to talk to a person")
        await chat.message("system", "in the queue")
        offer = next(iter(stack.services.handoff.acd.offers.values()))
        assert (await stack.services.handoff.accept_offer(offer.id, agent_id)).ok
        await stack.services.webhooks.run_once()
        assert only.types() == ["ticket_assigned"]
        assert len(stack.receiver.types()) > 1  # the other endpoint hears everything
        assert only.payloads()[0]["id"] in [p["id"] for p in stack.receiver.payloads()]
    finally:
        await only.stop()


async def test_a_failed_post_is_retried_with_backoff_on_the_virtual_clock(stack: Stack) -> None:
    webhooks = stack.services.webhooks
    stack.receiver.statuses = [500, 503]
    ping = await webhooks.send_test(stack.endpoint_id)  # a test is tried once, not retried
    assert (ping.state, ping.last_status, ping.attempts) == ("failed", 500, 1)

    await open_ticket(stack.services, "v_retry")
    started = stack.clock.now()
    assert await webhooks.run_once() == 1  # ticket_opened: 503
    [row] = [
        d for d in await delivery_log(stack.services.db, stack.endpoint_id) if d.type != "ping"
    ]
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 503)
    assert row.next_try_at == started + timedelta(seconds=10)

    stack.clock.advance(9)
    assert await webhooks.run_once() == 0  # not due yet
    stack.clock.advance(1)
    assert await webhooks.run_once() == 1  # 200
    [row] = [d for d in await delivery_log(stack.services.db, stack.endpoint_id) if d.id == row.id]
    assert (row.state, row.attempts, row.last_status, row.next_try_at) == (
        "delivered",
        2,
        200,
        None,
    )
    opened = [p for p in stack.receiver.payloads() if p["type"] == "ticket_opened"]
    assert len(opened) == 2 and opened[0]["id"] == opened[1]["id"]  # the same payload id
    assert len({r.headers["X-Sanad-Timestamp"] for r in stack.receiver.requests[-2:]}) == 2


async def test_backoff_doubles_up_to_the_cap_then_the_delivery_fails(stack: Stack) -> None:
    from webhooks.service import RetryPolicy

    webhooks = stack.services.webhooks
    webhooks.policy = RetryPolicy(first_s=10, cap_s=25, max_attempts=4)
    stack.receiver.statuses = [500] * 10
    await stack.receiver.stop()  # refused connections count as failures too
    await open_ticket(stack.services, "v_fail")
    waits = []
    for _ in range(4):
        before = stack.clock.now()
        assert await webhooks.run_once() == 1
        [row] = await delivery_log(stack.services.db, stack.endpoint_id)
        if row.next_try_at is not None:
            waits.append((row.next_try_at - before).total_seconds())
            stack.clock.set(row.next_try_at)
    assert waits == [10, 20, 25]
    assert (row.state, row.attempts, row.next_try_at) == ("failed", 4, None)
    assert row.last_error and "Connect" in row.last_error
    stack.clock.advance(3600)
    assert await webhooks.run_once() == 0  # failed is final


async def test_nothing_is_lost_when_the_service_restarts_while_the_receiver_is_down(
    any_db_url: str,
) -> None:
    clock = VirtualClock()
    receiver = Receiver()  # down
    services = await _services(any_db_url, clock)
    create_app(services)
    await services.start(run_timers=False)
    await create_endpoint(
        services.db, EndpointFields("", receiver.url, TYPES, True, SECRET), clock.now()
    )
    await open_ticket(services, "v_1")
    assert await services.webhooks.run_once() == 1  # refused: stays pending
    await open_ticket(services, "v_2")
    await services.close()  # the second event was never fanned out: it is in the outbox

    await receiver.start()
    clock.advance(60)
    again = await _services(any_db_url, clock)
    create_app(again)
    await again.start(run_timers=False)
    try:
        assert await again.webhooks.run_once() == 2
        assert receiver.types() == ["ticket_opened", "ticket_opened"]
        assert len({p["id"] for p in receiver.payloads()}) == 2
        assert all(r.signed_with(SECRET) for r in receiver.requests)
        async with again.db.transaction() as session:
            states = (await session.execute(select(WebhookDelivery.state))).scalars().all()
        assert list(states) == ["delivered", "delivered"]
    finally:
        await again.close()
        await receiver.stop()


async def test_one_endpoint_hears_in_order_and_a_down_one_is_tried_once_a_round(
    stack: Stack,
) -> None:
    for n in range(6):
        await open_ticket(stack.services, f"v_order_{n}")
    await stack.receiver.stop()
    assert await stack.services.webhooks.run_once() == 1  # refused: the other five wait
    log = await delivery_log(stack.services.db, stack.endpoint_id)
    assert sorted(d.attempts for d in log) == [0, 0, 0, 0, 0, 1]
    assert {d.state for d in log} == {"pending"}

    await stack.receiver.start()
    stack.clock.advance(10)
    assert await stack.services.webhooks.run_once() == 6
    ids = [p["id"] for p in stack.receiver.payloads()]
    assert ids == sorted(ids, key=lambda i: int(i.split("_")[1]))  # in the order they happened
    log = await delivery_log(stack.services.db, stack.endpoint_id)
    assert {d.state for d in log} == {"delivered"}
    assert sorted(d.attempts for d in log) == [1, 1, 1, 1, 1, 2]
