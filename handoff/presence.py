"""Presence: who is here, on any process.

An agent is available only while at least one of their places is present: a console socket on
any process, or their Telegram chat (Sanad cannot see presence on Telegram: an agent who set
themselves available from Telegram counts as present there until they go away or offline).
A web visitor is online while a chat socket of theirs is open on any process.

Each process keeps a count of the sockets it holds per place (``console``: by agent id,
``chat``: by customer id) and one row per place it holds in the ``presence`` table, next to its
own row in ``presence_processes``, whose ``last_seen`` a heartbeat (:meth:`Presence.beat`,
every ``heartbeat_s``) moves forward. A process that stops beating for ``expire_s`` is gone:
the rows it held count for nothing, and the next beat of any other process removes them and
marks their agents absent. So the union of the sockets of all processes is one indexed query,
and a process that dies does not leave its agents present for ever.

What routing makes of it is decided by the actions of :mod:`handoff.actions.presence`, in the
engine's unit of work (their events written, notices sent):

* the last console of an agent closed on every process: :func:`console_left` marks them absent
  at once (no offer goes to them any more; a pending one goes to the next agent);
* a console opens again (a reload, a reconnect): :func:`console_back`;
* absent for ``presence_grace_s``: :func:`presence_lost` sets them offline (their chats go back
  to the queue after the offline grace, as for any agent going offline);
* no activity (pointer, keys, the tab shown: reported by the page, throttled) in any of their
  consoles for ``idle_away_s``: :func:`idle_away` sets them away, their chats untouched.

Decisions about time run in :meth:`Presence.beat` on the injected clock (tests move a virtual
clock and call it); the background loop (:meth:`Presence.run`) calls it every ``heartbeat_s``
and sleeps in between: an idle process costs one small transaction per beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from base.clock import Clock
from handoff import actions
from handoff.acd import AgentStatus
from handoff.actions.presence import CHAT, CONSOLE, fresh_since
from handoff.service import HandoffService
from storage.db import Database
from storage.models import Agent, PresenceProcess
from storage.models import Presence as PresenceRow

log = logging.getLogger(__name__)

ACTIVITY_MIN_S = 5.0  # at most one activity write per agent and process in this time

__all__ = ["CHAT", "CONSOLE", "Presence", "PresenceConfig"]


@dataclass(frozen=True)
class PresenceConfig:
    heartbeat_s: float = 10.0
    track_visitors: bool = False  # keep web visitors' rows (several processes share the db)

    @property
    def expire_s(self) -> float:
        """A process silent this long is gone (three missed beats)."""
        return self.heartbeat_s * 3


class Presence:
    """This process's sockets, as rows other processes can see, and the decisions they lead
    to (through :mod:`handoff.actions.presence`)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handoff: HandoffService,
        config: PresenceConfig | None = None,
        process_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.handoff = handoff
        self.config = config or PresenceConfig()
        self.process_id = process_id or secrets.token_hex(8)
        self.held: Counter[tuple[str, int]] = Counter()  # (place, key) -> sockets held here
        self.beats = 0  # heartbeats done (an idle process must not spin: tested)
        self._registered = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one change of this process's rows at a time
        self._written: dict[int, datetime] = {}  # agent -> when their activity was last written

    def _tracks(self, place: str) -> bool:
        return place == CONSOLE or self.config.track_visitors

    # ------------------------------------------------------------------ sockets

    async def opened(self, place: str, key: int) -> None:
        """A socket for ``key`` at ``place`` opened on this process."""
        self.held[(place, key)] += 1
        if self.held[(place, key)] > 1 or not self._tracks(place):
            return
        now = self.clock.now()
        async with self._lock, self.db.transaction() as session:
            back = await self._register(session, now)
            await session.execute(
                delete(PresenceRow).where(
                    PresenceRow.process_id == self.process_id,
                    PresenceRow.place == place,
                    PresenceRow.key == key,
                )
            )
            await session.execute(insert(PresenceRow).values(**self._row(place, key, now)))
        for agent_id in sorted({*back, key} if place == CONSOLE else set(back)):
            await self.handoff.engine.run(actions.console_back, agent_id)

    def _row(self, place: str, key: int, now: datetime) -> dict[str, object]:
        return {
            "process_id": self.process_id,
            "place": place,
            "key": key,
            "since": now,
            "last_active": now,
        }

    async def closed(self, place: str, key: int) -> None:
        """A socket for ``key`` at ``place`` closed on this process."""
        self.held[(place, key)] -= 1
        if self.held[(place, key)] > 0:
            return
        del self.held[(place, key)]
        if place == CONSOLE:
            self._written.pop(key, None)
        if self._tracks(place):
            # Shielded: a socket's handler may be cancelled as its client goes, and a row left
            # behind would keep the agent or visitor present while this process lives.
            await asyncio.shield(self._gone(place, key))

    async def _gone(self, place: str, key: int) -> None:
        async with self._lock, self.db.transaction() as session:
            await session.execute(
                delete(PresenceRow).where(
                    PresenceRow.process_id == self.process_id,
                    PresenceRow.place == place,
                    PresenceRow.key == key,
                )
            )
        if place == CONSOLE:
            await self.handoff.engine.run(actions.console_left, key)

    async def activity(self, agent_id: int) -> None:
        """The agent did something in a console held here (the page reports it, throttled)."""
        if (CONSOLE, agent_id) not in self.held:
            return
        now = self.clock.now()
        last = self._written.get(agent_id)
        if last is not None and (now - last).total_seconds() < ACTIVITY_MIN_S:
            return  # a page sending more often than it should costs no write
        self._written[agent_id] = now
        async with self.db.transaction() as session:
            await session.execute(
                update(PresenceRow)
                .where(
                    PresenceRow.process_id == self.process_id,
                    PresenceRow.place == CONSOLE,
                    PresenceRow.key == agent_id,
                )
                .values(last_active=now)
            )

    def here(self, place: str, key: int) -> bool:
        return (place, key) in self.held

    async def present(self, place: str, keys: Iterable[int]) -> set[int]:
        """Which of ``keys`` have a socket at ``place`` on any live process."""
        wanted = set(keys)
        found = {key for key in wanted if self.here(place, key)}
        rest = wanted - found
        if not rest or not self._tracks(place):
            return found
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(PresenceRow.key)
                .join(PresenceProcess, PresenceProcess.id == PresenceRow.process_id)
                .where(
                    PresenceRow.place == place,
                    PresenceRow.key.in_(sorted(rest)),
                    PresenceProcess.last_seen
                    >= fresh_since(self.clock.now(), self.config.expire_s),
                )
            )
            found.update(int(k) for k in rows)
        return found

    # ------------------------------------------------------------------ time

    async def _register(self, session: AsyncSession, now: datetime) -> list[int]:
        """This process's row, its ``last_seen`` moved to ``now``. When the row was gone (first
        use, or the others took this process for dead after a long pause), the rows of every
        place held here are written again; returns the agents whose consoles were so restored
        (the caller tells routing they are back)."""
        moved = await session.execute(
            update(PresenceProcess)
            .where(PresenceProcess.id == self.process_id)
            .values(last_seen=now)
        )
        if getattr(moved, "rowcount", 0) != 0:
            return []
        session.add(PresenceProcess(id=self.process_id, started_at=now, last_seen=now))
        await session.execute(delete(PresenceRow).where(PresenceRow.process_id == self.process_id))
        held = [(place, key) for place, key in self.held if self._tracks(place)]
        await session.flush()
        if held:
            rows = [self._row(place, key, now) for place, key in held]
            await session.execute(insert(PresenceRow).values(rows))
        was_registered, self._registered = self._registered, True
        return [key for place, key in held if place == CONSOLE] if was_registered else []

    async def beat(self) -> None:
        """The heartbeat: this process is alive; the rows of processes gone silent are
        removed (their agents may be absent now); absent agents past the grace go offline;
        idle ones go away."""
        self.beats += 1
        now = self.clock.now()
        config = self.handoff.config
        left: set[int] = set()
        async with self._lock, self.db.transaction() as session:
            back = await self._register(session, now)
            gone = list(
                await session.scalars(
                    select(PresenceProcess.id).where(
                        PresenceProcess.last_seen < fresh_since(now, self.config.expire_s),
                        PresenceProcess.id != self.process_id,
                    )
                )
            )
            if gone:
                left = set(
                    await session.scalars(
                        select(PresenceRow.key).where(
                            PresenceRow.process_id.in_(gone), PresenceRow.place == CONSOLE
                        )
                    )
                )
                await session.execute(delete(PresenceRow).where(PresenceRow.process_id.in_(gone)))
                await session.execute(delete(PresenceProcess).where(PresenceProcess.id.in_(gone)))
                log.info("presence: %d silent process(es) removed", len(gone))
            overdue = set(
                await session.scalars(
                    select(Agent.id).where(
                        Agent.absent_since <= now - timedelta(seconds=config.presence_grace_s),
                        Agent.status != AgentStatus.OFFLINE.value,
                    )
                )
            )
            idle: set[int] = set()
            if config.idle_away_s > 0:
                idle = set(
                    await session.scalars(
                        select(PresenceRow.key)
                        .join(PresenceProcess, PresenceProcess.id == PresenceRow.process_id)
                        .where(
                            PresenceRow.place == CONSOLE,
                            PresenceProcess.last_seen >= fresh_since(now, self.config.expire_s),
                        )
                        .group_by(PresenceRow.key)
                        .having(
                            func.max(PresenceRow.last_active)
                            <= now - timedelta(seconds=config.idle_away_s)
                        )
                    )
                )
        engine = self.handoff.engine
        for agent_id in back:
            await engine.run(actions.console_back, agent_id)
        for agent_id in sorted(left):
            await engine.run(actions.console_left, int(agent_id))
        for agent_id in sorted(overdue):
            await engine.run(actions.presence_lost, int(agent_id))
        for agent_id in sorted(idle):
            await engine.run(actions.idle_away, int(agent_id))

    async def run(self) -> None:
        """Beat every ``heartbeat_s`` until stopped (sleeping in between)."""
        while True:
            # Sleep first: a socket's first open registers this process, and a start-up
            # needs no write of its own.
            await asyncio.sleep(self.config.heartbeat_s)
            try:
                await self.beat()
            except Exception:  # keep beating: a missed beat must not end presence
                log.exception("presence heartbeat failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="sanad-presence")

    async def stop(self) -> None:
        """Stop beating and remove this process's rows (its sockets are closed by then; a
        process that dies instead is found silent by the others)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self._registered:
            return
        with contextlib.suppress(Exception):
            async with self.db.transaction() as session:
                await session.execute(
                    delete(PresenceRow).where(PresenceRow.process_id == self.process_id)
                )
                await session.execute(
                    delete(PresenceProcess).where(PresenceProcess.id == self.process_id)
                )
