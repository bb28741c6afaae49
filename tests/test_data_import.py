"""File import and the Hugging Face source: recognised layouts, and one test per bad input
asserting the message AND that the lake is byte-for-byte unchanged."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from synthwb.core.errors import DataError, NotFound
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.data.sources import hf_load, import_file, import_hf

HEADER = "timestamp,open,high,low,close,volume\n"


def csv_rows(start: datetime, n: int, base: float = 100.0) -> list[str]:
    rows = []
    for i in range(n):
        c = base + i
        rows.append(f"{(start + timedelta(minutes=i)).strftime('%Y-%m-%d %H:%M:%S')},{c},{c + 1},{c - 1},{c + 0.5},{10 + i}")
    return rows


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def lake(lake_env, tmp_path):
    """A lake that already holds 5 BTC bars, so 'unchanged' is a real check."""
    good = write(tmp_path, "seed.csv", HEADER + "\n".join(csv_rows(datetime(2024, 1, 1, tzinfo=UTC), 5)) + "\n")
    import_file(good, "crypto", "BTC", "1min")
    snap = snapshot(lake_env.root)
    assert snap
    return lake_env.root, snap


def assert_refused(lake, path: Path, match: str, **kw) -> str:
    root, snap = lake
    with pytest.raises(DataError, match=match) as exc:
        import_file(path, kw.pop("asset_class", "crypto"), kw.pop("symbol", "BTC"), kw.pop("freq", "1min"), **kw)
    assert snapshot(root) == snap, "a refused import changed the lake"
    return str(exc.value)


# ----------------------------------------------------------------------------- good inputs

def test_import_csv_and_read_back(lake_env, tmp_path):
    p = write(tmp_path, "a.csv", HEADER + "\n".join(csv_rows(datetime(2024, 2, 1, tzinfo=UTC), 30)) + "\n")
    res = import_file(p, "crypto", "ETH", "1min")
    assert res["rows_written"] == 30 and res["partitions"] == 1
    out = read_bars(Selection("crypto", "ETH", "1min"), root=lake_env.root)
    assert out.height == 30
    assert out["ts"][0] == datetime(2024, 2, 1, tzinfo=UTC)
    assert out["close"][3] == 103.5 and out["volume"][29] == 39.0


def test_reimport_replaces_overlapping_rows(lake_env, tmp_path):
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    import_file(write(tmp_path, "a.csv", HEADER + "\n".join(csv_rows(t0, 10)) + "\n"), "crypto", "SOL", "1min")
    res = import_file(write(tmp_path, "b.csv", HEADER + "\n".join(csv_rows(t0 + timedelta(minutes=6), 10, base=500.0)) + "\n"),
                      "crypto", "SOL", "1min")
    assert res["rows_replaced"] == 4
    out = read_bars(Selection("crypto", "SOL", "1min"), root=lake_env.root)
    assert out.height == 16 and out["ts"].is_unique().all()
    assert out["close"].to_list()[:6] == [100.5 + i for i in range(6)]
    assert out["close"].to_list()[6:] == [500.5 + i for i in range(10)]


@pytest.mark.parametrize("header,stamp", [
    ("Date,Open,High,Low,Close,Volume", "2024-01-05T10:00:00Z"),
    ("open_time,o,h,l,c,v", "1704448800000"),  # epoch ms (Binance style)
    ("t,O,H,L,C,Vol", "1704448800"),  # epoch seconds
    ("Datetime,OPEN,HIGH,LOW,CLOSE,VOLUME", "2024-01-05 11:00:00+01:00"),
    ("time,open,high,low,close,volume", "1704448800000000000"),  # epoch ns
])
def test_recognised_column_names_and_timestamps(lake_env, tmp_path, header, stamp):
    text = f"{header}\n{stamp},10,12,9,11,5\n"
    import_file(write(tmp_path, "x.csv", text), "crypto", "X", "1h")
    out = read_bars(Selection("crypto", "X", "1h"), root=lake_env.root)
    assert out["ts"].to_list() == [datetime(2024, 1, 5, 10, tzinfo=UTC)]
    assert out.row(0)[1:] == (10.0, 12.0, 9.0, 11.0, 5.0)


def test_import_parquet_with_zone_aware_ns_timestamps(lake_env, tmp_path):
    ts = pl.datetime_range(datetime(2024, 1, 2, 9, 30), datetime(2024, 1, 2, 9, 34), "1m", eager=True,
                           time_unit="ns", time_zone="America/New_York")
    df = pl.DataFrame({"Timestamp": ts, "Open": [1.0] * 5, "High": [2.0] * 5, "Low": [0.5] * 5,
                       "Close": [1.5] * 5, "Volume": [100] * 5})
    p = tmp_path / "spy.parquet"
    df.write_parquet(p)
    import_file(p, "equity", "SPY", "1min")
    out = read_bars(Selection("equity", "SPY", "1min"), root=lake_env.root)
    assert out["ts"][0] == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def test_naive_timestamps_in_a_given_zone(lake_env, tmp_path):
    p = write(tmp_path, "ny.csv", HEADER + "2024-07-01 09:30:00,1,2,0.5,1.5,3\n")
    import_file(p, "equity", "QQQ", "1min", tz="America/New_York")
    out = read_bars(Selection("equity", "QQQ", "1min"), root=lake_env.root)
    assert out["ts"][0] == datetime(2024, 7, 1, 13, 30, tzinfo=UTC)


# ----------------------------------------------------------------------------- bad inputs

def test_refuses_missing_file(lake, tmp_path):
    assert_refused(lake, tmp_path / "nope.csv", "file not found")


def test_refuses_unreadable_file(lake, tmp_path):
    p = write(tmp_path, "bad.parquet", b"\x00\x01garbage that is not parquet" * 10)
    msg = assert_refused(lake, p, "cannot read bad.parquet as Parquet")
    assert "bad.parquet" in msg


def test_refuses_empty_file(lake, tmp_path):
    assert_refused(lake, write(tmp_path, "empty.csv", b""), "empty")


def test_refuses_header_only(lake, tmp_path):
    assert_refused(lake, write(tmp_path, "hdr.csv", HEADER), "no rows")


def test_refuses_missing_column(lake, tmp_path):
    text = "timestamp,open,high,low,close\n2024-01-01 00:00:00,1,2,0.5,1.5\n"
    msg = assert_refused(lake, write(tmp_path, "m.csv", text), "missing column volume")
    assert "found: timestamp, open, high, low, close" in msg


def test_refuses_misnamed_columns(lake, tmp_path):
    # vendor spellings of the prices and volume are recognised; "when" is not a time column
    text = "when,first_px,hi,lo,last_px,qty\n2024-01-01 00:00:00,1,2,0.5,1.5,3\n"
    msg = assert_refused(lake, write(tmp_path, "n.csv", text), "missing column ts ")
    assert "recognised names" in msg and "--map ts=COLUMN" in msg
    text = "when,a,b,c2,d,e\n2024-01-01 00:00:00,1,2,0.5,1.5,3\n"
    assert_refused(lake, write(tmp_path, "n2.csv", text), "missing columns ts, open, high, low, close, volume")


def test_refuses_nan(lake, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 6)
    rows[3] = rows[3].replace(",103.5,", ",NaN,")
    assert_refused(lake, write(tmp_path, "nan.csv", HEADER + "\n".join(rows) + "\n"), "missing or NaN close in row 4")


def test_refuses_inf(lake, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 6)
    rows[1] = rows[1].replace(",102.0,", ",inf,", 1)
    assert_refused(lake, write(tmp_path, "inf.csv", HEADER + "\n".join(rows) + "\n"), "infinite high in row 2")


def test_refuses_non_numeric_price(lake, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 4)
    rows[2] = rows[2].replace(",102.0,", ",abc,", 1)
    assert_refused(lake, write(tmp_path, "txt.csv", HEADER + "\n".join(rows) + "\n"), "column open .* not numeric in row 3")


def test_refuses_duplicate_timestamps(lake, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 6)
    rows[4] = rows[3].split(",")[0] + "," + ",".join(rows[4].split(",")[1:])
    assert_refused(lake, write(tmp_path, "dup.csv", HEADER + "\n".join(rows) + "\n"), r"duplicate timestamps in rows 4, 5")


def test_unsorted_unique_timestamps_are_sorted_and_counted(lake_env, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 6)
    rows[2], rows[3] = rows[3], rows[2]
    res = import_file(write(tmp_path, "uns.csv", HEADER + "\n".join(rows) + "\n"), "crypto", "BTC", "1min")
    assert res["rows_written"] == 6 and res["rows_moved"] == 1
    assert res["order"] == "oldest first; 1 row out of place moved into time order"
    assert read_bars(Selection("crypto", "BTC", "1min"))["close"].to_list() == [100.5 + i for i in range(6)]


def test_refuses_high_below_low(lake, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 6) + ["2024-01-02 00:06:00,10,8,9,8.5,1"]
    assert_refused(lake, write(tmp_path, "hl.csv", HEADER + "\n".join(rows) + "\n"), "high < low in row 7")


def test_refuses_negative_prices(lake, tmp_path):
    rows = csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 3) + ["2024-01-02 00:03:00,-1,2,-2,1,1"]
    assert_refused(lake, write(tmp_path, "neg.csv", HEADER + "\n".join(rows) + "\n"), "non-positive .* prices in row 4")


def test_rows_with_different_offsets_are_each_converted(lake_env, tmp_path):
    # two different explicit offsets are unambiguous: each row is converted on its own
    text = HEADER + "2024-01-02T00:00:00+00:00,1,2,0.5,1.5,3\n2024-01-02T02:01:00+02:00,1,2,0.5,1.5,3\n"
    import_file(write(tmp_path, "tz.csv", text), "crypto", "TZ", "1min")
    out = read_bars(Selection("crypto", "TZ", "1min"), root=lake_env.root)
    assert out["ts"].to_list() == [datetime(2024, 1, 2, 0, 0, tzinfo=UTC), datetime(2024, 1, 2, 0, 1, tzinfo=UTC)]


def test_refuses_offsets_mixed_with_naive(lake, tmp_path):
    text = HEADER + "2024-01-02 00:00:00Z,1,2,0.5,1.5,3\n2024-01-02 00:01:00,1,2,0.5,1.5,3\n"
    assert_refused(lake, write(tmp_path, "tz2.csv", text), "mixed time zones .* row 1 carry a UTC offset but row 2")


def test_refuses_unparseable_timestamp(lake, tmp_path):
    text = HEADER + "2024-01-02 00:00:00,1,2,0.5,1.5,3\nyesterday,1,2,0.5,1.5,3\n"
    assert_refused(lake, write(tmp_path, "ts.csv", text), "cannot read timestamps in timestamp: row 2")


def test_refuses_bars_finer_than_freq(lake, tmp_path):
    p = write(tmp_path, "fine.csv", HEADER + "\n".join(csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 5)) + "\n")
    assert_refused(lake, p, "finer than 1h", freq="1h")


def test_refuses_bad_symbol(lake, tmp_path):
    p = write(tmp_path, "ok.csv", HEADER + "\n".join(csv_rows(datetime(2024, 1, 2, tzinfo=UTC), 5)) + "\n")
    assert_refused(lake, p, "invalid symbol", symbol="../x")


# ----------------------------------------------------------------------------- Hugging Face (offline)

REPO = "someorg/open-synth-training-data"
COMMIT = "a" * 40


def _hf_parquet(path: Path) -> pl.DataFrame:
    df = pl.DataFrame({
        "timestamp": [1704067200 + 60 * i for i in range(20)],  # epoch seconds from 2024-01-01
        "open": [42000.0 + i for i in range(20)], "high": [42010.0 + i for i in range(20)],
        "low": [41990.0 + i for i in range(20)], "close": [42005.0 + i for i in range(20)],
        "volume": [1.5] * 20,
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path)
    return df


@pytest.fixture
def hf_offline(monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)


def test_hf_load_from_offline_cache(hf_offline, tmp_path):
    cache = tmp_path / "hub"
    repo_dir = cache / "datasets--someorg--open-synth-training-data"
    _hf_parquet(repo_dir / "snapshots" / COMMIT / "data" / "BTC" / "1m.parquet")
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    df = hf_load(REPO, "BTC", "1m", cache_dir=cache)
    assert df.height == 20
    assert df["ts"][0] == datetime(2024, 1, 1, tzinfo=UTC)
    assert df["close"][19] == 42024.0
    with pytest.raises(NotFound, match="data/ETH/1m.parquet of dataset .* not in the local cache"):
        hf_load(REPO, "ETH", "1m", cache_dir=cache)


def test_import_hf_from_local_dir(hf_offline, lake_env, tmp_path):
    local = tmp_path / "local"
    _hf_parquet(local / "data" / "SOL" / "1m.parquet")
    res = import_hf(REPO, "SOL", "1m", local_dir=local)
    assert res["freq"] == "1min" and res["symbol"] == "SOL" and res["rows_written"] == 20
    out = read_bars(Selection("crypto", "SOL", "5min"), root=lake_env.root)  # resampled on read
    assert out.height == 4 and out["volume"].to_list() == [7.5] * 4


def test_a_failed_hub_download_leaves_no_folder_behind(hf_offline, lake_env, tmp_path):
    """Offline with nothing cached: refused, and the new --local-dir / --cache-dir folders the
    hub client had begun to fill (lock files, a .cache tree) are gone; a folder that was there
    before stays, with what it held."""
    new_local, new_cache = tmp_path / "new" / "local", tmp_path / "cache-new" / "hub"
    with pytest.raises(NotFound, match="not in the local cache and the hub cannot be reached"):
        import_hf(REPO, "BTC", "5m", local_dir=new_local, cache_dir=new_cache)
    assert not (tmp_path / "new").exists() and not (tmp_path / "cache-new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("x")
    with pytest.raises(NotFound):
        import_hf(REPO, "BTC", "5m", local_dir=kept)
    assert (kept / "mine.txt").read_text() == "x"
    assert list(lake_env.root.iterdir()) == []


@pytest.mark.parametrize("kind", ["gzip", "zip", "plain"])
def test_a_decompression_bomb_is_refused_while_it_is_read(lake, tmp_path, monkeypatch, kind):
    """A small archive that inflates past the cap is refused before it fills the memory (the cap
    is lowered to 1 MiB here; 8 MiB of one repeated CSV row compress to a few KiB)."""
    import gzip
    import io
    import zipfile

    from synthwb.data import tabular

    monkeypatch.setattr(tabular, "MAX_TABLE_BYTES", 1 << 20)
    body = ("ts,open,high,low,close,volume\n" + "2024-01-01 00:00:00,1,2,0.5,1.5,10\n" * 240_000).encode()
    assert len(body) > 8 << 20
    if kind == "gzip":
        data, name = gzip.compress(body), "bomb.csv.gz"
    elif kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("bars.csv", body)
        data, name = buf.getvalue(), "bomb.zip"
    else:
        data, name = body, "big.csv"
    assert kind == "plain" or len(data) < 200_000
    assert_refused(lake, write(tmp_path, name, data), r"holds more than 1 MiB of data \(after decompression\); split it")


# ----------------------------------------------------------------------------- issue 23 papercuts

def test_cli_guesses_the_series_from_a_binance_archive_name(lake_env, tmp_path, capsys):
    """`data import BTCUSDT-1m-2024-01.zip` needs no flag: crypto / BTC / 1min from the name."""
    import io
    import json
    import zipfile

    from synthwb.cli import main

    rows = [f"{1704067200000 + i * 60000},{100 + i}.0,{102 + i}.0,{99 + i}.0,{101 + i}.0,5.0,"
            f"{1704067259999 + i * 60000},0,1,0,0,0" for i in range(30)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("BTCUSDT-1m-2024-01.csv", "\n".join(rows) + "\n")
    f = write(tmp_path, "BTCUSDT-1m-2024-01.zip", buf.getvalue())
    rc = main(["data", "import", str(f), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc = json.loads(out.out)
    assert (doc["asset_class"], doc["symbol"], doc["freq"], doc["rows_written"]) == ("crypto", "BTC", "1min", 30)
    assert doc["preview"]["guess"]["why"] == "guessed from the file name BTCUSDT-1m-2024-01.zip"
    # a name that says nothing: the timeframe comes from the bars, the symbol must be given
    g = write(tmp_path, "export.csv", HEADER + "\n".join(csv_rows(datetime(2024, 2, 1, tzinfo=UTC), 5)) + "\n")
    rc = main(["data", "import", str(g)])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot tell the symbol from the file name 'export.csv'; pass --symbol" in err
    rc = main(["data", "import", str(g), "--symbol", "ABC", "--asset-class", "crypto"])
    out = capsys.readouterr()
    assert rc == 0 and "note: --freq 1min inferred from the spacing of the bars" in out.out, out.err


def test_cli_drop_off_grid_names_each_dropped_row(lake_env, tmp_path, capsys):
    from synthwb.cli import main

    rows = csv_rows(datetime(2024, 2, 1, tzinfo=UTC), 10)
    rows.insert(4, "2024-02-01 00:03:30,1,2,0.5,1.5,3")
    f = write(tmp_path, "odd.csv", HEADER + "\n".join(rows) + "\n")
    base = ["data", "import", str(f), "--asset-class", "crypto", "--symbol", "ODD", "--freq", "1min"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "row 5 (2024-02-01 00:03:30 UTC) is off the 1min grid" in err and "drop it with --drop-off-grid" in err
    assert main([*base, "--drop-off-grid"]) == 0
    out = capsys.readouterr()
    assert "warning: dropped 1 row off the 1min grid: row 5 (2024-02-01 00:03:30)" in out.err
    assert read_bars(Selection("crypto", "ODD", "1min")).height == 10
