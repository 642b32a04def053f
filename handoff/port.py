"""The port: how ``handoff/`` talks to people without knowing the channel.

The handoff engine decides *what* must be said (a customer's place in the queue, an offer to an
agent, an offer withdrawn, an SLA warning for supervisors); a channel adapter (Telegram, the web
chat) implements :class:`Port` and decides *how*: texts, languages, keyboards. Messages are
plain dataclasses with a ``kind`` and the facts the text needs.

The service calls the port only after its transaction has committed, so a slow or failing
channel never holds a database lock, and a failed delivery never undoes a state change.
:class:`MemoryPort` records everything, for tests and simulations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomerNotice:
    """Something the customer must be told.

    kinds: ``queued`` (position, wait_s or None when an agent is free), ``position``
    (an update), ``no_agents`` (nobody online), ``outside_hours`` (opens_at, hours),
    ``agent_joined`` (agent_name), ``requeued`` (their agent left), ``transferred``,
    ``handed_back`` (the bot takes over again), ``resolved`` (ask for a rating),
    ``cancelled``, ``reopened``, ``agent_message`` (message_id, origin: an agent's message,
    already in the transcript, for the customer's channel to carry).
    """

    kind: str
    ticket_id: int
    customer_id: int
    channel: str
    external_id: str
    language: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OfferNotice:
    """An offer for an agent: the facts the agent needs to decide, and its deadline."""

    offer_id: str
    agent_id: int
    ticket_id: int
    priority: str
    category: str
    language: str
    customer_name: str
    waiting_s: float
    deadline: datetime
    last_messages: tuple[str, ...]


@dataclass(frozen=True)
class AgentNotice:
    """Something an agent must be told.

    kinds: ``offer_withdrawn`` (offer_id, reason: expired | taken | withdrawn | cancelled),
    ``set_away`` (missed), ``close_or_transfer`` (ticket_ids), ``chats_requeued`` (ticket_ids),
    ``assigned`` (ticket_id, transferred), ``customer_left`` (ticket_id), ``chat_message``
    (ticket_id, message_id, sender customer | agent, origin: a line of a chat the agent
    holds, already in the transcript, for every place the agent works from), ``status_changed``
    (status: the agent's own change, for their other places).
    """

    kind: str
    agent_id: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SupervisorNotice:
    """For supervisors: ``sla_warning`` / ``sla_breached`` (ticket_id, target, due_at),
    ``agent_set_away`` (agent_id, missed), ``queue_without_agents``."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class Port(Protocol):
    async def notify_customer(self, notice: CustomerNotice) -> None: ...

    async def offer_to_agent(self, offer: OfferNotice) -> None: ...

    async def notify_agent(self, notice: AgentNotice) -> None: ...

    async def notify_supervisors(self, notice: SupervisorNotice) -> None: ...


Outgoing = CustomerNotice | OfferNotice | AgentNotice | SupervisorNotice


async def deliver(port: Port, item: Outgoing) -> None:
    """Send one outgoing item through the port."""
    if isinstance(item, CustomerNotice):
        await port.notify_customer(item)
    elif isinstance(item, OfferNotice):
        await port.offer_to_agent(item)
    elif isinstance(item, AgentNotice):
        await port.notify_agent(item)
    else:
        await port.notify_supervisors(item)


class MemoryPort:
    """A port that keeps what it was asked to say (tests, simulation)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def notify_customer(self, notice: CustomerNotice) -> None:
        self.sent.append(notice)

    async def offer_to_agent(self, offer: OfferNotice) -> None:
        self.sent.append(offer)

    async def notify_agent(self, notice: AgentNotice) -> None:
        self.sent.append(notice)

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        self.sent.append(notice)

    def customer(self, kind: str | None = None) -> list[CustomerNotice]:
        return [n for n in self.sent if isinstance(n, CustomerNotice) and kind in (None, n.kind)]

    def offers(self, agent_id: int | None = None) -> list[OfferNotice]:
        return [
            n for n in self.sent if isinstance(n, OfferNotice) and agent_id in (None, n.agent_id)
        ]

    def agent(self, kind: str | None = None, agent_id: int | None = None) -> list[AgentNotice]:
        return [
            n
            for n in self.sent
            if isinstance(n, AgentNotice)
            and kind in (None, n.kind)
            and agent_id in (None, n.agent_id)
        ]

    def supervisors(self, kind: str | None = None) -> list[SupervisorNotice]:
        return [n for n in self.sent if isinstance(n, SupervisorNotice) and kind in (None, n.kind)]

    def clear(self) -> None:
        self.sent.clear()


class PortRouter:
    """The port the service talks to: customer notices go to the adapter of the ticket's
    channel; agent and supervisor messages go to every agent-facing adapter (an agent may work
    from Telegram and the web console at once). Without an adapter, a message is logged."""

    def __init__(self) -> None:
        self.customer_ports: dict[str, Port] = {}
        self.agent_ports: list[Port] = []
        self.watchers: list[Port] = []

    def add_channel(self, channel: str, port: Port, *, serves_agents: bool = True) -> None:
        self.customer_ports[channel] = port
        if serves_agents and port not in self.agent_ports:
            self.agent_ports.append(port)

    def add_agent_port(self, port: Port) -> None:
        """An adapter that serves only agents (the web console). It also sees every customer
        notice, without saying it to anyone: a ticket's change may change an agent's view."""
        if port not in self.agent_ports:
            self.agent_ports.append(port)
        if port not in self.watchers:
            self.watchers.append(port)

    async def notify_customer(self, notice: CustomerNotice) -> None:
        port = self.customer_ports.get(notice.channel)
        if port is None:
            _log.warning("no adapter for channel %r: %s not sent", notice.channel, notice.kind)
        else:
            await port.notify_customer(notice)
        for watcher in self.watchers:
            await watcher.notify_customer(notice)

    async def offer_to_agent(self, offer: OfferNotice) -> None:
        for port in self.agent_ports:
            await port.offer_to_agent(offer)

    async def notify_agent(self, notice: AgentNotice) -> None:
        for port in self.agent_ports:
            await port.notify_agent(notice)

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        for port in self.agent_ports:
            await port.notify_supervisors(notice)
