"""ACD simulation: drive the real :class:`handoff.acd.Acd` on virtual time and compare with theory.

Poisson arrivals, exponential handle times, ``c`` agents of capacity 1 (no skills, no languages),
two classes (``high`` with a head start, ``normal`` without). Every offer is accepted at once,
except that with ``--no-answer-prob p`` it is left unanswered with probability ``p`` and expires
after ``--offer-timeout``. Wait = time from the handoff request (enqueue) to the accept.

    python -m bench.acd_sim                         # one run, one JSON object on stdout
    python -m bench.acd_sim --seeds 10              # 10 seeds: mean and 95% CI half-width
    python -m bench.acd_sim --no-answer-prob 0.1 --offer-timeout 20
    python -m bench.acd_sim --head-start-s 300
    python -m bench.acd_sim --measure-dispatch      # cost of one routing decision

Arrivals stop after the ``--chats``-th chat and the run ends when all of them are accepted;
``--warmup`` chats are left out of the figures. Handle times are drawn in the order chats are
accepted, so one seed gives the same queue-length path under every priority discipline (overall
mean wait and P(wait) are then equal across disciplines, as the conservation law says). An agent
set away by ``max_no_answer`` comes back after ``--away-return-s`` (default at once).

The reference values come from :mod:`bench.queueing` (Erlang C, Cobham's non-preemptive priority
M/M/c and the first-order no-answer approximation of ``shared/acd/SEMANTICS.md``). Mind section 3
of that file: the overall mean wait converges slowly (about 7% relative s.d. at 100 k chats for
c=10, rho=0.85), P(wait) and the high-class mean converge fast.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import statistics
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import queueing
from handoff.acd import (
    Acd,
    AcdConfig,
    AgentSetAway,
    AgentStatus,
    Effect,
    Offered,
    Strategy,
    rank_at,
)

SL_THRESHOLD_S = 20.0
_CHUNK = 1 << 16


@dataclass(frozen=True)
class SimParams:
    agents: int = 10
    load: float = 0.85
    chats: int = 200_000
    priority_share: float = 0.2
    head_start_s: float = math.inf
    mean_handle_s: float = 300.0
    no_answer_prob: float = 0.0
    offer_timeout: float = 30.0
    strategy: str = "longest_idle"
    seed: int = 1
    warmup: int = 0
    max_no_answer: int = 3
    away_return_s: float = 0.0


class _Draws:
    """The random draws of one seed, one numpy stream each: arrival times and classes of the
    ``n`` chats, and ``n`` handle times used in the order chats are accepted (the k-th accepted
    chat gets the k-th handle time). Drawing handle times by service order rather than by chat
    makes the number of busy agents and of queued chats the same sample path under every
    work-conserving queue order, so on one seed the overall mean wait and P(wait) do not depend
    on the priority discipline (the conservation law holds exactly, not only in expectation)."""

    def __init__(
        self, seed: int, n: int, lam: float, mean_handle_s: float, high_share: float
    ) -> None:
        arr, han, pri, self._ans = np.random.SeedSequence(seed).spawn(4)
        self.arrival: list[float] = np.cumsum(
            np.random.default_rng(arr).exponential(1.0 / lam, n)
        ).tolist()
        self.handle: list[float] = np.random.default_rng(han).exponential(mean_handle_s, n).tolist()
        self.high: list[bool] = (np.random.default_rng(pri).random(n) < high_share).tolist()

    def answer_stream(self) -> np.random.Generator:
        return np.random.default_rng(self._ans)


class _Uniforms:
    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._i = 0

    def next(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(_CHUNK).tolist()
            self._i = 0
        self._i += 1
        return self._buf[self._i - 1]


def simulate(p: SimParams) -> dict[str, Any]:
    """One run. Returns the measured figures (no theory, no wall time)."""
    mu = 1.0 / p.mean_handle_s
    lam = p.load * p.agents * mu
    n, warmup = p.chats, p.warmup
    draws = _Draws(p.seed, n, lam, p.mean_handle_s, p.priority_share)
    answers = _Uniforms(draws.answer_stream())
    heads = {"high": p.head_start_s, "normal": 0.0}
    acd = Acd(
        AcdConfig(
            offer_timeout_s=p.offer_timeout,
            max_no_answer=p.max_no_answer,
            strategy=Strategy(p.strategy),
            seed=p.seed,
        )
    )
    for agent_id in range(p.agents):
        acd.upsert_agent(agent_id, 0.0)
        acd.set_status(agent_id, AgentStatus.AVAILABLE, 0.0)

    wait = [math.nan] * n
    offers = 0
    accepted = 0
    # Agent events: (time, seq, agent_id, kind) with kind 0 = chat ends, 1 = back from away.
    agent_events: list[tuple[float, int, int, int]] = []
    seq = 0
    next_chat = 0
    arrival, handle, high = draws.arrival, draws.handle, draws.high
    no_answer = p.no_answer_prob
    offer_cap = 1000 * n
    pending: deque[Effect] = deque()
    now = 0.0

    # Arrivals stop after the n-th chat; the run ends when all n are accepted.
    while accepted < n:
        # The next event: an Acd timer, an agent event or an arrival (in that order on ties).
        t_arr = arrival[next_chat] if next_chat < n else math.inf
        deadline = acd.next_deadline()
        t_agent = agent_events[0][0] if agent_events else math.inf
        if deadline is not None and deadline <= t_agent and deadline <= t_arr:
            now = deadline
            pending.extend(acd.advance(now))
        elif t_agent <= t_arr:
            now, _, agent_id, kind = heapq.heappop(agent_events)
            if kind == 0:
                pending.extend(acd.release(agent_id, now))
            else:
                pending.extend(acd.set_status(agent_id, AgentStatus.AVAILABLE, now))
        else:
            now = t_arr
            tid = next_chat
            next_chat += 1
            priority = "high" if high[tid] else "normal"
            pending.extend(
                acd.enqueue(tid, now, rank_at=rank_at(now, priority, heads), priority=priority)
            )
        while pending:
            effect = pending.popleft()
            if isinstance(effect, Offered):
                offer = effect.offer
                offers += 1
                if offers > offer_cap:
                    raise RuntimeError(f"livelock? {offers} offers for {n} chats")
                if no_answer and answers.next() < no_answer:
                    continue  # unanswered: the Acd timer expires it
                pending.extend(acd.accept(offer.id, offer.agent_id, now))
                tid = offer.ticket_id
                wait[tid] = now - arrival[tid]
                seq += 1
                heapq.heappush(agent_events, (now + handle[accepted], seq, offer.agent_id, 0))
                accepted += 1
            elif isinstance(effect, AgentSetAway):
                # The agent notices and comes back after ``away_return_s``.
                seq += 1
                heapq.heappush(agent_events, (now + p.away_return_s, seq, effect.agent_id, 1))

    w = np.array(wait[warmup:])
    hi = np.array(high[warmup:n], dtype=bool)
    counted = n - warmup
    return {
        "chats": counted,
        "p_wait": float(np.mean(w > 0)),
        "mean_wait_s": float(w.mean()),
        "mean_wait_s_by_priority": {
            "high": float(w[hi].mean()) if hi.any() else math.nan,
            "normal": float(w[~hi].mean()) if (~hi).any() else math.nan,
        },
        "service_level_20s": float(np.mean(w <= SL_THRESHOLD_S)),
        # P(W < 20 s), as Table 5 of SEMANTICS.md counts it: differs from P(W <= 20 s) when
        # offers time out after exactly 20 s (a chat re-offered at once waits exactly T).
        "service_level_20s_strict": float(np.mean(w < SL_THRESHOLD_S)),
        "service_level_20s_by_priority": {
            "high": float(np.mean(w[hi] <= SL_THRESHOLD_S)) if hi.any() else math.nan,
            "normal": float(np.mean(w[~hi] <= SL_THRESHOLD_S)) if (~hi).any() else math.nan,
        },
        "offers_per_chat": offers / n,  # all n chats (warm-up included)
        "sim_hours": now / 3600.0,
    }


def theory_for(p: SimParams) -> dict[str, Any]:
    mu = 1.0 / p.mean_handle_s
    lam = p.load * p.agents * mu
    lams = [p.priority_share * lam, (1 - p.priority_share) * lam]
    fifo = queueing.mean_wait(p.agents, lam, mu)
    strict_high, strict_normal = queueing.priority_waits(p.agents, lams, mu)
    out: dict[str, Any] = {
        "p_wait": queueing.p_wait(p.agents, lam, mu),
        "mean_wait_s": fifo,
        "service_level_20s_fifo": queueing.service_level(p.agents, lam, mu, SL_THRESHOLD_S),
    }
    if math.isinf(p.head_start_s):
        out["mean_wait_s_by_priority"] = {"high": strict_high, "normal": strict_normal}
        out["discipline"] = "strict non-preemptive priority (Cobham)"
    elif p.head_start_s == 0:
        out["mean_wait_s_by_priority"] = {"high": fifo, "normal": fifo}
        out["discipline"] = "fifo (Erlang C)"
    else:
        # No closed form for a finite head start: the class means lie between FIFO and strict.
        out["mean_wait_s_by_priority"] = None
        out["mean_wait_s_by_priority_bounds"] = {
            "high": [strict_high, fifo],
            "normal": [fifo, strict_normal],
        }
        out["discipline"] = "head start (no closed form; bounds = strict and fifo)"
    if p.no_answer_prob > 0:
        out["no_answer_approx_mean_wait_s"] = queueing.no_answer_wait(
            p.agents, lam, mu, p.no_answer_prob, p.offer_timeout
        )
        out["offers_per_chat"] = 1.0 / (1.0 - p.no_answer_prob)
        out["note"] = "with no-answer only the approximation applies; other values are for p=0"
    return out


# 97.5% quantiles of Student's t for 1..30 degrees of freedom (no scipy).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def _ci95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return math.nan
    t = _T975[len(values) - 2] if len(values) - 1 <= len(_T975) else 1.96
    return t * statistics.stdev(values) / math.sqrt(len(values))


def _combine(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mean and 95% CI half-width of every number (nested dicts kept)."""
    mean: dict[str, Any] = {}
    ci: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            mean[key], ci[key] = _combine([r[key] for r in runs])
        else:
            values = [float(r[key]) for r in runs]
            mean[key] = statistics.fmean(values)
            ci[key] = _ci95(values)
    return mean, ci


def _deviation(sim: dict[str, Any], th: dict[str, Any]) -> dict[str, Any]:
    def rel(a: float, b: float) -> float:
        return (a - b) / b if b else math.nan

    dev: dict[str, Any] = {"p_wait_abs": sim["p_wait"] - th["p_wait"]}
    if "no_answer_approx_mean_wait_s" in th:
        dev["mean_wait_rel_vs_approx"] = rel(sim["mean_wait_s"], th["no_answer_approx_mean_wait_s"])
    else:
        dev["mean_wait_rel"] = rel(sim["mean_wait_s"], th["mean_wait_s"])
        by = th.get("mean_wait_s_by_priority")
        if by:
            for cls in ("high", "normal"):
                dev[f"mean_wait_{cls}_rel"] = rel(sim["mean_wait_s_by_priority"][cls], by[cls])
    return dev


def run(p: SimParams, seeds: int = 1) -> dict[str, Any]:
    started = time.perf_counter()
    runs = [simulate(SimParams(**{**p.__dict__, "seed": p.seed + i})) for i in range(seeds)]
    wall = time.perf_counter() - started
    result: dict[str, Any]
    if seeds == 1:
        result = runs[0]
    else:
        result, ci = _combine(runs)
        result["chats"] = runs[0]["chats"]
        result["seeds"] = seeds
        result["ci95"] = ci
    result["wall_s"] = round(wall, 2)
    result["theory"] = theory_for(p)
    result["deviation"] = _deviation(result, result["theory"])
    result["params"] = {**p.__dict__, "head_start_s": str(p.head_start_s)}
    return result


# ------------------------------------------------------------------------- dispatch cost

_CATEGORIES = ("billing", "tech", "sales", "account")
_LANGUAGES = ("ar", "en", "fr")
_DISPATCH_HEADS = {"low": -600.0, "normal": 0.0, "high": 600.0, "urgent": math.inf}


@dataclass(frozen=True)
class _QueuedChat:
    rank_at: float
    priority: str
    category: str
    language: str
    failed: tuple[int, ...]


def _enqueue(acd: Acd, ticket_id: int, c: _QueuedChat, now: float) -> None:
    acd.enqueue(
        ticket_id,
        now,
        rank_at=c.rank_at,
        priority=c.priority,
        category=c.category,
        language=c.language,
        failed=c.failed,
        dispatch=False,
    )


def _dispatch_state(n_agents: int, n_queued: int, seed: int) -> tuple[Acd, dict[int, _QueuedChat]]:
    """1,000 agents busy at capacity (40% generalists, the others 1-2 of 4 categories and 1-2 of
    3 languages) and 10,000 queued chats over the last two hours (low/normal/high/urgent =
    10/65/20/5%, head starts -600/0/600/inf s; 4 categories; ar/en/fr = 50/40/10%; 10% already
    failed by two agents). The 5 newest chats are the only ``legal`` ones and agent 0 is the
    only ``legal`` agent: freeing agent 0 is the deep-in-the-queue case."""
    rng = np.random.default_rng(seed)
    acd = Acd(AcdConfig(seed=seed))
    now = 100_000.0
    for a in range(n_agents):
        if a == 0:
            skills: list[str] = ["legal"]
            langs: list[str] = ["ar", "en"]
        elif rng.random() < 0.4:
            skills, langs = [], []  # generalists
        else:
            k = int(rng.integers(1, 3))
            skills = [str(s) for s in rng.choice(_CATEGORIES, size=k, replace=False)]
            langs = ["ar", "en"] if rng.random() < 0.5 else [str(rng.choice(_LANGUAGES))]
        acd.upsert_agent(a, now, skills=skills, languages=langs)
        acd.restore_agent_load(a, 1)
        acd.set_status(a, AgentStatus.AVAILABLE, now)
    chats: dict[int, _QueuedChat] = {}
    prios = rng.choice(["low", "normal", "high", "urgent"], size=n_queued, p=[0.1, 0.65, 0.2, 0.05])
    requested = np.sort(rng.uniform(now - 7200.0, now - 5.0, size=n_queued))
    for i in range(n_queued):
        legal = i >= n_queued - 5
        prio = "normal" if legal else str(prios[i])
        failed = rng.integers(1, n_agents, size=2).tolist() if rng.random() < 0.1 else []
        chat = _QueuedChat(
            rank_at=rank_at(float(requested[i]), prio, _DISPATCH_HEADS),
            priority=prio,
            category="legal" if legal else str(rng.choice(_CATEGORIES)),
            language="ar" if legal else str(rng.choice(_LANGUAGES, p=[0.5, 0.4, 0.1])),
            failed=tuple(int(x) for x in failed),
        )
        chats[i + 1] = chat
        _enqueue(acd, i + 1, chat, now)
    return acd, chats


def measure_dispatch(
    samples: int = 2000, n_agents: int = 1000, n_queued: int = 10_000, seed: int = 1
) -> dict[str, Any]:
    """Median / p90 cost of one routing decision: free one agent (``release``, which dispatches)
    and time until it has its offer; then put the state back (accept, re-enqueue the chat with
    its rank, the agent busy again) so every sample sees 1,000 busy agents and 10,000 queued.

    ``typical``: a random agent is freed. ``deep_skill``: the freed agent's only skill matches
    only the 5 newest chats, behind 9,995 others."""
    acd, chats = _dispatch_state(n_agents, n_queued, seed)
    rng = np.random.default_rng(seed + 1)
    now = 100_000.0
    out: dict[str, Any] = {"agents": n_agents, "queued": n_queued, "samples": samples}
    for case in ("typical", "deep_skill"):
        times: list[float] = []
        depth: list[int] = []
        for i in range(samples + 50):
            agent_id = int(rng.integers(1, n_agents)) if case == "typical" else 0
            now += 1.0
            t0 = time.perf_counter()
            effects = acd.release(agent_id, now)
            dt = time.perf_counter() - t0
            offered = [e for e in effects if isinstance(e, Offered)]
            if len(offered) != 1 or offered[0].offer.agent_id != agent_id:
                raise RuntimeError(f"expected one offer to agent {agent_id}, got {effects}")
            offer = offered[0].offer
            if i >= 50:  # warm-up samples discarded
                times.append(dt * 1000.0)
                if len(depth) < 200:
                    depth.append(_rank_position(chats, offer.ticket_id))
            # Back to the measured state.
            acd.accept(offer.id, agent_id, now)
            _enqueue(acd, offer.ticket_id, chats[offer.ticket_id], now)
        times.sort()
        out[case] = {
            "median_ms": round(statistics.median(times), 4),
            "p90_ms": round(times[int(0.9 * len(times))], 4),
            "max_ms": round(times[-1], 4),
            "median_rank_of_offered_chat": statistics.median(depth),
        }
    return out


def _rank_position(chats: dict[int, _QueuedChat], ticket_id: int) -> int:
    key = (chats[ticket_id].rank_at, ticket_id)
    return 1 + sum(1 for t, c in chats.items() if (c.rank_at, t) < key)


# ------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.acd_sim", description=__doc__.split("\n")[0])
    d = SimParams()
    ap.add_argument("--agents", type=int, default=d.agents)
    ap.add_argument("--load", type=float, default=d.load, help="rho = lambda * AHT / agents")
    ap.add_argument("--chats", type=int, default=d.chats)
    ap.add_argument("--priority-share", type=float, default=d.priority_share)
    ap.add_argument(
        "--head-start-s", type=float, default=d.head_start_s, help="high class; inf = strict"
    )
    ap.add_argument("--mean-handle-s", type=float, default=d.mean_handle_s)
    ap.add_argument("--no-answer-prob", type=float, default=d.no_answer_prob)
    ap.add_argument("--offer-timeout", type=float, default=d.offer_timeout)
    ap.add_argument("--strategy", default=d.strategy, choices=[s.value for s in Strategy])
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--warmup", type=int, default=d.warmup, help="chats discarded at the start")
    ap.add_argument("--max-no-answer", type=int, default=d.max_no_answer)
    ap.add_argument(
        "--away-return-s",
        type=float,
        default=d.away_return_s,
        help="an agent set away by max_no_answer comes back after this long",
    )
    ap.add_argument("--seeds", type=int, default=1, help="run N seeds: mean and 95%% CI")
    ap.add_argument("--measure-dispatch", action="store_true")
    ap.add_argument("--dispatch-samples", type=int, default=2000)
    args = ap.parse_args(argv)
    if args.measure_dispatch:
        print(json.dumps(_jsonable(measure_dispatch(args.dispatch_samples, seed=args.seed))))
        return 0
    if not 0 <= args.warmup < args.chats:
        ap.error("need 0 <= --warmup < --chats")
    params = SimParams(
        agents=args.agents,
        load=args.load,
        chats=args.chats,
        priority_share=args.priority_share,
        head_start_s=args.head_start_s,
        mean_handle_s=args.mean_handle_s,
        no_answer_prob=args.no_answer_prob,
        offer_timeout=args.offer_timeout,
        strategy=args.strategy,
        seed=args.seed,
        warmup=args.warmup,
        max_no_answer=args.max_no_answer,
        away_return_s=args.away_return_s,
    )
    print(json.dumps(_jsonable(run(params, args.seeds)), allow_nan=False))
    return 0


def _jsonable(value: Any) -> Any:
    """Strict JSON: NaN -> null, infinities -> "inf"/"-inf"."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


if __name__ == "__main__":
    sys.exit(main())
