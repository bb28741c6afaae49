"""Forecast quality machinery: the anchor, the calibration, and the objective training selects on.

- An untrained anchored model *is* GBM with EWMA volatility: its per-step vol equals the
  ``gbm_ewma`` baseline's on the same history, and its scores match the baseline's.
- The calibration is fitted on the validation split only and moves a too-wide model inwards.
- Validation, early stopping and the best checkpoint use the training objective itself.
- 1h features simulate 5-minute paths whose targets come from the finest stored bars.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from train_support import make_featureset, tiny_config

from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.forecast.baselines import BaselineForecaster
from synthwb.forecast.run import load_model
from synthwb.models import build_model, get_preset
from synthwb.models.simulate import to_prices
from synthwb.models.spec import run_spec
from synthwb.scoring.synth import get_task, score_batch
from synthwb.store import runs
from synthwb.train.calibrate import fit_calibration
from synthwb.train.config import TrainConfig
from synthwb.train.data import WindowDataset
from synthwb.train.loop import train
from synthwb.train.losses import objective, task_points

CONTEXT = 48
HOUR_TASK = {"name": "1h-5min", "step_seconds": 300, "n_points": 13,
             "intervals": [{"name": "5min", "seconds": 300}, {"name": "30min", "seconds": 1800},
                           {"name": "60min_abs", "seconds": 3600}]}


@pytest.fixture
def fs5(lake_env, demo_lake):
    return make_featureset(demo_lake, lake_env.store, name="tiny5", freq="5min"), demo_lake, lake_env.store


def _untrained(n_features: int, head: str = "gbm", horizon: int = 12, bar: int = 300, step: int | None = None):
    torch.manual_seed(0)
    spec = get_preset("dlinear-gbm", n_features=n_features, context=CONTEXT, horizon=horizon,
                      head={"name": head, "params": {}}, bar_seconds=bar, step_seconds=step)
    return build_model(spec).eval()


def _batch(w, idx):
    ds = WindowDataset(w)
    return ds[torch.as_tensor(idx)]


@pytest.mark.parametrize("head", ["gbm", "term", "horizon"])
def test_an_untrained_model_has_the_ewma_baselines_volatility(fs5, head):
    fs, root, _ = fs5
    w = fs.windows("test", CONTEXT, 12, 1)
    model = _untrained(len(fs.feature_cols), head)
    # windows on regular bars: across a data gap the baseline reads a time span (fewer bars),
    # the model its context rows
    regular = np.flatnonzero(np.isfinite(w.past).all(axis=1))
    idx = regular[np.linspace(0, len(regular) - 1, 12).round().astype(int)]
    b = _batch(w, idx)
    with torch.no_grad():
        out = model(b.x, b.last_close, 8, torch.Generator().manual_seed(0), past=b.past, t0=b.t0)
    # the matching baseline: half-life = a quarter of the context, the context's bars as history
    hl_hours = CONTEXT / 4 * 300 / 3600
    base = BaselineForecaster("gbm_ewma", halflife_hours=hl_hours, lookback_days=(CONTEXT * 300 + 30) / 86400)  # + 30 s: the first close survives float rounding
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=root)
    ts = bars["ts"].dt.replace_time_zone(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    close = bars["close"].to_numpy()
    for j, i in enumerate(idx):
        hi = int(np.searchsorted(ts, w.origin_ts[i].astype("datetime64[ns]").astype(np.int64), side="right"))
        sigma = base.step_sigma(close[:hi], ts[:hi], 300)
        assert out.extras["vol"][j].numpy() == pytest.approx(np.full(12, sigma), rel=1e-5)
        # martingale drift, as every baseline: log drift -vol^2/2 per step
        assert out.extras["drift"][j].numpy() == pytest.approx(np.full(12, -0.5 * sigma ** 2), rel=1e-4)


def test_an_untrained_model_scores_like_the_ewma_baseline(fs5):
    fs, root, _ = fs5
    w = fs.windows("all", CONTEXT, 12, 1)
    model = _untrained(len(fs.feature_cols))
    idx = np.linspace(CONTEXT, len(w) - 1, 40).round().astype(int)
    b = _batch(w, idx)
    with torch.no_grad():
        mp = model(b.x, b.last_close, 2000, torch.Generator().manual_seed(1), past=b.past, t0=b.t0).paths.double().numpy()
    base = BaselineForecaster("gbm_ewma", halflife_hours=CONTEXT / 4 * 300 / 3600, lookback_days=(CONTEXT * 300 + 30) / 86400)  # + 30 s: the first close survives float rounding
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=root)
    ts = bars["ts"].dt.replace_time_zone(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    close = bars["close"].to_numpy()
    bp = np.stack([base.simulate(close[:hi], ts[:hi], 12, 300, 2000, seed=3) for hi in
                   (np.searchsorted(ts, w.origin_ts[idx].astype("datetime64[ns]").astype(np.int64), side="right"))])
    fut = b.future.double().numpy()
    ours, theirs = score_batch(mp, fut, HOUR_TASK).totals, score_batch(bp, fut, HOUR_TASK).totals
    # same distribution, independent noise: per-origin scores agree to Monte-Carlo error
    assert np.abs(ours - theirs).mean() / theirs.mean() < 0.03
    assert ours.mean() == pytest.approx(theirs.mean(), rel=0.01)


def test_calibration_pulls_a_too_wide_model_in_on_the_validation_windows(fs5):
    fs, root, _ = fs5
    model = _untrained(len(fs.feature_cols))
    with torch.no_grad():  # the GBM head's vol output: raw = 6 atanh(log(1.6) / 6) makes it 1.6x the anchor
        model.head.net[-1].bias[1] = 6 * math.atanh(math.log(1.6) / 6)
    val = WindowDataset(fs.windows("val", CONTEXT, 12, 1)).limit(96)
    cal = fit_calibration(model, val, get_task(HOUR_TASK), 300, n_paths=256, batch_size=32)
    assert cal["n_windows"] == len(val) == 96
    assert 1 / 1.6 * 0.85 < cal["vol_scale"] < 1 / 1.6 * 1.25   # the grid point nearest 1/1.6 (0.625)
    assert cal["val_score_after"] < cal["val_score_before"]


def test_calibration_may_not_take_the_coverage_out_of_its_band(fs5):
    fs, root, _ = fs5
    model = _untrained(len(fs.feature_cols))
    with torch.no_grad():  # 1.6x too wide: its 90% band covers nearly every realised point
        model.head.net[-1].bias[1] = 6 * math.atanh(math.log(1.6) / 6)
    val = WindowDataset(fs.windows("val", CONTEXT, 12, 1)).limit(96)
    free = fit_calibration(model, val, get_task(HOUR_TASK), 300, n_paths=256, batch_size=32, coverage_band=None)
    held = fit_calibration(model, val, get_task(HOUR_TASK), 300, n_paths=256, batch_size=32,
                           coverage_band=(0.95, 1.0))
    assert held["val_coverage_before"] > 0.95           # the wide model starts inside the band
    assert free["val_coverage_after"] < 0.95            # the score alone pulls it in past the band's floor
    assert held["vol_scale"] > free["vol_scale"] and held["val_coverage_after"] >= 0.95
    # the guard costs score, never more than calibrating not at all
    assert free["val_score_after"] < held["val_score_after"] <= held["val_score_before"]
    # the coverage it reports is the share of realised points inside the 5%-95% quantiles of the paths
    task = get_task(HOUR_TASK)
    gen = torch.Generator().manual_seed(777)
    inside = total = 0
    with torch.no_grad():
        for b in val.batches(32):
            parts = model.parts(b.x, b.last_close, 256, gen, **b.anchor)
            paths = to_prices(b.last_close, model.compose(parts, held["vol_scale"], held["drift_shrink"]))
            n = task_points(task, 300)
            q = torch.quantile(paths[..., 1:n].double(), torch.tensor([0.05, 0.95], dtype=torch.float64), dim=1)
            y = b.future[..., 1:n].double()
            inside += int(((y >= q[0]) & (y <= q[1])).sum())
            total += y.numel()
    assert inside / total == pytest.approx(held["val_coverage_after"], abs=0.03)


def test_validation_selects_on_the_training_objective_and_calibrates(fs5):
    fs, root, store = fs5
    cfg = tiny_config(loss="synth", synth_task=HOUR_TASK, max_steps=6, val_every=2, n_paths_eval=128, lr=3e-2,
                      calibration_paths=64)
    info = train("sel", "tiny5", "dlinear-gbm", cfg, store=store, root=root, context=CONTEXT, horizon=12)
    vals = runs.read_metrics(info.run_id, store, kind="val")
    assert [v["step"] for v in vals] == [0, 2, 4, 6]      # step 0: the untrained anchor (the baseline)
    best = min(vals, key=lambda v: v["val_loss"])
    run = runs.load_run(info.run_id, store)
    assert run.best["step"] == best["step"] and run.best["val_loss"] == pytest.approx(best["val_loss"])
    # the best checkpoint's validation objective, recomputed from its weights with the same noise
    model = load_model(info.run_id, "best", store)
    tc = TrainConfig.parse(cfg)
    val = WindowDataset(fs.windows("val", CONTEXT, 12, 1)).limit(tc.max_val_batches * tc.batch_size)
    gen = torch.Generator().manual_seed(tc.seed + 12345)
    tot, n = 0.0, 0
    with torch.no_grad():
        for b in val.batches(tc.batch_size):
            p = model(b.x, b.last_close, tc.n_paths_eval, generator=gen, **b.anchor).paths
            tot += float(objective(p, b.future, b.last_close, tc, 300).sum())
            n += b.x.shape[0]
    assert tot / n == pytest.approx(best["val_loss"], rel=1e-5)
    # each validation logs the task's exact score and coverage; the calibration used validation only
    assert all(v["val_score"] > 0 and 0 <= v["val_coverage_90"] <= 1 for v in vals)
    cal = run.info["calibration"]
    # on every validation window up to calibration_windows (more than validation reads), not on the test split
    n_all = len(WindowDataset(fs.windows("val", CONTEXT, 12, 1)))
    assert cal["n_windows"] == min(n_all, tc.calibration_windows) > run.info["n_val_windows"]
    assert cal["val_score_after"] <= cal["val_score_before"]


def test_hourly_features_simulate_five_minute_paths_from_the_finest_bars(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store, name="tiny1h", freq="1h")
    w = fs.windows("all", 24, 24, 1, root=demo_lake, step_seconds=300)    # 2 hours of 5-minute steps
    assert w.future.shape[1] == 25 and w.horizon == 24
    # the targets are 5-minute closes: point i is the close of the 5-minute bar ending at t0 + 5 i min
    fine = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    close_at = dict(zip((fine["ts"].dt.replace_time_zone(None).to_numpy().astype("datetime64[s]").astype(np.int64)
                         + 300).tolist(), fine["close"].to_list()))
    for i in (3, 100, 300):
        t0 = int(round(w.t0_s[i]))
        assert w.future[i, 0] == w.last_close[i] == pytest.approx(close_at[t0])
        np.testing.assert_array_equal([w.future[i, k] for k in (1, 12, 24)],
                                      [close_at.get(t0 + 300 * k, np.nan) for k in (1, 12, 24)])
    # a run on those features trains with 5-minute paths and forecasts them
    cfg = tiny_config(loss="synth", synth_task=HOUR_TASK, max_steps=2, val_every=2, calibrate=False)
    info = train("sub", "tiny1h", "dlinear-gbm", cfg, store=lake_env.store, root=demo_lake, context=24)
    spec = run_spec(runs.load_run(info.run_id, lake_env.store))
    assert (spec.bar_seconds, spec.step_seconds, spec.horizon) == (3600, 300, 12)


def test_the_anchor_blends_towards_the_range_and_fast_estimates_only_when_trained(fs5):
    """At initialisation the anchor is the plain EWMA whatever the bar ranges; its blend weights
    move it towards the Parkinson (high/low) and fast-EWMA estimates, computed here by hand."""
    fs, root, _ = fs5
    w = fs.windows("test", CONTEXT, 12, 1)
    model = _untrained(len(fs.feature_cols))
    b = _batch(w, np.arange(8))
    with torch.no_grad():
        plain = model(b.x, b.last_close, 4, torch.Generator().manual_seed(0), past=b.past, t0=b.t0).extras["anchor_vol"]
        ranged = model(b.x, b.last_close, 4, torch.Generator().manual_seed(0), **b.anchor).extras["anchor_vol"]
        assert torch.allclose(plain, ranged)
        model.anchor.blend[1] = 2 * math.atanh(0.5)                       # w_range = 2 tanh(atanh(0.5)) = 1
        full_range = model(b.x, b.last_close, 4, torch.Generator().manual_seed(0), **b.anchor).extras["anchor_vol"]
    hl = CONTEXT / 4
    for j in range(8):
        r = w.past_range[j]
        wts = 0.5 ** (np.arange(CONTEXT)[::-1] / hl)
        parkinson = np.sqrt(np.sum(wts * r * r) / np.sum(wts) / (4 * np.log(2)))
        assert float(full_range[j, 0]) == pytest.approx(parkinson, rel=1e-4)
