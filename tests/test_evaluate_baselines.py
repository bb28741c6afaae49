"""Baselines: shape, t0, positivity, seeds, volatility estimates, GARCH fit, no look-ahead."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import DataError, NotFound, SpecError
from synthwb.forecast.baselines import BASELINES, BaselineForecaster, garch_fit, simulate_baseline

T0 = datetime(2024, 3, 1, tzinfo=UTC)
YEAR = 365 * 86400


def history(n=4000, sigma=0.001, seed=0, bar=60):
    rng = np.random.default_rng(seed)
    ts = np.array([np.datetime64(T0.replace(tzinfo=None)) + np.timedelta64(i * bar, "s") for i in range(n)])
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, sigma, n)))
    return close, ts


def frame(close, ts):
    return pl.DataFrame({"ts": pl.Series(ts).dt.replace_time_zone("UTC"), "close": close})


def test_registry_has_the_four_baselines():
    assert set(BASELINES.names()) >= {"gbm", "gbm_ewma", "garch", "bootstrap"}
    with pytest.raises(NotFound):
        BaselineForecaster("nope")
    with pytest.raises(SpecError):
        BaselineForecaster("gbm", bogus=1)
    with pytest.raises(SpecError):
        BaselineForecaster("bootstrap", block=0)


@pytest.mark.parametrize("name", ["gbm", "gbm_ewma", "garch", "bootstrap"])
def test_shape_t0_positive_seeded(name):
    close, ts = history()
    p = simulate_baseline(name, close, ts, 48, 300, 256, seed=3)
    assert p.shape == (256, 49)
    assert np.all(p[:, 0] == close[-1])
    assert np.all(np.isfinite(p)) and np.all(p > 0)
    again = simulate_baseline(name, close, ts, 48, 300, 256, seed=3)
    np.testing.assert_array_equal(p, again)
    other = simulate_baseline(name, close, ts, 48, 300, 256, seed=4)
    assert not np.array_equal(p, other)
    # zero drift in price: the terminal mean stays near the last close
    sd = np.std(np.log(p[:, -1] / p[:, 0]))
    assert abs(np.mean(p[:, -1]) / close[-1] - 1) < 4 * sd / np.sqrt(256)


@pytest.mark.parametrize("name", ["gbm", "gbm_ewma", "garch", "bootstrap"])
def test_volatility_matches_the_history(name):
    # 1-minute history with sigma 0.1% per bar; forecast 5-minute steps for 4 hours
    close, ts = history(n=6000, sigma=0.001, seed=1)
    p = simulate_baseline(name, close, ts, 48, 300, 4000, seed=0)
    lr = np.log(p[:, 1:] / p[:, :-1])
    assert np.std(lr) == pytest.approx(0.001 * np.sqrt(5), rel=0.12)


def test_gbm_fixed_annual_sigma_like_the_reference_miner():
    close, ts = history()
    p = simulate_baseline("gbm", close, ts, 288, 300, 4000, seed=0, sigma_annual=0.8)
    lr = np.log(p[:, 1:] / p[:, :-1])
    assert np.std(lr) == pytest.approx(0.8 * np.sqrt(300 / YEAR), rel=0.02)


def test_garch_fit_recovers_parameters():
    rng = np.random.default_rng(5)
    w, a, b = 2e-7, 0.08, 0.90
    h = w / (1 - a - b)
    r = np.empty(6000)
    for i in range(r.size):
        r[i] = np.sqrt(h) * rng.standard_normal()
        h = w + a * r[i] ** 2 + b * h
    w_hat, a_hat, b_hat, h_next = garch_fit(r)
    assert a_hat == pytest.approx(a, abs=0.03)
    assert b_hat == pytest.approx(b, abs=0.04)
    assert w_hat / (1 - a_hat - b_hat) == pytest.approx(np.var(r), rel=0.05)
    assert h_next > 0


def test_bootstrap_draws_historical_step_returns():
    close, ts = history(n=3000, seed=2)
    p = simulate_baseline("bootstrap", close, ts, 10, 60, 50, seed=0, demean=False, lookback_days=0)
    hist = set(np.round(np.diff(np.log(close)), 12))
    drawn = np.round(np.log(p[:, 1:] / p[:, :-1]), 12)
    assert set(drawn.ravel()) <= hist


def test_too_little_history_is_a_clear_error():
    close, ts = history(n=10)
    with pytest.raises(DataError, match="at least"):
        simulate_baseline("gbm", close, ts, 5, 60, 10)


@pytest.mark.parametrize("name", ["gbm", "gbm_ewma", "garch", "bootstrap"])
def test_forecast_uses_no_bars_after_the_origin(name):
    close, ts = history(n=3000, seed=7)
    bars = frame(close, ts)
    origins = [T0 + timedelta(minutes=1500), T0 + timedelta(minutes=2200)]
    f = BaselineForecaster(name)
    a = f.forecast(bars, origins, 12, 300, 64, seed=1)
    assert a.shape == (2, 64, 13)
    # column 0 is the close of the bar at the origin
    assert a[0, 0, 0] == close[1500] and a[1, 0, 0] == close[2200]
    # rewrite everything after the last origin (and drop bars): the forecasts must not change
    future = bars["ts"] > origins[-1]
    changed = bars.with_columns(pl.when(future).then(pl.col("close") * 3.0).otherwise(pl.col("close")).alias("close"))
    b = f.forecast(changed, origins, 12, 300, 64, seed=1)
    np.testing.assert_array_equal(a, b)
    c = f.forecast(bars.filter(~future), origins, 12, 300, 64, seed=1)
    np.testing.assert_array_equal(a, c)
    # and the first origin does not see bars between the two origins either
    mid = (bars["ts"] > origins[0])
    changed2 = bars.with_columns(pl.when(mid).then(pl.col("close") * 0.5).otherwise(pl.col("close")).alias("close"))
    d = f.forecast(changed2, origins[:1], 12, 300, 64, seed=1)
    np.testing.assert_array_equal(a[:1], d)
