"""The calibration experiment of ``bench.faq_dialects`` (``--calibrate``): the logistic fit,
the cut rule and the cross-validation on rows made here (no embeddings needed)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from bench.faq_dialects import (
    GROUPS,
    Rows,
    _design,
    cross_validate_calibration,
    fit_logistic,
    main,
    predict,
    random_folds,
    repeated,
    rule_calib,
    tune,
)


def _rows(n: int = 1200, seed: int = 5) -> Rows:
    """Rows where the fused best is right more often the higher and clearer it scores."""
    rng = np.random.default_rng(seed)
    s1 = rng.uniform(0.7, 0.95, n)
    s2 = s1 - rng.uniform(0.0, 0.08, n)
    s3 = s2 - rng.uniform(0.0, 0.03, n)
    logit = 40 * (s1 - 0.8) + 60 * (s1 - s2 - 0.02)
    right = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    oos = rng.uniform(size=n) < 0.15
    right &= ~oos
    group = np.array(GROUPS)[rng.integers(0, 3, n)]
    dataset = np.where(group == "en", "en", np.where(rng.uniform(size=n) < 0.5, "msa", "pal"))
    zeros = np.zeros(n)
    return Rows(
        dataset=dataset,
        group=group,
        fold=np.arange(n) % 2,
        oos=oos,
        decisive=np.zeros(n, dtype=bool),
        decisive_right=np.zeros(n, dtype=bool),
        s1=s1,
        s2=s2,
        right=right,
        agree=rng.uniform(size=n) < 0.5,
        sem_lead=rng.uniform(0, 0.05, n),
        l1=rng.uniform(0, 0.6, n),
        l2=rng.uniform(0, 0.3, n),
        lex_right=right,
        words=rng.integers(2, 20, n),
        s3=s3,
        top_lex=rng.uniform(0, 0.6, n),
        top_sem=s1 + 0.02,
        top_sem_lead=rng.uniform(-0.02, 0.05, n),
        sem1=s1 + 0.02,
        sem2=s2,
        lex_agree=rng.uniform(size=n) < 0.5,
        sem_agree=rng.uniform(size=n) < 0.5,
        tokens=rng.integers(2, 20, n),
        phrasings=np.full(n, 20),
        article=np.array([f"a{i % 40}" for i in range(n)]),
        qnum=np.arange(n),
        prob=zeros,
    )


def test_fit_logistic_recovers_a_known_model() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 2))
    y = rng.uniform(size=len(x)) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.5)))
    mean, scale, w, b = fit_logistic(x, y, l2=0.0)
    # weights are per standardised feature: back to the raw scale
    raw = w / scale
    assert raw == pytest.approx([1.5, -2.0], abs=0.1)
    assert b - float((w * mean / scale).sum()) == pytest.approx(0.5, abs=0.1)
    p = predict(x, (mean, scale, w, b))
    assert float(p[y].mean()) > float(p[~y].mean()) + 0.3


def test_probability_rises_with_score_and_lead() -> None:
    r = _rows()
    x, names = _design(r, "base")
    model = fit_logistic(x, r.right, l2=1.0)
    probe = np.zeros((3, len(names)))
    at = {n: i for i, n in enumerate(names)}
    probe[:, at["s1"]] = [0.75, 0.85, 0.95]
    probe[:, at["lead"]] = 0.03
    assert np.all(np.diff(predict(probe, model)) > 0)
    probe[:, at["s1"]] = 0.85
    probe[:, at["lead"]] = [0.0, 0.03, 0.06]
    assert np.all(np.diff(predict(probe, model)) > 0)


def test_a_higher_cut_answers_fewer_and_tune_meets_the_target() -> None:
    r = _rows()
    x, _ = _design(r, "full+x")
    r.prob[:] = predict(x, fit_logistic(x, r.right & ~r.oos, l2=1.0))
    counts = [int(rule_calib(r, (c,))[0].sum()) for c in (0.3, 0.6, 0.9, 0.99)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    cuts = [(float(c),) for c in np.arange(0.3, 0.996, 0.005)]
    for group in GROUPS:
        cut = tune(rule_calib, cuts, r, group, 0.9, None)
        assert cut is not None
        answer, right = rule_calib(r.take(r.group == group), cut)
        ins = ~r.oos[r.group == group]
        assert right[ins].sum() / answer[ins].sum() >= 0.9


def test_cross_validation_reports_both_halves(tmp_path: Path) -> None:
    r = _rows()
    out = cross_validate_calibration(r, 0.9, ["base", "full"], 1.0, True, lambda _: None)
    assert [(row["spec"], row["tuned_on"]) for row in out] == [
        (s, f) for s in ("pairs", "base", "full") for f in (0, 1)
    ]
    for row in out:
        assert set(row["check"]) == {"en", "msa", "pal"}
        assert row["check"]["en"]["queries"] == int(
            ((r.dataset == "en") & (r.fold != row["tuned_on"]) & ~r.oos).sum()
        )
    # the command line on saved rows (no embedding model needed)
    saved = tmp_path / "rows.npz"
    np.savez(saved, **{k: v for k, v in vars(r).items() if k != "prob"})
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--rows", str(saved), "--calibrate", "base", "--target", "0.9", "--json"]) == 0
    parsed = json.loads(buf.getvalue())
    assert [row["spec"] for row in parsed["calibration"]] == ["pairs", "pairs", "base", "base"]


def test_random_halvings_balance_intents_and_keep_a_query_in_one_half() -> None:
    r = _rows(400)
    r.qnum[r.oos] = r.qnum[~r.oos][: int(r.oos.sum())]  # out-of-scope rows repeat queries
    r.article[r.oos] = r.article[~r.oos][: int(r.oos.sum())]
    one, two = random_folds(r, 0), random_folds(r, 1)
    assert not np.array_equal(one.fold, two.fold)
    for rows in (one, two):
        for key in set(zip(r.dataset.tolist(), r.article.tolist(), strict=True)):
            mine = (r.dataset == key[0]) & (r.article == key[1])
            halves = {int(q): int(f) for q, f in zip(r.qnum[mine], rows.fold[mine], strict=True)}
            for q, f in zip(r.qnum[mine], rows.fold[mine], strict=True):
                assert halves[int(q)] == int(f)  # a query and its out-of-scope row agree
            counts = np.bincount(list(halves.values()), minlength=2)
            assert abs(int(counts[0]) - int(counts[1])) <= 1
    summary = repeated(
        r, 2, lambda rows: cross_validate_calibration(rows, 0.9, ["base"], 1.0, True, print), print
    )
    assert summary["base"]["en"]["halves"] == 4
    assert summary["pairs"]["en"]["more_answers"] == summary["pairs"]["en"]["fewer_answers"] == 0


def test_rows_saved_without_the_new_columns_are_refused(tmp_path: Path) -> None:
    saved = tmp_path / "old.npz"
    np.savez(saved, **{k: v for k, v in vars(_rows(50)).items() if k not in ("s3", "qnum")})
    with pytest.raises(SystemExit):
        main(["--rows", str(saved), "--calibrate", "base"])
