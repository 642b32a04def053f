"""The fake Bot API of ``bench.telegram`` in a process of its own, as a real Bot API server is.

Started by ``bench.telegram`` (``python -m bench.telegram_fake --delay-ms 50``), it prints one
JSON line ``{"token", "base_url", "base_file_url", "pid"}`` and then obeys JSON lines on stdin:

* ``{"cmd": "drive", "chats": N, "per_chat": K, "within": S}``: queue every update at once
  (N customers, K questions each), wait for one reply per update, check each chat's order,
  print the result as one JSON line (``updates``, ``replied``, ``seconds``, ``order_kept``,
  ``fake_cpu_s``: this process's CPU during the drive, from ``/proc``);
* ``{"cmd": "quit"}`` (or end of input): stop the server and exit.

The bot's process then measures its own CPU over the same drive, so neither counts the other's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from tests.fakes.bot_api import FakeBotApi

QUESTIONS = (
    "how many days does delivery take?",
    "how do I return an item?",
    "which payment methods do you accept?",
)
# The answers' first words tell the article (Sanad); the echo bot repeats the question.
MARKERS = ("deliver", "return", "pay")

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (all its threads), from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid or os.getpid()}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is fields[0]; utime and stime are the 14th and 15th fields.
    return (int(fields[11]) + int(fields[12])) / _TICK


async def drive(fake: FakeBotApi, chats: int, per_chat: int, within: float) -> dict[str, Any]:
    """Queue every update at once; wait for one reply per update; check per-chat order."""
    users = [fake.user(10_000 + i, f"User {i}", language_code="en") for i in range(chats)]
    seen_calls = len(fake.calls)
    expected = chats * per_chat
    replies: list[tuple[int, str]] = []
    cpu0 = proc_cpu_s()
    started = time.perf_counter()
    for round_ in range(per_chat):
        for user in users:
            fake.send_text(user, QUESTIONS[round_ % len(QUESTIONS)])
    deadline = started + within
    while len(replies) < expected and time.perf_counter() < deadline:
        # Only the calls logged since the last look (the log only grows).
        new, seen_calls = fake.calls[seen_calls:], len(fake.calls)
        replies += [
            (int(c.params["chat_id"]), str(c.params["text"]))
            for c in new
            if c.method == "sendMessage" and c.ok
        ]
        if len(replies) < expected:
            await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    fake_cpu = proc_cpu_s() - cpu0
    by_chat: dict[int, list[str]] = {}
    for chat_id, text in replies:
        by_chat.setdefault(chat_id, []).append(text)
    order_kept = len(by_chat) == chats
    for texts in by_chat.values():
        seen = [next((m for m in MARKERS if m in t.lower()), "?") for t in texts]
        order_kept &= seen == [MARKERS[i % len(QUESTIONS)] for i in range(len(texts))]
    return {
        "updates": expected,
        "replied": len(replies),
        "seconds": round(elapsed, 3),
        "order_kept": order_kept,
        "fake_cpu_s": round(fake_cpu, 3),
    }


async def serve(delay_ms: float) -> None:
    async with FakeBotApi() as fake:
        fake.response_delay_s = delay_ms / 1000
        hello = {
            "token": fake.token,
            "base_url": fake.base_url,
            "base_file_url": fake.base_file_url,
            "pid": os.getpid(),
        }
        print(json.dumps(hello), flush=True)
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            if command["cmd"] == "quit":
                return
            if command["cmd"] == "drive":
                result = await drive(
                    fake, int(command["chats"]), int(command["per_chat"]), command["within"]
                )
                print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.delay_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
