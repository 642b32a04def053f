"""A webhook receiver on loopback (a real aiohttp server) for the tests: it keeps every
request, answers the statuses it is told (200 when none is queued) and can be stopped and
started again on the same port (a receiver that is down, then back)."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from webhooks import signing


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data

    def signed_with(self, secret: str) -> bool:
        return signing.verify(
            secret,
            self.headers.get(signing.TIMESTAMP, ""),
            self.body,
            self.headers.get(signing.SIGNATURE, ""),
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self._runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def payloads(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests]

    def types(self) -> list[str]:
        return [p["type"] for p in self.payloads()]
