"""A trained run blended with the classical forecasters (synthwb.train.blend): the weights are
fitted on the validation split, saved in run.json, and the run's forecaster draws each
partner's share of its paths."""
from __future__ import annotations

from datetime import UTC

import numpy as np
import pytest
from train_support import make_featureset, tiny_config

from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.forecast.classical.refs import ClassicalRef
from synthwb.forecast.ensemble import carry_drift
from synthwb.forecast.run import RunForecaster
from synthwb.store import runs
from synthwb.train.loop import train

HOUR_TASK = {"name": "1h-5min", "step_seconds": 300, "n_points": 13,
             "intervals": [{"name": "5min", "seconds": 300}, {"name": "30min", "seconds": 1800},
                           {"name": "60min_abs", "seconds": 3600}]}
CLASSICAL = {"garch-t", "gjr-garch-t", "egarch-t", "har-rv-t"}


@pytest.fixture
def blended(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store, name="b5", freq="5min", har=True)
    cfg = tiny_config(loss="synth", synth_task=HOUR_TASK, max_steps=4, val_every=2, calibration_paths=64)
    info = train("blend", "b5", "anchored-har", cfg, store=lake_env.store, root=demo_lake, context=48, horizon=12)
    assert info.status == "finished", info.error
    return fs, info.run_id, lake_env.store, demo_lake


def _origins(fs, root, n=3):
    test = fs.splits(root)["test"]
    return [test["ts"][int(i)].replace(tzinfo=UTC) for i in np.linspace(60, test.height - 20, n).astype(int)]


def test_training_fits_the_blend_on_the_validation_split(blended, capsys):
    fs, run_id, store, root = blended
    b = runs.load_run(run_id, store).info["blend"]
    assert "skipped" not in b, b.get("skipped")
    members = b["member_val_scores"]
    fitted = CLASSICAL - set(b["left_out"])
    # each classical model as it is (its own zero drift), never moved onto the run's drift
    assert set(members) == {"run"} | {f"{c} (zero drift)" for c in fitted}
    assert b["run_weight"] + sum(p["weight"] for p in b["partners"]) == pytest.approx(1.0)
    assert all(p["weight"] >= 0.02 and p["label"] in CLASSICAL and p["drift"] == "zero"
               for p in b["partners"])
    # the mixture minimises the score over the simplex: never worse than a member on validation
    assert b["val_score_blend"] <= min(members.values()) + 1e-9
    # the CLI says it, with the shares the run.json holds
    from synthwb.cli import main

    assert main(["runs", "show", run_id, "--store", str(store)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("blended"))
    if b["partners"]:
        assert f"run {b['run_weight']:.0%}" in line and all(
            f"{p['label']} (zero drift) {p['weight']:.0%}" in line for p in b["partners"])
    else:  # the mixture gained too little on validation (four training steps): the run alone, and it says so
        assert b["run_weight"] == 1.0 and "the run alone" in line
    # the windows are validation windows: they start and end inside the split, before the test split
    val, test = fs.splits(root)["val"], fs.splits(root)["test"]
    start, end = (np.datetime64(t.replace("+00:00", "")) for t in b["period"])
    assert np.datetime64(val["ts"].min().replace(tzinfo=None)) <= start < end < np.datetime64(
        test["ts"].min().replace(tzinfo=None))


def test_the_blended_forecaster_draws_each_partners_share(blended):
    fs, run_id, store, root = blended
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=root)
    origins = _origins(fs, root)
    alone = RunForecaster(run_id, store=store, device="cpu", root=root, blended=False)
    # a blend with no partner forecasts exactly what the run alone does
    runs.update_run(run_id, store, blend={"run_weight": 1.0, "partners": []})
    same = RunForecaster(run_id, store=store, device="cpu", root=root)
    np.testing.assert_array_equal(same.forecast(bars, origins, 12, 300, 64, seed=5),
                                  alone.forecast(bars, origins, 12, 300, 64, seed=5))
    # all of it to GARCH: the paths are the GARCH forecaster's distribution, from the run's t0 price
    ref = ClassicalRef(model="garch")
    runs.update_run(run_id, store, blend={"run_weight": 0.0,
                                          "partners": [{**ref.model_dump(), "label": ref.label, "weight": 1.0}]})
    f = RunForecaster(run_id, store=store, device="cpu", root=root)
    assert f.name == run_id and len(f.partners) == 1 and f.context_bars >= ref.forecaster().context_bars
    got = f.forecast(bars, origins, 12, 300, 4000, seed=1)
    want = ref.forecaster(fs.selection, root=root).forecast(bars, origins, 12, 300, 4000, seed=99)
    own = alone.forecast(bars, origins, 12, 300, 64, seed=0)
    assert got.shape == (3, 4000, 13)
    np.testing.assert_allclose(got[:, :, 0], own[:, :1, 0].repeat(4000, axis=1), rtol=1e-12)
    sd = lambda p: np.log(p[:, :, -1] / p[:, :, :1].squeeze(-1)).std(axis=1)  # noqa: E731
    np.testing.assert_allclose(sd(got), sd(want), rtol=0.08)
    # ... around the network's drift: the partner lends its spread, the run keeps its location
    _, drift = alone._paths(bars, origins, 12, 8, 0, with_drift=True)
    mean = lambda p: np.log(p[:, :, -1] / p[:, :, :1].squeeze(-1)).mean(axis=1)  # noqa: E731
    np.testing.assert_allclose(mean(got) - mean(want), drift.sum(axis=1), atol=4 * 1.5 * sd(want).max() / 63)
    # the same partner keeping its own zero drift: the same GARCH paths (same seed), not moved by the drift
    runs.update_run(run_id, store, blend={"run_weight": 0.0, "partners": [
        {**ref.model_dump(), "label": ref.label, "drift": "zero", "weight": 1.0}]})
    zero = RunForecaster(run_id, store=store, device="cpu", root=root).forecast(bars, origins, 12, 300, 4000, seed=1)
    assert np.abs(drift).max() > 1e-9
    np.testing.assert_allclose(carry_drift(zero.copy(), drift), got, rtol=1e-12, atol=0)
    # a model in both forms is one partner (one forecast per origin) whose paths are split between the forms
    runs.update_run(run_id, store, blend={"run_weight": 0.0, "partners": [
        {**ref.model_dump(), "label": ref.label, "drift": d, "weight": 0.5} for d in ("run", "zero")]})
    both = RunForecaster(run_id, store=store, device="cpu", root=root)
    assert len(both.partners) == 1 and both.carry_shares == [pytest.approx(0.5)]
    split = both.forecast(bars, origins, 12, 300, 4000, seed=1)
    # each origin's paths are shuffled on their own: per origin, 2000 paths are GARCH's on the run's drift and
    # the other 2000 are GARCH's own
    carried = np.isclose(split, got, rtol=1e-12, atol=0).all(axis=2)
    kept = np.isclose(split, zero, rtol=1e-12, atol=0).all(axis=2)
    assert (carried ^ kept).all() and (carried.sum(axis=1) == 2000).all()
    # half and half: the pooled set is the mixture; the unblended twin keeps the network's own spread
    runs.update_run(run_id, store, blend={"run_weight": 0.5,
                                          "partners": [{**ref.model_dump(), "label": ref.label, "weight": 0.5}]})
    half = RunForecaster(run_id, store=store, device="cpu", root=root).forecast(bars, origins, 12, 300, 4000, 2)
    net = alone.forecast(bars, origins, 12, 300, 4000, seed=3)
    var = lambda p: np.log(p[:, :, -1] / p[:, :, :1].squeeze(-1)).var(axis=1)  # noqa: E731
    np.testing.assert_allclose(var(half), 0.5 * var(net) + 0.5 * var(want), rtol=0.12)
    assert RunForecaster(run_id, store=store, device="cpu", root=root, blended=False).name == f"{run_id} (unblended)"
    assert RunForecaster(run_id, store=store, device="cpu", root=root, calibrated=False).partners == []



def test_carry_drift_moves_the_location_and_keeps_the_spread():
    rng = np.random.default_rng(1)
    paths = 100 * np.exp(np.concatenate([np.zeros((2, 50, 1)), np.cumsum(rng.normal(0, 0.01, (2, 50, 4)), axis=2)], 2))
    drift = np.array([[0.001, 0.002, -0.001, 0.0, 9.9], [0.0, 0.0, 0.0, 0.005, 9.9]])  # longer than the paths: cut
    moved = carry_drift(paths.copy(), drift)
    want = paths * np.exp(np.array([[0, 0.001, 0.003, 0.002, 0.002], [0, 0, 0, 0, 0.005]]))[:, None, :]
    np.testing.assert_allclose(moved, want, rtol=1e-12)
    np.testing.assert_allclose(np.log(moved[:, :, 1:] / moved[:, :, :-1]).std(axis=1),
                               np.log(paths[:, :, 1:] / paths[:, :, :-1]).std(axis=1), rtol=1e-9)


def test_a_run_at_zero_drift_forecasts_martingale_paths_and_blends_partners_as_they_are(lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store, name="z5", freq="5min", har=True)
    cfg = tiny_config(loss="synth", synth_task=HOUR_TASK, max_steps=4, val_every=2, calibration_paths=64, drift="zero")
    info = train("zero", "z5", "anchored-har", cfg, store=lake_env.store, root=demo_lake, context=48, horizon=12)
    assert info.status == "finished", info.error
    rec = runs.load_run(info.run_id, lake_env.store).info
    assert rec["config"]["drift"] == "zero"
    assert rec["calibration"]["drift_shrink"] == 0.0 and rec["calibration"]["drift"] == "zero"
    # the vol scale was chosen at zero drift: every calibration candidate the fit scored has drift 0
    assert {k.split("/")[1] for k in rec["calibration"]["grid"]} == {"0"}
    b = rec["blend"]
    assert "skipped" not in b, b.get("skipped")
    # no partner on the run's drift (there is none): one candidate per classical model
    assert set(b["member_val_scores"]) == {"run"} | {f"{c} (zero drift)" for c in CLASSICAL - set(b["left_out"])}
    assert all(p["drift"] == "zero" for p in b["partners"])
    fs = runs.load_run(info.run_id, lake_env.store)
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    from synthwb.features.featureset import load_featureset

    origins = _origins(load_featureset("z5", lake_env.store), demo_lake)
    f = RunForecaster(fs.run_id, store=lake_env.store, device="cpu", root=demo_lake, blended=False)
    _, drift = f._paths(bars, origins, 12, 8, 0, with_drift=True)
    assert np.abs(drift).max() < 1e-9
    # the uncalibrated twin keeps the head's learned drift (what the setting drops)
    raw = RunForecaster(fs.run_id, store=lake_env.store, device="cpu", root=demo_lake, calibrated=False)
    _, learned = raw._paths(bars, origins, 12, 8, 0, with_drift=True)
    assert np.abs(learned).max() > 1e-9


def test_blend_candidates_reads_the_members_of_any_split(blended):
    """The blend's members over the test split (``bench/bench_blend.py``): the run as it forecasts, then
    each classical model as it is, on the same windows, from the windows' own first price."""
    from synthwb.train.loop import blend_candidates

    fs, run_id, store, root = blended
    m = blend_candidates(run_id, "test", store, root, n_windows=4)
    assert m["names"][0] == ("run", "") and {d for _, d in m["names"][1:]} == {"zero"}
    assert {lab for lab, _ in m["names"][1:]} == CLASSICAL - set(m["left_out"])
    assert len(m["sets"]) == len(m["names"]) and all(p.shape[:1] == (4,) for p in m["sets"])
    for p in m["sets"]:  # every member starts at the realised price of its window's origin
        np.testing.assert_allclose(p[:, :, 0], m["realised"][:, :1].repeat(p.shape[1], axis=1), rtol=1e-9)
    test_start = fs.splits(root)["test"]["ts"].min().replace(tzinfo=UTC)  # windows of the test split only
    assert sorted(m["origins"]) == m["origins"] and m["origins"][0] >= test_start
    assert m["drift"].shape == (4, m["sets"][0].shape[-1] - 1)
