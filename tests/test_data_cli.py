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
                        "--root", str(lake), "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert {s["symbol"] for s in doc["series"]} == {"BTC", "ETH", "SOL", "SPY"}
    p = subprocess.run([sys.executable, "-m", "synthwb", "data", "show", "--asset-class", "crypto", "--symbol", "DOGE",
                        "--freq", "1h", "--root", str(lake)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
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
