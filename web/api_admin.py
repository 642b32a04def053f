"""The admin API: the agent roster, canned replies, and the Prometheus metrics.

Supervisors and admins see the agents (with their current load); only admins change the roster
and the canned replies, through :mod:`handoff.admin` (one transaction each, events written). A
roster change reaches routing at once (the handoff engine re-reads the agents). ``/metrics`` is
the Prometheus text format 0.0.4, public unless turned off in the settings. The shapes are
:mod:`web.shapes`'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from accounts.tokens import Principal
from app.services import Services
from faq.matcher import Outcome
from handoff import admin, reports
from handoff.acd import AgentStatus
from handoff.admin import AgentFields, agent_json
from handoff.agents import AgentError
from handoff.canned import CannedError
from handoff.service import HandoffError
from handoff.tickets import State
from web import shapes
from web.auth import actor_of, handler
from web.console import canned_changed
from web.inputs import check_text
from web.openapi import Answer, Operation, json_object, parse_body, paths_of, reply, validate
from web.problem import Problem
from web.site import services_of

SETTABLE_STATUSES = ("offline", "available", "away")
# web/console.py reads an agent's JSON through this name (handoff.admin.agent_json).
__all__ = ["agent_json"]


# ---------------------------------------------------------------------- agents


@dataclass(frozen=True)
class AgentIn:
    """A checked agent, and the status to set (if any)."""

    fields: AgentFields
    status: str | None


def agent_from_body(body: dict[str, Any], current: dict[str, Any] | None = None) -> AgentIn:
    """Check an agent sent to the API or a form (:class:`shapes.AgentNew`; for a change,
    ``current`` given, :class:`shapes.AgentChange`, where a field left out keeps its value)."""
    given = validate(shapes.AgentChange if current else shapes.AgentNew, body)
    was = current or {}
    name = given.name if given.name is not None else was.get("name")
    if name is None:
        raise Problem(400, "'name' is missing", field="name")
    check_text(name, "name", 128)
    telegram_id = (
        given.telegram_id if "telegram_id" in given.model_fields_set else was.get("telegram_id")
    )
    skills = given.skills if given.skills is not None else was.get("skills", [])
    languages = given.languages if given.languages is not None else was.get("languages", [])
    for key, words in (("skills", skills), ("languages", languages)):
        for word in words:
            check_text(word, key)
    return AgentIn(
        AgentFields(
            name=name,
            telegram_id=telegram_id,
            role=given.role or was.get("role", "agent"),
            skills=tuple(skills),
            languages=tuple(languages),
            capacity=given.capacity if given.capacity is not None else was.get("capacity", 1),
            routing_priority=given.routing_priority
            if given.routing_priority is not None
            else was.get("routing_priority", 0),
        ),
        given.status,
    )


async def agents_with_load(services: Services) -> list[dict[str, Any]]:
    return await admin.agents_with_load(services.db)


async def _set_status(services: Services, agent_id: int, status: str | None) -> None:
    if status is None:
        return
    try:
        await services.handoff.set_agent_status(agent_id, status)
    except HandoffError as exc:
        raise Problem(404, str(exc)) from None


async def _after_change(services: Services, agent_id: int, status: str | None) -> dict[str, Any]:
    """Routing sees the change at once; then the status, and the agent as it is now."""
    await services.handoff.resync()
    await _set_status(services, agent_id, status)
    try:
        return await admin.agent_view(services.db, agent_id)
    except admin.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def save_agent(services: Services, given: AgentIn) -> tuple[dict[str, Any], bool]:
    """Add an agent, or update the one with this Telegram id. Returns the agent and whether
    it is new."""
    try:
        agent_id, created = await admin.save_agent(services.db, given.fields, services.clock.now())
    except AgentError as exc:
        raise Problem(400, str(exc)) from None
    except admin.Conflict as exc:
        raise Problem(409, str(exc)) from None
    return await _after_change(services, agent_id, given.status), created


async def change_agent(
    services: Services, agent_id: int, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Change an agent's name, Telegram id, role, skills, languages, capacity or priority (the
    same checks as ``add_agent``), and optionally set their status."""
    status: list[str | None] = []

    def change(current: dict[str, Any]) -> AgentFields:
        given = agent_from_body(body, current)
        status.append(given.status)
        return given.fields

    try:
        await admin.change_agent(services.db, agent_id, change, services.clock.now(), actor)
    except AgentError as exc:
        raise Problem(400, str(exc)) from None
    except admin.NotFound as exc:
        raise Problem(404, str(exc)) from None
    except admin.Conflict as exc:
        raise Problem(409, str(exc)) from None
    return await _after_change(services, agent_id, status[0])


async def delete_agent(services: Services, agent_id: int) -> None:
    try:
        await admin.delete_agent(services.db, agent_id, services.clock.now())
    except admin.NotFound as exc:
        raise Problem(404, str(exc)) from None
    except AgentError as exc:
        raise Problem(409, str(exc)) from None
    await services.handoff.resync()


def _agent_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        return int(raw)
    except ValueError:
        raise Problem(404, f"no agent with id {raw!r}") from None


@handler("supervisor")
async def agents_list(request: web.Request, principal: Principal) -> web.Response:
    return reply(shapes.AgentsOut, {"items": await agents_with_load(services_of(request))})


@handler("admin")
async def agents_create(request: web.Request, principal: Principal) -> web.Response:
    body = await json_object(request)
    if "id" in body:
        raise Problem(400, "a new agent gets its id from Sanad: leave 'id' out")
    agent, created = await save_agent(services_of(request), agent_from_body(body))
    return reply(shapes.AgentOut, agent, status=201 if created else 200)


@handler("admin")
async def agents_update(request: web.Request, principal: Principal) -> web.Response:
    agent_id = _agent_id(request)
    body = await json_object(request)
    if "id" in body and body["id"] != agent_id:
        raise Problem(400, "the 'id' in the body differs from the one in the path")
    agent = await change_agent(services_of(request), agent_id, body, actor_of(principal))
    return reply(shapes.AgentOut, agent)


@handler("admin")
async def agents_delete(request: web.Request, principal: Principal) -> web.Response:
    await delete_agent(services_of(request), _agent_id(request))
    return web.Response(status=204)


# ---------------------------------------------------------------------- canned replies


async def canned_list(services: Services) -> list[dict[str, Any]]:
    return await admin.canned_list(services.db)


async def save_canned(
    services: Services, shortcut: str, text: str, lang: str | None
) -> tuple[dict[str, Any], bool]:
    try:
        row, created = await admin.save_canned(
            services.db, shortcut, text, lang or "", services.clock.now()
        )
    except CannedError as exc:
        raise Problem(400, str(exc)) from None
    await canned_changed(services)
    return row, created


async def delete_canned(services: Services, shortcut: str) -> int:
    try:
        removed = await admin.delete_canned(services.db, shortcut, services.clock.now())
    except admin.NotFound as exc:
        raise Problem(404, str(exc)) from None
    await canned_changed(services)
    return removed


@handler("supervisor")
async def canned_get(request: web.Request, principal: Principal) -> web.Response:
    return reply(shapes.CannedListOut, {"items": await canned_list(services_of(request))})


@handler("admin")
async def canned_post(request: web.Request, principal: Principal) -> web.Response:
    given = await parse_body(request, shapes.CannedIn)
    row, created = await save_canned(services_of(request), given.shortcut, given.text, given.lang)
    return reply(shapes.CannedOut, row, status=201 if created else 200)


@handler("admin")
async def canned_delete(request: web.Request, principal: Principal) -> web.Response:
    await delete_canned(services_of(request), request.match_info["shortcut"])
    return web.Response(status=204)


# ---------------------------------------------------------------------- Prometheus


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """Prometheus text exposition format 0.0.4, written by hand."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, str], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            number = repr(value) if isinstance(value, float) else str(int(value))
            self.lines.append(f"{name}{{{text}}} {number}" if text else f"{name} {number}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _with_defaults(counts: dict[str, int], known: Iterable[str]) -> dict[str, int]:
    result = dict.fromkeys(known, 0)
    result.update(counts)
    return dict(sorted(result.items()))


async def metrics_text(services: Services) -> str:
    counts = await reports.counts(services.db)
    out = Exposition()
    langs = ("en", "ar")
    out.family(
        "sanad_faq_articles",
        "gauge",
        "FAQ articles stored, by language (published and drafts).",
        (({"lang": k}, v) for k, v in _with_defaults(counts.articles, langs).items()),
    )
    out.family(
        "sanad_faq_articles_published",
        "gauge",
        "Published FAQ articles, by language.",
        (({"lang": k}, v) for k, v in _with_defaults(counts.published, langs).items()),
    )
    out.family(
        "sanad_faq_index_articles",
        "gauge",
        "Articles in the bot's live match index.",
        [({}, len(services.faq.index))],
    )
    out.family(
        "sanad_faq_queries_total",
        "counter",
        "Customer questions the FAQ matcher decided, by outcome.",
        (({"outcome": k}, v) for k, v in _with_defaults(counts.queries, list(Outcome)).items()),
    )
    out.family(
        "sanad_tickets",
        "gauge",
        "Tickets by state.",
        (({"state": k}, v) for k, v in _with_defaults(counts.tickets, list(State)).items()),
    )
    out.family(
        "sanad_queue_length",
        "gauge",
        "Tickets waiting for an agent now (queued or offered).",
        [({}, counts.queue)],
    )
    out.family(
        "sanad_agents",
        "gauge",
        "Agents by status.",
        (({"status": k}, v) for k, v in _with_defaults(counts.agents, list(AgentStatus)).items()),
    )
    out.family(
        "sanad_offers_total",
        "counter",
        "Offers of a ticket to an agent, by state (pending, accepted, or how they ended).",
        (
            ({"state": k}, v)
            for k, v in _with_defaults(counts.offers, ("pending", "accepted")).items()
        ),
    )
    return out.text()


async def metrics(request: web.Request) -> web.Response:
    text = await metrics_text(services_of(request))
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/api/v1/agents", agents_list)
    app.router.add_post("/api/v1/agents", agents_create)
    app.router.add_put("/api/v1/agents/{id}", agents_update)
    app.router.add_delete("/api/v1/agents/{id}", agents_delete)
    app.router.add_get("/api/v1/canned", canned_get)
    app.router.add_post("/api/v1/canned", canned_post)
    app.router.add_delete("/api/v1/canned/{shortcut}", canned_delete)
    app.router.add_get("/metrics", metrics)


# ---------------------------------------------------------------------- OpenAPI

_ID = {"id": "integer"}
OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/agents",
        "The agents with their status and load (supervisor or admin)",
        "agents",
        (Answer(200, "The agents", shapes.AgentsOut),),
    ),
    Operation(
        "POST",
        "/api/v1/agents",
        "Add an agent, or update the one with this telegram_id (admin)",
        "agents",
        (
            Answer(201, "Added", shapes.AgentOut),
            Answer(200, "Updated (same telegram_id)", shapes.AgentOut),
        ),
        errors=(400, 401, 403, 409),
        body=shapes.AgentNew,
    ),
    Operation(
        "PUT",
        "/api/v1/agents/{id}",
        "Change an agent (admin); fields left out keep their value",
        "agents",
        (Answer(200, "The agent", shapes.AgentOut),),
        errors=(400, 401, 403, 404, 409),
        body=shapes.AgentChange,
        path_params=_ID,
    ),
    Operation(
        "DELETE",
        "/api/v1/agents/{id}",
        "Remove an agent (admin); they must be offline",
        "agents",
        (Answer(204, "Removed"),),
        errors=(401, 403, 404, 409),
        path_params=_ID,
    ),
    Operation(
        "GET",
        "/api/v1/canned",
        "Canned replies (supervisor or admin)",
        "canned",
        (Answer(200, "The replies", shapes.CannedListOut),),
    ),
    Operation(
        "POST",
        "/api/v1/canned",
        "Add or replace a canned reply (admin)",
        "canned",
        (Answer(201, "Added", shapes.CannedOut), Answer(200, "Replaced", shapes.CannedOut)),
        errors=(400, 401, 403),
        body=shapes.CannedIn,
    ),
    Operation(
        "DELETE",
        "/api/v1/canned/{shortcut}",
        "Remove a canned reply, in every language (admin)",
        "canned",
        (Answer(204, "Removed"),),
        errors=(401, 403, 404),
        path_params={"shortcut": "string"},
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics (text format 0.0.4); public unless turned off",
        "metrics",
        (Answer(200, "The metrics", media=("text/plain; version=0.0.4",)),),
        errors=(401,),
        public=True,
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)
