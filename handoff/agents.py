"""The agent pool as admins manage it: add, change, list, remove agents.

Status changes (``/online``, ``/away``...) go through :class:`handoff.service.HandoffService`,
which also routes; this module only keeps the roster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.tickets import WITH_AGENT
from storage.events import record_event
from storage.models import Agent, ApiToken, Ticket

ROLES = ("agent", "supervisor")
MAX_CAPACITY = 50


class AgentError(ValueError):
    """A roster change that cannot be made; the message says why."""


def _clean_list(values: Iterable[str]) -> list[str]:
    result: list[str] = []
    for v in values:
        v = v.strip().lower()
        if v and v not in result:
            result.append(v)
    return result


async def find_agent(
    session: AsyncSession, *, agent_id: int | None = None, telegram_id: str | None = None
) -> Agent | None:
    if agent_id is not None:
        return await session.get(Agent, agent_id)
    if telegram_id is not None:
        result = await session.execute(select(Agent).where(Agent.telegram_id == telegram_id))
        return result.scalar_one_or_none()
    return None


async def add_agent(
    session: AsyncSession,
    *,
    name: str,
    at: datetime,
    telegram_id: str | None = None,
    role: str = "agent",
    skills: Iterable[str] = (),
    languages: Iterable[str] = (),
    capacity: int = 1,
    routing_priority: int = 0,
) -> Agent:
    """Register an agent (offline until they say ``/online``); re-adding updates them."""
    name = name.strip()
    if not name:
        raise AgentError("an agent needs a name")
    if role not in ROLES:
        raise AgentError(f"role must be one of {', '.join(ROLES)}")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise AgentError(f"capacity must be from 1 to {MAX_CAPACITY}")
    if telegram_id is not None and not telegram_id.lstrip("-").isdigit():
        raise AgentError(f"a Telegram id is a number, got {telegram_id!r}")
    agent = await find_agent(session, telegram_id=telegram_id) if telegram_id else None
    kind = "agent_updated"
    if agent is None:
        agent = Agent(
            name=name,
            telegram_id=telegram_id,
            status="offline",
            idle_since=at,
            created_at=at,
            updated_at=at,
        )
        session.add(agent)
        kind = "agent_added"
    agent.name = name
    agent.role = role
    agent.skills = _clean_list(skills)
    agent.languages = _clean_list(languages)
    agent.capacity = capacity
    agent.routing_priority = routing_priority
    agent.updated_at = at
    await session.flush()
    record_event(session, kind, at, actor="admin", agent_id=agent.id, name=name, role=role)
    return agent


async def list_agents(session: AsyncSession) -> Sequence[Agent]:
    return (await session.execute(select(Agent).order_by(Agent.id))).scalars().all()


async def open_ticket_counts(session: AsyncSession) -> dict[int, int]:
    """Each agent's live chats (assigned or pending)."""
    rows = await session.execute(
        select(Ticket.assignee_id, func.count(Ticket.id))
        .where(Ticket.state.in_(WITH_AGENT), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
    )
    return {int(agent_id): int(count) for agent_id, count in rows.all() if agent_id is not None}


async def remove_agent(session: AsyncSession, agent: Agent, at: datetime) -> None:
    """Remove an agent from the roster. Their tickets keep their history (assignee cleared)."""
    if agent.status != "offline":
        raise AgentError(f"{agent.name} is {agent.status}: set them offline first")
    # Tokens tied to the agent outlive them: an agent token is revoked (with its event), any
    # other (a supervisor's, an admin's) keeps its role and loses only the console.
    tokens = (
        (await session.execute(select(ApiToken).where(ApiToken.agent_id == agent.id)))
        .scalars()
        .all()
    )
    for token in tokens:
        token.agent_id = None
        if token.role == "agent" and token.revoked_at is None:
            token.revoked_at = at
            record_event(
                session,
                "token_revoked",
                at,
                actor="admin",
                token_id=token.id,
                reason="agent_removed",
                agent_id=agent.id,
            )
        elif token.role != "agent":
            record_event(
                session, "token_unlinked", at, actor="admin", token_id=token.id, agent_id=agent.id
            )
    await session.flush()
    record_event(session, "agent_removed", at, actor="admin", agent_id=agent.id, name=agent.name)
    await session.delete(agent)
