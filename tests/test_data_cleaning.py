"""Cleaning: calendar grids, gap filling, outlier capping, time zones, quality report, stats."""
from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.data.calendar import nyse_holidays
from synthwb.data.cleaning import (
    cap_outliers_mad,
    cap_outliers_zscore,
    expected_grid,
    fill_gaps,
    quality_report,
    to_market_tz,
)
from synthwb.data.stats import summary

UTC = UTC


def frame(ts, close=None) -> pl.DataFrame:
    n = len(ts)
    close = np.asarray(close if close is not None else 100 + np.arange(n, dtype=float))
    return pl.DataFrame({
        "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
        "open": close, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n),
    })


def test_expected_grid_crypto_every_minute():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    df = frame([t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=5)])
    grid = expected_grid(df, "1min", "crypto")
    assert grid.to_list() == [t0 + timedelta(minutes=i) for i in range(6)]


def test_expected_grid_equity_skips_nights_weekends_and_holidays():
    # Friday 2024-01-12 09:30 NY (14:30 UTC) .. Tuesday 2024-01-16 15:59 NY; Monday is MLK day
    df = frame([datetime(2024, 1, 12, 14, 30, tzinfo=UTC), datetime(2024, 1, 16, 20, 59, tzinfo=UTC)])
    grid = expected_grid(df, "1min", "equity")
    assert grid.len() == 2 * 390
    assert grid[389] == datetime(2024, 1, 12, 20, 59, tzinfo=UTC)
    assert grid[390] == datetime(2024, 1, 16, 14, 30, tzinfo=UTC)
    hourly = expected_grid(df.with_columns(pl.col("ts").dt.truncate("1h")
                                           + pl.duration(minutes=30)), "1h", "equity")
    assert hourly.len() == 14  # 09:30 .. 15:30, 7 bars a day


def test_nyse_holidays_known_dates():
    h = nyse_holidays(2024)
    assert {date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19), date(2024, 3, 29), date(2024, 5, 27),
            date(2024, 6, 19), date(2024, 7, 4), date(2024, 9, 2), date(2024, 11, 28), date(2024, 12, 25)} == h
    assert date(2022, 12, 26) in nyse_holidays(2022)  # Christmas on a Sunday is observed on Monday
    assert date(2021, 12, 31) not in nyse_holidays(2021)  # nor is 2022's Saturday New Year observed in 2021


def test_fill_gaps_limited_forward_fill():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    df = frame([t0 + timedelta(minutes=i) for i in (0, 1, 5)], close=[10.0, 11.0, 15.0])
    out = fill_gaps(df, "1min", "crypto", max_ffill=2)
    assert out["ts"].to_list() == [t0 + timedelta(minutes=i) for i in range(6)]
    assert out["is_missing"].to_list() == [False, False, True, True, True, False]
    assert out["close"].to_list() == [10.0, 11.0, 11.0, 11.0, None, 15.0]
    assert out["high"].to_list()[2:4] == [11.0, 11.0]  # a filled bar is flat at the last close
    assert out["volume"].to_list() == [1.0, 1.0, 0.0, 0.0, None, 1.0]
    unlimited = fill_gaps(df, "1min", "crypto", max_ffill=None)
    assert unlimited["close"].to_list()[4] == 11.0
    none = fill_gaps(df, "1min", "crypto", max_ffill=0)
    assert none["close"].null_count() == 3


def test_cap_outliers_zscore():
    vals = np.r_[np.ones(99), 100.0]
    df = pl.DataFrame({"x": vals})
    mu, sd = vals.mean(), vals.std()
    out = cap_outliers_zscore(df, "x", z=3.0)["x"].to_numpy()
    assert out[-1] == pytest.approx(mu + 3 * sd)
    assert (out[:-1] == 1.0).all()


def test_cap_outliers_mad_by_hand():
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 3.0]})
    # median 3; |x-3| = 2,1,0,1,97,53,0 -> MAD = 1; bound = 3 +/- 3.5/0.6745
    half = 3.5 / 0.6745
    out = cap_outliers_mad(df, "x", z=3.5)["x"].to_list()
    assert out == pytest.approx([1.0, 2.0, 3.0, 4.0, 3 + half, 3 - half, 3.0])


def test_to_market_tz():
    df = frame([datetime(2024, 1, 2, 14, 30, tzinfo=UTC), datetime(2024, 7, 2, 13, 30, tzinfo=UTC)])
    ny = to_market_tz(df, "equity")["ts"]
    assert [(t.hour, t.minute) for t in ny.to_list()] == [(9, 30), (9, 30)]
    assert ny.dtype.time_zone == "America/New_York"
    assert to_market_tz(df, "crypto")["ts"].dtype.time_zone == "UTC"


def test_quality_report_counts_every_problem():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    idx = [0, 1, 2, 2, 3, 10, 11, 12, 20]  # a duplicate at 2, gaps 4..9 (6 bars) and 13..19 (7 bars)
    df = frame([t0 + timedelta(minutes=i) for i in idx], close=[100.0] * len(idx))
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(90.0).otherwise(pl.col("high")).alias("high"),  # high < low
        pl.when(pl.int_range(pl.len()) == 6).then(-1.0).otherwise(pl.col("low")).alias("low"),  # negative
    )
    rep = quality_report(df, "1min", "crypto")
    assert rep["rows"] == 9
    assert rep["duplicates"] == 2
    assert rep["expected"] == 21 and rep["missing"] == 13
    assert rep["missing_share"] == pytest.approx(13 / 21)
    assert rep["gaps"]["count"] == 2
    assert rep["gaps"]["longest_bars"] == 7
    assert rep["gaps"]["longest_start"] == t0 + timedelta(minutes=13)
    assert rep["gaps"]["list"][0] == {"start": t0 + timedelta(minutes=4), "end": t0 + timedelta(minutes=10), "bars": 6}
    assert rep["inconsistent_ohlc"] == 1
    assert rep["non_positive"] == 1
    assert rep["coverage"] == [{"date": date(2024, 1, 1), "expected": 21, "present": 8, "share": 8 / 21}]
    assert rep["issues"]


def test_quality_report_session_coverage_per_ny_day(demo_lake):
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    df = read_bars(Selection("equity", "SPY", "1min"), root=demo_lake)
    rep = quality_report(df, "1min", "equity")
    assert rep["off_calendar"] == 0
    assert all(c["expected"] == 390 for c in rep["coverage"])
    assert date(2024, 1, 15) not in [c["date"] for c in rep["coverage"]]  # MLK day: no session
    assert rep["missing"] == rep["expected"] - df.height


def test_summary_realized_vol_by_hand():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    r = np.array([0.01, -0.02, 0.015, 0.0, -0.005, 0.02])
    close = 100 * np.exp(np.r_[0, np.cumsum(r)])
    df = frame([t0 + timedelta(hours=i) for i in range(len(close))], close=close)
    s = summary(df, "1h", "crypto")
    sd = math.sqrt(sum((x - r.mean()) ** 2 for x in r) / (len(r) - 1))
    assert s["log_return_std"] == pytest.approx(sd)
    assert s["realized_vol_annual"] == pytest.approx(sd * math.sqrt(365.25 * 24))
    assert s["total_return"] == pytest.approx(close[-1] / 100 - 1)
    peak = np.maximum.accumulate(close)
    assert s["max_drawdown"] == pytest.approx((close / peak - 1).min())
    assert summary(df, "1h", "equity")["realized_vol_annual"] == pytest.approx(sd * math.sqrt(252 * 6.5))


def test_fill_gaps_session_asset_never_fills_nights_or_weekends():
    # Friday 2024-01-12 15:57..15:59 NY and Tuesday 2024-01-16 09:30, 09:33 (Monday is MLK day)
    ts = [datetime(2024, 1, 12, 20, m, tzinfo=UTC) for m in (57, 58, 59)] + \
         [datetime(2024, 1, 16, 14, 30, tzinfo=UTC), datetime(2024, 1, 16, 14, 33, tzinfo=UTC)]
    out = fill_gaps(frame(ts, close=[1.0, 2.0, 3.0, 4.0, 5.0]), "1min", "equity", max_ffill=5)
    assert out.height == 7  # only 09:31 and 09:32 on Tuesday are added
    assert out.filter(pl.col("is_missing"))["ts"].to_list() == [
        datetime(2024, 1, 16, 14, 31, tzinfo=UTC), datetime(2024, 1, 16, 14, 32, tzinfo=UTC)]
    assert out["close"].to_list() == [1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0]
