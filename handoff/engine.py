"""The handoff engine's live state and its unit of work.

:class:`Engine` holds what one process keeps in memory (the ACD, the timers, the handle-time
average, what waiting customers were told) and the lock that orders changes to it. Every
handoff action (:mod:`handoff.actions`) is an ``async def action(uow, ...)`` that reads and
writes through a :class:`Unit`: its ``session`` (one database transaction), its ``now`` (one
instant for the whole action) and its ``outbox`` (the notices to deliver once the transaction
has committed, so a slow channel never holds a database lock and a failed delivery never
undoes a state change).

Two ways to run actions:

* :meth:`Engine.run` (what :class:`~handoff.service.HandoffService`'s methods do): one action
  in its own transaction; when it returns, the transaction has committed and the notices have
  been delivered::

      info = await engine.run(actions.request_human, ticket_id, reason="asked")

* :meth:`Engine.unit` with a transaction the caller already holds: actions join *the
  caller's* transaction (a conversation core writes the customer's message and asks for a
  person in one transaction per customer input). The notices go out only after the caller
  commits; nothing goes out, and the memory is rebuilt from the database, if it rolls back::

      async with db.transaction() as session:
          session.add(message)
          async with engine.unit(session) as uow:
              await actions.request_human(uow, ticket_id, reason="asked")
      await engine.settled()  # optional: wait until the notices are delivered

  The engine's lock is taken when the unit is entered and held until the caller's
  transaction ends (its commit or rollback is part of the change), so: enter the unit before
  writing rows that actions lock (tickets, agents, offers: on PostgreSQL another unit could
  otherwise hold the lock and wait for those rows); inside it, call actions through the unit,
  never the service's methods (they would wait for the lock the unit holds). Several units on
  one session share one :class:`Unit`.

The end of the transaction is observed through the session's ``after_commit`` and
``after_transaction_end`` events, which release the lock; what follows (deliveries, or the
rebuild of a memory left ahead of rolled-back rows, which the next unit also does first if it
has not happened yet) runs in a task that :meth:`Engine.settled` awaits.

Lock order: a transaction is always opened before the engine's lock is taken (SQLite gives
transactions their turn one at a time; the other order would deadlock against a unit that
holds its turn and waits for the lock).

Actions are declared with :func:`action`, which records on the unit that the memory may have
changed: a :class:`~handoff.model.HandoffError` is raised before anything changed (no rebuild
needed), anything else leaves the memory ahead of a rolled-back transaction.

**Chat units.** A line of a live chat (an agent's line, a customer's line relayed to the agent
who holds the chat) changes rows and sends notices but nothing this memory holds. Such actions
are declared with :func:`chat_action` and run in a *chat unit* (:meth:`Engine.chat_unit`): the
same transaction, clock instant and outbox, without the engine's lock, so a line never queues
behind the accepts, offers and rebuilds of other chats (issue 15: that queue was most of a
line's latency across processes). A chat action that finds it must change the memory after all
(a customer's line that reopens their ticket) calls :meth:`Unit.need_lock`, which raises
:class:`NeedsLock` before anything is written; the caller runs the input again in a unit with the
lock (:meth:`Engine.run` does so by itself). A chat unit never takes the lock part-way (that
would break the lock order above), and its commit tells no other process of a change: their
memory does not depend on it either.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from base.clock import Clock
from handoff import notices
from handoff.acd import Acd
from handoff.model import WAITING_STATES, HandoffConfig, HandoffError
from handoff.port import Outgoing, Port, deliver
from handoff.restore import newest_event_id, restore
from handoff.schedule import Timers, ts
from storage.db import Database
from storage.events import EVENTS_WRITTEN
from storage.models import Customer, Ticket
from storage.retry import retrying

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_UNIT_KEY = "handoff.unit"  # session.info: the unit a transaction's actions share
_HOOKED_KEY = "handoff.hooked"  # session.info: the end-of-transaction listeners are in place

Positions = dict[int, tuple[int, float | None]]  # ticket -> (position, expected wait)


@dataclass(eq=False)
class Unit:
    """One unit of work: the transaction's session, the instant of the action, the notices to
    deliver after the commit."""

    engine: Engine
    session: AsyncSession
    now: datetime
    outbox: list[Outgoing] = field(default_factory=list)
    touched: bool = False  # an action ran (or failed part-way): the memory may have changed
    failed: bool = False  # an action failed part-way: the memory may be ahead of the rows
    committed: bool = False
    settling: asyncio.Task[None] | None = None  # what follows the end of the transaction
    locked: bool = True  # False: a chat unit, which may not change the memory

    @property
    def acd(self) -> Acd:
        self.need_lock()
        return self.engine.acd

    def need_lock(self) -> None:
        """Refuse, in a chat unit, what changes the memory (see the module docstring)."""
        if not self.locked:
            raise NeedsLock

    @property
    def config(self) -> HandoffConfig:
        return self.engine.config


class NeedsLock(Exception):
    """An action that may change the engine's memory was asked for in a chat unit: nothing was
    written yet; run it again in a unit that holds the lock."""


_CHAT_ACTIONS: set[object] = set()


def action(
    body: Callable[Concatenate[Unit, P], Awaitable[R]],
) -> Callable[Concatenate[Unit, P], Awaitable[R]]:
    """Declare a handoff action: record on its unit whether it may have changed the memory. It
    runs only in a unit that holds the engine's lock."""
    return _declared(body, chat=False)


def chat_action(
    body: Callable[Concatenate[Unit, P], Awaitable[R]],
) -> Callable[Concatenate[Unit, P], Awaitable[R]]:
    """Declare a handoff action that changes no memory of the engine (a line of a live chat):
    it may run in a chat unit, without the lock (see the module docstring)."""
    run = _declared(body, chat=True)
    _CHAT_ACTIONS.add(run)
    return run


def is_chat_action(body: object) -> bool:
    return body in _CHAT_ACTIONS


def _declared(
    body: Callable[Concatenate[Unit, P], Awaitable[R]], *, chat: bool
) -> Callable[Concatenate[Unit, P], Awaitable[R]]:
    @functools.wraps(body)
    async def run(uow: Unit, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if not chat:
            uow.need_lock()
        try:
            result = await body(uow, *args, **kwargs)
        except (HandoffError, NeedsLock):
            raise  # refused before anything changed
        except BaseException:
            uow.touched = uow.failed = True
            raise
        uow.touched = True
        return result

    return run


class Engine:
    """What one process keeps in memory about the handoff, and the unit of work over it."""

    def __init__(self, db: Database, clock: Clock, port: Port, config: HandoffConfig) -> None:
        self.db = db
        self.clock = clock
        self.port = port
        self.config = config
        self.acd = Acd(config.acd)
        self.lock = asyncio.Lock()
        self.timers = Timers()
        self.aht = config.default_handle_s  # average handle time, for the expected waits
        self.arrivals: deque[tuple[float, str]] = deque()  # (when, priority), last hour
        self.last_sync = 0.0  # 0 asks the timer loop to resync at once (a claim was lost)
        self.events_seen = -1  # the newest event id the last restore saw (PostgreSQL)
        self.next_idle_sweep = 0.0
        self.notified: dict[int, tuple[int, float]] = {}  # ticket -> (position told, when)
        self.positions_due: Positions = {}  # decided in an action, told after its commit
        # The timer loop (handoff.service) sleeps on ``wake`` until ``sleeping_until``.
        self.wake = asyncio.Event()
        self.asleep = False
        self.sleeping_until: float | None = None
        self.stale = False  # the memory may be ahead of the rows: rebuild before using it
        self._settling: set[asyncio.Task[None]] = set()
        # Told after every committed change (the services publish it on the bus, so that the
        # other processes sharing the database look at once: docs/scaling.md).
        self.changed: Callable[[], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ running actions

    async def run(
        self,
        body: Callable[Concatenate[Unit, P], Awaitable[R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run one action in its own transaction; return once it has committed and its
        notices are delivered (or once the memory is rebuilt, when it failed). A transaction
        the database aborted to break a deadlock runs again (:mod:`storage.retry`). A chat
        action runs in a chat unit, and again with the lock if it needs it."""

        async def once(chat: bool) -> R:
            uow: Unit | None = None
            try:
                async with self.db.transaction() as session:
                    opened = self.chat_unit(session) if chat else self.unit(session)
                    async with opened as uow:
                        return await body(uow, *args, **kwargs)
            finally:
                # Only this unit's follow-up: a delivery may itself run an action (a channel
                # finding an agent unreachable), and must not wait for its own task.
                if uow is not None and uow.settling is not None:
                    await uow.settling

        what = f"handoff action {body.__name__}"
        if is_chat_action(body):
            try:
                return await retrying(lambda: once(True), what=what)
            except NeedsLock:
                pass
        return await retrying(lambda: once(False), what=what)

    @contextlib.asynccontextmanager
    async def unit(self, session: AsyncSession) -> AsyncIterator[Unit]:
        """Actions in the caller's transaction ``session`` (see the module docstring)."""
        joined = self._joined(session)
        if joined is not None:
            if not joined.locked:
                raise RuntimeError("a chat unit cannot take the engine's lock part-way")
            yield joined
            return
        await self.lock.acquire()
        try:
            if self.stale:  # an earlier unit failed and its rebuild has not run yet
                await self._restore(session)
            uow = self._attach(Unit(self, session, self.clock.now()))
        except BaseException:
            self.lock.release()
            raise
        yield uow

    @contextlib.asynccontextmanager
    async def chat_unit(self, session: AsyncSession) -> AsyncIterator[Unit]:
        """Chat actions in the caller's transaction ``session``, without the engine's lock (see
        the module docstring): their notices go out after the commit, as a unit's do."""
        joined = self._joined(session)
        yield joined or self._attach(Unit(self, session, self.clock.now(), locked=False))

    def _joined(self, session: AsyncSession) -> Unit | None:
        """The unit ``session``'s transaction already has with this engine, if any (several
        units on one session share it); refuses a session with no transaction begun."""
        joined = session.info.get(_UNIT_KEY)
        if isinstance(joined, Unit) and joined.engine is self:
            return joined
        if not session.in_transaction():
            raise RuntimeError("handoff units run inside a transaction: begin one first")
        return None

    def _attach(self, uow: Unit) -> Unit:
        """Make ``uow`` the unit of its session's transaction, told of the transaction's end."""
        self._hook(uow.session.sync_session)
        uow.session.info[_UNIT_KEY] = uow
        return uow

    async def rebuild(self, *, if_stale: bool = False) -> None:
        """Rebuild the memory from the database (at start, on a resync, after a failure).

        The transaction is opened before the lock is taken, as every unit does: on SQLite a
        transaction first waits for its turn (:class:`storage.db.Database`), and the other
        order would deadlock against a unit holding its turn and waiting for the lock."""
        async with self.db.transaction() as session, self.lock:
            if self.stale or not if_stale:
                await self._restore(session)

    async def resync_if_changed(self) -> None:
        """The periodic look at what other processes did: one indexed read of the newest
        event id; the live state is re-read only when something happened since."""
        async with self.db.transaction() as session:
            newest = await newest_event_id(session)
        if newest != self.events_seen:
            await self.rebuild()
        else:
            self.last_sync = ts(self.clock.now())

    async def _restore(self, session: AsyncSession) -> None:
        """Take over the memory rebuilt from the live rows (the caller holds the lock)."""
        restored = await restore(self.config, self.clock, session)
        self.acd = restored.acd
        self.timers = restored.timers
        self.notified = restored.notified
        self.events_seen = restored.events_seen
        if restored.aht is not None:
            self.aht = restored.aht
        self.last_sync = ts(self.clock.now())
        self.positions_due.clear()
        self.stale = False
        self.poke()

    def _hook(self, sync: Session) -> None:
        """Listen for the end of the session's transaction (once per session)."""
        if sync.info.get(_HOOKED_KEY):
            return
        sync.info[_HOOKED_KEY] = True
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_transaction_end", _ended)

    def _settle(self, uow: Unit) -> None:
        """The unit's transaction ended (called from the session's event, under the lock):
        deliver after a commit; when the memory may be ahead of the rows, mark it stale (the
        next unit rebuilds it first) and rebuild it. A chat unit holds no lock, changed no
        memory and tells no other process: it only delivers."""
        wrote = bool(uow.session.info.pop(EVENTS_WRITTEN, False))
        if not uow.locked:
            if uow.committed and uow.outbox:
                self._follow(uow, self.deliver(uow.outbox))
            return
        positions, self.positions_due = self.positions_due, {}
        self.lock.release()
        if uow.failed or (uow.touched and not uow.committed):
            self.stale = True
            self._follow(uow, self._recover())
        else:
            self.poke()
            self._follow(uow, self._after_commit(uow.outbox, positions, uow.now, wrote))

    def _follow(self, uow: Unit, work: Coroutine[None, None, None]) -> None:
        """What follows the end of a unit's transaction, as a task :meth:`settled` waits for."""
        task = asyncio.get_running_loop().create_task(work)
        uow.settling = task
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _recover(self) -> None:
        try:
            await self.rebuild(if_stale=True)
        except Exception:  # the next unit tries again (the memory stays marked stale)
            log.exception("handoff state could not be rebuilt")

    async def _after_commit(
        self, outbox: Sequence[Outgoing], positions: Positions, now: datetime, wrote: bool
    ) -> None:
        if wrote and self.changed is not None:  # a tick that changed nothing stays quiet
            try:
                await self.changed()
            except Exception:
                log.exception("telling other processes of a change failed")
        await self.deliver(outbox)
        if positions:
            await self._tell_positions(positions, now)

    async def settled(self) -> None:
        """Wait until every ended unit's deliveries (or memory rebuild) are done (but the
        calling task's own, when a delivery calls this)."""
        current = asyncio.current_task()
        while pending := [t for t in self._settling if t is not current]:
            await asyncio.gather(*pending)

    async def deliver(self, outbox: Sequence[Outgoing]) -> None:
        for item in outbox:
            try:
                await deliver(self.port, item)
            except Exception:
                log.exception("port failed to deliver %s", type(item).__name__)

    async def _tell_positions(self, positions: Positions, now: datetime) -> None:
        """Record and send the position notices an action decided
        (:func:`handoff.waits.notify_positions`): one read of the tickets with their
        customers, one batched update, in a short transaction of its own."""
        told: list[Outgoing] = []
        try:
            async with self.db.transaction() as session:
                rows = (
                    await session.execute(
                        select(Ticket, Customer)
                        .join(Customer, Customer.id == Ticket.customer_id)
                        .where(
                            Ticket.id.in_(list(positions)),
                            Ticket.state.in_([s.value for s in WAITING_STATES]),
                        )
                    )
                ).all()
                for ticket, customer in rows:
                    position, wait = positions[ticket.id]
                    ticket.notified_position = position
                    ticket.notified_at = now
                    told.append(notices.PositionChanged(address(ticket, customer), position, wait))
        except Exception:  # a nicety: the next change tells them again
            log.exception("position notices failed")
            return
        await self.deliver(told)

    # ------------------------------------------------------------------ the timer loop's wake-up

    def next_wakeup(self) -> float | None:
        times = [
            t
            for t in (self.acd.next_deadline(), self.timers.next(), self.next_idle_sweep)
            if t is not None
        ]
        return min(times) if times else None

    def poke(self) -> None:
        """Wake the timer loop only when an action brought a deadline nearer than the one it
        sleeps toward; otherwise it wakes on time by itself."""
        if not self.asleep:
            return  # busy: it looks at the deadlines again before it sleeps
        wake = self.next_wakeup()
        if wake is not None and (self.sleeping_until is None or wake < self.sleeping_until):
            self.wake.set()

    def now_ts(self) -> float:
        return ts(self.clock.now())


def address(ticket: Ticket, customer: Customer) -> notices.CustomerAddress:
    """Where a notice about ``ticket`` reaches its customer."""
    return notices.CustomerAddress(
        ticket_id=ticket.id,
        customer_id=customer.id,
        channel=customer.channel,
        external_id=customer.external_id,
        language=customer.language,
    )


def _committed(sync: Session) -> None:
    """``after_commit``: also fired when a savepoint is released, which is not the end."""
    uow = sync.info.get(_UNIT_KEY)
    if isinstance(uow, Unit) and not sync.in_nested_transaction():
        uow.committed = True


def _ended(sync: Session, transaction: SessionTransaction) -> None:
    """``after_transaction_end`` of the outermost transaction: the unit is over."""
    if transaction.parent is not None:
        return  # a savepoint
    uow = sync.info.pop(_UNIT_KEY, None)
    if isinstance(uow, Unit):
        uow.engine._settle(uow)
