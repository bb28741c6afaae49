"""`python -m synthwb train` and `runs list|show|rename|delete`, as a user runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from train_support import make_featureset

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, env):
    e = {**os.environ, **env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "synthwb", *args], capture_output=True, text=True, env=e,
                          cwd=ROOT, timeout=300)


def test_train_and_runs_commands(lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store)
    env = {"SYNTHWB_STORE_DIR": str(lake_env.store), "SYNTHWB_DATA_DIR": str(demo_lake)}
    r = _cli("train", "--name", "cli run", "--features", "tiny", "--preset", "dlinear-gbm", "--context", "32",
             "--horizon", "8", "--loss", "crps", "--max-steps", "6", "--batch-size", "16", "--n-paths", "16", "--n-paths-eval", "32",
             "--device", "cpu", "--val-every", "3", "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["run_id"] == "cli-run" and out["status"] == "finished" and out["step"] == 6
    assert out["best"]["step"] in (3, 6)
    assert "step" in r.stderr  # the tqdm bar went to stderr
    meta = json.loads((lake_env.store / "cli-run" / "run.json").read_text())
    assert meta["config"]["batch_size"] == 16 and meta["config"]["n_paths_train"] == 16

    r = _cli("runs", "list", "--json", env=env)
    assert r.returncode == 0 and [x["run_id"] for x in json.loads(r.stdout)] == ["cli-run"]
    r = _cli("runs", "show", "cli-run", env=env)
    assert r.returncode == 0 and "status     finished" in r.stdout and "weights.safetensors" in r.stdout
    r = _cli("runs", "rename", "cli-run", "renamed", env=env)
    assert r.returncode == 0 and (lake_env.store / "renamed").is_dir()
    r = _cli("runs", "delete", "renamed", env=env)  # no terminal, no --yes: refused
    assert r.returncode == 2 and "--yes" in r.stderr
    r = _cli("runs", "delete", "renamed", "--yes", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == {"deleted": "renamed"}
    assert not (lake_env.store / "renamed").exists()


def test_cli_errors_are_one_line(lake_env, demo_lake):
    env = {"SYNTHWB_STORE_DIR": str(lake_env.store), "SYNTHWB_DATA_DIR": str(demo_lake)}
    r = _cli("train", "--name", "x", "--features", "missing", "--preset", "dlinear-gbm", env=env)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: no feature set named 'missing'") and r.stderr.count("\n") == 1
    # no --spec/--preset: the recommended preset, so the missing feature set is what is refused
    r = _cli("train", "--name", "x", "--features", "missing", env=env)
    assert r.returncode == 2 and "no feature set named 'missing'" in r.stderr
    r = _cli("runs", "show", "../etc", env=env)
    assert r.returncode == 2 and "invalid run id" in r.stderr
