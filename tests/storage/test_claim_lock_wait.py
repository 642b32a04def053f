"""A claim does not deadlock with a transaction ending the same agent's offer (PostgreSQL).

Found by ``bench.scaleout`` on a quiet machine: line latencies with a p99 of about a second in
two runs of three. PostgreSQL's log showed deadlocks between one process's claim (its insert of
an agent's new pending offer, waiting in the unique index for the other transaction, which was
ending that agent's previous offer) and the other process's update of the agent row (waiting for
the claim's lock on it). PostgreSQL breaks such a cycle only after ``deadlock_timeout`` (1 s),
and everything behind both transactions waited. Now a claim waits at most
``handoff.effects.CLAIM_WAIT_MS`` there and is then lost (the engine resyncs), so the other
transaction goes on and nobody is aborted. The cycle is built here with two real transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from handoff.acd import Offer as AcdOffer
from handoff.acd import Offered
from handoff.agents import add_agent
from handoff.effects import claim
from handoff.schedule import ts
from storage.models import Offer, Ticket
from tests.webhooks.test_webhooks_flow import open_ticket

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_services(pg_url: str) -> AsyncIterator[Services]:
    settings = load_settings(env={"SANAD_DATABASE_URL": pg_url, "SANAD_FAQ_SEMANTIC": "off"})
    svc = Services.create(settings, VirtualClock())
    await svc.start(run_timers=False)
    yield svc
    await svc.close()


async def _queued_ticket(services: Services, external_id: str) -> int:
    ticket_id = await open_ticket(services, external_id)
    async with services.db.transaction() as session:
        (await session.get(Ticket, ticket_id)).state = "queued"  # type: ignore[union-attr]
    return ticket_id


async def test_a_claim_gives_way_to_a_transaction_ending_the_agents_offer(
    pg_services: Services,
) -> None:
    services = pg_services
    now = services.clock.now()
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Ola", at=now)
        agent.status = "available"
        agent_id = agent.id
    earlier = await _queued_ticket(services, "c-1")
    wanted = await _queued_ticket(services, "c-2")
    async with services.db.transaction() as session:
        session.add(
            Offer(
                id="o-earlier",
                ticket_id=earlier,
                agent_id=agent_id,
                state="pending",
                made_at=now,
                deadline=now + timedelta(seconds=30),
            )
        )
        (await session.get(Ticket, earlier)).state = "offered"  # type: ignore[union-attr]

    ending = asyncio.Event()

    async def end_the_earlier_offer() -> None:
        """Another process: the agent's offer ends (its row first), then, once the claim
        waits for this transaction, the agent row (which the claim holds)."""
        async with services.db.engine.connect() as conn, conn.begin():
            await conn.execute(text("UPDATE offers SET state = 'expired' WHERE id = 'o-earlier'"))
            ending.set()
            for _ in range(400):  # until the claim's insert waits for this transaction
                waiting = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                )
                if waiting:
                    break
                await asyncio.sleep(0.005)
            await conn.execute(
                text("UPDATE agents SET updated_at = now() WHERE id = :a"), {"a": agent_id}
            )

    async def claim_the_agent() -> None:
        """This process: a new offer to the same agent (the row lock, then the insert)."""
        await ending.wait()
        async with services.db.transaction() as session, services.handoff.unit(session) as uow:
            offer = AcdOffer("o-new", wanted, agent_id, ts(now), ts(now) + 30)
            await claim(uow, Offered(offer, "normal"))

    outcomes = await asyncio.gather(
        end_the_earlier_offer(), claim_the_agent(), return_exceptions=True
    )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []  # nobody aborted
    async with services.db.transaction() as session:
        offers = dict((await session.execute(select(Offer.id, Offer.state))).all())
        wanted_state = (await session.get(Ticket, wanted)).state  # type: ignore[union-attr]
        pending = await session.scalar(
            select(func.count()).select_from(Offer).where(Offer.state == "pending")
        )
    # The claim was lost (the ticket waits for the engine's resync), the other side committed.
    assert offers == {"o-earlier": "expired"}
    assert wanted_state == "queued"
    assert pending == 0
