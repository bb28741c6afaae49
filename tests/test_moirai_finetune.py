"""Moirai fine-tuning as store runs, scored by the backtest beside the baselines; the CLI."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from moirai_support import (  # noqa: F401 - fixtures
    TASK,
    btc5_bars,
    cli_backtest_and_compare,
    fs5_fixture,
    path_run,
    tiny_ckpt_fixture,
)
from safetensors.torch import load_file

from synthwb.core.errors import SpecError
from synthwb.store import runs

SPEC = {"context": 64, "horizon": 16, "patch_size": 16, "covariates": ["volume", "rsi_14"], "samples": 100}
CFG = {"max_steps": 4, "batch_size": 8, "val_every": 2, "log_every": 1, "max_val_windows": 16, "patience": 0}


def _train(ckpt, fs, store, name="ft", spec=None, cfg=None, **kw):
    from synthwb.moirai.finetune import moirai_train

    return moirai_train(name, fs, {"checkpoint": str(ckpt), **SPEC, **(spec or {})}, {**CFG, **(cfg or {})},
                        store=store, **kw)


def test_finetune_saves_a_run_the_backtest_scores(tiny_ckpt, fs5, demo_lake, tmp_path):
    from synthwb.evaluate.backtest import run_backtest
    from synthwb.evaluate.compare import leaderboard
    from synthwb.moirai.forecast import MoiraiForecaster

    fs, _ = fs5
    rows = []
    res = _train(tiny_ckpt, fs, tmp_path, progress=lambda f, m=None, msg=None: rows.append((f, m)))
    assert res.status == "finished" and res.step == 4
    info = runs.read_info(res.run_id, tmp_path)
    assert info["kind"] == "moirai" and info["moirai"]["checkpoint"] == str(tiny_ckpt)
    assert info["moirai_spec"]["covariates"] == ["volume", "rsi_14"] and info["featureset"]["name"] == "btc5"
    assert info["finetune_config"]["finetune"] == "full" and info["finetune_config"]["lr"] == 1e-4
    base = load_file(str(tiny_ckpt / "model.safetensors"))
    tuned = load_file(str(res.path / "weights.safetensors"))
    assert set(base) <= set(tuned)
    assert any(not np.array_equal(base[k].numpy(), tuned[k].numpy()) for k in base)
    metrics = runs.read_metrics(res.run_id, tmp_path)
    train_rows = [r for r in metrics if r["kind"] == "train"]
    val_rows = [r for r in metrics if r["kind"] == "val"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4] and [r["step"] for r in val_rows] == [0, 2, 4]
    assert all(np.isfinite(r["loss"]) for r in train_rows)
    assert info["best"]["val_loss"] == min(r["val_loss"] for r in val_rows)
    assert rows[-1][0] == 1.0 and any(m and m.get("kind") == "val" for _, m in rows)
    # warm-up (10% of 4 steps rounds to 0) then 3 cosine cycles over 4 steps; each row logs the lr
    # of the next step: 0.5 * (1 + cos(pi * frac(3 k / 4))) * 1e-4, a restart at k = 4
    lrs = [r["lr"] for r in train_rows]
    want = [1e-4 * 0.5 * (1 + np.cos(np.pi * ((3 * k / 4) % 1))) for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(lrs, want, rtol=1e-9)
    assert lrs[-1] == pytest.approx(1e-4) and lrs[0] < 0.2e-4

    f = MoiraiForecaster.from_run(res.run_id, tmp_path, root=demo_lake)
    assert f.name == res.run_id and f.step_seconds == 300
    bt = run_backtest({"task": TASK, "selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"},
                       "n_origins": 4, "n_paths": 100, "baselines": [{"name": "gbm"}], "keep_paths": 0},
                      root=demo_lake, store=tmp_path, forecasters=[f])
    po = bt.per_origin
    mine = po.filter(po["model"] == res.run_id)
    assert mine.height == 4 and mine["valid"].all() and (mine["total"] > 0).all()
    assert set(po["model"].to_list()) == {res.run_id, "gbm"}
    board = leaderboard(po, benchmark="gbm")
    assert set(board["model"].to_list()) == {res.run_id, "gbm"}


def test_stop_resume_and_patterns(tiny_ckpt, fs5, demo_lake, tmp_path):
    from synthwb.moirai.finetune import moirai_train

    fs, _ = fs5
    stop = threading.Event()

    def progress(frac, metrics=None, msg=None):
        if metrics and metrics.get("kind") == "train" and metrics["step"] >= 2:
            stop.set()

    res = _train(tiny_ckpt, fs, tmp_path, name="stopme", cfg={"max_steps": 6, "val_every": 10}, progress=progress,
                 stop_event=stop)
    assert res.status == "interrupted" and res.step == 2
    assert (res.path / "last.safetensors").is_file() and (res.path / "last_state.pt").is_file()
    assert runs.read_info(res.run_id, tmp_path)["status"] == "interrupted"
    again = moirai_train(res.run_id, store=tmp_path, root=demo_lake, resume=True)  # the lake: fs saved elsewhere
    assert again.status == "finished" and again.step == 6
    steps = [r["step"] for r in runs.read_metrics(res.run_id, tmp_path, kind="train")]
    assert steps == [1, 2, 3, 4, 5, 6]

    base = load_file(str(tiny_ckpt / "model.safetensors"))
    head = _train(tiny_ckpt, fs, tmp_path, name="head", cfg={"finetune": "head", "max_steps": 2})
    w = load_file(str(head.path / "weights.safetensors"))
    changed = {k for k in base if not np.array_equal(base[k].numpy(), w[k].numpy())}
    assert changed and all("param_proj" in k for k in changed)
    ffn = _train(tiny_ckpt, fs, tmp_path, name="ffn", cfg={"finetune": "freeze_ffn", "max_steps": 2})
    w = load_file(str(ffn.path / "weights.safetensors"))
    changed = {k for k in base if not np.array_equal(base[k].numpy(), w[k].numpy())}
    assert changed and not any("ffn" in k for k in changed)


def test_zero_shot_run_and_bad_setups(tiny_ckpt, fs5, demo_lake, tmp_path):
    from synthwb.moirai.forecast import MoiraiForecaster

    fs, _ = fs5
    res = _train(tiny_ckpt, fs, tmp_path, name="zs", cfg={"finetune": "none"})
    assert res.status == "finished"
    assert not (res.path / "weights.safetensors").exists()
    assert json.loads((res.path / "run.json").read_text())["kind"] == "moirai"
    bars = btc5_bars(demo_lake)
    origins = [bars["ts"][3000], bars["ts"][4000]]
    from_run = MoiraiForecaster.from_run(res.run_id, tmp_path).forecast(bars, origins, 12, 300, 50, seed=1)
    direct = MoiraiForecaster({"checkpoint": str(tiny_ckpt), **SPEC}, fs).forecast(bars, origins, 12, 300, 50, seed=1)
    np.testing.assert_array_equal(from_run, direct)
    with pytest.raises(SpecError, match="fixed patch size"):
        _train(tiny_ckpt, fs, tmp_path, name="bad", spec={"patch_size": "auto"})
    with pytest.raises(SpecError, match="unknown covariate"):
        _train(tiny_ckpt, fs, tmp_path, name="bad", spec={"covariates": ["nope"]})
    with pytest.raises(SpecError, match="fine-tune config"):
        _train(tiny_ckpt, fs, tmp_path, name="bad", cfg={"finetune": "everything"})
    assert {r["run_id"] for r in runs.list_runs(tmp_path)} == {"zs"}  # nothing half-made


def test_cli_forecast_checkpoints_and_train(tiny_ckpt, fs5, demo_lake, capsys, tmp_path):
    from synthwb import cli

    _, store = fs5
    argv = ["moirai", "forecast", "--checkpoint", str(tiny_ckpt), "--features", "btc5", "--root", str(demo_lake),
            "--store", str(store), "--context", "64", "--horizon", "24", "--patch-size", "16", "--samples", "200",
            "--covariates", "volume", "--at", "2024-01-10T12:00:00", "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    bars = btc5_bars(demo_lake)
    last = bars.filter(bars["ts"] <= datetime(2024, 1, 10, 12, tzinfo=UTC))["close"][-1]
    assert out["t0"] == float(last) and out["origin"].startswith("2024-01-10 12:00")
    q = out["quantiles"]
    assert q[0]["step"] == 0 and q[-1]["step"] == 24 and all(r["q05"] <= r["q50"] <= r["q95"] for r in q)
    assert out["token_budget"]["tokens"] == 2 * 6
    assert cli.main(["moirai", "checkpoints", "--json"]) == 0
    cat = json.loads(capsys.readouterr().out)
    assert any(c["id"] == "Salesforce/moirai-1.1-R-small" for c in cat["checkpoints"])
    assert any("weights_only" in r["reason"] for r in cat["capabilities"])
    assert cli.main(["moirai", "forecast", "--checkpoint", str(tiny_ckpt), "--features", "btc5", "--store",
                     str(store), "--patch-size", "24"]) == 2
    assert "patch size 24" in capsys.readouterr().err

    argv = ["train", "--name", "cli run", "--features", "btc5", "--store", str(store), "--moirai", str(tiny_ckpt),
            "--finetune", "head", "--context", "64", "--horizon", "16", "--patch-size", "16", "--max-steps", "2",
            "--batch-size", "4", "--no-progress", "--json"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "finished" and data["step"] == 2
    info = runs.read_info(data["run_id"], store)
    assert info["kind"] == "moirai" and info["finetune_config"]["finetune"] == "head"


def test_moirai_and_path_runs_in_backtest_and_compare_cli(tiny_ckpt, fs5, demo_lake, capsys, tmp_path):
    """A zero-shot Moirai run saved with ``train --moirai --finetune none`` is a run like any
    other: ``backtest --run`` and ``compare --runs`` score it beside a path model and gbm."""
    from synthwb.cli import main

    _, store = fs5
    assert main(["train", "--name", "zs", "--features", "btc5", "--store", str(store), "--root", str(demo_lake),
                 "--moirai", str(tiny_ckpt), "--finetune", "none", "--context", "64", "--horizon", "13",
                 "--patch-size", "16", "--samples", "100", "--json"]) == 0
    zs = json.loads(capsys.readouterr().out)["run_id"]
    assert runs.load_run(zs, store).kind == "moirai"
    path = path_run("pm", store, demo_lake)
    cli_backtest_and_compare(capsys, store, demo_lake, tmp_path, zs, [path])
