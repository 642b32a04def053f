"""Closed-form M/M/c reference values for the ACD simulation (``shared/acd/SEMANTICS.md`` §2).

* Erlang C (M/M/c, FIFO): P(wait), mean wait W_q and the service level SL(t), from
  :mod:`handoff.staffing` (the product's staffing advice uses the same formulas).
* Non-preemptive priority M/M/c with equal service rates (Cobham 1954): mean wait per class.
* The first-order no-answer approximation of SEMANTICS.md (a heuristic, not exact).

Times are in seconds, rates per second. ``c`` is the number of agent slots, ``lam`` the arrival
rate, ``mu`` the service rate of one slot (1 / mean handle time).
"""

from __future__ import annotations

from collections.abc import Sequence

# The formulas live in the product (staffing advice); the benchmarks use the same copy.
from handoff.staffing import check as _check
from handoff.staffing import erlang_b, erlang_c, mean_wait, p_wait, service_level

__all__ = [
    "erlang_b",
    "erlang_c",
    "mean_wait",
    "no_answer_wait",
    "p_wait",
    "priority_waits",
    "service_level",
    "theory",
]


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
