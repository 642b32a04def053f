"""Ticket search: transcripts, customers (name, username, external id), tags, ticket numbers.

:func:`search_tickets` is one read transaction returning :class:`SearchPage` (frozen read
models). Text is matched as the FAQ matcher reads it (``base.normalize``: Arabic letter forms
and diacritics folded, case folded, light stems), through the index of
:mod:`storage.search`. Every word of the query must match within one document (a transcript
line, or a ticket's customer and tags). A query that is a ticket number (``123`` or ``#123``)
also finds that ticket, first.

Rights are the ticket pages' (``web/pages_reports.py``): a supervisor sees every ticket, an
agent (``involving``) only the tickets they are or were assigned.

Results are tickets, newest hit first, one per ticket in a page, each with the hit's snippet
(the words that matched marked); pages go back in time with ``before`` (the ``next_before``
of the previous page). A ticket whose hits are far apart can show again on a later page with
an older hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from base.normalize import normalize, stem_words
from storage.db import Database
from storage.models import Customer, Event, Message, SearchDoc, Ticket
from storage.search import FTS_TABLE, PG_COLUMN, Term, match_sql, query_terms, reindex

MAX_QUERY = 200
PAGE = 20
MAX_PAGE = 50
SCAN_BATCH = 200
MAX_SCANNED = 2000  # hits read to fill one page of distinct tickets
SNIPPET_WORDS = 24
# A word with its combining marks (Arabic harakat, Latin accents): \w alone splits at them.
_WORD = re.compile(r"(?:\w|[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed])+")

Source = Literal["message", "ticket", "number"]
Hit = tuple[int, int, int | None]  # document id, ticket id, message id (None: the ticket's)


@dataclass(frozen=True)
class Fragment:
    """A piece of a snippet; ``hit`` marks a word that matched the query."""

    text: str
    hit: bool


@dataclass(frozen=True)
class SearchHit:
    ticket_id: int
    customer_id: int
    customer_name: str
    state: str
    channel: str
    source: Source  # a transcript line, the ticket's customer or tags, or its number
    sender: str | None  # of the line (customer, bot, agent, system)
    snippet: tuple[Fragment, ...]
    at: datetime  # when the line was written; the ticket's creation otherwise

    @property
    def snippet_text(self) -> str:
        return "".join(f.text for f in self.snippet)


@dataclass(frozen=True)
class SearchPage:
    query: str
    hits: tuple[SearchHit, ...]
    next_before: int | None  # pass as ``before`` for the next page; None: no more


def ticket_number(query: str) -> int | None:
    """The ticket number a query is (``123``, ``#123``, ``#١٢٣``), if it is one."""
    folded = normalize(query)
    return int(folded) if folded.isdigit() and len(folded) <= 18 else None


def _assigned_once(ticket_id: Any, agent_id: int) -> ColumnElement[bool]:
    """The agent was assigned the ticket at some time: a probe of the partial index of
    ``ticket_assigned`` events by actor (the kind a literal, so the planner may use it)."""
    return (
        select(Event.id)
        .where(
            text("events.kind = 'ticket_assigned'"),
            Event.actor == f"agent:{agent_id}",
            Event.ticket_id == ticket_id,
        )
        .exists()
    )


def _may_see(ticket_id: Any, agent_id: int) -> ColumnElement[bool]:
    """Whether the agent is or was assigned the ticket (the ticket pages' rule for agents),
    for a ticket id from another table: two index probes."""
    held = select(Ticket.id).where(Ticket.id == ticket_id, Ticket.assignee_id == agent_id)
    return held.exists() | _assigned_once(ticket_id, agent_id)


def _matching(dialect: str, query: str) -> tuple[Select[int, int, int | None], Any]:
    """Documents matching ``query``, newest first, as (doc id, ticket id, message id), and
    the column the ``before`` cursor compares (the FTS5 rowid on SQLite, so that FTS5 walks its
    index backwards and stops at the page instead of reading every match)."""
    if dialect == "postgresql":
        key: Any = SearchDoc.id
        statement = select(
            SearchDoc.id.label("doc_id"), SearchDoc.ticket_id, SearchDoc.message_id
        ).where(
            literal_column(f"search_docs.{PG_COLUMN}").op("@@")(
                func.to_tsquery(literal_column("'simple'"), bindparam("q", query))
            )
        )
    else:
        fts = table(FTS_TABLE, column("rowid"))
        key = fts.c.rowid
        statement = (
            select(key.label("doc_id"), SearchDoc.ticket_id, SearchDoc.message_id)
            .select_from(fts)
            .join(SearchDoc, SearchDoc.id == key)
            .where(literal_column(FTS_TABLE).op("MATCH")(bindparam("q", query)))
        )
    return statement.order_by(key.desc()), key


async def _hits(
    session: AsyncSession,
    query: str,
    involving: int | None,
    before: int | None,
    limit: int,
    shown: set[int],
) -> tuple[list[Hit], int | None]:
    """Up to ``limit`` distinct tickets' newest hits before ``before`` (of an agent's own
    tickets with ``involving``) and the cursor after them: None when the matches ran out;
    after ``MAX_SCANNED`` hits read the page may be short (an agent's tickets among many
    others'), the cursor goes on from there. Each read takes the next ``SCAN_BATCH`` hits and
    marks in the database those the agent may see."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Plan for this query's words (how frequent they are decides between the GIN index
        # and walking the newest documents), not a generic plan for any words.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    statement, key = _matching(dialect, query)
    # An agent's matches are read in one go up to the scan limit: each read of a rare word
    # is a whole index scan and sort, so ten reads of 200 cost ten times one read of 2,000
    # (the visibility probes are the same in number either way).
    size = SCAN_BATCH if involving is None else MAX_SCANNED
    picked: list[Hit] = []
    seen = set(shown)  # tickets already on the page
    scanned = 0
    cursor = before
    while scanned < MAX_SCANNED:
        batch = (statement if cursor is None else statement.where(key < cursor)).limit(size)
        if involving is None:
            rows = [(int(d), int(t), m, True) for d, t, m in (await session.execute(batch)).all()]
        else:
            hits = batch.subquery()
            marked = select(
                *hits.c, _may_see(hits.c.ticket_id, involving).label("visible")
            ).order_by(hits.c.doc_id.desc())
            rows = [
                (int(r[0]), int(r[1]), r[2], bool(r[3]))
                for r in (await session.execute(marked)).all()
            ]
        scanned += len(rows)
        for doc_id, ticket_id, message_id, visible in rows:
            if ticket_id in seen or not visible:
                continue
            if len(picked) == limit:
                return picked, doc_id + 1
            seen.add(ticket_id)
            picked.append((doc_id, ticket_id, message_id))
        if len(rows) < size:
            return picked, None
        cursor = rows[-1][0]
    return picked, cursor


def _stems(terms: list[Term]) -> tuple[set[str], tuple[str, ...]]:
    exact = {t.word for t in terms} | {t.stem for t in terms}
    return exact, tuple(t.word for t in terms if t.prefix)


def _is_hit(word: str, exact: set[str], prefixes: tuple[str, ...]) -> bool:
    folded = normalize(word).split()
    if not folded:
        return False
    for part in folded:
        if part in exact or (prefixes and part.startswith(prefixes)):
            return True
        if stem_words([part])[0] in exact:
            return True
    return False


def snippet(text_: str, terms: list[Term], words: int = SNIPPET_WORDS) -> tuple[Fragment, ...]:
    """``text_`` cut to about ``words`` words around the first match, the matching words
    marked (compared as the index compares them: normalised, stems, prefixes)."""
    exact, prefixes = _stems(terms)
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text_)]
    hits = [i for i, (a, b) in enumerate(spans) if _is_hit(text_[a:b], exact, prefixes)]
    first = hits[0] if hits else 0
    lo = max(0, first - words // 3)
    hi = min(len(spans), lo + words)
    if not spans:
        return (Fragment(text_[:200], False),) if text_ else ()
    start = 0 if lo == 0 else spans[lo][0]
    end = len(text_) if hi == len(spans) else spans[hi - 1][1]
    out: list[Fragment] = []
    if lo > 0:
        out.append(Fragment("… ", False))
    pos = start
    marked = set(hits)
    for i in range(lo, hi):
        a, b = spans[i]
        if i in marked:
            if a > pos:
                out.append(Fragment(text_[pos:a], False))
            out.append(Fragment(text_[a:b], True))
            pos = b
    if end > pos:
        out.append(Fragment(text_[pos:end], False))
    if hi < len(spans):
        out.append(Fragment(" …", False))
    return tuple(out)


async def search_tickets(
    db: Database,
    query: str,
    *,
    involving: int | None = None,
    before: int | None = None,
    limit: int = PAGE,
) -> SearchPage:
    """Tickets matching ``query`` that the caller may see (``involving``: an agent's id, for
    their own tickets only), newest hit first; see the module docstring."""
    query = query[:MAX_QUERY]
    terms = query_terms(query)
    limit = max(1, min(limit, MAX_PAGE))
    async with db.transaction() as session:
        dialect = session.get_bind().dialect.name
        number = ticket_number(query) if before is None else None
        first: list[SearchHit] = []
        if number is not None:
            found = await _tickets(session, [number], involving)
            if number in found:
                ticket, customer = found[number]
                first.append(
                    SearchHit(
                        ticket.id,
                        customer.id,
                        customer.name,
                        ticket.state,
                        ticket.channel,
                        "number",
                        None,
                        (Fragment(f"#{ticket.id}", True),),
                        ticket.created_at,
                    )
                )
        if not terms:
            return SearchPage(query, tuple(first), None)
        picked, cursor = await _hits(
            session,
            match_sql(dialect, terms),
            involving,
            before,
            limit - len(first),
            {h.ticket_id for h in first},
        )
        tickets = await _tickets(session, [p[1] for p in picked])
        message_ids = [p[2] for p in picked if p[2] is not None]
        lines = {
            m.id: m
            for m in (
                await session.execute(select(Message).where(Message.id.in_(message_ids)))
            ).scalars()
        }
    hits = list(first)
    for _doc, ticket_id, message_id in picked:
        if ticket_id not in tickets:
            continue
        ticket, customer = tickets[ticket_id]
        line = lines.get(message_id) if message_id is not None else None
        if line is not None:
            hits.append(
                SearchHit(
                    ticket.id,
                    customer.id,
                    customer.name,
                    ticket.state,
                    ticket.channel,
                    "message",
                    line.sender,
                    snippet(line.text, terms),
                    line.created_at,
                )
            )
        else:
            # A web visitor's external id is the hash of their secret: found, not shown.
            shown_id = "" if customer.channel == "web" else customer.external_id
            about = " · ".join(
                p for p in (customer.name, customer.username, shown_id, *ticket.tags) if p
            )
            hits.append(
                SearchHit(
                    ticket.id,
                    customer.id,
                    customer.name,
                    ticket.state,
                    ticket.channel,
                    "ticket",
                    None,
                    snippet(about, terms),
                    ticket.created_at,
                )
            )
    return SearchPage(query, tuple(hits), cursor)


async def _tickets(
    session: AsyncSession, ids: list[int], involving: int | None = None
) -> dict[int, tuple[Ticket, Customer]]:
    if not ids:
        return {}
    statement = (
        select(Ticket, Customer)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.id.in_(ids))
    )
    if involving is not None:
        statement = statement.where(
            (Ticket.assignee_id == involving) | _assigned_once(Ticket.id, involving)
        )
    rows = await session.execute(statement)
    return {t.id: (t, c) for t, c in rows.all()}


async def rebuild_index(db: Database) -> dict[str, int]:
    """Rebuild every search document in one transaction (``sanad search reindex``)."""
    async with db.transaction() as session:
        connection = await session.connection()
        return await connection.run_sync(reindex)
