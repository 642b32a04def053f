"""The webhooks worker: fan out the outbox into deliveries, POST what is due, retry with
backoff, prune the log.

* **Fan-out** (:meth:`WebhookService.fan_out`): one transaction reads committed outbox rows,
  builds their payloads, inserts one delivery per endpoint that wants the type (unique per
  endpoint and payload id) and deletes the outbox rows. A crash before the commit leaves the
  outbox as it was; after it, the deliveries are stored. Either way nothing is lost.
* **Delivery** (:meth:`WebhookService.deliver_due`): one transaction claims due deliveries by
  moving their next try past the time their POSTs may take (a lease) and counting the attempt;
  the POSTs run with no transaction open, one endpoint's one after the other in the order the
  events happened (endpoints in parallel), the rest of a round skipped, untried, after one that
  could not reach the endpoint at all; one transaction records each result: delivered, or the next
  try after an exponential backoff (capped), or ``failed`` after the last attempt. A process
  that dies between the POST and the record leaves the lease to run out: the delivery is sent
  again (at least once; receivers de-duplicate on the payload ``id``). In normal operation each
  payload reaches each endpoint once.
* **One process at a time**: fan-out and claims take a PostgreSQL advisory lock
  (:func:`storage.db.one_at_a_time`), so processes sharing a database never claim the same
  delivery.
* **Idle costs nothing**: the loop sleeps until the next retry is due, a commit in this process
  wrote outbox rows (:func:`webhooks.outbox.on_commit`), or the slow poll for other processes'
  rows (``poll_s``, 5 s by default) comes round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from base.clock import Clock
from base.logs import add_secret
from storage.db import FIRST_START_LOCK, Database, one_at_a_time
from storage.models import WebhookDelivery, WebhookEndpoint, WebhookOutbox
from webhooks import outbox, payloads, signing
from webhooks.endpoints import DeliveryView, NotFound, delivery_view

log = logging.getLogger(__name__)

LOCK = FIRST_START_LOCK + 7  # the advisory lock of the webhooks worker
ERROR_CHARS = 500


@dataclass(frozen=True)
class SendResult:
    """What one POST got: the HTTP status, or the error that stopped it (timeout, refused)."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# Not sent: an earlier delivery to the same endpoint could not reach it in this round.
SKIPPED = SendResult(None, "not tried: the endpoint was unreachable")


class Sender(Protocol):
    """Posts ``body`` to ``url`` (the web adapter gives one on aiohttp)."""

    async def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> SendResult: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1-based) that fails is tried again after ``first_s * factor**(n-1)``, at
    most ``cap_s``; after ``max_attempts`` the delivery is ``failed``."""

    first_s: float = 10.0
    factor: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 10
    timeout_s: float = 10.0
    keep_days: float = 14.0
    poll_s: float = 5.0
    batch: int = 50
    prune_every_s: float = 3600.0

    def delay(self, attempts: int) -> float:
        return float(min(self.cap_s, self.first_s * self.factor ** max(0, attempts - 1)))


@dataclass(frozen=True)
class _Claimed:
    id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    type: str
    body: str
    attempts: int


@dataclass
class _Stats:
    fanned_out: int = 0
    posts: int = 0
    wakeups: int = 0


def _insert_ignoring_duplicates(session: AsyncSession, values: list[dict[str, object]]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, on either backend."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(WebhookDelivery).values(values).on_conflict_do_nothing()
    return sqlite_insert(WebhookDelivery).values(values).on_conflict_do_nothing()


class WebhookService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sender = sender
        self.policy = policy or RetryPolicy()
        self.stats = _Stats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stop_listening: list[Callable[[], None]] = []
        self._next_prune = 0.0
        outbox.install()

    # ------------------------------------------------------------------ lifecycle

    def wake(self) -> None:
        self._wake.set()

    async def start(self, run_worker: bool = True) -> None:
        remove = outbox.on_commit(self.wake)
        self._stop_listening.append(remove)
        await self.refresh_wanted()
        if run_worker and self._watch is None:
            self._watch = asyncio.create_task(self._watch_endpoints(), name="sanad-webhooks-watch")
        if run_worker and self._task is None and self.sender is not None:
            self._task = asyncio.create_task(self._run(), name="sanad-webhooks")

    async def refresh_wanted(self) -> bool:
        """Look whether an endpoint is active: this process's transactions write outbox rows
        only then (webhooks/outbox.py, "No endpoint, no cost")."""
        async with self.db.transaction() as session:
            active = (
                await session.execute(
                    select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True)).limit(1)
                )
            ).first() is not None
        outbox.set_wanted(self.db.engine.sync_engine, active)
        return active

    async def _watch_endpoints(self) -> None:
        """Every poll interval: an endpoint added or enabled on another process."""
        while True:
            await asyncio.sleep(self.policy.poll_s)
            try:
                await self.refresh_wanted()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhooks: could not look for active endpoints")

    async def stop(self) -> None:
        for remove in self._stop_listening:
            remove()
        self._stop_listening.clear()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
                timeout = await self._sleep_s()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep delivering: a database hiccup must not end the worker
                log.exception("webhooks worker failed")
                timeout = self.policy.poll_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            self.stats.wakeups += 1

    async def _sleep_s(self) -> float:
        """Until the next retry is due, at most the poll interval."""
        async with self.db.transaction() as session:
            # Deliveries of a disabled endpoint wait for it: not counted (they would be due
            # for ever and keep the loop awake).
            due = (
                await session.execute(
                    select(func.min(WebhookDelivery.next_try_at))
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.state == "pending", WebhookEndpoint.active.is_(True))
                )
            ).scalar_one_or_none()
        if due is None:
            return self.policy.poll_s
        return max(0.0, min(self.policy.poll_s, (due - self.clock.now()).total_seconds()))

    async def run_once(self) -> int:
        """Fan out what is committed, deliver what is due now, prune when it is time.
        Returns the number of POSTs made (tests call it after moving a virtual clock)."""
        await self.fan_out()
        sent = 0
        while True:
            done = await self.deliver_due()
            sent += done
            if done < self.policy.batch:
                break
        now = self.clock.now().timestamp()
        if now >= self._next_prune:
            self._next_prune = now + self.policy.prune_every_s
            await self.prune()
        return sent

    # ------------------------------------------------------------------ fan-out

    async def fan_out(self) -> int:
        """Turn committed outbox rows into deliveries; returns the deliveries queued."""
        queued = 0
        while True:
            async with self.db.transaction() as session:
                await one_at_a_time(session, LOCK)
                rows = list(
                    (
                        await session.execute(
                            select(WebhookOutbox)
                            .order_by(WebhookOutbox.id)
                            .limit(self.policy.batch * 4)
                        )
                    ).scalars()
                )
                if not rows:
                    return queued
                endpoints = list(
                    (
                        await session.execute(
                            select(WebhookEndpoint.id, WebhookEndpoint.types).where(
                                WebhookEndpoint.active.is_(True)
                            )
                        )
                    ).all()
                )
                now = self.clock.now()
                values = []
                if endpoints:
                    for payload in await payloads.build(session, rows):
                        for endpoint_id, types in endpoints:
                            if payload.type in (types or ()):
                                values.append(self._delivery(endpoint_id, payload, now))
                if values:
                    await session.execute(_insert_ignoring_duplicates(session, values))
                await session.execute(
                    delete(WebhookOutbox).where(WebhookOutbox.id.in_([r.id for r in rows]))
                )
                queued += len(values)
                self.stats.fanned_out += len(rows)

    @staticmethod
    def _delivery(endpoint_id: int, payload: payloads.Payload, now: datetime) -> dict[str, object]:
        return {
            "endpoint_id": endpoint_id,
            "event_id": payload.id,
            "type": payload.type,
            "body": payload.body,
            "state": "pending",
            "attempts": 0,
            "next_try_at": now,
            "created_at": now,
            "updated_at": now,
        }

    # ------------------------------------------------------------------ delivery

    async def deliver_due(self, only: int | None = None) -> int:
        """Claim up to a batch of due deliveries (or the one ``only``), POST them, record the
        results. Returns how many were posted."""
        claimed = await self._claim(only)
        if not claimed:
            return 0
        if self.sender is None:
            raise RuntimeError("no sender: the webhooks worker cannot POST")
        by_endpoint: dict[int, list[_Claimed]] = {}
        for c in claimed:
            by_endpoint.setdefault(c.endpoint_id, []).append(c)
        done = await asyncio.gather(*(self._post_in_order(group) for group in by_endpoint.values()))
        await self._record([pair for pairs in done for pair in pairs], retry=only is None)
        return sum(1 for pairs in done for _, r in pairs if r is not SKIPPED)

    async def _post_in_order(self, claimed: list[_Claimed]) -> list[tuple[_Claimed, SendResult]]:
        """One endpoint's deliveries one after the other (in the order they happened); after
        one that could not reach it at all, the rest wait for the next round untried."""
        results: list[tuple[_Claimed, SendResult]] = []
        unreachable = False
        for c in claimed:
            result = SKIPPED if unreachable else await self._post(c)
            unreachable = unreachable or result.status is None
            results.append((c, result))
        return results

    async def _claim(self, only: int | None) -> list[_Claimed]:
        now = self.clock.now()
        queued: dict[int, int] = {}  # per endpoint: deliveries ahead of this one
        async with self.db.transaction() as session:
            await one_at_a_time(session, LOCK)
            query = (
                select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.state == "pending")
            )
            if only is not None:  # a test ping: never claimed by the loop (no next try)
                query = query.where(WebhookDelivery.id == only, WebhookDelivery.attempts == 0)
            else:
                query = query.where(
                    WebhookDelivery.next_try_at <= now, WebhookEndpoint.active.is_(True)
                )
            rows = (
                await session.execute(
                    query.order_by(WebhookDelivery.next_try_at, WebhookDelivery.id).limit(
                        self.policy.batch
                    )
                )
            ).all()
            claimed = []
            for delivery, url, secret in rows:
                delivery.attempts += 1
                # The lease: long enough for the POSTs ahead of it to this endpoint, each
                # within the timeout (they are sent one after the other).
                ahead = queued.get(delivery.endpoint_id, 0)
                queued[delivery.endpoint_id] = ahead + 1
                delivery.next_try_at = now + timedelta(
                    seconds=(ahead + 1) * self.policy.timeout_s + 30.0
                )
                delivery.updated_at = now
                add_secret(secret)
                claimed.append(
                    _Claimed(
                        delivery.id,
                        delivery.endpoint_id,
                        url,
                        secret,
                        delivery.event_id,
                        delivery.type,
                        delivery.body,
                        delivery.attempts,
                    )
                )
            return claimed

    async def _post(self, claimed: _Claimed) -> SendResult:
        assert self.sender is not None
        body = claimed.body.encode()
        timestamp = int(self.clock.now().timestamp())
        headers = signing.headers(
            claimed.secret,
            timestamp,
            body,
            type_=claimed.type,
            event_id=claimed.event_id,
            delivery_id=claimed.id,
        )
        self.stats.posts += 1
        try:
            return await self.sender(claimed.url, body, headers, self.policy.timeout_s)
        except Exception as exc:  # a sender bug must not lose the delivery: it is retried
            return SendResult(None, f"{type(exc).__name__}: {exc}")

    async def _record(self, results: Sequence[tuple[_Claimed, SendResult]], retry: bool) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            for claimed, result in results:
                if result is SKIPPED:  # not tried: the attempt is not counted
                    await session.execute(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id == claimed.id)
                        .values(
                            attempts=claimed.attempts - 1,
                            next_try_at=now + timedelta(seconds=self.policy.first_s),
                            updated_at=now,
                        )
                        .execution_options(synchronize_session=False)
                    )
                    continue
                values: dict[str, object] = {
                    "last_status": result.status,
                    "last_error": (result.error or None) and str(result.error)[:ERROR_CHARS],
                    "updated_at": now,
                }
                if result.ok:
                    values |= {"state": "delivered", "next_try_at": None, "last_error": None}
                elif not retry or claimed.attempts >= self.policy.max_attempts:
                    values |= {"state": "failed", "next_try_at": None}
                else:
                    wait = self.policy.delay(claimed.attempts)
                    values |= {"next_try_at": now + timedelta(seconds=wait)}
                if not result.ok and result.error is None:
                    values["last_error"] = f"HTTP {result.status}"
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == claimed.id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )

    async def send_test(self, endpoint_id: int) -> DeliveryView:
        """A ``ping`` to the endpoint now (even when it is disabled), not retried; returns the
        logged delivery with its result."""
        now = self.clock.now()
        payload = payloads.ping(now)
        async with self.db.transaction() as session:
            if await session.get(WebhookEndpoint, endpoint_id) is None:
                raise NotFound(f"no webhook endpoint with id {endpoint_id}")
            row = WebhookDelivery(
                **(self._delivery(endpoint_id, payload, now) | {"next_try_at": None})
            )
            session.add(row)
            await session.flush()
            delivery_id = row.id
        await self.deliver_due(only=delivery_id)
        async with self.db.transaction() as session:
            stored = await session.get(WebhookDelivery, delivery_id)
            assert stored is not None
            return delivery_view(stored)

    # ------------------------------------------------------------------ pruning

    async def prune(self) -> int:
        """Delete delivered and failed deliveries older than ``keep_days`` (batched)."""
        before = self.clock.now() - timedelta(days=self.policy.keep_days)
        removed = 0
        while True:
            async with self.db.transaction() as session:
                ids = list(
                    (
                        await session.execute(
                            select(WebhookDelivery.id)
                            .where(
                                WebhookDelivery.created_at < before,
                                WebhookDelivery.state.in_(("delivered", "failed")),
                            )
                            .limit(500)
                        )
                    ).scalars()
                )
                if ids:
                    await session.execute(
                        delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                    )
            removed += len(ids)
            if len(ids) < 500:
                return removed
