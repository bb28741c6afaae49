"""``python -m synthwb features list | build | show | delete``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from synthwb.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_features_list_subprocess_json():
    r = subprocess.run([sys.executable, "-m", "synthwb", "features", "list", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    by_name = {d["name"]: d for d in data}
    assert {"rsi", "macd", "microstructure", "adx_regime", "cross_asset", "calendar"} <= set(by_name)
    assert by_name["rsi"]["params"][0] == {"name": "window", "type": "int", "default": 14, "low": 2, "high": 500}
    assert len(by_name["microstructure"]["makes"]) == 11


def test_features_list_text(capsys):
    code, out, _ = run(capsys, "features", "list")
    assert code == 0 and "bollinger" in out and "window=20" in out


def test_features_build_show_delete(capsys, demo_lake, lake_env, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"features": [{"name": "rsi", "params": {"window": 10}}, {"name": "microstructure"}]}))
    code, out, err = run(capsys, "features", "build", "--name", "btc-cli", "--asset-class", "crypto", "--symbol", "BTC",
                         "--freq", "1h", "--spec", str(spec), "--root", str(demo_lake), "--store", str(lake_env.store),
                         "--export", str(tmp_path / "gl"), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["name"] == "btc-cli" and "rsi_10" in data["feature_cols"] and "ms_vwap_dev" in data["feature_cols"]
    assert data["spec"]["freq"] == "1h" and data["spec"]["base_freq"] == "1min"
    assert (lake_env.store / "_featuresets" / "btc-cli" / "featureset.json").exists()
    assert (tmp_path / "gl" / "dataset_info.json").exists()
    code, out, _ = run(capsys, "features", "list", "--saved", "--store", str(lake_env.store), "--json")
    assert [r["name"] for r in json.loads(out)] == ["btc-cli"]
    code, out, _ = run(capsys, "features", "show", "btc-cli", "--store", str(lake_env.store))
    assert code == 0 and "rsi_10" in out
    code, out, _ = run(capsys, "features", "delete", "btc-cli", "--store", str(lake_env.store))
    assert code == 0 and not (lake_env.store / "_featuresets" / "btc-cli").exists()


def test_features_build_errors_are_one_line(capsys, demo_lake, lake_env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"features": [{"name": "rsi", "params": {"window": "x"}}]}))
    code, _, err = run(capsys, "features", "build", "--name", "n1", "--asset-class", "crypto", "--symbol", "BTC",
                       "--freq", "1h", "--spec", str(bad), "--root", str(demo_lake), "--store", str(lake_env.store))
    assert code == 2 and err.startswith("error:") and "rsi.window" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "features", "build", "--name", "Bad Name", "--asset-class", "crypto", "--symbol",
                       "BTC", "--freq", "1h", "--root", str(demo_lake), "--store", str(lake_env.store))
    assert code == 2 and "feature set name" in err
    code, _, err = run(capsys, "features", "build", "--name", "n2", "--asset-class", "crypto", "--symbol", "NOPE",
                       "--freq", "1h", "--root", str(demo_lake), "--store", str(lake_env.store))
    assert code == 2 and "NOPE" in err
    assert not (lake_env.store / "_featuresets" / "n1").exists()
