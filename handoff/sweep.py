"""Close what has gone quiet, set-based, in bounded batches, outside the engine's lock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from handoff.engine import Engine
from handoff.tickets import State
from storage.events import record_events
from storage.models import Message, Ticket


async def sweep(engine: Engine, batch: int = 500) -> int:
    """Close, each batch in its own short transaction (chats go on meanwhile):

    * self-service tickets with no message for ``bot_idle_close_s`` (resolution ``idle``), so
      "open now" means open and the next message starts a new contact;
    * resolved tickets whose reopen window is over.

    Neither kind is in the ACD's memory, so the lock is not needed; each statement re-checks
    the state, so a ticket that moved on meanwhile is left alone. Returns how many closed."""
    config = engine.config
    now = engine.clock.now()
    engine.next_idle_sweep = now.timestamp() + config.idle_sweep_s
    quiet_since = now - timedelta(seconds=config.bot_idle_close_s)
    recent = (
        select(Message.id)
        .where(Message.ticket_id == Ticket.id, Message.created_at >= quiet_since)
        .exists()
    )
    idle = (Ticket.state == State.BOT, Ticket.created_at < quiet_since, ~recent)
    over = (
        Ticket.state == State.RESOLVED,
        Ticket.resolved_at <= now - timedelta(seconds=config.reopen_window_s),
    )
    closed = 0
    for where, values, data in (
        (idle, {"resolution": func.coalesce(Ticket.resolution, "idle")}, {"reason": "idle"}),
        (over, {}, {}),
    ):
        while True:
            async with engine.db.transaction() as session:
                # Two statements, each on an index: which ids (no ORDER BY, so the planner
                # may read the state index), then the update of those rows with the
                # condition checked again (a ticket may have moved on meanwhile).
                ids = list(
                    (await session.execute(select(Ticket.id).where(*where).limit(batch)))
                    .scalars()
                    .all()
                )
                done = (
                    (
                        await session.execute(
                            update(Ticket)
                            .where(Ticket.id.in_(ids), *where)
                            .values(state=State.CLOSED, closed_at=now, **values)
                            .returning(Ticket.id)
                            .execution_options(synchronize_session=False)
                        )
                    )
                    .scalars()
                    .all()
                    if ids
                    else []
                )
                await record_events(session, "ticket_closed", now, done, **data)
            closed += len(done)
            if len(ids) < batch:
                break
    return closed
