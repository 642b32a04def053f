""" "Led to handoff" counts a showing only when the request for a person came in the same
exchange (docs/metrics.md, "Handoff attribution"): the last bot step on the ticket before the
request was that showing. An article that answered, followed by another question and then a
handoff minutes later, did not lead to it."""

from __future__ import annotations

from faq.gaps import article_stats
from handoff.customers import touch_customer
from handoff.tickets import current_ticket, record_message
from storage.db import Database
from storage.events import record_event
from storage.models import Ticket
from tests.faq.test_gaps import PERIOD, _article, _log, at


async def _tickets(db: Database, n: int) -> list[int]:
    out = []
    async with db.transaction() as session:
        for i in range(n):
            customer = await touch_customer(
                session,
                channel="test",
                external_id=f"x{i}",
                name=f"C{i}",
                username=None,
                language_code="en",
                default_language="en",
                at=at(0),
            )
            ticket = await current_ticket(session, customer, at(0))
            out.append(ticket.id)
    return out


async def _handoff(db: Database, ticket_id: int, seconds: float) -> None:
    async with db.transaction() as session:
        record_event(session, "handoff_requested", at(seconds), ticket_id=ticket_id)


async def test_a_handoff_is_attributed_to_the_showing_of_the_same_exchange(db: Database) -> None:
    delivery = await _article(db, "delivery", "en")
    refunds = await _article(db, "refunds", "en")
    ta, tb, tc, td, te = await _tickets(db, 5)

    # A: delivery answered, then another question with no match, then a person: not delivery.
    await _log(db, "delivery time", "en", "answer", best=delivery, ticket_id=ta, when=at(100))
    await _log(db, "my parcel is damaged", "en", "no_match", ticket_id=ta, when=at(200))
    await _handoff(db, ta, 300)
    # B: delivery, then refunds, then a person: refunds only.
    await _log(db, "delivery time", "en", "answer", best=delivery, ticket_id=tb, when=at(100))
    await _log(db, "refund", "en", "answer", best=refunds, ticket_id=tb, when=at(200))
    await _handoff(db, tb, 300)
    # C: delivery, "No, it did not help", a person: delivery.
    await _log(
        db,
        "delivery time",
        "en",
        "answer",
        best=delivery,
        helpful=False,
        ticket_id=tc,
        when=at(100),
    )
    await _handoff(db, tc, 150)
    # D: suggestions, the customer opens refunds, then a person: refunds.
    [suggest] = await _log(
        db, "money", "en", "suggest", suggested=[delivery, refunds], ticket_id=td, when=at(100)
    )
    async with db.transaction() as session:
        ticket = await session.get(Ticket, td)
        assert ticket is not None
        await record_message(
            session,
            ticket,
            sender="bot",
            text="Refunds take 5 days.",
            at=at(110),
            meta={"query_id": suggest, "article_id": refunds, "outcome": "suggestion"},
        )
    await _handoff(db, td, 200)
    # E: a person first, delivery afterwards: not delivery.
    await _handoff(db, te, 50)
    await _log(db, "delivery time", "en", "answer", best=delivery, ticket_id=te, when=at(100))

    async with db.transaction() as session:
        stats = {s["slug"]: s for s in await article_stats(session, PERIOD, "en")}
    assert (stats["delivery"]["views"], stats["delivery"]["led_to_handoff"]) == (4, 1)
    assert (stats["refunds"]["views"], stats["refunds"]["led_to_handoff"]) == (2, 2)
    assert stats["delivery"]["handoff_rate"] == 1 / 4
