"""The admins' webhook endpoints and the delivery log, as frozen read models.

Every change writes an ``events`` row (``webhook_saved``, ``webhook_removed``; never the
secret). A secret is generated when none is given; it is returned once, by
:func:`create_endpoint` (and :func:`update_endpoint` when it is replaced), and never read back
by any view or written to a log (it is added to the log redaction)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from base.logs import add_secret
from storage.db import Database
from storage.events import record_event
from storage.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import TYPES, set_wanted

MAX_URL = 2048
MIN_SECRET = 16
MAX_SECRET = 128
LOG_PAGE = 50


class EndpointError(ValueError):
    """A value an endpoint cannot have (the message says which)."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class EndpointView:
    id: int
    name: str
    url: str
    types: tuple[str, ...]
    active: bool
    created_at: datetime
    updated_at: datetime
    pending: int
    failed: int
    delivered: int


@dataclass(frozen=True)
class DeliveryView:
    id: int
    endpoint_id: int
    event_id: str
    type: str
    state: str  # pending | delivered | failed
    attempts: int
    last_status: int | None
    last_error: str | None
    next_try_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EndpointFields:
    """What an admin sets; ``secret`` None keeps (or, for a new endpoint, generates) it."""

    name: str
    url: str
    types: tuple[str, ...]
    active: bool = True
    secret: str | None = None


def check(fields: EndpointFields) -> EndpointFields:
    parts = urlsplit(fields.url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError("'url' must be an http:// or https:// address with a host")
    if len(fields.url) > MAX_URL:
        raise EndpointError(f"'url' is longer than {MAX_URL} characters")
    unknown = sorted(set(fields.types) - set(TYPES))
    if unknown:
        raise EndpointError(f"unknown event type(s): {', '.join(unknown)}")
    if not fields.types:
        raise EndpointError("choose at least one event type")
    if fields.secret is not None and not MIN_SECRET <= len(fields.secret) <= MAX_SECRET:
        raise EndpointError(f"'secret' must be {MIN_SECRET} to {MAX_SECRET} characters")
    if len(fields.name) > 128:
        raise EndpointError("'name' is longer than 128 characters")
    ordered = tuple(t for t in TYPES if t in set(fields.types))
    return EndpointFields(
        fields.name.strip(), fields.url.strip(), ordered, fields.active, fields.secret
    )


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def _counts(session: AsyncSession, ids: Sequence[int]) -> dict[tuple[int, str], int]:
    rows = await session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.state, func.count())
        .where(WebhookDelivery.endpoint_id.in_(ids))
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.state)
    )
    return {(e, s): n for e, s, n in rows.all()}


def _view(row: WebhookEndpoint, counts: dict[tuple[int, str], int]) -> EndpointView:
    return EndpointView(
        id=row.id,
        name=row.name,
        url=row.url,
        types=tuple(row.types or ()),
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        pending=counts.get((row.id, "pending"), 0),
        failed=counts.get((row.id, "failed"), 0),
        delivered=counts.get((row.id, "delivered"), 0),
    )


def delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        type=row.type,
        state=row.state,
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        next_try_at=row.next_try_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_endpoints(db: Database) -> list[EndpointView]:
    async with db.transaction() as session:
        rows = list(
            (await session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).scalars()
        )
        counts = await _counts(session, [r.id for r in rows])
    return [_view(r, counts) for r in rows]


async def _get(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id}")
    return row


async def get_endpoint(db: Database, endpoint_id: int) -> EndpointView:
    async with db.transaction() as session:
        row = await _get(session, endpoint_id)
        return _view(row, await _counts(session, [row.id]))


async def create_endpoint(
    db: Database, fields: EndpointFields, at: datetime, actor: str = "admin"
) -> tuple[EndpointView, str]:
    """A new endpoint and its secret (shown to the admin this once)."""
    fields = check(fields)
    secret = fields.secret or new_secret()
    add_secret(secret)
    if fields.active:  # from now on this process's changes are kept for it
        set_wanted(db.engine.sync_engine, True)
    async with db.transaction() as session:
        row = WebhookEndpoint(
            name=fields.name,
            url=fields.url,
            secret=secret,
            types=list(fields.types),
            active=fields.active,
            created_at=at,
            updated_at=at,
        )
        session.add(row)
        await session.flush()
        record_event(session, "webhook_saved", at, actor=actor, endpoint_id=row.id, url=row.url)
        return _view(row, {}), secret


async def update_endpoint(
    db: Database, endpoint_id: int, fields: EndpointFields, at: datetime, actor: str = "admin"
) -> EndpointView:
    fields = check(fields)
    if fields.active:
        set_wanted(db.engine.sync_engine, True)
    async with db.transaction() as session:
        row = await _get(session, endpoint_id)
        row.name, row.url, row.types, row.active = (
            fields.name,
            fields.url,
            list(fields.types),
            fields.active,
        )
        if fields.secret is not None:
            add_secret(fields.secret)
            row.secret = fields.secret
        row.updated_at = at
        record_event(
            session,
            "webhook_saved",
            at,
            actor=actor,
            endpoint_id=row.id,
            url=row.url,
            active=row.active,
            secret_changed=fields.secret is not None,
        )
        return _view(row, await _counts(session, [row.id]))


async def delete_endpoint(
    db: Database, endpoint_id: int, at: datetime, actor: str = "admin"
) -> None:
    """Remove an endpoint and its delivery log (what was not delivered is dropped)."""
    async with db.transaction() as session:
        row = await _get(session, endpoint_id)
        await session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        )
        await session.delete(row)
        record_event(session, "webhook_removed", at, actor=actor, endpoint_id=endpoint_id)


async def delivery_log(db: Database, endpoint_id: int, limit: int = LOG_PAGE) -> list[DeliveryView]:
    """The endpoint's latest deliveries, newest first."""
    async with db.transaction() as session:
        await _get(session, endpoint_id)
        rows = (
            await session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(limit)
            )
        ).scalars()
        return [delivery_view(r) for r in rows]
