"""The admin's work on the agent roster and the canned replies (web API and pages).

Each action is one transaction and writes its events (through :mod:`handoff.agents` and
:mod:`handoff.canned`, or here). Reads return JSON-ready dicts. After a roster change the caller
resyncs the handoff engine (``HandoffService.resync``) so routing sees it at once. Errors:
:class:`~handoff.agents.AgentError` / :class:`~handoff.canned.CannedError` (a bad value or a
refused removal), :class:`NotFound`, :class:`Conflict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from handoff.agents import (
    AgentError,
    add_agent,
    find_agent,
    list_agents,
    open_ticket_counts,
    remove_agent,
)
from handoff.canned import add_canned, list_canned, remove_canned
from storage.db import Database
from storage.events import record_event
from storage.models import Agent, CannedReply

__all__ = [
    "AgentError",
    "AgentFields",
    "Conflict",
    "NotFound",
    "agent_json",
    "agent_view",
    "agents_with_load",
    "canned_list",
    "change_agent",
    "delete_agent",
    "delete_canned",
    "save_agent",
    "save_canned",
]


class NotFound(LookupError):
    """No such agent or canned reply; the message says which."""


class Conflict(ValueError):
    """The change collides with another agent (their Telegram id)."""


@dataclass(frozen=True)
class AgentFields:
    """An agent as an admin writes it (checked by the adapter that read it)."""

    name: str
    telegram_id: str | None
    role: str
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: int
    routing_priority: int


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


async def agents_with_load(db: Database) -> list[dict[str, Any]]:
    """Every agent with their load (open chats, assigned or pending)."""
    async with db.transaction() as session:
        agents = await list_agents(session)
        loads = await open_ticket_counts(session)
        return [agent_json(a, loads.get(a.id, 0)) for a in agents]


async def agent_view(db: Database, agent_id: int) -> dict[str, Any]:
    async with db.transaction() as session:
        agent = await find_agent(session, agent_id=agent_id)
        if agent is None:
            raise NotFound(f"no agent with id {agent_id}")
        loads = await open_ticket_counts(session)
        return agent_json(agent, loads.get(agent.id, 0))


async def save_agent(db: Database, fields: AgentFields, at: datetime) -> tuple[int, bool]:
    """Add an agent, or update the one with this Telegram id (``add_agent``): its id, and
    whether it is new."""
    try:
        async with db.transaction() as session:
            existing = (
                await find_agent(session, telegram_id=fields.telegram_id)
                if fields.telegram_id
                else None
            )
            agent = await add_agent(
                session,
                name=fields.name,
                at=at,
                telegram_id=fields.telegram_id,
                role=fields.role,
                skills=fields.skills,
                languages=fields.languages,
                capacity=fields.capacity,
                routing_priority=fields.routing_priority,
            )
            return agent.id, existing is None
    except IntegrityError:
        raise Conflict("an agent with this Telegram id was added at the same time") from None


async def change_agent(
    db: Database,
    agent_id: int,
    change: Callable[[dict[str, Any]], AgentFields],
    at: datetime,
    actor: str,
) -> None:
    """Change an agent to ``change(current)`` (the current agent as :func:`agent_view` shows
    it; a field left out keeps its value), with the same checks as ``add_agent``."""
    async with db.transaction() as session:
        agent = await find_agent(session, agent_id=agent_id)
        if agent is None:
            raise NotFound(f"no agent with id {agent_id}")
        fields = change(agent_json(agent, 0))
        if fields.telegram_id and fields.telegram_id != agent.telegram_id:
            other = await find_agent(session, telegram_id=fields.telegram_id)
            if other is not None:
                raise Conflict(f"Telegram id {fields.telegram_id} belongs to {other.name} already")
        agent.telegram_id = fields.telegram_id
        if fields.telegram_id is not None:
            # add_agent finds the agent by its Telegram id and updates it.
            await add_agent(
                session,
                name=fields.name,
                at=at,
                telegram_id=fields.telegram_id,
                role=fields.role,
                skills=fields.skills,
                languages=fields.languages,
                capacity=fields.capacity,
                routing_priority=fields.routing_priority,
            )
            return
        agent.name = fields.name
        agent.role = fields.role
        agent.skills = list(dict.fromkeys(fields.skills))
        agent.languages = list(dict.fromkeys(fields.languages))
        agent.capacity = fields.capacity
        agent.routing_priority = fields.routing_priority
        agent.updated_at = at
        record_event(
            session,
            "agent_updated",
            at,
            actor="admin",
            agent_id=agent.id,
            name=agent.name,
            role=agent.role,
            by=actor,
        )


async def delete_agent(db: Database, agent_id: int, at: datetime) -> None:
    """Remove an agent; :class:`AgentError` when they are not offline."""
    async with db.transaction() as session:
        agent = await find_agent(session, agent_id=agent_id)
        if agent is None:
            raise NotFound(f"no agent with id {agent_id}")
        await remove_agent(session, agent, at)


# ---------------------------------------------------------------------- canned replies


def _canned_json(row: CannedReply) -> dict[str, Any]:
    return {
        "shortcut": row.shortcut,
        "lang": row.lang,
        "text": row.text,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def canned_list(db: Database) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        return [_canned_json(r) for r in await list_canned(session)]


async def save_canned(
    db: Database, shortcut: str, text: str, lang: str, at: datetime
) -> tuple[dict[str, Any], bool]:
    """Add or replace a canned reply: the reply, and whether it is new."""
    async with db.transaction() as session:
        before = {(r.shortcut, r.lang) for r in await list_canned(session)}
        row = await add_canned(session, shortcut, text, at, lang)
        return _canned_json(row), (row.shortcut, row.lang) not in before


async def delete_canned(db: Database, shortcut: str, at: datetime) -> int:
    """Remove a canned reply in every language: how many were removed."""
    async with db.transaction() as session:
        removed = await remove_canned(session, shortcut, at)
    if not removed:
        raise NotFound(f"no canned reply with the shortcut {shortcut!r}")
    return removed
