"""The JSON a webhook receives, built from outbox rows at fan-out (docs/webhooks.md lists every
type). Every payload has ``id`` (the same for every endpoint and every retry: de-duplicate on
it), ``type``, ``created_at`` (when it happened, ISO 8601 UTC), ``ticket`` (the ticket as it is
at fan-out, normally within a second of the event; ``null`` for ``ping``) and ``data``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Agent, Customer, Event, Message, Ticket, WebhookOutbox
from webhooks.outbox import EVENT_TYPES, MESSAGE_TYPE, PING_TYPE


@dataclass(frozen=True)
class Payload:
    id: str
    type: str
    body: str  # the JSON text, sent as is on every attempt


def iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def ticket_json(ticket: Ticket, customer: Customer | None) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "channel": ticket.channel,
        "state": ticket.state,
        "priority": ticket.priority,
        "category": ticket.category,
        "language": ticket.language,
        "tags": list(ticket.tags or []),
        "assignee_id": ticket.assignee_id,
        "reopened_count": ticket.reopened_count,
        "created_at": iso(ticket.created_at),
        "resolved_at": iso(ticket.resolved_at),
        "customer": None
        if customer is None
        else {
            "id": customer.id,
            "channel": customer.channel,
            "name": customer.name,
            "language": customer.language,
        },
    }


def ping(at: datetime) -> Payload:
    event_id = f"ping_{uuid.uuid4().hex[:16]}"
    body = {
        "id": event_id,
        "type": PING_TYPE,
        "created_at": iso(at),
        "ticket": None,
        "data": {"message": "a test delivery from Sanad"},
    }
    return Payload(event_id, PING_TYPE, dump(body))


async def build(session: AsyncSession, rows: Sequence[WebhookOutbox]) -> list[Payload]:
    """The payloads of ``rows`` in their order (a row whose source is gone is left out)."""
    event_ids = [r.source_id for r in rows if r.source == "event"]
    message_ids = [r.source_id for r in rows if r.source == "message"]
    events = {
        e.id: e
        for e in (await session.execute(select(Event).where(Event.id.in_(event_ids)))).scalars()
    }
    messages = {
        m.id: m
        for m in (
            await session.execute(select(Message).where(Message.id.in_(message_ids)))
        ).scalars()
    }
    ticket_ids = {e.ticket_id for e in events.values() if e.ticket_id is not None}
    ticket_ids |= {m.ticket_id for m in messages.values()}
    tickets = {
        t.id: t
        for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ticket_ids)))).scalars()
    }
    customer_ids = {t.customer_id for t in tickets.values()}
    customers = {
        c.id: c
        for c in (
            await session.execute(select(Customer).where(Customer.id.in_(customer_ids)))
        ).scalars()
    }
    agent_ids = {
        int(e.data["agent_id"])
        for e in events.values()
        if isinstance((e.data or {}).get("agent_id"), int)
    } | {t.assignee_id for t in tickets.values() if t.assignee_id is not None}
    agents = {
        a.id: a.name
        for a in (await session.execute(select(Agent).where(Agent.id.in_(agent_ids)))).scalars()
    }

    def ticket_of(ticket_id: int | None) -> dict[str, Any] | None:
        ticket = tickets.get(ticket_id) if ticket_id is not None else None
        if ticket is None:
            return None
        return ticket_json(ticket, customers.get(ticket.customer_id))

    out: list[Payload] = []
    for row in rows:
        if row.source == "event" and (ev := events.get(row.source_id)) is not None:
            data: dict[str, Any] = {"kind": ev.kind, "actor": ev.actor, **(ev.data or {})}
            agent_id = data.get("agent_id")
            if isinstance(agent_id, int):
                data["agent"] = {"id": agent_id, "name": agents.get(agent_id)}
            out.append(
                _payload(
                    f"evt_{ev.id}",
                    EVENT_TYPES[ev.kind],
                    ev.created_at,
                    ticket_of(ev.ticket_id),
                    data,
                )
            )
        elif row.source == "message" and (m := messages.get(row.source_id)) is not None:
            data = {
                "message": {
                    "id": m.id,
                    "sender": m.sender,
                    "kind": m.kind,
                    "text": m.text,
                }
            }
            out.append(
                _payload(f"msg_{m.id}", MESSAGE_TYPE, m.created_at, ticket_of(m.ticket_id), data)
            )
    return out


def _payload(
    event_id: str, type_: str, at: datetime, ticket: dict[str, Any] | None, data: dict[str, Any]
) -> Payload:
    body = {"id": event_id, "type": type_, "created_at": iso(at), "ticket": ticket, "data": data}
    return Payload(event_id, type_, dump(body))
