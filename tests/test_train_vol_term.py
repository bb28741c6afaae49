"""The 1h training loss under validator 2026-09 includes the volatility term (issue 21).

A tiny recommended-preset model is trained a few steps on the 1h task (1-minute features and
paths) for each validator version; the loss the loop optimises at its first step is captured
and recomputed independently: the price part with ``synth_loss_torch`` on the 2026-05 task
(no volatility blocks), the volatility part with a plain numpy loop written from the rules
(block volatilities, ddof=1, almost-fair CRPS, weights 5.25/3, 5.25/12, 5.25/36). Under 2026-09
the loss is (price + vol) / 138 terms, under 2026-05 price / 121; run.json records the version.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from train_support import make_featureset, tiny_config

from synthwb.scoring.synth import get_task, synth_loss_torch
from synthwb.store import runs
from synthwb.train import loop, trainer

BP = 1e4


def _af_crps(x: np.ndarray, y: float, alpha: float) -> float:
    """Almost-fair CRPS by its pairwise definition: mean|x - y| - (1 - eps) / (2 n (n-1)) sum_ij |x_i - x_j|,
    eps = (1 - alpha) / n."""
    n = x.size
    eps = (1.0 - alpha) / n
    return float(np.abs(x - y).mean() - (1.0 - eps) * np.abs(x[:, None] - x[None, :]).sum() / (2 * n * (n - 1)))


def _vol_part(paths: np.ndarray, real: np.ndarray, alpha: float) -> np.ndarray:
    """Weighted volatility CRPS per sample (B,), from the rules: 1-minute simple returns in bps, consecutive
    blocks of 60, 15 and 5 returns, std with ddof=1 (realised: NaN returns skipped, < 2 returns -> skipped)."""
    out = np.zeros(paths.shape[0])
    for b in range(paths.shape[0]):
        r_sim = np.diff(paths[b], axis=-1) / paths[b][:, :-1] * BP  # (P, 60)
        r_real = np.diff(real[b]) / real[b][:-1] * BP
        for k, w in ((60, 5.25 / 3), (15, 5.25 / 12), (5, 5.25 / 36)):
            for j in range(r_real.size // k):
                blk = r_real[j * k:(j + 1) * k]
                blk = blk[~np.isnan(blk)]
                if blk.size < 2:
                    continue
                sim = r_sim[:, j * k:(j + 1) * k].std(axis=1, ddof=1)
                out[b] += w * _af_crps(sim, blk.std(ddof=1), alpha)
    return out


def _first_step_loss(monkeypatch, store, root, version: str) -> tuple[str, dict]:
    seen: dict = {}
    real_loss = trainer.training_loss

    def spy(paths, future, last_close, config, step_seconds=None):
        value = real_loss(paths, future, last_close, config, step_seconds)
        if not seen:
            seen.update(paths=paths.detach().double().numpy().copy(), future=future.detach().double().numpy().copy(),
                        value=float(value.detach()), alpha=config.alpha, step=step_seconds,
                        validator=config.validator)
        return value

    monkeypatch.setattr(trainer, "training_loss", spy)  # where the training step looks it up
    cfg = tiny_config(loss="synth", synth_task="1h", validator=version, max_steps=3, batch_size=4, n_paths_train=16,
                      n_paths_eval=32, max_val_batches=1, val_every=3, calibrate=False, stride=97)
    info = loop.train(f"vol-{version}", "tiny1m", "anchored-term", cfg, store=store, root=root, context=32)
    assert info.status == "finished", (info.status, info.error)
    return info.run_id, seen


@pytest.fixture
def tiny_1m(tmp_path, demo_lake):
    store = tmp_path / "store"
    make_featureset(demo_lake, store, name="tiny1m", freq="1min")
    return store


def test_vol_term_in_the_1h_training_loss(monkeypatch, tiny_1m, demo_lake):
    store = tiny_1m
    t05, t09 = get_task("1h", "2026-05"), get_task("1h", "2026-09")
    assert (t05.n_terms(60), t09.n_terms(60)) == (121, 138)  # 17 volatility blocks: 1 + 4 + 12

    losses = {}
    for version in ("2026-09", "2026-05"):
        run_id, seen = _first_step_loss(monkeypatch, store, demo_lake, version)
        assert seen["validator"] == version and seen["step"] == 60
        assert seen["paths"].shape[1:] == (16, 61)  # 1-minute paths over the hour, t0 included
        assert runs.load_run(run_id, store).info["config"]["validator"] == version
        p, y = seen["paths"], seen["future"]
        price = synth_loss_torch(torch.from_numpy(p), torch.from_numpy(y), t05, 60, fair=seen["alpha"]).numpy()
        vol = _vol_part(p, y, seen["alpha"])
        assert (vol > 0).all()
        # the 2026-09 torch score is the same price part plus the independently computed vol part
        full = synth_loss_torch(torch.from_numpy(p), torch.from_numpy(y), t09, 60, fair=seen["alpha"]).numpy()
        np.testing.assert_allclose(full, price + vol, rtol=1e-9)
        expected = ((price + vol) / 138).mean() if version == "2026-09" else (price / 121).mean()
        np.testing.assert_allclose(seen["value"], expected, rtol=2e-5)
        losses[version] = (seen["value"], (price / 121).mean(), ((price + vol) / 138).mean(), (vol / 138).mean())

    # same seed, same first batch and paths: only the objective differs; the vol term is a small share of it
    v09, v05 = losses["2026-09"], losses["2026-05"]
    np.testing.assert_allclose(v09[1], v05[1], rtol=1e-5)
    assert v09[0] != pytest.approx(v05[0], rel=1e-3)
    assert 0.002 < v09[3] / v09[0] < 0.1  # about 1% of the 1h score at initialisation
