"""Errors and parameter parsing shared by the API and page modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from aiohttp import web
from multidict import MultiMapping


class Problem(Exception):
    """A request that cannot be done: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        body = {"error": self.message, "status": self.status, **self.extra}
        return web.json_response(body, status=self.status)


class ParamError(Problem, ValueError):
    """A query parameter or body field that cannot be used (400); the message says which."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(400, message, **extra)


Query = Mapping[str, str] | MultiMapping[str]


@overload
def int_param(query: Query, name: str, default: int, low: int, high: int) -> int: ...
@overload
def int_param(query: Query, name: str, default: None, low: int, high: int) -> int | None: ...
def int_param(query: Query, name: str, default: int | None, low: int, high: int) -> int | None:
    """A whole-number query parameter within [low, high]; ``default`` when absent or empty."""
    raw = str(query.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(f"'{name}' must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ParamError(f"'{name}' must be from {low} to {high}, got {value}")
    return value
