"""Routes of web/api_admin (being written)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

OPENAPI_PATHS: dict[str, Any] = {}


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
