"""Canned replies: texts agents insert (``/t SHORTCUT`` on Telegram, the list in the web
console, which puts the text in the reply box to edit), with placeholders filled in.

Placeholders: ``{name}`` (the customer's name), ``{agent}`` (the agent's name), ``{ticket}``
(the ticket number). Anything else in braces is left as written. When the customer's name is
not known (none given, or the web chat's stand-in "Web visitor 1a2b"), ``{name}`` is left out
with the space before it, so "Hello {name}, thanks" reads "Hello, thanks": a neutral greeting,
the same on every channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import record_event
from storage.models import Agent, CannedReply, Customer, Ticket

SHORTCUT_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
PLACEHOLDER_RE = re.compile(r"\{(name|agent|ticket)\}")
# The stand-in name the web chat gives a visitor who did not say theirs (web/chat.py).
STAND_IN_NAME_RE = re.compile(r"^Web visitor [0-9a-f]{1,8}$")
# "{name}" with the blanks before it; a leading comma left over ("{name}, your order...").
UNKNOWN_NAME_RE = re.compile(r"[ \t]*\{name\}")
LEADING_COMMA_RE = re.compile(r"^[ \t]*[,،][ \t]*")
MAX_TEXT = 4000


class CannedError(ValueError):
    """A canned reply that cannot be stored; the message says why."""


def name_known(name: str | None) -> bool:
    """A name the customer gave (not empty, not the web chat's stand-in)."""
    cleaned = (name or "").strip()
    return bool(cleaned) and not STAND_IN_NAME_RE.match(cleaned)


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill the known placeholders; leave any other brace text untouched. A ``name`` that is
    missing or not known (:func:`name_known`) drops ``{name}`` with the blanks before it."""
    name = values.get("name")
    if "name" in values and not name_known(None if name is None else str(name)):
        lines = [UNKNOWN_NAME_RE.sub("", line) for line in text.split("\n")]
        text = "\n".join(LEADING_COMMA_RE.sub("", line) for line in lines)
    return PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


async def add_canned(
    session: AsyncSession, shortcut: str, text: str, at: datetime, lang: str = ""
) -> CannedReply:
    shortcut = shortcut.strip().lower()
    if not SHORTCUT_RE.match(shortcut):
        raise CannedError("a shortcut uses only a-z, 0-9, _ and - (at most 64)")
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise CannedError(f"the text must have 1 to {MAX_TEXT} characters")
    if lang not in ("", "en", "ar"):
        raise CannedError("lang must be en, ar or empty (any)")
    row = (
        await session.execute(
            select(CannedReply).where(CannedReply.shortcut == shortcut, CannedReply.lang == lang)
        )
    ).scalar_one_or_none()
    if row is None:
        row = CannedReply(shortcut=shortcut, lang=lang, text=text, created_at=at, updated_at=at)
        session.add(row)
    else:
        row.text, row.updated_at = text, at
    record_event(session, "canned_saved", at, actor="admin", shortcut=shortcut, lang=lang)
    return row


async def list_canned(session: AsyncSession) -> Sequence[CannedReply]:
    query = select(CannedReply).order_by(CannedReply.shortcut, CannedReply.lang)
    return (await session.execute(query)).scalars().all()


async def find_canned(session: AsyncSession, shortcut: str, lang: str) -> CannedReply | None:
    """The reply for the customer's language, else the one for any language."""
    rows = (
        await session.execute(
            select(CannedReply).where(
                CannedReply.shortcut == shortcut.strip().lower(), CannedReply.lang.in_((lang, ""))
            )
        )
    ).scalars()
    by_lang = {r.lang: r for r in rows}
    return by_lang.get(lang) or by_lang.get("")


async def remove_canned(session: AsyncSession, shortcut: str, at: datetime) -> int:
    rows = (
        (
            await session.execute(
                select(CannedReply).where(CannedReply.shortcut == shortcut.strip().lower())
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        await session.delete(row)
    if rows:
        record_event(session, "canned_removed", at, actor="admin", shortcut=shortcut)
    return len(rows)


async def canned_for(
    session: AsyncSession, shortcut: str, ticket_id: int, agent_id: int
) -> str | None:
    """The canned reply ``shortcut`` in the ticket's customer's language, filled in for that
    customer and agent ({name}, {agent}, {ticket}); None when there is no such reply."""
    ticket = await session.get(Ticket, ticket_id)
    agent = await session.get(Agent, agent_id)
    customer = await session.get(Customer, ticket.customer_id) if ticket else None
    if customer is None or agent is None:
        return None
    reply = await find_canned(session, shortcut, customer.language)
    if reply is None:
        return None
    return render(reply.text, {"name": customer.name, "agent": agent.name, "ticket": ticket_id})
