"""Lines a channel sent customers, kept in their tickets' transcripts: many at once.

After every answer the Telegram bot sends it stores what it sent with the ids Telegram gave
(:func:`handoff.desk.record_sent`). Under load hundreds of chats do that at the same moment,
each in a transaction of its own: on SQLite one at a time behind the write gate, each paying
its begin, commit and driver hand-offs for a single row. :func:`record_sent_many` writes the
lines of many sends in one transaction: one read of the tickets' customers, then every line in
one multi-row ``INSERT`` through :func:`handoff.tickets.record_lines`, so that the lines get
their search documents and webhooks' outbox rows like every other line (no ORM ticket is
loaded; a line for a ticket that does not exist is not written).

:class:`SentRecorder` gathers the sends of concurrent callers into such batches (a group
commit): a caller's send is written by the next transaction to start and the caller waits
for its commit, so when :meth:`SentRecorder.record` returns the lines are stored, as they
were with a transaction of its own; while one batch is being written the next gathers. Each
chat's sends stay in order (a chat's updates are handled one after the other, and a batch
keeps the order of its sends). A batch that fails is written again send by send, so one bad
send fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from handoff.tickets import SENDERS, record_lines
from storage.db import Database
from storage.models import Ticket

log = logging.getLogger(__name__)

BATCH_MAX = 200  # sends per transaction at most (each part one parameter set)


@dataclass(frozen=True)
class Sent:
    """What one send put in one ticket: each part's text and the channel's message id."""

    ticket_id: int
    sender: str
    lines: Sequence[tuple[str, int]]
    at: datetime
    kind: str = "text"
    meta: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.sender not in SENDERS:
            raise ValueError(f"unknown sender {self.sender!r}")


_CUSTOMERS = select(Ticket.id, Ticket.customer_id).where(
    Ticket.id.in_(bindparam("ids", expanding=True))
)


def rows(sends: Sequence[Sent], customers: Mapping[int, int]) -> list[dict[str, Any]]:
    """The lines' values (:func:`handoff.tickets.record_lines`), in the order sent; sends to
    a ticket not in ``customers`` (ticket id -> customer id) are left out."""
    return [
        {
            "ticket_id": send.ticket_id,
            "customer_id": customers[send.ticket_id],
            "sender": send.sender,
            "kind": send.kind,
            "text": text,
            "channel_message_id": str(channel_message_id),
            "meta": dict(send.meta or {}),
            "created_at": send.at,
        }
        for send in sends
        if send.ticket_id in customers
        for text, channel_message_id in send.lines
    ]


async def record_sent_many(db: Database, sends: Sequence[Sent]) -> None:
    """Keep the lines of every send in ``sends`` (one transaction: the tickets' customers in
    one read, the lines in one statement with their documents and outbox rows)."""
    if not any(send.lines for send in sends):
        return
    async with db.transaction() as session:
        found = await session.execute(_CUSTOMERS, {"ids": sorted({s.ticket_id for s in sends})})
        customers = {ticket_id: customer_id for ticket_id, customer_id in found.all()}
        lines = rows(sends, customers)
        if lines:
            await record_lines(session, lines)


class SentRecorder:
    """Group commit of sends for one database (see the module)."""

    def __init__(self, db: Database, batch_max: int = BATCH_MAX) -> None:
        self.db = db
        self.batch_max = batch_max
        self.batches = 0  # transactions written so far (tests, benchmarks)
        self.sends = 0  # sends written so far
        self._pending: list[tuple[Sent, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, send: Sent) -> None:
        """Keep ``send``; returns once it is committed (raises what its write raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((send, done))
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._pending:
            batch = self._pending[: self.batch_max]
            del self._pending[: self.batch_max]
            try:
                await record_sent_many(self.db, [send for send, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                log.warning("a batch of %d sends failed; writing them one by one", len(batch))
                for send, done in batch:
                    try:
                        await record_sent_many(self.db, [send])
                    except Exception as one:
                        _settle(done, one)
                    else:
                        self._count(1)
                        _settle(done, None)
                continue
            self._count(len(batch))
            for _, done in batch:
                _settle(done, None)

    def _count(self, sends: int) -> None:
        self.batches += 1
        self.sends += sends


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled: the lines are kept all the same
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


_recorders: weakref.WeakKeyDictionary[Database, SentRecorder] = weakref.WeakKeyDictionary()


def recorder(db: Database) -> SentRecorder:
    """The process's recorder for ``db`` (one per database, made on first use)."""
    found = _recorders.get(db)
    if found is None:
        found = _recorders[db] = SentRecorder(db)
    return found
