"""The resend check reads an index, not the customer's history (migration 0015).

Every message a customer sends on the web chat carries a client id, and before it is handled
the core asks whether a line with that id is already kept for the customer (a resend after a
dropped socket). That check read the JSON of every line the customer had ever sent, so each
message cost more as their history grew. Here: the id is a column kept from ``meta`` by every
writer, the check is planned on the partial index on SQLite and PostgreSQL, the migration fills
the column for lines written before it, and a resend is still recognised after a long history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from handoff.customers import touch_customer
from handoff.tickets import ARRIVAL, arrival, current_ticket, line_row, record_lines
from storage.db import Database, alembic_config, upgrade
from storage.models import Message, Ticket

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def _customer_with_ticket(db: Database) -> tuple[int, int]:
    async with db.transaction() as session:
        customer = await touch_customer(
            session,
            channel="web",
            external_id="v-1",
            name="Visitor",
            username=None,
            language_code="en",
            default_language="en",
            at=AT,
        )
        ticket = await current_ticket(session, customer, AT)
        return customer.id, ticket.id


async def test_the_client_id_is_kept_as_a_column_by_every_writer(db: Database) -> None:
    customer_id, ticket_id = await _customer_with_ticket(db)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        core = line_row(ticket, sender="customer", text="hi", at=AT, meta={"client_id": "c-1"})
        plain = line_row(ticket, sender="bot", text="hello", at=AT)
        too_long = line_row(
            ticket, sender="customer", text="x", at=AT, meta={"client_id": "z" * 65}
        )
        await record_lines(session, [core, plain, too_long])
        session.add(  # an ORM writer (an agent's line is written so)
            Message(
                ticket_id=ticket_id,
                customer_id=customer_id,
                sender="agent",
                kind="text",
                text="on it",
                meta={"client_id": "a-7", "agent_id": 1},
                created_at=AT,
            )
        )
    async with db.transaction() as session:
        rows = (await session.execute(select(Message.text, Message.client_id))).all()
    assert sorted(rows, key=lambda r: r.text) == [
        ("hello", None),
        ("hi", "c-1"),
        ("on it", "a-7"),
        ("x", None),
    ]


async def test_a_resend_is_recognised_after_a_long_history(db: Database) -> None:
    customer_id, ticket_id = await _customer_with_ticket(db)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        rows = [
            line_row(ticket, sender="customer", text=f"q{i}", at=AT, meta={"client_id": f"c{i}"})
            for i in range(1500)
        ]
        lines = await record_lines(session, rows)
    async with db.transaction() as session:
        found, open_ticket, earlier = await arrival(session, "web", "v-1", "c700")
        assert found is not None and found.id == customer_id
        assert open_ticket is not None and open_ticket.id == ticket_id
        assert earlier == lines[700].id
        assert (await arrival(session, "web", "v-1", "never-sent"))[2] is None
        assert (await arrival(session, "web", "v-1", None))[2] is None


async def test_the_resend_check_is_planned_on_the_index(db: Database) -> None:
    await _customer_with_ticket(db)
    values = {"channel": "web", "external_id": "v-1", "client_id": "c"}
    async with db.engine.connect() as conn:
        compiled = ARRIVAL.compile(dialect=conn.dialect)
        args = tuple(values.get(n, compiled.params.get(n)) for n in compiled.positiontup or [])
        if conn.dialect.name == "postgresql":  # a tiny table: make the planner show its index
            await conn.execute(text("SET enable_seqscan = off"))
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        plan = (await conn.exec_driver_sql(explain + str(compiled), args)).all()
    described = " | ".join(str(row[-1]) for row in plan)
    assert "ix_messages_client" in described, described


async def test_the_migration_fills_the_column_of_existing_lines(db: Database) -> None:
    """Lines written before 0015 (here: written, then the schema taken back to 0014, which
    drops the column) get their client id from ``meta`` when 0015 runs."""
    _customer_id, ticket_id = await _customer_with_ticket(db)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        metas: list[dict[str, Any]] = [{"client_id": "old-1"}, {}, {"client_id": "y" * 80}]
        rows = [line_row(ticket, sender="customer", text="hi", at=AT, meta=m) for m in metas]
        lines = await record_lines(session, rows)

    def back_to_0014(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0014")

    async with db.engine.begin() as conn:
        await conn.run_sync(back_to_0014)
    async with db.engine.connect() as conn:
        columns = (await conn.execute(select(text("*")).select_from(text("messages")))).keys()
    assert "client_id" not in columns
    await upgrade(db.engine)
    async with db.transaction() as session:
        kept = (
            await session.execute(select(Message.id, Message.client_id).order_by(Message.id))
        ).all()
    assert [tuple(row) for row in kept] == [
        (lines[0].id, "old-1"),
        (lines[1].id, None),
        (lines[2].id, None),
    ]
