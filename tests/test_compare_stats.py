"""Leaderboard, win rate and the paired significance tests, pinned on hand-made tables."""
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from synthwb.core.errors import SpecError
from synthwb.evaluate.compare import block_bootstrap, leaderboard, overlap_lag, shared_origins, significance


def _table(cols: dict[str, list[float]]) -> pl.DataFrame:
    rows = []
    for model, vals in cols.items():
        for i, v in enumerate(vals):
            rows.append({"origin": i + 1, "model": model, "total": float(v), "valid": v >= 0})
    return pl.DataFrame(rows)


HAND = {
    "gbm": [10, 20, 30, 40],
    "m1": [8, 22, 27, 40],
    "m2": [12, -1, 33, 44],  # origin 2 invalid for m2 -> shared origins are 1, 3, 4
}


def test_shared_origins_drop_any_invalid():
    assert shared_origins(_table(HAND)) == [1, 3, 4]
    assert shared_origins(_table(HAND), ["gbm", "m1"]) == [1, 2, 3, 4]


def test_leaderboard_on_hand_made_table():
    lb = leaderboard(_table(HAND), "gbm", method=None)
    rows = {r["model"]: r for r in lb.to_dicts()}
    assert lb["model"].to_list() == ["m1", "gbm", "m2"]
    assert lb["rank"].to_list() == [1, 2, 3]
    # shared origins 1, 3, 4: gbm 10, 30, 40; m1 8, 27, 40; m2 12, 33, 44
    assert rows["gbm"]["mean"] == pytest.approx(80 / 3)
    assert rows["m1"]["mean"] == pytest.approx(25.0)
    assert rows["m2"]["mean"] == pytest.approx(89 / 3)
    assert rows["m1"]["median"] == pytest.approx(27.0)
    assert rows["m1"]["rel_mean"] == pytest.approx(25 / (80 / 3))
    assert rows["m1"]["pct_vs_benchmark"] == pytest.approx(-6.25)
    assert rows["m2"]["pct_vs_benchmark"] == pytest.approx(11.25)
    assert rows["gbm"]["rel_mean"] == pytest.approx(1.0)
    # m1 differences -2, -3, 0 -> wins 1 + 1 + tie 0.5 over 3
    assert rows["m1"]["win_rate"] == pytest.approx(2.5 / 3)
    assert rows["m2"]["win_rate"] == pytest.approx(0.0)
    assert rows["gbm"]["win_rate"] == pytest.approx(0.5)
    assert all(r["n_origins"] == 3 for r in rows.values())
    assert rows["m2"]["n_invalid"] == 1 and rows["m1"]["n_invalid"] == 0
    assert rows["m2"]["mean_all"] == pytest.approx(89 / 3)
    assert rows["gbm"]["mean_all"] == pytest.approx(25.0)  # all 4 of its own origins
    assert rows["m1"]["std"] == pytest.approx(np.std([8, 27, 40], ddof=1))


def test_leaderboard_p_values_against_benchmark():
    lb = leaderboard(_table(HAND), "gbm", method="dm")
    rows = {r["model"]: r for r in lb.to_dicts()}
    assert rows["gbm"]["p_value"] is None
    # h = 1 DM with HLN is the paired t-test (on the 3 shared origins)
    expect = stats.ttest_rel([8, 27, 40], [10, 30, 40]).pvalue
    assert rows["m1"]["p_value"] == pytest.approx(expect, rel=1e-9)


def test_leaderboard_errors_name_the_problem():
    with pytest.raises(SpecError, match="benchmark 'nope'"):
        leaderboard(_table(HAND), "nope")
    with pytest.raises(SpecError, match="no origin where every model"):
        leaderboard(_table({"a": [1, -1], "b": [-1, 2]}), "a")
    with pytest.raises(SpecError, match="lack column"):
        leaderboard(pl.DataFrame({"origin": [1], "model": ["a"]}), "a")


# --------------------------------------------------------------------------- Diebold-Mariano

A = [3.0, 5.0, 4.0, 6.0, 2.0, 7.0, 5.5, 4.5]
B = [4.0, 4.0, 5.0, 5.0, 5.0, 5.0, 6.5, 6.0]


def _dm_by_hand(a, b, h):
    d = np.array(a) - np.array(b)
    T = len(d)
    dbar = d.sum() / T
    dev = d - dbar
    gammas = [np.sum(dev[k:] * dev[: T - k]) / T for k in range(h)]
    lrv = gammas[0] + sum(2 * (1 - k / h) * gammas[k] for k in range(1, h))  # Newey-West, Bartlett
    dm = dbar / math.sqrt(lrv / T)
    hln = math.sqrt((T + 1 - 2 * h + h * (h - 1) / T) / T)
    stat = dm * hln
    p = 2 * (1 - stats.t.cdf(abs(stat), df=T - 1))
    return dbar, stat, p


@pytest.mark.parametrize("h", [1, 2, 3])
def test_dm_matches_hand_computation(h):
    dbar, stat, p = _dm_by_hand(A, B, h)
    res = significance(_table({"a": A, "b": B}), "a", "b", "dm", h=h)
    assert res.n == len(A)
    assert res.mean_diff == pytest.approx(dbar, abs=1e-12)
    assert res.statistic == pytest.approx(stat, rel=1e-10)
    assert res.p_value == pytest.approx(p, rel=1e-8)


def test_dm_h1_is_the_paired_t_test():
    res = significance(_table({"a": A, "b": B}), "a", "b", "dm", h=1)
    ref = stats.ttest_rel(A, B)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    lo, hi = ref.confidence_interval(0.95)
    assert (res.ci_low, res.ci_high) == (pytest.approx(lo), pytest.approx(hi))


def test_identical_series_are_not_significant():
    for method in ("dm", "bootstrap"):
        res = significance(_table({"a": A, "b": A}), "a", "b", method)
        assert res.p_value == 1.0 and not res.significant
        assert res.mean_diff == 0.0 and res.ci_low == 0.0 and res.ci_high == 0.0


def test_clearly_shifted_series_are_significant():
    rng = np.random.default_rng(1)
    base = rng.gamma(5.0, 20.0, size=60)
    better = base - 10.0 + rng.normal(0, 2.0, size=60)
    for method in ("dm", "bootstrap"):
        res = significance(_table({"new": better, "gbm": base}), "new", "gbm", method, h=3)
        assert res.p_value < 0.01, method
        assert res.mean_diff < 0 and res.ci_high < 0
        assert res.verdict == "new better"


def test_noise_only_is_rarely_significant():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(40):
        x = rng.normal(100, 5, 40)
        y = rng.normal(100, 5, 40)
        hits += significance(_table({"x": x, "y": y}), "x", "y", "dm").p_value < 0.05
    assert hits <= 6  # about 2 expected at the 5% level


# --------------------------------------------------------------------------- block bootstrap


def test_bootstrap_block_one_on_two_points_by_hand():
    # T = 2, block 1: resample means are d1, (d1+d2)/2, d2 with probabilities 1/4, 1/2, 1/4
    d = np.array([1.0, 3.0])
    means = block_bootstrap(d, block=1, n_boot=40000, seed=3)
    freq = {v: np.mean(means == v) for v in (1.0, 2.0, 3.0)}
    assert freq[1.0] == pytest.approx(0.25, abs=0.01)
    assert freq[2.0] == pytest.approx(0.5, abs=0.01)
    assert freq[3.0] == pytest.approx(0.25, abs=0.01)


def test_bootstrap_iid_spread_matches_formula():
    d = np.array(A) - np.array(B)
    means = block_bootstrap(d, block=1, n_boot=40000, seed=5)
    # iid bootstrap: Var(mean*) = (1/T) * (1/T) sum (d - dbar)^2
    expect = math.sqrt(np.mean((d - d.mean()) ** 2) / d.size)
    assert means.mean() == pytest.approx(d.mean(), abs=0.01)
    assert means.std() == pytest.approx(expect, rel=0.03)


def test_bootstrap_full_block_is_a_rotation():
    d = np.array(A) - np.array(B)
    means = block_bootstrap(d, block=d.size, n_boot=500, seed=0)
    assert np.allclose(means, d.mean())


def test_bootstrap_ci_covers_mean_and_is_reproducible():
    t = _table({"a": A, "b": B})
    r1 = significance(t, "a", "b", "bootstrap", seed=11, block=2)
    r2 = significance(t, "a", "b", "bootstrap", seed=11, block=2)
    assert r1.to_dict() == r2.to_dict()
    assert r1.ci_low <= r1.mean_diff <= r1.ci_high
    assert r1.block == 2


def test_overlap_lag():
    assert overlap_lag(86400, 86400) == 1
    assert overlap_lag(86400, 3600 * 6) == 4
    assert overlap_lag(3600, 3600 * 24) == 1
    assert overlap_lag(86400, 7 * 3600) == 4


def test_significance_errors():
    t = _table({"a": A, "b": B})
    with pytest.raises(SpecError, match="unknown significance method"):
        significance(t, "a", "b", "ttest")
    with pytest.raises(SpecError, match="'c' is not in the score table"):
        significance(t, "a", "c")
    with pytest.raises(SpecError, match="need at least 2"):
        significance(_table({"a": [1.0, -1.0], "b": [2.0, 2.0]}), "a", "b")
