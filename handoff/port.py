"""The port: how ``handoff/`` talks to people without knowing the channel.

The handoff engine decides *what* must be said, as typed notices (:mod:`handoff.notices`: a
customer's place in the queue, an offer to an agent, an SLA warning for supervisors...); a
channel adapter (Telegram, the web chat, the agent console) implements :class:`Port`, one method
per audience, and decides *how*: texts, languages, keyboards.

The service calls the port only after its transaction has committed, so a slow or failing
channel never holds a database lock, and a failed delivery never undoes a state change.
:class:`MemoryPort` records everything, for tests and simulations.
"""

from __future__ import annotations

import logging
from typing import Protocol, TypeVar

from handoff.notices import (
    AgentNotice,
    CustomerNotice,
    Notice,
    OfferMade,
    SupervisorNotice,
)

_log = logging.getLogger(__name__)

Outgoing = Notice
N = TypeVar("N")


class Port(Protocol):
    async def notify_customer(self, notice: CustomerNotice) -> None: ...

    async def notify_agent(self, notice: AgentNotice) -> None: ...

    async def notify_supervisors(self, notice: SupervisorNotice) -> None: ...


async def deliver(port: Port, item: Outgoing) -> None:
    """Send one notice through the port, by audience."""
    if isinstance(item, CustomerNotice):
        await port.notify_customer(item)
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

    async def notify_agent(self, notice: AgentNotice) -> None:
        self.sent.append(notice)

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        self.sent.append(notice)

    def of(self, kind: type[N], agent_id: int | None = None) -> list[N]:
        """The notices of one class, in order; with ``agent_id``, those about that agent."""
        return [
            n
            for n in self.sent
            if isinstance(n, kind) and agent_id in (None, getattr(n, "agent_id", None))
        ]

    def offers(self, agent_id: int | None = None) -> list[OfferMade]:
        return self.of(OfferMade, agent_id)

    def supervisors(self) -> list[SupervisorNotice]:
        return [n for n in self.sent if isinstance(n, SupervisorNotice)]

    def clear(self) -> None:
        self.sent.clear()


class PortRouter:
    """The port the service talks to: customer notices go to the adapter of the ticket's
    channel; agent and supervisor notices go to every agent-facing adapter (an agent may work
    from Telegram and the web console at once). Without an adapter, a notice is logged."""

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
        port = self.customer_ports.get(notice.to.channel)
        if port is None:
            _log.warning("no adapter for channel %r: %s not sent", notice.to.channel, notice.kind)
        else:
            await port.notify_customer(notice)
        for watcher in self.watchers:
            await watcher.notify_customer(notice)

    async def notify_agent(self, notice: AgentNotice) -> None:
        for port in self.agent_ports:
            await port.notify_agent(notice)

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        for port in self.agent_ports:
            await port.notify_supervisors(notice)
