"""One customer input, one transaction (issue 12): a web chat question the bot answers, and
the "Did this help?" press after it, each run all their reads and writes in ONE transaction,
counted with SQLAlchemy's begin/commit events on the engine (SQLite)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, select

from app.services import Services
from storage.models import Message, QueryLog
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
    from conversation import WEB, Identity

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
