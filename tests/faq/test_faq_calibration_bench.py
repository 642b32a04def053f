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
    AGGS,
    GROUPS,
    KNN_K,
    KNN_RULES,
    Rows,
    _Bank,
    _design,
    _variants,
    aggregate,
    cross_validate_calibration,
    fit_logistic,
    main,
    predict,
    random_folds,
    repeated,
    rule_calib,
    tune,
    with_agg,
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
        knn_share=rng.uniform(0, 1, (n, len(KNN_K))),
        knn_margin=rng.uniform(-0.5, 1, (n, len(KNN_K))),
        agg_s1=np.repeat(s1[:, None], len(AGGS), axis=1),
        agg_s2=np.repeat(s2[:, None], len(AGGS), axis=1),
        agg_s3=np.repeat(s3[:, None], len(AGGS), axis=1),
        agg_right=np.repeat(right[:, None], len(AGGS), axis=1),
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


def _bank() -> _Bank:
    """Two articles: a with rows 0-2, b with rows 3-4 (unit vectors in 3-D)."""
    rows = np.eye(3, dtype=np.float32)[[0, 0, 1, 2, 2]]
    rows[1] = np.array([0.8, 0.6, 0.0], dtype=np.float32)
    starts = np.array([0, 3])
    sums = np.add.reduceat(rows, starts, axis=0)
    cent = (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
    pad = np.array([[0, 1, 2], [3, 4, -1]])
    return _Bank(np.array(["a", "b"]), rows, np.array([0, 0, 0, 1, 1]), starts, cent, pad)


def test_aggregations_of_phrasing_cosines() -> None:
    bank = _bank()
    cos = np.array([0.9, 0.8, 0.5, 0.7, 0.6])
    cent = np.array([0.85, 0.65])
    assert aggregate(cos, cent, bank, "shipped") == pytest.approx(
        [0.75 * 0.9 + 0.25 * 0.85, 0.75 * 0.7 + 0.25 * 0.65]
    )
    assert aggregate(cos, cent, bank, "top2") == pytest.approx([0.85, 0.65])
    assert aggregate(cos, cent, bank, "top3") == pytest.approx([2.2 / 3, 0.65])  # b has two
    assert aggregate(cos, cent, bank, "top2c") == pytest.approx(
        [0.75 * 0.85 + 0.25 * 0.85, 0.75 * 0.65 + 0.25 * 0.65]
    )
    soft = aggregate(cos, cent, bank, "soft5")
    assert np.all(soft <= [0.9, 0.7]) and np.all(soft >= [2.2 / 3, 0.65])
    assert aggregate(cos, cent, bank, "soft1")[0] > soft[0]  # colder: nearer the best


def test_knn_vote_and_variants_of_one_query() -> None:
    bank = _bank()
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)  # rows 0, 1 nearest (a), then b's
    out = _variants(bank, query, {"b": 0.5}, gold="a", top="a")
    assert out["knn_share"][0] == pytest.approx(0.6)  # k >= 5 rows: all of them, 3 are a's
    assert out["knn_share"][0] == out["knn_share"][-1]
    assert out["knn_margin"][0] == pytest.approx(0.6 - 0.4)
    assert len(out["agg_s1"]) == len(AGGS)
    # a's semantic lead (x 0.8) outweighs b's lexical 0.5 (x 0.2) in every aggregation
    assert out["agg_right"] == [True] * len(AGGS)
    assert out["agg_s2"][0] == pytest.approx(0.2 * 0.5)  # b: no cosine above 0, lexical 0.5
    out = _variants(bank, query, {}, gold="b", top="a")
    assert out["agg_right"] == [False] * len(AGGS)
    assert all(
        a >= b >= c for a, b, c in zip(out["agg_s1"], out["agg_s2"], out["agg_s3"], strict=True)
    )


def test_knn_rules_add_answers_to_the_pair_and_aggregations_swap_columns() -> None:
    r = _rows()
    pair = (0.85, 0.03)
    base = int(KNN_RULES["knn10"](r, (*pair, 2.0, 0.0))[0].sum())  # no vote reaches 2
    loose = int(KNN_RULES["knn10"](r, (*pair, 0.5, 0.8))[0].sum())
    assert loose > base
    assert int(KNN_RULES["knnm5"](r, (*pair, 0.3, 0.8))[0].sum()) > base
    r.agg_s1[:, AGGS.index("top2")] = 0.5
    assert np.all(with_agg(r, "top2").s1 == 0.5)
    assert np.array_equal(with_agg(r, "shipped").s1, r.s1)
    out = cross_validate_calibration(
        r, 0.9, ["rule:knn10", "agg:top2", "base+knn"], 1.0, True, lambda _: None
    )
    assert [row["spec"] for row in out][::2] == ["pairs", "rule:knn10", "agg:top2", "base+knn"]
    assert "knn10_share" in out[-1]["features"]
