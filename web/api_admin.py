"""The admin API: the agent roster, canned replies, and the Prometheus metrics.

Supervisors and admins see the agents (with their current load); only admins change the roster
and the canned replies. A roster change reaches routing at once (the handoff engine re-reads the
agents). ``/metrics`` is the Prometheus text format 0.0.4, public unless turned off in the
settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from faq.matcher import Outcome
from handoff.acd import AgentStatus
from handoff.agents import (
    MAX_CAPACITY,
    ROLES,
    AgentError,
    add_agent,
    find_agent,
    list_agents,
    open_ticket_counts,
    remove_agent,
)
from handoff.canned import CannedError, add_canned, list_canned, remove_canned
from handoff.service import WAITING_STATES, HandoffError
from handoff.tickets import State
from sanad.services import Services
from storage.events import record_event
from storage.models import Agent, Article, CannedReply, Offer, QueryLog, Ticket
from web.api_faq import (
    actor_of,
    error_responses,
    handler,
    json_body,
    json_content,
)
from web.app import services_of
from web.auth import Principal
from web.console import canned_changed
from web.inputs import check_text
from web.problem import Problem

INT_LIMIT = 1_000_000  # capacity, routing priority: small numbers (Integer columns)
MAX_LIST = 50
MAX_WORD = 64

SETTABLE_STATUSES = ("offline", "available", "away")
AGENT_FIELDS = {
    "name",
    "telegram_id",
    "role",
    "skills",
    "languages",
    "capacity",
    "routing_priority",
    "status",
}


# ---------------------------------------------------------------------- agents


@dataclass(frozen=True)
class AgentIn:
    name: str
    telegram_id: str | None
    role: str
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: int
    routing_priority: int
    status: str | None


def agent_json(agent: Agent, load: int) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role,
        "telegram_id": agent.telegram_id,
        "status": agent.status,
        "capacity": agent.capacity,
        "load": load,
        "skills": list(agent.skills),
        "languages": list(agent.languages),
        "routing_priority": agent.routing_priority,
        "created_at": agent.created_at.isoformat(),
        "updated_at": agent.updated_at.isoformat(),
    }


def _int(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Problem(400, f"'{key}' must be a whole number")
    if not -INT_LIMIT <= value <= INT_LIMIT:
        raise Problem(400, f"'{key}' must be from {-INT_LIMIT} to {INT_LIMIT}", field=key)
    return value


def _texts(body: dict[str, Any], key: str, default: Iterable[str]) -> tuple[str, ...]:
    value = body.get(key)
    if value is None:
        return tuple(default)
    if isinstance(value, str):  # "billing, returns" from a form field
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Problem(400, f"'{key}' must be a list of texts")
    if len(value) > MAX_LIST or any(len(v) > MAX_WORD for v in value):
        raise Problem(400, f"'{key}': at most {MAX_LIST} items of {MAX_WORD} characters", field=key)
    return tuple(check_text(v.strip().lower(), key) for v in value if v.strip())


def agent_from_body(body: dict[str, Any], current: Agent | None = None) -> AgentIn:
    """Check an agent sent to the API. For a change (``current`` given) a field left out keeps
    its value."""
    unknown = sorted(set(body) - AGENT_FIELDS - {"id", "load", "created_at", "updated_at"})
    if unknown:
        raise Problem(400, f"unknown field(s): {', '.join(unknown)}")
    name = body.get("name", current.name if current else None)
    if not isinstance(name, str) or not name.strip():
        raise Problem(400, "'name' must be a non-empty text")
    check_text(name.strip(), "name", 128)
    tid = body.get("telegram_id", current.telegram_id if current else None)
    if isinstance(tid, int) and not isinstance(tid, bool):
        tid = str(tid)
    if tid == "":
        tid = None
    if tid is not None and not isinstance(tid, str):
        raise Problem(400, "'telegram_id' must be a number or text of digits")
    if tid is not None and (len(tid) > 32 or not tid.strip().lstrip("-").isdigit()):
        raise Problem(400, f"a Telegram id is a number, got {tid!r}")
    role = body.get("role", current.role if current else "agent")
    if role not in ROLES:
        raise Problem(400, f"'role' must be one of {', '.join(ROLES)}")
    capacity = _int(body, "capacity", current.capacity if current else 1)
    if not 1 <= capacity <= MAX_CAPACITY:
        raise Problem(400, f"capacity must be from 1 to {MAX_CAPACITY}")
    status = body.get("status")
    if status is not None and status not in SETTABLE_STATUSES:
        raise Problem(400, f"'status' must be one of {', '.join(SETTABLE_STATUSES)}")
    return AgentIn(
        name=name.strip(),
        telegram_id=tid.strip() if tid else None,
        role=role,
        skills=_texts(body, "skills", current.skills if current else ()),
        languages=_texts(body, "languages", current.languages if current else ()),
        capacity=capacity,
        routing_priority=_int(body, "routing_priority", current.routing_priority if current else 0),
        status=status,
    )


async def agents_with_load(services: Services) -> list[dict[str, Any]]:
    async with services.db.transaction() as session:
        agents = await list_agents(session)
        loads = await open_ticket_counts(session)
    return [agent_json(a, loads.get(a.id, 0)) for a in agents]


async def _set_status(services: Services, agent_id: int, status: str | None) -> None:
    if status is None:
        return
    try:
        await services.handoff.set_agent_status(agent_id, status)
    except HandoffError as exc:
        raise Problem(404, str(exc)) from None


async def _loaded(services: Services, agent_id: int) -> dict[str, Any]:
    async with services.db.transaction() as session:
        agent = await find_agent(session, agent_id=agent_id)
        loads = await open_ticket_counts(session)
    if agent is None:
        raise Problem(404, f"no agent with id {agent_id}")
    return agent_json(agent, loads.get(agent.id, 0))


async def save_agent(services: Services, fields: AgentIn) -> tuple[dict[str, Any], bool]:
    """Add an agent, or update the one with this Telegram id (``add_agent``). Returns the agent
    and whether it is new."""
    try:
        async with services.db.transaction() as session:
            existing = (
                await find_agent(session, telegram_id=fields.telegram_id)
                if fields.telegram_id
                else None
            )
            agent = await add_agent(
                session,
                name=fields.name,
                at=services.clock.now(),
                telegram_id=fields.telegram_id,
                role=fields.role,
                skills=fields.skills,
                languages=fields.languages,
                capacity=fields.capacity,
                routing_priority=fields.routing_priority,
            )
            agent_id = agent.id
    except AgentError as exc:
        raise Problem(400, str(exc)) from None
    except IntegrityError:
        raise Problem(409, "an agent with this Telegram id was added at the same time") from None
    await services.handoff.resync()
    await _set_status(services, agent_id, fields.status)
    return await _loaded(services, agent_id), existing is None


async def change_agent(
    services: Services, agent_id: int, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Change an agent's name, Telegram id, role, skills, languages, capacity or priority (the
    same checks as ``add_agent``), and optionally set their status."""
    try:
        async with services.db.transaction() as session:
            agent = await find_agent(session, agent_id=agent_id)
            if agent is None:
                raise Problem(404, f"no agent with id {agent_id}")
            fields = agent_from_body(body, agent)
            if fields.telegram_id and fields.telegram_id != agent.telegram_id:
                other = await find_agent(session, telegram_id=fields.telegram_id)
                if other is not None:
                    raise Problem(
                        409, f"Telegram id {fields.telegram_id} belongs to {other.name} already"
                    )
            agent.telegram_id = fields.telegram_id
            if fields.telegram_id is not None:
                # add_agent finds the agent by its Telegram id and updates it.
                await add_agent(
                    session,
                    name=fields.name,
                    at=services.clock.now(),
                    telegram_id=fields.telegram_id,
                    role=fields.role,
                    skills=fields.skills,
                    languages=fields.languages,
                    capacity=fields.capacity,
                    routing_priority=fields.routing_priority,
                )
            else:
                now = services.clock.now()
                agent.name = fields.name
                agent.role = fields.role
                agent.skills = list(dict.fromkeys(fields.skills))
                agent.languages = list(dict.fromkeys(fields.languages))
                agent.capacity = fields.capacity
                agent.routing_priority = fields.routing_priority
                agent.updated_at = now
                record_event(
                    session,
                    "agent_updated",
                    now,
                    actor="admin",
                    agent_id=agent.id,
                    name=agent.name,
                    role=agent.role,
                    by=actor,
                )
    except AgentError as exc:
        raise Problem(400, str(exc)) from None
    await services.handoff.resync()
    await _set_status(services, agent_id, fields.status)
    return await _loaded(services, agent_id)


async def delete_agent(services: Services, agent_id: int) -> None:
    try:
        async with services.db.transaction() as session:
            agent = await find_agent(session, agent_id=agent_id)
            if agent is None:
                raise Problem(404, f"no agent with id {agent_id}")
            await remove_agent(session, agent, services.clock.now())
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
    return web.json_response({"items": await agents_with_load(services_of(request))})


@handler("admin")
async def agents_create(request: web.Request, principal: Principal) -> web.Response:
    body = await json_body(request)
    if "id" in body:
        raise Problem(400, "a new agent gets its id from Sanad: leave 'id' out")
    agent, created = await save_agent(services_of(request), agent_from_body(body))
    return web.json_response(agent, status=201 if created else 200)


@handler("admin")
async def agents_update(request: web.Request, principal: Principal) -> web.Response:
    agent_id = _agent_id(request)
    body = await json_body(request)
    if "id" in body and body["id"] != agent_id:
        raise Problem(400, "the 'id' in the body differs from the one in the path")
    agent = await change_agent(services_of(request), agent_id, body, actor_of(principal))
    return web.json_response(agent)


@handler("admin")
async def agents_delete(request: web.Request, principal: Principal) -> web.Response:
    await delete_agent(services_of(request), _agent_id(request))
    return web.Response(status=204)


# ---------------------------------------------------------------------- canned replies


def canned_json(row: CannedReply) -> dict[str, Any]:
    return {
        "shortcut": row.shortcut,
        "lang": row.lang,
        "text": row.text,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def canned_list(services: Services) -> list[dict[str, Any]]:
    async with services.db.transaction() as session:
        return [canned_json(r) for r in await list_canned(session)]


async def save_canned(
    services: Services, shortcut: Any, text: Any, lang: Any
) -> tuple[dict[str, Any], bool]:
    if not isinstance(shortcut, str):
        raise Problem(400, "'shortcut' must be text")
    if not isinstance(text, str):
        raise Problem(400, "'text' must be text")
    if lang is None:
        lang = ""
    if not isinstance(lang, str):
        raise Problem(400, "'lang' must be en, ar or empty (any)")
    try:
        async with services.db.transaction() as session:
            before = {(r.shortcut, r.lang) for r in await list_canned(session)}
            row = await add_canned(session, shortcut, text, services.clock.now(), lang)
            created = (row.shortcut, row.lang) not in before
    except CannedError as exc:
        raise Problem(400, str(exc)) from None
    await canned_changed(services)
    return canned_json(row), created


async def delete_canned(services: Services, shortcut: str) -> int:
    async with services.db.transaction() as session:
        removed = await remove_canned(session, shortcut, services.clock.now())
    if not removed:
        raise Problem(404, f"no canned reply with the shortcut {shortcut!r}")
    await canned_changed(services)
    return removed


@handler("supervisor")
async def canned_get(request: web.Request, principal: Principal) -> web.Response:
    return web.json_response({"items": await canned_list(services_of(request))})


@handler("admin")
async def canned_post(request: web.Request, principal: Principal) -> web.Response:
    body = await json_body(request)
    unknown = sorted(set(body) - {"shortcut", "text", "lang"})
    if unknown:
        raise Problem(400, f"unknown field(s): {', '.join(unknown)}")
    row, created = await save_canned(
        services_of(request), body.get("shortcut"), body.get("text"), body.get("lang")
    )
    return web.json_response(row, status=201 if created else 200)


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
    async with services.db.transaction() as session:

        async def grouped(column: Any, *where: Any) -> dict[str, int]:
            query = select(column, func.count()).group_by(column)
            for clause in where:
                query = query.where(clause)
            return {str(k): int(v) for k, v in (await session.execute(query)).all()}

        articles = await grouped(Article.lang)
        published = await grouped(Article.lang, Article.status == "published")
        queries = await grouped(QueryLog.outcome)
        tickets = await grouped(Ticket.state)
        agents = await grouped(Agent.status)
        offers = await grouped(Offer.state)
        queue = int(
            (
                await session.execute(
                    select(func.count(Ticket.id)).where(
                        Ticket.state.in_([s.value for s in WAITING_STATES])
                    )
                )
            ).scalar_one()
        )
    out = Exposition()
    langs = ("en", "ar")
    out.family(
        "sanad_faq_articles",
        "gauge",
        "FAQ articles stored, by language (published and drafts).",
        (({"lang": k}, v) for k, v in _with_defaults(articles, langs).items()),
    )
    out.family(
        "sanad_faq_articles_published",
        "gauge",
        "Published FAQ articles, by language.",
        (({"lang": k}, v) for k, v in _with_defaults(published, langs).items()),
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
        (({"outcome": k}, v) for k, v in _with_defaults(queries, list(Outcome)).items()),
    )
    out.family(
        "sanad_tickets",
        "gauge",
        "Tickets by state.",
        (({"state": k}, v) for k, v in _with_defaults(tickets, list(State)).items()),
    )
    out.family(
        "sanad_queue_length",
        "gauge",
        "Tickets waiting for an agent now (queued or offered).",
        [({}, queue)],
    )
    out.family(
        "sanad_agents",
        "gauge",
        "Agents by status.",
        (({"status": k}, v) for k, v in _with_defaults(agents, list(AgentStatus)).items()),
    )
    out.family(
        "sanad_offers_total",
        "counter",
        "Offers of a ticket to an agent, by state (pending, accepted, or how they ended).",
        (({"state": k}, v) for k, v in _with_defaults(offers, ("pending", "accepted")).items()),
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

_TEXT_LIST = {"type": "array", "items": {"type": "string"}}
AGENT_IN = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "telegram_id": {"type": ["string", "integer", "null"]},
        "role": {"type": "string", "enum": list(ROLES)},
        "skills": _TEXT_LIST,
        "languages": _TEXT_LIST,
        "capacity": {"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY},
        "routing_priority": {"type": "integer"},
        "status": {"type": "string", "enum": list(SETTABLE_STATUSES)},
    },
}
AGENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        **{k: v for k, v in AGENT_IN["properties"].items() if k != "status"},  # type: ignore[attr-defined]
        "telegram_id": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": [s.value for s in AgentStatus]},
        "load": {"type": "integer", "description": "open chats (assigned or pending)"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
CANNED = {
    "type": "object",
    "properties": {
        "shortcut": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
        "lang": {"type": "string", "enum": ["", "en", "ar"]},
        "text": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    return json_content(
        {"type": "object", "properties": {"items": {"type": "array", "items": schema}}}
    )


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/agents": {
        "get": {
            "tags": ["agents"],
            "summary": "The agents with their status and load (supervisor or admin)",
            "responses": {
                "200": {"description": "The agents", "content": _items(AGENT)},
                **error_responses(401, 403),
            },
        },
        "post": {
            "tags": ["agents"],
            "summary": "Add an agent, or update the one with this telegram_id (admin)",
            "requestBody": {
                "required": True,
                "content": json_content({**AGENT_IN, "required": ["name"]}),
            },
            "responses": {
                "201": {"description": "Added", "content": json_content(AGENT)},
                "200": {
                    "description": "Updated (same telegram_id)",
                    "content": json_content(AGENT),
                },
                **error_responses(400, 401, 403, 409),
            },
        },
    },
    "/api/v1/agents/{id}": {
        "parameters": [_ID_PARAM],
        "put": {
            "tags": ["agents"],
            "summary": "Change an agent (admin); fields left out keep their value",
            "requestBody": {"required": True, "content": json_content(AGENT_IN)},
            "responses": {
                "200": {"description": "The agent", "content": json_content(AGENT)},
                **error_responses(400, 401, 403, 404, 409),
            },
        },
        "delete": {
            "tags": ["agents"],
            "summary": "Remove an agent (admin); they must be offline",
            "responses": {
                "204": {"description": "Removed"},
                **error_responses(401, 403, 404, 409),
            },
        },
    },
    "/api/v1/canned": {
        "get": {
            "tags": ["canned"],
            "summary": "Canned replies (supervisor or admin)",
            "responses": {
                "200": {"description": "The replies", "content": _items(CANNED)},
                **error_responses(401, 403),
            },
        },
        "post": {
            "tags": ["canned"],
            "summary": "Add or replace a canned reply (admin)",
            "requestBody": {
                "required": True,
                "content": json_content(
                    {
                        "type": "object",
                        "properties": {
                            k: CANNED["properties"][k]  # type: ignore[index]
                            for k in ("shortcut", "lang", "text")
                        },
                        "required": ["shortcut", "text"],
                    }
                ),
            },
            "responses": {
                "201": {"description": "Added", "content": json_content(CANNED)},
                "200": {"description": "Replaced", "content": json_content(CANNED)},
                **error_responses(400, 401, 403),
            },
        },
    },
    "/api/v1/canned/{shortcut}": {
        "delete": {
            "tags": ["canned"],
            "summary": "Remove a canned reply, in every language (admin)",
            "parameters": [
                {"name": "shortcut", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "204": {"description": "Removed"},
                **error_responses(401, 403, 404),
            },
        }
    },
    "/metrics": {
        "get": {
            "tags": ["metrics"],
            "summary": "Prometheus metrics (text format 0.0.4); public unless turned off",
            "security": [],
            "responses": {
                "200": {
                    "description": "The metrics",
                    "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
                },
                **error_responses(401),
            },
        }
    },
}
