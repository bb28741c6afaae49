"""Resampling against bars computed by hand with plain Python (zoneinfo for sessions)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import DataError
from synthwb.data.resample import resample

UTC = UTC
NY = ZoneInfo("America/New_York")


def frame(ts: list[datetime], seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.1, len(ts)))
    open_ = close + rng.normal(0, 0.05, len(ts))
    return pl.DataFrame({
        "ts": pl.Series([t.astimezone(UTC) for t in ts], dtype=pl.Datetime("us", "UTC")),
        "open": open_, "high": np.maximum(open_, close) + rng.uniform(0, 0.1, len(ts)),
        "low": np.minimum(open_, close) - rng.uniform(0, 0.1, len(ts)), "close": close,
        "volume": rng.uniform(1, 10, len(ts)),
    })


def by_hand(df: pl.DataFrame, key) -> list[dict]:
    """Reference aggregation: group rows (in order) by key(ts) with plain Python."""
    groups: dict = {}
    for r in df.iter_rows(named=True):
        groups.setdefault(key(r["ts"]), []).append(r)
    out = []
    for k in sorted(groups):
        g = groups[k]
        out.append({"ts": k, "open": g[0]["open"], "high": max(x["high"] for x in g),
                    "low": min(x["low"] for x in g), "close": g[-1]["close"],
                    "volume": sum(x["volume"] for x in g)})
    return out


def assert_same(got: pl.DataFrame, want: list[dict]) -> None:
    assert got.height == len(want)
    for g, w in zip(got.iter_rows(named=True), want):
        assert g["ts"] == w["ts"]
        for c in ("open", "high", "low", "close"):
            assert g[c] == w[c], (c, g, w)
        assert g["volume"] == pytest.approx(w["volume"])


def test_crypto_1h_utc_aligned():
    t0 = datetime(2024, 1, 1, 0, 58, tzinfo=UTC)
    df = frame([t0 + timedelta(minutes=i) for i in range(64)])  # 00:58 .. 02:01
    got = resample(df, "1h", "crypto")
    want = by_hand(df, lambda t: t.replace(minute=0, second=0, microsecond=0))
    assert [w["ts"].hour for w in want] == [0, 1, 2]
    assert_same(got, want)


def test_crypto_5min_and_4h_and_1d_with_gap():
    t0 = datetime(2024, 1, 1, 22, 0, tzinfo=UTC)
    ts = [t0 + timedelta(minutes=i) for i in range(8 * 60) if not (30 <= i < 47)]  # a 17-minute gap
    df = frame(ts, seed=1)
    assert_same(resample(df, "5min", "crypto"),
                by_hand(df, lambda t: t.replace(minute=t.minute - t.minute % 5, second=0)))
    assert_same(resample(df, "4h", "crypto"),
                by_hand(df, lambda t: t.replace(hour=t.hour - t.hour % 4, minute=0)))
    assert_same(resample(df, "1d", "crypto"),
                by_hand(df, lambda t: t.replace(hour=0, minute=0)))
    # minutes 22:30..22:46 are missing: buckets 22:30, 22:35, 22:40 produce no bar, 22:45 does
    five = resample(df, "5min", "crypto")["ts"].to_list()
    for m in (30, 35, 40):
        assert datetime(2024, 1, 1, 22, m, tzinfo=UTC) not in five
    assert datetime(2024, 1, 1, 22, 45, tzinfo=UTC) in five


def _session(day: datetime, start=(9, 30), minutes=390) -> list[datetime]:
    s = day.replace(hour=start[0], minute=start[1], tzinfo=NY)
    return [(s + timedelta(minutes=i)).astimezone(UTC) for i in range(minutes)]


def test_equity_hourly_bars_anchor_at_session_open_across_dst():
    # Friday 2024-03-08 (EST, UTC-5) and Monday 2024-03-11 (EDT, UTC-4)
    ts = _session(datetime(2024, 3, 8)) + _session(datetime(2024, 3, 11))
    df = frame(ts, seed=2)

    def hour_key(t):
        loc = t.astimezone(NY)
        open_ = loc.replace(hour=9, minute=30)
        k = (loc - open_) // timedelta(hours=1)
        return (open_ + timedelta(hours=k)).astimezone(UTC)

    got = resample(df, "1h", "equity")
    want = by_hand(df, hour_key)
    assert len(want) == 14  # 7 per session, the last one 30 minutes long
    assert got["ts"][0] == datetime(2024, 3, 8, 14, 30, tzinfo=UTC)
    assert got["ts"][7] == datetime(2024, 3, 11, 13, 30, tzinfo=UTC)
    assert_same(got, want)


def test_equity_daily_bar_is_ny_trading_day():
    ts = _session(datetime(2024, 3, 8)) + _session(datetime(2024, 3, 11))
    df = frame(ts, seed=3)
    got = resample(df, "1d", "equity")
    want = by_hand(df, lambda t: t.astimezone(NY).replace(hour=9, minute=30).astimezone(UTC))
    assert [w["ts"] for w in want] == [datetime(2024, 3, 8, 14, 30, tzinfo=UTC), datetime(2024, 3, 11, 13, 30, tzinfo=UTC)]
    assert_same(got, want)
    # the session's 4h bars: 09:30-13:30 and 13:30-16:00
    four = resample(df, "4h", "equity")
    assert four["ts"].to_list()[:2] == [datetime(2024, 3, 8, 14, 30, tzinfo=UTC), datetime(2024, 3, 8, 18, 30, tzinfo=UTC)]


def test_fx_day_rolls_at_17_new_york():
    # Monday 2024-01-08 16:50 .. 17:10 New York (EST)
    s = datetime(2024, 1, 8, 16, 50, tzinfo=NY)
    ts = [(s + timedelta(minutes=i)).astimezone(UTC) for i in range(20)]
    df = frame(ts, seed=4)
    got = resample(df, "1d", "fx")
    assert got["ts"].to_list() == [datetime(2024, 1, 7, 22, 0, tzinfo=UTC), datetime(2024, 1, 8, 22, 0, tzinfo=UTC)]
    assert got["open"][1] == df["open"][10] and got["close"][0] == df["close"][9]


def test_resample_refuses_finer_target():
    df = frame([datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(5)])
    with pytest.raises(DataError, match="coarser"):
        resample(df, "5min", "crypto")


def test_bars_on_resamples_finer_bars_and_refuses_coarser_ones():
    """A forecaster reading 5-minute bars: 1-minute bars are resampled, 5-minute bars pass, and 1h
    bars are refused (read as 5-minute bars they would be a wrong forecast, not an error). Session
    gaps (equity 4h bars: 4h apart within a day, longer overnight) do not count as coarser."""
    from synthwb.data.resample import bars_on

    def bars(step_s: int, n: int, start=datetime(2024, 1, 1, tzinfo=UTC)) -> pl.DataFrame:
        ts = [start + timedelta(seconds=step_s * i) for i in range(n)]
        return pl.DataFrame({"ts": ts, "open": [1.0] * n, "high": [2.0] * n, "low": [0.5] * n,
                             "close": [1.5] * n, "volume": [1.0] * n}).with_columns(pl.col("ts").dt.cast_time_unit("us"))

    assert bars_on(bars(60, 30), "5min", "crypto").height == 6
    assert bars_on(bars(300, 30), "5min", "crypto").height == 30
    with pytest.raises(DataError, match="at least 3600 s apart, coarser than the 5min bars the model reads"):
        bars_on(bars(3600, 30), "5min", "crypto")
    day = [datetime(2024, 1, d, h, 30, tzinfo=UTC) for d in (2, 3, 4) for h in (14, 18)]
    session = pl.DataFrame({"ts": day, "open": [1.0] * 6, "high": [2.0] * 6, "low": [0.5] * 6, "close": [1.5] * 6,
                            "volume": [1.0] * 6}).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    assert bars_on(session, "4h", "equity").height == 6
