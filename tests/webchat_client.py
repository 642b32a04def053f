"""A small client of the web chat protocol (docs/webchat.md) for tests: a real WebSocket to the
real aiohttp server, with the frames it received kept in order."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

Frame = dict[str, Any]
_ids = itertools.count(1)


class ChatClient:
    def __init__(
        self, client: TestClient[Any, Any], lang: str = "en", headers: dict[str, str] | None = None
    ) -> None:
        self.client = client
        self.lang = lang
        self.headers = headers or {}
        self.visitor: str | None = None
        self.ws: ClientWebSocketResponse | None = None
        self.frames: list[Frame] = []
        self.seen: dict[int, Frame] = {}  # message id -> last frame (updates applied)
        self._read = 0

    @property
    def since(self) -> int:
        return max(self.seen, default=0)

    async def connect(
        self, since: int | None = None, name: str | None = None, time_zone: str | None = None
    ) -> Frame:
        """Open the socket and say hello; returns the welcome frame."""
        self.ws = await self.client.ws_connect("/chat/ws", headers=self.headers)
        hello: Frame = {
            "type": "hello",
            "visitor": self.visitor,
            "since": self.since if since is None else since,
            "lang": self.lang,
        }
        if name is not None:
            hello["name"] = name
        if time_zone is not None:
            hello["time_zone"] = time_zone
        await self.ws.send_json(hello)
        welcome = await self.next(lambda f: f["type"] == "welcome")
        self.visitor = welcome["visitor"]
        return welcome

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, frame: Frame) -> None:
        assert self.ws is not None
        await self.ws.send_json(frame)

    async def say(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or f"c{next(_ids)}"
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return client_id

    async def press(self, data: str, message_id: int | None = None) -> str:
        client_id = f"p{next(_ids)}"
        await self.send(
            {"type": "press", "client_id": client_id, "data": data, "message_id": message_id}
        )
        return client_id

    def _keep(self, frame: Frame) -> None:
        self.frames.append(frame)
        if frame["type"] == "message":
            self.seen[frame["id"]] = frame
        elif frame["type"] == "update" and frame["id"] in self.seen:
            self.seen[frame["id"]] = {**self.seen[frame["id"]], **frame, "type": "message"}

    async def _receive(self, within: float) -> Frame:
        assert self.ws is not None
        raw = await self.ws.receive(timeout=within)
        if raw.type != WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {raw.type} {raw.data!r}")
        frame: Frame = raw.json()
        self._keep(frame)
        return frame

    async def next(self, match: Callable[[Frame], bool], within: float = 5.0) -> Frame:
        """The first frame, among those not yet looked at, that ``match`` accepts."""
        while True:
            while self._read < len(self.frames):
                frame = self.frames[self._read]
                self._read += 1
                if match(frame):
                    return frame
            try:
                await self._receive(within)
            except TimeoutError:
                raise AssertionError(
                    f"no matching frame within {within} s; got {self.frames[-5:]}"
                ) from None

    async def message(
        self, sender: str | None = None, contains: str = "", within: float = 5.0
    ) -> Frame:
        return await self.next(
            lambda f: (
                f["type"] == "message" and sender in (None, f["sender"]) and contains in f["text"]
            ),
            within,
        )

    async def ack(self, client_id: str) -> Frame:
        return await self.next(lambda f: f["type"] == "ack" and f["client_id"] == client_id)

    async def drain(self, quiet: float = 0.3) -> None:
        """Read until nothing arrives for ``quiet`` seconds."""
        with_timeout = True
        while with_timeout:
            try:
                await self._receive(quiet)
            except TimeoutError:
                with_timeout = False
        self._read = len(self.frames)

    def message_ids(self) -> list[int]:
        return [f["id"] for f in self.frames if f["type"] == "message"]


async def settle(condition: Callable[[], Any], within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")
