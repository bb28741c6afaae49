"""Classical forecasters in every Backtest and Compare table by default (issue 22, part 1).

The rows a default ``backtest`` / ``compare`` adds are checked against two other routes to the
same numbers: the forecaster's own paths scored by ``score_paths``, and a saved classical run
(``synthwb fit``) backtested as a run.
"""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from synthwb.cli import main
from synthwb.core.errors import SpecError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.evaluate.backtest import BacktestSpec, run_backtest
from synthwb.forecast.classical import CLASSICAL
from synthwb.forecast.classical.refs import ClassicalRef, default_classical, parse_classical
from synthwb.scoring.synth import score_paths

SEL = ["--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min"]
LABELS = {"garch-t", "gjr-garch-t", "egarch-t", "har-rv-t"}


def test_labels_and_text_forms():
    assert {r.label for r in default_classical()} == LABELS == {r.label for r in parse_classical("all")}
    assert len(LABELS) == len(CLASSICAL.names())
    assert parse_classical("none") == [] and parse_classical([]) == []
    refs = parse_classical("gjr-garch:skewt, har-rv")
    assert [r.label for r in refs] == ["gjr-garch-skewt", "har-rv-t"]
    assert ClassicalRef(model="garch", params={"refit_hours": 6}).label == "garch-t(refit_hours=6.0)"
    with pytest.raises(SpecError, match="unknown classical model 'arima'.*gjr-garch"):
        parse_classical("arima")
    with pytest.raises(SpecError, match="dist"):
        parse_classical("egarch:cauchy")
    with pytest.raises(SpecError, match="repeat: gjr-garch-t"):
        parse_classical("gjr-garch,gjr-garch:t")
    with pytest.raises(SpecError, match="invalid backtest spec.*arima"):
        BacktestSpec.parse({"classical": "arima"})
    # the engine's spec is opt-in; the CLI and the pages default to every model
    assert BacktestSpec().classical == [] and BacktestSpec(classical=None).classical == []


def _cli_json(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_default_backtest_scores_every_classical_model(demo_lake, lake_env, capsys):
    data = _cli_json(capsys, "backtest", *SEL, "--start", "2024-01-12", "--origins", "3", "--n-paths", "64",
                     "--seed", "4", "--baseline", "gbm", "--root", str(demo_lake), "--json")
    rows = pl.DataFrame(data["per_origin"])
    kinds = dict(zip(rows["model"], rows["kind"]))
    assert {m for m, k in kinds.items() if k == "classical"} == LABELS and kinds["gbm"] == "baseline"
    assert rows.height == 3 * 5 and rows["valid"].all()
    # the same as the engine asked for every classical model
    eng = run_backtest({"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}, "classical": "all",
                        "baselines": "gbm", "start": "2024-01-12", "n_origins": 3, "n_paths": 64, "seed": 4},
                       root=demo_lake)
    want = {(r["origin"].isoformat(), r["model"]): r["total"] for r in eng.per_origin.to_dicts()}
    assert {(r["origin"], r["model"]): r["total"] for r in data["per_origin"]} == pytest.approx(want, rel=1e-12)


def test_reference_rows_are_the_forecasters_paths_scored(demo_lake, lake_env):
    """Independent route: the forecaster's own paths at each origin, scored one by one by score_paths."""
    spec = BacktestSpec.parse({"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"},
                               "classical": "gjr-garch", "baselines": "gbm", "start": "2024-01-12", "n_origins": 3,
                               "n_paths": 64, "seed": 4, "timing": "bar"})
    res = run_backtest(spec, root=demo_lake)
    f = spec.classical[0].forecaster({"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}, root=demo_lake)
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    paths = f.forecast(bars.filter(pl.col("ts") <= res.origins[-1]), res.origins, 288, 300, 64, seed=4)
    po = res.per_origin
    got = po.filter(pl.col("model") == "gjr-garch-t").sort("origin")["total"].to_numpy()
    want = [score_paths(paths[k], res.realised[k], spec.task_obj()).total for k in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert not np.allclose(want, po.filter(pl.col("model") == "gbm").sort("origin")["total"].to_numpy())


def test_a_saved_classical_run_scores_like_its_reference(demo_lake, lake_env, capsys):
    store = lake_env.store
    _cli_json(capsys, "fit", "--name", "btc-gjr", "--model", "gjr-garch", "--dist", "t", *SEL,
              "--root", str(demo_lake), "--store", str(store), "--json")
    data = _cli_json(capsys, "backtest", "--run", "btc-gjr", "--classical", "gjr-garch", "--baseline", "none",
                     *SEL, "--start", "2024-01-12", "--origins", "3", "--n-paths", "64", "--seed", "4",
                     "--root", str(demo_lake), "--store", str(store), "--json", "--no-save")
    rows = pl.DataFrame(data["per_origin"])
    run = rows.filter(pl.col("model") == "btc-gjr").sort("origin")["total"].to_numpy()
    ref = rows.filter(pl.col("model") == "gjr-garch-t").sort("origin")["total"].to_numpy()
    assert len(run) == 3
    np.testing.assert_allclose(run, ref, rtol=1e-12)


def test_a_reference_without_history_is_left_out_with_a_note(demo_lake, lake_env):
    # the demo lake starts 2024-01-01: an origin 6 hours in leaves 72 five-minute returns, the GARCH family
    # needs 200; the baselines need 20
    spec = {"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}, "task": "1h",
            "classical": "gjr-garch", "baselines": "gbm", "origins": ["2024-01-01T06:00:00Z"], "n_paths": 32}
    res = run_backtest(spec, root=demo_lake)
    assert set(res.per_origin["model"]) == {"gbm"}
    assert "gjr-garch-t" in res.meta["left_out"] and "200" in res.meta["left_out"]["gjr-garch-t"]


def test_default_compare_ranks_the_classical_models(demo_lake, lake_env, capsys):
    data = _cli_json(capsys, "compare", "--baselines", "gbm", *SEL, "--start", "2024-01-12", "--origins", "3",
                     "--n-paths", "64", "--root", str(demo_lake), "--json")
    assert {r["model"] for r in data["leaderboard"]} == LABELS | {"gbm"}
    assert data["benchmark"] == "gbm"


def test_origins_start_where_the_classical_models_can_fit(demo_lake, lake_env):
    """Over the whole lake (as the Compare page's sidebar dates do) the first origin leaves the
    classical references their 200 returns; a period too short for that still scores the rest."""
    sel = {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}
    res = run_backtest({"selection": sel, "task": "1h", "classical": "gjr-garch", "baselines": "gbm",
                        "n_origins": 3, "n_paths": 32}, root=demo_lake)
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    first = int((bars["ts"] <= res.origins[0]).sum())
    assert first >= 201 and res.meta["left_out"] == {}
    assert set(res.per_origin["model"]) == {"gbm", "gjr-garch-t"}
    short = run_backtest({"selection": sel, "task": "1h", "classical": "gjr-garch", "baselines": "gbm",
                          "end": "2024-01-01T12:00:00Z", "n_origins": 2, "n_paths": 32}, root=demo_lake)
    assert set(short.per_origin["model"]) == {"gbm"} and "gjr-garch-t" in short.meta["left_out"]
