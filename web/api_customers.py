"""The customer profile API: a person's identities, tickets, ratings, notes, attributes and
tier; setting the tier (VIP for any channel), attributes and notes; linking two identities as
one person and undoing it.

Who may: supervisors and admins everything; an agent the profiles of customers they serve
(attributes and notes, not tier or merges): :mod:`handoff.people`. The handlers only turn
requests into those core calls and their read models (:mod:`handoff.profiles`) into JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from accounts.tokens import Principal
from app.services import Services
from handoff import people, profiles
from handoff.model import HandoffError
from web import customer_shapes as shapes
from web.auth import actor_of, handler
from web.inputs import check_text
from web.openapi import Answer, Operation, parse_body, parse_query, paths_of, reply
from web.problem import Problem
from web.site import services_of

T = TypeVar("T")
ROLES = ("supervisor", "agent")


def actor(principal: Principal) -> people.Actor:
    """The principal as the core names and checks it: an agent by their agent id."""
    name = f"agent:{principal.agent_id}" if principal.agent_id else actor_of(principal)
    return people.Actor(name, principal.agent_id, principal.can("supervisor"))


async def core(call: Awaitable[T]) -> T:
    """Run a core call; its refusals as HTTP answers."""
    try:
        return await call
    except people.Refused as exc:
        raise Problem(403, f"this needs {exc.rule}") from None
    except people.NotFound as exc:
        raise Problem(404, str(exc)) from None
    except HandoffError as exc:
        raise Problem(400, str(exc)) from None


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def profile_json(profile: profiles.Profile) -> dict[str, Any]:
    result: dict[str, Any] = _json(asdict(profile))
    return result


async def load_profile(services: Services, principal: Principal, customer_id: int) -> Any:
    return await core(profiles.profile(services.db, actor(principal), customer_id))


def customer_id_of(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise Problem(404, f"no customer {raw!r}")
    return int(raw)


@handler("supervisor")
async def customers_search(request: web.Request, principal: Principal) -> web.Response:
    given = parse_query(shapes.CustomerSearch, request.query)
    found = await core(profiles.find_customers(services_of(request).db, actor(principal), given.q))
    return reply(shapes.CustomersOut, {"items": [_json(asdict(f)) for f in found]})


@handler(*ROLES)
async def customer_get(request: web.Request, principal: Principal) -> web.Response:
    profile = await load_profile(services_of(request), principal, customer_id_of(request))
    return reply(shapes.ProfileOut, profile_json(profile))


@handler(*ROLES)
async def customer_tier(request: web.Request, principal: Principal) -> web.Response:
    services, customer_id = services_of(request), customer_id_of(request)
    given = await parse_body(request, shapes.TierIn)
    now = services.clock.now()
    await core(people.change_tier(services.db, actor(principal), customer_id, given.tier, now))
    profile = await load_profile(services, principal, customer_id)
    return reply(shapes.ProfileOut, profile_json(profile))


@handler(*ROLES)
async def attribute_put(request: web.Request, principal: Principal) -> web.Response:
    services, customer_id = services_of(request), customer_id_of(request)
    key = request.match_info["key"]
    given = await parse_body(request, shapes.AttributeIn)
    check_text(given.value, "value", 512)
    await core(
        people.change_attribute(
            services.db, actor(principal), customer_id, key, given.value, services.clock.now()
        )
    )
    profile = await load_profile(services, principal, customer_id)
    return reply(shapes.ProfileOut, profile_json(profile))


@handler(*ROLES)
async def attribute_delete(request: web.Request, principal: Principal) -> web.Response:
    services, customer_id = services_of(request), customer_id_of(request)
    key = request.match_info["key"]
    removed = await core(
        people.drop_attribute(services.db, actor(principal), customer_id, key, services.clock.now())
    )
    if not removed:
        raise Problem(404, f"customer {customer_id} has no attribute {key!r}")
    return web.Response(status=204)


@handler(*ROLES)
async def note_post(request: web.Request, principal: Principal) -> web.Response:
    services, customer_id = services_of(request), customer_id_of(request)
    given = await parse_body(request, shapes.NoteIn)
    check_text(given.text, "text", 4000)
    await core(
        people.note_customer(
            services.db, actor(principal), customer_id, given.text, services.clock.now()
        )
    )
    profile = await load_profile(services, principal, customer_id)
    return reply(shapes.ProfileOut, profile_json(profile), status=201)


@handler(*ROLES)
async def merge_post(request: web.Request, principal: Principal) -> web.Response:
    services, customer_id = services_of(request), customer_id_of(request)
    given = await parse_body(request, shapes.MergeIn)
    event_id = await core(
        people.link(
            services.db, actor(principal), customer_id, given.other_id, services.clock.now()
        )
    )
    profile = await load_profile(services, principal, customer_id)
    return reply(shapes.MergedOut, {"event_id": event_id, "profile": profile_json(profile)})


@handler(*ROLES)
async def merge_undo(request: web.Request, principal: Principal) -> web.Response:
    services = services_of(request)
    event_id = customer_id_of(request, "event_id")
    await core(people.unlink(services.db, actor(principal), event_id, services.clock.now()))
    root = await core(people.merge_root(services.db, event_id))
    profile = await load_profile(services, principal, root)
    return reply(shapes.ProfileOut, profile_json(profile))


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/api/v1/customers", customers_search)
    app.router.add_get(r"/api/v1/customers/{id:\d+}", customer_get)
    app.router.add_put(r"/api/v1/customers/{id:\d+}/tier", customer_tier)
    app.router.add_put(r"/api/v1/customers/{id:\d+}/attributes/{key}", attribute_put)
    app.router.add_delete(r"/api/v1/customers/{id:\d+}/attributes/{key}", attribute_delete)
    app.router.add_post(r"/api/v1/customers/{id:\d+}/notes", note_post)
    app.router.add_post(r"/api/v1/customers/{id:\d+}/merge", merge_post)
    app.router.add_post(r"/api/v1/customers/merges/{event_id:\d+}/undo", merge_undo)


# ---------------------------------------------------------------------- OpenAPI

_ID = {"id": "integer"}
_KEY = {"id": "integer", "key": "string"}
OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/customers",
        "Find customers by name, @username, channel id, number or attribute (supervisor)",
        "customers",
        (Answer(200, "The customers, latest first (50 at most)", shapes.CustomersOut),),
        errors=(400, 401, 403),
        query=shapes.CustomerSearch,
    ),
    Operation(
        "GET",
        "/api/v1/customers/{id}",
        "A customer's profile: the person's identities, tickets, ratings, notes, attributes",
        "customers",
        (Answer(200, "The profile", shapes.ProfileOut),),
        errors=(401, 403, 404),
        path_params=_ID,
        description="Supervisors and admins see every customer; an agent those they serve "
        "(a ticket of the person is or was theirs).",
    ),
    Operation(
        "PUT",
        "/api/v1/customers/{id}/tier",
        "Set the person's tier on every identity: vip raises their next handoff (supervisor)",
        "customers",
        (Answer(200, "The profile", shapes.ProfileOut),),
        errors=(400, 401, 403, 404),
        body=shapes.TierIn,
        path_params=_ID,
    ),
    Operation(
        "PUT",
        "/api/v1/customers/{id}/attributes/{key}",
        "Set an attribute (email, plan, order id...); an empty value removes it",
        "customers",
        (Answer(200, "The profile", shapes.ProfileOut),),
        errors=(400, 401, 403, 404),
        body=shapes.AttributeIn,
        path_params=_KEY,
    ),
    Operation(
        "DELETE",
        "/api/v1/customers/{id}/attributes/{key}",
        "Remove an attribute from every identity of the person",
        "customers",
        (Answer(204, "Removed"),),
        errors=(401, 403, 404),
        path_params=_KEY,
    ),
    Operation(
        "POST",
        "/api/v1/customers/{id}/notes",
        "Add an internal note on the person (never shown to them)",
        "customers",
        (Answer(201, "The profile", shapes.ProfileOut),),
        errors=(400, 401, 403, 404),
        body=shapes.NoteIn,
        path_params=_ID,
    ),
    Operation(
        "POST",
        "/api/v1/customers/{id}/merge",
        "Link another identity (and those linked to it) into this person (supervisor)",
        "customers",
        (Answer(200, "Linked; the event id undoes it", shapes.MergedOut),),
        errors=(400, 401, 403, 404),
        body=shapes.MergeIn,
        path_params=_ID,
    ),
    Operation(
        "POST",
        "/api/v1/customers/merges/{event_id}/undo",
        "Undo a link: the identities are apart again with their tickets (supervisor)",
        "customers",
        (Answer(200, "The profile of the person linked into", shapes.ProfileOut),),
        errors=(400, 401, 403, 404),
        path_params={"event_id": "integer"},
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)
