"""The admin API of the outgoing webhooks (admin only): endpoints, their delivery log, and a
test delivery. The work is :mod:`webhooks`' (one transaction each, events written); the
secret is in the answer of a creation (or of a change that sets one) and nowhere else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from accounts.tokens import Principal
from app.services import Services
from web.auth import actor_of, handler
from web.openapi import Answer, Operation, json_object, paths_of, reply, validate
from web.problem import Problem
from web.shapes import Body, Instant, Out
from web.site import services_of
from webhooks import endpoints as store
from webhooks.endpoints import DeliveryView, EndpointFields, EndpointView
from webhooks.outbox import TYPES
from webhooks.service import WebhookService

WebhookType = Literal[
    "ticket_opened",
    "handoff_requested",
    "ticket_queued",
    "ticket_assigned",
    "ticket_transferred",
    "message",
    "ticket_resolved",
    "ticket_closed",
    "ticket_rated",
    "ticket_reopened",
    "followup_sent",
    "followup_answered",
]  # webhooks.outbox.TYPES (tested)
Secret = Annotated[str, Field(min_length=store.MIN_SECRET, max_length=store.MAX_SECRET)]


# ---------------------------------------------------------------------- shapes


class WebhookChange(Body):
    """An endpoint as an admin writes it; in a change, a field left out keeps its value."""

    name: str | None = Field(default=None, max_length=128)
    url: str | None = Field(default=None, max_length=store.MAX_URL)
    types: list[WebhookType] | None = Field(default=None, max_length=len(TYPES))
    active: bool | None = None
    secret: Secret | None = Field(
        default=None, description="signing secret; left out: kept (generated for a new one)"
    )


class WebhookNew(WebhookChange):
    url: str = Field(max_length=store.MAX_URL)
    types: list[WebhookType] = Field(min_length=1, max_length=len(TYPES))


class WebhookOut(Out):
    id: int
    name: str
    url: str
    types: list[WebhookType]
    active: bool
    created_at: Instant
    updated_at: Instant
    pending: int = Field(description="deliveries waiting for their (next) attempt")
    failed: int
    delivered: int


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret: shown this once, keep it")


class WebhooksOut(Out):
    items: list[WebhookOut]
    types: list[WebhookType] = Field(description="every event type an endpoint may ask for")


class DeliveryOut(Out):
    id: int
    endpoint_id: int
    event_id: str = Field(description="the payload's id (receivers de-duplicate on it)")
    type: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None
    last_error: str | None
    next_try_at: Instant | None
    created_at: Instant
    updated_at: Instant


class DeliveriesOut(Out):
    items: list[DeliveryOut]


# ---------------------------------------------------------------------- read models as JSON


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def endpoint_json(view: EndpointView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "url": view.url,
        "types": list(view.types),
        "active": view.active,
        "created_at": _iso(view.created_at),
        "updated_at": _iso(view.updated_at),
        "pending": view.pending,
        "failed": view.failed,
        "delivered": view.delivered,
    }


def delivery_json(view: DeliveryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "endpoint_id": view.endpoint_id,
        "event_id": view.event_id,
        "type": view.type,
        "state": view.state,
        "attempts": view.attempts,
        "last_status": view.last_status,
        "last_error": view.last_error,
        "next_try_at": _iso(view.next_try_at),
        "created_at": _iso(view.created_at),
        "updated_at": _iso(view.updated_at),
    }


# ---------------------------------------------------------------------- the work (pages too)


def worker(services: Services) -> WebhookService:
    return services.webhooks


async def create(
    services: Services, fields: EndpointFields, actor: str
) -> tuple[EndpointView, str]:
    try:
        return await store.create_endpoint(services.db, fields, services.clock.now(), actor)
    except store.EndpointError as exc:
        raise Problem(400, str(exc)) from None


async def change(
    services: Services, endpoint_id: int, body: dict[str, Any], actor: str
) -> EndpointView:
    given = validate(WebhookChange, body)
    current = await load(services, endpoint_id)
    fields = EndpointFields(
        name=given.name if given.name is not None else current.name,
        url=given.url if given.url is not None else current.url,
        types=tuple(given.types) if given.types is not None else current.types,
        active=given.active if given.active is not None else current.active,
        secret=given.secret,
    )
    try:
        return await store.update_endpoint(
            services.db, endpoint_id, fields, services.clock.now(), actor
        )
    except store.EndpointError as exc:
        raise Problem(400, str(exc)) from None
    except store.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def load(services: Services, endpoint_id: int) -> EndpointView:
    try:
        return await store.get_endpoint(services.db, endpoint_id)
    except store.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def remove(services: Services, endpoint_id: int, actor: str) -> None:
    try:
        await store.delete_endpoint(services.db, endpoint_id, services.clock.now(), actor)
    except store.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def log_of(services: Services, endpoint_id: int) -> list[DeliveryView]:
    try:
        return await store.delivery_log(services.db, endpoint_id)
    except store.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def send_test(services: Services, endpoint_id: int) -> DeliveryView:
    try:
        return await services.webhooks.send_test(endpoint_id)
    except store.NotFound as exc:
        raise Problem(404, str(exc)) from None


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        return int(raw)
    except ValueError:
        raise Problem(404, f"no webhook endpoint with id {raw!r}") from None


# ---------------------------------------------------------------------- routes


@handler("admin")
async def webhooks_list(request: web.Request, principal: Principal) -> web.Response:
    views = await store.list_endpoints(services_of(request).db)
    return reply(WebhooksOut, {"items": [endpoint_json(v) for v in views], "types": list(TYPES)})


@handler("admin")
async def webhooks_create(request: web.Request, principal: Principal) -> web.Response:
    given = validate(WebhookNew, await json_object(request))
    fields = EndpointFields(
        name=given.name or "",
        url=given.url,
        types=tuple(given.types),
        active=True if given.active is None else given.active,
        secret=given.secret,
    )
    view, secret = await create(services_of(request), fields, actor_of(principal))
    return reply(WebhookCreated, endpoint_json(view) | {"secret": secret}, status=201)


@handler("admin")
async def webhooks_get(request: web.Request, principal: Principal) -> web.Response:
    return reply(WebhookOut, endpoint_json(await load(services_of(request), _id(request))))


@handler("admin")
async def webhooks_update(request: web.Request, principal: Principal) -> web.Response:
    body = await json_object(request)
    view = await change(services_of(request), _id(request), body, actor_of(principal))
    return reply(WebhookOut, endpoint_json(view))


@handler("admin")
async def webhooks_delete(request: web.Request, principal: Principal) -> web.Response:
    await remove(services_of(request), _id(request), actor_of(principal))
    return web.Response(status=204)


@handler("admin")
async def webhooks_deliveries(request: web.Request, principal: Principal) -> web.Response:
    views = await log_of(services_of(request), _id(request))
    return reply(DeliveriesOut, {"items": [delivery_json(v) for v in views]})


@handler("admin")
async def webhooks_test(request: web.Request, principal: Principal) -> web.Response:
    view = await send_test(services_of(request), _id(request))
    return reply(DeliveryOut, delivery_json(view))


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/api/v1/webhooks", webhooks_list)
    app.router.add_post("/api/v1/webhooks", webhooks_create)
    app.router.add_get("/api/v1/webhooks/{id}", webhooks_get)
    app.router.add_put("/api/v1/webhooks/{id}", webhooks_update)
    app.router.add_delete("/api/v1/webhooks/{id}", webhooks_delete)
    app.router.add_get("/api/v1/webhooks/{id}/deliveries", webhooks_deliveries)
    app.router.add_post("/api/v1/webhooks/{id}/test", webhooks_test)


# ---------------------------------------------------------------------- OpenAPI

_ID = {"id": "integer"}
OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/webhooks",
        "Outgoing webhook endpoints, and the event types there are (admin)",
        "webhooks",
        (Answer(200, "The endpoints", WebhooksOut),),
    ),
    Operation(
        "POST",
        "/api/v1/webhooks",
        "Add a webhook endpoint (admin); the answer holds its secret, shown this once",
        "webhooks",
        (Answer(201, "Added", WebhookCreated),),
        errors=(400, 401, 403),
        body=WebhookNew,
    ),
    Operation(
        "GET",
        "/api/v1/webhooks/{id}",
        "A webhook endpoint (admin)",
        "webhooks",
        (Answer(200, "The endpoint", WebhookOut),),
        errors=(401, 403, 404),
        path_params=_ID,
    ),
    Operation(
        "PUT",
        "/api/v1/webhooks/{id}",
        "Change a webhook endpoint (admin); fields left out keep their value",
        "webhooks",
        (Answer(200, "The endpoint", WebhookOut),),
        errors=(400, 401, 403, 404),
        body=WebhookChange,
        path_params=_ID,
    ),
    Operation(
        "DELETE",
        "/api/v1/webhooks/{id}",
        "Remove a webhook endpoint and its delivery log (admin)",
        "webhooks",
        (Answer(204, "Removed"),),
        errors=(401, 403, 404),
        path_params=_ID,
    ),
    Operation(
        "GET",
        "/api/v1/webhooks/{id}/deliveries",
        "The endpoint's latest deliveries, newest first (admin)",
        "webhooks",
        (Answer(200, "The delivery log", DeliveriesOut),),
        errors=(401, 403, 404),
        path_params=_ID,
    ),
    Operation(
        "POST",
        "/api/v1/webhooks/{id}/test",
        "Send a ping to the endpoint now and answer its result (admin)",
        "webhooks",
        (Answer(200, "The test delivery", DeliveryOut),),
        errors=(401, 403, 404),
        path_params=_ID,
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)
