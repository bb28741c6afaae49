"""CSV export (neutralisation, pandas round-trip) and the `backtest` command (exit codes, JSON)."""
from __future__ import annotations

import io
import json
from datetime import datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

from synthwb.cli import main
from synthwb.evaluate.backtest import BacktestSpec, run_backtest
from synthwb.evaluate.export import neutralise, to_csv, write_csvs

ARGS = ["--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min", "--start", "2024-01-09",
        "--origins", "2", "--n-paths", "32", "--seed", "3", "--baseline", "gbm,bootstrap", "--classical", "none"]


def test_neutralise():
    assert neutralise("=SUM(A1)") == "'=SUM(A1)"
    assert neutralise("+1") == "'+1" and neutralise("-2") == "'-2" and neutralise("@x") == "'@x"
    assert neutralise("\tx") == "'\tx"
    assert neutralise("gbm") == "gbm" and neutralise("a=b") == "a=b" and neutralise(None) is None


def test_text_cells_are_neutralised_in_csv(tmp_path):
    df = pl.DataFrame({"model": ["=HYPERLINK(1)", "+cmd", "-x", "@y", "safe"], "score": [1.5, -2.25, 3.0, 0.1, 1e-17]})
    p = tmp_path / "x.csv"
    p.write_text(to_csv(df))
    back = pd.read_csv(p, float_precision="round_trip")
    assert back["model"].tolist() == ["'=HYPERLINK(1)", "'+cmd", "'-x", "'@y", "safe"]
    # numbers are not text: negative scores stay numbers and round-trip exactly
    assert back["score"].tolist() == [1.5, -2.25, 3.0, 0.1, 1e-17]


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical, pl.Enum(["=1+1", "+cmd", "-x", "@y", "\rz", "safe"])])
def test_every_string_like_column_is_neutralised(tmp_path, dtype):
    cells = ["=1+1", "+cmd", "-x", "@y", "\rz", "safe"]
    df = pl.DataFrame({"model": pl.Series(cells, dtype=dtype), "n": list(range(6))})
    text = to_csv(df)
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert back["model"].tolist() == ["'=1+1", "'+cmd", "'-x", "'@y", "'\rz", "safe"]
    assert back["n"].tolist() == list(range(6))
    assert not any(line.startswith(("=", "+", "-", "@")) for line in text.splitlines())


@pytest.fixture(scope="module")
def small(demo_lake):
    spec = BacktestSpec.parse({"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"},
                               "start": "2024-01-09", "n_origins": 2, "n_paths": 32, "seed": 3,
                               "baselines": ["gbm", "bootstrap"]})
    return run_backtest(spec, root=demo_lake)


def test_csvs_round_trip_through_pandas(small, tmp_path):
    files = write_csvs(small, tmp_path / "out")
    assert [f.name for f in files] == ["per_origin.csv", "intervals.csv", "quantiles.csv"]
    # pandas' default float parser is not bit-exact; its round-trip parser is
    po = pd.read_csv(files[0], parse_dates=["origin", "t0"], float_precision="round_trip")
    want = small.per_origin.to_pandas()
    assert po["total"].tolist() == want["total"].tolist()  # exact floats
    assert po["model"].tolist() == want["model"].tolist()
    assert (po["origin"] == want["origin"]).all() and str(po["origin"].dt.tz) == "UTC"
    assert po["valid"].tolist() == want["valid"].tolist()
    iv = pd.read_csv(files[1], parse_dates=["origin"])
    sums = iv.groupby(["origin", "model"])["score"].sum().rename("sum").reset_index()
    m = po.merge(sums, on=["origin", "model"])
    assert len(m) == len(po) and np.allclose(m["sum"], m["total"], rtol=1e-12)
    assert set(iv["interval"]) == {"5min", "30min", "3hour", "24hour_abs"}
    q = pd.read_csv(files[2], parse_dates=["origin", "time"])
    assert len(q) == 2 * 2 * 289
    assert q["realised"].tolist() == pytest.approx(small.quantiles["realised"].to_list(), nan_ok=True)
    assert {"p5", "p25", "p50", "p75", "p95"} <= set(q.columns)
    # a single .csv target writes siblings
    files2 = write_csvs(small, tmp_path / "bt.csv")
    assert [f.name for f in files2] == ["bt.csv", "bt_intervals.csv", "bt_quantiles.csv"]


def test_cli_backtest_json_matches_engine(small, demo_lake, lake_env, capsys, tmp_path):
    rc = main(["backtest", "--classical", "none", *ARGS, "--root", str(demo_lake), "--json", "--csv", str(tmp_path / "cli")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(out.out)
    got = {(r["origin"], r["model"]): r["total"] for r in data["per_origin"]}
    want = {(r["origin"].isoformat(), r["model"]): r["total"] for r in small.per_origin.to_dicts()}
    assert got == want
    assert (tmp_path / "cli" / "per_origin.csv").exists()
    assert len(data["summary"]) == 2


def test_cli_text_output_and_errors(demo_lake, lake_env, capsys):
    assert main(["backtest", "--classical", "none", *ARGS, "--root", str(demo_lake)]) == 0
    out = capsys.readouterr().out
    assert "mean_score" in out and "gbm" in out and "bootstrap" in out
    # no run and no selection
    assert main(["backtest", "--classical", "none", "--root", str(demo_lake)]) == 2
    assert "baselines-only" in capsys.readouterr().err
    # unknown task, unknown baseline, unknown run, missing symbol
    assert main(["backtest", "--classical", "none", *ARGS, "--root", str(demo_lake), "--task", "2h"]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["backtest", "--classical", "none", *ARGS[:-3], "nope", "--root", str(demo_lake)]) == 2
    assert "unknown baseline" in capsys.readouterr().err
    assert main(["backtest", "--classical", "none", *ARGS[:-1], "gjr", "--root", str(demo_lake)]) == 2
    err = capsys.readouterr().err
    assert "unknown classical model 'gjr'" in err and "gjr-garch" in err and err.count("\n") == 1
    assert main(["backtest", "--classical", "none", *ARGS[:-1], "gjr-garch:cauchy", "--root", str(demo_lake)]) == 2
    assert "dist" in capsys.readouterr().err
    assert main(["backtest", "--classical", "none", "--run", "no-such-run", "--root", str(demo_lake)]) == 2
    assert "no-such-run" in capsys.readouterr().err
    bad = ["--asset-class", "crypto", "--symbol", "XRP", "--freq", "5min"]
    assert main(["backtest", "--classical", "none", *bad, "--root", str(demo_lake)]) == 2
    assert "XRP" in capsys.readouterr().err


# ------------------------------------------------------------------------------ validator versions

# `backtest --task 1h` on 1-minute BTC as synthwb scored it before versions existed (commit 42c8044):
# the 2026-05 rules reproduce these to the digit
TODAY_1H = {("2024-01-09T00:00:00+00:00", "gbm"): 753.8844892169777,
            ("2024-01-14T02:34:00+00:00", "gbm"): 333.74729129772567,
            ("2024-01-19T05:14:00+00:00", "gbm"): 457.6261796177022,
            ("2024-01-09T00:00:00+00:00", "bootstrap"): 749.8597943868613,
            ("2024-01-14T02:34:00+00:00", "bootstrap"): 261.79365171483573,
            ("2024-01-19T05:14:00+00:00", "bootstrap"): 368.55968681964214}
ARGS_1H = ["--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--task", "1h", "--start", "2024-01-09",
           "--origins", "3", "--n-paths", "32", "--seed", "3", "--baseline", "gbm,bootstrap", "--classical", "none"]


def test_cli_backtest_2026_05_reproduces_the_old_numbers_and_records_the_version(demo_lake, lake_env, capsys,
                                                                                  tmp_path):
    rc = main(["backtest", "--classical", "none", *ARGS_1H, "--validator", "2026-05", "--root", str(demo_lake), "--json",
               "--csv", str(tmp_path / "old.csv")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(out.out)
    assert {(r["origin"], r["model"]): r["total"] for r in data["per_origin"]} == TODAY_1H  # exact
    assert data["validator"] == {"name": "2026-05", "repository": "mode-network/synth-subnet", "commit": "ec8a625",
                                 "date": "2026-05-29"}
    assert data["spec"]["validator"] == "2026-05" and data["meta"]["validator"]["name"] == "2026-05"
    for f in data["files"]:
        df = pd.read_csv(f)
        assert set(df["validator_version"]) == {"2026-05"} and set(df["validator_source"]) == {
            "mode-network/synth-subnet@ec8a625"}
    # the default is the newest: the volatility term and the 1h start a minute earlier change the scores
    assert main(["backtest", "--classical", "none", *ARGS_1H, "--root", str(demo_lake)]) == 0
    text = capsys.readouterr().out
    assert "scored with validator 2026-09 (synthdataco/synth-subnet@2cfb24b)" in text.splitlines()[0]


def test_cli_unknown_validator_is_one_error_line(demo_lake, lake_env, capsys, tmp_path):
    for cmd in (["backtest", *ARGS], ["compare", "--baselines", "gbm,bootstrap", "--asset-class", "crypto",
                                      "--symbol", "BTC", "--freq", "5min"],
                ["forecast", "--run", "x", "--task", "1h", "--out", str(tmp_path / "r.json")],
                ["train", "--name", "x", "--features", "f"]):
        with pytest.raises(SystemExit) as exc:  # refused by the argument parser, before anything runs
            main([*cmd, "--validator", "2020-01", "--root", str(demo_lake)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, (cmd, err)
        assert "2026-09" in err and "2026-05" in err, err
    assert not (tmp_path / "r.json").exists()


def test_cli_backtest_cadence(demo_lake, lake_env, capsys):
    rc = main(["backtest", "--classical", "none", "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--task", "1h",
               "--start", "2024-01-10", "--end", "2024-01-10T03:00:00", "--origins", "100", "--n-paths", "8",
               "--baseline", "gbm", "--cadence", "--cadence-salt", "s1", "--root", str(demo_lake), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(out.out)
    cad = data["meta"]["cadence"]
    assert data["spec"]["cadence"] and cad["salt"] == "s1" and cad["keeper"] == "md5" and cad["bucket_seconds"] == 600
    starts = {r["t0"] for r in data["per_origin"]}
    assert len(starts) == cad["n_origins"] >= 10
    assert len({(datetime.fromisoformat(s).timestamp() // 600) for s in starts}) == len(starts)


def test_cli_compare_records_the_version(demo_lake, lake_env, capsys, tmp_path):
    rc = main(["compare", "--classical", "none", "--baselines", "gbm,bootstrap", "--asset-class", "crypto", "--symbol", "BTC", "--freq",
               "5min", "--start", "2024-01-09", "--origins", "3", "--n-paths", "16", "--validator", "2026-05",
               "--root", str(demo_lake), "--json", "--csv", str(tmp_path / "cmp.csv")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(out.out)
    assert data["validator"]["name"] == "2026-05" and data["request"]["validator"] == "2026-05"
    assert len(data["files"]) == 3
    for f in data["files"]:
        assert set(pl.read_csv(f)["validator_version"]) == {"2026-05"}, f
    assert main(["compare", "--classical", "none", "--baselines", "gbm,bootstrap", "--asset-class", "crypto", "--symbol", "BTC", "--freq",
                 "5min", "--start", "2024-01-09", "--origins", "3", "--n-paths", "16", "--root", str(demo_lake)]) == 0
    assert "scored with validator 2026-09 (synthdataco/synth-subnet@2cfb24b)" in capsys.readouterr().out
