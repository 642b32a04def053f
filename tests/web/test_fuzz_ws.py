"""A bounded fuzz of the two WebSockets (/chat/ws for customers, /agent/ws for agents):
hypothesis sends hellos and frames of every shape (wrong types, huge or odd numbers, lone
surrogates, NUL, deep nesting, raw text and bytes); the socket must answer only with JSON
frames, never close with an internal error, and still answer a ping afterwards.

``SANAD_FUZZ_EXAMPLES`` scales it too (sessions = examples / 5)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_harness import FuzzServer

LIMITS = {"/chat/ws": 64 * 1024, "/agent/ws": 32 * 1024}  # the sockets' frame size limits
SESSIONS = max(10, int(os.environ.get("SANAD_FUZZ_EXAMPLES", "300")) // 5)
ANY_TEXT = st.text(st.characters(codec=None), max_size=60)
NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.floats())
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
CLIENT_IDS = st.one_of(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True), ANY_TEXT, JSON)
BUTTONS = st.sampled_from(
    ["human", "cancel", "fb:1:y", "fb:1:n:2", "rate:1:0:5", "rsk:1", "lang:ar", "art:1:1"]
)
FRAME_TYPES = ["message", "press", "ping", "hello", "say", "activity"]
FRAMES = st.one_of(
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(FRAME_TYPES), ANY_TEXT)},
        optional={
            "client_id": CLIENT_IDS,
            "text": st.one_of(ANY_TEXT, st.sampled_from(["/human", "/start", "hi"]), JSON),
            "data": st.one_of(BUTTONS, ANY_TEXT, JSON),
            "message_id": st.one_of(st.integers(-5, 2**70), JSON),
            "ticket_id": st.one_of(st.integers(-5, 2**70), JSON),
        },
    ).map(lambda f: ("text", json.dumps(f))),
    JSON.map(lambda v: ("text", json.dumps(v))),
    st.integers(30, 40_000).map(lambda n: ("text", "[" * n + "]" * n)),
    st.text(max_size=80).map(lambda t: ("text", t)),
    st.binary(max_size=80).map(lambda b: ("bytes", b)),
)
HELLOS = st.fixed_dictionaries(
    {"type": st.just("hello")},
    optional={
        "since": st.one_of(NUMBERS, JSON),
        "name": st.one_of(ANY_TEXT, JSON),
        "lang": st.one_of(st.sampled_from(["en", "ar"]), JSON),
        "visitor": st.one_of(st.from_regex(r"v_[A-Za-z0-9_-]{20,30}", fullmatch=True), JSON),
    },
)
FUZZ_SETTINGS = settings(
    max_examples=SESSIONS,
    deadline=None,
    derandomize=os.environ.get("SANAD_FUZZ_RANDOM") is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    running = FuzzServer(Path(tmp_path_factory.mktemp("fuzz-ws")) / "fuzz.db").start()
    yield running
    running.stop()


async def _session(
    server: FuzzServer, path: str, first: dict[str, Any] | None, frames: list[tuple[str, Any]]
) -> list[dict[str, Any]]:
    """Open the socket, send everything, then a ping; every frame received until the pong."""
    assert server.http is not None
    headers = {"Authorization": f"Bearer {server.tokens['agent']}"} if path == "/agent/ws" else {}
    received: list[dict[str, Any]] = []
    async with server.http.ws_connect(server.base + path, headers=headers) as ws:
        if first is not None:
            await ws.send_str(json.dumps(first))
        for kind, payload in frames:
            if kind == "text":
                await ws.send_str(payload)
            else:
                await ws.send_bytes(payload)
        await ws.send_str(json.dumps({"type": "ping"}))
        too_big = any(len(payload) > LIMITS[path] for _, payload in frames)
        while True:
            message = await ws.receive(timeout=20)
            if too_big and message.type == aiohttp.WSMsgType.CLOSE and message.data == 1009:
                return [*received, {"type": "pong", "closed": 1009}]  # "message too big"
            assert message.type == aiohttp.WSMsgType.TEXT, (message.type, message.data)
            frame = json.loads(message.data)  # JSON, never an HTML error page
            received.append(frame)
            if frame.get("type") == "pong":
                return received


def test_the_chat_socket_survives_any_frames(server: FuzzServer) -> None:
    @FUZZ_SETTINGS
    @given(hello=HELLOS, frames=st.lists(FRAMES, max_size=6))
    def one(hello: dict[str, Any], frames: list[tuple[str, Any]]) -> None:
        received = server.run(_session(server, "/chat/ws", hello, frames))
        assert received[0]["type"] == "welcome", received[:2]
        assert not any(
            f.get("type") == "error" and "went wrong" in str(f.get("message")) for f in received
        ), received

    one()
    assert server.run(server.request("GET", "/readyz"))[0] == 200


def test_the_console_socket_survives_any_frames(server: FuzzServer) -> None:
    @FUZZ_SETTINGS
    @given(frames=st.lists(FRAMES, max_size=6))
    def one(frames: list[tuple[str, Any]]) -> None:
        received = server.run(_session(server, "/agent/ws", None, frames))
        assert received[0]["type"] == "hello"
        assert not any(  # refusals and "unknown frame" errors, never a failure of the server
            f.get("type") == "error" and "went wrong" in str(f.get("message")) for f in received
        ), received
        assert not any(f.get("type") == "said" for f in received), received  # no chat is theirs

    one()
    assert server.run(server.request("GET", "/readyz"))[0] == 200
