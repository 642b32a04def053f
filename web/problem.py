"""The errors the API and page modules refuse a request with (:class:`Problem`): a status and
a message for the client, sent as ``{"error": ..., "status": ...}`` by the error middleware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping


class Problem(Exception):
    """A request that cannot be done: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class ParamError(Problem, ValueError):
    """A query parameter or body field that cannot be used (400); the message says which."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(400, message, **extra)


Query = Mapping[str, str] | MultiMapping[str]
