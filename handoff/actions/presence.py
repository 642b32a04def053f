"""Where agents are: a console open on some process, or Telegram (handoff/presence.py keeps
the rows; these actions change what routing makes of them).

* :func:`console_left`: the agent's last console closed on every process: they are *absent*
  (kept in their status and chats, but offered nothing), unless present on Telegram.
* :func:`console_back`: a console of theirs is open again: no longer absent.
* :func:`presence_lost`: absent for the grace: set offline (the usual offline path: their
  chats go back to the queue after the offline grace).
* :func:`idle_away`: no activity in any console of theirs for the idle time: set away (their
  open chats stay theirs).

On Telegram Sanad cannot see presence: an agent who set themselves available from Telegram
counts as present there until they go away or offline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff import notices
from handoff.acd import AgentStatus
from handoff.effects import apply
from handoff.engine import Unit, action
from handoff.restore import load_agent
from handoff.schedule import ts
from storage.events import record_event
from storage.models import Agent, PresenceProcess
from storage.models import Presence as PresenceRow

CONSOLE = "console"
CHAT = "chat"


def telegram_present(agent: Agent) -> bool:
    """Set available from Telegram, and not away or offline since."""
    return agent.status_origin == "telegram" and agent.status == AgentStatus.AVAILABLE


def fresh_since(now: datetime, expire_s: float) -> datetime:
    """Processes whose last heartbeat is at or after this are alive."""
    return now - timedelta(seconds=expire_s)


async def consoles_open(
    session: AsyncSession, agent_id: int, now: datetime, expire_s: float
) -> int:
    """How many live processes hold a console of this agent."""
    count = await session.scalar(
        select(func.count())
        .select_from(PresenceRow)
        .join(PresenceProcess, PresenceProcess.id == PresenceRow.process_id)
        .where(
            PresenceRow.place == CONSOLE,
            PresenceRow.key == agent_id,
            PresenceProcess.last_seen >= fresh_since(now, expire_s),
        )
    )
    return int(count or 0)


async def last_active(
    session: AsyncSession, agent_id: int, now: datetime, expire_s: float
) -> datetime | None:
    """The latest activity reported by any live console of this agent (None: no console)."""
    found: datetime | None = await session.scalar(
        select(func.max(PresenceRow.last_active))
        .join(PresenceProcess, PresenceProcess.id == PresenceRow.process_id)
        .where(
            PresenceRow.place == CONSOLE,
            PresenceRow.key == agent_id,
            PresenceProcess.last_seen >= fresh_since(now, expire_s),
        )
    )
    return found


async def _locked_agent(uow: Unit, agent_id: int) -> Agent | None:
    """The agent row, locked until the commit (two processes deciding about one agent take
    turns, so each sees what the other wrote)."""
    agent = await uow.session.get(Agent, agent_id, with_for_update=True, populate_existing=True)
    if agent is not None and agent_id not in uow.acd.agents:
        load_agent(uow.acd, agent, ts(uow.now))
    return agent


async def _set_absent(uow: Unit, agent: Agent, absent: bool) -> None:
    now = uow.now
    agent.absent_since = now if absent else None
    record_event(
        uow.session,
        "agent_absent" if absent else "agent_present",
        now,
        actor="presence",
        agent_id=agent.id,
    )
    await apply(uow, uow.acd.set_absent(agent.id, absent, ts(now)))


@action
async def console_left(uow: Unit, agent_id: int) -> bool:
    """A process closed its last console of this agent. If no live process holds one and they
    are not present on Telegram, they are absent from now. Returns whether they are absent."""
    agent = await _locked_agent(uow, agent_id)
    if agent is None:
        return False
    if agent.absent_since is not None:
        return True
    config = uow.config
    if await consoles_open(uow.session, agent_id, uow.now, config.presence_expire_s):
        return False
    if telegram_present(agent):
        return False
    await _set_absent(uow, agent, True)
    return True


@action
async def console_back(uow: Unit, agent_id: int) -> None:
    """A console of this agent is open (its row is written): they are no longer absent."""
    agent = await _locked_agent(uow, agent_id)
    if agent is not None and agent.absent_since is not None:
        await _set_absent(uow, agent, False)


@action
async def presence_lost(uow: Unit, agent_id: int) -> bool:
    """The agent has been absent for the grace: set offline (their chats follow the offline
    path). Returns whether they were."""
    from handoff.actions.agent import set_status_from

    agent = await _locked_agent(uow, agent_id)
    if agent is None or agent.absent_since is None or agent.status == AgentStatus.OFFLINE:
        return False
    if (uow.now - agent.absent_since).total_seconds() < uow.config.presence_grace_s:
        return False
    if telegram_present(agent):
        return False
    record_event(
        uow.session,
        "agent_presence_lost",
        uow.now,
        actor="presence",
        agent_id=agent_id,
        absent_since=agent.absent_since.isoformat(),
    )
    uow.outbox.append(notices.ConsoleGone(agent_id))
    await set_status_from(uow, agent_id, AgentStatus.OFFLINE, "presence")
    return True


@action
async def idle_away(uow: Unit, agent_id: int) -> bool:
    """No activity in any console of this available agent for the idle time: set away, their
    open chats untouched. Returns whether they were."""
    from handoff.actions.agent import set_status_from

    config = uow.config
    if config.idle_away_s <= 0:
        return False
    agent = await _locked_agent(uow, agent_id)
    if agent is None or agent.status != AgentStatus.AVAILABLE or telegram_present(agent):
        return False
    active = await last_active(uow.session, agent_id, uow.now, config.presence_expire_s)
    if active is None or (uow.now - active).total_seconds() < config.idle_away_s:
        return False
    if agent.updated_at is not None and (uow.now - agent.updated_at).total_seconds() < (
        config.idle_away_s
    ):
        return False  # they changed something (a status, an accept) within the idle time
    record_event(
        uow.session,
        "agent_idle_away",
        uow.now,
        actor="presence",
        agent_id=agent_id,
        last_active=active.isoformat(),
    )
    await set_status_from(uow, agent_id, AgentStatus.AWAY, "idle")
    uow.outbox.append(notices.IdleAway(agent_id, idle_s=config.idle_away_s))
    return True
