"""The Parquet lake: layout, round trip, pruning, inventory, merge-on-write, atomicity."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import DataError, NotFound
from synthwb.data.lake import inventory, read_bars, write_bars
from synthwb.data.schema import Selection

UTC = UTC


def bars(start: datetime, n: int, step_min: int = 1, base: float = 100.0) -> pl.DataFrame:
    ts = [start + timedelta(minutes=step_min * i) for i in range(n)]
    close = base + np.arange(n, dtype=float) * 0.01
    return pl.DataFrame({
        "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
        "open": close - 0.005, "high": close + 0.02, "low": close - 0.02, "close": close,
        "volume": np.full(n, 2.0),
    })


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_round_trip_and_partition_layout(tmp_path):
    root = tmp_path / "lake"
    # 3 days across a month boundary, 1-minute bars
    df = bars(datetime(2024, 1, 30, tzinfo=UTC), 3 * 1440)
    summary = write_bars(df, "crypto", "BTC", "1min", root=root)
    assert summary["rows_written"] == 3 * 1440
    assert summary["partitions"] == 2
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))
    assert files == [
        "asset_class=crypto/freq=1min/symbol=BTC/year=2024/month=1/part.parquet",
        "asset_class=crypto/freq=1min/symbol=BTC/year=2024/month=2/part.parquet",
    ]
    # no temp files left behind (only the writers' lock file)
    assert [p.name for p in root.rglob("*") if p.name.startswith(".")] == [".lock"]
    out = read_bars(Selection("crypto", "BTC", "1min"), root=root)
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert all(out.schema[c] == pl.Float64 for c in ("open", "high", "low", "close", "volume"))
    assert out.equals(df)
    # the January file holds exactly Jan 30 and 31
    jan = pl.read_parquet(root / files[0])
    assert jan.height == 2 * 1440


def test_range_is_start_inclusive_end_exclusive(tmp_path):
    root = tmp_path / "lake"
    df = bars(datetime(2024, 1, 1, tzinfo=UTC), 600)
    write_bars(df, "crypto", "ETH", "1min", root=root)
    sel = Selection("crypto", "ETH", "1min", datetime(2024, 1, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 2, tzinfo=UTC))
    out = read_bars(sel, root=root)
    assert out.height == 60
    assert out["ts"][0] == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert out["ts"][-1] == datetime(2024, 1, 1, 1, 59, tzinfo=UTC)


def test_partition_pruning_never_opens_other_months(tmp_path):
    root = tmp_path / "lake"
    write_bars(bars(datetime(2024, 1, 1, tzinfo=UTC), 60 * 24 * 3, step_min=60), "crypto", "BTC", "1min", root=root)
    write_bars(bars(datetime(2024, 3, 1, tzinfo=UTC), 60), "crypto", "BTC", "1min", root=root)
    march = root / "asset_class=crypto/freq=1min/symbol=BTC/year=2024/month=3/part.parquet"
    march.write_bytes(b"this is not parquet")  # a broken partition outside the range
    sel = Selection("crypto", "BTC", "1min", "2024-01-02", "2024-01-05")
    out = read_bars(sel, root=root)  # would fail if March were opened
    assert out.height == 72
    with pytest.raises(DataError):
        read_bars(Selection("crypto", "BTC", "1min", "2024-03-01", "2024-03-02"), root=root)


def test_write_merges_and_replaces_overlap(tmp_path):
    root = tmp_path / "lake"
    a = bars(datetime(2024, 1, 1, tzinfo=UTC), 10)
    write_bars(a, "crypto", "SOL", "1min", root=root)
    b = bars(datetime(2024, 1, 1, 0, 5, tzinfo=UTC), 10, base=200.0)  # overlaps minutes 5..9
    s = write_bars(b, "crypto", "SOL", "1min", root=root)
    assert s["rows_replaced"] == 5
    out = read_bars(Selection("crypto", "SOL", "1min"), root=root)
    assert out.height == 15
    assert out["ts"].is_unique().all() and out["ts"].is_sorted()
    assert out["close"][:5].to_list() == a["close"][:5].to_list()
    assert out["close"][5:].to_list() == b["close"].to_list()


def test_concurrent_writers_lose_no_rows(tmp_path):
    """Threads merging disjoint rows into the same month: every row survives (series lock)."""
    import threading

    root = tmp_path / "lake"
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    chunks = [bars(t0 + timedelta(minutes=50 * k), 50, base=100.0 + k) for k in range(6)]
    errors = []

    def writer(df):
        try:
            write_bars(df, "crypto", "BTC", "1min", root=root)
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    out = read_bars(Selection("crypto", "BTC", "1min"), root=root)
    assert out.height == 300 and out["ts"].is_unique().all()
    assert out["ts"].to_list() == [t0 + timedelta(minutes=i) for i in range(300)]


def test_failed_write_leaves_lake_unchanged(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    write_bars(bars(datetime(2024, 1, 31, tzinfo=UTC), 120), "crypto", "BTC", "1min", root=root)
    before = tree(root)
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def flaky(self, file, *args, **kwargs):  # the second partition's write fails (disk full)
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("No space left on device")
        return real(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    new = bars(datetime(2024, 1, 31, 23, tzinfo=UTC), 180, base=300.0)  # Jan + Feb
    with pytest.raises(OSError):
        write_bars(new, "crypto", "BTC", "1min", root=root)
    assert tree(root) == before  # January not replaced, no February, no temp files


def test_write_refuses_invalid_bars(tmp_path):
    root = tmp_path / "lake"
    df = bars(datetime(2024, 1, 1, tzinfo=UTC), 5).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(-1.0).otherwise(pl.col("low")).alias("low"))
    with pytest.raises(DataError, match="row 4"):
        write_bars(df, "crypto", "BTC", "1min", root=root)
    assert not root.exists() or not any(root.rglob("*.parquet"))
    with pytest.raises(DataError, match="invalid symbol"):
        write_bars(bars(datetime(2024, 1, 1, tzinfo=UTC), 5), "crypto", "../evil", "1min", root=root)


def test_inventory_empty_and_missing(tmp_path):
    inv = inventory(tmp_path / "nope")
    assert inv.height == 0
    assert inv.columns == ["asset_class", "freq", "symbol", "start", "end", "rows", "files"]
    assert inv.schema["start"] == pl.Datetime("us", "UTC") and inv.schema["rows"] == pl.Int64


def test_inventory_matches_contents(tmp_path):
    root = tmp_path / "lake"
    write_bars(bars(datetime(2024, 1, 30, tzinfo=UTC), 3 * 1440), "crypto", "BTC", "1min", root=root)
    write_bars(bars(datetime(2024, 1, 1, tzinfo=UTC), 48, step_min=60), "crypto", "BTC", "1h", root=root)
    write_bars(bars(datetime(2024, 2, 5, 15, tzinfo=UTC), 30), "equity", "SPY", "1min", root=root)
    inv = inventory(root)
    rows = {(r["asset_class"], r["symbol"], r["freq"]): r for r in inv.iter_rows(named=True)}
    assert set(rows) == {("crypto", "BTC", "1min"), ("crypto", "BTC", "1h"), ("equity", "SPY", "1min")}
    btc = rows[("crypto", "BTC", "1min")]
    assert btc["rows"] == 3 * 1440 and btc["files"] == 2
    assert btc["start"] == datetime(2024, 1, 30, tzinfo=UTC)
    assert btc["end"] == datetime(2024, 2, 1, 23, 59, tzinfo=UTC)
    assert rows[("crypto", "BTC", "1h")]["end"] == datetime(2024, 1, 2, 23, tzinfo=UTC)
    # finest first within a symbol
    assert inv.filter(pl.col("symbol") == "BTC")["freq"].to_list() == ["1min", "1h"]
    # a rewrite is seen (footer cache keyed on mtime/size)
    write_bars(bars(datetime(2024, 2, 2, tzinfo=UTC), 10), "crypto", "BTC", "1min", root=root)
    again = inventory(root).filter((pl.col("symbol") == "BTC") & (pl.col("freq") == "1min"))
    assert again["rows"][0] == 3 * 1440 + 10


def test_inventory_reads_foreign_precision(tmp_path):
    """A lake written by another tool (ns precision, naive UTC) is listed and read."""
    root = tmp_path / "lake"
    path = root / "asset_class=crypto/freq=1h/symbol=XRP/year=2023/month=5/part.parquet"
    path.parent.mkdir(parents=True)
    df = bars(datetime(2023, 5, 1, tzinfo=UTC), 24, step_min=60)
    df.with_columns(pl.col("ts").dt.replace_time_zone(None).dt.cast_time_unit("ns")).write_parquet(path)
    inv = inventory(root)
    assert inv["start"][0] == datetime(2023, 5, 1, tzinfo=UTC)
    assert inv["end"][0] == datetime(2023, 5, 1, 23, tzinfo=UTC)
    out = read_bars(Selection("crypto", "XRP", "1h"), root=root)
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert out.equals(df)
    # add a month in our own format, then read a range across both kinds of file
    june = bars(datetime(2023, 6, 1, tzinfo=UTC), 24, step_min=60)
    write_bars(june, "crypto", "XRP", "1h", root=root)
    both = read_bars(Selection("crypto", "XRP", "1h", "2023-05-01T20:00", "2023-06-01T02:00"), root=root)
    assert both["ts"].to_list() == df["ts"].to_list()[20:] + june["ts"].to_list()[:2]


def test_zero_padded_month_folders_are_merged_not_duplicated(tmp_path):
    root = tmp_path / "lake"
    path = root / "asset_class=crypto/freq=1h/symbol=ADA/year=2023/month=05/part.parquet"
    path.parent.mkdir(parents=True)
    first = bars(datetime(2023, 5, 1, tzinfo=UTC), 10, step_min=60)
    first.write_parquet(path)
    write_bars(bars(datetime(2023, 5, 1, 5, tzinfo=UTC), 10, step_min=60, base=7.0), "crypto", "ADA", "1h", root=root)
    assert [p.parent.name for p in root.rglob("part.parquet")] == ["month=05"]
    out = read_bars(Selection("crypto", "ADA", "1h"), root=root)
    assert out.height == 15 and out["close"][4] == first["close"][4] and out["close"][5] == 7.0


def test_missing_symbol_and_unservable_freq(tmp_path):
    root = tmp_path / "lake"
    write_bars(bars(datetime(2024, 1, 1, tzinfo=UTC), 48, step_min=60), "crypto", "BTC", "1h", root=root)
    with pytest.raises(NotFound, match="ETH"):
        read_bars(Selection("crypto", "ETH", "1h"), root=root)
    with pytest.raises(NotFound, match="5min"):
        read_bars(Selection("crypto", "BTC", "5min"), root=root)


def test_unstored_timeframe_is_resampled_from_finest(demo_lake, tmp_path):
    sel = Selection("crypto", "BTC", "1h", "2024-01-02", "2024-01-03")
    out = read_bars(sel, root=demo_lake)
    fine = read_bars(Selection("crypto", "BTC", "1min", "2024-01-02", "2024-01-03"), root=demo_lake)
    assert out.height == 24
    assert out["ts"][0] == datetime(2024, 1, 2, tzinfo=UTC)
    first_hour = fine.filter(pl.col("ts") < datetime(2024, 1, 2, 1, tzinfo=UTC))
    assert out["open"][0] == first_hour["open"][0]
    assert out["high"][0] == first_hour["high"].max()
    assert out["low"][0] == first_hour["low"].min()
    assert out["close"][0] == first_hour["close"][-1]
    assert out["volume"][0] == pytest.approx(first_hour["volume"].sum())
    # a range starting mid-hour still yields only bars opening inside it, each complete
    mid = read_bars(Selection("crypto", "BTC", "1h", "2024-01-02T00:30", "2024-01-02T03:00"), root=demo_lake)
    assert mid["ts"].to_list() == [datetime(2024, 1, 2, h, tzinfo=UTC) for h in (1, 2)]
    assert mid["open"][0] == out["open"][1] and mid["close"][1] == out["close"][2]


def test_demo_lake_copy_is_writable(demo_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(demo_lake, root)
    n0 = inventory(root).filter(pl.col("symbol") == "BTC")["rows"][0]
    write_bars(bars(datetime(2030, 1, 1, tzinfo=UTC), 5, base=50_000.0), "crypto", "BTC", "1min", root=root)
    assert inventory(root).filter(pl.col("symbol") == "BTC")["rows"][0] == n0 + 5
    assert inventory(demo_lake).filter(pl.col("symbol") == "BTC")["rows"][0] == n0
