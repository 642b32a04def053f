"""Transcript lines written with Core (issue 12: ``storage.rows.insert_lines``, no ORM flush)
are heard by everyone who must hear of a new line, through explicit calls in the same
transaction: each line with words has its search document, and each customer, bot or agent
line its webhooks' outbox row (when an endpoint is active). A Core writer that skipped them
would leave lines nobody can find and webhooks never hear of: these tests would fail.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import event, select

from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from base.clock import VirtualClock
from conversation import WEB, customer_command, customer_wrote
from conversation.outputs import TELEGRAM, Identity
from handoff import desk
from handoff.tickets import line_row, record_lines
from storage.models import Message, SearchDoc, Ticket, WebhookOutbox
from storage.rows import NewLine, add_line_hook, remove_line_hook
from storage.search import body_of
from webhooks.endpoints import EndpointFields, create_endpoint
from webhooks.outbox import TYPES

DELIVERY = "how many days does delivery take?"


async def _services(url: str, endpoint: bool) -> Services:
    env = {"SANAD_DATABASE_URL": url, "SANAD_FAQ_SEMANTIC": "off", **FLOOD_CONTROL_OFF}
    services = Services.create(load_settings(env=env), VirtualClock())
    await services.start(run_timers=False)
    if endpoint:
        fields = EndpointFields("", "http://127.0.0.1:9/hook", TYPES, True, None)
        await create_endpoint(services.db, fields, services.clock.now())
    else:
        assert not await services.webhooks.refresh_wanted()
    return services


@pytest.fixture
async def listened(any_db_url: str) -> AsyncIterator[Services]:
    """Services with an active webhook endpoint: every line is wanted in the outbox."""
    services = await _services(any_db_url, endpoint=True)
    yield services
    await services.close()


async def _lines(services: Services) -> list[Message]:
    async with services.db.transaction() as session:
        rows = await session.execute(select(Message).order_by(Message.id))
        return list(rows.scalars().all())


async def _docs(services: Services) -> dict[int, str]:
    async with services.db.transaction() as session:
        rows = await session.execute(
            select(SearchDoc.message_id, SearchDoc.body).where(SearchDoc.message_id.is_not(None))
        )
        return {m: b for m, b in rows.all() if m is not None}


async def _outbox(services: Services) -> list[int]:
    async with services.db.transaction() as session:
        rows = await session.execute(
            select(WebhookOutbox.source_id)
            .where(WebhookOutbox.source == "message")
            .order_by(WebhookOutbox.id)
        )
        return [int(i) for i in rows.scalars().all()]


async def test_a_web_question_and_its_answer_are_searchable_and_in_the_outbox(
    listened: Services,
) -> None:
    who = Identity("v-1", name="Visitor", language_code="en")
    await customer_wrote(listened, WEB, who, "hello there")  # a new customer and contact
    reply = await customer_wrote(listened, WEB, who, DELIVERY, client_id="c-1")
    assert reply.message is not None and reply.says
    said = [s.line for s in reply.says]
    assert all(line is not None for line in said)

    lines = await _lines(listened)
    mine = reply.message.id
    assert [m.id for m in lines][-1 - len(said) :] == [mine, *(s.id for s in said if s)]
    asked = next(m for m in lines if m.id == mine)
    assert (asked.sender, asked.text, asked.meta["client_id"]) == ("customer", DELIVERY, "c-1")
    # Every line (the greeting, both questions, the bot's lines) has its document...
    docs = await _docs(listened)
    assert docs == {m.id: body_of(m.text) for m in lines}
    assert "deliveri" in docs[mine].split() or "delivery" in docs[mine].split()
    # ...and its outbox row, in the order of the lines.
    assert await _outbox(listened) == [m.id for m in lines]

    # A resend is not kept again: nothing new anywhere.
    again = await customer_wrote(listened, WEB, who, DELIVERY, client_id="c-1")
    assert not again.new and again.message is not None and again.message.id == mine
    assert len(await _lines(listened)) == len(lines)
    assert await _outbox(listened) == [m.id for m in lines]


async def test_lines_a_channel_sent_and_a_telegram_customer_line_are_heard_too(
    listened: Services,
) -> None:
    """The lines the Telegram adapter keeps after sending them (``desk.record_sent``: they
    were an INSERT ... SELECT nobody heard of) and a customer's line on a channel whose bot
    lines the adapter keeps."""
    who = Identity("42", name="Tg", language_code="en")
    reply = await customer_command(listened, TELEGRAM, who, "/help")
    assert reply.message is not None and reply.says and reply.says[0].line is None
    now = listened.clock.now()
    await desk.record_sent(
        listened.db, reply.ticket_id, "bot", [("first part", 101), ("second part", 102)], now
    )
    lines = await _lines(listened)
    assert [(m.sender, m.text) for m in lines] == [
        ("customer", "/help"),
        ("bot", "first part"),
        ("bot", "second part"),
    ]
    assert [m.channel_message_id for m in lines[1:]] == ["101", "102"]
    assert await _docs(listened) == {m.id: body_of(m.text) for m in lines}
    assert await _outbox(listened) == [m.id for m in lines]


async def test_a_batch_keeps_its_order_and_without_an_endpoint_only_the_outbox_is_spared(
    any_db_url: str,
) -> None:
    services = await _services(any_db_url, endpoint=False)
    heard: list[list[int]] = []

    async def hook(_session: Any, lines: Sequence[NewLine]) -> None:
        heard.append([line.id for line in lines])

    add_line_hook(hook)
    try:
        who = Identity("v-2", name="Visitor", language_code="en")
        reply = await customer_wrote(services, WEB, who, "hello")
        now = services.clock.now()
        texts = [f"line {n} of the batch" for n in range(12)] + [""]  # the last: no words
        async with services.db.transaction() as session:
            ticket = await session.get(Ticket, reply.ticket_id)
            assert ticket is not None
            rows = [line_row(ticket, sender="agent", text=t, at=now) for t in texts]
            written = await record_lines(session, rows)
        assert [w.text for w in written] == texts
        assert [w.id for w in written] == sorted(w.id for w in written)
        stored = {m.id: m.text for m in await _lines(services)}
        assert all(stored[w.id] == w.text for w in written)
        assert heard[-1] == [w.id for w in written]
        docs = await _docs(services)
        assert all(docs[w.id] == body_of(w.text) for w in written[:-1])
        assert written[-1].id not in docs  # nothing to search in an empty line
        assert await _outbox(services) == []  # nobody listens: the hot path pays nothing
    finally:
        remove_line_hook(hook)
        await services.close()


async def test_a_returning_customers_answered_question_is_four_statements(
    any_db_url: str,
) -> None:
    """One read (customer, open ticket, resend check), the query log, both lines in one
    insert, their documents; ``last_seen_at`` is not written again within the minute."""
    services = await _services(any_db_url, endpoint=False)
    seen: list[str] = []

    def statement(_c: Any, _cu: Any, sql: str, *_rest: Any) -> None:
        seen.append(" ".join(sql.split()))

    who = Identity("v-3", name="Visitor", language_code="en")
    try:
        await customer_wrote(services, WEB, who, "hello", client_id="a")
        assert isinstance(services.clock, VirtualClock)
        services.clock.advance(30)
        event.listen(services.db.engine.sync_engine, "before_cursor_execute", statement)
        try:
            reply = await customer_wrote(services, WEB, who, DELIVERY, client_id="b")
        finally:
            event.remove(services.db.engine.sync_engine, "before_cursor_execute", statement)
        assert reply.says
        assert len(seen) == 4, seen
        assert not any(s.upper().startswith("UPDATE") for s in seen), seen
        assert sum(s.startswith("INSERT INTO messages") for s in seen) == 1
    finally:
        await services.close()
