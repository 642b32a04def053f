"""Stopping the server while a customer chat and an agent console are open: both sockets get a
going-away close frame (1001) and the server is down within 5 s (it used to wait ~40 s for the
sockets' heartbeat timeouts)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, web

from app.services import Services
from tests.conftest import bearer
from web.app import create_app

STOP_WITHIN_S = 5.0


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> Any:
    async for _ in ws:
        pass  # frames before the close (welcome, history, hello)
    return ws.close_code


async def test_shutdown_closes_open_chat_and_console_sockets_with_going_away(
    services: Services, agent_token: dict[str, Any]
) -> None:
    runner = web.AppRunner(create_app(services))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        chat = await http.ws_connect(f"{base}/chat/ws")
        await chat.send_json({"type": "hello", "visitor": None, "since": 0, "lang": "en"})
        welcome = await chat.receive_json(timeout=5)
        while welcome.get("type") != "welcome":
            welcome = await chat.receive_json(timeout=5)
        console = await http.ws_connect(f"{base}/agent/ws", headers=bearer(agent_token["token"]))
        assert (await console.receive_json(timeout=5))["type"] == "hello"
        waiting = [asyncio.create_task(_until_closed(ws)) for ws in (chat, console)]

        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(runner.cleanup(), timeout=STOP_WITHIN_S + 5)
        took = loop.time() - started
        codes = await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert codes == [WSCloseCode.GOING_AWAY, WSCloseCode.GOING_AWAY]
    assert took < STOP_WITHIN_S, f"shutdown took {took:.1f} s"
    assert chat.closed and console.closed
