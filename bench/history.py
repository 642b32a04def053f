"""A service that lives for months (issue 17): ``python -m bench.history --all``.

Sanad measured as a deployment ages, on SQLite and on PostgreSQL (each a fresh database of
this run: a SQLite file in a temporary directory, or a scratch database on the PostgreSQL
server, dropped afterwards). Four measurements, each its own flag:

``--webchat``
    Answers per second of the web chat with ``--visitors`` WebSocket visitors asking
    ``--questions`` FAQ questions each (bench/webchat.py's visitors), against ``sanad run`` on an
    empty database, then on a database prefilled with ``--messages`` messages over
    ``--customers`` customers and ``--tickets`` resolved tickets (bench/history_prefill.py).
    Median over ``--rounds`` rounds of fresh visitors; target: prefilled >= 0.9x empty.
``--idle``
    CPU time of an idle ``sanad run`` (web only, no traffic, empty database) over
    ``--idle-seconds``, from ``/proc/PID/stat``, as a fraction of one core; target <= 1 %.
``--restore``
    On the prefilled database, in this process: ``handoff.engine.Engine.rebuild()`` (what start-up
    and every resync do under the handoff lock; median of ``--repeats``), then ``resync()``
    (restore plus a timer tick): the first one, whose tick also runs the idle sweep, and the
    following ones (median), as the timer loop runs them every 2 s on PostgreSQL. Target:
    restore <= 1 s at 100k resolved tickets.
``--startup``
    Time from launching ``sanad run`` to its first HTTP answer, on an empty database and on
    one holding ``--quiet-tickets`` self-service tickets (state ``bot``) whose last message is
    older than the idle-close window (24 h). Target <= 5 s.

The aged history spans 85 days and every Sanad here runs with the longest reopen window (90
days), so the resolved tickets stay resolved instead of being closed by the first timer tick
(see ``SETTINGS``). Prints a table (``--json``: one JSON object). Progress goes to stderr.
Medians are over ``--rounds``/``--repeats``, except that no repeat starts after 30 s
(``REPEATS_S``): the slow figures get one or two. Figures on a shared machine are noisy:
compare the ratios and the figures of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg

from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from bench.history_prefill import Shape, count_rows, prefill
from bench.webchat import _database, _ms, _visitor
from storage.db import Database

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# Every Sanad of this benchmark runs with the longest reopen window (90 days) and the aged
# history spans 85 days, so its resolved tickets stay resolved (a shop with that window and
# ~1,200 chats a day holds 100k of them). With the default 24 h window, tickets resolved months
# ago would all be overdue, and the first timer tick would close them (a one-off sweep, not a
# state a deployment lives in, whose cost would then be mixed into every figure).
# Its simulated visitors all come from this machine at machine speed: flood control (which
# would rightly refuse that) is off.
SETTINGS = {"SANAD_REOPEN_WINDOW_H": str(24 * 90), **FLOOD_CONTROL_OFF}
HISTORY_DAYS = 85.0
# Repeats for a median stop starting after this long (the slow "before" figures get one or
# two; each is long enough to be a median of many requests anyway).
REPEATS_S = 30.0
TARGETS = {
    "webchat_ratio_min": 0.9,
    "idle_core_max": 0.01,
    "restore_s_max": 1.0,
    "startup_s_max": 5.0,
}


@dataclass(frozen=True)
class Options:
    webchat: bool = False
    idle: bool = False
    restore: bool = False
    startup: bool = False
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    postgres: str = PG_SERVER
    messages: int = 1_000_000
    customers: int = 100_000
    tickets: int = 100_000
    quiet_tickets: int = 100_000
    visitors: int = 10
    questions: int = 10
    rounds: int = 3
    repeats: int = 3
    idle_seconds: float = 10.0
    timeout_s: float = 900.0


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- a real `sanad run`


class Sanad:
    """``sanad run`` in a child process (web only: no Telegram token), on a free port."""

    def __init__(self, db_url: str, log_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANAD_")}
        env |= SETTINGS | {
            "SANAD_DATABASE_URL": db_url,
            "SANAD_WEB_HOST": "127.0.0.1",
            "SANAD_WEB_PORT": str(self.port),
        }
        self.log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 (closed by stop)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sanad.cli", "run"], env=env, stdout=self.log, stderr=self.log
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serving(self, timeout_s: float) -> float | None:
        """Seconds from launch to the first HTTP 200 of ``/healthz``; None on timeout."""
        deadline = self.started + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sanad run exited ({self.proc.returncode}): {self._tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    wait = aiohttp.ClientTimeout(total=2)
                    async with http.get(f"{self.url}/healthz", timeout=wait) as answer:
                        if answer.status == 200:
                            return time.perf_counter() - self.started
                await asyncio.sleep(0.05)
        return None

    def cpu_s(self) -> float:
        """User plus system CPU time of the process (all its threads) so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def _tail(self) -> str:
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")


@contextlib.asynccontextmanager
async def running(db_url: str, tmp: str, timeout_s: float) -> AsyncIterator[tuple[Sanad, float]]:
    """A serving ``sanad run`` and how long it took to serve."""
    sanad = Sanad(db_url, Path(tmp) / f"sanad-{time.monotonic_ns()}.log")
    try:
        ready = await sanad.serving(timeout_s)
        if ready is None:
            raise RuntimeError(f"sanad run did not serve within {timeout_s:.0f} s")
        yield sanad, ready
    finally:
        sanad.stop()


# ---------------------------------------------------------------------- databases


@contextlib.asynccontextmanager
async def scratch(backend: str, name: str, opts: Options) -> AsyncIterator[tuple[str, str]]:
    """A fresh database (URL) and a temporary directory, both gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="sanad-history-") as tmp:
        server = opts.postgres if backend == "postgresql" else None
        async with _database(tmp, f"hist_{name}", server) as url:
            yield url, tmp


async def _prefill(url: str, shape: Shape) -> dict[str, Any]:
    db = Database(url)
    try:
        await db.upgrade()
        started = time.perf_counter()
        await prefill(db, shape)
        seconds = time.perf_counter() - started
        rows = await count_rows(db)
    finally:
        await db.dispose()
    return {"seconds": round(seconds, 1), "rows": rows}


async def _count(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        return await count_rows(db)
    finally:
        await db.dispose()


# ---------------------------------------------------------------------- measurements


def _repeat(times: int) -> Iterator[int]:
    """Up to ``times`` repeats, fewer where they are slow: none starts after ``REPEATS_S``."""
    started = time.perf_counter()
    for i in range(times):
        if i and time.perf_counter() - started > REPEATS_S:
            return
        yield i


async def webchat_rounds(sanad: Sanad, opts: Options) -> dict[str, Any]:
    """``rounds`` rounds of ``visitors`` new visitors asking ``questions`` each, at once."""
    rates, trips = [], []
    async with aiohttp.ClientSession(sanad.url) as http:
        for _ in _repeat(opts.rounds):
            started = time.perf_counter()
            per_visitor = await asyncio.gather(
                *(_visitor(http, n, opts.questions) for n in range(opts.visitors))
            )
            wall = time.perf_counter() - started
            answered = [t for times in per_visitor for t in times]
            rates.append(len(answered) / wall)
            trips += answered
    return {
        "answers_per_s": round(statistics.median(rates), 1),
        "rounds_answers_per_s": [round(r, 1) for r in rates],
        "answers": len(trips),
        "round_trip": _ms(trips),
    }


async def measure_idle(backend: str, opts: Options) -> dict[str, Any]:
    async with (
        scratch(backend, "idle", opts) as (url, tmp),
        running(url, tmp, opts.timeout_s) as (
            sanad,
            ready,
        ),
    ):
        # Let the start-up's background work finish first (on a fresh database: embedding the
        # sample FAQ, ~5 s of CPU): idle means after it, with no traffic.
        settle0 = time.perf_counter()
        quiet = 0
        while quiet < 2 and time.perf_counter() - settle0 < 60:
            before = sanad.cpu_s()
            await asyncio.sleep(0.5)
            quiet = quiet + 1 if sanad.cpu_s() - before < 0.01 else 0
        settle_s = time.perf_counter() - settle0
        cpu0, t0 = sanad.cpu_s(), time.perf_counter()
        await asyncio.sleep(opts.idle_seconds)
        cpu1, t1 = sanad.cpu_s(), time.perf_counter()
    core = (cpu1 - cpu0) / (t1 - t0)
    return {
        "seconds": round(t1 - t0, 1),
        "cpu_s": round(cpu1 - cpu0, 3),
        "core_fraction": round(core, 4),
        "startup_s": round(ready, 2),
        "background_after_start_s": round(settle_s, 1),
        "ok": core <= TARGETS["idle_core_max"],
    }


async def measure_restore(url: str, opts: Options) -> dict[str, Any]:
    """Restore and resync on a prefilled database, in this process (no timer task)."""
    before = await _count(url)
    services = Services.create(load_settings(env=SETTINGS | {"SANAD_DATABASE_URL": url}))
    handoff = services.handoff
    try:
        restores, restore_cpu = [], []
        for _ in _repeat(opts.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            # What start() and every resync() do first; the lock as they take it.
            await handoff.engine.rebuild()
            restores.append(time.perf_counter() - wall)
            restore_cpu.append(time.process_time() - cpu)
        _say(f"restore: median {statistics.median(restores):.2f} s; first resync")
        wall = time.perf_counter()
        await handoff.resync()
        first = time.perf_counter() - wall
        _say(f"first resync: {first:.2f} s")
        after_first = await _count(url)
        resyncs = []
        for _ in _repeat(opts.repeats):
            wall = time.perf_counter()
            await handoff.resync()
            resyncs.append(time.perf_counter() - wall)
    finally:
        await services.close()
    restore_s = statistics.median(restores)
    return {
        "resolved_tickets": before.get("tickets_resolved", 0),
        "restore_s": round(restore_s, 3),
        "restore_cpu_s": round(statistics.median(restore_cpu), 3),
        "restore_samples_s": [round(t, 3) for t in restores],
        "resync_samples_s": [round(t, 3) for t in resyncs],
        "first_resync_s": round(first, 3),
        "resolved_after_first_resync": after_first.get("tickets_resolved", 0),
        "resync_s": round(statistics.median(resyncs), 3),
        "ok": restore_s <= TARGETS["restore_s_max"],
    }


async def measure_history(backend: str, opts: Options) -> dict[str, Any]:
    """Web chat on an empty database, then prefill; restore, then the web chat again."""
    out: dict[str, Any] = {}
    if opts.webchat:
        _say(f"{backend}: web chat, empty database")
        async with (
            scratch(backend, "empty", opts) as (url, tmp),
            running(url, tmp, opts.timeout_s) as (sanad, ready),
        ):
            out["webchat_empty"] = await webchat_rounds(sanad, opts) | {
                "startup_s": round(ready, 2)
            }
    async with scratch(backend, "aged", opts) as (url, tmp):
        shape = Shape(opts.customers, opts.tickets, opts.messages, span_days=HISTORY_DAYS)
        _say(f"{backend}: prefill {shape}")
        out["prefill"] = await _prefill(url, shape)
        _say(f"{backend}: prefill took {out['prefill']['seconds']} s")
        if opts.restore:
            _say(f"{backend}: restore and resync")
            out["restore"] = await measure_restore(url, opts)
        if opts.webchat:
            _say(f"{backend}: web chat, prefilled database")
            async with running(url, tmp, opts.timeout_s) as (sanad, ready):
                out["webchat_prefilled"] = await webchat_rounds(sanad, opts) | {
                    "startup_s": round(ready, 2)
                }
            empty = out["webchat_empty"]["answers_per_s"]
            ratio = out["webchat_prefilled"]["answers_per_s"] / empty if empty else 0.0
            out["webchat_ratio"] = round(ratio, 3)
            out["webchat_ok"] = ratio >= TARGETS["webchat_ratio_min"]
    return out


async def measure_startup(backend: str, opts: Options) -> dict[str, Any]:
    async with (
        scratch(backend, "start_empty", opts) as (url, tmp),
        running(url, tmp, opts.timeout_s) as (_, empty_s),
    ):
        pass
    n = opts.quiet_tickets
    async with scratch(backend, "start_quiet", opts) as (url, tmp):
        shape = Shape(n, n, 2 * n, state="bot", span_days=30.0)
        _say(f"{backend}: prefill {shape}")
        prefilled = await _prefill(url, shape)
        _say(f"{backend}: start-up with {n} quiet tickets")
        sanad = Sanad(url, Path(tmp) / "sanad-quiet.log")
        sweep_s: float | None = None
        try:
            quiet_s = await sanad.serving(opts.timeout_s)
            # The idle sweep closes the quiet tickets in the background once the server
            # serves: wait for it (bounded) rather than stop the server under it.
            started = time.perf_counter()
            while quiet_s is not None and time.perf_counter() - started < opts.timeout_s:
                if (await _count(url)).get("tickets_bot", 0) == 0:
                    sweep_s = time.perf_counter() - started
                    break
                await asyncio.sleep(0.2)
        finally:
            sanad.stop()
        after = await _count(url)
    return {
        "quiet_tickets": prefilled["rows"].get("tickets_bot", 0),
        "prefill": prefilled,
        "empty_s": round(empty_s, 2),
        "quiet_s": None if quiet_s is None else round(quiet_s, 2),
        "timed_out": quiet_s is None,
        "bot_tickets_left": after.get("tickets_bot", 0),
        "sweep_after_serving_s": None if sweep_s is None else round(sweep_s, 2),
        "ok": quiet_s is not None and quiet_s <= TARGETS["startup_s_max"],
    }


async def _postgres_reachable(server: str) -> str | None:
    try:
        conn = await asyncpg.connect(server.replace("+asyncpg", "", 1), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL not reachable at {server}: {exc}"
    await conn.close()
    return None


async def measure(opts: Options) -> dict[str, Any]:
    """Every selected measurement on every selected backend."""
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for backend in opts.backends:
        if backend == "postgresql" and (reason := await _postgres_reachable(opts.postgres)):
            results[backend] = {"skipped": reason}
            continue
        out: dict[str, Any] = {}
        if opts.idle:
            _say(f"{backend}: idle CPU over {opts.idle_seconds} s")
            out["idle"] = await measure_idle(backend, opts)
        if opts.webchat or opts.restore:
            out |= await measure_history(backend, opts)
        if opts.startup:
            out["startup"] = await measure_startup(backend, opts)
        results[backend] = out
    return {
        "options": asdict(opts),
        "targets": TARGETS,
        "results": results,
        "load_average_1m_end": os.getloadavg()[0],
        "wall_s": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------------- output


def table(report: dict[str, Any]) -> str:
    """One line per figure: what, backend, figure, target, met."""
    rows: list[tuple[str, str, str, str, str]] = []
    yes: Callable[[object], str] = lambda ok: "yes" if ok else "NO"  # noqa: E731
    for backend, r in report["results"].items():
        if "skipped" in r:
            rows.append(("(skipped)", backend, r["skipped"], "", ""))
            continue
        if "webchat_empty" in r:
            e, p = r["webchat_empty"], r["webchat_prefilled"]
            rows.append(("web chat answers/s, empty", backend, f"{e['answers_per_s']}", "", ""))
            rows.append(
                (
                    f"web chat answers/s, {r['prefill']['rows']['messages']:,} messages",
                    backend,
                    f"{p['answers_per_s']} ({r['webchat_ratio']:.2f}x empty)",
                    ">= 0.9x",
                    yes(r["webchat_ok"]),
                )
            )
        if "prefill" in r:
            rows.append(("prefill time", backend, f"{r['prefill']['seconds']} s", "", ""))
        if "idle" in r:
            i = r["idle"]
            rows.append(
                (
                    f"idle CPU over {i['seconds']} s",
                    backend,
                    f"{100 * i['core_fraction']:.1f} % of a core",
                    "<= 1 %",
                    yes(i["ok"]),
                )
            )
        if "restore" in r:
            s = r["restore"]
            n = f"{s['resolved_tickets']:,} resolved"
            rows.append((f"restore, {n}", backend, f"{s['restore_s']} s", "<= 1 s", yes(s["ok"])))
            rows.append(
                (
                    "first resync (with the idle sweep)",
                    backend,
                    f"{s['first_resync_s']} s ({s['resolved_after_first_resync']:,} left resolved)",
                    "",
                    "",
                )
            )
            rows.append(("resync after that", backend, f"{s['resync_s']} s", "", ""))
        if "startup" in r:
            s = r["startup"]
            rows.append(("start-up, empty database", backend, f"{s['empty_s']} s", "", ""))
            quiet = "timed out" if s["timed_out"] else f"{s['quiet_s']} s"
            rows.append(
                (
                    f"start-up, {s['quiet_tickets']:,} quiet tickets",
                    backend,
                    f"{quiet} ({s['bot_tickets_left']:,} left open)",
                    "<= 5 s",
                    yes(s["ok"]),
                )
            )
    head = ("measurement", "backend", "figure", "target", "met")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(5)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=True)) for x in [head]]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=True)) for x in rows]
    lines.append(
        f"(whole run {report['wall_s']} s; 1-minute load at the end "
        f"{report['load_average_1m_end']:.2f})"
    )
    return "\n".join(lines)


def _options(argv: list[str] | None = None) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name in ("webchat", "idle", "restore", "startup", "all"):
        parser.add_argument(f"--{name}", action="store_true")
    d = Options()
    parser.add_argument("--backends", default=",".join(d.backends), help="sqlite,postgresql")
    parser.add_argument("--postgres", default=d.postgres, help="the PostgreSQL server's URL")
    parser.add_argument("--messages", type=int, default=d.messages)
    parser.add_argument("--customers", type=int, default=d.customers)
    parser.add_argument("--tickets", type=int, default=d.tickets)
    parser.add_argument("--quiet-tickets", type=int, default=d.quiet_tickets)
    parser.add_argument("--visitors", type=int, default=d.visitors)
    parser.add_argument("--questions", type=int, default=d.questions)
    parser.add_argument("--rounds", type=int, default=d.rounds)
    parser.add_argument("--repeats", type=int, default=d.repeats)
    parser.add_argument("--idle-seconds", type=float, default=d.idle_seconds)
    parser.add_argument("--timeout", type=float, default=d.timeout_s, help="for one start-up")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    chosen = [args.webchat, args.idle, args.restore, args.startup]
    if not any(chosen) and not args.all:
        parser.error("choose a measurement: --webchat, --idle, --restore, --startup or --all")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if not backends or not set(backends) <= {"sqlite", "postgresql"}:
        parser.error("--backends: sqlite, postgresql or both, comma-separated")
    if min(args.customers, args.tickets, args.quiet_tickets, args.visitors, args.questions) < 1:
        parser.error("sizes must be at least 1")
    if min(args.rounds, args.repeats) < 1 or args.messages < 0 or args.idle_seconds <= 0:
        parser.error("--rounds and --repeats at least 1, --messages >= 0, --idle-seconds > 0")
    opts = Options(
        webchat=args.webchat or args.all,
        idle=args.idle or args.all,
        restore=args.restore or args.all,
        startup=args.startup or args.all,
        backends=backends,
        postgres=args.postgres,
        messages=args.messages,
        customers=args.customers,
        tickets=args.tickets,
        quiet_tickets=args.quiet_tickets,
        visitors=args.visitors,
        questions=args.questions,
        rounds=args.rounds,
        repeats=args.repeats,
        idle_seconds=args.idle_seconds,
        timeout_s=args.timeout,
    )
    return opts, args.json


def main(argv: list[str] | None = None) -> None:
    opts, as_json = _options(argv)
    report = asyncio.run(measure(opts))
    print(json.dumps(report) if as_json else table(report))


if __name__ == "__main__":
    main()
