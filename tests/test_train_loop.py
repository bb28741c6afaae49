"""The training loop on a real tiny model and a real (demo lake) feature set."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config

from synthwb.core.errors import SpecError
from synthwb.forecast.run import load_model
from synthwb.store import runs
from synthwb.train import TrainConfig, train
from synthwb.train.losses import diagnostics, step_crps, to_space
from synthwb.train.schedule import lr_curve


@pytest.fixture
def fs_env(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store)
    return lake_env, demo_lake, fs


def _train(name, fs_env, model="dlinear-gbm", **cfg):
    env, root, fs = fs_env
    return train(name, "tiny", model, tiny_config(**cfg), store=env.store, root=root,
                 context=CONTEXT, horizon=HORIZON)


def test_train_writes_a_complete_run(fs_env):
    env, root, fs = fs_env
    seen = []
    info = train("BTC tiny", "tiny", "dlinear-gbm", tiny_config(val_every=10), store=env.store, root=root,
                 context=CONTEXT, horizon=HORIZON, progress=lambda f, m=None, msg=None: seen.append((f, m)))
    n_train = len(fs.windows("train", CONTEXT, HORIZON, 1))
    expected_steps = math.ceil(n_train / 32)
    assert info.run_id == "btc-tiny" and info.status == "finished"
    assert info.step == expected_steps and info.stop_reason == "all epochs done"

    path = env.store / info.run_id
    assert {p.name for p in path.iterdir()} >= {"run.json", "weights.safetensors", "last.safetensors",
                                                "last_state.pt", "metrics.jsonl"}
    meta = json.loads((path / "run.json").read_text())
    assert meta["status"] == "finished" and meta["model_name"] == "dlinear-gbm"
    assert meta["featureset"] == json.loads(json.dumps(fs.to_dict()))  # embedded copy incl. scaler
    assert meta["featureset"]["scaler"]["method"]
    assert meta["model_spec"]["n_features"] == len(fs.feature_cols) == 7
    assert meta["config"]["batch_size"] == 32 and meta["selection"]["symbol"] == "BTC"
    assert set(meta["versions"]) >= {"synthwb", "torch", "python", "polars"}
    assert meta["n_train_windows"] == n_train and meta["total_steps"] == expected_steps

    rows = runs.read_metrics(info.run_id, env.store)
    train_rows = [r for r in rows if r["kind"] == "train"]
    val_rows = [r for r in rows if r["kind"] == "val"]
    assert [r["step"] for r in train_rows] == list(range(1, expected_steps + 1))
    assert all(r["run_id"] == info.run_id for r in rows)
    for r in train_rows:
        assert math.isfinite(r["loss"]) and r["lr"] > 0 and r["grad_norm"] >= 0
        assert 0 < r["compute_time"] <= r["step_time"]
    # step 0: the untrained anchored model (its classical baseline), then every 10 steps and the end
    assert [r["step"] for r in val_rows] == [0] + [s for s in range(10, expected_steps + 1, 10)] + [expected_steps]
    for r in val_rows:
        assert r["val_crps"] > 0 and r["sharpness"] > 0 and math.isfinite(r["gauss_nll"])
    # best = the minimum validation CRPS in the log, and its step
    best_row = min(val_rows, key=lambda r: r["val_crps"])
    assert meta["best"]["val_crps"] == pytest.approx(best_row["val_crps"])
    assert meta["best"]["step"] == best_row["step"]
    # the callback saw every logged row, with a growing fraction ending at 1
    assert [m for _, m in seen if m] == [{k: v for k, v in r.items()} for r in rows]
    assert seen[-1][0] == 1.0

    model = load_model(info.run_id, store=env.store)
    w = fs.windows("val", CONTEXT, HORIZON, 1)
    x = torch.from_numpy(np.ascontiguousarray(w.x[:4]))
    lc = torch.from_numpy(w.last_close[:4]).float()
    out = model(x, lc, 16, generator=torch.Generator().manual_seed(0))
    assert out.paths.shape == (4, 16, HORIZON + 1)
    assert torch.allclose(out.paths[:, :, 0], lc[:, None].expand(4, 16))


def test_losses_match_independent_references():
    import properscoring as ps
    from scipy.stats import norm

    g = torch.Generator().manual_seed(3)
    lc = torch.tensor([100.0, 50.0])
    paths = lc[:, None, None] * torch.exp(0.01 * torch.randn(2, 40, 6, generator=g))
    paths[:, :, 0] = lc[:, None]
    fut = lc[:, None] * torch.exp(0.01 * torch.randn(2, 6, generator=g))
    fut[:, 0] = lc
    crps = step_crps(paths, fut, lc, "relative").numpy()
    xs = ((paths[..., 1:] / lc[:, None, None] - 1) * 1e4).numpy()  # (B, n, H)
    ys = ((fut[:, 1:] / lc[:, None] - 1) * 1e4).numpy()
    ref = np.array([[ps.crps_ensemble(ys[b, h], xs[b, :, h]) for h in range(5)] for b in range(2)])
    assert np.allclose(crps, ref, rtol=1e-4, atol=1e-4)

    lg = step_crps(paths, fut, lc, "logret").numpy()
    xl = (np.log(paths[..., 1:].numpy() / lc.numpy()[:, None, None])) * 1e4
    yl = np.log(fut[:, 1:].numpy() / lc.numpy()[:, None]) * 1e4
    ref = np.array([[ps.crps_ensemble(yl[b, h], xl[b, :, h]) for h in range(5)] for b in range(2)])
    assert np.allclose(lg, ref, rtol=1e-4, atol=1e-4)

    d = diagnostics(paths, fut, lc)
    assert np.allclose(d["crps"].numpy(), crps.mean(axis=1), rtol=1e-5)
    assert np.allclose(d["sharpness"].numpy(), xs.std(axis=1, ddof=1).mean(axis=1), rtol=1e-4)
    nll = -norm.logpdf(ys, loc=xs.mean(axis=1), scale=xs.std(axis=1, ddof=1))
    assert np.allclose(d["gauss_nll"].numpy(), nll.mean(axis=1), rtol=1e-4)
    assert torch.allclose(to_space(lc[:, None], lc), torch.zeros(2, 1))


def test_schedule_warmup_then_cosine_by_hand():
    cfg = TrainConfig(lr=0.1, warmup_steps=4, min_lr_ratio=0.1, schedule="cosine")
    lrs = lr_curve(cfg, 24)
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    eta_min, T = 0.01, 20
    for t in range(T):
        assert lrs[4 + t] == pytest.approx(eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * t / T)) / 2)
    r = lr_curve(TrainConfig(lr=1.0, warmup_steps=0, schedule="cosine_restarts", restart_period=5,
                             min_lr_ratio=0.0), 15)
    assert r[0] == r[5] == r[10] == pytest.approx(1.0)
    assert r[4] < r[3] < r[1]
    assert lr_curve(TrainConfig(lr=0.3, warmup_steps=0, schedule="constant"), 7) == pytest.approx([0.3] * 7)


def test_config_errors_are_clear():
    with pytest.raises(SpecError, match="batch_size"):
        TrainConfig.parse({"batch_size": 0})
    with pytest.raises(SpecError, match="loss"):
        TrainConfig.parse({"loss": "mse"})
    with pytest.raises(SpecError, match="bogus"):
        TrainConfig.parse({"bogus": 1})
    c = TrainConfig.parse({"lr": 0.5}, epochs=3, batch_size=None)
    assert c.lr == 0.5 and c.epochs == 3 and c.batch_size == 32
    assert TrainConfig.model_validate_json(c.model_dump_json()) == c


def test_early_stopping_on_validation_crps(fs_env):
    # a learning rate this small cannot change the validation CRPS (same validation noise each time)
    info = _train("early", fs_env, lr=1e-12, warmup_steps=0, val_every=2, patience=2, epochs=5)
    assert info.status == "finished"
    assert info.step == 4  # best at 0 (the untrained anchor), no improvement at 2 and 4
    assert "early stopping" in info.stop_reason
    vals = [r for r in runs.read_metrics("early", fs_env[0].store, kind="val")]
    assert [r["step"] for r in vals] == [0, 2, 4]
    assert [r["improved"] for r in vals] == [True, False, False]


def test_same_seed_same_run_other_seed_differs(fs_env):
    a = _train("seed-a", fs_env, max_steps=5)
    b = _train("seed-b", fs_env, max_steps=5)
    c = _train("seed-c", fs_env, max_steps=5, seed=1)
    store = fs_env[0].store
    loss = lambda rid: [r["loss"] for r in runs.read_metrics(rid, store, kind="train")]  # noqa: E731
    assert loss(a.run_id) == loss(b.run_id)
    assert loss(a.run_id) != loss(c.run_id)
    wa = runs.read_weights(store / a.run_id / "last.safetensors")
    wb = runs.read_weights(store / b.run_id / "last.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("cfg", [dict(loss="afcrps", alpha=0.9), dict(loss="crps", space="logret"),
                                 dict(schedule="cosine_restarts", restart_period=2), dict(tensorboard=True)])
def test_loss_and_option_variants_train(fs_env, cfg):
    info = _train("variant", fs_env, max_steps=4, **cfg)
    assert info.status == "finished" and info.step == 4
    rows = runs.read_metrics(info.run_id, fs_env[0].store, kind="train")
    assert len(rows) == 4 and all(math.isfinite(r["loss"]) for r in rows)
    if cfg.get("tensorboard"):
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(fs_env[0].store / info.run_id / "tb"))
        acc.Reload()
        assert "train/loss" in acc.Tags()["scalars"] and "val/val_crps" in acc.Tags()["scalars"]
        assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]


HOUR_TASK = {"name": "1h-5min", "step_seconds": 300, "n_points": 13,
             "intervals": [{"name": "5min", "seconds": 300}, {"name": "30min", "seconds": 1800},
                           {"name": "60min_abs", "seconds": 3600}]}


def test_synth_loss_trains_on_five_minute_bars(lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store, name="tiny5", freq="5min")
    info = train("synth", "tiny5", "dlinear-gbm",
                 tiny_config(loss="synth", synth_task=HOUR_TASK, max_steps=3, alpha=0.0, val_every=3),
                 store=lake_env.store, root=demo_lake, context=CONTEXT, horizon=12)
    rows = runs.read_metrics(info.run_id, lake_env.store, kind="train")
    assert info.status == "finished" and len(rows) == 3
    # the loss is the mean score term (12 + 2 + 1 terms), each a positive CRPS in bps
    assert all(r["loss"] > 0 for r in rows)
    val = runs.read_metrics(info.run_id, lake_env.store, kind="val")[-1]
    # validation logs the objective, the task's exact score and its 90% coverage
    assert val["val_score"] > val["val_loss"] > 0 and 0 <= val["val_coverage_90"] <= 1


def test_synth_loss_refuses_bars_that_do_not_divide_the_intervals(fs_env):
    # a 7-minute step neither divides the 15-minute bars nor is divided by them
    task = {"name": "7m", "step_seconds": 420, "n_points": 9, "intervals": [{"name": "7min", "seconds": 420}]}
    with pytest.raises(SpecError, match="do not divide"):
        _train("synth15", fs_env, loss="synth", synth_task=task)
    assert runs.list_runs(fs_env[0].store) == []  # refused before any folder is made


def test_synth_loss_refuses_a_horizon_short_of_the_task(fs_env):
    with pytest.raises(SpecError, match="use a horizon of at least 288 steps"):
        _train("short", fs_env, loss="synth", synth_task="24h")
    assert runs.list_runs(fs_env[0].store) == []


def test_spec_feature_count_mismatch_is_refused(fs_env):
    from synthwb.models import get_preset

    spec = get_preset("dlinear-gbm", n_features=3, context=CONTEXT, horizon=HORIZON)
    with pytest.raises(SpecError, match="expects 3 input features but the feature set has 7"):
        _train("mismatch", fs_env, model=spec)
