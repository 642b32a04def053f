"""The one-transaction floor of ``bench.webchat``: what a web chat message costs at least.

A minimal aiohttp WebSocket server speaking the part of the web chat protocol the benchmark
uses (``hello`` -> ``welcome``; ``message`` -> the customer's line, ``ack``, the bot's answer,
and the ticket ``state`` when it changed), that does for each visitor message the reads and
writes Sanad does for an FAQ-answered message, with the raw driver (aiosqlite or asyncpg) in
ONE transaction:

0. decide the answer (before the transaction, as Sanad prepares a question); 1. read the
customer by (channel, visitor key); 2. refresh their ``last_seen_at`` when it is a minute old
(Sanad's rule since 2026-12-06: ``handoff.customers.LAST_SEEN_EVERY``); 3. read their open
ticket (id, state); 4. look for the message under its ``client_id`` (a resend); 5. insert the
customer's message; 6. insert the query log; 7. insert the bot's answer; 8. insert the two
lines' search documents (the same table and the same stemmed body, ``storage.search.body_of``,
as Sanad writes since issue 14; one multi-row insert; a new visitor's ticket gets its own
document too, as Sanad's mapper event writes it).

Sanad (captured with a ``before_cursor_execute`` listener) does the same reads and writes in
one transaction too (``conversation.customer_wrote``), in fewer statements since 2026-12-06:
the three reads are one, and both lines are one multi-row insert. The
answer comes from the real matcher, run as ``FaqService.prepare`` runs it: Sanad's lexical
index and, when the lexical match is not decisive, the query's embedding by the same model
(``faq_semantic`` of Sanad's settings) fused with it, with Sanad's thresholds; so the floor does
the same domain work. The CPU the match takes, the embedding's worker thread included, is
counted apart (``match_cpu_us``; ``match_cpu_ms_per_message`` in the output). Texts are fixed
strings.

The database is one Sanad created (migrated, sample FAQ loaded). Statements and transactions
are counted by the driver itself: SQLite's trace callback (every statement, BEGIN and COMMIT
included) and asyncpg's query logger (BEGIN/COMMIT and every statement with arguments).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from base.normalize import detect_language
from bench.webchat_probe import serve_probe
from faq.fusion import FUSED_THRESHOLDS, with_overrides
from faq.matcher import Decision, Outcome
from faq.semantic import Embedder, Float32Array, load_embedder
from faq.service import MAX_QUERY_CHARS, ArticleView, FaqService, thresholds_from
from storage.search import body_of

CHANNEL = "web"
OPEN_STATES = ("bot", "queued", "offered", "assigned", "pending")
DID_IT_HELP = {"en": "Did this help?", "ar": "هل ساعدك هذا؟"}
SUGGEST = {"en": "Did you mean one of these?", "ar": "هل تقصد أحد هذه؟"}
NO_MATCH = {"en": "Sorry, I have no answer to that.", "ar": "عذرًا، ليس لدي جواب لذلك."}
GREETING = "Hello! Ask me anything."
DEFAULT_LANGUAGE = "en"
LAST_SEEN_EVERY = timedelta(minutes=1)  # as handoff.customers.LAST_SEEN_EVERY


def _docs(lines: Sequence[tuple[int, int | None, str]]) -> list[tuple[int, int | None, str]]:
    """The search documents of (ticket, message id, text) lines: (ticket, id, body); a
    message id None is the ticket's own document (its customer's name and key)."""
    return [(t, m, body) for t, m, text in lines if (body := body_of(text))]


@dataclass(frozen=True)
class Line:
    """A stored transcript line, as pushed."""

    id: int
    sender: str
    text: str
    created_at: datetime
    client_id: str | None = None
    buttons: tuple[tuple[dict[str, str], ...], ...] = ()

    def frame(self) -> dict[str, Any]:
        return {
            "type": "message",
            "id": self.id,
            "sender": self.sender,
            "text": self.text,
            "kind": "text",
            "created_at": self.created_at.isoformat(),
            "client_id": self.client_id,
            "agent": None,
            "buttons": [list(row) for row in self.buttons],
            "file": None,
        }


@dataclass(frozen=True)
class Handled:
    mine: Line
    answer: Line | None  # None: a resend, answered the first time
    state: str


class CountingEmbedder:
    """Sanad's embedding model, the CPU of each call (in whichever worker thread it runs)
    added to ``counters["match_cpu_us"]``."""

    def __init__(self, inner: Embedder, counters: Counter[str], lock: threading.Lock) -> None:
        self.inner = inner
        self.counters = counters
        self.lock = lock

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Float32Array:
        started = time.thread_time()
        out = self.inner.embed(texts)
        with self.lock:
            self.counters["match_cpu_us"] += round((time.thread_time() - started) * 1e6)
        return out

    def clone(self) -> Embedder:
        return CountingEmbedder(self.inner.clone(), self.counters, self.lock)


class Answers:
    """The real matcher, as ``FaqService.prepare`` runs it (lexical, then fused with the
    query's embedding when the lexical match is not decisive; without the database); the CPU
    it takes goes to ``counters["match_cpu_us"]``."""

    def __init__(self, faq: FaqService, counters: Counter[str]) -> None:
        self.faq = faq
        self.article = faq.article
        self.counters = counters

    async def decide(self, text: str, language: str) -> tuple[str, Decision]:
        started = time.thread_time()
        query = text.strip()[:MAX_QUERY_CHARS]
        lang = detect_language(query) if any(c.isalpha() for c in query) else language
        matcher = self.faq.matcher
        verdict = matcher.decisive(query, lang)
        spent = time.thread_time() - started
        if verdict is None:
            embedding = await self.faq.embed_query(query)  # counted by CountingEmbedder
            started = time.thread_time()
            verdict = matcher.decide(query, lang, embedding)
            spent += time.thread_time() - started
        self.counters["match_cpu_us"] += round(spent * 1e6)
        return lang, verdict.decision

    def _view(self, article_id: str) -> ArticleView:
        view = self.article(int(article_id))
        assert view is not None, f"article {article_id} is in the index but not loaded"
        return view

    def reply(
        self, decision: Decision, lang: str, query_id: int
    ) -> tuple[str, tuple[tuple[dict[str, str], ...], ...], dict[str, Any]]:
        """The bot's text, buttons and message meta for a decision."""
        meta: dict[str, Any] = {"query_id": query_id, "outcome": decision.outcome.value}
        human = ({"label": "Talk to a person", "data": "human"},)
        if decision.outcome is Outcome.ANSWER and decision.best is not None:
            article = self._view(decision.best.article_id)
            meta["article_id"] = article.id
            text = f"{article.answer}\n\n{DID_IT_HELP[lang]}"
            buttons: tuple[tuple[dict[str, str], ...], ...] = (
                (
                    {"label": "Yes", "data": f"fb:{query_id}:y"},
                    {"label": "No", "data": f"fb:{query_id}:n"},
                ),
            )
        elif decision.outcome is Outcome.SUGGEST:
            meta["article_ids"] = [int(h.article_id) for h in decision.hits]
            text = SUGGEST[lang]
            buttons = (
                *(
                    (
                        {
                            "label": self._view(h.article_id).question[:60],
                            "data": f"art:{h.article_id}:{query_id}",
                        },
                    )
                    for h in decision.hits
                ),
                human,
            )
        else:
            text, buttons = NO_MATCH[lang], (human,)
        options = [button for row in buttons for button in row]
        return text, buttons, {**meta, "options": options, "buttons": [list(r) for r in buttons]}


def _kind(statement: str) -> str:
    """The counter a statement goes to, as the probe reports it. SQLite's trace also reports
    what a trigger runs (``-- TRIGGER ...``: the FTS5 index of the search documents); Sanad's
    count (a SQLAlchemy listener) does not see those, so they are counted apart."""
    if statement.startswith("--"):
        return "triggered"
    word = statement.split(None, 1)[0].upper().rstrip(";")
    return {"BEGIN": "begins", "COMMIT": "commits", "ROLLBACK": "rollbacks"}.get(word, "statements")


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_time(at: datetime) -> str:
    """As SQLAlchemy stores a UTC datetime in SQLite (naive, microseconds always)."""
    return at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteFloor:
    """One aiosqlite connection; one transaction at a time (as Sanad's gate on SQLite)."""

    def __init__(self, path: str, answers: Answers, counters: Counter[str]) -> None:
        self.path = path
        self.answers = answers
        self.counters = counters
        self.lock = asyncio.Lock()
        self.db: Any = None
        self.last = ""

    async def open(self) -> None:
        import aiosqlite

        self.db = await aiosqlite.connect(self.path, isolation_level=None)
        # Sanad's pragmas (storage/db.py).
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=5000",
            "synchronous=NORMAL",
        ):
            await self.db.execute(f"PRAGMA {pragma}")
        await self.db.set_trace_callback(self._traced)

    def _traced(self, statement: str) -> None:
        # A trigger's program (the FTS5 index of a search document) is traced as ``-- ...``
        # lines and as the firing statement's text again, once per row: not statements the
        # floor ran (Sanad's count, a SQLAlchemy listener, does not see them either).
        if statement == self.last:
            self.counters["triggered"] += 1
            return
        if not statement.startswith("--"):
            self.last = statement
        self.counters[_kind(statement)] += 1

    async def close(self) -> None:
        await self.db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.lock:
            await self.db.execute("BEGIN")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def _insert_line(
        self, db: Any, ticket: int, customer: int, sender: str, text: str, meta: Any, at: datetime
    ) -> int:
        cursor = await db.execute(
            "INSERT INTO messages (ticket_id, customer_id, sender, kind, text, meta, created_at)"
            " VALUES (?, ?, ?, 'text', ?, ?, ?)",
            (ticket, customer, sender, text, json.dumps(meta), _sqlite_time(at)),
        )
        return int(cursor.lastrowid)

    async def hello(self, key: str) -> None:
        """The visitor's customer and open ticket, created with the greeting when new."""
        at = _now()
        async with self.transaction() as db:
            rows = await db.execute_fetchall(
                "SELECT id FROM customers WHERE channel = ? AND external_id = ?", (CHANNEL, key)
            )
            if rows:
                return
            cursor = await db.execute(
                "INSERT INTO customers (channel, external_id, name, language, language_chosen,"
                " tier, unreachable, created_at, last_seen_at)"
                " VALUES (?, ?, ?, 'en', 0, 'normal', 0, ?, ?)",
                (CHANNEL, key, f"Web visitor {key[:4]}", _sqlite_time(at), _sqlite_time(at)),
            )
            customer = int(cursor.lastrowid)
            cursor = await db.execute(
                "INSERT INTO tickets (customer_id, channel, state, category, language, priority,"
                " tags, failed_agents, waiting_for_hours, reopened_count, sla_flags, created_at)"
                " VALUES (?, ?, 'bot', '', 'en', 'normal', '[]', '[]', 0, 0, '{}', ?)",
                (customer, CHANNEL, _sqlite_time(at)),
            )
            ticket = int(cursor.lastrowid)
            greeting = await self._insert_line(
                db, ticket, customer, "bot", GREETING, {"buttons": []}, at
            )
            name = f"Web visitor {key[:4]}"
            await self._insert_docs(
                db, [(ticket, None, f"{name} {key}"), (ticket, greeting, GREETING)]
            )

    async def _insert_docs(self, db: Any, lines: Sequence[tuple[int, int | None, str]]) -> None:
        """One multi-row INSERT (an executemany would be traced as one statement per row)."""
        docs = _docs(lines)
        if docs:
            values = ", ".join(["(?, ?, ?)"] * len(docs))
            await db.execute(
                f"INSERT INTO search_docs (ticket_id, message_id, body) VALUES {values}",
                [v for doc in docs for v in doc],
            )

    async def message(self, key: str, client_id: str, text: str) -> Handled:
        at = _now()
        # Decided before the transaction, as Sanad prepares a question (the embedding must
        # not hold one); the customer's language only matters for a text without letters,
        # which the benchmark does not send.
        lang, decision = await self.answers.decide(text, DEFAULT_LANGUAGE)
        async with self.transaction() as db:
            customer, _language, _chosen, _awaiting, seen = (
                await db.execute_fetchall(
                    "SELECT id, language, language_chosen, awaiting_comment_ticket_id,"
                    " last_seen_at FROM customers WHERE channel = ? AND external_id = ?",
                    (CHANNEL, key),
                )
            )[0]
            if seen <= _sqlite_time(at - LAST_SEEN_EVERY):  # the same text format: comparable
                await db.execute(
                    "UPDATE customers SET last_seen_at = ? WHERE id = ?",
                    (_sqlite_time(at), customer),
                )
            ticket, state = (
                await db.execute_fetchall(
                    "SELECT id, state FROM tickets WHERE customer_id = ? AND state IN"
                    " (?, ?, ?, ?, ?) ORDER BY id DESC LIMIT 1",
                    (customer, *OPEN_STATES),
                )
            )[0]
            earlier = await db.execute_fetchall(
                "SELECT id, text, created_at FROM messages WHERE customer_id = ?"
                " AND sender = 'customer' AND json_extract(meta, '$.client_id') = ? LIMIT 1",
                (customer, client_id),
            )
            if earlier:
                line = Line(int(earlier[0][0]), "customer", text, at, client_id)
                return Handled(line, None, state)
            mine_id = await self._insert_line(
                db, ticket, customer, "customer", text, {"client_id": client_id}, at
            )
            best = decision.best
            cursor = await db.execute(
                'INSERT INTO query_log (customer_id, ticket_id, "query", lang, outcome,'
                " best_article_id, score, suggested_article_ids, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer,
                    ticket,
                    text,
                    lang,
                    decision.outcome.value,
                    int(best.article_id) if best else None,
                    best.score if best else None,
                    json.dumps([h.article_id for h in decision.hits]),
                    _sqlite_time(at),
                ),
            )
            reply, buttons, meta = self.answers.reply(decision, lang, int(cursor.lastrowid))
            answer_id = await self._insert_line(db, ticket, customer, "bot", reply, meta, at)
            await self._insert_docs(db, [(ticket, mine_id, text), (ticket, answer_id, reply)])
        return Handled(
            Line(mine_id, "customer", text, at, client_id),
            Line(answer_id, "bot", reply, at, None, buttons),
            state,
        )


_PG_DOCS = "INSERT INTO search_docs (ticket_id, message_id, body) VALUES ($1, $2, $3)"


class PostgresFloor:
    """An asyncpg pool (10 connections, as Sanad's); one transaction per message."""

    def __init__(self, dsn: str, answers: Answers, counters: Counter[str]) -> None:
        self.dsn = dsn
        self.answers = answers
        self.counters = counters
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        async def init(connection: Any) -> None:
            connection.add_query_logger(self._logged)

        async def reset(_connection: Any) -> None:
            """Nothing to reset: every transaction ended. (asyncpg's default reset runs one
            more statement, a round trip, at every release; SQLAlchemy's pool does not.)"""

        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=10, max_size=10, init=init, reset=reset
        )

    def _logged(self, record: Any) -> None:
        self.counters[_kind(record.query)] += 1

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as connection, connection.transaction():
            yield connection

    async def hello(self, key: str) -> None:
        at = _now()
        async with self.transaction() as db:
            if await db.fetchval(
                "SELECT id FROM customers WHERE channel = $1 AND external_id = $2", CHANNEL, key
            ):
                return
            customer = await db.fetchval(
                "INSERT INTO customers (channel, external_id, name, language, language_chosen,"
                " tier, unreachable, created_at, last_seen_at)"
                " VALUES ($1, $2, $3, 'en', false, 'normal', false, $4, $4) RETURNING id",
                CHANNEL,
                key,
                f"Web visitor {key[:4]}",
                at,
            )
            ticket = await db.fetchval(
                "INSERT INTO tickets (customer_id, channel, state, category, language, priority,"
                " tags, failed_agents, waiting_for_hours, reopened_count, sla_flags, created_at)"
                " VALUES ($1, $2, 'bot', '', 'en', 'normal', '[]', '[]', false, 0, '{}', $3)"
                " RETURNING id",
                customer,
                CHANNEL,
                at,
            )
            greeting = await db.fetchval(
                "INSERT INTO messages (ticket_id, customer_id, sender, kind, text, meta,"
                " created_at) VALUES ($1, $2, 'bot', 'text', $3, $4, $5) RETURNING id",
                ticket,
                customer,
                GREETING,
                '{"buttons": []}',
                at,
            )
            name = f"Web visitor {key[:4]}"
            docs = [(ticket, None, f"{name} {key}"), (ticket, greeting, GREETING)]
            await db.executemany(_PG_DOCS, _docs(docs))

    async def message(self, key: str, client_id: str, text: str) -> Handled:
        at = _now()
        # Decided before the transaction, as Sanad prepares a question (the embedding must
        # not hold one); the customer's language only matters for a text without letters,
        # which the benchmark does not send.
        lang, decision = await self.answers.decide(text, DEFAULT_LANGUAGE)
        insert_line = (
            "INSERT INTO messages (ticket_id, customer_id, sender, kind, text, meta, created_at)"
            " VALUES ($1, $2, $3, 'text', $4, $5, $6) RETURNING id"
        )
        async with self.transaction() as db:
            row = await db.fetchrow(
                "SELECT id, language, language_chosen, awaiting_comment_ticket_id, last_seen_at"
                " FROM customers WHERE channel = $1 AND external_id = $2",
                CHANNEL,
                key,
            )
            customer = row["id"]
            if at - row["last_seen_at"] >= LAST_SEEN_EVERY:
                await db.execute(
                    "UPDATE customers SET last_seen_at = $1 WHERE id = $2", at, customer
                )
            ticket_row = await db.fetchrow(
                "SELECT id, state FROM tickets WHERE customer_id = $1 AND state = ANY($2::text[])"
                " ORDER BY id DESC LIMIT 1",
                customer,
                list(OPEN_STATES),
            )
            ticket, state = ticket_row["id"], ticket_row["state"]
            earlier = await db.fetchval(
                "SELECT id FROM messages WHERE customer_id = $1 AND sender = 'customer'"
                " AND meta ->> 'client_id' = $2 LIMIT 1",
                customer,
                client_id,
            )
            if earlier is not None:
                return Handled(Line(int(earlier), "customer", text, at, client_id), None, state)
            meta = json.dumps({"client_id": client_id})
            mine_id = await db.fetchval(insert_line, ticket, customer, "customer", text, meta, at)
            best = decision.best
            query_id = await db.fetchval(
                'INSERT INTO query_log (customer_id, ticket_id, "query", lang, outcome,'
                " best_article_id, score, suggested_article_ids, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                customer,
                ticket,
                text,
                lang,
                decision.outcome.value,
                int(best.article_id) if best else None,
                best.score if best else None,
                json.dumps([h.article_id for h in decision.hits]),
                at,
            )
            reply, buttons, reply_meta = self.answers.reply(decision, lang, int(query_id))
            answer_id = await db.fetchval(
                insert_line, ticket, customer, "bot", reply, json.dumps(reply_meta), at
            )
            await db.executemany(
                _PG_DOCS, _docs([(ticket, mine_id, text), (ticket, answer_id, reply)])
            )
        return Handled(
            Line(int(mine_id), "customer", text, at, client_id),
            Line(int(answer_id), "bot", reply, at, None, buttons),
            state,
        )


class Store(Protocol):
    """What the floor's socket needs of its database: :class:`SqliteFloor` or
    :class:`PostgresFloor`."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def hello(self, key: str) -> None: ...

    async def message(self, key: str, client_id: str, text: str) -> Handled: ...


STORE: web.AppKey[Store] = web.AppKey("store")


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    store = request.app[STORE]
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    hello = await ws.receive_json()
    key = str(hello.get("visitor") or id(ws))
    await store.hello(key)
    await ws.send_json(
        {"type": "welcome", "visitor": key, "ticket": {"id": None, "state": "bot"}, "lang": "en"}
    )
    last_state = None
    async for raw in ws:
        if raw.type != WSMsgType.TEXT:
            continue
        frame = json.loads(raw.data)
        if frame.get("type") != "message":
            continue
        client_id, text = str(frame["client_id"]), str(frame["text"])
        handled = await store.message(key, client_id, text)
        if handled.answer is not None:
            await ws.send_json(handled.mine.frame())
        await ws.send_json({"type": "ack", "client_id": client_id, "id": handled.mine.id})
        if handled.answer is not None:
            await ws.send_json(handled.answer.frame())
        if handled.state != last_state:
            last_state = handled.state
            await ws.send_json({"type": "state", "ticket": {"id": None, "state": handled.state}})
    return ws


async def _answers(db_url: str, counters: Counter[str], semantic: str) -> Answers:
    """Sanad's matcher of the database's FAQ, built as ``Services.create`` builds it (the
    embedding model and the fused thresholds of Sanad's settings; then the engine goes)."""
    from app.config import load_settings
    from storage.db import Database

    settings = load_settings(env={"SANAD_DATABASE_URL": db_url, "SANAD_FAQ_SEMANTIC": semantic})
    embedder = load_embedder(settings.faq_semantic, threads=settings.faq_semantic_threads)
    fused = with_overrides(
        FUSED_THRESHOLDS,
        settings.faq_answer_min,
        settings.faq_answer_margin,
        settings.faq_suggest_min,
    )
    database = Database(db_url)
    faq = FaqService(
        database,
        thresholds_from(
            settings.faq_answer_min, settings.faq_answer_margin, settings.faq_suggest_min
        ),
        embedder=CountingEmbedder(embedder, counters, threading.Lock()) if embedder else None,
        fused_thresholds=fused,
    )
    try:
        await faq.reload()
        await faq.wait_idle()  # the articles' embeddings (stored by Sanad: read back)
    finally:
        await database.dispose()
    return Answers(faq, counters)


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _run(db_url: str, port: int, conn: Connection, semantic: str) -> None:
    counters: Counter[str] = Counter()
    answers = await _answers(db_url, counters, semantic)
    store: Store
    if db_url.startswith("sqlite"):
        store = SqliteFloor(db_url.split("///", 1)[1], answers, counters)
    else:
        dsn = db_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        store = PostgresFloor(dsn, answers, counters)
    await store.open()
    app = web.Application()
    app[STORE] = store
    app.router.add_get("/chat/ws", chat_socket)
    app.router.add_get("/healthz", _ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    serve_probe(conn, counters)
    try:
        await asyncio.Event().wait()  # until the parent terminates this process
    finally:
        await runner.cleanup()
        await store.close()


def serve_floor(db_url: str, port: int, conn: Connection, semantic: str = "auto") -> None:
    """The child process: the floor server on ``port`` until terminated."""
    asyncio.run(_run(db_url, port, conn, semantic))
