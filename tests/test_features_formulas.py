"""Indicator and micro-structure formulas against values computed by hand on tiny inputs."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.features.compute import compute_features
from synthwb.features.microstructure import MICRO_FEATURES, resample_with_micro
from synthwb.features.registry import FeatureContext, FeatureSpec

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def bars(close, high=None, low=None, volume=None, open_=None, step=timedelta(hours=1)):
    n = len(close)
    close = [float(c) for c in close]
    return pl.DataFrame({
        "ts": [T0 + i * step for i in range(n)],
        "open": [float(x) for x in (open_ or close)],
        "high": [float(x) for x in (high or close)],
        "low": [float(x) for x in (low or close)],
        "close": close,
        "volume": [float(x) for x in (volume or [1.0] * n)],
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def feat(df, name, dropna=False, ctx=None, **params):
    spec = FeatureSpec(freq="1h", features=[{"name": name, "params": params}], dropna=False)
    out = compute_features(df, spec, ctx or FeatureContext("crypto", "1h"), dropna=dropna)
    return out


def col(df, name):
    return [None if v is None else float(v) for v in df[name].to_list()]


def assert_approx_list(got, want, tol=1e-9):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        if w is None:
            assert g is None, (got, want)
        else:
            assert g is not None and g == pytest.approx(w, rel=tol, abs=tol), (got, want)


# five bars used by ATR / ADX / stochastic / CCI / A-D tests
H = [10, 11, 12, 11.5, 13]
L = [8, 9, 10, 9, 12]
C = [9, 10.5, 11, 9.5, 12.5]
V = [100, 200, 300, 400, 500]


def test_rsi_wilder_by_hand():
    df = bars([10, 11, 10.5, 11.5, 12, 11])
    # changes +1, -0.5, +1, +0.5, -1; window 3, Wilder seeded with the first 3-change mean
    ag3, al3 = (1 + 0 + 1) / 3, (0 + 0.5 + 0) / 3
    ag4, al4 = (ag3 * 2 + 0.5) / 3, (al3 * 2 + 0) / 3
    ag5, al5 = (ag4 * 2 + 0) / 3, (al4 * 2 + 1) / 3
    want = [None, None, None] + [100 - 100 / (1 + g / l) for g, l in ((ag3, al3), (ag4, al4), (ag5, al5))]
    assert_approx_list(col(feat(df, "rsi", window=3), "rsi_3"), want)
    assert want[3] == pytest.approx(80.0) and want[5] == pytest.approx(50.0)


def test_rsi_without_losses_is_100_and_flat_is_50():
    up = feat(bars([1, 2, 3, 4, 5]), "rsi", window=2)
    assert col(up, "rsi_2")[2:] == [100.0, 100.0, 100.0]
    flat = feat(bars([5, 5, 5, 5]), "rsi", window=2)
    assert col(flat, "rsi_2")[2:] == [50.0, 50.0]


def test_sma_ema_wma():
    df = bars([1, 2, 3, 4, 5, 6])
    assert_approx_list(col(feat(df, "sma", window=3), "sma_3"), [None, None, 2, 3, 4, 5])
    # EMA alpha = 2/(3+1) = 0.5 seeded with SMA(1,2,3) = 2
    assert_approx_list(col(feat(df, "ema", window=3), "ema_3"), [None, None, 2, 3, 4, 5])
    df2 = bars([1, 2, 3, 10])
    assert_approx_list(col(feat(df2, "ema", window=3), "ema_3"), [None, None, 2, 2 + 0.5 * (10 - 2)])
    assert_approx_list(col(feat(df2, "wma", window=3), "wma_3"), [None, None, (1 + 4 + 9) / 6, (2 + 6 + 30) / 6])


def test_macd_line_signal_hist():
    closes = [1, 2, 3, 4, 5, 4, 3, 5]
    df = bars(closes)
    out = feat(df, "macd", fast=2, slow=3, signal=2)

    def ema(xs, n):
        a = 2 / (n + 1)
        out = [None] * len(xs)
        vals = [(i, x) for i, x in enumerate(xs) if x is not None]
        first = vals[n - 1][0]
        out[first] = sum(x for _, x in vals[:n]) / n
        for i in range(first + 1, len(xs)):
            out[i] = out[i - 1] + a * (xs[i] - out[i - 1])
        return out

    e2, e3 = ema(closes, 2), ema(closes, 3)
    line = [None if b is None else a - b for a, b in zip(e2, e3)]
    sig = ema(line, 2)
    assert_approx_list(col(out, "macd_2_3_2"), line)
    assert_approx_list(col(out, "macd_signal_2_3_2"), sig)
    assert_approx_list(col(out, "macd_hist_2_3_2"), [None if s is None else l - s for l, s in zip(line, sig)])


def test_atr_wilder_by_hand():
    df = bars(C, H, L)
    # TR from bar 1: 2, 2, 2.5, 3.5; ATR(2) seed (2+2)/2 at bar 2
    assert_approx_list(col(feat(df, "atr", window=2), "atr_2"), [None, None, 2.0, (2 * 1 + 2.5) / 2, (2.25 + 3.5) / 2])


def test_adx_di_by_hand():
    out = feat(bars(C, H, L), "adx", window=2)
    s_tr = [2.0, 2.25, 2.875]
    s_pdm = [1.0, 0.5, 1.0]
    s_mdm = [0.0, 0.5, 0.25]
    pdi = [100 * p / t for p, t in zip(s_pdm, s_tr)]
    mdi = [100 * m / t for m, t in zip(s_mdm, s_tr)]
    dx = [100 * abs(p - m) / (p + m) for p, m in zip(pdi, mdi)]
    assert dx == pytest.approx([100, 0, 60])
    assert_approx_list(col(out, "plus_di_2"), [None, None, *pdi])
    assert_approx_list(col(out, "minus_di_2"), [None, None, *mdi])
    assert_approx_list(col(out, "adx_2"), [None, None, None, 50.0, 55.0])


def test_adx_regime_one_hot():
    out = feat(bars(C, H, L), "adx_regime", window=2, trend_threshold=52.0, range_threshold=20.0)
    # ADX: -, -, -, 50 (between thresholds: neutral), 55 (trend, +DI > -DI: up)
    assert col(out, "regime_up") == [0, 0, 0, 0, 1]
    assert col(out, "regime_neutral") == [1, 1, 1, 1, 0]
    assert col(out, "regime_down") == [0] * 5 and col(out, "regime_range") == [0] * 5


def test_stochastic_by_hand():
    out = feat(bars(C, H, L), "stochastic", k=3, d=3)
    k = [None, None, 100 * (11 - 8) / (12 - 8), 100 * (9.5 - 9) / (12 - 9), 100 * (12.5 - 9) / (13 - 9)]
    assert_approx_list(col(out, "stoch_k_3"), k)
    assert_approx_list(col(out, "stoch_d_3_3"), [None, None, None, None, sum(k[2:]) / 3])


def test_cci_by_hand():
    out = feat(bars(C, H, L), "cci", window=3, constant=0.015)
    tp = [(h + lo + c) / 3 for h, lo, c in zip(H, L, C)]
    want = [None, None]
    for i in range(2, 5):
        w = tp[i - 2:i + 1]
        m = sum(w) / 3
        mad = sum(abs(x - m) for x in w) / 3
        want.append((tp[i] - m) / (0.015 * mad))
    assert_approx_list(col(out, "cci_3"), want)


def test_bollinger_population_std_and_pctb():
    out = feat(bars([1, 2, 3, 6]), "bollinger", window=3, k=2.0)
    sd2, sd3 = math.sqrt(2 / 3), math.sqrt(26) / 3
    assert_approx_list(col(out, "bb_mid_3"), [None, None, 2.0, 11 / 3])
    assert_approx_list(col(out, "bb_upper_3_2"), [None, None, 2 + 2 * sd2, 11 / 3 + 2 * sd3])
    assert_approx_list(col(out, "bb_lower_3_2"), [None, None, 2 - 2 * sd2, 11 / 3 - 2 * sd3])
    assert_approx_list(col(out, "bb_width_3_2"), [None, None, 4 * sd2 / 2, 4 * sd3 / (11 / 3)])
    assert_approx_list(col(out, "bb_pctb_3_2"), [None, None, 0.5 + (3 - 2) / (4 * sd2), 0.5 + (6 - 11 / 3) / (4 * sd3)])
    flat = feat(bars([5, 5, 5]), "bollinger", window=3, k=2.0)
    assert col(flat, "bb_pctb_3_2")[2] == 0.5 and col(flat, "bb_width_3_2")[2] == 0.0


def test_volume_features():
    df = bars([10, 11, 11, 10, 12], volume=[5, 6, 7, 8, 9])
    assert col(feat(df, "obv"), "obv") == [0, 6, 6, -2, 7]
    assert_approx_list(col(feat(df, "volume_roc", periods=2), "vroc_2"), [None, None, 40.0, 100 * 2 / 6, 100 * 2 / 7])
    df2 = bars(C, H, L, V)
    clv = [((c - lo) - (h - c)) / (h - lo) for h, lo, c in zip(H, L, C)]
    assert_approx_list(col(feat(df2, "ad_line"), "ad_line"), list(np.cumsum([x * v for x, v in zip(clv, V)])))
    zero_vol = bars([1, 2], volume=[0, 0])
    assert col(feat(zero_vol, "volume_roc", periods=1), "vroc_1") == [None, 0.0]


def test_returns_and_rolling_std():
    df = bars([100, 110, 99, 99])
    assert_approx_list(col(feat(df, "return", periods=1), "ret_1"), [None, 0.1, -0.1, 0.0])
    assert_approx_list(col(feat(df, "log_return", periods=2), "logret_2"), [None, None, math.log(0.99), math.log(0.9)])
    r = [math.log(1.1), math.log(0.9), 0.0]
    assert_approx_list(col(feat(df, "rolling_std", window=3), "std_3"), [None, None, None, float(np.std(r, ddof=1))])


def test_parabolic_sar_by_hand():
    df = bars([9.5, 10.5, 11.5, 9, 8], high=[10, 11, 12, 11, 9], low=[9, 10, 11, 8, 7])
    out = feat(df, "psar", step=0.02, max_step=0.2)
    # long from bar 0 (SAR 9, EP 10); bars 1-2 clamp to the prior lows; bar 3 breaks below -> short at EP 12
    assert_approx_list(col(out, "psar_0.02_0.2"), [None, 9.0, 9.0, 12.0, 12.0])
    assert col(out, "psar_trend_0.02_0.2") == [None, 1.0, 1.0, -1.0, -1.0]


def test_calendar_market_timezone():
    ts = [datetime(2024, 7, 6, 14, 30, tzinfo=UTC)]  # a Saturday, 10:30 New York (EDT)
    df = bars([1.0]).with_columns(pl.Series("ts", ts).dt.cast_time_unit("us"))
    eq = feat(df, "calendar", ctx=FeatureContext("equity", "1h"))
    cr = feat(df, "calendar", ctx=FeatureContext("crypto", "1h"))
    assert eq["cal_hour"][0] == 10 and cr["cal_hour"][0] == 14
    assert eq["cal_weekday"][0] == 5 and eq["cal_weekend"][0] == 1
    assert eq["cal_hour_sin"][0] == pytest.approx(math.sin(2 * math.pi * 10.5 / 24))
    assert eq["cal_dow_cos"][0] == pytest.approx(math.cos(2 * math.pi * 5 / 7))
    assert (eq["cal_year"][0], eq["cal_month"][0], eq["cal_day"][0]) == (2024, 7, 6)


def test_realized_vol_annualised():
    df = bars([100, 101, 100, 102])
    out = feat(df, "realized_vol", window=3, ctx=FeatureContext("crypto", "1h"))
    r = np.log([101 / 100, 100 / 101, 102 / 100])
    assert out["vol_ann_3"][3] == pytest.approx(np.std(r, ddof=1) * math.sqrt(365 * 24))
    eq = feat(df, "realized_vol", window=3, ctx=FeatureContext("equity", "1d"))
    assert eq["vol_ann_3"][3] == pytest.approx(np.std(r, ddof=1) * math.sqrt(252))


def test_cross_asset_against_reference():
    main = bars([100, 101, 103, 102, 104, 107])
    ref_close = [50, 50.5, 51, 51.5, 51, 52]
    ref = bars(ref_close)
    spec = FeatureSpec(freq="1h", features=[{"name": "cross_asset", "params": {"window": 4, "perf_window": 2}}],
                       references=["ETH"], dropna=False)
    out = compute_features(main, spec, FeatureContext("crypto", "1h", references={"ETH": ref}))
    x = np.diff(np.log(main["close"].to_numpy()))
    y = np.diff(np.log(ref_close))
    xw, yw = x[-4:], y[-4:]
    assert out["xa_ETH_corr_4"][5] == pytest.approx(np.corrcoef(xw, yw)[0, 1])
    assert out["xa_ETH_beta_4"][5] == pytest.approx(np.cov(xw, yw, ddof=0)[0, 1] / np.var(yw))
    assert out["xa_ETH_relperf_2"][5] == pytest.approx(math.log(107 / 102) - math.log(52 / 51.5))
    assert out["xa_ETH_corr_4"][3] is None  # needs 4 returns


def test_cross_asset_aligns_on_last_known_reference_bar():
    main = bars([100, 101, 102, 103])
    ref = bars([10.0, 20.0]).with_columns(pl.Series("ts", [T0, T0 + timedelta(hours=2)]).dt.cast_time_unit("us"))
    spec = FeatureSpec(freq="1h", features=[{"name": "cross_asset", "params": {"window": 3, "perf_window": 1}}],
                       references=["X"], dropna=False)
    out = compute_features(main, spec, FeatureContext("crypto", "1h", references={"X": ref}))
    # hour 1 sees the hour-0 reference (10), hour 2 sees 20, hour 3 still 20
    assert out["xa_X_relperf_1"][1] == pytest.approx(math.log(101 / 100) - 0.0)
    assert out["xa_X_relperf_1"][2] == pytest.approx(math.log(102 / 101) - math.log(2.0))
    assert out["xa_X_relperf_1"][3] == pytest.approx(math.log(103 / 102))


def _fine(rows, start=T0, step=timedelta(minutes=5)):
    return pl.DataFrame({
        "ts": [start + i * step for i in range(len(rows))],
        **{k: [float(r[j]) for r in rows] for j, k in enumerate(("open", "high", "low", "close", "volume"))},
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_microstructure_two_coarse_bars_by_hand():
    fine = _fine([
        (100.0, 101.0, 99.5, 100.5, 10),
        (100.5, 102.0, 100.0, 101.5, 20),
        (101.5, 101.8, 100.8, 101.0, 30),
        (101.0, 101.0, 101.0, 101.0, 0),   # second 15-min bar: flat, no volume
        (101.0, 101.0, 101.0, 101.0, 0),
        (101.0, 101.0, 101.0, 101.0, 0),
    ])
    out = resample_with_micro(fine, "15min", "crypto")
    assert out.columns == ["ts", *MICRO_FEATURES] and len(MICRO_FEATURES) == 16
    assert out.height == 2
    a = out.row(0, named=True)
    assert (a["open"], a["high"], a["low"], a["close"], a["volume"]) == (100.0, 102.0, 99.5, 101.0, 60.0)
    r = np.log([100.5 / 100.0, 101.5 / 100.5, 101.0 / 101.5])
    d = r - r.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    assert a["ms_rv"] == pytest.approx(np.std(r, ddof=1))
    assert a["ms_skew"] == pytest.approx(m3 / m2 ** 1.5)
    assert a["ms_kurt"] == pytest.approx(m4 / m2 ** 2 - 3)
    hl = np.log([101.0 / 99.5, 102.0 / 100.0, 101.8 / 100.8])
    assert a["ms_parkinson"] == pytest.approx(math.sqrt((hl ** 2).mean() / (4 * math.log(2))))
    assert a["ms_efficiency"] == pytest.approx(1.0 / (0.5 + 1.0 + 0.5))
    tp = [(101 + 99.5 + 100.5) / 3, (102 + 100 + 101.5) / 3, (101.8 + 100.8 + 101) / 3]
    vwap = (10 * tp[0] + 20 * tp[1] + 30 * tp[2]) / 60
    assert a["ms_vwap_dev"] == pytest.approx((101.0 - vwap) / vwap)
    assert a["ms_signed_volume"] == pytest.approx(10 + 20 - 30)
    assert a["ms_upper_wick"] == pytest.approx(1.0 / 2.5)
    assert a["ms_lower_wick"] == pytest.approx(0.5 / 2.5)
    assert a["ms_body"] == pytest.approx(1.0 / 2.5)
    assert a["ms_clv"] == pytest.approx((1.5 - 1.0) / 2.5)
    b = out.row(1, named=True)
    # a flat bar with no volume: every guarded ratio is 0, nothing is inf or NaN
    for k in ("ms_rv", "ms_skew", "ms_kurt", "ms_parkinson", "ms_efficiency", "ms_vwap_dev",
              "ms_signed_volume", "ms_upper_wick", "ms_lower_wick", "ms_body", "ms_clv"):
        assert b[k] == 0.0, k


def test_microstructure_single_fine_bar_and_zero_prices_are_finite():
    fine = _fine([(0.0, 0.0, 0.0, 0.0, 0.0), (1.0, 2.0, 0.0, 1.5, 3.0)], step=timedelta(minutes=15))
    out = resample_with_micro(fine, "15min", "crypto")
    vals = out.drop("ts").to_numpy()
    assert np.isfinite(vals).all()


def test_microstructure_feature_joins_fine_bars():
    fine = _fine([(100, 101, 99, 100.5, 1), (100.5, 101, 100, 100, 2), (100, 100.2, 99.8, 100.1, 3),
                  (100.1, 100.3, 100.0, 100.2, 1)])
    micro = resample_with_micro(fine, "15min", "crypto")
    coarse = micro.select("ts", "open", "high", "low", "close", "volume")
    spec = FeatureSpec(freq="15min", features=["microstructure"], dropna=False)
    out = compute_features(coarse, spec, FeatureContext("crypto", "15min", fine=fine))
    assert out["ms_signed_volume"].to_list() == micro["ms_signed_volume"].to_list()
    assert spec.base_freq == "1min"
