"""The queueing formulas against the reference table, and small, fast checks of the simulator.

Reference: ``shared/acd/theory_table.txt`` (rows copied below) and SEMANTICS.md section 3, which
says which simulated quantities converge fast enough to assert on a short run (P(wait), the
high-class mean) and which do not (the overall mean: 10-58% relative s.d. at 10 k chats).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bench import queueing
from bench.acd_sim import SimParams, main, simulate, theory_for

AHT = 300.0
MU = 1.0 / AHT

# agents, load, P(wait), Wq_s, SL20, Wq_high_s, Wq_low_s (20% high, strict non-preemptive)
THEORY_TABLE = [
    (5, 0.70, 0.3778, 75.6, 0.658, 26.4, 87.9),
    (5, 0.85, 0.6545, 261.8, 0.377, 47.3, 315.4),
    (5, 0.95, 0.8778, 1053.4, 0.137, 65.0, 1300.4),
    (10, 0.70, 0.2217, 22.2, 0.818, 7.7, 25.8),
    (10, 0.85, 0.5299, 106.0, 0.521, 19.2, 127.7),
    (10, 0.95, 0.8256, 495.4, 0.201, 30.6, 611.5),
    (20, 0.70, 0.0936, 4.7, 0.937, 1.6, 5.4),
    (20, 0.85, 0.3851, 38.5, 0.685, 7.0, 46.4),
    (20, 0.95, 0.7554, 226.6, 0.293, 14.0, 279.8),
]
SHARED_TABLE = Path("/work/shared/acd/theory_table.txt")


@pytest.mark.parametrize(("c", "rho", "pw", "wq", "sl", "wh", "wl"), THEORY_TABLE)
def test_erlang_c_and_cobham_match_the_reference_table(
    c: int, rho: float, pw: float, wq: float, sl: float, wh: float, wl: float
) -> None:
    lam = rho * c * MU
    assert f"{queueing.p_wait(c, lam, MU):.4f}" == f"{pw:.4f}"
    assert f"{queueing.mean_wait(c, lam, MU):.1f}" == f"{wq:.1f}"
    assert f"{queueing.service_level(c, lam, MU, 20.0):.3f}" == f"{sl:.3f}"
    high, low = queueing.priority_waits(c, [0.2 * lam, 0.8 * lam], MU)
    assert f"{high:.1f}" == f"{wh:.1f}"
    assert f"{low:.1f}" == f"{wl:.1f}"


@pytest.mark.skipif(not SHARED_TABLE.exists(), reason="shared reference table not mounted")
def test_the_copied_rows_are_the_shared_table() -> None:
    rows = []
    for line in SHARED_TABLE.read_text().splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[0].isdigit():
            rows.append((int(parts[0]), *map(float, parts[1:])))
    assert rows == THEORY_TABLE


@pytest.mark.parametrize("c", [1, 5, 10, 20])
@pytest.mark.parametrize("rho", [0.3, 0.7, 0.85, 0.95])
@pytest.mark.parametrize("shares", [(0.2, 0.8), (0.5, 0.5), (0.1, 0.3, 0.6)])
def test_conservation_law_class_weighted_cobham_is_erlang_c(
    c: int, rho: float, shares: tuple[float, ...]
) -> None:
    lam = rho * c * MU
    waits = queueing.priority_waits(c, [s * lam for s in shares], MU)
    weighted = sum(s * w for s, w in zip(shares, waits, strict=True))
    assert weighted == pytest.approx(queueing.mean_wait(c, lam, MU), rel=1e-12)
    assert waits == sorted(waits)  # higher classes wait less


def test_one_class_cobham_is_erlang_c_and_edge_values() -> None:
    lam = 0.85 * 10 * MU
    (only,) = queueing.priority_waits(10, [lam], MU)
    assert only == pytest.approx(queueing.mean_wait(10, lam, MU), rel=1e-12)
    # M/M/1: C = rho, W_q = rho / (mu - lam).
    assert queueing.p_wait(1, 0.5 * MU, MU) == pytest.approx(0.5)
    assert queueing.mean_wait(1, 0.5 * MU, MU) == pytest.approx(0.5 / (MU - 0.5 * MU))
    assert queueing.service_level(10, lam, MU, 0.0) == pytest.approx(
        1 - queueing.p_wait(10, lam, MU)
    )
    assert queueing.erlang_c(10, 0.0) == 0.0
    with pytest.raises(ValueError):
        queueing.mean_wait(10, 10 * MU, MU)  # rho = 1


@pytest.mark.parametrize(
    ("c", "rho", "p", "delay", "approx"),
    [  # SEMANTICS.md Table 5, "approx (s)" column, T = 20 s
        (10, 0.70, 0.10, 0.0, 26.5),
        (10, 0.85, 0.05, 0.0, 112.0),
        (10, 0.85, 0.10, 0.0, 119.0),
        (10, 0.85, 0.20, 0.0, 136.7),
        (10, 0.95, 0.20, 0.0, 796.3),
        (5, 0.85, 0.10, 0.0, 287.5),
        (20, 0.85, 0.10, 0.0, 45.4),
        (10, 0.85, 0.10, 30.0, 134.3),
        (10, 0.95, 0.10, 30.0, 839.6),
    ],
)
def test_no_answer_approximation_matches_table_5(
    c: int, rho: float, p: float, delay: float, approx: float
) -> None:
    lam = rho * c * MU
    assert f"{queueing.no_answer_wait(c, lam, MU, p, 20.0, delay):.1f}" == f"{approx:.1f}"
    assert queueing.no_answer_wait(c, lam, MU, 0.0, 20.0) == queueing.mean_wait(c, lam, MU)


# ------------------------------------------------------------------------ simulator

SHORT = SimParams(agents=5, load=0.7, chats=40_000, seed=1)
SMALL = SimParams(agents=5, load=0.7, chats=8_000, seed=2)


@pytest.fixture(scope="module")
def small_run() -> dict[str, Any]:
    return simulate(SMALL)


def test_short_simulation_agrees_with_theory_on_fast_converging_quantities() -> None:
    run = simulate(SHORT)
    th = theory_for(SHORT)
    # Seed-to-seed s.d. measured at c=5, rho=0.7 over 40 seeds x 20 k chats (and checked with an
    # independent M/M/5 simulation): P(wait) 0.0134, high-class mean 6.2%, overall mean 8.3%;
    # divide by sqrt(2) for 40 k chats. Tolerances: about 3.7 s.d. for P(wait) and the high
    # class, about 5 s.d. for the slowly converging overall mean.
    assert abs(run["p_wait"] - th["p_wait"]) < 0.035
    by = run["mean_wait_s_by_priority"]
    assert isinstance(by, dict)
    assert by["high"] == pytest.approx(th["mean_wait_s_by_priority"]["high"], rel=0.16)
    assert run["mean_wait_s"] == pytest.approx(th["mean_wait_s"], rel=0.3)
    assert by["high"] < by["normal"] / 2
    assert run["offers_per_chat"] == 1.0
    assert run["chats"] == 40_000


def test_simulator_is_deterministic_for_a_seed(small_run: dict[str, Any]) -> None:
    assert simulate(SMALL) == small_run
    assert simulate(SimParams(**{**SMALL.__dict__, "seed": 3})) != small_run


def test_conservation_on_one_seed_the_discipline_only_moves_waiting_between_classes(
    small_run: dict[str, Any],
) -> None:
    # Handle times are drawn in service order, so the queue-length path is the same under any
    # work-conserving order: the overall mean and P(wait) are equal, not just close.
    fifo = simulate(SimParams(**{**SMALL.__dict__, "head_start_s": 0.0}))
    aged = simulate(SimParams(**{**SMALL.__dict__, "head_start_s": 300.0}))
    for run in (fifo, aged):
        assert run["p_wait"] == small_run["p_wait"]
        assert run["mean_wait_s"] == pytest.approx(small_run["mean_wait_s"], rel=1e-9)
    strict_high = small_run["mean_wait_s_by_priority"]["high"]
    assert strict_high < aged["mean_wait_s_by_priority"]["high"]
    assert aged["mean_wait_s_by_priority"]["high"] < fifo["mean_wait_s_by_priority"]["high"]


def test_simulation_with_no_answers_costs_offers_and_wait(small_run: dict[str, Any]) -> None:
    params = SimParams(**{**SMALL.__dict__, "chats": 5000, "no_answer_prob": 0.2})
    run = simulate(params)
    # Offers per chat = 1 / (1 - p) = 1.25 (binomial noise ~0.01 at 5 k chats).
    assert run["offers_per_chat"] == pytest.approx(1.25, abs=0.04)
    # With T = 30 s every chat that met a no-answer waited at least 30 s.
    assert run["service_level_20s"] < 1 - 0.2 + 0.01
    assert run["p_wait"] > small_run["p_wait"]


def test_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["--agents", "3", "--load", "0.5", "--chats", "500", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "chats",
        "p_wait",
        "mean_wait_s",
        "mean_wait_s_by_priority",
        "service_level_20s",
        "offers_per_chat",
        "wall_s",
        "theory",
    ):
        assert key in out
    assert set(out["mean_wait_s_by_priority"]) == {"high", "normal"}
    assert out["chats"] == 500
    assert math.isfinite(out["theory"]["mean_wait_s"])
