"""Research jobs on a real local Ray (2 CPUs): a 3-trial search as Ray Tune trials with Optuna's
sampler, an ablation as Tune trials, and a 2-asset backtest as Ray tasks, each checked against
the same job run locally (same runs in models_store, same numbers)."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
import ray
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config, wait_until

from synthwb.cli import main
from synthwb.core.errors import SpecError
from synthwb.evaluate.backtest import BacktestSpec
from synthwb.research.ablation import run_ablation
from synthwb.research.backend import RayOptions, run_backtests
from synthwb.research.search import search_runs
from synthwb.store import runs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module: 2 CPUs, no dashboard; its workers import this checkout."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), old) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def test_an_unreachable_ray_address_is_one_clear_line(lake_env, demo_lake, capsys):
    """Runs before the module's Ray starts (Ray itself would retry such an address for minutes)."""
    assert not ray.is_initialized()
    code = main(["backtest", "--classical", "none", "--asset-class", "crypto", "--symbol", "BTC,ETH", "--freq", "5min", "--baseline", "gbm",
                 "--root", str(demo_lake), "--backend", "ray", "--ray-address", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot reach a Ray cluster at 127.0.0.1:1") and err.count("\n") == 1
    assert not ray.is_initialized()


def _cfg() -> dict:
    return tiny_config(max_steps=3, val_every=3, calibrate=False, batch_size=16)


def _search(store, root, name, backend):
    return search_runs(None, None, run_name=name, featureset="tiny", model_spec="dlinear-gbm",
                       space=["config.lr=0.001,0.003,0.01"], method="grid", n_trials=3, config=_cfg(), store=store,
                       root=root, keep=None, context=CONTEXT, horizon=HORIZON, backend=backend,
                       ray=RayOptions(cpus=1))


def test_search_on_ray_lands_the_same_runs_as_local(local_ray, lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store)
    here = _search(lake_env.store, demo_lake, "loc", "local")
    there = _search(lake_env.store, demo_lake, "ray", "ray")
    assert [t.status for t in there.trials] == ["finished"] * 3, [t.error for t in there.trials]
    assert sorted(t.number for t in there.trials) == [0, 1, 2]
    assert sorted(t.run_id for t in there.trials) == ["ray-t000", "ray-t001", "ray-t002"]
    # each trial ran in a Ray worker process, yet trained exactly what the local trial trained
    by_lr = {t.params["config.lr"]: t for t in here.trials}
    assert sorted(by_lr) == sorted(t.params["config.lr"] for t in there.trials) == [0.001, 0.003, 0.01]
    for t in there.trials:
        ref = by_lr[t.params["config.lr"]]
        assert math.isclose(t.value, ref.value, rel_tol=1e-9), (t.params, t.value, ref.value)
        info, ref_info = runs.read_info(t.run_id, lake_env.store), runs.read_info(ref.run_id, lake_env.store)
        assert info["status"] == "finished" and info["pid"] != os.getpid()
        assert info["search"] == {"name": "ray", "trial": t.number, "params": t.params}
        assert info.keys() == ref_info.keys() and info["config"] == ref_info["config"]
    assert there.best.value == here.best.value and there.to_dict()["method"] == "grid"
    listed = {r["run_id"] for r in runs.list_runs(lake_env.store)}
    assert {"ray-t000", "ray-t001", "ray-t002", "loc-t000"} <= listed


def test_search_and_ablation_commands_take_the_ray_backend(local_ray, lake_env, demo_lake, capsys):
    make_featureset(demo_lake, lake_env.store)
    cfg = lake_env.root.parent / "cfg.json"
    cfg.write_text(json.dumps(_cfg()))
    common = ["--features", "tiny", "--preset", "dlinear-gbm", "--context", str(CONTEXT), "--horizon",
              str(HORIZON), "--config", str(cfg), "--store", str(lake_env.store), "--root", str(demo_lake),
              "--backend", "ray", "--cpus-per-trial", "1", "--json"]
    assert main(["search", "--name", "cli", "--space", "config.lr=0.001:0.01:log", "--method", "tpe",
                 "--trials", "2", "--keep", "1", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["status"] for t in out["trials"]] == ["finished"] * 2 and len(out["kept"]) == 1
    assert sorted(p.name for p in lake_env.store.iterdir() if p.name.startswith("cli-")) == out["kept"]
    assert main(["ablation", "--name", "abl", *common]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["group"] for r in rows} == {"(all features)", "returns", "momentum"}
    assert all(r["status"] == "finished" and r["val_crps"] > 0 for r in rows)
    assert runs.read_info(rows[0]["run_id"], lake_env.store)["ablation"]["name"] == "abl"
    local = run_ablation("abl-local", "tiny", "dlinear-gbm", _cfg(), store=lake_env.store, root=demo_lake,
                         context=CONTEXT, horizon=HORIZON).rows
    assert {r["group"]: r["val_crps"] for r in local} == pytest.approx({r["group"]: r["val_crps"] for r in rows},
                                                                       rel=1e-9)


def test_two_asset_backtest_on_ray_equals_local(local_ray, lake_env, demo_lake, capsys):
    specs = [BacktestSpec.parse({"selection": {"asset_class": "crypto", "symbol": s, "freq": "5min"},
                                 "baselines": ["gbm", "gbm_ewma"], "n_origins": 4, "n_paths": 100, "seed": 1})
             for s in ("BTC", "ETH")]
    here = run_backtests(specs, root=demo_lake, store=lake_env.store)
    there = run_backtests(specs, root=demo_lake, store=lake_env.store, backend="ray")
    assert [r.selection["symbol"] for r in there] == ["BTC", "ETH"]
    for a, b in zip(here, there):
        assert a.per_origin.select("model", "origin", "total").equals(b.per_origin.select("model", "origin", "total"))
    assert here[0].per_origin["total"].to_list() != here[1].per_origin["total"].to_list()  # two assets, two answers

    code = main(["backtest", "--classical", "none", "--asset-class", "crypto", "--symbol", "BTC,ETH", "--freq", "5min", "--baseline", "gbm",
                 "--origins", "3", "--n-paths", "100", "--root", str(demo_lake), "--store", str(lake_env.store),
                 "--backend", "ray", "--json"])
    assert code == 0
    docs = json.loads(capsys.readouterr().out)["backtests"]
    assert [d["selection"]["symbol"] for d in docs] == ["BTC", "ETH"]


def test_backend_errors_are_clear(lake_env, demo_lake, capsys):
    with pytest.raises(SpecError, match="unknown backend"):
        run_backtests([{"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}}], backend="dask")
    with pytest.raises(SpecError, match="cpus per trial must be > 0"):
        RayOptions(cpus=0)
    code = main(["backtest", "--classical", "none", "--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min",
                 "--ray-address", "auto", "--root", str(demo_lake)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --ray-address needs --backend ray") and err.count("\n") == 1


def test_multi_asset_reward_on_ray_equals_local(local_ray, lake_env, demo_lake, capsys):
    """`compare --reward --assets ETH --backend ray`: the per-asset backtests run as Ray tasks
    and the shares equal the local run's."""
    argv = ["compare", "--classical", "none", "--baselines", "gbm,gbm_ewma", "--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min",
            "--origins", "3", "--n-paths", "100", "--seed", "1", "--reward", "--assets", "ETH",
            "--root", str(demo_lake), "--store", str(lake_env.store), "--json"]
    shares = {}
    for backend in ("local", "ray"):
        assert main([*argv, "--backend", backend]) == 0
        doc = json.loads(capsys.readouterr().out)
        crypto = doc["reward"]["competitions"]["crypto-24h"]  # the newest validator's Crypto 24h
        shares[backend] = {r["miner"]: r["final_share"] for r in crypto["summary"]}
        assert sorted(crypto["asset_weights"]) == ["BTC", "ETH"]
    assert shares["ray"] == pytest.approx(shares["local"], rel=1e-12)
    assert sum(shares["ray"].values()) == pytest.approx(1.0)


def test_research_page_runs_a_search_on_ray(local_ray, page_env, demo_lake):
    from apptest_support import DEMO_SIDEBAR, open_page

    from synthwb.jobs.registry import get_registry

    make_featureset(demo_lake, page_env)
    at = open_page("research", timeout=180, **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    at.selectbox(key="hp_fs").set_value("tiny")
    at.selectbox(key="hp_model").set_value("preset:dlinear-gbm")
    at.number_input(key="hp_ctx").set_value(CONTEXT)
    at.number_input(key="hp_hor").set_value(288)  # the 24h task on 5-minute paths
    at.number_input(key="hp_steps").set_value(2)
    at.text_area(key="hp_space").set_value("config.lr=1e-4:1e-2:log")
    at.selectbox(key="hp_method").set_value("tpe")
    at.number_input(key="hp_trials").set_value(2)
    at.number_input(key="hp_keep").set_value(2)
    at.radio(key="hp_backend").set_value("ray")
    at.run()
    assert at.text_input(key="hp_ray_address").value == ""
    at.button(key="hp_go").click().run()
    assert get_registry().wait_all(300), "the search job did not finish"
    at.run()
    assert not at.exception, at.exception
    res = get_registry().find(at.session_state["hp_job"]).result
    assert any("Best trial" in s.value for s in at.success), [t.error for t in res.trials]
    kept = sorted(r["run_id"] for r in runs.list_runs(page_env) if r["run_id"].startswith("hp-t"))
    assert kept == ["hp-t000", "hp-t001"]
    assert all(runs.read_info(k, page_env)["pid"] != os.getpid() for k in kept)  # trained in Ray workers


def test_research_page_runs_an_ablation_on_ray(local_ray, page_env, demo_lake):
    """The Feature ablation tab with "ray": one job whose variants train in Ray workers; the
    page's table has the full set and the removed group, the same rows as a local ablation."""
    from apptest_support import DEMO_SIDEBAR, open_page

    from synthwb.jobs.registry import get_registry

    make_featureset(demo_lake, page_env)
    at = open_page("research", timeout=180, **DEMO_SIDEBAR)
    at.selectbox(key="abl_fs").set_value("tiny")
    at.selectbox(key="abl_model").set_value("preset:dlinear-gbm")
    at.number_input(key="abl_ctx").set_value(CONTEXT)
    at.number_input(key="abl_hor").set_value(288)
    at.number_input(key="abl_steps").set_value(2)
    at.run()
    at.multiselect(key="abl_groups").set_value(["momentum"])
    at.radio(key="abl_backend").set_value("ray")
    at.run()
    assert at.text_input(key="abl_ray_address").value == ""
    at.button(key="abl_go").click().run()
    assert len(at.session_state["abl_jobs"]) == 1  # one job: Ray runs the variants side by side
    assert get_registry().wait_all(300), "the ablation job did not finish"
    at.run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "delta" in d.value.columns)
    assert list(table["group"]) == ["(all features)", "momentum"] and table["val_crps"].gt(0).all()
    assert table["delta"].iloc[0] == 0.0 and table["delta"].iloc[1] != 0.0
    infos = [runs.read_info(r, page_env) for r in table["run_id"]]
    assert [i["ablation"]["group"] for i in infos] == ["(all features)", "momentum"]
    assert all(i["pid"] != os.getpid() for i in infos)  # trained in Ray workers


def test_a_ray_search_job_shows_each_trial_live_and_stop_reaches_the_running_trial(local_ray, lake_env, demo_lake):
    """Two grid trials on Ray: one of 2 steps, one that would train for hours. The short one's
    row reaches the job while the job still runs; Stop then ends the long one at its next step
    (run interrupted, best weights kept), the job ends interrupted within seconds."""
    from synthwb.jobs.adapters import search_job
    from synthwb.jobs.registry import JobRegistry

    make_featureset(demo_lake, lake_env.store)
    cfg = tiny_config(epochs=1000, val_every=5, calibrate=False, batch_size=16)
    job = JobRegistry().submit("search", "live", search_job, run_name="live", featureset="tiny",
                               model_spec="dlinear-gbm", space=["config.max_steps=2,100000"], method="grid",
                               n_trials=2, config=cfg, store=lake_env.store, root=demo_lake, keep=None,
                               context=CONTEXT, horizon=HORIZON, backend="ray", ray=RayOptions(cpus=1))
    assert wait_until(lambda: any("trial" in m for m in job.metrics), 180), (job.status, job.error)
    assert job.status == "running"  # the first trial's row arrived before the search ended
    first = next(m for m in job.metrics if "trial" in m)
    assert first["status"] == "finished" and first["config.max_steps"] == 2 and 0.45 < job.progress < 0.55
    long_run = f"live-t{1 - first['trial']:03d}"  # the grid sampler picks the order
    assert wait_until(lambda: (lake_env.store / long_run / "metrics.jsonl").exists(), 120)
    t0 = time.time()
    job.stop()
    assert job.wait(120) and job.status == "interrupted", (job.status, job.error)
    assert time.time() - t0 < 30
    res = job.result
    assert sorted((t.params["config.max_steps"], t.status) for t in res.trials) == [(2, "finished"),
                                                                                 (100_000, "stopped")]
    assert res.status == "interrupted" and {t.run_id for t in res.trials} == {f"live-t{first['trial']:03d}", long_run}
    info = runs.read_info(long_run, lake_env.store)
    assert info["status"] == "interrupted" and info["stop_reason"] == "stopped by the user"
    assert 0 < info["last"]["step"] < 100_000 and info["pid"] != os.getpid()


def test_stop_reaches_every_variant_of_a_ray_ablation(local_ray, lake_env, demo_lake):
    """Three variants on 2 CPUs: two train side by side in Ray workers, the third waits. Stop
    ends the two at their next step (interrupted rows, runs marked interrupted) within seconds,
    and the third never begins (no row, no run), as in a local ablation."""
    import threading

    make_featureset(demo_lake, lake_env.store)
    cfg = tiny_config(epochs=1000, max_steps=100_000, val_every=5, calibrate=False, batch_size=16)
    stop, out = threading.Event(), {}

    def go():
        out["res"] = run_ablation("long", "tiny", "dlinear-gbm", cfg, store=lake_env.store,
                                  root=demo_lake, stop_event=stop, context=CONTEXT, horizon=HORIZON,
                                  backend="ray", ray=RayOptions(cpus=1))

    th = threading.Thread(target=go)
    th.start()
    assert wait_until(lambda: len(list(lake_env.store.glob("long-*/metrics.jsonl"))) == 2, 180)
    t0 = time.time()
    stop.set()
    th.join(120)
    assert not th.is_alive() and time.time() - t0 < 30
    rows = out["res"].rows
    assert len(rows) == 2 and {r["group"] for r in rows} < {"(all features)", "returns", "momentum"}
    assert all(r["status"] == "interrupted" for r in rows), rows
    assert all(runs.read_info(r["run_id"], lake_env.store)["status"] == "interrupted" for r in rows)
    assert sorted(p.name for p in lake_env.store.glob("long-*")) == sorted(r["run_id"] for r in rows)
