"""What this process last saw of each customer, to decide before an input's transaction
begins what it will need: whether a question will go to the bot (then it is prepared, the
query embedded, outside the transaction) and whether the input may hand off (then the handoff
engine's unit is entered right after BEGIN, the lock order of :mod:`handoff.engine`). Only
hints: the transaction decides; a question not prepared is matched inside it, and an input
that needs the unit after all raises :class:`NeedsUnit` and is run again with it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.services import Services
from conversation.keyboards import PRESS_RE
from conversation.outputs import Channel, Identity
from faq.person import wants_person
from faq.service import Prepared
from handoff.customers import language_from_code
from handoff.engine import NeedsLock, Unit
from handoff.tickets import State
from storage.retry import retrying

log = logging.getLogger(__name__)

R = TypeVar("R")

WITH_PEOPLE = (State.QUEUED, State.OFFERED, State.ASSIGNED, State.PENDING)


class _Hints:
    """What this process last saw of a customer (their ticket's state, language, and whether
    a rating comment is awaited), to decide before the transaction whether a question will go
    to the bot and so be worth preparing (the query embedding), and whether the input may hand
    off (:func:`may_hand_off`). Only a hint: the transaction decides, a question not prepared
    is matched inside it, and an input that needs the handoff unit after all is run again
    with it."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[str, str], tuple[str, str, bool]] = OrderedDict()

    def get(self, channel: Channel, external_id: str) -> tuple[str, str, bool] | None:
        return self._seen.get((channel.name, external_id))

    def put(
        self,
        channel: Channel,
        external_id: str,
        state: str,
        language: str,
        *,
        awaiting: bool = False,
    ) -> None:
        key = (channel.name, external_id)
        self._seen.pop(key, None)
        self._seen[key] = (state, language, awaiting)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)


HINTS = _Hints()


async def prepare(
    services: Services, channel: Channel, identity: Identity, text: str
) -> Prepared | None:
    """The FAQ's decision on ``text``, outside any transaction, unless the customer waits for
    or talks with a person (as far as this process saw last: then a question goes to the bot
    only if an agent closed the chat meanwhile, and is matched inside the transaction)."""
    seen = HINTS.get(channel, identity.external_id)
    if seen is not None and seen[0] in WITH_PEOPLE:
        return None
    language = (
        seen[1]
        if seen is not None
        else language_from_code(identity.language_code, services.settings.default_language)
    )
    return await services.faq.prepare(text, language)


class NeedsUnit(Exception):
    """An input begun without the handoff unit (the hints said it would not hand off) needs a
    handoff action after all: its transaction is rolled back and the input run again, with the
    unit entered right after BEGIN (entering it later could deadlock, :mod:`handoff.engine`)."""


# What the customer may say or press to reach the handoff engine from a chat with the bot.
_HANDOFF_WORDS = ("/human", "/cancel")


def may_hand_off(channel: Channel, identity: Identity, text: str, press: bool = False) -> bool:
    """Whether an input may run a handoff action, as far as this process saw last (then the
    handoff unit is entered with the transaction): a customer not seen yet, one who waits for
    or talks with a person, one whose rating comment is awaited, a request for a person, a
    cancel, the stars. A chat with the bot (most messages) runs without the engine's lock."""
    seen = HINTS.get(channel, identity.external_id)
    if seen is None:
        return True
    state, _language, awaiting = seen
    if with_people(state, awaiting):
        return True
    return _asks_handoff(text, press)


def chat_line(channel: Channel, identity: Identity, text: str) -> bool:
    """Whether an input is, as far as this process saw last, a plain line of a live chat: the
    customer's ticket is with an agent or waits for one, no rating comment is awaited, and the
    text asks for nothing of the handoff engine. It then runs in a chat unit, without the
    engine's lock (:meth:`handoff.engine.Engine.chat_unit`): relayed to the agent, or kept for
    them. Only a hint: an input that needs the lock after all raises
    :class:`~handoff.engine.NeedsLock` and is run again with it (issue 15)."""
    seen = HINTS.get(channel, identity.external_id)
    if seen is None:
        return False
    state, _language, awaiting = seen
    return (
        not awaiting
        and state in (State.ASSIGNED, State.QUEUED, State.OFFERED)
        and not _asks_handoff(text, False)
    )


def with_people(state: str, awaiting: bool) -> bool:
    """A ticket in this state (or a rating comment awaited) needs the handoff unit for any
    input: the customer waits for or talks with a person, or is rating one."""
    return awaiting or state not in (State.BOT, State.RESOLVED, State.CLOSED)


def _asks_handoff(text: str, press: bool) -> bool:
    if press:
        match = PRESS_RE.match(text)
        return match is not None and bool(match["human"] or match["cancel"] or match["rate_t"])
    word = text.split()[0].split("@")[0].lower() if text.strip() else ""
    return word in _HANDOFF_WORDS or wants_person(text)


def unseen_question(channel: Channel, identity: Identity, text: str) -> bool:
    """A message from a customer this process has not seen (a first contact, most often) that
    does not itself ask for the handoff engine: :func:`may_hand_off` enters the unit for it
    only because the ticket's state is unknown. The caller may begin without the unit and,
    once the transaction has read the customer and ticket, raise :class:`NeedsUnit` when
    :func:`with_people` says so (before writing anything): a first contact (no ticket with
    people) then runs without the engine's lock, and a returning customer this process did
    not see waiting costs one rolled back read (issue 15)."""
    return HINTS.get(channel, identity.external_id) is None and not _asks_handoff(text, False)


async def in_transaction(
    services: Services,
    unit: bool,
    body: Callable[[AsyncSession, Unit | None], Awaitable[R]],
    *,
    chat: bool = False,
) -> R:
    """``body`` in one transaction, with the handoff unit entered right after BEGIN when
    ``unit`` (or when the body found it needs it: then run again, with it); with ``chat``, a
    chat unit (no engine lock: :func:`chat_line`) instead, and the full unit when the body
    needs the lock after all. A transaction the database aborted to break a deadlock is run
    again (:func:`storage.retry.retrying`): the input is not lost."""
    if not unit:
        try:
            return await retrying(lambda: _without_unit(services, body), what="a customer input")
        except NeedsUnit:
            log.debug("an input needed the handoff unit after all: run again with it")
    elif chat:
        try:
            return await retrying(
                lambda: _in_unit(services, body, services.handoff.chat_unit), what="a chat line"
            )
        except NeedsLock:
            log.debug("a chat line needed the engine's lock after all: run again with it")
    return await retrying(
        lambda: _in_unit(services, body, services.handoff.unit), what="a customer input"
    )


async def _without_unit(
    services: Services, body: Callable[[AsyncSession, Unit | None], Awaitable[R]]
) -> R:
    async with services.db.transaction() as session:
        return await body(session, None)


async def _in_unit(
    services: Services,
    body: Callable[[AsyncSession, Unit | None], Awaitable[R]],
    opened: Callable[[AsyncSession], AbstractAsyncContextManager[Unit]],
) -> R:
    """``body`` in a transaction with a handoff unit (``opened``) entered right after BEGIN."""
    async with services.db.transaction() as session, opened(session) as uow:
        return await body(session, uow)
