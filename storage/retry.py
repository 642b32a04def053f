"""Running a transaction again when the database aborted it to break a conflict.

On PostgreSQL two processes can take row locks in opposite orders (an offer claimed for an
agent by one process while another updates the same agent and ticket): PostgreSQL then
aborts one of the transactions with ``deadlock_detected`` (SQLSTATE 40P01), or, under a
stricter isolation level, ``serialization_failure`` (40001). Nothing of the aborted
transaction was kept, and running it again is the remedy PostgreSQL documents. Without it
the input was lost: a customer's "I want a person" rolled back with its own line, and the
chat stayed with the bot (found by ``bench.scaleout``: one chat of 24 never reached an agent).

:func:`retrying` runs a whole unit (begin, every read and write, commit) again, a few times,
only for these errors; any other error is raised at once. Callers pass the unit as a
function, because a transaction cannot be re-entered from inside itself: the customer's
inputs (:func:`conversation.hints.in_transaction`) and the handoff actions
(:meth:`handoff.engine.Engine.run`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

R = TypeVar("R")

# deadlock_detected, serialization_failure (PostgreSQL's error codes, appendix A)
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 4


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's error code of a database error (None for anything else)."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if code is None and orig is not None:  # the driver's own exception, under SQLAlchemy's
        code = getattr(orig.__cause__, "sqlstate", None)
    return code if isinstance(code, str) else None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a transaction the database aborted to break a conflict."""
    return sqlstate(exc) in TRANSIENT_SQLSTATES


async def retrying(unit: Callable[[], Awaitable[R]], *, what: str = "transaction") -> R:
    """``unit()`` (one whole transaction), run again when the database aborted it to break a
    deadlock or a serialization conflict, at most :data:`ATTEMPTS` times in all."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await unit()
        except DBAPIError as exc:
            if attempt == ATTEMPTS or not is_transient(exc):
                raise
            log.warning("%s aborted by the database (%s): running it again", what, exc.orig)
            # Let the transaction that won the conflict go on before this one starts again.
            await asyncio.sleep(0)
    raise AssertionError("unreachable")
