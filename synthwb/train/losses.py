"""Training losses and diagnostics on simulated price paths.

Paths ``(B, n_paths, H+1)`` and the realised ``future`` ``(B, H+1)`` are prices including t0.
The CRPS losses compare them at every horizon step 1..H in one of two spaces, both scaled to
basis points so numbers read the same in logs, plots and the Synth scorer:

- ``relative``: ``(p / last_close - 1) * 1e4`` (simple return from t0, bps)
- ``logret``:   ``log(p / last_close) * 1e4`` (log return from t0, bps)

CRPS itself (sort-based O(n log n), standard and almost-fair) comes from
:mod:`synthwb.scoring.crps`; the Synth-style loss from :mod:`synthwb.scoring.synth`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from synthwb.scoring.crps import crps_almost_fair_torch, crps_ensemble_torch
from synthwb.scoring.synth import get_task, score_batch, synth_loss_torch
from synthwb.train.config import TrainConfig

BPS = 1e4


def to_space(prices: torch.Tensor, last_close: torch.Tensor, space: str = "relative") -> torch.Tensor:
    """Prices -> bps returns from t0. ``prices`` (B, ..., T), ``last_close`` (B,)."""
    shape = (last_close.shape[0],) + (1,) * (prices.dim() - 1)
    ratio = prices / last_close.reshape(shape)
    if space == "relative":
        return (ratio - 1.0) * BPS
    if space == "logret":
        return torch.log(ratio) * BPS
    raise ValueError(f"unknown space {space!r}")


def step_crps(paths: torch.Tensor, future: torch.Tensor, last_close: torch.Tensor,
              space: str = "relative", alpha: float | None = None) -> torch.Tensor:
    """CRPS per (sample, horizon step) ``(B, H)``; ``alpha`` given -> almost-fair CRPS."""
    x = to_space(paths[..., 1:], last_close, space).transpose(1, 2)  # (B, H, n)
    y = to_space(future[..., 1:], last_close, space)  # (B, H)
    if alpha is None:
        return crps_ensemble_torch(x, y)
    return crps_almost_fair_torch(x, y, alpha=alpha)


def task_points(task, step_seconds: int) -> int:
    """Points (t0 included) of ``task``'s horizon on a grid of ``step_seconds``."""
    return get_task(task).grid_points(step_seconds)


def synth_score(paths: torch.Tensor, future: torch.Tensor, task, step_seconds: int,
                alpha: float = 0.0) -> torch.Tensor:
    """The Synth-style score of each forecast (B,) on the model's grid over the task's horizon
    (longer paths are cut at it); ``alpha`` > 0 uses the almost-fair CRPS in every term."""
    n = task_points(task, step_seconds)
    if paths.shape[-1] < n:
        raise ValueError(f"paths of {paths.shape[-1]} points do not cover the task's {n}")
    return synth_loss_torch(paths[..., :n], future[..., :n], task, step_seconds, reduction="none", fair=alpha)


def objective(paths: torch.Tensor, future: torch.Tensor, last_close: torch.Tensor,
              config: TrainConfig, step_seconds: int | None = None) -> torch.Tensor:
    """Per-sample objective (B,) that training minimises and validation selects on."""
    paths = paths.float()
    if config.loss == "crps":
        return step_crps(paths, future, last_close, config.space).mean(dim=1)
    if config.loss == "afcrps":
        return step_crps(paths, future, last_close, config.space, alpha=config.alpha).mean(dim=1)
    if config.loss == "synth":
        if not step_seconds:
            raise ValueError("the synth loss needs the path step in seconds")
        task = get_task(config.synth_task, config.validator)
        return synth_score(paths, future, task, step_seconds, config.alpha) / task.n_terms(step_seconds)
    raise ValueError(f"unknown loss {config.loss!r}")


def training_loss(paths: torch.Tensor, future: torch.Tensor, last_close: torch.Tensor,
                  config: TrainConfig, step_seconds: int | None = None) -> torch.Tensor:
    """The scalar loss the optimizer minimises: the mean of :func:`objective`."""
    return objective(paths, future, last_close, config, step_seconds).mean()


def exact_score(paths: torch.Tensor, future: torch.Tensor, task, step_seconds: int) -> np.ndarray:
    """The task's exact score of each forecast (B,), as the validator computes it (the numpy
    scorer in float64; faster on a CPU than the differentiable torch form). Paths longer than
    the task's horizon are cut at it."""
    n = task_points(task, step_seconds)
    p = paths[..., :n].detach().double().cpu().numpy()
    y = future[..., :n].detach().double().cpu().numpy()
    return score_batch(p, y, task, step_seconds=step_seconds).totals


def coverage(paths: torch.Tensor, future: torch.Tensor, level: float = 0.9) -> np.ndarray:
    """Per-sample share (B,) of realised points 1..H inside the ensemble's central ``level`` band
    (the empirical quantiles of the sorted paths)."""
    x = np.sort(paths[..., 1:].detach().float().cpu().numpy(), axis=1)        # (B, n, H)
    n = x.shape[1]
    lo = x[:, int(np.floor((1 - level) / 2 * (n - 1)))]
    hi = x[:, int(np.ceil((1 + level) / 2 * (n - 1)))]
    y = future[..., 1:].detach().float().cpu().numpy()
    return ((y >= lo) & (y <= hi)).mean(axis=1)


@torch.no_grad()
def diagnostics(paths: torch.Tensor, future: torch.Tensor, last_close: torch.Tensor,
                space: str = "relative") -> dict[str, torch.Tensor]:
    """Per-sample validation figures (all in bps of return from t0), each of shape (B,):

    - ``crps``: standard CRPS averaged over the horizon steps
    - ``crps_last``: CRPS at the last step
    - ``sharpness``: ensemble standard deviation averaged over the steps (lower = sharper)
    - ``gauss_nll``: Gaussian negative log-likelihood of the realised path under a normal with
      the ensemble's mean and variance at each step, averaged over steps
    - ``mae_median``: |median path - realised| averaged over steps
    """
    paths = paths.float()
    x = to_space(paths[..., 1:], last_close, space)  # (B, n, H)
    y = to_space(future[..., 1:], last_close, space)  # (B, H)
    crps = crps_ensemble_torch(x.transpose(1, 2), y)  # (B, H)
    std = x.std(dim=1, unbiased=True)
    mean = x.mean(dim=1)
    var = std.pow(2).clamp_min(1e-6)
    nll = F.gaussian_nll_loss(mean, y, var, full=True, eps=1e-6, reduction="none")
    med = x.median(dim=1).values
    return {
        "crps": crps.mean(dim=1),
        "crps_last": crps[:, -1],
        "sharpness": std.mean(dim=1),
        "gauss_nll": nll.mean(dim=1),
        "mae_median": (med - y).abs().mean(dim=1),
    }
