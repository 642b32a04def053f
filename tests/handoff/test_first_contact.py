"""A new customer's first contact written with Core (:func:`handoff.customers.first_contact`),
on SQLite and PostgreSQL: the same rows as the ORM path it replaces (``touch_customer`` then
``current_ticket``), the VIP list matched, the webhooks' outbox told, in 5 statements, and the
customer and ticket it returns live in the session like loaded objects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from handoff.customers import first_contact, touch_customer
from handoff.tickets import current_ticket
from handoff.vip_list import add_entry, parse_entry
from storage.db import Database
from storage.models import Customer, Event, SearchDoc, Ticket, VipEntry, WebhookOutbox
from webhooks import outbox

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SKIP = {"id", "external_id", "customer_id", "person_id"}


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


async def _orm_path(db: Database, external_id: str, username: str | None) -> tuple[int, int]:
    async with db.transaction() as session:
        customer = await touch_customer(
            session,
            channel="telegram",
            external_id=external_id,
            name="Sara Ali",
            username=username,
            language_code="ar",
            default_language="en",
            at=T0,
        )
        ticket = await current_ticket(session, customer, T0)
        return customer.id, ticket.id


async def _core_path(db: Database, external_id: str, username: str | None) -> tuple[int, int]:
    async with db.transaction() as session:
        customer, ticket = await first_contact(
            session,
            channel="telegram",
            external_id=external_id,
            name="Sara Ali",
            username=username,
            language_code="ar",
            default_language="en",
            at=T0,
        )
        return customer.id, ticket.id


async def _rows(db: Database, customer_id: int, ticket_id: int, external_id: str) -> dict[str, Any]:
    """What a first contact left in the database, without its ids."""
    async with db.transaction() as session:
        customer = await session.get(Customer, customer_id)
        ticket = await session.get(Ticket, ticket_id)
        assert customer is not None and ticket is not None
        events = (
            (
                await session.execute(
                    select(Event).where(Event.customer_id == customer_id).order_by(Event.id)
                )
            )
            .scalars()
            .all()
        )
        docs = (
            (await session.execute(select(SearchDoc.body).where(SearchDoc.ticket_id == ticket_id)))
            .scalars()
            .all()
        )
        told = (
            (
                await session.execute(
                    select(WebhookOutbox.source_id).where(
                        WebhookOutbox.source == "event",
                        WebhookOutbox.source_id.in_([e.id for e in events]),
                    )
                )
            )
            .scalars()
            .all()
        )
        kinds = {e.id: e.kind for e in events}
        return {
            "customer": {
                c.key: getattr(customer, c.key)
                for c in Customer.__table__.columns
                if c.key not in SKIP
            },
            "ticket": {
                c.key: getattr(ticket, c.key) for c in Ticket.__table__.columns if c.key not in SKIP
            },
            "ticket_of_customer": ticket.customer_id == customer_id,
            "events": [
                (e.kind, e.ticket_id == ticket_id if e.ticket_id else None, e.actor, e.data)
                for e in events
            ],
            "docs": [d.replace(external_id, "ID") for d in docs],
            "outbox": sorted(kinds[i] for i in told),
        }


async def test_a_first_contact_writes_what_the_orm_path_wrote_in_five_statements(
    db: Database,
) -> None:
    outbox.install()  # every Sanad process does (app/services.py): ticket_opened is a type
    orm = await _orm_path(db, "1001", "sara_a")
    with counted(db) as statements:
        core = await _core_path(db, "1002", "sara_a")
    before, after = await _rows(db, *orm, "1001"), await _rows(db, *core, "1002")
    assert after == before
    assert after["customer"]["language"] == "ar" and after["ticket"]["state"] == "bot"
    assert [e[0] for e in after["events"]] == ["customer_created", "ticket_opened"]
    assert after["outbox"] == ["ticket_opened"]
    assert len(after["docs"]) == 1
    # The VIP read, the customer, the ticket, its document, the events; the outbox's row for
    # ticket_opened (an endpoint may want it) as on the ORM path.
    work = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "INSERT"))]
    assert len(work) == 6 and "webhook_outbox" in work[-1], statements


async def test_a_first_contact_the_vip_list_names_is_vip_as_on_the_orm_path(db: Database) -> None:
    async with db.transaction() as session:
        for raw in ("telegram:2001", "telegram:@VipCore"):
            assert await add_entry(session, parse_entry(raw), "", T0, "admin")
    orm = await _orm_path(db, "2001", None)
    core = await _core_path(db, "2002", "vipcore")
    before, after = await _rows(db, *orm, "2001"), await _rows(db, *core, "2002")
    after["customer"]["username"] = None  # matched by username here, by id there
    assert after["customer"] == before["customer"]
    assert after["customer"]["tier"] == "vip"
    assert (
        [e[0] for e in after["events"]]
        == [e[0] for e in before["events"]]
        == [
            "customer_created",
            "customer_vip_matched",
            "ticket_opened",
        ]
    )
    async with db.transaction() as session:
        entries = {
            e.value: (e.matched_customer_id, e.matched_at)
            for e in (await session.execute(select(VipEntry))).scalars()
        }
    assert entries["2001"] == (orm[0], T0)
    assert entries["vipcore"] == (core[0], T0)


async def test_what_first_contact_returns_is_live_in_the_session(db: Database) -> None:
    async with db.transaction() as session:
        customer, ticket = await first_contact(
            session,
            channel="web",
            external_id="visitor-1",
            name="",
            username=None,
            language_code=None,
            default_language="en",
            at=T0,
        )
        assert await session.get(Customer, customer.id) is customer  # no read: identity map
        assert customer.tier == "normal" and ticket.tags == [] and ticket.failed_agents == []
        customer.language_chosen = True  # changed like any loaded object: flushed at commit
        ticket.category = "orders"
    async with db.transaction() as session:
        stored = await session.get(Customer, customer.id)
        again = await session.get(Ticket, ticket.id)
        assert stored is not None and stored.language_chosen is True
        assert again is not None and again.category == "orders" and again.language == "en"
        assert stored.created_at.replace(tzinfo=UTC) == T0
