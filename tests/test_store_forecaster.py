"""A saved run as a Forecaster: inputs identical to the training windows, paths on its grid."""
from __future__ import annotations

from datetime import UTC

import numpy as np
import pytest
import torch
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config

from synthwb.core.errors import DataError, SpecError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.forecast.kinds import load_forecaster
from synthwb.forecast.run import load_model
from synthwb.train import train


@pytest.fixture
def trained(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store)
    train("fc", "tiny", "dlinear-gbm", tiny_config(max_steps=5), store=lake_env.store, root=demo_lake,
          context=CONTEXT, horizon=HORIZON)
    return lake_env, demo_lake, fs


def _origins(w, idx):
    return [w.origin_ts[i].astype("datetime64[us]").item().replace(tzinfo=UTC) for i in idx]


def test_forecaster_rebuilds_the_training_inputs_and_forecasts(trained):
    env, root, fs = trained
    f = load_forecaster("fc", store=env.store, device="cpu", root=root)
    assert f.step_seconds == 900 and f.context == CONTEXT and f.horizon == HORIZON
    w = fs.windows("all", CONTEXT, HORIZON, 1)
    idx = [150, 700, 1500]
    origins = _origins(w, idx)
    bars = read_bars(Selection("crypto", "BTC", "15min"), root=root)
    x, last, past, t0, rng, ax = f.inputs(bars, origins)
    assert np.array_equal(x, w.x[idx]) and np.array_equal(last, w.last_close[idx])
    # the anchor's inputs too: the context returns (NaN where they span a gap) and t0
    assert np.array_equal(past, w.past[idx], equal_nan=True) and np.allclose(t0, w.t0_s[idx])
    assert np.array_equal(rng, w.past_range[idx], equal_nan=True)
    assert ax is None and w.anchor_x is None  # no har_anchor feature in this set
    # bars at 1 minute are resampled to the run's 15 minutes first: same inputs
    fine = read_bars(Selection("crypto", "BTC", "1min"), root=root)
    x2, last2, _, _, _, _ = f.inputs(fine, origins)
    assert np.allclose(x2, w.x[idx], atol=1e-5) and np.allclose(last2, w.last_close[idx])

    paths = f.forecast(bars, origins, n_steps=HORIZON, step_seconds=900, n_paths=64, seed=3)
    assert paths.shape == (3, 64, HORIZON + 1) and paths.dtype == np.float64
    assert np.array_equal(paths[:, :, 0], np.repeat(w.last_close[idx][:, None], 64, axis=1))
    assert np.isfinite(paths).all() and (paths > 0).all()
    again = f.forecast(bars, origins, n_steps=HORIZON, step_seconds=900, n_paths=64, seed=3)
    assert np.array_equal(paths, again)
    # same as running the model by hand on the training windows with the same generator
    model = load_model("fc", store=env.store)
    ref = model(torch.from_numpy(np.ascontiguousarray(w.x[idx])), torch.from_numpy(w.last_close[idx]).float(), 64,
                generator=torch.Generator().manual_seed(3), past=torch.from_numpy(w.past[idx]),
                t0=torch.from_numpy(w.t0_s[idx]), past_range=torch.from_numpy(w.past_range[idx])).paths
    assert np.allclose(paths[:, :, 1:], ref[:, :, 1:].detach().double().numpy(), rtol=1e-5)


def test_forecaster_grid_and_history_errors(trained):
    env, root, fs = trained
    f = load_forecaster("fc", store=env.store, device="cpu", root=root)
    w = fs.windows("all", CONTEXT, HORIZON, 1)
    bars = read_bars(Selection("crypto", "BTC", "15min"), root=root)
    origins = _origins(w, [400])
    # an hourly task step: paths stay on the model's 15-minute grid, covering 2 hours
    p = f.forecast(bars, origins, n_steps=2, step_seconds=3600, n_paths=8)
    assert p.shape == (1, 8, 9)
    assert f.grid_steps(2, 300) == 1  # 10 minutes need one 15-minute step
    with pytest.raises(SpecError, match="forecasts 8 steps of 900 s .*needs 3 h"):
        f.forecast(bars, origins, n_steps=3, step_seconds=3600, n_paths=8)
    with pytest.raises(DataError, match="feature rows up to origin"):
        f.forecast(bars.head(20), origins, n_steps=HORIZON, step_seconds=900, n_paths=8)
    assert f.forecast(bars, [], n_steps=HORIZON, step_seconds=900).shape == (0, 1000, HORIZON + 1)
