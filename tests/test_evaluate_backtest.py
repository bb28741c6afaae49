"""Rolling backtest on the demo lake: independent re-scoring, no look-ahead, storage, specs."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import SpecError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.evaluate.backtest import (
    BacktestSpec,
    load_backtest,
    run_backtest,
    save_backtest,
    save_beside_run,
)
from synthwb.forecast.base import ForecasterBase
from synthwb.forecast.baselines import BaselineForecaster
from synthwb.scoring.synth import TASKS, score_paths

SEL = {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}


def small_spec(**kw):
    d = dict(selection=SEL, task="24h", start="2024-01-08", n_origins=3, n_paths=64,
             baselines=["gbm", "garch"], seed=5, keep_paths=2)
    d.update(kw)
    return BacktestSpec.parse(d)


@pytest.fixture(scope="module")
def result(demo_lake):
    return run_backtest(small_spec(timing="bar"), root=demo_lake)  # the bar convention; validator: test_evaluate_timing


def raw_minutes(root):
    """The 1-minute BTC bars straight from the Parquet files (not through the lake module)."""
    files = sorted((root / "asset_class=crypto" / "freq=1min" / "symbol=BTC").rglob("*.parquet"))
    df = pl.concat([pl.read_parquet(f, hive_partitioning=False).select("ts", "close") for f in files])
    return df.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def test_scores_match_an_independent_recomputation(result, demo_lake):
    po = result.per_origin
    assert po.height == 3 * 2 and set(po["model"]) == {"gbm", "garch"}
    assert po["valid"].all()
    minutes = raw_minutes(demo_lake)
    close_at = dict(zip(minutes["ts"].to_list(), minutes["close"].to_list()))
    bars5 = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    task = TASKS["24h"]
    for k, origin in enumerate(result.origins):
        # price at time t = close of the 1-minute bar that opened at t - 1 min
        t0 = origin + timedelta(minutes=5)
        real = np.array([close_at.get(t0 + timedelta(seconds=300 * i) - timedelta(minutes=1), np.nan)
                         for i in range(task.n_points)])
        np.testing.assert_array_equal(result.realised[k], real)
        for name in ("gbm", "garch"):
            paths = BaselineForecaster(name).forecast(bars5, [origin], 288, 300, 64, seed=5)[0]
            # the forecast starts at the last 5-minute close, which is the realised t0 price
            assert paths[0, 0] == pytest.approx(real[0], rel=1e-12)
            want = score_paths(paths, real, task)
            got = po.filter((pl.col("model") == name) & (pl.col("origin") == origin))
            assert got["total"][0] == pytest.approx(want.total, rel=1e-12)
            assert got["n_terms"][0] == want.n_terms


def test_tables_are_consistent(result):
    iv = result.intervals
    sums = iv.group_by(["origin", "model"]).agg(pl.col("score").sum())
    joined = result.per_origin.join(sums, on=["origin", "model"])
    np.testing.assert_allclose(joined["total"], joined["score"], rtol=1e-12)
    assert set(iv["interval"]) == {"5min", "30min", "3hour", "24hour_abs"}
    q = result.quantiles
    assert q.height == 3 * 2 * 289
    assert (q["p5"] <= q["p25"]).all() and (q["p25"] <= q["p50"]).all() and (q["p75"] <= q["p95"]).all()
    s = result.summary()
    assert s["rank"].min() == 1 and {"wQL", "coverage_90", "directional_accuracy"} <= set(s.columns)
    assert set(result.gluonts["model"]) == {"gbm", "garch"}
    assert 0 <= result.trading["directional_accuracy"][0] <= 1
    assert sum(len(v) for v in result.paths.values()) == 4
    assert result.paths["gbm"][0].shape == (64, 289)


class Recorder(ForecasterBase):
    """A real Forecaster that wraps a baseline and records the newest bar it was given."""

    name = "recorder"

    def __init__(self):
        self.inner = BaselineForecaster("gbm")
        self.calls = []

    def forecast(self, bars, origins, n_steps, step_seconds, n_paths, seed):
        self.calls.append((bars["ts"].max(), max(origins)))
        return self.inner.forecast(bars, origins, n_steps, step_seconds, n_paths, seed)


def test_forecasters_never_get_bars_after_their_origins(demo_lake):
    rec = Recorder()
    res = run_backtest(small_spec(n_origins=4, batch_size=2, baselines=[]), root=demo_lake, forecasters=[rec])
    assert len(rec.calls) == 2
    for newest, last_origin in rec.calls:
        assert newest <= last_origin
    assert set(res.per_origin["kind"]) == {"custom"}


def test_explicit_origins_snap_to_bars_and_every_k(demo_lake):
    res = run_backtest(small_spec(origins=["2024-01-10T00:02:30Z", "2024-01-11T12:00:00Z"], baselines=["gbm"]),
                       root=demo_lake)
    assert res.origins == [datetime(2024, 1, 10, 0, 0, tzinfo=UTC),
                           datetime(2024, 1, 11, 12, 0, tzinfo=UTC)]
    res2 = run_backtest(small_spec(every=12, n_origins=3, baselines=["gbm"], start="2024-01-09"), root=demo_lake)
    d = np.diff([o.timestamp() for o in res2.origins])
    assert res2.origins[0] == datetime(2024, 1, 9, tzinfo=UTC) and np.all(d == 3600)


def test_one_hour_task_on_one_minute_bars(demo_lake):
    res = run_backtest(small_spec(selection={**SEL, "freq": "1min"}, task="1h", baselines=["bootstrap"],
                                  validator="2026-05"), root=demo_lake)
    assert res.per_origin["n_terms"].max() <= 121 and res.per_origin["n_terms"].min() > 100
    assert res.validator["name"] == "2026-05" and res.meta["timing"]["lead_s"] == 180
    # the newest version (the default) adds the volatility blocks and starts 1h requests a minute earlier
    new = run_backtest(small_spec(selection={**SEL, "freq": "1min"}, task="1h", baselines=["bootstrap"]),
                       root=demo_lake)
    assert new.spec.validator == "2026-09" and new.validator["commit"] == "2cfb24b"
    assert {"vol_60min", "vol_15min", "vol_5min"} <= set(new.intervals["interval"])
    assert new.meta["timing"]["lead_s"] == 120 and new.meta["timing"]["min_lead_s"] == 120
    assert new.per_origin["n_terms"].max() > 121


def test_the_version_is_recorded_in_the_result_and_every_csv(result, demo_lake, tmp_path):
    import pandas as pd

    from synthwb.evaluate.export import write_csvs

    assert result.spec.validator == "2026-09" and result.to_dict()["validator"]["name"] == "2026-09"
    assert result.validator_label == "2026-09 (synthdataco/synth-subnet@2cfb24b)"
    for path in write_csvs(result, tmp_path / "bt.csv"):
        df = pd.read_csv(path)
        assert set(df["validator_version"]) == {"2026-09"}, path
        assert set(df["validator_source"]) == {"synthdataco/synth-subnet@2cfb24b"}
        assert pl.read_csv(path)["validator_version"].unique().to_list() == ["2026-09"]
    old = small_spec(validator="2026-05")
    assert BacktestSpec.parse(old.model_dump_json()).validator == "2026-05"
    with pytest.raises(SpecError, match="unknown validator version"):
        small_spec(validator="2020-01")


def test_a_24h_backtest_scores_alike_under_both_versions(demo_lake):
    """The 24h task, its timing and its terms did not change: the same numbers under both versions."""
    old = run_backtest(small_spec(validator="2026-05", baselines=["gbm"]), root=demo_lake)
    new = run_backtest(small_spec(validator="2026-09", baselines=["gbm"]), root=demo_lake)
    assert old.per_origin["total"].to_list() == new.per_origin["total"].to_list()
    assert old.validator["name"] == "2026-05" and new.validator["name"] == "2026-09"


def test_stop_event_interrupts(demo_lake):
    ev = threading.Event()
    ev.set()
    res = run_backtest(small_spec(), root=demo_lake, stop_event=ev)
    assert res.status == "interrupted" and res.per_origin.height == 0


def test_spec_json_round_trip_and_errors():
    spec = small_spec(origins=["2024-01-10"], baselines=[{"name": "gbm", "params": {"lookback_days": 3}}])
    again = BacktestSpec.parse(spec.model_dump_json())
    assert again == spec and again.origins[0].tzinfo is not None
    assert spec.baselines[0].label == "gbm(lookback_days=3.0)" or spec.baselines[0].label.startswith("gbm(")
    with pytest.raises(SpecError, match="unknown baseline"):
        small_spec(baselines=["nope"])
    with pytest.raises(SpecError, match="not before"):
        small_spec(start="2024-01-09", end="2024-01-08")
    with pytest.raises(SpecError, match="asset class"):
        small_spec(selection={"asset_class": "stocks", "symbol": "X", "freq": "5min"})
    with pytest.raises(SpecError, match="n_paths"):
        small_spec(n_paths=1)
    with pytest.raises(SpecError, match="selection"):
        run_backtest(BacktestSpec.parse({"baselines": ["gbm"]}))


def test_save_and_load(result, lake_env):
    from synthwb.store import create_run

    run_id = create_run("bt-host", lake_env.store)
    folder = save_beside_run(result, run_id, store=lake_env.store, slug="first")
    assert folder == lake_env.store / run_id / "backtests" / "first"
    assert {p.name for p in folder.iterdir()} >= {"spec.json", "result.json", "per_origin.csv", "intervals.csv",
                                                  "quantiles.csv", "terms.parquet"}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    back = load_backtest(folder)
    assert back.spec == result.spec and back.origins == result.origins
    assert back.validator == result.validator and back.per_origin.columns == result.per_origin.columns
    np.testing.assert_allclose(back.per_origin["total"], result.per_origin["total"], rtol=1e-15)
    assert back.per_origin["origin"].to_list() == result.per_origin["origin"].to_list()
    assert back.terms.equals(result.terms)
    with pytest.raises(SpecError, match="exists"):
        save_backtest(result, folder)


CUSTOM_TASK = {"name": "1h-on-5min", "step_seconds": 300, "n_points": 13,
               "intervals": [{"name": "5min", "seconds": 300}, {"name": "30min", "seconds": 1800},
                             {"name": "60min_abs", "seconds": 3600}, {"name": "0_15min_gaps", "seconds": 900}]}


def test_trained_run_is_backtested_beside_baselines_and_saved(lake_env, demo_lake, tmp_path, capsys):
    import json

    from train_support import make_featureset, tiny_config

    from synthwb.cli import main
    from synthwb.forecast.kinds import load_forecaster
    from synthwb.train import train

    make_featureset(demo_lake, lake_env.store, freq="5min")
    train("bt-run", "tiny", "dlinear-gbm", tiny_config(max_steps=3), store=lake_env.store, root=demo_lake,
          context=32, horizon=12)
    spec = small_spec(selection=None, models=["bt-run"], baselines=["gbm"], task=CUSTOM_TASK, n_origins=4,
                      n_paths=32, batch_size=8)
    res = run_backtest(spec, root=demo_lake, store=lake_env.store)
    po = res.per_origin
    assert set(po["kind"]) == {"run", "baseline"} and po.height == 8 and po["valid"].all()
    assert po["n_terms"].max() == 12 + 2 + 1 + 1
    assert res.selection["freq"] == "5min"  # taken from the run
    # with no period given, a run is scored only on its feature set's unseen test split
    from synthwb.features.featureset import load_featureset

    test_start = load_featureset("tiny", lake_env.store).splits(demo_lake)["test"]["ts"].min()
    unseen = run_backtest(small_spec(selection=None, start=None, models=["bt-run"], baselines=[], task=CUSTOM_TASK,
                                     n_origins=3, n_paths=8, batch_size=8), root=demo_lake, store=lake_env.store)
    assert len(unseen.origins) == 3 and min(unseen.origins) >= test_start
    # independent: the run's forecaster on the same origins and bars, scored by score_paths
    f = load_forecaster("bt-run", store=lake_env.store, device="cpu", root=demo_lake)
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    bars = bars.filter(pl.col("ts") <= res.origins[-1])
    paths = f.forecast(bars, res.origins, 12, 300, 32, seed=5)
    for k, origin in enumerate(res.origins):
        want = score_paths(paths[k], res.realised[k], spec.task_obj()).total
        got = po.filter((pl.col("model") == "bt-run") & (pl.col("origin") == origin))["total"][0]
        assert got == pytest.approx(want, rel=1e-9)
    # the CLI with the custom task in a file saves beside the run
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(CUSTOM_TASK))
    rc = main(["backtest", "--run", "bt-run", "--task", str(task_file), "--start", "2024-01-08", "--origins", "4",
               "--n-paths", "32", "--seed", "5", "--baseline", "gbm", "--classical", "none", "--root", str(demo_lake),
               "--store", str(lake_env.store), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(out.out)
    saved = data["saved"]
    assert saved and (lake_env.store / "bt-run" / "backtests").is_dir()
    cli = {(r["origin"], r["model"]): r["total"] for r in data["per_origin"]}
    assert cli == pytest.approx({(r["origin"].isoformat(), r["model"]): r["total"] for r in po.to_dicts()}, rel=1e-12)


class Broken(ForecasterBase):
    """A real Forecaster whose first origin's forecast contains a zero price (validator: -1)."""

    name = "broken"

    def __init__(self):
        self.inner = BaselineForecaster("gbm")

    def forecast(self, bars, origins, n_steps, step_seconds, n_paths, seed):
        p = self.inner.forecast(bars, origins, n_steps, step_seconds, n_paths, seed)
        p[0, 3, 7] = 0.0
        return p


def test_invalid_forecasts_are_reported_not_scored(demo_lake):
    res = run_backtest(small_spec(baselines=["gbm"]), root=demo_lake, forecasters=[Broken()])
    po = res.per_origin.filter(pl.col("model") == "broken").sort("origin")
    assert po["valid"].to_list() == [False, True, True]
    assert po["reason"][0] == "zero price in forecast" and po["total"][0] is None
    assert res.terms.filter((pl.col("model") == "broken") & (pl.col("origin") == po["origin"][0])).height == 0
    s = res.summary().filter(pl.col("model") == "broken")
    assert s["n_invalid"][0] == 1 and s["n_origins"][0] == 3


def test_each_forecast_gets_the_validators_verdict(demo_lake):
    """The per-origin table says, for every forecast, whether the validator would accept it once
    exported, in the validator's words (independently: validate_response on the exported response)."""
    from synthwb.evaluate.validator import CORRECT, to_response, validate_response

    spec = small_spec(baselines=["gbm"], n_paths=1000, keep_paths=3)
    res = run_backtest(spec, root=demo_lake, forecasters=[Broken()])
    po = res.per_origin.sort("origin")
    broken = po.filter(pl.col("model") == "broken")
    assert broken["validator"].to_list() == ["Zero price encountered in simulation runs", "", ""]
    assert po.filter(pl.col("model") == "gbm")["validator"].to_list() == ["", "", ""]
    for paths in res.paths["gbm"].values():  # the kept path sets, exported and checked the slow way
        assert validate_response(to_response(paths, 0, res.task), res.task, 0) == CORRECT
    s = res.summary()
    assert dict(zip(s["model"], s["n_refused"])) == {"broken": 1, "gbm": 0}
    # fewer paths than the validator asks for: every forecast would be refused, and says why
    few = run_backtest(small_spec(baselines=["gbm"]), root=demo_lake)
    assert set(few.per_origin["validator"]) == {f"Number of paths is incorrect: expected 1000, got {few.spec.n_paths}"}
