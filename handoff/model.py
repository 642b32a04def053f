"""The values handoff actions take and return, and the errors they raise.

Kept apart from the actions so that adapters (bot/, web/) and the actions import the same
names without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handoff.acd import AcdConfig
from handoff.followup import FollowUpPolicy
from handoff.hours import BusinessHours
from handoff.priority import DEFAULT_HEAD_START_S, PriorityRules
from handoff.sla import SlaPolicy
from handoff.tickets import State

WAITING_STATES = (State.QUEUED, State.OFFERED)
WITH_AGENT_STATES = (State.ASSIGNED, State.PENDING)

# Roles that may act on any chat (change its priority...), not only on the chats they hold.
SUPERVISING_ROLES = ("supervisor", "admin")


@dataclass(frozen=True)
class HandoffConfig:
    acd: AcdConfig = field(default_factory=AcdConfig)
    head_start_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HEAD_START_S))
    rules: PriorityRules = field(default_factory=PriorityRules)
    hours: BusinessHours = field(default_factory=BusinessHours.always_open)
    sla: SlaPolicy = field(default_factory=SlaPolicy.default)
    followup: FollowUpPolicy = field(default_factory=FollowUpPolicy)
    reopen_window_s: float = 24 * 3600.0
    bot_idle_close_s: float = 24 * 3600.0
    idle_sweep_s: float = 600.0
    offline_grace_s: float = 120.0
    position_update_s: float = 60.0
    waiting_reminder_s: float = 120.0  # offers lapsing: tell the customer where they stand
    default_handle_s: float = 300.0
    sync_interval_s: float = 2.0


@dataclass(frozen=True)
class QueueInfo:
    """Where a waiting ticket stands, as told to its customer."""

    ticket_id: int
    state: str
    priority: str
    position: int | None = None
    wait_s: float | None = None
    agents_online: bool = True
    opens_at: datetime | None = None


@dataclass(frozen=True)
class AcceptResult:
    ok: bool
    reason: str  # accepted | taken | expired | not_yours (| declined)
    ticket_id: int | None = None


@dataclass(frozen=True)
class TransferTargets:
    agents: list[tuple[int, str]]  # (agent id, name) of those who can take the chat now
    categories: list[str]


class HandoffError(Exception):
    """An action that does not apply (wrong state, unknown ticket or agent)."""


class NotAllowed(HandoffError):
    """The actor may not do this to this ticket (``rule`` says who may, for the adapters to
    report in the actor's language)."""

    def __init__(self, actor: str, ticket_id: int, rule: str) -> None:
        self.actor, self.ticket_id, self.rule = actor, ticket_id, rule
        super().__init__(f"{actor} may not do this on ticket {ticket_id}: {rule}")


TRANSFER_REFUSALS = {
    "yours": "{agent} already has this chat",
    "offline": "{agent} is offline",
    "away": "{agent} is away",
    "busy": "{agent} has no free slot right now",
    "skill": "{agent} does not handle {category!r}",
    "language": "{agent} does not speak {language!r}",
    "nobody": "no agent online handles {category!r}{in_language}",
}


class TransferRefused(HandoffError):
    """A transfer to someone who cannot take the chat now. ``reason`` is one of
    :data:`TRANSFER_REFUSALS` (channels may say it in the agent's language)."""

    def __init__(self, agent: str, reason: str, category: str = "", language: str = "") -> None:
        self.agent, self.reason, self.category, self.language = agent, reason, category, language
        text = TRANSFER_REFUSALS[reason].format(
            agent=agent,
            category=category,
            language=language,
            in_language=f" in {language!r}" if language else "",
        )
        super().__init__(f"cannot transfer: {text}")


class Conflict(Exception):
    """Another process settled the same row first; this process's view is stale. Not a
    :class:`HandoffError`: the unit of work rebuilds the in-memory state when it sees one."""
