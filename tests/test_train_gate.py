"""The training gate (synthwb.train.gate): the trained weights are kept only when they beat the untrained
anchored model on validation beyond noise; otherwise the run's best weights are the untrained model's."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from train_support import make_featureset, tiny_config

from synthwb.models import build_model, get_preset
from synthwb.models.spec import run_spec
from synthwb.scoring.synth import get_task
from synthwb.store import runs
from synthwb.train.data import WindowDataset
from synthwb.train.gate import GATE_T, gate_text, gate_training, window_scores
from synthwb.train.loop import train

HOUR_TASK = {"name": "1h-5min", "step_seconds": 300, "n_points": 13,
             "intervals": [{"name": "5min", "seconds": 300}, {"name": "30min", "seconds": 1800},
                           {"name": "60min_abs", "seconds": 3600}]}


@pytest.fixture
def val_setup(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store, name="g5", freq="5min", har=True)
    ds = WindowDataset(fs.windows("val", 48, 12, 1, root=demo_lake)).limit(120)
    spec = get_preset("anchored-har", n_features=len(fs.feature_cols), context=48, horizon=12, bar_seconds=300)
    torch.manual_seed(0)
    return ds, spec, get_task(HOUR_TASK)


def _newey_west_t(d: np.ndarray, lag: int) -> float:
    """A plain DM statistic: mean over its Newey-West standard error (Bartlett weights), HLN-corrected."""
    T, m = d.size, d.mean()
    c = d - m
    lrv = c @ c / T + sum(2 * (1 - k / lag) * (c[k:] @ c[:-k]) / T for k in range(1, lag))
    return m / math.sqrt(lrv / T) * math.sqrt((T + 1 - 2 * lag + lag * (lag - 1) / T) / T)


def test_a_clearly_better_model_is_kept_and_noise_is_not(val_setup):
    ds, spec, task = val_setup
    good = build_model(spec)
    wide = build_model(spec)
    wide.set_calibration(vol_scale=2.5)       # every path 2.5 times too wide: clearly worse on every window
    kept = gate_training(good, wide, ds, task, 300, n_paths=64)
    assert kept["kept"] and kept["dm_stat"] < -GATE_T and kept["n_windows"] == len(ds)
    assert kept["val_score_trained"] < kept["val_score_untrained"]
    # the statistic is the DM test of the per-window differences, with the overlap of the windows' hour
    st, t0 = window_scores(good, ds, task, 300, 64, 32, "cpu", 0)
    su, _ = window_scores(wide, ds, task, 300, 64, 32, "cpu", 0)
    lag = math.ceil(3600 / np.median(np.diff(np.sort(t0))))
    assert kept["lag"] == lag and kept["dm_stat"] == pytest.approx(_newey_west_t(st - su, lag), rel=1e-9)
    assert np.mean(st) == pytest.approx(kept["val_score_trained"])
    # the worse model as "trained": not kept, and the text says the run forecasts with its anchor
    worse = gate_training(wide, good, ds, task, 300, n_paths=64)
    assert not worse["kept"] and worse["dm_stat"] > 0
    assert "not kept" in gate_text(worse) and "untrained anchor" in gate_text(worse)
    # the same weights twice: common random numbers make every difference zero, and a zero gain is not kept
    same = gate_training(good, good, ds, task, 300, n_paths=64)
    assert not same["kept"] and same["dm_stat"] == 0.0


def test_too_few_windows_are_not_tested(val_setup):
    ds, spec, task = val_setup
    out = gate_training(build_model(spec), build_model(spec), ds.limit(10), task, 300, n_paths=16)
    assert out["kept"] and out["dm_stat"] is None and "not tested" in out["reason"] and gate_text(out) == ""


@pytest.mark.parametrize(("gate", "lr"), [(True, 3e-3), (True, 1e-6), (False, 3e-3)])
def test_training_gates_its_weights(lake_env, demo_lake, gate, lr, capsys):
    """lr 3e-3 trains a clear gain in six steps (kept); at 1e-6 the weights barely move (a best checkpoint
    a hair better on validation, not kept)."""
    make_featureset(demo_lake, lake_env.store, name="g5", freq="5min", har=True)
    cfg = tiny_config(loss="synth", synth_task=HOUR_TASK, max_steps=6, val_every=2, calibration_paths=64,
                      calibration_windows=200, blend=False, gate=gate, lr=lr)
    info = train("gated", "g5", "anchored-har", cfg, store=lake_env.store, root=demo_lake, context=48, horizon=12)
    assert info.status == "finished", info.error
    run = runs.load_run(info.run_id, lake_env.store)
    g = run.info.get("gate")
    if not gate:
        assert g is None
        return
    steps = [r["step"] for r in runs.read_metrics(info.run_id, lake_env.store) if r.get("kind") == "val"
             and r.get("improved")]
    if steps[-1] == 0:                          # training never beat the untrained model: nothing to test
        assert g is None
        return
    assert g["trained_step"] == steps[-1] and g["n_windows"] == 200
    assert g["kept"] == (g["dm_stat"] < -GATE_T and g["gain"] >= 5e-4)
    assert g["kept"] == (lr > 1e-4)    # lr 1e-6: a gain of about a millionth, too small to keep however steady
    best = runs.read_weights(run.path / runs.BEST)
    torch.manual_seed(0)
    untrained = build_model(run_spec(run)).state_dict()
    same = all(torch.equal(best[k], untrained[k]) for k in untrained)
    assert same == (not g["kept"])
    assert (run.info["best"]["step"] == 0) == (not g["kept"])
    assert ("the gate kept the untrained anchor" in run.info["stop_reason"]) == (not g["kept"])
    from synthwb.cli import main

    assert main(["runs", "show", info.run_id, "--store", str(lake_env.store)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("gated"))
    assert ("not kept" in line) == (not g["kept"]) and f"{g['dm_stat']:+.2f}" in line
    if not g["kept"] and g["dm_stat"] < -GATE_T:
        assert "gains under 0.05%" in line
