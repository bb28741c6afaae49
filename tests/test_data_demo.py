"""The demo generator: reproducible, realistic stylised facts, sessions, gaps."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import SpecError
from synthwb.data.demo import demo_frames, generate_demo_lake
from synthwb.data.lake import inventory, read_bars
from synthwb.data.schema import Selection

UTC = UTC


@pytest.fixture(scope="module")
def frames():
    return demo_frames(years=0.05, seed=0, start="2024-01-01")


def test_demo_lake_inventory(demo_lake):
    inv = inventory(demo_lake)
    assert sorted(zip(inv["asset_class"], inv["symbol"], inv["freq"])) == [
        ("crypto", "BTC", "1min"), ("crypto", "ETH", "1min"), ("crypto", "SOL", "1min"), ("equity", "SPY", "1min")]
    btc = inv.filter(pl.col("symbol") == "BTC").row(0, named=True)
    minutes = round(0.05 * 365.25 * 1440)
    assert btc["start"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert 0.97 * minutes < btc["rows"] < minutes  # some minutes are missing (gaps)


def test_seeded_reproducibility(frames):
    again = demo_frames(years=0.05, seed=0, start="2024-01-01")
    other = demo_frames(years=0.05, seed=1, start="2024-01-01")
    for sym in ("BTC", "SPY"):
        assert frames[sym][1].equals(again[sym][1])
    assert not frames["BTC"][1]["close"].equals(other["BTC"][1]["close"])


def test_realistic_price_levels_and_valid_bars(frames):
    levels = {"BTC": (30_000, 70_000), "ETH": (1_500, 3_500), "SOL": (50, 200), "SPY": (350, 600)}
    for sym, (lo, hi) in levels.items():
        df = frames[sym][1]
        assert lo < df["close"].min() and df["close"].max() < hi, sym
        assert df.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()).item()
        assert df.select((pl.col("low") <= pl.min_horizontal("open", "close")).all()).item()
        assert (df["low"] > 0).all() and (df["volume"] > 0).all()
        assert df["ts"].is_sorted() and df["ts"].is_unique().all()


def _returns(df: pl.DataFrame) -> np.ndarray:
    c = df["close"].to_numpy()
    return np.diff(np.log(c))


def test_fat_tails_and_volatility_clustering(frames):
    r = _returns(frames["BTC"][1])
    z = (r - r.mean()) / r.std()
    assert np.mean(z ** 4) > 3.5  # kurtosis well above the normal's 3
    a = np.abs(r - r.mean())
    for lag in (1, 10, 60):
        ac = np.corrcoef(a[:-lag], a[lag:])[0, 1]
        assert ac > 0.05, (lag, ac)
    # raw returns are close to uncorrelated
    assert abs(np.corrcoef(r[:-1], r[1:])[0, 1]) < 0.05


def test_crypto_assets_are_correlated(frames):
    j = frames["BTC"][1].select("ts", pl.col("close").log().diff().alias("btc")).join(
        frames["ETH"][1].select("ts", pl.col("close").log().diff().alias("eth")), on="ts").drop_nulls()
    rho = np.corrcoef(j["btc"].to_numpy(), j["eth"].to_numpy())[0, 1]
    assert 0.6 < rho < 0.95


def test_gaps_exist(frames):
    for sym in ("BTC", "ETH", "SOL"):
        d = frames[sym][1]["ts"].diff().dt.total_seconds().drop_nulls()
        assert (d > 60).sum() >= 1, sym


def test_intraday_volume_seasonality(frames):
    df = frames["BTC"][1].with_columns(pl.col("ts").dt.hour().alias("h"))
    by_hour = df.group_by("h").agg(pl.col("volume").mean()).sort("h")["volume"].to_numpy()
    assert by_hour[13:17].mean() > 1.5 * by_hour[1:5].mean()  # US hours busier than Asian night


def test_session_asset_only_in_ny_regular_hours(frames):
    ac, df = frames["SPY"]
    assert ac == "equity"
    local = df["ts"].dt.convert_time_zone("America/New_York")
    minutes = local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)
    assert minutes.min() >= 9 * 60 + 30 and minutes.max() <= 15 * 60 + 59
    assert local.dt.weekday().max() <= 5
    days = set(local.dt.date().to_list())
    assert datetime(2024, 1, 15).date() not in days  # MLK day
    assert datetime(2024, 1, 16).date() in days


def test_fractional_years_and_subset(tmp_path):
    res = generate_demo_lake(root=tmp_path / "l", years=0.01, seed=3, symbols=["ETH"])
    assert [s["symbol"] for s in res["series"]] == ["ETH"]
    out = read_bars(Selection("crypto", "ETH", "1h"), root=tmp_path / "l")
    assert 80 <= out.height <= 89  # 0.01 years = 87.66 hours
    with pytest.raises(SpecError, match="unknown demo symbol"):
        generate_demo_lake(root=tmp_path / "l", years=0.01, symbols=["DOGE"])
    with pytest.raises(SpecError, match="years"):
        generate_demo_lake(root=tmp_path / "l", years=0)
