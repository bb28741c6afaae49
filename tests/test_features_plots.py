"""Feature Lab figure builders (plotly, no streamlit) and a session-asset build."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import plotly.graph_objects as go

from synthwb.charts.features import correlation_figure, importance_figure, oscillator_groups, price_figure
from synthwb.data.schema import Selection
from synthwb.features.compute import build_features
from synthwb.features.registry import FeatureSpec
from synthwb.features.selection import SelectionReport

SPEC = FeatureSpec(freq="1h", features=["ema", "bollinger", "psar", "rsi", "macd", "adx_regime", "calendar"])


def test_price_figure_overlays_panels_and_regime_shading(demo_lake, lake_env):
    frame = build_features(Selection("crypto", "BTC", "1h", "2024-01-04", "2024-01-18"), SPEC, root=demo_lake)
    groups = oscillator_groups(SPEC)
    # overlays, calendar and one-hot regimes are not oscillator panels; band width/%b and the SAR trend are
    assert set(groups) == {"rsi(window=14)", "macd(fast=12, slow=26, signal=9)", "bollinger(window=20, k=2.0)",
                           "psar(step=0.02, max_step=0.2)"}
    assert groups["bollinger(window=20, k=2.0)"] == ["bb_width_20_2", "bb_pctb_20_2"]
    assert groups["psar(step=0.02, max_step=0.2)"] == ["psar_trend_0.02_0.2"]
    panels = ["rsi(window=14)", "macd(fast=12, slow=26, signal=9)"]
    fig = price_figure(frame, SPEC, "crypto", panels=panels)
    names = [t.name for t in fig.data]
    assert isinstance(fig.data[0], go.Candlestick) and len(fig.data[0].x) == frame.height
    assert {"ema_20", "bb_upper_20_2", "bb_lower_20_2", "psar_0.02_0.2"} <= set(names)
    assert "bb_width_20_2" not in names  # not on the price scale
    assert {"rsi_14", "macd_12_26_9", "macd_hist_12_26_9"} <= set(names)
    hist = next(t for t in fig.data if t.name == "macd_hist_12_26_9")
    assert isinstance(hist, go.Bar)
    shaded = int((frame["regime_up"] + frame["regime_down"] + frame["regime_range"]).sum())
    assert shaded > 0 and len(fig.layout.shapes) > 0  # one rectangle per regime run
    assert len(fig.layout.shapes) <= shaded
    assert fig.layout.yaxis3 is not None  # price + two panels


def test_correlation_and_importance_figures():
    import polars as pl

    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    df = pl.DataFrame({"a": a, "b": -a, "c": rng.normal(size=200)})
    fig = correlation_figure(df, ["a", "b", "c"])
    z = np.array(fig.data[0].z)
    assert z.shape == (3, 3) and z[0, 1] == -1.0 and z[0, 0] == 1.0
    rep = SelectionReport(importances=[{"feature": "a", "importance": 0.7}, {"feature": "c", "importance": 0.3}],
                          kept=["a"])
    bar = importance_figure(rep).data[0]
    assert list(bar.y) == ["c", "a"] and list(bar.x) == [0.3, 0.7]
    assert bar.marker.color[1] != bar.marker.color[0]  # kept is highlighted


def test_session_asset_features_use_new_york_time(demo_lake, lake_env):
    spec = FeatureSpec(freq="1h", features=["calendar", "microstructure", "rsi"])
    frame = build_features(Selection("equity", "SPY", "1h", "2024-01-08", "2024-01-18"), spec, root=demo_lake)
    assert frame.height > 0
    hours = set(frame["cal_hour"].to_list())
    assert hours <= set(range(9, 16)) and 9 in hours  # session bars open 09:30 .. 15:30 New York
    assert frame["cal_weekend"].sum() == 0
    first = frame["ts"].min()
    assert first >= datetime(2024, 1, 8, tzinfo=UTC)
    assert np.isfinite(frame.drop("ts").to_numpy()).all()
