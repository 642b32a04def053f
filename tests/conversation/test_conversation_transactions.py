"""One customer input, one transaction (issue 12): a web chat question the bot answers, the
"Did this help?" press after it, asking for a person, cancelling, a line to the agent who has
the chat, the stars and the comment after them, each run all their reads and writes (their
handoff action included) in ONE transaction, counted with SQLAlchemy's begin/commit events on
the engine (SQLite)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, select

from app.services import Services
from conversation import WEB
from handoff.notices import ChatMessage
from storage.models import Customer, Event, Message, QueryLog, Rating, Ticket
from tests.webchat_client import ChatClient

DELIVERY = "how many days does delivery take?"


@contextmanager
def counted(services: Services) -> Iterator[Counter[str]]:
    """BEGINs, COMMITs and statements on the services' engine while the block runs."""
    engine = services.db.engine.sync_engine
    counts: Counter[str] = Counter()

    def begin(_conn: Any) -> None:
        counts["begin"] += 1

    def commit(_conn: Any) -> None:
        counts["commit"] += 1

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", commit)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "commit", commit)
        event.remove(engine, "before_cursor_execute", statement)


@contextmanager
def relayed_to_agent(services: Services) -> Iterator[list[int]]:
    """The message ids of the lines the engine sends to agents (``ChatMessage``) while the
    block runs, each still delivered."""
    port = services.handoff.engine.port
    deliver = port.notify_agent
    relayed: list[int] = []

    async def to_agent(notice: Any) -> None:
        if isinstance(notice, ChatMessage):
            relayed.append(notice.message_id)
        await deliver(notice)

    port.notify_agent = to_agent  # type: ignore[method-assign]
    try:
        yield relayed
    finally:
        port.notify_agent = deliver  # type: ignore[method-assign]


async def test_a_question_the_bot_answers_and_the_press_after_it_are_one_transaction_each(
    client: TestClient[Any, Any], services: Services
) -> None:
    chat = ChatClient(client)
    await chat.connect()
    await chat.message("bot", "Hello!")
    await chat.drain()

    with counted(services) as question:
        client_id = await chat.say(DELIVERY)
        await chat.ack(client_id)
        answer = await chat.message("bot", "2-4 working days")
        await chat.next(lambda f: f["type"] == "state")  # the last frame of the handling
    assert (question["begin"], question["commit"]) == (1, 1), question
    assert question["statements"] >= 4  # the customer, the ticket, both lines, the query

    with counted(services) as press:
        await chat.press(answer["buttons"][0][0]["data"], answer["id"])
        await chat.next(lambda f: f["type"] == "update")
        await chat.message("bot", "Glad I could help")  # the last frame of the handling
        await chat.drain()
    assert (press["begin"], press["commit"]) == (1, 1), press

    # The one transaction did all the work: both lines kept, the query logged and answered.
    async with services.db.transaction() as session:
        lines = (await session.execute(select(Message.sender, Message.kind))).all()
        logged = (await session.execute(select(QueryLog.outcome, QueryLog.helpful))).all()
        queries = (await session.execute(select(func.count()).select_from(QueryLog))).scalar()
    assert lines == [
        ("bot", "text"),
        ("customer", "text"),
        ("bot", "text"),
        ("customer", "choice"),
        ("bot", "text"),
    ]
    assert logged == [("answer", True)] and queries == 1


async def test_a_resent_message_is_acknowledged_in_one_transaction_and_not_handled_again(
    client: TestClient[Any, Any], services: Services
) -> None:
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    client_id = await chat.say(DELIVERY)
    first = await chat.ack(client_id)
    await chat.message("bot", "2-4 working days")
    await chat.drain()

    with counted(services) as resend:
        await chat.say(DELIVERY, client_id=client_id)
        again = await chat.ack(client_id)
    assert again["id"] == first["id"]
    assert (resend["begin"], resend["commit"]) == (1, 1), resend
    async with services.db.transaction() as session:
        asked = (
            await session.execute(
                select(func.count()).select_from(Message).where(Message.text == DELIVERY)
            )
        ).scalar()
    assert asked == 1


async def test_every_question_is_matched_once_before_its_transaction(
    services: Services,
) -> None:
    """The FAQ's ``prepare`` (the query embedding) runs before the transaction opens, and
    ``answer`` inside it uses that decision, not a second match: also after an Arabic
    answer to a customer whose stored language is English."""
    import conversation
    from conversation import Identity

    used: list[bool] = []
    answer = services.faq.answer

    async def checked(session: Any, text: str, **kwargs: Any) -> Any:
        prepared = kwargs.get("prepared")
        used.append(
            prepared is not None
            and (prepared.text, prepared.language) == (text, kwargs["language"])
        )
        return await answer(session, text, **kwargs)

    services.faq.answer = checked  # type: ignore[method-assign]
    visitor = Identity("k" * 64, "Visitor")
    for n, question in enumerate(["كم يوم ياخذ التوصيل؟", DELIVERY, "how do I return an item?"]):
        reply = await conversation.customer_wrote(
            services, WEB, visitor, question, client_id=f"q{n}"
        )
        assert reply.says and reply.says[-1].line is not None
    assert used == [True, True, True]


async def _counted_until_settled(services: Services, counts: Counter[str]) -> tuple[int, int]:
    """(BEGINs, COMMITs), once the handoff engine delivered what the input's commit let go."""
    await services.handoff.engine.settled()
    return counts["begin"], counts["commit"]


async def test_asking_for_a_person_and_cancelling_are_one_transaction_each(
    client: TestClient[Any, Any], services: Services
) -> None:
    """The handoff action runs in the input's own transaction (the handoff engine's unit of
    work entered right after BEGIN), and the queue notice is kept in it too: the web chat
    only pushes it, after the customer's line."""
    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()

    with counted(services) as asked:
        client_id = await chat.say("I want to talk to a person")
        mine = await chat.ack(client_id)
        queued = await chat.message("system")
        state = await chat.next(lambda f: f["type"] == "state")
        assert await _counted_until_settled(services, asked) == (1, 1), asked
    assert state["ticket"]["state"] == "queued"
    assert queued["id"] > mine["id"]  # said after the customer's line, and kept after it
    ordered = [f["id"] for f in chat.frames if f["type"] == "message"]
    assert ordered.index(mine["id"]) < ordered.index(queued["id"])
    await chat.drain()

    with counted(services) as cancelled:
        await chat.say("/cancel")
        await chat.message("bot", "You've left the queue")
        left = await chat.next(lambda f: f["type"] == "state")
        assert await _counted_until_settled(services, cancelled) == (1, 1), cancelled
    assert left["ticket"]["state"] == "resolved"

    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        kinds = (
            await session.execute(select(Event.kind).where(Event.ticket_id == ticket.id))
        ).scalars()
        notice = await session.get(Message, queued["id"])
    assert ticket.state == "closed" and ticket.resolution == "abandoned"
    assert {"handoff_requested", "ticket_abandoned"} <= set(kinds)
    assert notice is not None and notice.sender == "system"
    assert notice.meta["notice"] in ("queued", "no_agents", "outside_hours")


async def test_a_line_to_the_agent_and_the_rating_with_its_comment_are_one_transaction_each(
    client: TestClient[Any, Any], services: Services
) -> None:
    from handoff.agents import add_agent

    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Pat", at=services.clock.now())
    await services.handoff.resync()
    await services.handoff.set_agent_status(agent.id, "available")
    chat = ChatClient(client)
    await chat.connect()
    await chat.say("I want to talk to a person")
    await chat.message("system")
    await services.handoff.engine.settled()
    offer = next(iter(services.handoff.acd.offers.values()))
    assert (await services.handoff.accept_offer(offer.id, agent.id)).ok
    await chat.message("system", "Pat")
    await chat.drain()

    with relayed_to_agent(services) as relayed, counted(services) as relay:
        client_id = await chat.say("my order 1234 never arrived")
        line = await chat.ack(client_id)
        await chat.next(lambda f: f["type"] == "state")
        assert await _counted_until_settled(services, relay) == (1, 1), relay
    assert relayed == [line["id"]]  # the agent was sent the line, after the commit

    await services.handoff.resolve_ticket(offer.ticket_id, agent.id)
    rate = await chat.message("system")
    stars = rate["buttons"][0][4]["data"]
    assert stars.startswith(f"rate:{offer.ticket_id}:")
    await chat.drain()

    with counted(services) as rated:
        await chat.press(stars, rate["id"])
        update = await chat.next(lambda f: f["type"] == "update")
        assert await _counted_until_settled(services, rated) == (1, 1), rated
    assert update["buttons"][0][0]["data"] == f"rsk:{offer.ticket_id}"  # Skip the comment
    await chat.drain()

    with counted(services) as commented:
        await chat.say("quick and kind, thanks")
        await chat.message("bot", "Thanks for your feedback")  # the last frame of the handling
        assert await _counted_until_settled(services, commented) == (1, 1), commented

    async with services.db.transaction() as session:
        rating = (await session.execute(select(Rating))).scalar_one()
        customer = (await session.execute(select(Customer))).scalar_one()
        kinds = set((await session.execute(select(Event.kind))).scalars())
    assert (rating.stars, rating.comment) == (5, "quick and kind, thanks")
    assert rating.agent_id == agent.id and customer.awaiting_comment_ticket_id is None
    assert {"rating_given", "rating_commented"} <= kinds


async def test_a_chat_with_the_bot_runs_without_the_engine_lock_and_a_stale_hint_is_safe(
    client: TestClient[Any, Any], services: Services
) -> None:
    """A question to the bot from a customer this process knows is with the bot does not
    wait for the handoff engine's lock (entered only when an input may hand off); when the
    hint is stale (another process queued the chat), the input that needs the engine after all
    is rolled back and run again with it: still one commit, the line relayed once."""
    from conversation.hints import HINTS
    from handoff.agents import add_agent

    chat = ChatClient(client)
    await chat.connect()
    await chat.drain()
    async with services.handoff.engine.lock:  # an engine busy elsewhere
        client_id = await chat.say(DELIVERY)
        await chat.ack(client_id)
        await chat.message("bot", "2-4 working days")
    await chat.drain()

    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Pat", at=services.clock.now())
    await services.handoff.resync()
    await services.handoff.set_agent_status(agent.id, "available")
    await chat.say("I want to talk to a person")
    await chat.message("system")
    await services.handoff.engine.settled()
    offer = next(iter(services.handoff.acd.offers.values()))
    assert (await services.handoff.accept_offer(offer.id, agent.id)).ok
    await chat.message("system", "Pat")
    await chat.drain()
    async with services.db.transaction() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    HINTS.put(WEB, customer.external_id, "bot", "en")  # as if this process missed the handoff

    with relayed_to_agent(services) as relayed, counted(services) as relay:
        client_id = await chat.say("are you still there?")
        line = await chat.ack(client_id)
        await services.handoff.engine.settled()
    assert (relay["begin"], relay["commit"]) == (2, 1), relay  # one rolled back, one kept
    assert relayed == [line["id"]]
    async with services.db.transaction() as session:
        kept = (
            await session.execute(
                select(func.count())
                .select_from(Message)
                .where(Message.text == "are you still there?")
            )
        ).scalar()
    assert kept == 1


async def test_a_first_contact_runs_without_the_engine_lock_and_an_unseen_waiting_customer_with_it(
    services: Services,
) -> None:
    """A customer this process has not seen begins without the handoff engine's lock when the
    message cannot itself hand off (issue 15): a first contact (Telegram or web) is answered
    while the engine is busy elsewhere. An unseen customer whose ticket waits for a person
    still gets the unit, as the hint would have given it: the read that finds the queued
    ticket is rolled back and the input run again with it (still one commit)."""
    import asyncio

    from conversation import TELEGRAM, customer_wrote
    from conversation.hints import HINTS
    from conversation.outputs import Identity

    async with services.handoff.engine.lock:  # an engine busy elsewhere
        for channel, external_id in ((TELEGRAM, "9001"), (WEB, "visitor-9002")):
            reply = await asyncio.wait_for(  # answered, the lock still held elsewhere
                customer_wrote(services, channel, Identity(external_id, "Sam"), DELIVERY), 10
            )
            assert reply.ticket is not None and reply.ticket.state == "bot"
            assert any("working days" in say.text for say in reply.says)

    asked = await customer_wrote(services, WEB, Identity("visitor-9002"), "I want a person")
    await services.handoff.engine.settled()
    assert asked.ticket is not None and asked.ticket.state == "queued"
    HINTS._seen.pop((WEB.name, "visitor-9002"))  # as if another process had queued the chat
    with counted(services) as waiting:
        kept = await customer_wrote(services, WEB, Identity("visitor-9002"), "still there?")
    assert (waiting["begin"], waiting["commit"]) == (2, 1), waiting  # one rolled back, one kept
    assert kept.ticket is not None and kept.ticket.state == "queued"
    async with services.db.transaction() as session:
        lines = (
            await session.execute(select(func.count()).where(Message.text == "still there?"))
        ).scalar()
    assert lines == 1


async def test_a_line_to_the_agent_needs_no_engine_lock_but_waking_a_pending_chat_does(
    services: Services,
) -> None:
    """A customer's line to the agent who holds the chat runs in a chat unit (issue 15): it is
    kept and relayed while the engine is busy elsewhere. When the hint is stale (the agent set
    the chat pending meanwhile, which the line wakes), the chat unit refuses before writing and
    the input runs again with the lock: still one commit, the line kept and relayed once."""
    import asyncio

    from conversation import customer_wrote
    from conversation.hints import HINTS
    from conversation.outputs import Identity
    from handoff.agents import add_agent

    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Pat", at=services.clock.now())
    await services.handoff.resync()
    await services.handoff.set_agent_status(agent.id, "available")
    visitor = Identity("visitor-77", "Sam")
    await customer_wrote(services, WEB, visitor, "I want a person")
    await services.handoff.engine.settled()
    offer = next(iter(services.handoff.acd.offers.values()))
    assert (await services.handoff.accept_offer(offer.id, agent.id)).ok
    await customer_wrote(services, WEB, visitor, "hello?")  # the hint: assigned
    await services.handoff.engine.settled()

    with relayed_to_agent(services) as relayed:
        async with services.handoff.engine.lock:  # an engine busy elsewhere
            line = await asyncio.wait_for(
                customer_wrote(services, WEB, visitor, "my order 1234 never arrived"), 10
            )
            await asyncio.wait_for(services.handoff.engine.settled(), 10)
        assert line.message is not None and relayed == [line.message.id]

        await services.handoff.set_pending(offer.ticket_id, agent.id)
        HINTS.put(WEB, visitor.external_id, "assigned", "en")  # as if this process missed it
        with counted(services) as woken:
            again = await customer_wrote(services, WEB, visitor, "any news?")
            await services.handoff.engine.settled()
        assert (woken["begin"], woken["commit"]) == (2, 1), woken  # one rolled back, one kept
        assert again.ticket is not None and again.ticket.state == "assigned"
        assert again.message is not None and relayed[-1] == again.message.id
    async with services.db.transaction() as session:
        kept = (
            await session.execute(select(func.count()).where(Message.text == "any news?"))
        ).scalar()
    assert kept == 1
