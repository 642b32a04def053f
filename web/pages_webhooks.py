"""The Webhooks page (admin only, English and Arabic): ``/webhooks`` lists the endpoints and
adds one (its secret shown once, on the answer to the form); ``/webhooks/{id}`` changes,
disables or deletes it, sends a test and shows the delivery log. The work is the API module's
(:mod:`web.api_webhooks`), so pages and API apply the same checks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.api_webhooks import change, create, load, log_of, remove, send_test
from web.auth import Principal, actor_of, require
from web.problem import Problem
from web.site import render, services_of
from webhooks import endpoints as store
from webhooks.endpoints import EndpointFields
from webhooks.outbox import TYPES

OPENAPI_PATHS: dict[str, Any] = {}


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _form(form: Any) -> dict[str, Any]:
    return {
        "name": _field(form, "name").strip(),
        "url": _field(form, "url").strip(),
        "types": [t for t in form.getall("types", []) if isinstance(t, str)],
        "active": _field(form, "active") == "on",
        "secret": _field(form, "secret").strip() or None,
    }


async def _list_page(
    request: web.Request, principal: Principal, http_status: int = 200, **extra: Any
) -> web.Response:
    context: dict[str, Any] = {
        "active": "webhooks",
        "endpoints": await store.list_endpoints(services_of(request).db),
        "types": TYPES,
        "created": None,
        "secret": None,
        "error": None,
        "values": {"name": "", "url": "", "types": [], "active": True},
        "removed": request.query.get("removed") == "1",
    }
    context.update(extra)
    return render(request, "webhooks.html", http_status, **context)


async def webhooks_page(request: web.Request) -> web.Response:
    return await _list_page(request, require(request, "admin"))


async def webhooks_add(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    values = _form(await request.post())
    fields = EndpointFields(
        values["name"], values["url"], tuple(values["types"]), True, values["secret"]
    )
    try:
        view, secret = await create(services_of(request), fields, actor_of(principal))
    except Problem as problem:
        return await _list_page(
            request, principal, problem.status, error=problem.message, values=values
        )
    # The secret is in this answer only (not in a redirect's URL, not stored in a page).
    return await _list_page(request, principal, 201, created=view, secret=secret)


def _page_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such webhook endpoint") from None


async def _detail(
    request: web.Request, endpoint_id: int, http_status: int = 200, **extra: Any
) -> web.Response:
    services = services_of(request)
    try:
        view = await load(services, endpoint_id)
        deliveries = await log_of(services, endpoint_id)
    except Problem as problem:
        raise web.HTTPNotFound(text=problem.message) from None
    tested = None
    raw = request.query.get("tested", "")
    if raw.isdigit():
        tested = next((d for d in deliveries if d.id == int(raw)), None)
    context: dict[str, Any] = {
        "active": "webhooks",
        "endpoint": view,
        "deliveries": deliveries,
        "types": TYPES,
        "values": {
            "name": view.name,
            "url": view.url,
            "types": list(view.types),
            "active": view.active,
        },
        "error": None,
        "saved": request.query.get("saved") == "1",
        "tested": tested,
    }
    context.update(extra)
    return render(request, "webhooks_edit.html", http_status, **context)


async def webhooks_detail(request: web.Request) -> web.Response:
    require(request, "admin")
    return await _detail(request, _page_id(request))


async def webhooks_update(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    endpoint_id = _page_id(request)
    values = _form(await request.post())
    body = {k: v for k, v in values.items() if not (k == "secret" and v is None)}
    try:
        await change(services_of(request), endpoint_id, body, actor_of(principal))
    except Problem as problem:
        if problem.status == 404:
            raise web.HTTPNotFound(text=problem.message) from None
        return await _detail(
            request, endpoint_id, problem.status, error=problem.message, values=values
        )
    raise web.HTTPFound(f"/webhooks/{endpoint_id}?saved=1")


async def webhooks_test(request: web.Request) -> web.Response:
    require(request, "admin")
    endpoint_id = _page_id(request)
    try:
        delivery = await send_test(services_of(request), endpoint_id)
    except Problem as problem:
        raise web.HTTPNotFound(text=problem.message) from None
    raise web.HTTPFound(f"/webhooks/{endpoint_id}?tested={delivery.id}#log")


async def webhooks_remove(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    try:
        await remove(services_of(request), _page_id(request), actor_of(principal))
    except Problem as problem:
        raise web.HTTPNotFound(text=problem.message) from None
    raise web.HTTPFound("/webhooks?removed=1")


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/webhooks", webhooks_page)
    app.router.add_post("/webhooks", webhooks_add)
    app.router.add_get("/webhooks/{id}", webhooks_detail)
    app.router.add_post("/webhooks/{id}", webhooks_update)
    app.router.add_post("/webhooks/{id}/test", webhooks_test)
    app.router.add_post("/webhooks/{id}/delete", webhooks_remove)
