"""Which Telegram users are agents, answered from memory.

The Telegram bot asks for every update whether its sender is a registered agent (agents'
messages go to their customers, customers' to the conversation). Asking the database each
time cost a transaction of its own per customer message, a third of the bot's transactions:
:class:`TelegramRoster` keeps the set of agents' Telegram ids instead, and only a sender in
that set is looked up (their :class:`~handoff.views.AgentView` is always read fresh: status,
current chat and load change all the time; membership rarely).

The set is kept current by the changes that add, remove or re-link an agent:

* **in this process**, whatever code makes them: a session that flushes a new or deleted
  :class:`~storage.models.Agent`, a changed ``telegram_id``, or runs an ``INSERT``,
  ``UPDATE`` or ``DELETE`` on agents marks every roster stale at once and again after its
  commit (a reload that read before the commit is not kept: each change bumps a generation
  and a load only keeps its result when none happened while it ran);
* **in other processes on PostgreSQL**, through the bus (:mod:`storage.pubsub`): a process
  with a roster publishes ``roster`` after such a commit, and every other one's roster goes
  stale (and on a bus reconnection, as messages may have been lost meanwhile);
* **anywhere else** (the ``sanad agents`` command on SQLite, a process without a roster
  writing on PostgreSQL), by age: the set is read again when older than ``max_age_s``
  (1 s: one small read a second under load, against one per update before).

Why membership may be a little old but never wrong for long: a sender who is in the set but
no longer an agent (removed or re-linked elsewhere) is found missing by the fresh read and
handled as a customer at once (the set is marked stale); only an agent *added* by another
process without a shared bus may be answered as a customer for up to ``max_age_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from base.bus import Bus
from handoff import views
from handoff.views import AgentView
from storage.db import Database
from storage.models import Agent

log = logging.getLogger(__name__)

TOPIC = "roster"
MAX_AGE_S = 1.0
_CHANGED = "sanad_roster_changed"  # session.info: this transaction changed who is an agent

_rosters: weakref.WeakSet[TelegramRoster] = weakref.WeakSet()
_installed = False


async def telegram_ids(db: Database) -> frozenset[str]:
    """The Telegram ids of every registered agent (one statement)."""
    async with db.transaction() as session:
        linked = select(Agent.telegram_id).where(Agent.telegram_id.is_not(None))
        rows = await session.execute(linked)
        return frozenset(str(telegram_id) for (telegram_id,) in rows)


class TelegramRoster:
    """The set of agents' Telegram ids of one process, reloaded when stale (see the module)."""

    def __init__(
        self,
        db: Database,
        bus: Bus | None = None,
        *,
        max_age_s: float = MAX_AGE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.bus = bus
        self.max_age_s = max_age_s
        self.monotonic = monotonic
        self.loads = 0  # reads of the set so far (tests, benchmarks)
        self._ids: frozenset[str] | None = None
        self._loaded_at = 0.0
        self._generation = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # where it answers (set on use)
        install()
        _rosters.add(self)
        if bus is not None and bus.shared:
            bus.subscribe(TOPIC, self._told)
            bus.on_reconnect(self._reconnected)

    def stale(self) -> None:
        """Who is an agent may have changed: read the set again before the next answer."""
        self._generation += 1
        self._ids = None

    def _fresh(self) -> frozenset[str] | None:
        if self._ids is not None and self.monotonic() - self._loaded_at < self.max_age_s:
            return self._ids
        return None

    async def ids(self) -> frozenset[str]:
        """The current set (one read when stale; concurrent callers share it)."""
        self._loop = asyncio.get_running_loop()
        ids = self._fresh()
        if ids is not None:
            return ids
        async with self._lock:
            ids = self._fresh()
            if ids is not None:
                return ids
            generation, started = self._generation, self.monotonic()
            ids = await telegram_ids(self.db)
            self.loads += 1
            if generation == self._generation:  # no change committed while it was read
                self._ids, self._loaded_at = ids, started
            return ids

    async def agent(self, telegram_id: str) -> AgentView | None:
        """The agent registered with this Telegram user id, if any: no database read at all
        for a sender who is not one."""
        if telegram_id not in await self.ids():
            return None
        agent = await views.agent_by_telegram(self.db, telegram_id)
        if agent is None:  # removed or re-linked by a process that could not tell us
            self.stale()
        return agent

    # ------------------------------------------------------------------ other processes

    async def _told(self, _key: int, _frame: dict[str, Any]) -> None:
        self.stale()

    async def _reconnected(self) -> None:
        self.stale()

    def _publish(self) -> None:
        """Tell the other processes (a commit here changed who is an agent). The commit may
        come from another thread's event loop (the ``sanad`` command run in-process): the
        message is then handed to this roster's own loop."""
        loop = self._loop
        if self.bus is None or not self.bus.shared or loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._spawn_publish()
        else:
            loop.call_soon_threadsafe(self._spawn_publish)

    def _spawn_publish(self) -> None:
        assert self.bus is not None
        task = asyncio.get_running_loop().create_task(self.bus.publish(TOPIC, 0, {}))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# ---------------------------------------------------------------------- session events


def _stale_all() -> None:
    for roster in list(_rosters):
        roster.stale()


def _touches_roster(obj: object, *, dirty: bool) -> bool:
    if not isinstance(obj, Agent):
        return False
    if not dirty:
        return True
    history = inspect(obj).attrs.telegram_id.history
    return bool(history.added or history.deleted)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    if any(_touches_roster(o, dirty=False) for o in (*session.new, *session.deleted)) or any(
        _touches_roster(o, dirty=True) for o in session.dirty
    ):
        session.info[_CHANGED] = True
        _stale_all()


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ is Agent:
        state.session.info[_CHANGED] = True
        _stale_all()


def _after_commit(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    for roster in list(_rosters):
        roster.stale()
        roster._publish()


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)  # nothing changed; the rosters reload once, harmlessly


def install() -> None:
    """Watch every session of this process for changes to who is an agent (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _do_orm_execute)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
    _installed = True
