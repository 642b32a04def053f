"""What the handoff engine tells people: one frozen dataclass per thing that happened.

The service builds notices inside its transaction, from what it has at hand, and hands them to
the port (:mod:`handoff.port`) after the commit. A notice carries every fact a channel needs to
say it, so no adapter reads the database again for what the core already knew (the accepted
offer, the customer's name, the rating cycle...). Notices are grouped by audience:

- :data:`CustomerNotice`, addressed by a :class:`CustomerAddress` (``to``): the place in the
  queue (:class:`Queued`, :class:`Requeued`, :class:`Transferred`, :class:`Reopened`,
  :class:`PositionChanged`, :class:`StillWaiting`), :class:`NoAgents`, :class:`OutsideHours`,
  :class:`AgentJoined`, :class:`HandedBack`, :class:`Resolved`, :class:`FollowUpAsked`, and
  :class:`AgentMessage` (an
  agent's line, already in the transcript, for the customer's channel to carry).
- :data:`AgentNotice`, for one agent (``agent_id``), wherever they work from:
  :class:`OfferMade`, :class:`OfferEnded`, :class:`Assigned`, :class:`ChatMessage`,
  :class:`StatusChanged`, :class:`SetAway`, :class:`IdleAway`, :class:`ConsoleGone`,
  :class:`CloseOrTransfer`, :class:`ChatsRequeued`, :class:`CustomerLeft`, :class:`TakenOver`.
- :data:`SupervisorNotice`, for every supervisor: :class:`SlaWarning`, :class:`SlaBreached`,
  :class:`AgentSetAway`, :class:`LowRating`, :class:`LowRatingComment`.

Adapters ``match`` on the class and end with ``typing.assert_never``, so a notice added here
and forgotten in a channel is a type error. ``kind`` is the notice's name where it is stored or
sent as data (the transcript's ``meta.notice``, the console's frames); never branch on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

# ---------------------------------------------------------------------- customers


@dataclass(frozen=True)
class CustomerAddress:
    """Whom a customer notice is for, and how to reach them."""

    ticket_id: int
    customer_id: int
    channel: str
    external_id: str
    language: str


@dataclass(frozen=True)
class _ToCustomer:
    kind: ClassVar[str]
    to: CustomerAddress


@dataclass(frozen=True)
class _InQueue(_ToCustomer):
    """The ticket waits in the queue: its place (1 = next) and the expected wait (None when an
    agent is free or no estimate can be made)."""

    position: int | None
    wait_s: float | None


@dataclass(frozen=True)
class Queued(_InQueue):
    """The customer asked for a person and joined the queue."""

    kind = "queued"


@dataclass(frozen=True)
class Requeued(_InQueue):
    """Their agent went offline: the chat is back in the queue."""

    kind = "requeued"


@dataclass(frozen=True)
class Transferred(_InQueue):
    """Their agent transferred the chat: it waits for the new agent or category."""

    kind = "transferred"


@dataclass(frozen=True)
class Reopened(_InQueue):
    """The customer wrote soon after the chat was resolved: it is open again, queued."""

    kind = "reopened"


@dataclass(frozen=True)
class PositionChanged(_InQueue):
    """A better place in the queue, worth telling."""

    kind = "position"


@dataclass(frozen=True)
class StillWaiting(_InQueue):
    """Offers keep lapsing: where the customer stands, so they do not wait in silence."""

    kind = "still_waiting"


@dataclass(frozen=True)
class NoAgents(_ToCustomer):
    """Queued, but no agent is online."""

    kind = "no_agents"


@dataclass(frozen=True)
class OutsideHours(_ToCustomer):
    """Outside business hours: the ticket waits for the opening."""

    kind = "outside_hours"
    opens_at: datetime | None
    hours: tuple[tuple[int, int, str], ...]  # (first weekday, last weekday, "09:00-17:00")
    timezone: str


@dataclass(frozen=True)
class AgentJoined(_ToCustomer):
    kind = "agent_joined"
    agent_name: str


@dataclass(frozen=True)
class HandedBack(_ToCustomer):
    """The agent handed the chat back to the bot."""

    kind = "handed_back"


@dataclass(frozen=True)
class Resolved(_ToCustomer):
    """The agent resolved the chat: ask for a rating of this cycle of the ticket."""

    kind = "resolved"
    agent_id: int | None
    agent_name: str  # "" when no agent had it
    cycle: int  # the ticket's reopened count, which the rating belongs to


@dataclass(frozen=True)
class FollowUpAsked(_ToCustomer):
    """A while after the resolve: "Is your problem still solved?" (Yes / No / don't ask
    again), about ``cycle`` of the ticket; the buttons answer until ``expires_at``."""

    kind = "followup"
    cycle: int
    expires_at: datetime


@dataclass(frozen=True)
class SaidLine:
    """A chat line as stored in the transcript, carried with the notices about it so that a
    channel can show it without reading it back: the agent's name for an agent's line ("" for
    the customer's)."""

    kind: str  # text | file
    text: str
    created_at: datetime
    meta: Mapping[str, object]
    agent_name: str


@dataclass(frozen=True)
class AgentMessage(_ToCustomer):
    """An agent's line (text or file), already in the transcript, for the customer's channel.
    The line as stored comes with it (``said``), so a channel can show it without reading it
    back; ``None`` where the sender did not give it (a channel then reads the transcript)."""

    kind = "agent_message"
    message_id: int
    origin: str | None  # where the agent wrote it: telegram | web | None
    said: SaidLine | None = None


CustomerNotice = (
    Queued
    | Requeued
    | Transferred
    | Reopened
    | PositionChanged
    | StillWaiting
    | NoAgents
    | OutsideHours
    | AgentJoined
    | HandedBack
    | Resolved
    | FollowUpAsked
    | AgentMessage
)

# ---------------------------------------------------------------------- agents


@dataclass(frozen=True)
class _ToAgent:
    kind: ClassVar[str]
    agent_id: int


@dataclass(frozen=True)
class OfferMade(_ToAgent):
    """A chat offered to the agent: the facts to decide on, and the deadline."""

    kind = "offer"
    offer_id: str
    ticket_id: int
    priority: str
    category: str
    language: str
    customer_name: str
    waiting_s: float
    deadline: datetime
    last_messages: tuple[str, ...]


@dataclass(frozen=True)
class OfferEnded(_ToAgent):
    """The agent's offer ended without their accepting it (an accept is :class:`Assigned`)."""

    kind = "offer_withdrawn"
    offer_id: str
    ticket_id: int
    reason: str  # declined | expired | withdrawn


@dataclass(frozen=True)
class Assigned(_ToAgent):
    """The agent accepted ``offer_id``: the chat is theirs, and now their current chat.
    ``recent``: the last lines said in it, oldest first, as (sender, text); ``offer_message``:
    where a channel showed the offer (Telegram's ``"chat:message"``), to take its buttons
    away. What a channel needs to open the chat, without reading it back."""

    kind = "assigned"
    ticket_id: int
    offer_id: str
    customer_name: str
    recent: tuple[tuple[str, str], ...] = ()
    offer_message: str | None = None


@dataclass(frozen=True)
class ChatMessage(_ToAgent):
    """A line of a chat the agent holds, already in the transcript, for every place the agent
    works from: the customer's, or the agent's own (``origin``: where they wrote it)."""

    kind = "chat_message"
    ticket_id: int
    message_id: int
    sender: Literal["customer", "agent"]
    origin: str | None = None
    said: SaidLine | None = None  # the line as stored, when the sender had it at hand


@dataclass(frozen=True)
class StatusChanged(_ToAgent):
    """The agent changed their own status, for their other places."""

    kind = "status_changed"
    status: str


@dataclass(frozen=True)
class SetAway(_ToAgent):
    """The agent missed ``missed`` offers in a row and was set away."""

    kind = "set_away"
    missed: int


@dataclass(frozen=True)
class IdleAway(_ToAgent):
    """No activity in the agent's console for ``idle_s`` seconds: they were set away (their
    open chats stay theirs)."""

    kind = "idle_away"
    idle_s: float


@dataclass(frozen=True)
class ConsoleGone(_ToAgent):
    """The agent's last console closed (on every process) and did not come back within the
    grace: they were set offline."""

    kind = "console_gone"


@dataclass(frozen=True)
class CloseOrTransfer(_ToAgent):
    """The agent went offline with open chats: close or transfer them before the grace ends."""

    kind = "close_or_transfer"
    ticket_ids: tuple[int, ...]


@dataclass(frozen=True)
class ChatsRequeued(_ToAgent):
    """The grace ended: the agent's open chats went back to the queue."""

    kind = "chats_requeued"
    ticket_ids: tuple[int, ...]


@dataclass(frozen=True)
class CustomerLeft(_ToAgent):
    """The customer of the agent's chat can no longer be reached (blocked the bot)."""

    kind = "customer_left"
    ticket_id: int


@dataclass(frozen=True)
class TakenOver(_ToAgent):
    """A supervisor (``by_name``) took over the agent's chat: it is no longer theirs."""

    kind = "taken_over"
    ticket_id: int
    by_name: str


AgentNotice = (
    OfferMade
    | OfferEnded
    | Assigned
    | ChatMessage
    | StatusChanged
    | SetAway
    | IdleAway
    | ConsoleGone
    | CloseOrTransfer
    | ChatsRequeued
    | CustomerLeft
    | TakenOver
)

# ---------------------------------------------------------------------- supervisors


@dataclass(frozen=True)
class _ToSupervisors:
    kind: ClassVar[str]


@dataclass(frozen=True)
class _SlaNotice(_ToSupervisors):
    ticket_id: int
    target: str  # first_response | resolution
    due_at: datetime
    priority: str
    assignee_id: int | None


@dataclass(frozen=True)
class SlaWarning(_SlaNotice):
    """A ticket's SLA target is near."""

    kind = "sla_warning"


@dataclass(frozen=True)
class SlaBreached(_SlaNotice):
    """A ticket missed its SLA target."""

    kind = "sla_breached"


@dataclass(frozen=True)
class AgentSetAway(_ToSupervisors):
    kind = "agent_set_away"
    agent_id: int
    name: str
    missed: int


@dataclass(frozen=True)
class LowRating(_ToSupervisors):
    """A customer rated a chat 1 or 2 stars."""

    kind = "low_rating"
    ticket_id: int
    stars: int
    agent_id: int | None
    agent_name: str  # "" when no agent had it


@dataclass(frozen=True)
class LowRatingComment(_ToSupervisors):
    kind = "low_rating_comment"
    ticket_id: int
    stars: int
    comment: str


SupervisorNotice = SlaWarning | SlaBreached | AgentSetAway | LowRating | LowRatingComment

Notice = CustomerNotice | AgentNotice | SupervisorNotice
