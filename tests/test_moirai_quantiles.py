"""Moirai 2 (quantile outputs) as a forecaster kind through the quantiles-to-paths layer, on a
tiny randomly initialised Moirai2Module written locally by save_pretrained."""
from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from moirai_support import (
    btc5_bars,
    cli_backtest_and_compare,
    fs5_fixture,  # noqa: F401 - fixture
    moirai_page_preview,
    path_run,
)

from synthwb.core.errors import SpecError
from synthwb.store import runs

SPEC = {"context": 64, "horizon": 24, "patch_size": "auto", "covariates": ["volume"], "samples": 100}


@pytest.fixture(scope="module", name="tiny2")
def tiny2_fixture(tmp_path_factory):
    from synthwb.moirai.checkpoints import make_tiny_moirai2_checkpoint

    return make_tiny_moirai2_checkpoint(tmp_path_factory.mktemp("moirai2") / "tiny2", seed=0)


def test_quantiles_are_uni2ts_own_and_paths_follow_them(tiny2, fs5, demo_lake):
    from uni2ts.model.moirai2 import Moirai2Forecast

    from synthwb.forecast.kinds import moirai_forecaster
    from synthwb.forecast.quantiles import QuantilePathForecaster
    from synthwb.moirai.checkpoints import load_checkpoint
    from synthwb.moirai.forecast import Moirai2Quantiles

    fs, _ = fs5
    bars = btc5_bars(demo_lake)
    f = moirai_forecaster({"checkpoint": str(tiny2), **SPEC, "covariates": []}, fs, root=demo_lake)
    assert isinstance(f, QuantilePathForecaster) and isinstance(f.source, Moirai2Quantiles)
    assert f.step_seconds == 0 and f.source.spec.patch_size == 16 and f.source.kind == "cumulative"
    assert f.source.levels == pytest.approx(tuple(np.arange(1, 10) / 10))
    origins = [bars["ts"][2000], bars["ts"][3000] + timedelta(minutes=2)]
    q, last = f.source.predict_quantiles(bars, origins, 24)
    assert q.shape == (2, 24, 9) and np.isfinite(q).all()
    # the same numbers as uni2ts's own Moirai2Forecast.predict (a price quantile q is log(q / t0) here)
    module = load_checkpoint(str(tiny2)).module
    fc = Moirai2Forecast(prediction_length=24, target_dim=1, feat_dynamic_real_dim=0, past_feat_dynamic_real_dim=0,
                         context_length=64, module=module)
    for i, o in enumerate(origins):
        hist = bars.filter(bars["ts"] <= o)["close"].to_numpy()[-64:]
        assert last[i] == hist[-1]
        hist = hist.astype(np.float32)
        ref = fc.predict([hist])[0]  # (9, 24)
        np.testing.assert_allclose(np.exp(q[i]) * last[i], ref.T, rtol=2e-5)

    paths = f.forecast(bars, origins, 24, 300, n_paths=1000, seed=3)
    assert paths.shape == (2, 1000, 25) and np.isfinite(paths).all() and (paths > 0).all()
    assert (paths[:, :, 0] == last[:, None]).all()
    # every bar's marginal is the model's: the paths' quantiles match its 9 quantiles (MC noise;
    # a random tiny module's quantiles cross, the layer sorts them)
    emp = np.log(np.quantile(paths[:, :, 1:], np.arange(1, 10) / 10, axis=1) / last[None, :, None])  # (9, 2, 24)
    qs = np.sort(q, axis=-1)
    spread = qs[:, :, -1] - qs[:, :, 0]
    assert (np.abs(emp.transpose(1, 2, 0) - qs).max(axis=-1) < 0.08 * spread + 1e-9).all()
    np.testing.assert_array_equal(paths, f.forecast(bars, origins, 24, 300, n_paths=1000, seed=3))
    # any task step: the 1-minute grid of the 1h task from 5-minute quantiles (12 bars)
    p1 = f.forecast(bars, origins[:1], 60, 60, n_paths=200)
    assert p1.shape == (1, 200, 61) and np.isfinite(p1).all()
    with pytest.raises(SpecError, match="Use a longer horizon"):
        f.forecast(bars, origins[:1], 25, 300, n_paths=10)
    # target logret: per-bar quantiles, summed as increments on the bar grid
    g = moirai_forecaster({"checkpoint": str(tiny2), **SPEC, "target": "logret"}, fs, root=demo_lake)
    assert g.source.kind == "increments" and g.step_seconds == 300
    p2 = g.forecast(bars, origins, 12, 300, n_paths=100)
    assert p2.shape == (2, 100, 13) and (p2 > 0).all() and (p2[:, :, 0] == last[:, None]).all()
    with pytest.raises(SpecError, match="one patch size, 16"):
        moirai_forecaster({"checkpoint": str(tiny2), **SPEC, "patch_size": 64}, fs)


def test_zero_shot_moirai2_run_backtest_and_compare_cli(tiny2, fs5, demo_lake, capsys, tmp_path):
    """A zero-shot Moirai 2 run is saved, then backtested and compared from the CLI beside a
    path model, a Moirai 1 run and the baselines; fine-tuning it is refused with the reason."""
    from synthwb.cli import main
    from synthwb.forecast.kinds import load_forecaster
    from synthwb.forecast.quantiles import QuantilePathForecaster
    from synthwb.moirai.checkpoints import make_tiny_checkpoint

    _, store = fs5
    base = ["--features", "btc5", "--store", str(store), "--root", str(demo_lake)]
    assert main(["train", "--name", "zs2", *base, "--moirai", str(tiny2), "--finetune", "none", "--context", "64",
                 "--horizon", "24", "--samples", "100", "--json"]) == 0
    zs2 = json.loads(capsys.readouterr().out)["run_id"]
    info = runs.read_info(zs2, store)
    assert info["kind"] == "moirai" and info["moirai"]["family"] == "moirai-2"
    assert info["moirai_spec"]["patch_size"] == 16
    assert isinstance(load_forecaster(zs2, store, root=demo_lake), QuantilePathForecaster)
    assert main(["train", "--name", "ft2", *base, "--moirai", str(tiny2), "--finetune", "head", "--json"]) == 2
    assert "Moirai2Finetune" in capsys.readouterr().err
    tiny1 = make_tiny_checkpoint(tmp_path / "tiny1")
    assert main(["train", "--name", "zs1", *base, "--moirai", str(tiny1), "--finetune", "none", "--context", "64",
                 "--horizon", "13", "--patch-size", "16", "--samples", "64", "--json"]) == 0
    zs1 = json.loads(capsys.readouterr().out)["run_id"]
    path = path_run("pm2", store, demo_lake)
    cli_backtest_and_compare(capsys, store, demo_lake, tmp_path, zs2, [zs1, path], ("gbm", "gbm_ewma"))


def test_cli_forecast_and_checkpoint_rows(tiny2, fs5, demo_lake, capsys):
    from synthwb import cli

    _, store = fs5
    argv = ["moirai", "forecast", "--checkpoint", str(tiny2), "--features", "btc5", "--root", str(demo_lake),
            "--store", str(store), "--context", "64", "--horizon", "24", "--samples", "300", "--at",
            "2024-01-10T12:00:00", "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    q = out["quantiles"]
    assert out["family"] == "moirai-2" and out["spec"]["patch_size"] == 16
    assert q[0]["step"] == 0 and q[-1]["step"] == 24 and all(r["q05"] <= r["q50"] <= r["q95"] for r in q)
    assert cli.main(["moirai", "checkpoints", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    m2 = next(c for c in doc["checkpoints"] if c["id"] == "Salesforce/moirai-2.0-R-small")
    assert m2["forecast"] and not m2["finetune"]
    assert not any("cannot turn it into joint price paths" in lim for lim in m2["limits"])
    row = next(r for r in doc["capabilities"] if r["feature"].startswith("Moirai 2.0 forecast"))
    assert row["status"] == "works" and "quantiles-to-paths" in row["reason"]


def test_moirai_page_previews_and_saves_a_moirai2_run(page_env, demo_lake, tiny2):
    """The Moirai page with a local Moirai 2 folder: it says how its quantiles become paths,
    previews a fan chart and saves a zero-shot run that the Backtest page scores beside gbm."""
    from pathlib import Path

    from apptest_support import backtest_page_summary
    from streamlit.testing.v1 import AppTest
    from train_support import make_featureset


    make_featureset(demo_lake, page_env, name="btc5", freq="5min")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app_pages" / "moirai.py"), default_timeout=120)
    at.run()
    at.radio(key="mo_source").set_value("Local folder").run()
    at.text_input(key="mo_dir").input(str(tiny2))
    at.run()
    assert not at.exception, at.exception
    assert any("9 quantiles per step" in c.value for c in at.caption)
    moirai_page_preview(at, context=64, horizon=24, paths=200)
    at.number_input(key="mo_horizon").set_value(288)
    at.text_input(key="mo_name").input("m2 page")
    at.button(key="mo_save_zs").click()
    at.run()
    assert not at.exception, at.exception
    info = runs.read_info("m2-page", page_env)
    assert info["kind"] == "moirai" and info["moirai"]["family"] == "moirai-2"

    summary = backtest_page_summary(["m2-page"])
    assert set(summary["model"]) == {"m2-page", "gbm"} and (summary["n_invalid"] == 0).all()
