"""The training gate: what training learned is kept only where validation shows it beyond noise.

An anchored model untrained is its classical forecast (:mod:`synthwb.models.anchor`: the head's last
layer starts at zero). The best checkpoint is the lowest of about ten validations of 128 windows, so on
a few weeks of bars it often beats the untrained model on validation by luck and loses to it on test:
on the quality panel's 1-minute BTC (14 days) every fold's trained network scored 0.6-4% worse on test
than its untrained anchor, after validation gains of 0.05-0.7% (``bench/bench_quality.py``, README).

So after training, the best checkpoint and the untrained model forecast the same validation windows
(the calibration's, up to ``calibration_windows``; common random numbers), and the trained weights are
kept only when their mean exact task score is lower with a Diebold-Mariano statistic below
``-GATE_T`` (one-sided 5%; Newey-West over the lags the windows' horizons overlap,
:func:`synthwb.core.dm.dm_test`) and by at least the calibration's ``MIN_GAIN`` (0.05%): with common
random numbers a change of a millionth that moves every window alike is "significant" too. Otherwise
the untrained weights become the run's best, and the calibration and the blend start from them.
``TrainConfig.gate`` (``train --no-gate``) turns it off.
"""
from __future__ import annotations

import numpy as np
import torch

from synthwb.core.dm import dm_test, overlap_lag
from synthwb.models import build_model
from synthwb.train.calibrate import MIN_GAIN
from synthwb.train.losses import exact_score

GATE_T = 1.645          # one-sided 5%: the trained weights must beat the untrained model by this many standard errors
MIN_WINDOWS = 30        # fewer validation windows: no test, the trained weights stay


def untrained_model(spec, seed: int):
    """The model a run's training started from: ``spec`` built right after ``torch.manual_seed(seed)``, as
    the trainer builds it, without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_model(spec)


@torch.no_grad()
def window_scores(model, ds, task, step_seconds: int, n_paths: int, batch_size: int,
                  device: torch.device | str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-window exact task scores of ``model`` over ``ds`` and the windows' t0 (epoch seconds); the noise
    is drawn from ``seed`` alone, so two models of one architecture see the same draws."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(int(seed) + 991)
    scores, t0 = [], []
    for b in ds.batches(batch_size):
        b = b.to(device)
        out = model(b.x, b.last_close, int(n_paths), generator=gen, **b.anchor)
        scores.append(np.asarray(exact_score(out.paths, b.future, task, step_seconds), dtype=np.float64))
        t0.append(b.t0.double().cpu().numpy())
    return np.concatenate(scores), np.concatenate(t0)


def gate_training(trained, untrained, ds, task, step_seconds: int, n_paths: int = 256, batch_size: int = 32,
                  device: torch.device | str = "cpu", seed: int = 0) -> dict:
    """Whether the ``trained`` model beats the ``untrained`` one on the windows ``ds`` beyond noise:
    ``kept`` (bool), the DM statistic ``dm_stat`` of the per-window differences (trained minus untrained),
    both mean scores, ``n_windows``, the ``lag`` and the ``threshold``."""
    st, t0 = window_scores(trained, ds, task, step_seconds, n_paths, batch_size, device, seed)
    su, _ = window_scores(untrained, ds, task, step_seconds, n_paths, batch_size, device, seed)
    ok = np.isfinite(st) & np.isfinite(su)
    out = {"n_windows": int(ok.sum()), "threshold": -GATE_T,
           "val_score_trained": float(st[ok].mean()) if ok.any() else None,
           "val_score_untrained": float(su[ok].mean()) if ok.any() else None}
    if ok.sum() < MIN_WINDOWS:
        return {**out, "kept": True, "dm_stat": None, "lag": None,
                "reason": f"fewer than {MIN_WINDOWS} validation windows: not tested"}
    spacing = float(np.median(np.diff(np.sort(t0[ok]))))
    lag = overlap_lag(float(task.horizon_seconds), spacing)
    stat = dm_test(st[ok] - su[ok], lag)[0]
    gain = 1.0 - out["val_score_trained"] / out["val_score_untrained"]
    return {**out, "kept": bool(stat < -GATE_T and gain >= MIN_GAIN), "dm_stat": float(stat), "lag": int(lag),
            "gain": float(gain), "min_gain": MIN_GAIN}


def gate_text(gate: dict | None) -> str:
    """One line on a run's gate for the CLI and the pages ("" when the run was never gated)."""
    if not gate or gate.get("dm_stat") is None:
        return ""
    a, b = gate["val_score_trained"], gate["val_score_untrained"]
    if gate["kept"]:
        return (f"training kept: validation score {b:.1f} untrained -> {a:.1f} trained "
                f"(DM {gate['dm_stat']:+.2f} on {gate['n_windows']} windows)")
    why = (f"is within noise (DM {gate['dm_stat']:+.2f} > {gate['threshold']:.2f} on {gate['n_windows']} windows)"
           if gate["dm_stat"] >= gate["threshold"] else
           f"gains under {gate.get('min_gain', 0):.2%} (DM {gate['dm_stat']:+.2f} on {gate['n_windows']} windows)")
    return (f"training not kept: its validation score {a:.1f} against the untrained anchor's {b:.1f} {why}, so the "
            "run forecasts with its untrained classical anchor")
