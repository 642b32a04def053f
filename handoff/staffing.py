"""Staffing formulas: how many agent slots answer X% of chats within T seconds.

Pure and free of I/O. Times are seconds, rates per second. ``c`` is a number of agent *slots*
(one slot holds one chat; an agent of capacity k is k slots), ``lam`` the arrival rate of
chats that ask for a person, ``mu`` the service rate of one slot (1 / mean handle time) and
``theta`` the customers' patience rate (1 / mean patience) when they may give up waiting.

* **Erlang C** (M/M/c, FIFO, nobody leaves the queue): P(wait) = C(c, a) with a = lam / mu,
  the mean wait (ASA) W_q = C(c, a) / (c mu - lam) and the service level
  SL(t) = P(W_q <= t) = 1 - C(c, a) exp(-(c mu - lam) t). Needs lam < c mu.
* **Erlang A** (M/M/c+M, Palm): the same with exponential patience; always stable. The service
  level is the share of arriving chats an agent *answers* within ``t`` (a chat given up
  before, even before ``t``, counts as not answered in time), computed from the stationary
  distribution of the birth-death chain (arrivals see it, PASTA) and, for a chat that finds
  ``j`` chats ahead, the transient chain "chats ahead" solved by uniformization.

:func:`slots_needed` is the smallest ``c`` that meets a target; :func:`agents_for_slots`
turns slots into people (``ceil(slots / mean capacity)``). ``bench/queueing.py`` and the ACD
simulation use these formulas (one copy); ``tests/handoff/test_staffing.py`` checks them
against textbook values and against the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# An Erlang A chain is cut where the stationary weight falls below max * e^-TAIL_LOG.
TAIL_LOG = 40.0
MAX_SLOTS = 10_000
MAX_CHAIN = 200_000  # states of the Erlang A chain at most (patience far too long otherwise)


def check(c: int, lam: float, mu: float) -> None:
    """Erlang C's conditions: ``c >= 1``, ``lam >= 0``, ``mu > 0`` and ``lam < c mu``."""
    if c < 1 or lam < 0 or mu <= 0:
        raise ValueError("need c >= 1, lam >= 0, mu > 0")
    if lam >= c * mu:
        raise ValueError(f"unstable: rho = {lam / (c * mu):.3f} >= 1")


def erlang_b(c: int, a: float) -> float:
    """Blocking probability B(c, a) by the stable recursion B_k = a B_{k-1} / (k + a B_{k-1})."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """P(wait > 0) = C(c, a) for an offered load of ``a`` Erlangs on ``c`` servers (a < c)."""
    if a <= 0:
        return 0.0
    rho = a / c
    if rho >= 1:
        raise ValueError(f"unstable: rho = {rho:.3f} >= 1")
    b = erlang_b(c, a)
    return b / (1 - rho * (1 - b))


def p_wait(c: int, lam: float, mu: float) -> float:
    check(c, lam, mu)
    return erlang_c(c, lam / mu)


def mean_wait(c: int, lam: float, mu: float) -> float:
    """ASA: W_q = C(c, a) / (c mu - lam), the mean wait over all chats (FIFO or any
    work-conserving discipline with equal service times)."""
    check(c, lam, mu)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def service_level(c: int, lam: float, mu: float, t: float) -> float:
    """SL(t) = P(W_q <= t) = 1 - C(c, a) exp(-(c mu - lam) t), FIFO."""
    check(c, lam, mu)
    return 1.0 - erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


# ---------------------------------------------------------------------- Erlang A


@dataclass(frozen=True)
class ErlangA:
    """M/M/c+M figures for one ``(c, lam, mu, theta)``."""

    p_wait: float  # an arriving chat finds every slot taken
    p_abandon: float  # share of arriving chats that give up waiting
    mean_wait: float  # mean time in the queue, over all chats (served or not)
    answered_within: float  # share of arriving chats answered within ``t``
    t: float


def _stationary(c: int, lam: float, mu: float, theta: float) -> np.ndarray:
    """pi_n, n = 0..N, of the M/M/c+M birth-death chain (cut where it is negligible)."""
    logs = [0.0]
    n = 0
    peak = 0.0
    while True:
        n += 1
        death = min(n, c) * mu + max(n - c, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        peak = max(peak, logs[-1])
        if n > c and lam < death and logs[-1] < peak - TAIL_LOG:
            break
        if n > MAX_CHAIN:  # theta tiny and the load above c
            raise ValueError("Erlang A chain too long: patience too long for this load")
    weights = np.exp(np.array(logs) - peak)
    result: np.ndarray = weights / weights.sum()
    return result


def _served_within(c: int, mu: float, theta: float, ahead: np.ndarray, t: float) -> float:
    """Mass of the chats that find ``j`` chats ahead (``ahead[j]``, j = 0..J) and are answered
    by ``t``: the chain "chats ahead of me" loses one at rate ``c mu + i theta`` (a slot frees
    or one ahead gives up), and I give up at rate ``theta``. Uniformization at rate
    ``Lambda = c mu + (J + 1) theta``."""
    if t <= 0 or not ahead.any():
        return 0.0
    size = len(ahead)
    i = np.arange(size, dtype=float)
    rate = c * mu + (size * theta)
    down = (c * mu + i * theta) / rate  # i -> i - 1 (i = 0: answered)
    stay = 1.0 - (c * mu + (i + 1) * theta) / rate
    x = rate * t
    steps = int(x + 10 * math.sqrt(x) + 25)
    p = ahead.astype(float).copy()
    served = 0.0
    total = 0.0
    weight_sum = 0.0
    log_x = math.log(x)
    for k in range(steps + 1):
        weight = math.exp(-x + k * log_x - math.lgamma(k + 1))
        total += weight * served
        weight_sum += weight
        served += p[0] * down[0]
        moved = p * down
        p = p * stay
        p[:-1] += moved[1:]
    return float(total + (1.0 - weight_sum) * served)


def erlang_a(c: int, lam: float, mu: float, theta: float, t: float) -> ErlangA:
    """M/M/c+M: ``c`` slots, Poisson arrivals ``lam``, exponential handle times (rate ``mu``)
    and patience (rate ``theta > 0``), FIFO."""
    if c < 1 or lam < 0 or mu <= 0 or theta <= 0 or t < 0:
        raise ValueError("need c >= 1, lam >= 0, mu > 0, theta > 0, t >= 0")
    if lam == 0:
        return ErlangA(0.0, 0.0, 0.0, 1.0, t)
    pi = _stationary(c, lam, mu, theta)
    ahead = pi[c:]
    waiting = float(ahead.sum())
    queue = float((np.arange(len(ahead)) * ahead).sum())
    answered = float(pi[:c].sum()) + _served_within(c, mu, theta, ahead, t)
    return ErlangA(
        p_wait=waiting,
        p_abandon=theta * queue / lam,
        mean_wait=queue / lam,  # Little's law on the queue
        answered_within=min(1.0, float(answered)),
        t=t,
    )


# ---------------------------------------------------------------------- advice


@dataclass(frozen=True)
class Advice:
    """The slots one hour needs, and what the formula predicts with them."""

    slots: int
    model: str  # "erlang_c", "erlang_a" or "none" (no arrivals)
    service_level: float  # predicted share answered within the target time
    mean_wait: float  # predicted ASA (seconds)


def _level(c: int, lam: float, mu: float, theta: float | None, t: float) -> tuple[float, float]:
    if theta:
        try:
            a = erlang_a(c, lam, mu, theta, t)
        except ValueError:
            # Patience so long, for a load above ``c``, that the queue has no end in sight:
            # as in Erlang C, the target is not met (below the load) or Erlang C holds.
            if lam >= c * mu:
                return 0.0, math.inf
            return service_level(c, lam, mu, t), mean_wait(c, lam, mu)
        return a.answered_within, a.mean_wait
    if lam >= c * mu:
        return 0.0, math.inf
    return service_level(c, lam, mu, t), mean_wait(c, lam, mu)


def slots_needed(
    lam: float, mu: float, share: float, t: float, theta: float | None = None
) -> Advice:
    """The smallest number of slots that answers ``share`` of the chats within ``t`` seconds:
    Erlang C, or Erlang A when a patience rate ``theta`` is given. The service level grows
    with ``c`` in both models, so a doubling search then a bisection finds it."""
    if not 0 < share < 1 or t < 0 or mu <= 0 or lam < 0:
        raise ValueError("need 0 < share < 1, t >= 0, mu > 0, lam >= 0")
    if lam == 0:
        return Advice(0, "none", 1.0, 0.0)
    model = "erlang_a" if theta else "erlang_c"
    lo = 0  # fails (no slot answers nobody)
    hi = max(1, math.floor(lam / mu))
    while _level(hi, lam, mu, theta, t)[0] < share:
        lo, hi = hi, hi * 2
        if hi > MAX_SLOTS:
            raise ValueError(f"more than {MAX_SLOTS} slots needed")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _level(mid, lam, mu, theta, t)[0] >= share:
            hi = mid
        else:
            lo = mid
    level, wait = _level(hi, lam, mu, theta, t)
    return Advice(hi, model, level, wait)


def agents_for_slots(slots: int, mean_capacity: float) -> int:
    """People needed for ``slots`` slots when an agent takes ``mean_capacity`` chats at once
    on average: ``ceil(slots / mean_capacity)`` (at least 1 when any slot is needed)."""
    if mean_capacity < 1:
        raise ValueError("mean capacity is at least 1")
    if slots <= 0:
        return 0
    return max(1, math.ceil(slots / mean_capacity - 1e-9))
