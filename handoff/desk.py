"""What the agent side writes besides the handoff actions: an agent's current chat, and the
channels' bookkeeping of what they carried.

Each function is one transaction. A change of state writes its event (:func:`set_current_chat`,
:func:`leave_current_chat`); the bookkeeping (which Telegram message shows an offer, where a
carried message's copy went, the id a channel gave a sent line) records facts about delivery,
not decisions, so it writes no event, like the transcript lines it annotates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handoff.sent import Sent, record_sent_many
from handoff.tickets import is_with_agent
from storage.db import Database
from storage.events import record_event
from storage.models import Agent, Message, Offer, Relay, Ticket


async def set_current_chat(db: Database, agent_id: int, ticket_id: int, at: datetime) -> bool:
    """Make ``ticket_id`` the chat an agent's plain Telegram messages go to. Only a chat with
    that agent can be theirs: False (nothing changed) otherwise."""
    async with db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        ticket = await session.get(Ticket, ticket_id)
        if agent is None or ticket is None:
            return False
        if not is_with_agent(ticket.state, ticket.assignee_id, agent_id):
            return False
        if agent.current_ticket_id != ticket_id:
            agent.current_ticket_id = ticket_id
            record_event(
                session,
                "current_chat_set",
                at,
                ticket_id=ticket_id,
                actor=f"agent:{agent_id}",
                agent_id=agent_id,
            )
        return True


async def leave_current_chat(db: Database, agent_id: int, ticket_id: int, at: datetime) -> None:
    """The agent is done with ``ticket_id`` (closed, handed back, transferred): if it was their
    current chat, they have none now."""
    async with db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        if agent is None or agent.current_ticket_id != ticket_id:
            return
        agent.current_ticket_id = None
        record_event(
            session,
            "current_chat_cleared",
            at,
            ticket_id=ticket_id,
            actor=f"agent:{agent_id}",
            agent_id=agent_id,
        )


async def remember_offer_message(
    db: Database, offer_id: str, chat_id: str, message_id: int
) -> None:
    """The Telegram message that shows an offer, to take its buttons away when it ends."""
    async with db.transaction() as session:
        offer = await session.get(Offer, offer_id)
        if offer is not None:
            offer.agent_message = f"{chat_id}:{message_id}"


async def record_relays(
    db: Database,
    ticket_id: int,
    direction: str,
    source: tuple[int, int],
    targets: Sequence[tuple[int, int]],
    at: datetime,
) -> None:
    """A message carried between a customer and an agent: ``source`` (chat, message) went to
    each of ``targets``; a reply or an edit routes back through these rows."""
    if not targets:
        return
    async with db.transaction() as session:
        session.add_all(
            Relay(
                ticket_id=ticket_id,
                direction=direction,
                source_chat=str(source[0]),
                source_message=str(source[1]),
                target_chat=str(chat),
                target_message=str(message),
                created_at=at,
            )
            for chat, message in targets
        )


async def mark_delivered(db: Database, message_id: int, channel_message_id: str) -> None:
    """The id the customer's channel gave a stored line (an edit of it follows by this id)."""
    async with db.transaction() as session:
        message = await session.get(Message, message_id)
        if message is not None:
            message.channel_message_id = channel_message_id


async def record_sent(
    db: Database,
    ticket_id: int,
    sender: str,
    sent: Sequence[tuple[str, int]],
    at: datetime,
    *,
    kind: str = "text",
    meta: dict[str, Any] | None = None,
) -> None:
    """Lines a channel sent a customer (``sent``: each part's text and the channel's message
    id), kept in the ticket's transcript (nothing when there is no such ticket).

    Written by :func:`handoff.sent.record_sent_many` (one read of the ticket's customer, the
    parts in one multi-row ``INSERT`` with their search documents and webhooks' outbox rows),
    which also keeps many sends in one transaction; this runs after every answer the bot
    sends, so it loads no ORM ticket."""
    await record_sent_many(db, [Sent(ticket_id, sender, sent, at, kind, meta)])
