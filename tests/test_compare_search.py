"""Hyperparameter search drivers (grid, random, Optuna TPE) and the feature-ablation specs."""
from __future__ import annotations

import math
import threading

import pytest

from synthwb.core.errors import SpecError
from synthwb.research.ablation import ablation_specs, feature_groups
from synthwb.research.search import (
    Dim,
    apply_params,
    grid_points,
    parse_dim,
    random_points,
    run_search,
)


def test_parse_dim_forms():
    d = parse_dim("config.lr=1e-4:1e-2:log")
    assert (d.low, d.high, d.log, d.integer, d.kind) == (1e-4, 1e-2, True, False, "float")
    d = parse_dim("config.batch_size=16:128:int")
    assert d.kind == "int" and (d.low, d.high) == (16, 128)
    d = parse_dim("spec.d_model=32,64,128")
    assert d.choices == (32, 64, 128)
    assert parse_dim("config.loss=crps,afcrps").choices == ("crps", "afcrps")
    for bad, msg in [("lr=1:2", "must start with"), ("config.lr", "PATH=LOW:HIGH"),
                     ("config.lr=2:1", "must not exceed"), ("config.lr=0:1:log", "low > 0"),
                     ("config.lr=1:2:cube", "unknown tag")]:
        with pytest.raises(SpecError, match=msg):
            parse_dim(bad)


def test_grid_values_and_product():
    assert Dim("config.lr", 1e-4, 1e-2, log=True).grid(3) == pytest.approx([1e-4, 1e-3, 1e-2])
    assert Dim("config.epochs", 1, 5, integer=True).grid(3) == [1, 3, 5]
    pts = grid_points([Dim("config.lr", 0.0, 1.0), Dim("spec.d_model", choices=(8, 16))], per_dim=3)
    assert len(pts) == 6
    assert {(p["config.lr"], p["spec.d_model"]) for p in pts} == {(a, b) for a in (0.0, 0.5, 1.0) for b in (8, 16)}


def test_random_points_reproducible_and_in_range():
    dims = [Dim("config.lr", 1e-4, 1e-1, log=True), Dim("config.batch_size", 8, 64, integer=True)]
    a, b = random_points(dims, 50, seed=3), random_points(dims, 50, seed=3)
    assert a == b
    assert all(1e-4 <= p["config.lr"] <= 1e-1 and 8 <= p["config.batch_size"] <= 64 for p in a)
    assert all(isinstance(p["config.batch_size"], int) for p in a)


def test_apply_params_sets_nested_paths_and_names_bad_ones():
    base = {"config": {"lr": 1e-3}, "spec": {"blocks": [{"name": "dlinear", "params": {"kernel": 25}}]}}
    out = apply_params(base, {"config.lr": 0.1, "spec.blocks.0.params.kernel": 13})
    assert out["config"]["lr"] == 0.1 and out["spec"]["blocks"][0]["params"]["kernel"] == 13
    assert base["config"]["lr"] == 1e-3  # the base is not modified
    with pytest.raises(SpecError, match="no key 'lrr'"):
        apply_params(base, {"config.lrr": 1})
    with pytest.raises(SpecError, match="not an index"):
        apply_params(base, {"spec.blocks.3.params.kernel": 1})


def _bowl(params, number, progress, stop_event):
    """A real objective with its minimum at lr = 1e-2, d = 32: value 0 there."""
    lr = params["config.lr"]
    d = params.get("spec.d", 32)
    return (math.log10(lr) + 2) ** 2 + ((d - 32) / 32) ** 2, f"run-{number}"


def test_grid_search_finds_the_grid_minimum():
    res = run_search(["config.lr=1e-4:1:log", "spec.d=16,32,64"], _bowl, "grid", n_trials=100, per_dim=5)
    assert len(res.trials) == 15
    assert res.best.params == {"config.lr": pytest.approx(1e-2), "spec.d": 32}
    assert res.best.value == pytest.approx(0.0, abs=1e-12)
    assert res.best.run_id == f"run-{res.best.number}"
    assert res.table()["value"][0] == pytest.approx(0.0, abs=1e-12)


def test_random_and_tpe_search_improve_on_the_bowl():
    rnd = run_search(["config.lr=1e-5:1:log"], _bowl, "random", n_trials=30, seed=1)
    assert len(rnd.trials) == 30 and rnd.best.value < 0.1
    tpe = run_search(["config.lr=1e-5:1:log"], _bowl, "tpe", n_trials=30, seed=1)
    assert len(tpe.trials) == 30 and tpe.best.value < 0.05
    again = run_search(["config.lr=1e-5:1:log"], _bowl, "tpe", n_trials=30, seed=1)
    assert [t.params for t in again.trials] == [t.params for t in tpe.trials]  # seeded


def test_failing_trials_are_recorded_and_the_search_goes_on():
    def flaky(params, number, progress, stop_event):
        if number % 2:
            raise SpecError(f"trial {number} has a bad spec")
        return _bowl(params, number, progress, stop_event)

    res = run_search(["config.lr=1e-4:1:log"], flaky, "tpe", n_trials=6, seed=0)
    assert [t.status for t in res.trials] == ["finished", "failed"] * 3
    assert res.trials[1].error == "trial 1 has a bad spec"
    assert res.best.number % 2 == 0


def test_stop_event_interrupts_between_trials():
    stop = threading.Event()
    seen = []

    def obj(params, number, progress, stop_event):
        seen.append(number)
        if number == 2:
            stop.set()
        return 1.0

    res = run_search(["config.lr=0:1"], obj, "random", n_trials=10, stop_event=stop)
    assert seen == [0, 1, 2] and res.status == "interrupted"
    assert res.trials[-1].status == "stopped"


def test_progress_reports_each_trial():
    calls = []
    run_search(["config.lr=1e-3:1e-1:log"], _bowl, "random", n_trials=4,
               progress=lambda f=None, metrics=None, message=None: calls.append((f, metrics)))
    fracs = [f for f, m in calls if m]
    assert fracs == [0.25, 0.5, 0.75, 1.0]


def test_feature_groups_and_ablation_specs():
    from synthwb.features.registry import FeatureSpec

    spec = FeatureSpec(freq="1h", features=(
        {"name": "log_return", "params": {}}, {"name": "ema", "params": {"window": 12}},
        {"name": "rsi", "params": {}}, {"name": "macd", "params": {}},
    ))
    assert feature_groups(spec) == {"returns": ["log_return"], "trend": ["ema"], "momentum": ["rsi", "macd"]}
    ab = ablation_specs(spec)
    assert list(ab) == ["returns", "trend", "momentum"]
    assert [it.name for it in ab["momentum"].features] == ["log_return", "ema"]
    assert [it.name for it in ab["returns"].features] == ["ema", "rsi", "macd"]
    assert ab["trend"].freq == "1h"
    with pytest.raises(SpecError, match="not in this feature set"):
        ablation_specs(spec, ["volume"])


TINY_CFG = {"loss": "crps", "epochs": 1, "max_steps": 3, "batch_size": 8, "n_paths_train": 16, "n_paths_eval": 16,
            "max_val_batches": 2, "device": "cpu", "warmup_steps": 0}


@pytest.fixture
def tiny_featureset(lake_env, demo_lake):
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import FeatureSpec

    spec = FeatureSpec(freq="5min", features=({"name": "log_return", "params": {}},
                                              {"name": "ema", "params": {"window": 12}},
                                              {"name": "rsi", "params": {}}))
    fs = create_featureset("tiny", Selection("crypto", "BTC", "5min"), spec, root=demo_lake)
    save_featureset(fs, store=lake_env.store)
    return fs


def test_training_search_keeps_the_best_runs(lake_env, tiny_featureset):
    from synthwb.jobs.adapters import search_job
    from synthwb.jobs.registry import JobRegistry
    from synthwb.store import list_runs, read_info

    reg = JobRegistry(max_running=1)
    job = reg.submit("search", "hp", search_job, run_name="hp", featureset="tiny", model_spec="dlinear-gbm",
                     space=["config.lr=1e-4:1e-1:log", "spec.d_model=8,16"], method="random", n_trials=3,
                     config=TINY_CFG, store=lake_env.store, keep=2, context=32, horizon=12)
    assert job.wait(300), "search job did not finish"
    assert job.status == "finished", job.error
    res = job.result
    assert len(res.trials) == 3 and all(t.status == "finished" for t in res.trials)
    ranked = sorted(res.trials, key=lambda t: t.value)
    assert res.kept == [ranked[0].run_id, ranked[1].run_id]
    runs = {r["run_id"] for r in list_runs(lake_env.store)}
    assert runs == set(res.kept)  # the worst trial's run was deleted
    info = read_info(res.kept[0], lake_env.store)
    assert info["search"]["params"] == ranked[0].params
    assert info["model_spec"]["d_model"] == ranked[0].params["spec.d_model"]
    assert info["config"]["lr"] == pytest.approx(ranked[0].params["config.lr"])
    assert info["best"]["val_crps"] == pytest.approx(ranked[0].value)
    assert len(job.metrics) >= 3  # one progress row per trial at least


def test_ablation_retrains_without_each_group(lake_env, demo_lake, tiny_featureset):
    from synthwb.jobs.adapters import submit_ablation
    from synthwb.jobs.registry import JobRegistry
    from synthwb.research.ablation import FULL, ablation_table
    from synthwb.store import read_info

    reg = JobRegistry(max_running=2)
    jobs = submit_ablation(reg, "abl", "tiny", "dlinear-gbm", TINY_CFG, groups=["trend", "momentum"],
                           store=lake_env.store, root=demo_lake, context=32, horizon=12)
    assert [j.name for j in jobs] == [f"abl: {FULL}", "abl: trend", "abl: momentum"]
    assert reg.wait_all(300)
    assert all(j.status == "finished" for j in jobs), [j.error for j in jobs]
    table = ablation_table([j.result for j in jobs])
    rows = {r["group"]: r for r in table.to_dicts()}
    assert table["group"][0] == FULL
    assert rows[FULL]["n_features"] == 8 and rows["trend"]["n_features"] == 7
    assert rows["momentum"]["removed"] == "rsi"
    full = rows[FULL]["val_crps"]
    for g in ("trend", "momentum"):
        assert rows[g]["delta"] == pytest.approx(rows[g]["val_crps"] - full)
        assert rows[g]["pct"] == pytest.approx((rows[g]["val_crps"] - full) / full * 100)
        info = read_info(rows[g]["run_id"], lake_env.store)
        assert info["ablation"]["group"] == g
        removed_col = {"trend": "ema_12", "momentum": "rsi_14"}[g]
        assert removed_col not in info["featureset"]["feature_cols"]
        assert "logret_1" in info["featureset"]["feature_cols"]


def test_search_and_ablation_cli(lake_env, demo_lake, tiny_featureset, tmp_path, capsys):
    import json

    from synthwb.cli import main

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY_CFG))
    common = ["--store", str(lake_env.store), "--root", str(demo_lake), "--features", "tiny",
              "--preset", "dlinear-gbm", "--context", "32", "--horizon", "12", "--config", str(cfg)]
    assert main(["search", "--name", "cli", *common, "--space", "config.lr=1e-4:1e-2:log", "spec.d_model=8,16",
                 "--method", "grid", "--per-dim", "2", "--trials", "4", "--keep", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "grid" and len(doc["trials"]) == 4
    assert sorted((round(t["param:config.lr"], 9), t["param:spec.d_model"]) for t in doc["trials"]) == [
        (1e-4, 8), (1e-4, 16), (1e-2, 8), (1e-2, 16)]
    assert len(doc["kept"]) == 1 and doc["best"]["run_id"] == doc["kept"][0]

    assert main(["ablation", "--name", "cli-abl", *common, "--groups", "momentum"]) == 0
    out = capsys.readouterr().out
    assert "(all features)" in out and "momentum" in out and "rsi" in out

    assert main(["search", "--name", "bad", *common, "--space", "config.lr"]) == 2
    assert "PATH=LOW:HIGH" in capsys.readouterr().err


def test_trials_train_without_calibration_and_the_kept_run_gets_it_as_training_would(lake_env, tiny_featureset):
    """A search's trials are compared by the network's own validation score: they skip the calibration (and
    the blend); the kept run is calibrated afterwards, exactly as a training with the same settings is."""
    from synthwb.research.search import search_runs
    from synthwb.store import read_info
    from synthwb.train.loop import train

    cfg = {**TINY_CFG, "synth_task": "24h", "calibration_windows": 16, "blend": False}
    res = search_runs(None, None, run_name="cal", featureset="tiny", model_spec="dlinear-gbm",
                      space=["config.lr=0.001,0.01"], method="grid", n_trials=2, config=cfg, store=lake_env.store,
                      keep=1, context=32, horizon=288)
    kept = read_info(res.kept[0], lake_env.store)
    assert kept["config"]["calibrate"] is True and kept["config"]["blend"] is False
    direct = train("direct", "tiny", "dlinear-gbm", {**cfg, "lr": res.best.params["config.lr"]}, store=lake_env.store,
                   context=32, horizon=288)
    ref = read_info(direct.run_id, lake_env.store)
    assert ref["calibration"]["n_windows"] > 0
    assert kept["calibration"] == ref["calibration"]
    assert kept["best"] == ref["best"]
    # without calibration in the user's settings the kept run stays as its trial trained it
    res = search_runs(None, None, run_name="raw", featureset="tiny", model_spec="dlinear-gbm",
                      space=["config.lr=0.001,0.01"], method="grid", n_trials=2,
                      config={**cfg, "calibrate": False}, store=lake_env.store, keep=1, context=32, horizon=288)
    assert read_info(res.kept[0], lake_env.store).get("calibration") is None
