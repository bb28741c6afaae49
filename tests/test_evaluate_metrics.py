"""GluonTS metrics and trading metrics against formulas written out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from synthwb.core.errors import SpecError
from synthwb.scoring.metrics import QUANTILE_LEVELS, gluonts_metrics
from synthwb.scoring.trading import (
    TradingConfig,
    directional_accuracy,
    path_stats,
    perf_stats,
    strategy_returns,
    trading_metrics,
)


def test_gluonts_metrics_by_hand():
    rng = np.random.default_rng(0)
    B, P, T = 4, 400, 9
    paths = 100 * np.exp(np.cumsum(np.concatenate([np.zeros((B, P, 1)), rng.normal(0, 0.01, (B, P, T - 1))], -1), -1))
    real = 100 * np.exp(np.cumsum(np.concatenate([np.zeros((B, 1)), rng.normal(0, 0.012, (B, T - 1))], -1), -1))
    real[1, 4] = np.nan
    hist = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (B, 20)), -1))
    g = gluonts_metrics(paths, real, hist, seasonality=2)

    x, y = paths[:, :, 1:], real[:, 1:]
    ok = np.isfinite(y)
    q = lambda lv: np.quantile(x, lv, axis=1)  # noqa: E731
    med, mean = q(0.5), x.mean(axis=1)
    assert g["MAE"] == pytest.approx(np.abs(y - med)[ok].mean(), rel=1e-10)
    assert g["MSE"] == pytest.approx(((y - mean) ** 2)[ok].mean(), rel=1e-10)
    se = np.array([np.abs(h[2:] - h[:-2]).mean() for h in hist])[:, None] * np.ones_like(y)
    assert g["MASE"] == pytest.approx((np.abs(y - med) / se)[ok].mean(), rel=1e-10)
    wql = []
    for lv in QUANTILE_LEVELS:
        qq = q(lv)
        ql = 2 * np.abs((y - qq) * ((qq >= y) - lv))
        wql.append(ql[ok].sum() / np.abs(y[ok]).sum())
    assert g["wQL"] == pytest.approx(np.mean(wql), rel=1e-10)
    lo, hi = q(0.025), q(0.975)
    a = 0.05
    msis = (hi - lo + 2 / a * (lo - y) * (y < lo) + 2 / a * (y - hi) * (y > hi)) / se
    assert g["MSIS"] == pytest.approx(msis[ok].mean(), rel=1e-10)
    for c in (50, 80, 90):
        lo, hi = q((1 - c / 100) / 2), q(1 - (1 - c / 100) / 2)
        assert g[f"coverage_{c}"] == pytest.approx(((y > lo) & (y <= hi))[ok].mean(), abs=1e-12)
    assert g["n_points"] == ok.sum()
    with pytest.raises(SpecError):
        gluonts_metrics(paths, real, hist, seasonality=0)


def test_directional_accuracy_by_hand():
    med = np.array([[10, 11, 9, 10.0], [5, 4, 4, 6.0]])
    real = np.array([[10, 12, 11, 10.0], [5, 6, np.nan, 7.0]])
    # row 0: median moves (+,-,0) vs realised (+,+,0): step 3 realised flat -> skipped; 1 of 2
    # row 1: median (-,-,+) vs realised (+,nan,+): 1 of 2
    assert directional_accuracy(med, real) == pytest.approx(2 / 4)


def test_strategy_by_hand():
    cfg = TradingConfig(threshold_bps=10, cost_bps=5)
    m = np.array([0.002, -0.002, 0.0005, 0.003])
    p = np.array([0.6, 0.3, 0.7, 0.4])  # last: median up but p_up < 0.5 -> flat
    r = np.array([0.01, 0.02, 0.05, -0.03])
    pos, net = strategy_returns(m, p, r, cfg)
    assert pos.tolist() == [1, -1, 0, 0]
    np.testing.assert_allclose(net, [0.01 - 0.001, -0.02 - 0.001, 0.0, 0.0])


def test_perf_stats_by_hand():
    r = np.array([0.1, -0.2, 0.05])
    s = perf_stats(r, periods_per_year=4)
    eq = np.array([1.1, 0.88, 0.924])
    assert s["total_return"] == pytest.approx(0.924 - 1)
    assert s["max_drawdown"] == pytest.approx(1 - 0.88 / 1.1)
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * 2)
    assert eq[-1] == pytest.approx(1 + s["total_return"])


def test_trading_metrics_perfect_foresight_beats_buy_and_hold():
    rng = np.random.default_rng(3)
    B, P, T = 30, 50, 5
    real = 100 * np.exp(np.cumsum(np.concatenate([np.zeros((B, 1)), rng.normal(0, 0.01, (B, T - 1))], 1), 1))
    # forecasts centred exactly on the realised path, tiny spread
    paths = real[:, None, :] * np.exp(rng.normal(0, 1e-5, (B, P, T)))
    paths[:, :, 0] = real[:, None, 0]
    tm = trading_metrics(path_stats(paths), real, 300, TradingConfig(cost_bps=0))
    assert tm["directional_accuracy"] == 1.0
    assert tm["hit_rate"] == 1.0
    assert tm["strategy_return"] > tm["buyhold_return"]
    assert tm["strategy_max_drawdown"] == 0.0
