"""The classical (HAR-RV) anchor: the feature is the least-squares log-HAR forecast, an untrained model
anchored on it has exactly its variance per horizon, and the forecaster feeds it as training did."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from train_support import tiny_config

from synthwb.core.errors import SpecError
from synthwb.data.schema import Selection
from synthwb.features.compute import compute_features
from synthwb.features.datasets import SplitSpec
from synthwb.features.featureset import create_featureset, save_featureset
from synthwb.features.realised import HAR_KNOTS, RV_WINDOWS, har_columns
from synthwb.features.registry import FeatureContext, FeatureSpec, default_spec
from synthwb.forecast.run import RunForecaster
from synthwb.models import build_model, get_preset
from synthwb.models.backbone import validate_spec
from synthwb.models.presets import PRESETS
from synthwb.train.data import WindowDataset
from synthwb.train.loop import train

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _har_spec(n_features: int = 3, horizon: int = 288, step: int = 300):
    return get_preset("anchored-har", n_features=n_features, context=16, horizon=horizon, bar_seconds=step)


def test_untrained_har_anchor_is_the_classical_variance_per_horizon():
    torch.manual_seed(0)
    model = build_model(_har_spec()).eval()
    B = 4
    ax = torch.tensor(np.random.default_rng(0).normal(-7.5, 0.6, (B, len(HAR_KNOTS))), dtype=torch.float64)
    x, last = torch.randn(B, 16, 3), torch.full((B,), 100.0)
    out = model(x, last, 8, torch.Generator().manual_seed(0), past=torch.zeros(B, 16), t0=None, anchor_x=ax)
    var = out.extras["vol"].double().square()          # the head's vol at init is the anchor's
    assert torch.allclose(out.extras["vol"], out.extras["anchor_vol"].to(out.extras["vol"].dtype))
    # increasing knots (log mean variance rising or falling): no floor binds for these draws
    for k, (_, h) in enumerate(HAR_KNOTS):
        steps = h // 300
        want = torch.exp(ax[:, k]) / 86400.0 * h       # mean variance per second x seconds
        got = var[:, :steps].sum(1)
        assert torch.allclose(got, want, rtol=1e-6, atol=0), (k, got, want)
    # without the classical forecasts the model says what is missing
    with pytest.raises(SpecError, match="har_anchor"):
        model(x, last, 8, past=torch.zeros(B, 16), t0=None)


def test_har_anchor_beyond_and_between_knots():
    """Steps past the last knot keep its mean variance per second; between knots the cumulative
    variance is interpolated (it never decreases)."""
    model = build_model(_har_spec(horizon=600, step=300)).eval()
    ax = torch.tensor([[-7.0, -7.3, -7.6]], dtype=torch.float64)
    v = model.anchor.step_variance(ax)[0]
    assert (v > 0).all()
    tail = math.exp(-7.6) / 86400.0 * 300
    assert torch.allclose(v[300:], torch.full_like(v[300:], tail), rtol=1e-9)


def test_har_anchor_spreads_each_knot_segment_by_the_hour_of_week_profile():
    """With a profile, a segment between two knots keeps its variance (the classical forecast to each
    knot) and its steps share it in proportion to the profile's factor at each step's middle."""
    prof = [1.0] * 168
    for h in range(168):
        prof[h] = 1.0 + (h % 24) / 6.0            # a daily ramp: hour 23 is 4.8 times hour 0
    prof[3] = 0.25
    flat = build_model(_har_spec(horizon=24, step=3600)).eval()
    shaped = build_model(_har_spec(horizon=24, step=3600).with_sizes(anchor_profile=prof)).eval()
    ax = torch.tensor([[-7.0, -7.3, -7.6], [-8.0, -7.5, -7.2]], dtype=torch.float64)
    t0 = torch.tensor([datetime(2024, 1, 1, tzinfo=UTC).timestamp(),      # a Monday 00:00
                       datetime(2024, 1, 3, 13, tzinfo=UTC).timestamp()], dtype=torch.float64)
    v0 = flat.anchor.shaped_variance(ax, t0)
    assert torch.equal(v0, flat.anchor.step_variance(ax))     # no profile: the flat spread as before
    v = shaped.anchor.shaped_variance(ax, t0)
    for b in range(2):
        start_hour = (int(t0[b]) // 3600 + 72) % 168             # hour of the week of step 1 (UTC)
        for lo, hi in ((0, 1), (1, 4), (4, 24)):                  # the knots 1h, 4h, 24h on hourly steps
            seg = slice(lo, hi)
            assert torch.allclose(v[b, seg].sum(), v0[b, seg].sum(), rtol=1e-12)
            p = torch.tensor([prof[(start_hour + j) % 168] for j in range(lo, hi)], dtype=torch.float64)
            want = v0[b, seg] * p / (v0[b, seg] * p).sum() * v0[b, seg].sum()
            assert torch.allclose(v[b, seg], want, rtol=1e-12)
    # Monday 03:00-04:00 (factor 0.25) gets far less than its flat share, hour 23 far more
    assert v[0, 3] < 0.5 * v0[0, 3] and v[0, 23] > 1.5 * v0[0, 23]
    out = shaped(torch.randn(2, 16, 3), torch.full((2,), 100.0), 4, torch.Generator().manual_seed(0),
                 past=torch.zeros(2, 16), t0=t0, anchor_x=ax)
    assert torch.allclose(out.extras["anchor_vol"].double().square(), v, rtol=1e-5)
    with pytest.raises(SpecError, match="168 positive"):
        _har_spec().with_sizes(anchor_profile=[1.0] * 24)
    with pytest.raises(SpecError, match="168 positive"):
        _har_spec().with_sizes(anchor_profile=[0.0] * 168)


def _fine(n_days: int = 45, seed: int = 3) -> pl.DataFrame:
    """1-minute bars with a slowly varying volatility and a two-hour gap."""
    rng = np.random.default_rng(seed)
    n = n_days * 1440
    vol = 0.001 * np.exp(0.5 * np.sin(np.arange(n) / (1440 * 6.0)))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1, n) * vol))
    ts = pl.datetime_range(T0, T0 + timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC")
    df = pl.DataFrame({"ts": ts, "open": close, "high": close * 1.0005, "low": close * 0.9995, "close": close,
                       "volume": np.ones(n)}).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    return df.filter((pl.col("ts") < T0 + timedelta(days=20)) | (pl.col("ts") >= T0 + timedelta(days=20, hours=2)))


def test_har_feature_is_the_least_squares_fit_on_the_training_period():
    fine = _fine()
    hourly = fine.group_by_dynamic("ts", every="1h").agg(
        pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
        pl.col("volume").sum())
    fit_end = T0 + timedelta(days=30)
    spec = FeatureSpec(freq="1h", features=[{"name": "har_anchor", "params": {"measure": "close", "seasonal": "off"}},
                                            "realised_var"], dropna=False)
    ctx = FeatureContext("crypto", "1h", fit_end=fit_end, finest=fine)
    out = compute_features(hourly, spec, ctx)

    # an independent HAR: brute-force trailing/forward means of squared 1-minute returns per second
    ts = fine["ts"].dt.epoch("s").to_numpy()
    c = fine["close"].to_numpy()
    regular = np.diff(ts) == 60
    r, r_close = np.log(c[1:] / c[:-1])[regular], ts[1:][regular] + 60
    row_close = hourly["ts"].dt.epoch("s").to_numpy() + 3600

    def mean_sq(lo, hi):
        m = (r_close > lo) & (r_close <= hi)
        return (r[m] ** 2).sum() / (m.sum() * 60) if m.any() else np.nan

    rv = np.array([[mean_sq(t - w, t) for _, w in RV_WINDOWS] for t in row_close])
    X = np.column_stack([np.ones(len(rv)), np.log(rv * 86400)])
    month = rv[:, -1]
    np.testing.assert_allclose(out["frv_1d"].to_numpy(), X[:, 2], rtol=1e-9)
    end = fit_end.timestamp()
    for (lab, h) in HAR_KNOTS:
        y = np.array([mean_sq(t, t + h) for t in row_close])
        n = np.array([((r_close > t) & (r_close <= t + h)).sum() for t in row_close])
        keep = (row_close + h <= end) & (n >= h / 60 / 3) & np.isfinite(X).all(1) & (y > 0)
        # 30 days of history before fit_end: the month's window (over half of it) is left out of the fit
        beta = np.r_[np.linalg.lstsq(X[keep][:, :4], np.log(y[keep] * 86400), rcond=None)[0], 0.0]
        pred = np.clip(np.exp(X[:, :4] @ beta[:4]) / 86400, 0.2 * month, 20 * month)
        got = out[f"har_lv_{lab}"].to_numpy()
        ok = np.isfinite(pred)
        np.testing.assert_allclose(got[ok], np.log(pred[ok] * 86400), rtol=1e-7, err_msg=lab)
        assert ctx.fitted["har_anchor"][HAR_KNOTS.index((lab, h))] == pytest.approx(beta.tolist(), rel=1e-6)
    # the fitted coefficients are reused as they are on any other history
    ctx2 = FeatureContext("crypto", "1h", fit_end=None, finest=fine.tail(47000), fitted=dict(ctx.fitted))
    again = compute_features(hourly.tail(300), spec, ctx2)
    np.testing.assert_allclose(again["har_lv_24h"].to_numpy()[-50:], out["har_lv_24h"].to_numpy()[-50:], rtol=1e-9)


def test_presets_validate_and_the_default_spec_feeds_the_har_anchor():
    for name in PRESETS:
        rows = validate_spec(get_preset(name, n_features=5, context=64, horizon=24, bar_seconds=300))
        assert rows
    assert set(har_columns()) <= set(default_spec("5min", realised=True).columns())


def test_har_run_trains_and_forecasts_from_the_same_inputs(lake_env, demo_lake):
    spec = FeatureSpec(freq="15min", include_ohlcv=False, features=(
        {"name": "log_return", "params": {"periods": 1}}, {"name": "realised_var", "params": {}},
        {"name": "har_anchor", "params": {}}))
    fs = create_featureset("har15", Selection("crypto", "BTC", "15min"), spec, SplitSpec(), root=demo_lake)
    save_featureset(fs, lake_env.store)
    assert fs.fitted["har_anchor"] and len(fs.fitted["har_anchor"]["coefs"]) == len(HAR_KNOTS)
    info = train("har", "har15", "anchored-har", tiny_config(max_steps=3, loss="crps"), store=lake_env.store,
                 root=demo_lake, context=16, horizon=8)
    assert info.status == "finished", info.error
    # the run's spec carries the feature set's hour-of-week profile (its anchor's spread between knots)
    from synthwb.store.runs import load_run

    saved = load_run(info.run_id, lake_env.store).info["model_spec"]["anchor_profile"]
    assert saved == pytest.approx(fs.fitted["har_anchor"]["factor"], abs=1e-4) and len(saved) == 168
    w = fs.windows("test", 16, 8, 1, root=demo_lake)
    assert w.anchor_x.shape == (len(w), len(HAR_KNOTS)) and np.isfinite(w.anchor_x).all()
    f = RunForecaster(info.run_id, store=lake_env.store, device="cpu", root=demo_lake)
    from synthwb.data.lake import read_bars

    bars = read_bars(Selection("crypto", "BTC", "15min"), root=demo_lake)
    idx = [5, len(w) - 1]
    origins = [w.origin_ts[i].astype("datetime64[us]").item().replace(tzinfo=UTC) for i in idx]
    *_, ax = f.inputs(bars, origins)
    np.testing.assert_allclose(ax, w.anchor_x[idx], rtol=1e-9)
    b = WindowDataset(w)[torch.as_tensor(idx)]
    assert torch.allclose(b.anchor_x.double(), torch.from_numpy(w.anchor_x[idx]), rtol=1e-6)
    assert f.model.anchor.profile is not None and torch.allclose(f.model.anchor.profile.float(),
                                                                   torch.tensor(saved, dtype=torch.float32))
    paths = f.forecast(bars, origins, n_steps=8, step_seconds=900, n_paths=16, seed=0)
    assert paths.shape == (2, 16, 9) and np.isfinite(paths).all()


def test_calibration_by_horizon_bucket():
    from synthwb.models.backbone import bucket_profile
    from synthwb.scoring.synth import get_task
    from synthwb.train.calibrate import bucket_ends

    assert bucket_ends(get_task("24h"), 300) == [3600.0, 21600.0]
    assert bucket_ends(get_task("1h"), 60) == [120.0, 900.0]
    prof = bucket_profile(288, 300, [0.9, 1.0, 1.1], [3600.0, 21600.0])
    assert prof[:12] == [0.9] * 12 and prof[12:72] == [1.0] * 60 and prof[72:] == [1.1] * 216
    assert bucket_profile(5, 300) == [1.0] * 5
    # applied at forecast time: the anchored vol of each step times its bucket's scale
    torch.manual_seed(0)
    model = build_model(_har_spec()).eval()
    ax = torch.full((2, len(HAR_KNOTS)), -7.5, dtype=torch.float64)
    args = (torch.randn(2, 16, 3), torch.full((2,), 100.0), 4)
    kw = {"past": torch.zeros(2, 16), "t0": None, "anchor_x": ax}
    base = model(*args, torch.Generator().manual_seed(0), **kw).extras["vol"]
    model.set_calibration(1.2, 1.0, [0.9, 1.0, 1.1], [3600.0, 21600.0])
    cal = model(*args, torch.Generator().manual_seed(0), **kw).extras["vol"]
    want = base * 1.2 * torch.tensor(prof, dtype=base.dtype)
    assert torch.allclose(cal, want, rtol=1e-5)
