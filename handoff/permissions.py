"""Who may act on a chat: short predicates every action calls with its actor, so every channel
(Telegram, the console, ticket pages, the API, the CLI) applies the same rule.

An actor is an agent id, or ``None`` for the program itself (a timer, the CLI, an admin API
call), which the channels have vetted before calling.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handoff.model import SUPERVISING_ROLES, WITH_AGENT_STATES, NotAllowed
from storage.models import Agent, Ticket

HOLDER_OR_SUPERVISOR = "the agent holding the chat, or a supervisor"


def agent_of(actor: str) -> int | None:
    """The agent id of an ``agent:<id>`` actor; None for the program's own actors
    (``supervisor``, ``system``, an admin API call...), which the channels have vetted."""
    kind, _, rest = actor.partition(":")
    return int(rest) if kind == "agent" and rest.isdigit() else None


async def is_supervisor(session: AsyncSession, agent_id: int) -> bool:
    agent = await session.get(Agent, agent_id)
    return agent is not None and agent.role in SUPERVISING_ROLES


async def require_holder_or_supervisor(
    session: AsyncSession, ticket: Ticket, agent_id: int | None
) -> None:
    """The agent holds this live chat, or supervises; ``None`` (no agent) is the program."""
    if agent_id is None:
        return
    if ticket.assignee_id == agent_id and ticket.state in WITH_AGENT_STATES:
        return
    if not await is_supervisor(session, agent_id):
        raise NotAllowed(f"agent:{agent_id}", ticket.id, HOLDER_OR_SUPERVISOR)


async def require_supervisor(session: AsyncSession, ticket: Ticket, agent_id: int | None) -> None:
    """A supervisor (or the program: ``None``) acts on a chat nobody holds."""
    if agent_id is not None and not await is_supervisor(session, agent_id):
        raise NotAllowed(f"agent:{agent_id}", ticket.id, "a supervisor")
