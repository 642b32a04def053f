"""The ticket search index: what is written, when, and how it is matched.

A search document (:class:`storage.models.SearchDoc`) holds normalised text: the words of
``base.normalize.normalize`` (case folded; Arabic alef, ya, ta marbuta, hamza forms folded,
diacritics and tatweel removed; Arabic-Indic digits as 0-9) followed by their light stems
(``base.normalize.stem_words``: "refunds" -> "refund", "والطلبات" -> a stem of the word),
so a query word finds the forms of the same word. A query word matches a document word equal
to its stem or starting with it (a prefix, from three characters: a name being typed).

Documents are written in the transaction that writes the row, so a message is searchable in
the same transaction that stores it, whatever code path adds it:

* a :class:`Message` with text: one document (``message_id`` set). Lines written with Core
  (the hot path: ``storage.rows.insert_lines``, a customer's message and the bot's answer in one
  statement) get theirs from :func:`add_line_docs`, called by ``insert_lines`` itself (one
  multi-row insert for the batch); a Message added through the ORM gets its document from a
  mapper event in the flush that writes it;
* a :class:`Ticket`: one document with its customer's name, username and external id and the
  ticket's tags, rewritten when the tags change or the customer's name or username changes
  (mapper events).

Rows written by other Core bulk inserts (``bench/history_prefill.py``) bypass both: run
:func:`reindex` (``sanad search reindex``) after such a load.

The full-text index over ``body`` is the backend's own: SQLite, an FTS5 external-content
table ``search_fts`` kept in step by triggers on ``search_docs``; PostgreSQL, a stored
generated column ``terms`` = ``to_tsvector('simple', body)`` (the 'simple' configuration: no
stemming or stop words of its own, the text is already normalised) with a GIN index. Stored,
not an expression index: the planner walks the newest documents backwards for a frequent
word, and then checks each row's stored vector instead of parsing its text again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import Connection, Table, delete, event, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session

from base.normalize import normalize, stem_words
from storage.models import Customer, Message, SearchDoc, Ticket

__all__ = [
    "FTS_TABLE",
    "PG_COLUMN",
    "PREFIX_FROM",
    "Term",
    "add_line_docs",
    "body_of",
    "install_sqlite_index",
    "is_modelled",
    "match_sql",
    "query_terms",
    "reindex",
    "ticket_body",
]

FTS_TABLE = "search_fts"
PG_COLUMN = "terms"  # PostgreSQL: to_tsvector('simple', body), stored
PG_INDEX = "ix_search_docs_terms"
PG_DDL = (
    f"ALTER TABLE search_docs ADD COLUMN {PG_COLUMN} tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED"
)
PG_GIN = f"CREATE INDEX {PG_INDEX} ON search_docs USING gin ({PG_COLUMN})"
# The planner estimates a word's frequency from the most common lexemes that ANALYZE keeps; a
# word not among them counts as 0.5 % of the rows, so with the default target a rare word
# looked common enough to walk the newest documents for, and the walk read all of them (1 s
# at 1M messages). A long list makes a rare word rare: the GIN index finds it.
PG_STATISTICS = f"ALTER TABLE search_docs ALTER COLUMN {PG_COLUMN} SET STATISTICS 10000"
PREFIX_FROM = 3  # a query word this long also matches the words it begins
REINDEX_BATCH = 5000
_docs: Table = SearchDoc.__table__  # type: ignore[assignment]

SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "body, content='search_docs', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body); END",
    f"CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body); END",
    f"CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body); "
    f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body); END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS search_docs_au",
    "DROP TRIGGER IF EXISTS search_docs_ad",
    "DROP TRIGGER IF EXISTS search_docs_ai",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def is_modelled(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
    """Alembic's ``include_object``: the backend's full-text index is the migration's, not the
    models' (the FTS5 table and its shadow tables; PostgreSQL's ``terms`` column and its GIN
    index). Compare the rest."""
    del reflected
    if type_ == "table":
        return not (name or "").startswith(FTS_TABLE)
    if type_ == "column":
        return not (
            name == PG_COLUMN
            and getattr(obj, "table", None) is not None
            and obj.table.name == "search_docs"
        )
    if type_ == "index":
        return name != PG_INDEX
    return True


def install_sqlite_index(conn: Connection) -> None:
    """Create the FTS5 table and its triggers (SQLite; the migration's step)."""
    for statement in SQLITE_DDL:
        conn.exec_driver_sql(statement)


# ---------------------------------------------------------------------- documents


@lru_cache(maxsize=16384)
def body_of(*parts: str) -> str:
    """The document text of ``parts``: normalised words, then the stems that differ."""
    words = normalize(" ".join(p for p in parts if p)).split()
    if not words:
        return ""
    seen = set(words)
    stems = [s for s in stem_words(words) if s and s not in seen and not seen.add(s)]  # type: ignore[func-returns-value]
    return " ".join(words + stems)


def ticket_body(name: str, username: str | None, external_id: str, tags: Iterable[str]) -> str:
    return body_of(name or "", username or "", external_id or "", *tags)


@dataclass(frozen=True)
class Term:
    """A query word: normalised, its light stem, and whether it was typed as a prefix
    (``hadd*``: the words it begins match too)."""

    word: str
    stem: str
    prefix: bool = False


def query_terms(query: str) -> list[Term]:
    """The words of a query, in order, without repeats (at most 16). A word typed with a
    trailing ``*`` (three characters or more) is a prefix; prefixes are asked for, not
    implied: a prefix of a frequent word makes the index merge every word it begins."""
    terms: dict[str, Term] = {}
    for raw in query.split():
        words = normalize(raw).split()
        for i, word in enumerate(words):
            prefix = raw.endswith("*") and i == len(words) - 1 and len(word) >= PREFIX_FROM
            if word not in terms or prefix:
                terms[word] = Term(word, stem_words([word])[0] or word, prefix)
    return list(terms.values())[:16]


def match_sql(dialect: str, terms: Sequence[Term]) -> str:
    """The backend's full-text query for ``terms``: every word must match, by its stem (a
    document holds the stem of each of its words) or, for a prefix, a word it begins. The
    words come from :func:`normalize`: letters and digits only, nothing a query syntax reads."""
    postgres = dialect == "postgresql"
    parts = []
    for t in terms:
        if postgres:
            options = {f"'{t.stem}'"} | ({f"'{t.word}':*"} if t.prefix else set())
            parts.append("(" + " | ".join(sorted(options)) + ")")
        else:
            options = {f'"{t.stem}"'} | ({f'"{t.word}"*'} if t.prefix else set())
            parts.append("(" + " OR ".join(sorted(options)) + ")")
    return (" & " if postgres else " AND ").join(parts)


class _LineLike(Protocol):
    """What a document is made of: a transcript line's id, ticket and text."""

    @property
    def id(self) -> int: ...
    @property
    def ticket_id(self) -> int: ...
    @property
    def text(self) -> str: ...


_INSERT_DOCS = insert(_docs)  # built once: the hot path runs it on every message


async def add_line_docs(session: AsyncSession, lines: Sequence[_LineLike]) -> None:
    """The documents of transcript lines just written with Core (``storage.rows.insert_lines``),
    in the session's transaction: one statement for the batch, none when no line has words."""
    docs = [
        {"ticket_id": line.ticket_id, "message_id": line.id, "body": body}
        for line in lines
        if (body := body_of(line.text or ""))
    ]
    if docs:
        await session.execute(_INSERT_DOCS, docs)


async def add_ticket_doc(
    session: AsyncSession,
    ticket_id: int,
    name: str,
    username: str | None,
    external_id: str,
    tags: Iterable[str] = (),
) -> None:
    """The document of a ticket just written with Core (``storage.rows.insert_object``: its
    ``after_insert`` mapper event does not run), in the session's transaction: what
    :func:`_ticket_added` writes for a ticket the ORM inserts."""
    body = ticket_body(name, username, external_id, tags)
    await session.execute(_INSERT_DOCS, {"ticket_id": ticket_id, "message_id": None, "body": body})


# ---------------------------------------------------------------------- mapper events


def _customer_fields(
    session: Session | None, conn: Connection, customer_id: int
) -> tuple[str, str | None, str]:
    """The customer's name, username and external id: from the session when it holds the
    customer (no query), else read on the flush's connection."""
    if session is not None:
        known = session.identity_map.get(session.identity_key(Customer, customer_id))
        if isinstance(known, Customer):
            return known.name, known.username, known.external_id
    row = conn.execute(
        select(Customer.name, Customer.username, Customer.external_id).where(
            Customer.id == customer_id
        )
    ).one()
    return row.name, row.username, row.external_id


@event.listens_for(Message, "after_insert")
def _message_added(_mapper: Mapper[Message], conn: Connection, message: Message) -> None:
    body = body_of(message.text or "")
    if body:
        conn.execute(
            insert(_docs).values(ticket_id=message.ticket_id, message_id=message.id, body=body)
        )


@event.listens_for(Ticket, "after_insert")
def _ticket_added(_mapper: Mapper[Ticket], conn: Connection, ticket: Ticket) -> None:
    name, username, external_id = _customer_fields(
        inspect(ticket).session, conn, ticket.customer_id
    )
    body = ticket_body(name, username, external_id, ticket.tags or ())
    conn.execute(insert(_docs).values(ticket_id=ticket.id, message_id=None, body=body))


@event.listens_for(Ticket, "after_update")
def _ticket_changed(_mapper: Mapper[Ticket], conn: Connection, ticket: Ticket) -> None:
    if not inspect(ticket).attrs.tags.history.has_changes():
        return
    name, username, external_id = _customer_fields(
        inspect(ticket).session, conn, ticket.customer_id
    )
    body = ticket_body(name, username, external_id, ticket.tags or ())
    _rewrite_ticket_doc(conn, ticket.id, body)


@event.listens_for(Customer, "after_update")
def _customer_changed(_mapper: Mapper[Customer], conn: Connection, customer: Customer) -> None:
    attrs = inspect(customer).attrs
    if not (attrs.name.history.has_changes() or attrs.username.history.has_changes()):
        return
    rows = conn.execute(select(Ticket.id, Ticket.tags).where(Ticket.customer_id == customer.id))
    for ticket_id, tags in rows.all():
        body = ticket_body(customer.name, customer.username, customer.external_id, tags or ())
        _rewrite_ticket_doc(conn, ticket_id, body)


def _rewrite_ticket_doc(conn: Connection, ticket_id: int, body: str) -> None:
    done = conn.execute(
        update(_docs)
        .where(_docs.c.ticket_id == ticket_id, _docs.c.message_id.is_(None))
        .values(body=body)
    )
    if not done.rowcount:
        conn.execute(insert(_docs).values(ticket_id=ticket_id, message_id=None, body=body))


# ---------------------------------------------------------------------- backfill


def reindex(conn: Connection, batch: int = REINDEX_BATCH) -> dict[str, int]:
    """Rebuild every document from the tickets and messages (the migration's backfill, and
    ``sanad search reindex`` after a bulk load), in ticket order so that documents keep the
    order of time. Runs in the connection's transaction."""
    conn.execute(delete(_docs))
    counts = {"tickets": 0, "messages": 0}
    last = 0
    while True:
        rows = conn.execute(
            select(Ticket.id, Ticket.tags, Customer.name, Customer.username, Customer.external_id)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.id > last)
            .order_by(Ticket.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        docs = [
            {
                "ticket_id": r.id,
                "message_id": None,
                "body": ticket_body(r.name, r.username, r.external_id, r.tags or ()),
            }
            for r in rows
        ]
        found = conn.execute(
            select(Message.id, Message.ticket_id, Message.text)
            .where(Message.ticket_id > last, Message.ticket_id <= rows[-1].id)
            .order_by(Message.ticket_id, Message.id)
        ).all()
        lines = [
            {"ticket_id": m.ticket_id, "message_id": m.id, "body": body}
            for m in found
            if (body := body_of(m.text or ""))
        ]
        conn.execute(insert(_docs), docs + lines)
        counts["tickets"] += len(docs)
        counts["messages"] += len(lines)
        last = rows[-1].id
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
    return counts
