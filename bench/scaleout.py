"""Two Sanad processes, one PostgreSQL database: ``python -m bench.scaleout``.

Two real servers (``sanad run``'s ``serve``, web only) run in child processes on one fresh
PostgreSQL database, each on its own port, as two processes behind one address would. Agents
log in to the console on process ``i % 2``; web chat customers connect to process ``(i+1) % 2``
(so an agent and their customer are on different processes about half of the time, the case
that needs the bus). Everything goes through the public interfaces (the chat socket, the
console socket and its API), as in production.

**Delivery.** Each customer asks for a person; the agent who gets the offer accepts it, then
agent and customer exchange ``--lines`` lines each, one after the other; the agent closes the
chat. The agent's lines go over the console socket (``say``), as the console page sends them;
``--agent-lines post`` posts them to the API instead (``POST .../messages``). Counted: offers
that reached an agent, chats assigned, agent lines that reached the customer, customer lines
that reached the agent, closes the customer saw, each against what should have arrived, and
duplicates (the same message id twice on one socket). Latency: from the moment a line is sent
(the sender's clock, written in the line) to its arrival on the other socket, which for half of
the pairs is on the other process.

**Throughput.** ``--visitors`` web chat visitors ask FAQ questions back to back, first all on
process 0 (process 1 idle), then spread over both. Reported: answers per second, and each
server's CPU time per answer (from ``/proc``). On a 2-core machine the clients share the cores
with the servers, so the ratio of the two passes says little about a deployment with the
clients elsewhere; CPU per answer does.

Prints one JSON object. Needs PostgreSQL (``--postgres``, default the test server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import re
import socket
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp
import asyncpg

from app.config import FLOOD_CONTROL_OFF, load_settings

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PERSON = "I want to talk to a person please"
TIMEOUT = aiohttp.ClientTimeout(total=30)
QUESTIONS = ["Where is my order?", "How do I return an item?", "Do you ship abroad?"]


def _say(text: str) -> None:
    print(f"scaleout: {text}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db_url: str, port: int) -> None:
    import logging

    from sanad.runner import serve

    logging.disable(logging.INFO)
    env = {"SANAD_DATABASE_URL": db_url, "SANAD_WEB_PORT": str(port), **FLOOD_CONTROL_OFF}
    asyncio.run(serve(load_settings(env=env), freeze_heap=True))


def _cpu_s(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def _database(server: str) -> AsyncIterator[str]:
    name = f"sanad_scaleout_{uuid.uuid4().hex[:8]}"
    dsn = server.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _cli(db_url: str, *argv: str) -> str:
    from sanad.cli import main

    out = io.StringIO()
    env = {"SANAD_DATABASE_URL": db_url}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        code = main(list(argv), out=out)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if code != 0:
        raise RuntimeError(f"sanad {' '.join(argv)} failed: {out.getvalue()}")
    return out.getvalue()


def _agent_tokens(db_url: str, count: int, capacity: int) -> list[str]:
    tokens = []
    for i in range(count):
        added = _cli(db_url, "agents", "add", "--name", f"Agent {i}", "--capacity", str(capacity))
        agent_id = int(re.findall(r"\d+", added)[0])
        made = _cli(
            db_url,
            "tokens",
            "create",
            "--role",
            "agent",
            "--name",
            f"a{i}",
            "--agent",
            str(agent_id),
        )
        tokens.append(re.findall(r"sanad_[A-Za-z0-9_-]+", made)[-1])
    return tokens


async def _wait_up(base: str, child: BaseProcess) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if not child.is_alive():
                raise RuntimeError(f"the server at {base} died ({child.exitcode})")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/healthz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server at {base} did not start")


async def _wait_settled(bases: list[str], pids: list[int]) -> dict[str, Any]:
    """Wait until every server's FAQ matcher is settled (``/healthz``: its articles embedded,
    no rebuild under way), then until the servers are idle (under 5% of a core each over half
    a second): a pass started before measures start-up, not steady state. Returns how long
    it took and the CPU each server used meanwhile."""
    started = time.perf_counter()
    cpu0 = [_cpu_s(p) for p in pids]
    modes: list[str] = []
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for _ in range(1200):
            modes = []
            for base in bases:
                async with http.get(f"{base}/healthz") as answer:
                    body = await answer.json()
                modes.append(str(body.get("faq_mode")) if body.get("faq_settled") else "")
            if all(modes):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the servers' FAQ matchers did not settle in 120 s")
    settled = time.perf_counter() - started
    for _ in range(40):
        before = [_cpu_s(p) for p in pids]
        await asyncio.sleep(0.5)
        if all(_cpu_s(p) - b < 0.025 for p, b in zip(pids, before, strict=True)):
            break
    return {
        "faq_mode": modes,
        "settled_after_s": round(settled, 2),
        "idle_after_s": round(time.perf_counter() - started, 2),
        "cpu_s_per_process": [round(_cpu_s(p) - c, 2) for p, c in zip(pids, cpu0, strict=True)],
    }


@dataclass
class Tally:
    expected: Counter[str] = field(default_factory=Counter)
    arrived: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: {"same": [], "cross": []})
    agent_latency_ms: dict[str, list[float]] = field(
        default_factory=lambda: {"same": [], "cross": []}
    )
    errors: list[str] = field(default_factory=list)


async def _agent(
    base: str,
    token: str,
    where: int,
    lines: int,
    tally: Tally,
    customer_at: dict[int, int],
    agent_at: dict[int, int],
    stop: asyncio.Event,
    post_lines: bool = False,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base, headers=headers, timeout=TIMEOUT) as http:
        ws = await http.ws_connect("/agent/ws")
        async with http.post("/api/v1/agent/status", json={"status": "available"}) as answer:
            answer.raise_for_status()
        seen: set[int] = set()

        async def send(ticket_id: int, k: int) -> None:
            body = {"text": f"a{k} {time.time():.6f}", "client_id": f"{ticket_id}-{k}"}
            if not post_lines:  # as the console page does; answered by "said" or "refused"
                await ws.send_json({"type": "say", "ticket_id": ticket_id, **body})
                return
            async with http.post(f"/api/v1/agent/chats/{ticket_id}/messages", json=body) as r:
                if r.status != 200:
                    tally.errors.append(f"agent line: {r.status}")

        async def accept(offer: dict[str, Any]) -> None:
            async with http.post(f"/api/v1/agent/offers/{offer['offer_id']}/accept") as r:
                if r.status == 200:
                    tally.arrived["accepted"] += 1
                    agent_at[offer["ticket_id"]] = where
                    await send(offer["ticket_id"], 0)

        async def close(ticket_id: int) -> None:
            async with http.post(f"/api/v1/agent/chats/{ticket_id}/close") as r:
                if r.status != 200:
                    tally.errors.append(f"close: {r.status}")

        # The agent's requests run beside the socket, as the console page's do: a frame is
        # read (and its latency taken) while the agent's own POST waits for its answer.
        requests: set[asyncio.Task[None]] = set()

        def start(request: Coroutine[Any, Any, None]) -> None:
            task = asyncio.create_task(request)
            requests.add(task)
            task.add_done_callback(requests.discard)

        while not stop.is_set():
            try:
                raw = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if raw.type != aiohttp.WSMsgType.TEXT:
                break
            frame = raw.json()
            if frame["type"] in ("refused", "error"):
                tally.errors.append(f"agent line: {frame.get('status')} {frame.get('message')}")
            elif frame["type"] == "offer":
                tally.arrived["offers"] += 1
                start(accept(frame["offer"]))
            elif frame["type"] == "message":
                message = frame["message"]
                if message.get("sender") != "customer" or not message["text"].startswith("c"):
                    continue
                if message["id"] in seen:
                    tally.duplicates += 1
                    continue
                seen.add(message["id"])
                tally.arrived["customer_lines"] += 1
                k_text, sent = message["text"][1:].split(" ", 1)
                ticket_id, k = frame["ticket_id"], int(k_text)
                cross = "cross" if customer_at.get(ticket_id, where) != where else "same"
                tally.latency_ms[cross].append((time.time() - float(sent)) * 1000)
                if k + 1 < lines:
                    start(send(ticket_id, k + 1))
                else:
                    start(close(ticket_id))
        await asyncio.gather(*requests)
        await ws.close()


async def _customer(
    base: str,
    where: int,
    n: int,
    lines: int,
    tally: Tally,
    customer_at: dict[int, int],
    agent_at: dict[int, int],
) -> None:
    async with aiohttp.ClientSession(base, timeout=TIMEOUT) as http:
        ws = await http.ws_connect("/chat/ws")
        await ws.send_json({"type": "hello", "visitor": None, "since": 0, "lang": "en"})
        await ws.send_json({"type": "message", "client_id": f"h{n}", "text": PERSON})
        tally.expected.update(
            offers=1, accepted=1, agent_lines=lines, customer_lines=lines, closes=1
        )
        seen: set[int] = set()
        frame_ticket = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                raw = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if raw.type != aiohttp.WSMsgType.TEXT:
                break
            frame = raw.json()
            if frame["type"] == "state" and frame.get("ticket"):
                ticket = frame["ticket"]
                frame_ticket = ticket["id"]
                customer_at[frame_ticket] = where
                if ticket["state"] == "resolved":
                    tally.arrived["closes"] += 1
                    break
            elif frame["type"] == "message" and frame["sender"] == "agent":
                if frame["id"] in seen:
                    tally.duplicates += 1
                    continue
                seen.add(frame["id"])
                k_text, sent = frame["text"][1:].split(" ", 1)
                tally.arrived["agent_lines"] += 1
                cross = "cross" if agent_at.get(frame_ticket, where) != where else "same"
                tally.agent_latency_ms[cross].append((time.time() - float(sent)) * 1000)
                text = f"c{k_text} {time.time():.6f}"
                await ws.send_json({"type": "message", "client_id": f"{n}-{k_text}", "text": text})
        await ws.close()


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max": round(ordered[-1], 1),
        "over_100_ms": sum(1 for v in ordered if v > 100),
    }


async def _delivery(
    bases: list[str], tokens: list[str], customers: int, lines: int, post_lines: bool = False
) -> dict[str, Any]:
    tally = Tally()
    customer_at: dict[int, int] = {}
    agent_at: dict[int, int] = {}
    stop = asyncio.Event()
    agents = [
        asyncio.create_task(
            _agent(bases[i % 2], t, i % 2, lines, tally, customer_at, agent_at, stop, post_lines)
        )
        for i, t in enumerate(tokens)
    ]
    await asyncio.sleep(3.0)  # every process knows every agent is available
    started = time.perf_counter()
    customers_done = asyncio.gather(
        *[
            _customer(bases[(i + 1) % 2], (i + 1) % 2, i, lines, tally, customer_at, agent_at)
            for i in range(customers)
        ],
        return_exceptions=True,
    )

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            _say(f"arrived so far: {dict(tally.arrived)}; errors {tally.errors[:3]}")

    watch = asyncio.create_task(progress())
    try:
        outcomes = await customers_done
    finally:
        watch.cancel()
    failures = [repr(r) for r in outcomes if isinstance(r, BaseException)]
    tally.errors.extend(failures)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)
    stop.set()
    ended = await asyncio.gather(*agents, return_exceptions=True)
    tally.errors.extend(repr(r) for r in ended if isinstance(r, BaseException))
    lost = {k: max(0, tally.expected[k] - tally.arrived[k]) for k in tally.expected}
    return {
        "customers": customers,
        "agents": len(tokens),
        "lines_each_way": lines,
        "expected": dict(tally.expected),
        "arrived": dict(tally.arrived),
        "lost": lost,
        "duplicates": tally.duplicates,
        "customer_line_latency_ms": {k: _ms(v) for k, v in tally.latency_ms.items()},
        "agent_line_latency_ms": {k: _ms(v) for k, v in tally.agent_latency_ms.items()},
        "seconds": round(elapsed, 2),
        "errors": tally.errors[:10],
    }


async def _asker(base: str, n: int, questions: int) -> int:
    async with aiohttp.ClientSession(base, timeout=TIMEOUT) as http:
        ws = await http.ws_connect("/chat/ws")
        await ws.send_json({"type": "hello", "visitor": None, "since": 0, "lang": "en"})
        answered = 0
        for q in range(questions):
            await ws.send_json(
                {"type": "message", "client_id": f"q{n}-{q}", "text": QUESTIONS[q % len(QUESTIONS)]}
            )
            while True:
                frame = (await ws.receive(timeout=30)).json()
                if frame["type"] == "message" and frame["sender"] == "bot":
                    answered += 1
                    break
        await ws.close()
        return answered


async def _throughput(
    bases: list[str], pids: list[int], visitors: int, questions: int, spread: bool
) -> dict[str, Any]:
    cpu0 = [_cpu_s(p) for p in pids]
    started = time.perf_counter()
    done = await asyncio.gather(
        *[_asker(bases[i % 2 if spread else 0], i, questions) for i in range(visitors)]
    )
    elapsed = time.perf_counter() - started
    cpu = [_cpu_s(p) - c for p, c in zip(pids, cpu0, strict=True)]
    answers = sum(done)
    return {
        "processes": 2 if spread else 1,
        "answers": answers,
        "answers_per_s": round(answers / elapsed, 1),
        "server_cpu_ms_per_answer": round(sum(cpu) * 1000 / max(answers, 1), 2),
        "cpu_s_per_process": [round(c, 2) for c in cpu],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with _database(args.postgres) as db_url:
        # The CLI runs its own event loop: in a thread.
        await asyncio.to_thread(_cli, db_url, "db", "upgrade")
        tokens = await asyncio.to_thread(_agent_tokens, db_url, args.agents, args.capacity)
        ports = [_free_port(), _free_port()]
        spawn = multiprocessing.get_context("spawn")
        children = [spawn.Process(target=_serve, args=(db_url, p), daemon=True) for p in ports]
        for child in children:
            child.start()
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        try:
            for base, child in zip(bases, children, strict=True):
                await _wait_up(base, child)
            pids = [c.pid for c in children if c.pid is not None]
            result: dict[str, Any] = {}
            if not args.no_wait:
                _say("waiting for both servers to settle (the FAQ's embeddings)")
                result["start_up"] = await _wait_settled(bases, pids)
                _say(f"settled: {result['start_up']}")
            _say("delivery pass")
            result["delivery"] = await _delivery(
                bases, tokens, args.customers, args.lines, args.agent_lines == "post"
            )
            result["delivery"]["agent_lines_via"] = args.agent_lines
            _say(f"delivery: {result['delivery']['lost']}; throughput passes")
            result["throughput"] = [
                await _throughput(bases, pids, args.visitors, args.questions, spread)
                for spread in (False, True)
            ]
            one, two = result["throughput"]
            result["throughput_ratio_2_vs_1"] = round(
                two["answers_per_s"] / one["answers_per_s"], 2
            )
            result["cores"] = os.cpu_count()
            return result
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("SANAD_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--agents", type=int, default=6)
    parser.add_argument("--capacity", type=int, default=1, help="chats per agent at once")
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--visitors", type=int, default=10)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument(
        "--agent-lines",
        choices=("socket", "post"),
        default="socket",
        help="how agents send their lines: over the console socket, as the page does "
        "(default), or posted to the API, as API clients and the page before do",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="start the passes as soon as the servers answer (as before the fifth session)",
    )
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
