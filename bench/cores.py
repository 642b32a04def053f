"""Where a benchmark's processes run: the server under test on its own core(s), the load on
the last core.

On a 2-core machine, a server and the clients that drive it placed by the scheduler share both
cores: the same code's CPU per message then fell into two groups minutes apart (bench.webchat,
fourth session), and a server is measured as it would never run in production. ``--pin`` (the
benchmarks' default where there are 2 cores or more) puts the server on every core but the last
and the load on the last; the layout is reported with the figures.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Which cores the server under test runs on and which the load runs on."""

    server: frozenset[int]
    load: frozenset[int]

    def describe(self) -> dict[str, list[int]]:
        return {"server": sorted(self.server), "load": sorted(self.load)}


def default_layout() -> Layout | None:
    """The server on every core this process may use but the last, the load on the last one;
    None with fewer than 2 cores or no affinity control."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return Layout(frozenset(cores[:-1]), frozenset(cores[-1:]))


def pin(pid: int | None, cores: frozenset[int]) -> None:
    """Every thread of process ``pid`` on ``cores`` (threads it starts later inherit it)."""
    if pid is None:
        return
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task), cores)
