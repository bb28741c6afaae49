"""Runs a user can still use: a stopped (interrupted) run with best weights is listed, loaded,
backtested and compared from those weights, labelled so; one that cannot be scored is refused
with the fix. Real tiny runs on the demo lake, real store, the real CLI."""
from __future__ import annotations

import json

import pytest
import torch
from train_support import make_featureset, train_stopped

from synthwb.cli import main
from synthwb.core.errors import SpecError
from synthwb.forecast.kinds import load_forecaster
from synthwb.store import runs


@pytest.fixture
def stopped(lake_env, demo_lake):
    """A tiny 5-minute run, horizon 288 (the 24h task), stopped at step 3, after its best validation."""
    make_featureset(demo_lake, lake_env.store, name="tiny5", freq="5min")
    out = train_stopped(lake_env.store, demo_lake, "half way", featureset="tiny5", horizon=288)
    return lake_env, demo_lake, out


def test_a_stopped_run_is_listed_and_loaded_from_its_best_weights(stopped):
    env, root, out = stopped
    rid, best_step = out["run_id"], out["best_step"]
    assert out["step"] == 3 > best_step  # trained past the best validation: last weights are newer
    label = f"interrupted, best weights at step {best_step}"
    row = next(r for r in runs.list_runs(env.store) if r["run_id"] == rid)
    assert row["status"] == "interrupted" and row["usable"] is True and row["label"] == label
    assert [r["run_id"] for r in runs.usable_runs(env.store)] == [rid]
    assert runs.load_run(rid, env.store).summary()["label"] == label

    # the forecaster carries the best weights, not the last ones
    f = load_forecaster(rid, store=env.store, device="cpu", root=root)
    best = runs.read_weights(env.store / rid / "weights.safetensors")
    last = runs.read_weights(env.store / rid / "last.safetensors")
    state = f.model.state_dict()
    assert all(torch.equal(state[k], best[k]) for k in best)
    assert any(not torch.equal(state[k], last[k]) for k in last)


def test_cli_runs_list_backtest_and_compare_label_a_stopped_run(stopped, capsys):
    env, root, out = stopped
    rid = out["run_id"]
    label = f"interrupted, best weights at step {out['best_step']}"
    common = ["--root", str(root), "--store", str(env.store)]
    assert main(["runs", "list", *common]) == 0
    text = capsys.readouterr().out
    assert f"{rid}  {label}" in text
    assert main(["runs", "show", rid, *common]) == 0
    assert f"status     {label}" in capsys.readouterr().out

    assert main(["backtest", "--classical", "none", "--run", rid, "--baseline", "gbm", "--origins", "2", "--n-paths", "32", "--no-save",
                 *common]) == 0
    text = capsys.readouterr().out
    assert "note" in text and label in text
    assert main(["backtest", "--classical", "none", "--run", rid, "--baseline", "gbm", "--origins", "2", "--n-paths", "32", "--no-save",
                 "--json", *common]) == 0
    res = json.loads(capsys.readouterr().out)
    notes = {r["model"]: r["note"] for r in res["summary"]}
    assert notes == {rid: label, "gbm": ""}
    assert all(r["valid"] for r in res["per_origin"])

    assert main(["compare", "--classical", "none", "--runs", rid, "--baselines", "gbm", "--origins", "2", "--n-paths", "32", "--json",
                 *common]) == 0
    board = {r["model"]: r for r in json.loads(capsys.readouterr().out)["leaderboard"]}
    assert board[rid]["note"] == label and board["gbm"]["note"] == ""
    assert board[rid]["n_origins"] == 2


def test_runs_that_cannot_be_scored_are_refused_with_the_fix(lake_env, capsys):
    store = lake_env.store
    active = runs.create_run("still training", store)  # queued by this (live) process
    never = runs.create_run("stopped early", store,
                            selection={"asset_class": "crypto", "symbol": "BTC", "freq": "5min"})
    runs.update_run(never, store, status="interrupted")  # stopped before any validation: no weights
    broken = runs.create_run("broke", store)
    runs.update_run(broken, store, status="failed", error="TrainingFailed: NaN loss")
    assert runs.usable_runs(store) == []
    labels = {r["run_id"]: (r["usable"], r["label"]) for r in runs.list_runs(store)}
    assert labels == {active: (False, "queued"), never: (False, "interrupted, no best weights yet"),
                      broken: (False, "failed")}
    with pytest.raises(SpecError, match="is queued: wait for it to finish, or stop it"):
        load_forecaster(active, store=store)
    with pytest.raises(SpecError, match="no best weights to score; resume it"):
        load_forecaster(never, store=store)
    with pytest.raises(SpecError, match=r"failed \(TrainingFailed: NaN loss\).*resume it or train it again"):
        load_forecaster(broken, store=store)
    # the CLI: exit 2, one line naming the problem and the fix, no traceback
    rc = main(["backtest", "--classical", "none", "--run", never, "--store", str(store), "--root", str(lake_env.root)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "resume it" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
