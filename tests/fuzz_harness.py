"""A Sanad web server in a background thread, for hypothesis tests that call it from plain
(synchronous) test functions: the server, its services and an HTTP session live on the
thread's event loop; :meth:`FuzzServer.run` runs a coroutine there and waits for it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from accounts.tokens import create_token
from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from base.clock import VirtualClock
from handoff.agents import add_agent
from web.app import create_app

T = TypeVar("T")
ROLES = ("editor", "supervisor", "admin", "agent")


class FuzzServer:
    def __init__(self, db: Path) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tokens: dict[str, str] = {}
        self.base = ""
        self.services: Services | None = None
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> FuzzServer:
        self.thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        settings = load_settings(
            env={
                "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
                # The fuzzer writes far faster than a person: flood control would refuse most
                # of its input before the handlers under test saw it (tests/handoff/test_flood.py
                # covers flood control itself).
                **FLOOD_CONTROL_OFF,
            }
        )
        services = Services.create(settings, VirtualClock())
        await services.start()
        now = services.clock.now()
        async with services.db.transaction() as session:
            agent = await add_agent(session, name="Fuzz agent", at=now, capacity=3)
            for role in ROLES:
                _, self.tokens[role] = await create_token(
                    session,
                    name=f"fuzz {role}",
                    role=role,
                    at=now,
                    agent_id=agent.id if role == "agent" else None,
                )
        await services.handoff.resync()
        self.runner = web.AppRunner(create_app(services))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.services = services

    def stop(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.services is not None:
            await self.services.close()

    async def request(
        self, method: str, path: str, role: str | None = None, **kwargs: Any
    ) -> tuple[int, str]:
        assert self.http is not None
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        async with self.http.request(
            method, self.base + path, headers=headers, allow_redirects=False, **kwargs
        ) as response:
            return response.status, await response.text()
