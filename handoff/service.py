"""The handoff service: the object the rest of the program holds (``services.handoff``).

Each of its action methods (``request_human``, ``accept_offer``, ``resolve_ticket``, ...) runs
the action of the same name in :mod:`handoff.actions` in its own unit of work
(:meth:`handoff.engine.Engine.run`): under the engine's lock, in one database transaction that
also writes the event rows, its notices delivered through the :class:`~handoff.port.Port` once
the transaction has committed. To run actions inside a transaction of your own, use
:meth:`HandoffService.unit` (see :mod:`handoff.engine`).

The routing decisions come from :class:`~handoff.acd.Acd` (in memory); the database is the
record and the arbiter between processes (:mod:`handoff.effects`: the atomic claim of an
offer, the compare-and-set of an accept). :meth:`HandoffService.start` rebuilds the memory
from the database (:mod:`handoff.restore`).

Time comes from the injected clock. Timers (offer expiry, wrap-up, exclusion lapse, SLA warnings
and breaches, business-hours openings, offline grace, auto-close after the reopen window) are
served by :meth:`HandoffService.tick`, which a background task calls at the next deadline, and
which tests call after moving a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from base.clock import Clock
from base.locks import KeyedLocks
from handoff import actions
from handoff.acd import Acd
from handoff.effects import get_ticket, offer_notice
from handoff.engine import Engine, Unit
from handoff.model import (
    TRANSFER_REFUSALS,
    WAITING_STATES,
    WITH_AGENT_STATES,
    AcceptResult,
    Conflict,
    HandoffConfig,
    HandoffError,
    NotAllowed,
    QueueInfo,
    TransferRefused,
    TransferTargets,
)
from handoff.port import Port
from handoff.sweep import sweep
from handoff.waits import estimated_wait_s, position_matters, queue_info
from storage.db import Database

__all__ = [
    "TRANSFER_REFUSALS",
    "WAITING_STATES",
    "WITH_AGENT_STATES",
    "AcceptResult",
    "HandoffConfig",
    "HandoffError",
    "HandoffService",
    "NotAllowed",
    "QueueInfo",
    "TransferRefused",
    "TransferTargets",
    "offer_notice",
    "position_matters",
]

log = logging.getLogger(__name__)


class HandoffService:
    """The handoff engine of one process, its timer loop, and one method per action."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        port: Port,
        config: HandoffConfig | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.port = port
        self.config = config or HandoffConfig()
        self.engine = Engine(db, clock, port, self.config)
        self._task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[int] | None = None
        self._stopping = False
        self.wakeups = 0  # timer-loop rounds: an idle service must not spin (tested)
        self._lines = KeyedLocks()  # one ticket's agent lines, one at a time (agent_message)

    @property
    def acd(self) -> Acd:
        """The routing state in memory (replaced when it is rebuilt from the database)."""
        return self.engine.acd

    def unit(self, session: AsyncSession) -> contextlib.AbstractAsyncContextManager[Unit]:
        """Run actions inside the caller's transaction ``session``: see :mod:`handoff.engine`."""
        return self.engine.unit(session)

    def chat_unit(self, session: AsyncSession) -> contextlib.AbstractAsyncContextManager[Unit]:
        """Run chat actions (lines of a live chat) inside the caller's transaction, without
        the engine's lock: see :mod:`handoff.engine`."""
        return self.engine.chat_unit(session)

    async def settled(self) -> None:
        """Wait until the notices of units already ended are delivered."""
        await self.engine.settled()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, run_timers: bool = True) -> None:
        """Rebuild the state from the database, fire what is overdue, start the timer task.

        Sweeps over old rows (:meth:`sweep`) do not hold up the start: the timer task runs
        them in the background, in small batches."""
        await self.engine.rebuild()
        await self.engine.run(actions.tick)
        if run_timers and self._task is None:
            self._task = asyncio.create_task(self._run_timers(), name="sanad-handoff-timers")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._sweep_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._sweep_task = None
        self.engine.wake.set()
        await self.engine.settled()

    async def _run_timers(self) -> None:
        """Sleep until the next deadline (or a poke that brings one nearer), then fire what is
        due. Nothing else wakes it: an idle service costs no CPU."""
        engine = self.engine
        while not self._stopping:
            wake = engine.next_wakeup()
            now = engine.now_ts()
            timeout = None if wake is None else max(0.0, wake - now)
            if self.db.backend == "postgresql":
                interval = self.config.sync_interval_s
                timeout = interval if timeout is None else min(timeout, interval)
            engine.sleeping_until = None if timeout is None else now + timeout
            engine.asleep = True
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that races its timeout, and stop() would then wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await engine.wake.wait()
            engine.wake.clear()
            engine.asleep = False
            self.wakeups += 1
            if self._stopping:
                return
            try:
                now = engine.now_ts()
                if self.db.backend == "postgresql" and (
                    now - engine.last_sync >= self.config.sync_interval_s
                ):
                    await engine.resync_if_changed()
                await engine.run(actions.tick)
                if self._sweep_due() and (self._sweep_task is None or self._sweep_task.done()):
                    engine.next_idle_sweep = now + self.config.idle_sweep_s
                    self._sweep_task = asyncio.create_task(self.sweep(), name="sanad-sweep")
            except Exception:  # keep serving: one bad timer must not stop the others
                log.exception("handoff timer failed")
                await asyncio.sleep(0.5)

    def next_wakeup(self) -> float | None:
        return self.engine.next_wakeup()

    def _sweep_due(self) -> bool:
        return self.engine.now_ts() >= self.engine.next_idle_sweep

    async def sweep(self, batch: int = 500) -> int:
        """Close what has gone quiet (:func:`handoff.sweep.sweep`)."""
        return await sweep(self.engine, batch)

    def resync_soon(self) -> None:
        """Another process changed the shared state (told over the bus): the timer loop
        looks at it now rather than at its next interval."""
        self.engine.last_sync = 0.0
        self.engine.wake.set()

    async def resync(self) -> None:
        """Re-read the shared state (another process may have changed it)."""
        await self.engine.rebuild()
        await self.tick()

    async def tick(self) -> None:
        """Fire everything due at the clock's current time (tests call it after moving a
        virtual clock; the timer task does the same, with the sweep in the background)."""
        await self.engine.run(actions.tick)
        if self._sweep_due():
            await self.sweep()

    # ------------------------------------------------------------------ reads

    async def queue_info(self, ticket_id: int) -> QueueInfo:
        async with self.db.transaction() as session:
            ticket = await get_ticket(session, ticket_id)
            return queue_info(self.engine, ticket, self.clock.now())

    def estimated_wait_s(self, ticket_id: int, position: int | None = None) -> float | None:
        return estimated_wait_s(self.engine, ticket_id, position)

    async def transfer_targets(self, ticket_id: int, agent_id: int | None) -> TransferTargets:
        async with self.db.transaction() as session, self.engine.unit(session):
            return await actions.transfer_targets(self.engine, session, ticket_id, agent_id)

    # ------------------------------------------------------------------ customer actions

    async def request_human(self, ticket_id: int, *, reason: str, text: str = "") -> QueueInfo:
        return await self.engine.run(actions.request_human, ticket_id, reason=reason, text=text)

    async def cancel_request(self, ticket_id: int) -> bool:
        return await self.engine.run(actions.cancel_request, ticket_id)

    async def customer_wrote(self, ticket_id: int, message_id: int | None = None) -> str:
        return await self.engine.run(actions.customer_wrote, ticket_id, message_id)

    async def customer_unreachable(self, ticket_id: int) -> None:
        await self.engine.run(actions.customer_unreachable, ticket_id)

    async def rate(self, ticket_id: int, customer_id: int, stars: int) -> bool:
        return await self.engine.run(actions.rate, ticket_id, customer_id, stars)

    async def comment_rating(self, ticket_id: int, customer_id: int, text: str) -> bool:
        return await self.engine.run(actions.comment_rating, ticket_id, customer_id, text)

    # ------------------------------------------------------------------ agent actions

    async def accept_offer(self, offer_id: str, agent_id: int) -> AcceptResult:
        """Exactly one accept wins; one that lost to another process is told ``taken``. An
        offer another process made, unknown here yet, is accepted after a rebuild."""
        for _attempt in range(2):
            try:
                return await self.engine.run(actions.accept_offer, offer_id, agent_id)
            except Conflict:
                continue  # the memory was rebuilt from the database: look again
        return AcceptResult(False, "taken")

    async def decline_offer(self, offer_id: str, agent_id: int) -> AcceptResult:
        return await self.engine.run(actions.decline_offer, offer_id, agent_id)

    async def set_agent_status(
        self, agent_id: int, status: str, origin: str = "system"
    ) -> list[int]:
        return await self.engine.run(actions.set_agent_status, agent_id, status, origin)

    async def agent_unreachable(self, agent_id: int) -> None:
        await self.engine.run(actions.agent_unreachable, agent_id)

    async def end_wrap_up(self, agent_id: int) -> None:
        await self.engine.run(actions.end_wrap_up, agent_id)

    async def agent_message(
        self,
        ticket_id: int,
        agent_id: int,
        text: str,
        *,
        origin: str,
        kind: str = "text",
        meta: Mapping[str, object] | None = None,
        client_id: str | None = None,
        file: tuple[str, str, bytes] | None = None,
    ) -> int:
        # A chat action (no engine lock): one ticket's lines from this process still go one
        # at a time, so a resend (same ``client_id``) finds the first one kept.
        async with self._lines[ticket_id]:
            return await self.engine.run(
                actions.agent_message,
                ticket_id,
                agent_id,
                text,
                origin=origin,
                kind=kind,
                meta=meta,
                client_id=client_id,
                file=file,
            )

    async def set_pending(self, ticket_id: int, agent_id: int) -> None:
        await self.engine.run(actions.set_pending, ticket_id, agent_id)

    # ------------------------------------------------------------------ ticket actions

    async def resolve_ticket(self, ticket_id: int, agent_id: int | None) -> None:
        await self.engine.run(actions.resolve_ticket, ticket_id, agent_id)

    async def answer_followup(
        self, ticket_id: int, customer_id: int, cycle: int, answer: str
    ) -> str:
        """The customer's answer to the follow-up after resolve (the conversation runs it in
        the press's own transaction instead: :mod:`conversation.followup`)."""
        return await self.engine.run(actions.answer_followup, ticket_id, customer_id, cycle, answer)

    async def transfer_ticket(
        self,
        ticket_id: int,
        agent_id: int | None,
        *,
        to_agent: int | None = None,
        to_category: str | None = None,
    ) -> QueueInfo:
        return await self.engine.run(
            actions.transfer_ticket, ticket_id, agent_id, to_agent=to_agent, to_category=to_category
        )

    async def hand_back_to_bot(self, ticket_id: int, agent_id: int | None) -> None:
        await self.engine.run(actions.hand_back_to_bot, ticket_id, agent_id)

    async def set_priority(self, ticket_id: int, priority: str, actor: str) -> None:
        await self.engine.run(actions.set_priority, ticket_id, priority, actor)

    async def add_tag(self, ticket_id: int, tag: str, actor: str) -> list[str]:
        return await self.engine.run(actions.add_tag, ticket_id, tag, actor)

    async def remove_tag(self, ticket_id: int, tag: str, actor: str) -> list[str]:
        return await self.engine.run(actions.remove_tag, ticket_id, tag, actor)

    async def take_over(self, ticket_id: int, supervisor_id: int) -> None:
        await self.engine.run(actions.take_over, ticket_id, supervisor_id)

    async def add_note(self, ticket_id: int, agent_id: int | None, text: str) -> int:
        return await self.engine.run(actions.add_note, ticket_id, agent_id, text)
