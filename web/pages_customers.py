"""The customer pages (English and Arabic): ``/customers`` finds customers (supervisors), and
``/customers/{id}`` is a person's profile: identities on each channel, tickets, ratings,
notes, attributes and tier, with the forms to change them, link another identity and undo a
link. Ticket pages and the agent console's chat header link here.

The forms post to the same core calls as the API (:mod:`web.api_customers`), then redirect
back to the profile (``?done=...``); a refusal shows the profile again with the message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

import texts
from accounts.tokens import Principal
from handoff import people, profiles, reports
from handoff.customers import TIERS
from web.api_customers import actor, core, customer_id_of, load_profile
from web.auth import principal_of, require
from web.inputs import check_text
from web.pages_reports import fmt_time, readable_event
from web.problem import Problem
from web.site import SERVICES, render, request_lang

DONE = ("tier", "attribute", "note", "merge", "undo")
# Event data the reader does not need (ids of rows shown elsewhere, the undo's bookkeeping).
HIDDEN_FIELDS = ("moved", "raised", "lowered", "note_id", "person")


def _may_open(request: web.Request) -> Principal:
    """Supervisors and admins, and agents (for the customers they serve)."""
    principal = principal_of(request)
    if principal.can("supervisor") or principal.agent_id is not None:
        return principal
    return require(request, "supervisor")


def _lang(request: web.Request) -> str:
    return request_lang(request, request.app[SERVICES].settings.default_language)


async def customers_page(request: web.Request) -> web.Response:
    principal = require(request, "supervisor")
    q = str(request.query.get("q") or "").strip()[:64]
    found = await core(profiles.find_customers(request.app[SERVICES].db, actor(principal), q))
    return render(
        request, "customers.html", active="customers", q=q, found=found, fmt_time=fmt_time
    )


async def _profile_page(
    request: web.Request, customer_id: int, status: int = 200, error: str | None = None
) -> web.Response:
    principal = _may_open(request)
    services = request.app[SERVICES]
    try:
        profile = await load_profile(services, principal, customer_id)
    except Problem as exc:
        if exc.status in (403, 404):
            raise web.HTTPNotFound(text=texts.text("page.not_found", _lang(request))) from None
        raise
    names = await reports.agent_names(services.db)
    events = [
        readable_event(
            {
                "kind": e.kind,
                "actor": _actor_shown(e.actor),
                "created_at": e.created_at.isoformat(),
                "data": {k: v for k, v in e.data.items() if k not in HIDDEN_FIELDS},
            },
            names,
            _lang(request),
        )
        for e in profile.events
    ]
    done = str(request.query.get("done") or "")
    return render(
        request,
        "customer.html",
        status,
        active="customers" if principal.can("supervisor") else "tickets",
        p=profile,
        events=events,
        error=error,
        done=done if done in DONE else "",
        tiers=TIERS,
        fmt_time=lambda value: fmt_time(value.isoformat() if value is not None else None),
    )


def _actor_shown(actor_name: str) -> str:
    """``web:Sara`` reads as Sara; agents by their name come from the events' names."""
    kind, _, rest = actor_name.partition(":")
    return rest if kind == "web" and rest else actor_name


async def profile_page(request: web.Request) -> web.Response:
    return await _profile_page(request, customer_id_of(request))


Change = Callable[[people.Actor, dict[str, str]], Awaitable[Any]]


async def _post(request: web.Request, customer_id: int, done: str, change: Change) -> web.Response:
    principal = _may_open(request)
    form = await request.post()
    body = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        await core(change(actor(principal), body))
    except Problem as exc:
        if exc.status == 404:
            raise web.HTTPNotFound(text=texts.text("page.not_found", _lang(request))) from None
        return await _profile_page(request, customer_id, exc.status, exc.message)
    raise web.HTTPSeeOther(f"/customers/{customer_id}?done={done}")


async def tier_post(request: web.Request) -> web.Response:
    customer_id = customer_id_of(request)
    db, clock = request.app[SERVICES].db, request.app[SERVICES].clock

    async def change(who: people.Actor, body: dict[str, str]) -> Any:
        return await people.change_tier(db, who, customer_id, body.get("tier", ""), clock.now())

    return await _post(request, customer_id, "tier", change)


async def attribute_post(request: web.Request) -> web.Response:
    customer_id = customer_id_of(request)
    db, clock = request.app[SERVICES].db, request.app[SERVICES].clock

    async def change(who: people.Actor, body: dict[str, str]) -> Any:
        key, value = body.get("key", ""), body.get("value", "")
        check_text(key, "key", 64)
        check_text(value, "value", 512)
        return await people.change_attribute(db, who, customer_id, key, value, clock.now())

    return await _post(request, customer_id, "attribute", change)


async def note_post(request: web.Request) -> web.Response:
    customer_id = customer_id_of(request)
    db, clock = request.app[SERVICES].db, request.app[SERVICES].clock

    async def change(who: people.Actor, body: dict[str, str]) -> Any:
        text = check_text(body.get("text", ""), "text", 4000)
        return await people.note_customer(db, who, customer_id, text, clock.now())

    return await _post(request, customer_id, "note", change)


async def merge_post(request: web.Request) -> web.Response:
    customer_id = customer_id_of(request)
    db, clock = request.app[SERVICES].db, request.app[SERVICES].clock

    async def change(who: people.Actor, body: dict[str, str]) -> Any:
        raw = body.get("other_id", "").strip().lstrip("#")
        if not raw.isdigit() or len(raw) > 18:
            raise Problem(400, texts.text("page.cu_merge_hint", _lang(request)))
        return await people.link(db, who, customer_id, int(raw), clock.now())

    return await _post(request, customer_id, "merge", change)


async def undo_post(request: web.Request) -> web.Response:
    event_id = customer_id_of(request, "event_id")
    services = request.app[SERVICES]
    root = await core(people.merge_root(services.db, event_id))

    async def change(who: people.Actor, body: dict[str, str]) -> Any:
        return await people.unlink(services.db, who, event_id, services.clock.now())

    return await _post(request, root, "undo", change)


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/customers", customers_page)
    app.router.add_get(r"/customers/{id:\d+}", profile_page)
    app.router.add_post(r"/customers/{id:\d+}/tier", tier_post)
    app.router.add_post(r"/customers/{id:\d+}/attributes", attribute_post)
    app.router.add_post(r"/customers/{id:\d+}/notes", note_post)
    app.router.add_post(r"/customers/{id:\d+}/merge", merge_post)
    app.router.add_post(r"/customers/merges/{event_id:\d+}/undo", undo_post)
