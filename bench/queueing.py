"""Closed-form M/M/c reference values for the ACD simulation (``shared/acd/SEMANTICS.md`` §2).

* Erlang C (M/M/c, FIFO): P(wait), mean wait W_q and the service level SL(t).
* Non-preemptive priority M/M/c with equal service rates (Cobham 1954): mean wait per class.
* The first-order no-answer approximation of SEMANTICS.md (a heuristic, not exact).

Times are in seconds, rates per second. ``c`` is the number of agent slots, ``lam`` the arrival
rate, ``mu`` the service rate of one slot (1 / mean handle time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _check(c: int, lam: float, mu: float) -> None:
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
    _check(c, lam, mu)
    return erlang_c(c, lam / mu)


def mean_wait(c: int, lam: float, mu: float) -> float:
    """W_q = C(c, a) / (c mu - lam), the mean wait over all chats (FIFO or any work-conserving
    discipline with equal service times)."""
    _check(c, lam, mu)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def service_level(c: int, lam: float, mu: float, t: float) -> float:
    """SL(t) = P(W_q <= t) = 1 - C(c, a) exp(-(c mu - lam) t), FIFO."""
    _check(c, lam, mu)
    return 1.0 - erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def priority_waits(c: int, lams: Sequence[float], mu: float) -> list[float]:
    """Mean wait per class, non-preemptive priority M/M/c, equal service rates (Cobham).

    ``lams`` are the class arrival rates, highest priority first.
    W_q,k = W_0 / ((1 - sigma_{k-1})(1 - sigma_k)), W_0 = C(c, a) / (c mu),
    sigma_k = sum_{i <= k} lam_i / (c mu).
    """
    lam = sum(lams)
    _check(c, lam, mu)
    w0 = erlang_c(c, lam / mu) / (c * mu)
    waits = []
    sigma = 0.0
    for lam_k in lams:
        before = sigma
        sigma += lam_k / (c * mu)
        waits.append(w0 / ((1 - before) * (1 - sigma)))
    return waits


def no_answer_wait(
    c: int, lam: float, mu: float, p: float, timeout: float, delay: float = 0.0
) -> float:
    """First-order approximation of the mean wait when each offer is missed with probability
    ``p`` and re-offered after ``timeout`` (+ ``delay`` of agent time per miss):

    q = p / (1 - p) failed offers per chat; 1/mu' = 1/mu + q (T + D);
    W ~= W_q^{ErlangC}(c, lam, mu') + q (T + C(c, lam/mu') / (c mu')).
    """
    if not 0 <= p < 1:
        raise ValueError("need 0 <= p < 1")
    q = p / (1 - p)
    mu2 = 1.0 / (1.0 / mu + q * (timeout + delay))
    _check(c, lam, mu2)
    return mean_wait(c, lam, mu2) + q * (timeout + erlang_c(c, lam / mu2) / (c * mu2))


def theory(
    agents: int,
    load: float,
    mean_handle_s: float,
    priority_share: float,
    *,
    sl_threshold_s: float = 20.0,
) -> dict[str, float]:
    """The reference values of one scenario (strict priority for the per-class means)."""
    mu = 1.0 / mean_handle_s
    lam = load * agents * mu
    high, low = priority_waits(agents, [priority_share * lam, (1 - priority_share) * lam], mu)
    return {
        "p_wait": p_wait(agents, lam, mu),
        "mean_wait_s": mean_wait(agents, lam, mu),
        "mean_wait_s_high_strict": high,
        "mean_wait_s_normal_strict": low,
        "service_level_fifo": service_level(agents, lam, mu, sl_threshold_s),
    }
