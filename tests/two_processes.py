"""Two Sanad processes on one PostgreSQL database, as tests see them: two real web apps, each
with its own services and bus, and what the tests of both ask of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from storage.pubsub import PgBus
from web.app import create_app


@contextlib.asynccontextmanager
async def two_apps(
    pg_url: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    """Two apps on ``pg_url`` (lexical matching, no flood control, plus ``env``); the first
    migrates and loads the sample FAQ before the second starts."""
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": pg_url,
            "SANAD_FAQ_SEMANTIC": "off",
            **FLOOD_CONTROL_OFF,
            **(env or {}),
        }
    )
    first = Services.create(settings)
    await first.start()
    second = Services.create(settings)
    await second.start()
    assert isinstance(first.bus, PgBus) and isinstance(second.bus, PgBus)
    async with (
        TestClient(TestServer(create_app(first))) as a,
        TestClient(TestServer(create_app(second))) as b,
    ):
        yield a, b
    await first.close()
    await second.close()


def services_of(client: TestClient[Any, Any]) -> Services:
    from web.site import SERVICES

    services: Services = client.app[SERVICES]
    return services


async def next_frame(
    ws: ClientWebSocketResponse, kind: str, within: float = 15.0
) -> dict[str, Any]:
    """The next frame of ``kind`` on a socket (others are skipped)."""
    async with asyncio.timeout(within):
        while True:
            raw = await ws.receive()
            assert raw.type == WSMsgType.TEXT, raw
            frame: dict[str, Any] = raw.json()
            if frame["type"] == kind:
                return frame
