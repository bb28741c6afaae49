"""`python -m synthwb data ...`: exit codes, --json, --root."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from synthwb.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_main(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_demo_list_show_via_subprocess(tmp_path):
    lake = tmp_path / "lake"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "synthwb", "data", "demo", "--years", "0.005", "--seed", "2", "--start", "2024-01-08",
                        "--root", str(lake), "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert {s["symbol"] for s in doc["series"]} == {"BTC", "ETH", "SOL", "SPY"}
    p = subprocess.run([sys.executable, "-m", "synthwb", "data", "show", "--asset-class", "crypto", "--symbol", "DOGE",
                        "--freq", "1h", "--root", str(lake)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode != 0
    assert p.stdout == ""
    assert p.stderr.startswith("error: ") and "DOGE" in p.stderr and p.stderr.count("\n") == 1


def test_list_json_and_text(capsys, demo_lake, tmp_path):
    rc, out, _ = run_main(capsys, "data", "list", "--root", str(demo_lake), "--json")
    assert rc == 0
    rows = json.loads(out)
    assert {r["symbol"] for r in rows} == {"BTC", "ETH", "SOL", "SPY"}
    assert all(r["rows"] > 0 and r["freq"] == "1min" for r in rows)
    rc, out, _ = run_main(capsys, "data", "list", "--root", str(tmp_path / "empty"))
    assert rc == 0 and "empty" in out
    rc, out, _ = run_main(capsys, "data", "list", "--root", str(tmp_path / "empty"), "--json")
    assert json.loads(out) == []


def test_show_resample_and_csv(capsys, demo_lake, tmp_path):
    out_csv = tmp_path / "out" / "btc.csv"
    rc, out, err = run_main(capsys, "data", "show", "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min",
                            "--start", "2024-01-02", "--end", "2024-01-03", "--resample", "1h",
                            "--csv", str(out_csv), "--root", str(demo_lake), "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["rows"] == 24 and doc["csv"] == str(out_csv)
    csv = pl.read_csv(out_csv)
    assert csv.columns == ["ts", "open", "high", "low", "close", "volume"] and csv.height == 24
    assert csv["ts"][0] == "2024-01-02T00:00:00Z"
    # the exported CSV imports back into a lake unchanged
    rc, out, err = run_main(capsys, "data", "import", str(out_csv), "--asset-class", "crypto", "--symbol", "BTC",
                            "--freq", "1h", "--root", str(tmp_path / "lake2"), "--json")
    assert rc == 0, err
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    back = read_bars(Selection("crypto", "BTC", "1h"), root=tmp_path / "lake2")
    orig = read_bars(Selection("crypto", "BTC", "1h", "2024-01-02", "2024-01-03"), root=demo_lake)
    assert back["ts"].equals(orig["ts"])
    assert (back["close"] - orig["close"]).abs().max() < 1e-6 * orig["close"].max()
    rc, out, _ = run_main(capsys, "data", "show", "--asset-class", "equity", "--symbol", "SPY", "--freq", "1d",
                          "--root", str(demo_lake), "--quality")
    assert rc == 0 and "equity/SPY 1d:" in out and "quality:" in out


def test_import_ok_and_refused(capsys, tmp_path):
    lake = tmp_path / "lake"
    good = tmp_path / "g.csv"
    good.write_text("time,open,high,low,close,volume\n2024-01-01 00:00:00,1,2,0.5,1.5,3\n2024-01-01 00:01:00,1,2,0.5,1.5,3\n")
    rc, out, err = run_main(capsys, "data", "import", str(good), "--asset-class", "crypto", "--symbol", "ABC",
                            "--freq", "1min", "--root", str(lake), "--json")
    assert rc == 0, err
    assert json.loads(out)["rows_written"] == 2
    bad = tmp_path / "b.csv"
    bad.write_text("time,open,high,low,close,volume\n2024-01-01 00:00:00,1,0.2,0.5,1.5,3\n")
    before = sorted(p.read_bytes() for p in lake.rglob("*.parquet"))
    rc, out, err = run_main(capsys, "data", "import", str(bad), "--asset-class", "crypto", "--symbol", "ABC",
                            "--freq", "1min", "--root", str(lake))
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and "high < low in row 1" in err
    assert sorted(p.read_bytes() for p in lake.rglob("*.parquet")) == before
    rc, _, err = run_main(capsys, "data", "import", str(good), "--asset-class", "stocks", "--symbol", "ABC",
                          "--freq", "1min", "--root", str(lake))
    assert rc == 2 and "unknown asset class 'stocks'" in err


CC = ("time,high,low,open,volumefrom,volumeto,close\n"
      "1706745600,102,99,100,4,400,101\n1706749200,103,100,101,5,500,102\n1706752800,104,101,102,6,600,103\n")


def test_import_dry_run_prints_the_preview_and_writes_nothing(capsys, tmp_path):
    lake = tmp_path / "lake"
    f = tmp_path / "histohour.csv"
    f.write_text(CC)
    rc, out, err = run_main(capsys, "data", "import", str(f), "--asset-class", "crypto", "--symbol", "ETH",
                            "--freq", "1h", "--root", str(lake), "--dry-run")
    assert rc == 0, err
    assert "mapping: ts <- time, open <- open, high <- high, low <- low, close <- close, volume <- volumefrom" in out
    assert "timestamps: epoch s; epoch (UTC)" in out
    assert "rows: 3 in the file, 3 bars; duplicates: 0" in out and "frequency: inferred 1h, --freq 1h; gaps: 0" in out
    assert "2024-02-01 00:00:00" in out and "2024-02-01 02:00:00" in out and "nothing written" in out
    assert not lake.exists() or not list(lake.rglob("*.parquet"))
    # --json: the same preview as one document
    rc, out, _ = run_main(capsys, "data", "import", str(f), "--asset-class", "crypto", "--symbol", "ETH",
                          "--freq", "1h", "--root", str(lake), "--dry-run", "--json")
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["preview"]["mapping"]["volume"] == "volumefrom"
    assert doc["preview"]["first_rows"][0] == {"ts": "2024-02-01 00:00:00", "open": 100.0, "high": 102.0,
                                               "low": 99.0, "close": 101.0, "volume": 4.0}
    # a refused dry run: the preview on stdout, one error line on stderr, exit 2
    rc, out, err = run_main(capsys, "data", "import", str(f), "--asset-class", "crypto", "--symbol", "ETH",
                            "--freq", "1min", "--root", str(lake), "--dry-run")
    assert rc == 2 and "problem: the bars are 1h apart" in out
    assert err == "error: the bars are 1h apart (inferred frequency 1h) but --freq is 1min; use --freq 1h\n"


def test_import_map_ts_format_tz_and_on_duplicate_flags(capsys, tmp_path):
    lake = tmp_path / "lake"
    f = tmp_path / "odd.csv"
    f.write_text("When,O,H,L,C,VolumeFrom,VolumeTo\n"
                 "05/06/2024 10:00,10,12,9,11,1,100\n05/06/2024 11:00,11,13,10,12,2,200\n"
                 "05/06/2024 11:00,11,13,10,12,2,200\n")
    base = ["data", "import", str(f), "--asset-class", "equity", "--symbol", "ABC", "--freq", "1h", "--root", str(lake)]
    rc, _, err = run_main(capsys, *base)
    assert rc == 2 and err.count("\n") == 1 and "missing column ts" in err and "--map ts=COLUMN" in err
    rc, _, err = run_main(capsys, *base, "--map", "ts=When")
    assert rc == 2 and "ambiguous day/month order" in err and "--ts-format '%d/%m/%Y %H:%M'" in err
    args = [*base, "--map", "ts=When", "--map", "volume=VolumeTo", "--ts-format", "%d/%m/%Y %H:%M",
            "--tz", "Europe/London"]
    rc, _, err = run_main(capsys, *args)
    assert rc == 2 and "duplicate timestamps in rows 2, 3" in err and "--on-duplicate" in err
    assert not lake.exists() or not list(lake.rglob("*.parquet"))
    rc, out, err = run_main(capsys, *args, "--on-duplicate", "first", "--json")
    assert rc == 0, err
    assert json.loads(out)["rows_written"] == 2
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    got = read_bars(Selection("equity", "ABC", "1h"), root=lake)
    # 5 June 2024 10:00 in London (BST, UTC+1) is 09:00 UTC
    assert [t.isoformat() for t in got["ts"]] == ["2024-06-05T09:00:00+00:00", "2024-06-05T10:00:00+00:00"]
    assert got["volume"].to_list() == [100.0, 200.0]
    for bad, msg in ((["--map", "ts"], "write FIELD=COLUMN"), (["--map", "price=C"], "unknown field 'price'"),
                     (["--tz", "Nowhere/City"], "unknown time zone 'Nowhere/City'")):
        rc, _, err = run_main(capsys, *base, *bad)
        assert rc == 2 and msg in err, err


def test_import_sort_puts_a_glitched_vendor_file_in_order(capsys, tmp_path):
    # newest first, with a block of rows out of place (as in CryptoDataDownload's hourly Coinbase export)
    hours = [9, 8, 7, 3, 6, 2, 5, 1, 4, 0]
    rows = [f"2019-10-17 {h:02d}:00,{100 + h},{101 + h},{99 + h},{100.5 + h},{h + 1}" for h in hours]
    f = tmp_path / "glitch.csv"
    f.write_text("Timestamps are UTC timezone,https://example.com\nDate,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    lake = tmp_path / "lake"
    args = ["data", "import", str(f), "--asset-class", "crypto", "--symbol", "GLT", "--freq", "1h", "--root", str(lake)]
    rc, out, err = run_main(capsys, *args)
    assert rc == 0, err
    assert "note: rows were newest first (turned round); 3 rows out of place moved into time order" in out
    rc, out, err = run_main(capsys, *args, "--sort", "--json")  # still accepted
    assert rc == 0, err
    assert json.loads(out)["rows_moved"] == 3
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    bars = read_bars(Selection("crypto", "GLT", "1h"), root=lake)
    assert bars["ts"].dt.hour().to_list() == list(range(10))
    assert bars["close"].to_list() == [100.5 + h for h in range(10)]
