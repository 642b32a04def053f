"""Telegram updates handled concurrently across chats, in order within one chat.

PTB handles one update at a time unless told otherwise; then each update waited for the Bot
API's answer to the one before it (with a 50 ms Bot API, ~18 updates a second at most). With
:class:`PerChatUpdateProcessor` updates from different chats run side by side (up to
``max_concurrent_updates``), while the updates of one chat wait for each other in arrival
order, so a customer's messages, and an agent's, are handled in the order they were sent.
A chat's waiting updates do not take a slot of the concurrency limit: one busy chat cannot
hold up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from base.locks import KeyedLocks

UNBOUNDED = 2**30  # PTB's semaphore: never the one that waits


def chat_key(update: object) -> Hashable | None:
    """The chat an update belongs to (None: an update of no chat, handled freely)."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """PTB's own semaphore is acquired before :meth:`do_process_update` and cannot be moved
    (``process_update`` is final), so it is left wide open and the real limit is a semaphore
    taken after the chat's turn has come."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(UNBOUNDED)
        self.limit = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self.chats = KeyedLocks()
        self.running = 0
        self.peak = 0  # the most updates handled at once so far (tests, benchmarks)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            async with self._slots:
                await self._run(coroutine)
            return
        async with self.chats[key], self._slots:
            await self._run(coroutine)

    async def _run(self, coroutine: Awaitable[Any]) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await coroutine
        finally:
            self.running -= 1

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
