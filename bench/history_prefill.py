"""Bulk prefill of an aged Sanad database, for ``bench/history.py``.

Rows go straight into the tables of ``storage/models.py`` in large batches, on the project's
engine (``storage/db.py``): one ``INSERT`` executemany per batch on SQLite (values converted
as the column types convert them), ``COPY`` (asyncpg ``copy_records_to_table``) on
PostgreSQL. Ids are given explicitly (the sequences are moved past them afterwards), so a
message knows its ticket and customer without reading anything back.

Shapes, chosen to look like a shop's history:

* customers alternate between Telegram (a numeric chat id) and the web chat (the 64-hex hash
  of a visitor secret), English and Arabic;
* tickets go to customers round robin (ids grow with time, as in production); with
  ``state="resolved"`` their times are spread over the past ``span_days``, 70 % were solved by
  the bot alone, 30 % went through an agent (requested, queued, offered, assigned, answered);
  with ``state="bot"`` they are self-service conversations gone quiet (last message older
  than a day and at most ``span_days`` old);
* messages are spread over the tickets, 30 s apart, alternating customer and bot lines (agent
  lines for an agent's tickets); a web customer's line carries its ``client_id``, a Telegram
  one its message id;
* one ``query_log`` row per ticket (its first question) and the ticket's events
  (``ticket_opened``, then ``handoff_requested`` and ``ticket_assigned`` for an agent's, then
  ``ticket_resolved``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from faq.service import load_sample_if_empty
from storage.db import Database
from storage.models import Agent, Article, Customer, Event, Message, QueryLog, Ticket
from storage.types import UTCDateTime

BATCH = 20_000
AGENTS = 10
MESSAGE_GAP_S = 30.0
QUESTIONS = (
    ("en", "how many days does delivery take?", "Delivery takes 2-4 working days."),
    ("ar", "كم يوم ياخذ التوصيل؟", "يستغرق التوصيل من يومين إلى أربعة أيام عمل."),
    ("en", "where is my order", "You can follow your order from the link in your email."),
    ("en", "I want to return an item", "Returns are free within 30 days."),
    ("ar", "كيف أرجع منتج؟", "الإرجاع مجاني خلال 30 يوماً."),
)
JSON_COLUMNS = {
    "tags",
    "failed_agents",
    "sla_flags",
    "meta",
    "data",
    "skills",
    "languages",
    "suggested_article_ids",
}


@dataclass(frozen=True)
class Shape:
    """How much history, and in which state the tickets are."""

    customers: int
    tickets: int
    messages: int
    state: str = "resolved"  # resolved | bot
    span_days: float = 180.0
    # Customer lines also name an order number (one per ticket) and a word of VOCABULARY (each
    # in 1/len of the lines): text for search to tell apart (bench/search.py).
    varied: bool = False


VOCABULARY = (
    "invoice", "voucher", "warranty", "courier", "password", "discount", "receipt", "battery",
    "charger", "screen", "account", "address", "payment", "delayed", "damaged", "missing",
    "cancel", "exchange", "tracking", "subscription",
    "الفاتورة", "القسيمة", "الضمان", "المندوب", "كلمة", "الخصم", "الإيصال", "البطارية",
    "الشاحن", "الشاشة", "الحساب", "العنوان", "الدفع", "متأخر", "تالف", "مفقود",
    "إلغاء", "استبدال", "التتبع", "الاشتراك",
)  # fmt: skip


class _Writer:
    """Batched inserts into one table, by Core executemany or by COPY."""

    def __init__(self, conn: AsyncConnection, table: Table, after: _Writer | None = None) -> None:
        self.conn = conn
        self.table = table
        self.after = after  # the writer of the rows these refer to: flushed first
        self.rows: list[dict[str, Any]] = []
        self.count = 0
        self.copy = conn.dialect.name == "postgresql"

    async def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self.after is not None:
            await self.after.flush()
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.count += len(rows)
        columns = list(rows[0])
        if self.copy:
            json_columns = [c in JSON_COLUMNS for c in columns]
            records = [
                tuple(
                    json.dumps(row[c]) if is_json else row[c]
                    for c, is_json in zip(columns, json_columns, strict=True)
                )
                for row in rows
            ]
            raw = (await self.conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.copy_records_to_table(self.table.name, records=records, columns=columns)
            return
        # What the column types do on the way to SQLite (storage/types.py: naive UTC text;
        # JSON text), done here once per value instead of through bind processors.
        convert = [(c, _sqlite_converter(self.table.c[c].type, c)) for c in columns]
        values = [tuple([row[c] if f is None else f(row[c]) for c, f in convert]) for row in rows]
        marks = ", ".join("?" for _ in columns)
        await self.conn.exec_driver_sql(
            f"INSERT INTO {self.table.name} ({', '.join(columns)}) VALUES ({marks})", values
        )


def _sqlite_converter(kind: Any, column: str) -> Callable[[Any], Any] | None:
    if column in JSON_COLUMNS:
        return _json_text
    if isinstance(kind, UTCDateTime):
        return _sqlite_time
    return None


def _json_text(value: Any) -> str:
    if not value:  # most rows: no tags, no meta
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def _sqlite_time(value: datetime | None) -> str | None:
    """SQLAlchemy's DateTime text on SQLite ("2026-01-31 12:00:00.000000"), in UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _at(j: int, n: int, start: datetime, end: datetime) -> datetime:
    """The ``j``-th of ``n`` instants spread evenly from ``start`` to ``end``."""
    return start + (end - start) * (j / max(n, 1))


def _customer_row(c: int, first: datetime, last: datetime) -> dict[str, Any]:
    web = c % 2 == 1
    lang = "ar" if c % 3 == 0 else "en"
    return {
        "id": c + 1,
        "channel": "web" if web else "telegram",
        "external_id": (
            hashlib.sha256(f"bench-visitor-{c}".encode()).hexdigest() if web else str(10**9 + c)
        ),
        "name": f"Web visitor {c:x}" if web else f"Customer {c}",
        "username": None if web else f"user{c}",
        "language": lang,
        "language_chosen": c % 5 == 0,
        "awaiting_comment_ticket_id": None,
        "tier": "vip" if c % 50 == 0 else "normal",
        "unreachable": False,
        "created_at": first,
        "last_seen_at": last,
    }


def _ticket_times(j: int, shape: Shape, now: datetime) -> datetime:
    """When ticket ``j`` opened: spread over the span, the newest a day (plus margin) ago."""
    newest = now - timedelta(days=1, hours=2)
    oldest = now - timedelta(days=shape.span_days)
    return _at(j, shape.tickets, oldest, newest)


def _messages_of(j: int, shape: Shape) -> int:
    base, extra = divmod(shape.messages, max(shape.tickets, 1))
    return base + (1 if j < extra else 0)


async def prefill(db: Database, shape: Shape, now: datetime | None = None) -> dict[str, Any]:
    """Fill an empty, migrated database (the sample FAQ is loaded first, as a start does)."""
    now = now or datetime.now(UTC)
    async with db.transaction() as session:
        await load_sample_if_empty(session, now)
    async with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A bulk load's usual shortcut: no foreign-key triggers per row (the rows are
            # consistent by construction; the smoke test reads them back).
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        article_ids = list((await conn.execute(select(Article.id).order_by(Article.id))).scalars())
        agents = _Writer(conn, Agent.__table__)  # type: ignore[arg-type]
        for a in range(AGENTS):
            await agents.add(
                {
                    "id": a + 1,
                    "name": f"Agent {a + 1}",
                    "telegram_id": str(5 * 10**8 + a),
                    "role": "supervisor" if a == 0 else "agent",
                    "status": "offline",
                    "capacity": 3,
                    "skills": [],
                    "languages": ["en", "ar"] if a % 2 else ["en"],
                    "routing_priority": 0,
                    "idle_since": now - timedelta(days=1),
                    "no_answer_streak": 0,
                    "wrap_up_until": None,
                    "offline_since": now - timedelta(days=1),
                    "unreachable": False,
                    "current_ticket_id": None,
                    "created_at": now - timedelta(days=shape.span_days + 1),
                    "updated_at": now - timedelta(days=1),
                }
            )
        await agents.flush()
        customers = _Writer(conn, Customer.__table__)  # type: ignore[arg-type]
        for c in range(shape.customers):
            # Tickets go round robin: customer c has tickets c, c + C, c + 2C, ...
            if c < shape.tickets:
                last_j = c + ((shape.tickets - 1 - c) // shape.customers) * shape.customers
                first_at = _ticket_times(c, shape, now)
                last_at = _ticket_times(last_j, shape, now) + timedelta(hours=1)
            else:
                first_at = last_at = now - timedelta(days=shape.span_days)
            await customers.add(_customer_row(c, first_at, last_at))
        await customers.flush()
        counts = await _tickets_and_messages(conn, shape, now, article_ids)
        counts["customers"], counts["agents"] = customers.count, agents.count
        if conn.dialect.name == "postgresql":
            for model in (Agent, Customer, Ticket, Message):
                name = model.__tablename__
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
                    )
                )
    if db.backend == "postgresql":
        # What autovacuum does within minutes of such a load on a live server.
        async with db.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE"))
    return counts


async def _tickets_and_messages(
    conn: AsyncConnection, shape: Shape, now: datetime, article_ids: list[int]
) -> dict[str, Any]:
    tickets = _Writer(conn, Ticket.__table__)  # type: ignore[arg-type]
    messages = _Writer(conn, Message.__table__, tickets)  # type: ignore[arg-type]
    queries = _Writer(conn, QueryLog.__table__, tickets)  # type: ignore[arg-type]
    events = _Writer(conn, Event.__table__, tickets)  # type: ignore[arg-type]
    message_id = 0
    for j in range(shape.tickets):
        c = j % shape.customers
        web = c % 2 == 1
        lang, question, answer = QUESTIONS[j % len(QUESTIONS)]
        opened = _ticket_times(j, shape, now)
        n = _messages_of(j, shape)
        last_at = opened + timedelta(seconds=MESSAGE_GAP_S * max(n - 1, 0))
        by_agent = shape.state == "resolved" and j % 10 < 3
        agent_id = j % AGENTS + 1 if by_agent else None
        await tickets.add(_ticket_row(j, c, web, lang, shape, opened, last_at, agent_id))
        for row in _ticket_events(j, c, shape, opened, last_at, agent_id):
            await events.add(row)
        for k in range(n):
            message_id += 1
            from_customer = k % 2 == 0
            sender = "customer" if from_customer else ("agent" if by_agent and k > 2 else "bot")
            await messages.add(
                {
                    "id": message_id,
                    "ticket_id": j + 1,
                    "customer_id": c + 1,
                    "sender": sender,
                    "kind": "text",
                    "text": (
                        (
                            f"{question} order {100000 + j} "
                            f"{VOCABULARY[(j * 7 + k) % len(VOCABULARY)]}"
                        )
                        if from_customer and shape.varied
                        else question
                        if from_customer
                        else answer
                    ),
                    "channel_message_id": (
                        None if web or not from_customer else str(1000 + message_id)
                    ),
                    "meta": {"client_id": f"c{message_id}"} if web and from_customer else {},
                    "created_at": opened + timedelta(seconds=MESSAGE_GAP_S * k),
                }
            )
        await queries.add(
            {
                "customer_id": c + 1,
                "ticket_id": j + 1,
                "query": question,
                "lang": lang,
                "outcome": "answer" if j % 4 else "suggest",
                "best_article_id": article_ids[j % len(article_ids)] if article_ids else None,
                "score": 0.5 + (j % 50) / 100,
                "suggested_article_ids": [],
                "helpful": None if j % 3 else True,
                "created_at": opened,
            }
        )
    for writer in (tickets, messages, queries, events):
        await writer.flush()
    return {
        "tickets": tickets.count,
        "messages": messages.count,
        "query_log": queries.count,
        "events": events.count,
    }


def _ticket_row(
    j: int,
    c: int,
    web: bool,
    lang: str,
    shape: Shape,
    opened: datetime,
    last_at: datetime,
    agent_id: int | None,
) -> dict[str, Any]:
    resolved = shape.state == "resolved"
    handed = agent_id is not None
    requested = opened + timedelta(seconds=MESSAGE_GAP_S) if handed else None
    assigned = opened + timedelta(seconds=3 * MESSAGE_GAP_S) if handed else None
    return {
        "id": j + 1,
        "customer_id": c + 1,
        "channel": "web" if web else "telegram",
        "state": shape.state,
        "category": "" if j % 4 else "orders",
        "language": lang,
        "priority": "normal",
        "tags": [],
        "resolution": ("agent" if handed else "bot") if resolved else None,
        "assignee_id": agent_id,
        "rank_at": requested.timestamp() if requested else None,
        "failed_agents": [],
        "target_agent_id": None,
        "waiting_for_hours": False,
        "reopened_count": 0,
        "notified_position": None,
        "notified_at": None,
        "sla_first_response_due_at": requested + timedelta(minutes=5) if requested else None,
        "sla_resolution_due_at": requested + timedelta(hours=8) if requested else None,
        "sla_flags": [],
        "created_at": opened,
        "handoff_requested_at": requested,
        "first_queued_at": requested,
        "first_offered_at": requested + timedelta(seconds=5) if requested else None,
        "assigned_at": assigned,
        "first_agent_reply_at": assigned + timedelta(seconds=20) if assigned else None,
        "resolved_at": last_at + timedelta(seconds=60) if resolved else None,
        "closed_at": None,
    }


def _ticket_events(
    j: int, c: int, shape: Shape, opened: datetime, last_at: datetime, agent_id: int | None
) -> Iterator[dict[str, Any]]:
    """The ticket's audit trail (ids from the table: the sample FAQ's events came first)."""

    def event(kind: str, at: datetime, **data: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "ticket_id": j + 1,
            "customer_id": c + 1,
            "actor": "system",
            "data": data,
            "created_at": at,
        }

    yield event("ticket_opened", opened)
    if agent_id is not None:
        yield event("handoff_requested", opened + timedelta(seconds=MESSAGE_GAP_S))
        yield event("ticket_assigned", opened + timedelta(seconds=90), agent_id=agent_id)
    if shape.state == "resolved":
        resolution = "agent" if agent_id is not None else "bot"
        yield event("ticket_resolved", last_at + timedelta(seconds=60), resolution=resolution)


async def count_rows(db: Database) -> dict[str, int]:
    """Rows per table, and tickets per state (what a measurement found in the database)."""
    async with db.engine.connect() as conn:
        counts = {
            model.__tablename__: (
                await conn.execute(select(func.count()).select_from(model))
            ).scalar_one()
            for model in (Customer, Ticket, Message, QueryLog, Event)
        }
        states = (
            await conn.execute(select(Ticket.state, func.count()).group_by(Ticket.state))
        ).all()
    counts |= {f"tickets_{state}": n for state, n in states}
    return counts
