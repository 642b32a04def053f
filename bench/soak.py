"""A soak: two Sanad processes on one PostgreSQL database under a steady load, one of them
killed and restarted in the middle. ``python -m bench.soak --minutes 30``.

Two real servers (``serve``, web only) run in child processes, as in ``bench.scaleout``. For
``--minutes``, ``--visitors`` web chat visitors each send a message every ``--interval``
seconds (about; jittered), alternating between the processes by visitor; one question in
``--handoff-every`` asks for a person, and then the visitor and the agent who takes the chat
exchange two lines each before the agent closes it. ``--agents`` agents work from the console,
spread over both processes, and send their lines over its socket, as the page does. At
``--kill-at`` (a share of the run) process 1 is killed with SIGKILL, as a crash would, and
started again on the same port ``--down`` seconds later. Every client whose socket dies
reconnects, to the other process while its own is down, and goes on as a real page does: a
visitor says hello with its visitor secret and the last message id it saw, and sends again
every message not yet acknowledged (the server keeps one copy per
``client_id``); an agent reconnects its console and picks up its chats from the API.

After the run the load stops, the open handoffs get ``--settle`` seconds to finish, and the
database is read back (it is what Sanad promises to keep):

* every message a visitor sent and saw acknowledged is stored exactly once (``lost``,
  ``duplicated``); no message stays unacknowledged at the end (``unacked``);
* every question kept has a bot answer after it on its ticket (``unanswered``);
* every handoff asked for was assigned and closed, none waits while agents are free (``stuck``);
* no visitor saw the same message id twice (``duplicate_frames``), and no socket sent a
  message before its ``welcome`` (``frames_before_welcome``: the catch-up comes first).

Prints one JSON object; ``ok`` is true when all of these are zero. Needs PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp
import asyncpg

from bench.scaleout import (
    DEFAULT_PG,
    PERSON,
    QUESTIONS,
    TIMEOUT,
    _agent_tokens,
    _cli,
    _database,
    _free_port,
    _serve,
    _wait_up,
)


def _say(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


@dataclass
class Cluster:
    """The two server processes; ``up[i]`` is False while process ``i`` is down."""

    db_url: str
    ports: list[int]
    children: list[BaseProcess] = field(default_factory=list)
    up: list[bool] = field(default_factory=lambda: [False, False])
    restarts: int = 0

    def base(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def pick(self, preferred: int) -> str:
        """The preferred process, or the other one while it is down."""
        i = preferred if self.up[preferred] else 1 - preferred
        return self.base(i)

    async def start(self, i: int) -> None:
        """Start process ``i`` (again); another program may take a free port meanwhile: then
        a new one (clients ask :meth:`pick` for the address each time they connect)."""
        for attempt in range(3):
            child = multiprocessing.get_context("spawn").Process(
                target=_serve, args=(self.db_url, self.ports[i]), daemon=True
            )
            child.start()
            if len(self.children) > i:
                self.children[i] = child
            else:
                self.children.append(child)
            try:
                await _wait_up(self.base(i), child)
            except RuntimeError:
                if attempt == 2:
                    raise
                self.ports[i] = _free_port()
                continue
            self.up[i] = True
            return

    def kill(self, i: int) -> None:
        self.up[i] = False
        self.children[i].kill()  # SIGKILL: no shutdown, as a crash
        self.children[i].join(10)

    def stop(self) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            child.join(10)


@dataclass
class Tally:
    sent: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    handoffs: int = 0
    closes_seen: int = 0
    reconnects: Counter[str] = field(default_factory=Counter)
    duplicate_frames: int = 0
    frames_before_welcome: int = 0
    agent_drops: Counter[str] = field(default_factory=Counter)  # why agent sessions ended
    errors: list[str] = field(default_factory=list)


class Visitor:
    """A web chat page: one socket at a time, an outbox of frames not yet acknowledged."""

    def __init__(self, n: int, cluster: Cluster, tally: Tally, args: argparse.Namespace) -> None:
        self.n, self.cluster, self.tally, self.args = n, cluster, tally, args
        self.secret: str | None = None
        self.since = 0
        self.seen: set[int] = set()
        self.outbox: dict[str, dict[str, Any]] = {}
        self.asked = 0
        self.in_handoff = False
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.welcomed = False  # this socket's welcome came

    async def send(self, client_id: str, text: str) -> None:
        frame = {"type": "message", "client_id": client_id, "text": text}
        self.outbox[client_id] = frame
        self.tally.sent.add(client_id)
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json(frame)

    async def run(self, until: float) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            first = True
            while time.monotonic() < until or (self.in_handoff or self.outbox):
                if time.monotonic() > until + self.args.settle:
                    break
                if not first:
                    self.tally.reconnects["visitor"] += 1
                    await asyncio.sleep(0.5 + random.random())
                first = False
                with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError):
                    await self._session(http, until)

    async def _session(self, http: aiohttp.ClientSession, until: float) -> None:
        base = self.cluster.pick(self.n % 2)
        async with http.ws_connect(f"{base}/chat/ws") as ws:
            self.ws = ws
            self.welcomed = False
            hello = {"type": "hello", "visitor": self.secret, "since": self.since, "lang": "en"}
            await ws.send_json(hello)
            for frame in list(self.outbox.values()):  # the page's outbox, sent again
                await ws.send_json(frame)
            next_at = time.monotonic() + random.uniform(0, self.args.interval)
            while True:
                if self.in_handoff or time.monotonic() >= until:
                    wait = 1.0
                else:
                    wait = max(0.05, next_at - time.monotonic())
                if time.monotonic() > until + self.args.settle:
                    return
                try:
                    raw = await ws.receive(timeout=wait)
                except TimeoutError:
                    if time.monotonic() >= until and not self.in_handoff and not self.outbox:
                        return
                    if not self.in_handoff and time.monotonic() >= next_at < until:
                        await self._ask()
                        next_at = time.monotonic() + self.args.interval * random.uniform(0.5, 1.5)
                    continue
                if raw.type != aiohttp.WSMsgType.TEXT:
                    return
                await self._frame(raw.json())

    async def _ask(self) -> None:
        self.asked += 1
        client_id = f"v{self.n}-q{self.asked}"
        if self.asked % self.args.handoff_every == 0:
            self.in_handoff = True
            self.tally.handoffs += 1
            await self.send(client_id, PERSON)
        else:
            await self.send(client_id, QUESTIONS[(self.n + self.asked) % len(QUESTIONS)])

    async def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "welcome":
            self.secret = frame["visitor"]
            self.welcomed = True
        elif kind == "ack":
            if frame.get("id") is not None:
                self.tally.acked.add(frame["client_id"])
                self.outbox.pop(frame["client_id"], None)
        elif kind == "message":
            if not self.welcomed:
                self.tally.frames_before_welcome += 1
            if frame["id"] in self.seen:
                self.tally.duplicate_frames += 1
                return
            self.seen.add(frame["id"])
            self.since = max(self.since, frame["id"])
            text = frame.get("text") or ""
            if frame["sender"] == "agent" and text.startswith("a") and text[1:].isdigit():
                k = int(text[1:])
                await self.send(f"v{self.n}-q{self.asked}-c{k}", f"c{k}")
        elif (
            kind == "state"
            and frame.get("ticket")
            and frame["ticket"]["state"] == "resolved"
            and self.in_handoff
        ):
            self.in_handoff = False
            self.tally.closes_seen += 1


class AgentClient:
    """An agent in the console: accepts offers, answers each customer line, closes after two."""

    def __init__(self, i: int, token: str, cluster: Cluster, tally: Tally) -> None:
        self.i, self.cluster, self.tally = i, cluster, tally
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answered: set[int] = set()  # customer message ids answered
        self.ws: aiohttp.ClientWebSocketResponse | None = None  # lines go over it (as the page)
        self.behind = False  # a push came while a line waited for its answer

    async def run(self, stop: asyncio.Event) -> None:
        first = True
        while not stop.is_set():
            if not first:
                self.tally.reconnects["agent"] += 1
                await asyncio.sleep(0.5 + random.random())
            first = False
            base = self.cluster.pick(self.i % 2)
            try:
                async with aiohttp.ClientSession(
                    base, headers=self.headers, timeout=TIMEOUT
                ) as http:
                    await self._session(http, stop)
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                self.tally.agent_drops[type(exc).__name__] += 1

    async def _session(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        async with http.ws_connect("/agent/ws") as ws:
            self.ws = ws
            async with http.post("/api/v1/agent/status", json={"status": "available"}) as r:
                r.raise_for_status()
            await self._catch_up(http)
            while not stop.is_set():
                if self.behind:
                    self.behind = False
                    await self._catch_up(http)
                try:
                    raw = await ws.receive(timeout=2.0)
                except TimeoutError:
                    await self._catch_up(http)  # nothing lost while quiet: check the chats
                    continue
                if raw.type != aiohttp.WSMsgType.TEXT:
                    return
                frame = raw.json()
                if frame["type"] == "offer":
                    offer = frame["offer"]
                    async with http.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept"):
                        pass
                    await self._catch_up(http)
                elif frame["type"] in ("message", "chats"):
                    await self._catch_up(http)

    async def _catch_up(self, http: aiohttp.ClientSession) -> None:
        """Every chat of this agent whose last line is the customer's (or has no agent line
        yet) gets its next line, or is closed after two."""
        async with http.get("/api/v1/agent/me") as r:
            if r.status != 200:
                return
            me = await r.json()
        for offer in me["offers"]:
            async with http.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept"):
                pass
        for chat in me["chats"]:
            await self._next(http, chat["ticket_id"])

    async def _next(self, http: aiohttp.ClientSession, ticket_id: int) -> None:
        async with http.get(f"/api/v1/agent/chats/{ticket_id}") as r:
            if r.status != 200:
                return
            detail = await r.json()
        lines = [
            m
            for m in detail["messages"]
            if m["ticket_id"] == ticket_id and m["sender"] in ("customer", "agent")
        ]
        # A ticket reopened by a second request: only this request's lines count.
        asks = [i for i, m in enumerate(lines) if m["sender"] == "customer" and m["text"] == PERSON]
        cycle = lines[asks[-1]]["id"] if asks else 0  # agent lines' client ids are per request
        if asks:
            lines = lines[asks[-1] + 1 :]
        mine = [m for m in lines if m["sender"] == "agent"]
        replies = [m for m in lines if m["sender"] == "customer" and m["text"].startswith("c")]
        if not mine:
            await self._line(http, ticket_id, cycle, 0)
            return
        last = lines[-1] if lines else None
        if last is None or last["sender"] != "customer" or last["id"] in self.answered:
            return
        if not last["text"].startswith("c"):
            return
        # Marked answered once the request was answered: one cut short (a timeout, the
        # process killed) is made again at the next catch-up, as an agent would (a line
        # again has the same client_id, so it is kept once; a close again is a 409).
        if len(replies) >= 2:
            async with http.post(f"/api/v1/agent/chats/{ticket_id}/close") as r:
                if r.status not in (200, 409):
                    self.tally.errors.append(f"close {r.status}")
        else:
            await self._line(http, ticket_id, cycle, len(replies))
        self.answered.add(last["id"])

    async def _line(self, http: aiohttp.ClientSession, ticket_id: int, cycle: int, k: int) -> None:
        """The line over the console socket, as the page sends it, and its answer awaited (a
        socket that dies first raises: the session reconnects and the next catch-up sends the
        line again, same client_id, kept once)."""
        body = {"text": f"a{k}", "client_id": f"t{ticket_id}-{cycle}-a{k}"}
        if self.ws is None:
            async with http.post(f"/api/v1/agent/chats/{ticket_id}/messages", json=body) as r:
                if r.status not in (200, 409, 404):
                    self.tally.errors.append(f"agent line {r.status}")
            return
        await self.ws.send_json({"type": "say", "ticket_id": ticket_id, **body})
        while True:
            raw = await self.ws.receive(timeout=10.0)
            if raw.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError("the console socket closed before the line's answer")
            frame = raw.json()
            if frame.get("client_id") == body["client_id"] and frame["type"] == "said":
                return
            if frame.get("client_id") == body["client_id"] and frame["type"] == "refused":
                if frame.get("status") != 409:
                    self.tally.errors.append(f"agent line {frame.get('status')}")
                return
            if frame["type"] == "error":
                self.tally.errors.append(f"agent line: {frame.get('message')}")
                return
            if frame["type"] in ("offer", "message", "chats"):
                self.behind = True  # looked at once the line is answered


async def _check(db_url: str, tally: Tally) -> dict[str, Any]:
    """What the database kept, against what the clients saw acknowledged."""
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            "SELECT meta->>'client_id' AS cid, count(*) AS n FROM messages "
            "WHERE sender = 'customer' AND (meta->>'client_id') IS NOT NULL GROUP BY 1"
        )
        stored = {r["cid"]: r["n"] for r in rows}
        unanswered = await conn.fetchval(
            """
            SELECT count(*) FROM messages q
            WHERE q.sender = 'customer' AND q.kind = 'text' AND (q.meta->>'client_id') IS NOT NULL
              AND q.text NOT LIKE 'c%' AND q.text <> $1
              AND NOT EXISTS (SELECT 1 FROM messages b WHERE b.ticket_id = q.ticket_id
                              AND b.id > q.id AND b.sender = 'bot')
            """,
            PERSON,
        )
        states = dict(
            await conn.fetch(
                "SELECT state, count(*) FROM tickets WHERE handoff_requested_at IS NOT NULL "
                "GROUP BY state"
            )
        )
        events = dict(await conn.fetch("SELECT kind, count(*) FROM events GROUP BY kind"))
        stuck_rows = await conn.fetch(
            "SELECT id, state, assignee_id FROM tickets WHERE handoff_requested_at IS NOT NULL "
            "AND state IN ('queued', 'offered', 'assigned', 'pending') ORDER BY id LIMIT 3"
        )
        stuck_examples = []
        for row in stuck_rows:
            lines = await conn.fetch(
                "SELECT sender, text FROM messages WHERE ticket_id = $1 ORDER BY id DESC LIMIT 6",
                row["id"],
            )
            stuck_examples.append(
                {**dict(row), "last_lines": [f"{r['sender']}: {r['text'][:40]}" for r in lines]}
            )
    finally:
        await conn.close()
    lost = sorted(c for c in tally.acked if stored.get(c, 0) == 0)
    duplicated = sorted(c for c, n in stored.items() if n > 1)
    unacked = sorted(tally.sent - tally.acked)
    stuck = sum(v for k, v in states.items() if k in ("queued", "offered", "assigned", "pending"))
    return {
        "messages_sent": len(tally.sent),
        "acknowledged": len(tally.acked),
        "stored": len(stored),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "unacked": len(unacked),
        "unanswered": int(unanswered),
        "handoffs_asked": tally.handoffs,
        "handoff_tickets_by_state": {k: int(v) for k, v in states.items()},
        "stuck": int(stuck),
        "closes_seen_by_visitors": tally.closes_seen,
        "duplicate_frames": tally.duplicate_frames,
        "frames_before_welcome": tally.frames_before_welcome,
        "reconnects": dict(tally.reconnects),
        "agent_session_drops": dict(tally.agent_drops),
        "events": {k: int(v) for k, v in events.items() if k.startswith(("ticket_", "offer_"))},
        "examples": {
            "lost": lost[:5],
            "duplicated": duplicated[:5],
            "unacked": unacked[:5],
            "stuck": stuck_examples,
        },
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with _database(args.postgres) as db_url:
        await asyncio.to_thread(_cli, db_url, "db", "upgrade")
        tokens = await asyncio.to_thread(_agent_tokens, db_url, args.agents, args.capacity)
        cluster = Cluster(db_url, [_free_port(), _free_port()])
        tally = Tally()
        try:
            await cluster.start(0)
            await cluster.start(1)
            stop = asyncio.Event()
            agents = [
                asyncio.create_task(AgentClient(i, t, cluster, tally).run(stop))
                for i, t in enumerate(tokens)
            ]
            await asyncio.sleep(2.0)
            seconds = args.minutes * 60
            started = time.monotonic()
            until = started + seconds
            visitors = [Visitor(n, cluster, tally, args) for n in range(args.visitors)]
            running = asyncio.gather(*(v.run(until) for v in visitors), return_exceptions=True)

            async def crash() -> None:
                await asyncio.sleep(seconds * args.kill_at)
                _say(f"killing process 1 at {time.monotonic() - started:.0f} s")
                cluster.kill(1)
                await asyncio.sleep(args.down)
                await cluster.start(1)
                cluster.restarts += 1
                _say(f"process 1 back at {time.monotonic() - started:.0f} s")

            async def progress() -> None:
                while True:
                    await asyncio.sleep(30)
                    _say(
                        f"{time.monotonic() - started:.0f} s: sent {len(tally.sent)}, acked "
                        f"{len(tally.acked)}, handoffs {tally.handoffs}, closes "
                        f"{tally.closes_seen}, reconnects {dict(tally.reconnects)}"
                    )

            crasher = asyncio.create_task(crash())
            watcher = asyncio.create_task(progress())
            outcomes = await running
            tally.errors.extend(repr(o) for o in outcomes if isinstance(o, BaseException))
            await crasher
            watcher.cancel()
            stop.set()
            ended = await asyncio.gather(*agents, return_exceptions=True)
            tally.errors.extend(f"agent: {o!r}" for o in ended if isinstance(o, BaseException))
            result = await _check(db_url, tally)
            result.update(
                minutes=args.minutes,
                visitors=args.visitors,
                agents=args.agents,
                killed_and_restarted=cluster.restarts,
                seconds=round(time.monotonic() - started, 1),
                errors=tally.errors[:10],
            )
            result["ok"] = (
                cluster.restarts == 1
                and not any(
                    result[k] for k in ("lost", "duplicated", "unacked", "unanswered", "stuck")
                )
                and result["duplicate_frames"] == 0
                and result["frames_before_welcome"] == 0
            )
            return result
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("SANAD_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--capacity", type=int, default=2)
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between messages")
    parser.add_argument("--handoff-every", type=int, default=6, help="one question in N")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of the run")
    parser.add_argument("--down", type=float, default=5.0, help="seconds process 1 stays down")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to finish handoffs")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
