"""Passwords: argon2id through ``argon2-cffi``, and what a password must be.

Hashing parameters are argon2-cffi's defaults (RFC 9106's "low memory" choice): argon2id,
3 passes over 64 MiB with 4 lanes, a 16-byte random salt, a 32-byte hash. A stored hash names
its parameters, so raising them later rehashes each password at its owner's next login
(:func:`needs_rehash`). Hashing takes tens of milliseconds of CPU on purpose: callers run it in
a worker thread (:func:`hash_password`, :func:`verify_password` are coroutines), never on the
event loop, and never with a database transaction open.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1024

HASHER = PasswordHasher()


class PasswordRefused(ValueError):
    """A password that does not meet the rules; the message's key names the rule
    (``password.too_short``...), for the texts catalogue."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def check_password(password: str, *, username: str, email: str | None = None) -> None:
    """At least :data:`MIN_LENGTH` characters, at most :data:`MAX_LENGTH`, and not the
    username or the email (in any case)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused("password.too_short")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused("password.too_long")
    folded = password.strip().casefold()
    if folded in {username.casefold(), (email or "").casefold()}:
        raise PasswordRefused("password.is_username")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


@lru_cache(maxsize=1)
def _decoy() -> str:
    """A hash of nothing anybody knows, so an unknown username costs one verification too."""
    return HASHER.hash("not a password: the decoy for unknown usernames")


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``. ``stored=None`` (no such account) verifies
    against a decoy hash and answers False: the same work, so the time taken does not tell
    whether a username exists."""

    def check() -> bool:
        try:
            ok = HASHER.verify(stored or _decoy(), password[:MAX_LENGTH])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    return await asyncio.to_thread(check)


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)
