"""Moirai checkpoints and zero-shot forecasts with the tiny real module (no mocks)."""
from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from moirai_support import btc5_bars, fs5_fixture, tiny_ckpt_fixture  # noqa: F401 - fixtures

from synthwb.core.errors import DataError, NotFound, SpecError


def _spec(ckpt, **kw):
    base = {"checkpoint": str(ckpt), "context": 128, "horizon": 24, "patch_size": 16, "samples": 200}
    base.update(kw)
    return base


# ----------------------------------------------------------------------------- checkpoints


def test_tiny_checkpoint_loads_from_its_folder(tiny_ckpt, tmp_path):
    from safetensors.torch import load_file

    from synthwb.moirai.checkpoints import CATALOGUE, load_checkpoint

    assert (tiny_ckpt / "config.json").is_file() and (tiny_ckpt / "model.safetensors").is_file()
    loaded = load_checkpoint(tiny_ckpt, cache=False)
    m = loaded.module
    assert (m.d_model, m.num_layers, tuple(m.patch_sizes), m.max_seq_len) == (64, 2, (8, 16, 32, 64, 128), 512)
    saved = load_file(str(tiny_ckpt / "model.safetensors"))
    state = m.state_dict()
    assert set(saved) <= set(state)
    assert all(np.array_equal(saved[k].numpy(), state[k].numpy()) for k in saved)
    assert loaded.info["family"] == "moirai" and loaded.info["n_params"] == sum(p.numel() for p in m.parameters())
    assert all(c.licence == "CC-BY-NC-4.0" for c in CATALOGUE.values())
    assert {"Salesforce/moirai-1.1-R-small", "Salesforce/moirai-1.1-R-base", "Salesforce/moirai-1.1-R-large",
            "Salesforce/moirai-moe-1.0-R-small", "Salesforce/moirai-moe-1.0-R-base"} <= set(CATALOGUE)
    assert not CATALOGUE["Salesforce/moirai-moe-1.0-R-small"].finetune

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_ckpt / "config.json").read_text())
    with pytest.raises(SpecError, match="model.safetensors"):
        load_checkpoint(broken)
    with pytest.raises(SpecError, match="neither a folder"):
        load_checkpoint("no such thing")


def test_hub_id_without_network_says_how_to_download(monkeypatch):
    import huggingface_hub.constants as hc

    from synthwb.moirai.checkpoints import load_checkpoint

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(NotFound, match="huggingface-cli download Salesforce/moirai-1.1-R-small --local-dir"):
        load_checkpoint("Salesforce/moirai-1.1-R-small", cache=False)


def test_spec_and_token_budget():
    from synthwb.moirai.forecast import MoiraiSpec, token_budget

    s = MoiraiSpec.parse({"checkpoint": "x", "context": 512, "horizon": 288, "patch_size": 32,
                          "covariates": "high, low,volume"})
    assert s.covariates == ["high", "low", "volume"]
    b = token_budget(s, max_seq_len=512)
    assert b["tokens"] == 4 * math.ceil(800 / 32) == 100 and not b["over"]
    big = MoiraiSpec.parse(s, patch_size="auto", covariates=["high", "low", "volume", "open", "rsi_14"])
    b2 = token_budget(big, (8, 16, 32, 64, 128), 512)
    assert b2["tokens"] == 6 * 100 and b2["over"] and "max_seq_len 512" in b2["warning"]
    with pytest.raises(SpecError, match="patch_size"):
        MoiraiSpec.parse({"checkpoint": "x", "patch_size": "big"})
    with pytest.raises(SpecError, match="context"):
        MoiraiSpec.parse({"checkpoint": "x", "context": 2})


# ----------------------------------------------------------------------------- tensor path


def _packed(seed=0, B=3, L=96, C=2, short=40):
    rng = np.random.default_rng(seed)
    tgt = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (B, L)), axis=1))
    obs = np.ones((B, L), bool)
    pad = np.zeros((B, L), bool)
    pad[0, : L - short] = True          # a short history, left-padded
    obs[0, : L - short] = False
    tgt[0, : L - short] = 0.0
    obs[1, 50] = False                  # a missing value, unobserved
    tgt[1, 50] = 0.0
    cov = rng.normal(size=(B, L, C)).astype(np.float32)
    cov_obs = np.ones((B, L, C), bool)
    return tgt.astype(np.float32), obs, pad, cov, cov_obs


def test_tensor_path_gives_the_gluonts_predictors_samples(tiny_ckpt):
    """uni2ts's own forward on tensors ("full") = the gluonts predictor, sample for sample."""
    import pandas as pd
    import torch

    from synthwb.moirai.checkpoints import load_checkpoint
    from synthwb.moirai.forecast import forecast_module, pandas_freq, sample_tensors

    module = load_checkpoint(tiny_ckpt).module
    L, H, S = 96, 20, 50
    tgt, _, pad, cov, cov_obs = _packed(L=L, short=L)  # full histories: gluonts pads nothing itself
    tgt[1, 50] = np.nan
    obs_nan = np.isfinite(tgt)
    ours = sample_tensors(module, tgt, obs_nan, pad, cov, cov_obs, L, H, 16, S, seed=7, mode="full")
    fc = forecast_module(module, L, H, 16, cov.shape[-1], S)
    predictor = fc.create_predictor(batch_size=8, device="cpu")
    start = pd.Period("2024-01-01 00:00", freq=pandas_freq("5min"))
    data = [{"start": start, "target": tgt[i], "past_feat_dynamic_real": cov[i].T} for i in range(len(tgt))]
    torch.manual_seed(7)
    theirs = np.stack([f.samples for f in predictor.predict(data)])
    assert theirs.shape == ours.shape == (3, S, H)
    assert np.isfinite(ours).all()  # the NaN was marked unobserved, not fed to the mixture
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_fast_path_is_the_same_distribution(tiny_ckpt):
    """Sampling only the target's prediction tokens: the same predictive distribution (
    log densities equal to float precision) and sample quantiles within Monte-Carlo noise of uni2ts's path."""
    import torch

    from synthwb.moirai.checkpoints import load_checkpoint
    from synthwb.moirai.forecast import _fast_distr, forecast_module, sample_tensors

    module = load_checkpoint(tiny_ckpt).module
    L, H = 96, 24
    tgt, obs, pad, cov, cov_obs = _packed(L=L)
    fc = forecast_module(module, L, H, 16, 2)
    t, o, p = torch.tensor(tgt)[..., None], torch.tensor(obs)[..., None], torch.tensor(pad)
    c, co = torch.tensor(cov), torch.tensor(cov_obs)
    with torch.no_grad():
        full = fc._get_distr(16, t, o, p, past_feat_dynamic_real=c, past_observed_feat_dynamic_real=co)
        fast = _fast_distr(fc, 16, t, o, p, c, co)
        a = fc.context_token_length(16)
        grid = torch.linspace(90, 110, 41)[:, None, None, None]
        lp_full = full.log_prob(grid.expand(41, 3, full.batch_shape[1], full.batch_shape[2]))[:, :, a:a + 2, :16]
        lp_fast = fast.log_prob(grid.expand(41, 3, 2, 16))
    assert np.isfinite(lp_fast.numpy()).mean() > 0.5
    np.testing.assert_allclose(lp_fast.numpy(), lp_full.numpy(), rtol=1e-3, atol=2e-3)  # float32 matmuls
    S = 2000
    f_s = sample_tensors(module, tgt, obs, pad, cov, cov_obs, L, H, 16, S, seed=1, mode="fast")
    u_s = sample_tensors(module, tgt, obs, pad, cov, cov_obs, L, H, 16, S, seed=2, mode="full")
    for q in (0.25, 0.5, 0.75):
        qf, qu = np.quantile(f_s, q, axis=1), np.quantile(u_s, q, axis=1)
        iqr = np.quantile(u_s, 0.75, axis=1) - np.quantile(u_s, 0.25, axis=1)
        # the standard error of a sample quantile is about iqr / sqrt(S); allow 6 of them
        assert (np.abs(qf - qu) <= 6 * iqr / math.sqrt(S) + 1e-3).mean() > 0.97
    # seeded: the same seed gives the same samples, another seed others
    again = sample_tensors(module, tgt, obs, pad, cov, cov_obs, L, H, 16, S, seed=1, mode="fast")
    assert np.array_equal(f_s, again)
    assert not np.array_equal(f_s[:, :10], u_s[:, :10])


# ----------------------------------------------------------------------------- forecaster


def test_forecaster_contract_on_the_demo_lake(tiny_ckpt, fs5, demo_lake):
    from synthwb.moirai.forecast import MoiraiForecaster

    fs, _ = fs5
    bars = btc5_bars(demo_lake)
    f = MoiraiForecaster(_spec(tiny_ckpt, covariates=["volume", "rsi_14"]), fs, root=demo_lake)
    from synthwb.features.compute import warmup_bars

    assert (f.step_seconds, f.context_bars) == (300, 128 + warmup_bars(fs.feature_spec) + 1)
    assert f.context_days > 128 * 300 / 86400
    origins = [bars["ts"][1000], bars["ts"][2000] + timedelta(minutes=2), bars["ts"][3000]]
    paths = f.forecast(bars, origins, 12, 300, n_paths=64, seed=3)
    assert paths.shape == (3, 64, 13) and paths.dtype == np.float64
    for i, o in enumerate(origins):
        last = float(bars.filter(bars["ts"] <= o)["close"][-1])
        assert (paths[i, :, 0] == last).all()
        # a tiny random model still forecasts near the level it was given
        assert 0.5 * last < np.median(paths[i, :, -1]) < 2 * last
    assert (paths > 0).all() and np.isfinite(paths).all()
    np.testing.assert_array_equal(paths, f.forecast(bars, origins, 12, 300, n_paths=64, seed=3))
    assert not np.array_equal(paths[:, :, 1:], f.forecast(bars, origins, 12, 300, n_paths=64, seed=4)[:, :, 1:])
    # a coarser task step: the paths stay on the model's 5-minute grid
    assert f.forecast(bars, origins[:1], 4, 900, n_paths=8).shape == (1, 8, 13)
    with pytest.raises(SpecError, match="Use a longer horizon"):
        f.grid_steps(25, 300)
    # 1000 paths x 24 steps in one call
    assert f.forecast(bars, origins[:2], 24, 300, n_paths=1000).shape == (2, 1000, 25)


def test_short_history_nan_and_logret(tiny_ckpt, fs5, demo_lake):
    import polars as pl

    from synthwb.moirai.forecast import MoiraiForecaster

    fs, _ = fs5
    bars = btc5_bars(demo_lake).head(600)
    bars = bars.with_columns(pl.when(pl.int_range(pl.len()) == 580).then(None).otherwise(pl.col("close"))
                             .alias("close"))
    f = MoiraiForecaster(_spec(tiny_ckpt, covariates=["high"]), fs)
    inp = f.inputs(bars, [bars["ts"][49], bars["ts"][590]])
    assert inp["is_pad"][0].sum() == 128 - 50 and not inp["is_pad"][1].any()
    assert not inp["observed"][0, :78].any() and inp["observed"][0, 78:].all()
    assert inp["observed"][1].sum() == 127  # the NaN close is unobserved
    paths = f.forecast(bars, [bars["ts"][49], bars["ts"][590]], 24, 300, n_paths=100)
    assert np.isfinite(paths).all() and (paths > 0).all()
    g = MoiraiForecaster(_spec(tiny_ckpt, target="logret", covariates=["close", "volume"]), fs)
    p2 = g.forecast(bars, [bars["ts"][300]], 24, 300, n_paths=100)
    assert (p2[0, :, 0] == float(bars["close"][300])).all() and (p2 > 0).all()
    with pytest.raises(DataError, match="no bar at or before"):
        f.forecast(bars, [bars["ts"][0] - timedelta(days=1)], 6, 300, n_paths=4)


def test_auto_patch_and_bad_inputs(tiny_ckpt, fs5, demo_lake):
    from synthwb.moirai.forecast import MoiraiForecaster

    fs, _ = fs5
    bars = btc5_bars(demo_lake)
    f = MoiraiForecaster(_spec(tiny_ckpt, patch_size="auto", context=64, horizon=16), fs)
    assert f.context_bars == 64 + 16 + 1
    p = f.forecast(bars, [bars["ts"][500], bars["ts"][900]], 16, 300, n_paths=50)
    assert p.shape == (2, 50, 17) and (p > 0).all()
    with pytest.raises(SpecError, match="unknown covariate"):
        MoiraiForecaster(_spec(tiny_ckpt, covariates=["nope"]), fs)
    with pytest.raises(SpecError, match="not one of the model's patch sizes"):
        MoiraiForecaster(_spec(tiny_ckpt, patch_size=24), fs)
    with pytest.raises(SpecError, match="close is the target"):
        MoiraiForecaster(_spec(tiny_ckpt, covariates=["close"]), fs)
    with pytest.warns(UserWarning, match="max_seq_len"):
        MoiraiForecaster(_spec(tiny_ckpt, context=4096, horizon=288, patch_size=8), fs)
