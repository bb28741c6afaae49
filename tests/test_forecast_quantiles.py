"""The quantiles-to-paths layer (synthwb.forecast.quantiles): its pieces, and its quality against
known processes: quantiles computed exactly from GBM and from a stochastic-volatility process,
turned into paths, score within 1% of the process's own paths on the 24h and 1h tasks (the
default validator's 1h task includes the volatility term). bench/bench_quantiles.py runs the
same comparison with more realisations."""
from __future__ import annotations

import numpy as np
import pytest
from quantile_truth import compare, true_paths, true_quantiles
from scipy.stats import norm

from synthwb.core.errors import SpecError
from synthwb.forecast.quantiles import (
    MOIRAI2_LEVELS,
    S_GRID,
    fit_marginals,
    interpolate_horizons,
    mixture_cdf,
    mixture_ppf,
    paths_from_quantiles,
    quantiles_to_paths,
)
from synthwb.scoring.synth import block_vols

LV = np.array(MOIRAI2_LEVELS)
U = np.array([1e-4, 0.0005, 0.01, 0.05, 0.1, 0.37, 0.5, 0.9, 0.95, 0.99, 0.9995])


def test_marginals_recover_the_normal_and_the_mixture_tails():
    q = 0.02 + norm.ppf(LV)[None, :] * np.array([[1.0], [0.3]])
    m = fit_marginals(LV, q)
    assert (S_GRID[m.s_index] == 0).all()
    np.testing.assert_allclose(m.ppf(U), 0.02 + norm.ppf(U)[None, :] * np.array([[1.0], [0.3]]), atol=2e-4)
    # a heavy-tailed mixture: its shape is found from the 9 quantiles and its tails extrapolated
    for s in (0.3, 0.6):
        i = int(np.argmin(np.abs(S_GRID - s)))
        m = fit_marginals(LV, 2.0 * mixture_ppf(LV, i)[None, :])
        assert m.s_index[0] == i
        np.testing.assert_allclose(m.ppf(U)[0], 2.0 * mixture_ppf(U, i), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(mixture_cdf(mixture_ppf(U, i), i), U, rtol=1e-6)
    # skew: the two tails scale separately; crossing quantiles are rearranged, the result monotone
    skew = norm.ppf(LV) * np.where(LV < 0.5, 1.0, 2.0)
    m = fit_marginals(LV, skew[None, :])
    assert m.c_hi[0] == pytest.approx(2 * m.c_lo[0], rel=1e-3)
    crossed = fit_marginals(LV, norm.ppf(LV)[None, [0, 1, 2, 4, 3, 5, 6, 8, 7]])
    assert (np.diff(crossed.ppf(np.linspace(1e-4, 1 - 1e-4, 400))[0]) > 0).all()
    with pytest.raises(SpecError, match="both sides of the median"):
        fit_marginals([0.1, 0.2, 0.3], np.zeros((1, 3)))


def test_paths_keep_marginals_and_random_walk_increments():
    g = 300.0 * np.arange(1, 289)
    q = -0.5e-8 * g[:, None] + 1e-4 * np.sqrt(g)[:, None] * norm.ppf(LV)[None, :]
    x = quantiles_to_paths(LV, q, g, g, 4000, seed=1)
    assert x.shape == (4000, 289) and (x[:, 0] == 0).all()
    emp = np.quantile(x[:, 1:], LV, axis=0).T
    assert (np.abs(emp - q).max(axis=1) < 0.05 * (q[:, -1] - q[:, 0])).all()  # about 4 MC standard errors
    inc = np.diff(x, axis=1) / (1e-4 * np.sqrt(300.0))
    assert np.abs(inc.std(axis=0).mean() - 1) < 0.02  # increments of a random walk, unit variance
    c = np.corrcoef(inc[:, 10], inc[:, 200])[0, 1]
    assert abs(c) < 0.06  # independent
    np.testing.assert_array_equal(x, quantiles_to_paths(LV, q, g, g, 4000, seed=1))
    # a coarse quantile grid (hourly) for a 5-minute path grid: interpolated in between
    hours = 3600.0 * np.arange(1, 25)
    qh = 1e-4 * np.sqrt(hours)[:, None] * norm.ppf(LV)[None, :]
    qi = interpolate_horizons(LV, qh, hours, g)
    np.testing.assert_allclose(qi, 1e-4 * np.sqrt(g)[:, None] * norm.ppf(LV)[None, :], atol=1e-12)
    assert quantiles_to_paths(LV, qh, hours, g, 100).shape == (100, 289)
    with pytest.raises(SpecError, match="quantiles stop at"):
        interpolate_horizons(LV, qh, hours, np.array([3600.0 * 25]))
    # increments: per-step quantiles summed; prices; non-finite quantiles give an invalid (NaN) origin
    qs = 1e-3 * np.ones((12, 1)) * norm.ppf(LV)[None, :]
    xi = quantiles_to_paths(LV, qs, np.arange(1, 13.0), np.arange(1, 13.0), 4000, kind="increments", vol_mixing=0)
    assert np.diff(xi, axis=1).std() == pytest.approx(1e-3, rel=0.03)
    assert xi[:, -1].std() == pytest.approx(1e-3 * np.sqrt(12), rel=0.05)
    qb = np.stack([q, q])
    qb[1, 5, 3] = np.nan
    p = paths_from_quantiles(LV, qb, g, g, np.array([100.0, 50.0]), 64)
    assert (p[:, :, 0] == [[100.0], [50.0]]).all() and np.isfinite(p[0]).all() and np.isnan(p[1, :, 1:]).all()


def test_sv_quantiles_by_monte_carlo_are_stable():
    a = true_quantiles("sv", 12, 300.0, n_vol=2000, seed=1)
    b = true_quantiles("sv", 12, 300.0, n_vol=2000, seed=2)
    assert np.abs(a - b).max() < 0.02 * (a[:, -1] - a[:, 0]).min()


@pytest.mark.parametrize("process", ["gbm", "sv"])
def test_layer_scores_within_one_percent_of_the_true_process(process):
    """Known-process quality: the layer's paths from the exact quantiles at Moirai 2's nine levels
    score within 1% of the process's own paths on the 24h and 1h tasks (common realisations;
    the paired standard error must be well under 1% so the check means something)."""
    for task, n_real in (("24h", 64), ("1h", 200)):
        r = compare(process, task, n_real=n_real, n_ens=4, n_vol=3000)
        assert r["se"] < 0.003, r
        assert abs(r["ratio"] - 1) < 0.01, r
        if task == "1h":
            # the volatility term (about 1% of the 1h score) on its own
            assert abs(r["vol_ratio"] - 1) < 0.025 and r["vol_se"] < 0.005, r


def test_block_volatilities_have_the_truths_spread():
    """The per-path volatility factor is what gives the 1-hour block volatilities (the 2026-09
    volatility term) the spread of the stochastic-volatility truth; a plain Gaussian copula
    (``vol_mixing=0``) makes them about half as dispersed (bench: its volatility term is ~6% worse)."""
    q = true_quantiles("sv", 60, 60.0, n_vol=3000)
    g = 60.0 * np.arange(1, 61)

    def spread(paths):  # cross-path sd of the log of each path's 60-minute block volatility
        return float(np.std(np.log(block_vols(paths, 60)[:, 0])))

    truth = spread(100 * np.exp(true_paths("sv", 4000, 60, 60.0, np.random.default_rng(7))))
    mixed = spread(paths_from_quantiles(LV, q[None], g, g, [100.0], 4000, seed=7)[0])
    plain = spread(paths_from_quantiles(LV, q[None], g, g, [100.0], 4000, seed=7, vol_mixing=0)[0])
    assert abs(mixed / truth - 1) < 0.1, (mixed, truth)
    assert plain < 0.7 * truth, (plain, truth)
