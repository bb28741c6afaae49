"""The pieces of a newcomer's first run, headless: the training estimate against the run it
predicts, the training profiles, the lake-state cache key, and the backtest's refusal of a
run whose paths no task fits (one clear line, before any data is read)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from train_support import make_featureset, tiny_config

from synthwb.core.errors import SpecError
from synthwb.data.lake import lake_state, read_bars, write_bars
from synthwb.data.schema import Selection
from synthwb.store import runs as store_runs
from synthwb.train import train
from synthwb.train.config import PROFILES, TrainConfig, profile_overrides
from synthwb.train.estimate import TrainEstimate, estimate_training, format_seconds, n_validations

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, env):
    e = {**os.environ, **env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "synthwb", *args], capture_output=True, text=True, env=e,
                          cwd=ROOT, timeout=300)


@pytest.fixture
def tiny(lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store)
    return lake_env


def test_the_estimate_predicts_the_runs_schedule_and_writes_nothing(tiny):
    cfg = tiny_config(epochs=2, max_steps=None, stride=4, val_every=5, loss="crps")
    est = estimate_training("tiny", "dlinear-gbm", cfg, store=tiny.store, context=32, horizon=8, timed_steps=2)
    assert not [p for p in tiny.store.iterdir() if not p.name.startswith("_")]  # no run folder
    info = train("est", "tiny", "dlinear-gbm", cfg, store=tiny.store, context=32, horizon=8)
    meta = json.loads((info.path / "run.json").read_text())
    vals = [r for r in store_runs.read_metrics(info.run_id, tiny.store) if r["kind"] == "val"]
    assert est.total_steps == meta["total_steps"] == info.step
    assert est.steps_per_epoch * 2 == est.total_steps and est.epochs == 2
    assert est.n_validations == len(vals)  # every 5 steps and once at the end (no anchor)
    assert est.step_s > 0 and est.val_s > 0 and est.calibration_s == 0  # a GBM head: no calibration
    assert est.first_calls_s >= 0 and est.timed_steps >= 2  # the first calls once, then a mean of steps
    assert est.seconds == pytest.approx(est.setup_s + est.first_calls_s + est.total_steps * est.step_s
                                        + est.n_validations * est.val_s)
    assert f"{est.total_steps:,} steps" in est.text()


def test_the_estimate_counts_the_loops_validations_and_what_a_run_pays_once():
    """The schedule of the two profiles on the demo lake's 5-minute BTC set (254 batches an
    epoch), counted by hand: quick validates at steps 0 (the anchor), 50 and 100; recommended
    at 0, every 100 steps of its 1,016 (10) and at the end."""
    quick, rec = TrainConfig.parse(profile_overrides("quick")), TrainConfig()
    assert n_validations(100, 254, quick, anchored=True) == 3
    assert n_validations(1016, 254, rec, anchored=True) == 12
    assert n_validations(1016, 254, rec, anchored=False) == 11
    assert n_validations(60, 80, rec, anchored=False) == 2  # every 40 steps (half an epoch): 40, 60
    est = TrainEstimate(total_steps=1016, steps_per_epoch=254, epochs=4, n_validations=12, val_batches=4,
                        step_s=0.1, val_s=6.0, calibration_s=20.0, setup_s=2.0, device="cpu", first_calls_s=3.0,
                        timed_steps=30, early_stopping=True, startup_s=1.0)
    assert est.seconds == pytest.approx(1.0 + 2.0 + 3.0 + 101.6 + 72.0 + 20.0)
    assert est.text().endswith("about 3 min 20 s on cpu (less if early stopping ends it)")
    assert "start, setup and first calls 6.0 s" in est.text()


def test_an_anchored_run_counts_the_anchor_validation_and_the_calibration(tiny):
    cfg = tiny_config(loss="synth", synth_task={"name": "t", "step_seconds": 900, "n_points": 9,
                                                "intervals": [{"name": "15min", "seconds": 900}]},
                      max_steps=6, val_every=3)
    est = estimate_training("tiny", "anchored-term", cfg, store=tiny.store, context=32, timed_steps=1)
    info = train("anch", "tiny", "anchored-term", cfg, store=tiny.store, context=32)
    vals = [r for r in store_runs.read_metrics(info.run_id, tiny.store) if r["kind"] == "val"]
    assert est.total_steps == 6 and est.n_validations == len(vals) == 3  # step 0 (the anchor), 3, 6
    assert est.calibration_s > 0


def test_a_setup_that_cannot_train_is_refused_like_train(tiny):
    with pytest.raises(SpecError, match="horizon"):
        estimate_training("tiny", "dlinear-gbm", tiny_config(loss="synth"), store=tiny.store, context=32, horizon=8)


def test_profiles():
    assert profile_overrides("recommended") == {}  # the measured defaults, untouched
    quick = TrainConfig.parse(profile_overrides("quick"))
    assert quick.max_steps == 100 and quick.max_val_batches == 1 and quick.epochs == TrainConfig().epochs
    assert quick.calibration_windows == 128 and not quick.blend and TrainConfig().blend  # a first model: no blend
    assert set(PROFILES) == {"recommended", "quick"}
    with pytest.raises(SpecError, match="unknown training profile 'nope'"):
        profile_overrides("nope")
    assert [format_seconds(s) for s in (42, 185, 7800)] == ["42 s", "3 min 05 s", "2 h 10 min"]


def test_cli_estimate_and_profile(tiny, demo_lake):
    env = {"SYNTHWB_STORE_DIR": str(tiny.store), "SYNTHWB_DATA_DIR": str(demo_lake)}
    common = ("--features", "tiny", "--preset", "dlinear-gbm", "--context", "32", "--horizon", "8", "--loss", "crps",
              "--batch-size", "16", "--n-paths", "16", "--n-paths-eval", "32", "--device", "cpu")
    r = _cli("train", "--name", "e", *common, "--estimate", "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["total_steps"] > 0 and out["seconds"] > 0 and out["steps_per_s"] > 0
    assert out["startup_s"] > 0  # the command's own start, which `train` pays again (Linux: /proc)
    assert not (tiny.store / "e").exists()
    r = _cli("train", "--name", "q", *common, "--profile", "quick", "--max-steps", "4", "--no-progress", env=env)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tiny.store / "q" / "run.json").read_text())["config"]
    assert cfg["max_val_batches"] == 1 and cfg["val_every"] == 50 and cfg["max_steps"] == 4  # options override it
    r = _cli("train", "--name", "q", "--resume", "--estimate", env=env)
    assert r.returncode == 2 and r.stderr.startswith("error: --estimate applies to a new path-model run")
    assert r.stderr.count("\n") == 1


def test_lake_state_changes_with_the_files_of_its_scope(lake_env, demo_lake):
    import shutil

    shutil.rmtree(lake_env.root)
    shutil.copytree(demo_lake, lake_env.root)
    root = lake_env.root
    whole, btc, eth = lake_state(root), lake_state(root, "crypto", "BTC"), lake_state(root, "crypto", "ETH")
    assert len({whole, btc, eth}) == 3
    read_bars(Selection("crypto", "BTC", "1h"), root=root)  # reading changes nothing
    assert (lake_state(root), lake_state(root, "crypto", "BTC")) == (whole, btc)
    bars = read_bars(Selection("crypto", "BTC", "1min"), root=root).tail(3)
    write_bars(bars.with_columns(pl.col("volume") + 1.0), "crypto", "BTC", "1min", root=root)
    assert lake_state(root) != whole and lake_state(root, "crypto", "BTC") != btc
    assert lake_state(root, "crypto", "ETH") == eth  # another symbol's cache stays valid


def test_a_run_no_task_fits_is_refused_before_the_work(tiny, demo_lake):
    """1h bars with the step-CRPS loss: paths on a 1-hour grid, coarser than both tasks' steps."""
    make_featureset(demo_lake, tiny.store, name="hourly", freq="1h")
    train("hourly", "hourly", "dlinear-gbm", tiny_config(max_steps=2), store=tiny.store, root=demo_lake,
          context=16, horizon=24)
    env = {"SYNTHWB_STORE_DIR": str(tiny.store), "SYNTHWB_DATA_DIR": str(demo_lake)}
    r = _cli("backtest", "--run", "hourly", "--origins", "2", env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: hourly simulates paths on a 1 h grid, coarser than the 24h task's 5 min step; "
                               "no Synth task fits its paths: retrain it with the synth loss")
