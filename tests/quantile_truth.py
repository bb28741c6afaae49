"""Known processes for the quantiles-to-paths quality test (tests/test_forecast_quantiles.py and
bench/bench_quantiles.py): their exact marginal quantiles, their own paths, and the score of
the layer's paths against the score of the process's own paths on the same realisations.

- ``gbm``: geometric Brownian motion (a martingale in price), daily volatility 2.5%;
  the quantiles of the cumulative log return are exact (normal).
- ``sv``: stochastic volatility, ``log sigma_t = log sigma + y_t``, ``y`` a stationary
  Gaussian AR(1) (log-sd 0.4, half-life 6 h) whose state the forecaster does not know (it
  starts from the stationary law). Given the volatility path the log return is normal with the
  integrated variance, so the marginal CDF is a mixture of normals over Monte-Carlo
  volatility paths (``n_vol`` of them, Rao-Blackwellised: smooth, no sample-quantile noise),
  inverted by Newton's method.

Every forecast is made at the same (unknown) state, so one forecast serves many realisations;
the realisations are common to the layer and the truth (common random numbers), and both
forecasts are drawn ``n_ens`` times with different seeds.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

from synthwb.forecast.quantiles import MOIRAI2_LEVELS, paths_from_quantiles
from synthwb.scoring.synth import get_task, score_batch

DAY = 86400.0
SIGMA = 0.025 / math.sqrt(DAY)  # per sqrt(second)
SV_S, SV_HALF_LIFE = 0.4, 6 * 3600.0


def _vol_paths(process: str, n: int, n_steps: int, dt: float, rng) -> np.ndarray:
    """Per-step volatilities ``(n, n_steps)`` (per sqrt(second))."""
    if process == "gbm":
        return np.full((n, n_steps), SIGMA)
    a = math.exp(-math.log(2) * dt / SV_HALF_LIFE)
    y = np.empty((n, n_steps))
    y[:, 0] = SV_S * rng.standard_normal(n)
    e = math.sqrt(1 - a * a) * SV_S * rng.standard_normal((n, n_steps))
    for k in range(1, n_steps):
        y[:, k] = a * y[:, k - 1] + e[:, k]
    return SIGMA * np.exp(y - SV_S ** 2)  # E[sigma^2] = SIGMA^2


def true_paths(process: str, n: int, n_steps: int, dt: float, rng) -> np.ndarray:
    """Paths of the cumulative log return ``(n, n_steps + 1)`` (column 0 = 0)."""
    sig = _vol_paths(process, n, n_steps, dt, rng)
    inc = sig * math.sqrt(dt) * rng.standard_normal((n, n_steps)) - 0.5 * sig ** 2 * dt
    out = np.zeros((n, n_steps + 1))
    out[:, 1:] = np.cumsum(inc, axis=1)
    return out


def true_quantiles(process: str, n_steps: int, dt: float, levels=MOIRAI2_LEVELS, n_vol: int = 4000,
                   seed: int = 12345) -> np.ndarray:
    """Quantiles ``(n_steps, K)`` of the cumulative log return at ``dt, 2 dt, ...``."""
    p = np.asarray(levels, dtype=np.float64)
    if process == "gbm":
        iv = SIGMA ** 2 * dt * np.arange(1, n_steps + 1)
        return (-0.5 * iv[:, None] + np.sqrt(iv)[:, None] * ndtri(p)[None, :])
    sig = _vol_paths(process, n_vol, n_steps, dt, np.random.default_rng(seed))
    iv = np.cumsum(sig ** 2 * dt, axis=1)  # (n_vol, T)
    sd = np.sqrt(iv)
    x = -0.5 * iv.mean(0)[:, None] + np.sqrt(iv.mean(0))[:, None] * ndtri(p)[None, :]  # (T, K)
    for _ in range(30):
        zz = (x[None, :, :] + 0.5 * iv[:, :, None]) / sd[:, :, None]
        F = ndtr(zz).mean(0)
        f = (np.exp(-0.5 * zz * zz) / sd[:, :, None]).mean(0) / math.sqrt(2 * math.pi)
        step = (F - p[None, :]) / f
        x = x - step
        if np.abs(step).max() < 1e-12:
            break
    return x


def compare(process: str, task_name: str, n_real: int = 200, n_ens: int = 4, n_paths: int = 1000,
            seed: int = 0, n_vol: int = 4000, levels=MOIRAI2_LEVELS, validator: str | None = None,
            vol_mixing="auto") -> dict:
    """Mean Synth score of the layer's paths and of the process's own paths over the same
    ``n_real`` realisations; ``ratio`` = layer / truth and the paired standard error of it.
    ``vol_mixing``: passed to the layer (0: a plain Gaussian copula, the negative control)."""
    task = get_task(task_name, validator)
    dt, T = float(task.step_seconds), task.n_points - 1
    rng = np.random.default_rng([seed, 1])
    real = 100.0 * np.exp(true_paths(process, n_real, T, dt, rng))
    q = true_quantiles(process, T, dt, levels, n_vol=n_vol)
    grid = dt * np.arange(1, T + 1)
    layer, truth = np.empty(n_real), np.empty(n_real)
    vol = {"layer": np.zeros(n_real), "truth": np.zeros(n_real)}
    per = -(-n_real // n_ens)
    for e in range(n_ens):
        rows = slice(e * per, min(n_real, (e + 1) * per))
        k = rows.stop - rows.start
        if k <= 0:
            break
        lp = paths_from_quantiles(levels, q[None], grid, grid, np.array([100.0]), n_paths, seed=seed * 1000 + e,
                                  vol_mixing=vol_mixing)[0]
        tp = 100.0 * np.exp(true_paths(process, n_paths, T, dt, np.random.default_rng([seed, 2, e])))
        for which, paths, out in (("layer", lp, layer), ("truth", tp, truth)):
            sc = score_batch(np.broadcast_to(paths, (k,) + paths.shape).copy(), real[rows], task, threads=1)
            assert sc.valid.all(), (which, sc.reasons)
            out[rows] = sc.totals
            for name, t in sc.terms.items():
                if name.startswith("vol_"):
                    vol[which][rows] += np.nansum(t, axis=1)
    d = (layer - truth) / truth.mean()  # paired: common realisations
    return {"process": process, "task": task.name, "layer": float(layer.mean()), "truth": float(truth.mean()),
            "ratio": float(layer.mean() / truth.mean()), "se": float(d.std(ddof=1) / math.sqrt(n_real)),
            "n_real": n_real, "n_ens": n_ens,
            "vol_ratio": float(vol["layer"].mean() / vol["truth"].mean()) if vol["truth"].any() else None,
            "vol_truth": float(vol["truth"].mean()),
            "vol_se": float(((vol["layer"] - vol["truth"]) / max(vol["truth"].mean(), 1e-300)).std(ddof=1)
                            / math.sqrt(n_real))}
