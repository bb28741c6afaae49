"""Figure builders: candle count is capped, session charts hide closed hours, calendar shape."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from synthwb.charts.data import (
    MAX_CANDLES,
    candles_figure,
    coverage_figure,
    display_bars,
    realized_vol_figure,
    returns_histogram,
)
from synthwb.data.cleaning import quality_report
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection


def test_display_bars_caps_candles(demo_lake):
    df = read_bars(Selection("crypto", "BTC", "1min"), root=demo_lake)
    assert df.height > MAX_CANDLES
    shown, freq, aggregated = display_bars(df, "1min", "crypto")
    assert aggregated and freq == "1h" and shown.height <= MAX_CANDLES  # 18 days: 1,728 15min bars are too many
    # the aggregation keeps the range: same first open, last close, extremes and volume
    assert shown["open"][0] == df["open"][0] and shown["close"][-1] == df["close"][-1]
    assert shown["high"].max() == df["high"].max() and shown["low"].min() == df["low"].min()
    assert np.isclose(shown["volume"].sum(), df["volume"].sum())
    small = df.head(100)
    assert display_bars(small, "1min", "crypto") == (small, "1min", False)


def test_candles_figure_traces_and_session_rangebreaks(demo_lake):
    df = read_bars(Selection("equity", "SPY", "1h"), root=demo_lake)
    fig = candles_figure(df, "SPY 1h", "equity")
    kinds = [t.type for t in fig.data]
    assert kinds == ["candlestick", "bar"]
    assert len(fig.data[0].x) == df.height
    assert fig.layout.xaxis.rangebreaks  # nights and weekends hidden for a session asset
    crypto = candles_figure(read_bars(Selection("crypto", "BTC", "1h"), root=demo_lake), "", "crypto")
    assert not crypto.layout.xaxis.rangebreaks


def test_coverage_and_histogram(demo_lake):
    df = read_bars(Selection("crypto", "ETH", "1min"), root=demo_lake)
    rep = quality_report(df, "1min", "crypto")
    fig = coverage_figure(rep["coverage"])
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape[0] == 7 and np.nanmax(z) <= 1.0
    assert np.count_nonzero(~np.isnan(z)) == len(rep["coverage"])
    hist = returns_histogram(df)
    assert [t.name for t in hist.data] == ["returns", "normal"]


def test_coverage_of_a_single_week_has_week_labels():
    """One week of data: the x axis shows that week's Monday, not sub-second date ticks."""
    days = [date(2024, 2, 29) + timedelta(days=i) for i in range(3)]  # Thu..Sat, week of Mon 26 Feb
    fig = coverage_figure([{"date": d, "present": 96, "expected": 96, "share": 1.0} for d in days])
    assert fig.layout.xaxis.type == "category"
    assert list(fig.data[0].x) == ["2024-02-26"]


def test_realized_vol_figure_matches_rolling_std(demo_lake):
    df = read_bars(Selection("crypto", "BTC", "1h"), root=demo_lake)
    fig = realized_vol_figure(df, "1h", "crypto")
    y = np.array(fig.data[0].y, dtype=float)
    r = np.diff(np.log(df["close"].to_numpy()))
    # first value: std of the first 24 hourly log returns, annualised with 365.25*24 bars
    want = np.std(r[:24], ddof=1) * np.sqrt(365.25 * 24) * 100
    assert y[0] == pytest.approx(want, rel=1e-9)
    assert len(y) == df.height - 24


def test_realized_vol_figure_thins_a_long_series_evenly(demo_lake):
    df = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)  # ~5,000 bars
    full = realized_vol_figure(df, "5min", "crypto", max_points=100_000)
    thin = realized_vol_figure(df, "5min", "crypto", max_points=1000)
    y_full, y_thin = np.array(full.data[0].y, dtype=float), np.array(thin.data[0].y, dtype=float)
    step = -(-len(y_full) // 1000)
    assert len(y_thin) <= 1000 and len(y_full) > 4000
    np.testing.assert_array_equal(y_thin, y_full[::step])  # every step-th point, from the first
