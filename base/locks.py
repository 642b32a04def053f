"""Per-key locks that do not outlive their use.

``async with locks[key]:`` serialises work on one key (a web visitor, a Telegram chat) while
other keys go on concurrently. A lock exists only while someone holds or waits for it, so the
map does not grow with every key ever seen. Waiters are served in arrival order (asyncio.Lock
is fair), which keeps one chat's messages in the order they came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holders and waiters


class _KeyLock:
    """The lock of one key, as an async context manager."""

    def __init__(self, owner: KeyedLocks, key: Hashable) -> None:
        self.owner, self.key = owner, key

    async def __aenter__(self) -> None:
        entry = self.owner.held.setdefault(self.key, _Entry())
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:
            self._leave(entry)
            raise

    async def __aexit__(self, *_: object) -> None:
        entry = self.owner.held[self.key]
        entry.lock.release()
        self._leave(entry)

    def _leave(self, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self.owner.held[self.key]


class KeyedLocks:
    """One lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self.held: dict[Hashable, _Entry] = {}

    def __getitem__(self, key: Hashable) -> _KeyLock:
        return _KeyLock(self, key)

    def __len__(self) -> int:
        return len(self.held)
