"""The comparison engine on the demo lake: shared origins, a trained run, an ensemble, CLI == engine."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import polars as pl
import pytest

from synthwb.core.errors import SpecError, SynthwbError
from synthwb.data.schema import Selection
from synthwb.evaluate.compare import CompareRequest, compare
from synthwb.research.ensembles import fit_ensemble

SEL = Selection("crypto", "BTC", "1min")
TINY_CFG = {"loss": "crps", "epochs": 1, "max_steps": 2, "batch_size": 8, "n_paths_train": 8, "n_paths_eval": 8,
            "max_val_batches": 1, "device": "cpu", "warmup_steps": 0}


@pytest.fixture
def tiny_run(lake_env, demo_lake):
    """A real trained run on 1-minute bars whose horizon covers the 1-hour task (60 steps)."""
    from synthwb.features.featureset import create_featureset
    from synthwb.features.registry import FeatureSpec
    from synthwb.train.loop import train

    fs = create_featureset("tiny1m", Selection("crypto", "BTC", "1min", "2024-01-01", "2024-01-08"),
                           FeatureSpec(freq="1min", features=({"name": "log_return", "params": {}},)),
                           root=demo_lake)
    info = train("tiny", fs, "dlinear-gbm", TINY_CFG, store=lake_env.store, context=32, horizon=60)
    assert info.status == "finished", info.error
    return info.run_id


def _request(runs, baselines, **kw):
    base = dict(task="1h", start="2024-01-10", end="2024-01-16", n_origins=6, n_paths=64, seed=1)
    base.update(kw)
    return CompareRequest(runs, baselines, SEL, **base)


def test_compare_run_baselines_and_ensemble_on_shared_origins(lake_env, demo_lake, tiny_run):
    from synthwb.forecast.ensemble import save_ensemble

    ens = save_ensemble("mix", [tiny_run, "baseline:gbm"], [0.5, 0.5], store=lake_env.store)
    req = _request([tiny_run, ens], ["gbm", "bootstrap"], benchmark="gbm")
    res = compare(req, root=demo_lake, store=lake_env.store)
    assert set(res.board["model"]) == {tiny_run, ens, "gbm", "bootstrap"}
    po = res.backtest.per_origin
    # every model was forecast on exactly the same origins
    sets = [set(po.filter(pl.col("model") == m)["origin"].to_list()) for m in req.models]
    assert all(s == sets[0] for s in sets) and len(sets[0]) == 6
    # the leaderboard, recomputed independently with numpy from the backtest's table
    wide = po.pivot(on="model", index="origin", values="total").drop_nulls().sort("origin")
    bench = wide["gbm"].to_numpy()
    for row in res.board.to_dicts():
        x = wide[row["model"]].to_numpy()
        assert row["mean"] == pytest.approx(x.mean())
        assert row["pct_vs_benchmark"] == pytest.approx((x.mean() / bench.mean() - 1) * 100)
        assert row["win_rate"] == pytest.approx(np.mean((x < bench) + 0.5 * (x == bench)))
        assert row["n_origins"] == wide.height
    assert res.board["rank"].to_list() == list(range(1, 5))
    assert res.board["mean"].is_sorted()
    # per-interval means add up to the mean total
    iv = res.intervals.group_by("model").agg(pl.col("score").sum())
    for m, total in iv.iter_rows():
        assert total == pytest.approx(res.board.filter(pl.col("model") == m)["mean"][0], rel=1e-9)
    # both tests for every non-benchmark model
    assert res.tests.height == 3 * 2
    assert res.tests["p_value"].is_between(0, 1).all()
    # origin picker
    worst = res.origin_order("worst", model="gbm")
    g = po.filter(pl.col("model") == "gbm").sort("total", descending=True)
    assert worst == g["origin"].to_list()
    q, scores = res.fan_data(worst[0])
    assert set(q["model"]) == set(req.models) and q.height == 4 * 61
    assert scores["gbm"] == pytest.approx(g["total"][0])


def test_csv_export_round_trips_and_neutralises(lake_env, demo_lake, tmp_path):
    res = compare(_request([], ["gbm", "bootstrap"]), root=demo_lake, store=lake_env.store)
    files = res.write_csv(tmp_path / "cmp.csv")
    assert [p.rsplit("/", 1)[1] for p in files] == ["cmp.csv", "cmp_per_origin.csv", "cmp_intervals.csv"]
    board = pd.read_csv(files[0])
    assert list(board["model"]) == res.board["model"].to_list()
    assert board["mean"].to_numpy() == pytest.approx(res.board["mean"].to_numpy(), rel=1e-12)
    per = pd.read_csv(files[1])
    assert len(per) == res.per_origin.height
    # a model name a spreadsheet would run as a formula is neutralised
    hostile = res.board.with_columns(pl.lit("=HYPERLINK(1)").alias("model"))
    from synthwb.evaluate.export import to_csv

    assert "'=HYPERLINK(1)" in to_csv(hostile)


def test_cli_prints_the_engine_table(lake_env, demo_lake, tmp_path):
    from synthwb.cli import main

    req = _request([], ["gbm", "bootstrap", "garch"], benchmark="bootstrap")
    res = compare(req, root=demo_lake, store=lake_env.store)
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["compare", "--classical", "none", "--root", str(demo_lake), "--store", str(lake_env.store), "--classical", "none",
                   "--baselines", "gbm,bootstrap,garch", "--benchmark", "bootstrap", "--asset-class", "crypto", "--symbol", "BTC",
                   "--freq", "1min", "--task", "1h", "--start", "2024-01-10", "--end", "2024-01-16",
                   "--origins", "6", "--n-paths", "64", "--seed", "1", "--json"])
    assert rc == 0
    doc = json.loads(out.getvalue())
    assert doc["benchmark"] == "bootstrap"
    assert [r["model"] for r in doc["leaderboard"]] == res.board["model"].to_list()
    assert [r["mean"] for r in doc["leaderboard"]] == pytest.approx(res.board["mean"].to_list(), rel=1e-12)
    assert [r["p_value"] for r in doc["leaderboard"]] == pytest.approx(res.board["p_value"].to_list(), nan_ok=True)


def test_cli_errors_are_one_line(lake_env, demo_lake, capsys):
    from synthwb.cli import main

    rc = main(["compare", "--classical", "none", "--root", str(demo_lake), "--store", str(lake_env.store), "--baselines", "gbm",
               "--classical", "none"])
    assert rc == 2
    assert "at least two models" in capsys.readouterr().err
    rc = main(["compare", "--classical", "none", "--root", str(demo_lake), "--store", str(lake_env.store), "--runs", "nope",
               "--baselines", "gbm"])
    assert rc == 2
    assert "nope" in capsys.readouterr().err


def test_request_validation():
    with pytest.raises(SpecError, match="at least two models"):
        _request([], ["gbm"])
    with pytest.raises(SpecError, match="listed twice"):
        _request([], ["gbm", "gbm"])
    with pytest.raises(SpecError, match="benchmark 'x'"):
        _request([], ["gbm", "bootstrap"], benchmark="x")


def test_fitted_ensemble_is_saved_and_scored(lake_env, demo_lake):
    from synthwb.cli import main
    from synthwb.store import read_info

    val = _request([], ["gbm", "bootstrap"], start="2024-01-04", end="2024-01-09", n_origins=5)
    fit = fit_ensemble(val, ["baseline:gbm", "baseline:bootstrap"], root=demo_lake, store=lake_env.store)
    assert sum(fit.weights) == pytest.approx(1.0) and fit.n_origins == 5
    assert fit.score <= min(fit.member_scores) + 1e-9
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["ensemble", "--store", str(lake_env.store), "--root", str(demo_lake), "--name", "fitted",
                   "--members", "baseline:gbm,baseline:bootstrap", "--fit", "--asset-class", "crypto",
                   "--symbol", "BTC", "--freq", "1min", "--task", "1h", "--start", "2024-01-04", "--end",
                   "2024-01-09", "--origins", "5", "--n-paths", "64", "--seed", "1", "--json"])
    assert rc == 0
    doc = json.loads(out.getvalue())
    assert doc["weights"] == pytest.approx(fit.weights)  # same request, same fit
    info = read_info(doc["run_id"], lake_env.store)
    assert info["kind"] == "ensemble" and info["fit"]["weights"] == pytest.approx(fit.weights)
    # the store's one entry point gives the ensemble's forecaster, like any run's
    from synthwb.forecast.ensemble import EnsembleForecaster
    from synthwb.forecast.kinds import load_forecaster

    assert isinstance(load_forecaster(doc["run_id"], store=lake_env.store, device="cpu"), EnsembleForecaster)
    res = compare(_request([doc["run_id"]], ["gbm", "bootstrap"]), root=demo_lake, store=lake_env.store)
    assert doc["run_id"] in res.board["model"].to_list()
    assert res.per_origin.filter(pl.col("model") == doc["run_id"])["valid"].all()


def test_intervals_relative_to_benchmark(lake_env, demo_lake):
    res = compare(_request([], ["gbm", "bootstrap"], benchmark="gbm"), root=demo_lake, store=lake_env.store)
    rel = res.intervals_vs_benchmark()
    ab = {(r["model"], r["interval"]): r["score"] for r in res.intervals.to_dicts()}
    for r in rel.to_dicts():
        assert r["score"] == pytest.approx(ab[(r["model"], r["interval"])] / ab[("gbm", r["interval"])])
    assert rel.filter(pl.col("model") == "gbm")["score"].to_list() == pytest.approx([1.0] * rel["interval"].n_unique())


def test_compare_over_several_assets_scores_each_like_its_own_comparison(lake_env, demo_lake, tiny_run):
    """request.assets: a trained run and baselines are scored on ETH and SOL too; each asset's
    rows equal a one-asset comparison on that symbol, and the leaderboard stays on BTC."""
    from dataclasses import replace

    req = _request([tiny_run], ["gbm"], n_origins=3, assets=["ETH", "SOL"])
    assert req.symbols == ["BTC", "ETH", "SOL"]
    res = compare(req, root=demo_lake, store=lake_env.store)
    table = res.reward_table()
    assert sorted(table["asset"].unique().to_list()) == ["BTC", "ETH", "SOL"]
    assert set(res.backtest.per_origin["model"]) == {tiny_run, "gbm"}
    for sym in ("ETH", "SOL"):
        alone = compare(replace(req, selection=Selection("crypto", sym, "1min"), assets=[]), root=demo_lake,
                        store=lake_env.store)
        want = alone.backtest.per_origin.sort("origin", "model")["total"].to_numpy()
        got = table.filter(pl.col("asset") == sym).sort("origin", "model")["total"].to_numpy()
        np.testing.assert_array_equal(got, want)
    btc = table.filter(pl.col("asset") == "BTC").sort("origin", "model")["total"].to_numpy()
    np.testing.assert_array_equal(btc, res.backtest.per_origin.sort("origin", "model")["total"].to_numpy())
    # an asset the lake lacks is named; an asset listed twice is refused before any work
    with pytest.raises(SynthwbError, match="asset DOGE: no bars"):
        compare(_request([], ["gbm", "bootstrap"], assets=["DOGE"]), root=demo_lake, store=lake_env.store)
    with pytest.raises(SpecError, match="listed once"):
        _request([], ["gbm", "bootstrap"], assets=["ETH", "BTC"])


def test_cli_asset_weights_are_checked(lake_env, demo_lake):
    from synthwb.cli import main

    err = io.StringIO()
    from contextlib import redirect_stderr

    with redirect_stderr(err):
        rc = main(["compare", "--classical", "none", "--root", str(demo_lake), "--store", str(lake_env.store), "--baselines", "gbm,bootstrap",
                   "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--reward",
                   "--asset-weight", "ETH=heavy"])
    assert rc == 2 and "ASSET=WEIGHT" in err.getvalue() and "Traceback" not in err.getvalue()
    err = io.StringIO()
    with redirect_stderr(err):
        rc = main(["compare", "--classical", "none", "--root", str(demo_lake), "--store", str(lake_env.store), "--baselines", "gbm,bootstrap",
                   "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--assets", "ETH"])
    assert rc == 2 and "--reward" in err.getvalue()
