"""A harness for driving the handoff service on virtual time in tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from base.clock import VirtualClock
from handoff.acd import AcdConfig
from handoff.agents import add_agent
from handoff.customers import set_tier, touch_customer
from handoff.port import MemoryPort
from handoff.service import HandoffConfig, HandoffService
from handoff.tickets import current_ticket, record_message
from storage.db import Database
from storage.models import Event, Offer, Ticket


class Harness:
    def __init__(self, db: Database, clock: VirtualClock, config: HandoffConfig) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.port = MemoryPort()
        self.service = HandoffService(db, clock, self.port, config)
        self._customers = 0

    @classmethod
    async def create(cls, db: Database, clock: VirtualClock, **overrides: Any) -> Harness:
        acd_fields = {
            k: overrides.pop(k) for k in list(overrides) if k in AcdConfig.__annotations__
        }
        config = HandoffConfig(acd=AcdConfig(**acd_fields), **overrides)
        harness = cls(db, clock, config)
        await harness.service.start(run_timers=False)
        return harness

    async def restart(self) -> HandoffService:
        """A new service on the same database, as after a crash."""
        self.service = HandoffService(self.db, self.clock, self.port, self.config)
        await self.service.start(run_timers=False)
        return self.service

    def with_config(self, **changes: Any) -> HandoffConfig:
        return replace(self.config, **changes)

    async def customer(
        self, text: str = "I need help", *, tier: str = "normal", language: str = "en"
    ) -> int:
        """A customer who wrote to the bot; returns their ticket id (state ``bot``)."""
        self._customers += 1
        now = self.clock.now()
        async with self.db.transaction() as session:
            customer = await touch_customer(
                session,
                channel="test",
                external_id=str(self._customers),
                name=f"Customer {self._customers}",
                username=None,
                language_code=language,
                default_language="en",
                at=now,
            )
            if tier != "normal":
                await set_tier(session, customer, tier, now)
            ticket = await current_ticket(session, customer, now)
            await record_message(session, ticket, sender="customer", text=text, at=now)
            return ticket.id

    async def ask(self, text: str = "I need help", **kwargs: Any) -> int:
        ticket_id = await self.customer(text, **kwargs)
        await self.service.request_human(ticket_id, reason="test", text=text)
        return ticket_id

    async def agent(self, name: str, *, online: bool = True, **kwargs: Any) -> int:
        async with self.db.transaction() as session:
            agent = await add_agent(session, name=name, at=self.clock.now(), **kwargs)
            agent_id = agent.id
        if online:
            await self.service.set_agent_status(agent_id, "available")
        return agent_id

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.service.tick()

    async def ticket(self, ticket_id: int) -> Ticket:
        async with self.db.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            return ticket

    async def events(self, ticket_id: int | None = None) -> list[str]:
        async with self.db.transaction() as session:
            query = select(Event.kind).order_by(Event.id)
            if ticket_id is not None:
                query = query.where(Event.ticket_id == ticket_id)
            return list((await session.execute(query)).scalars().all())

    async def offers(self, ticket_id: int | None = None) -> list[Offer]:
        async with self.db.transaction() as session:
            query = select(Offer).order_by(Offer.made_at, Offer.id)
            if ticket_id is not None:
                query = query.where(Offer.ticket_id == ticket_id)
            return list((await session.execute(query)).scalars().all())

    def last_offer(self, agent_id: int | None = None) -> Any:
        offers = self.port.offers(agent_id)
        assert offers, f"no offer was sent{'' if agent_id is None else f' to {agent_id}'}"
        return offers[-1]
