"""The event loop's CPU for one web chat message in the core alone, no socket (issue 12).

``python -m bench.webchat_core [--messages 400] [--visitors 10] [--postgres [URL]]
[--profile FILE]``: Sanad's services on a fresh database (a SQLite file in a temporary
directory, or a scratch database on the local PostgreSQL server, dropped afterwards), lexical
matching; each visitor asks one question to warm up, then the visitors take turns asking FAQ
questions through :func:`conversation.customer_wrote` on the web channel (with a
``client_id``, as the web chat sends), one at a time. Reported: ``time.process_time()`` of the
process (event loop and the driver's thread) per message, and ``time.thread_time()`` of the
event loop's thread alone, medians of ``--repeats`` passes.
``--profile FILE`` writes a cProfile of one more pass (read it with ``python -m pstats``) and
reports the Python function calls per message in it (``python_calls_per_message``: unlike CPU
time, the same on a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from conversation import customer_wrote
from conversation.outputs import WEB, Identity

QUESTIONS = (
    "how many days does delivery take?",
    "can I return an item?",
    "how do I reset my password?",
    "do you ship abroad?",
    "which payment methods do you accept?",
)
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _pass(services: Services, visitors: int, messages: int, tag: str) -> tuple[float, float]:
    start, loop_start = time.process_time(), time.thread_time()
    for i in range(messages):
        who = Identity(f"{tag}-{i % visitors}", name="Visitor", language_code="en")
        reply = await customer_wrote(
            services, WEB, who, QUESTIONS[i % len(QUESTIONS)], client_id=uuid.uuid4().hex
        )
        assert reply.says, reply
    loop = time.thread_time() - loop_start
    return (time.process_time() - start) * 1000 / messages, loop * 1000 / messages


async def run(
    url: str, visitors: int, messages: int, repeats: int, profile: str | None
) -> dict[str, object]:
    env = {"SANAD_DATABASE_URL": url, "SANAD_FAQ_SEMANTIC": "off", **FLOOD_CONTROL_OFF}
    services = Services.create(load_settings(env=env))
    await services.start(run_timers=False)
    try:
        samples, loop = [], []
        calls_per_message = None
        for r in range(repeats):
            tag = f"r{r}"
            await _pass(services, visitors, visitors, tag)  # each visitor's first message
            cpu, loop_cpu = await _pass(services, visitors, messages, tag)
            samples.append(cpu)
            loop.append(loop_cpu)
        if profile:
            await _pass(services, visitors, visitors, "p")
            profiler = cProfile.Profile()
            profiler.enable()
            await _pass(services, visitors, messages, "p")
            profiler.disable()
            profiler.dump_stats(profile)
            calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
            calls_per_message = round(calls / messages)
    finally:
        await services.close()
    return {
        "backend": services.db.backend,
        "cpu_ms_per_message": round(statistics.median(samples), 3),
        "samples": [round(s, 3) for s in samples],
        "loop_cpu_ms_per_message": round(statistics.median(loop), 3),
        "loop_samples": [round(s, 3) for s in loop],
        "python_calls_per_message": calls_per_message,
    }


async def _with_postgres(server: str, *args: object) -> dict[str, object]:
    import asyncpg

    name = f"bench_core_{uuid.uuid4().hex[:8]}"
    raw = server.replace("+asyncpg", "")
    conn = await asyncpg.connect(raw)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        return await run(server.rsplit("/", 1)[0] + "/" + name, *args)  # type: ignore[arg-type]
    finally:
        conn = await asyncpg.connect(raw)
        try:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--visitors", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", nargs="?", const=POSTGRES, default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    rest = (args.visitors, args.messages, args.repeats, args.profile)
    if args.postgres:
        result = asyncio.run(_with_postgres(args.postgres, *rest))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'core.db'}"
            result = asyncio.run(run(url, *rest))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
