"""Training losses and diagnostics on simulated price paths.

Paths ``(B, n_paths, H+1)`` and the realised ``future`` ``(B, H+1)`` are prices including t0.
The CRPS losses compare them at every horizon step 1..H in one of two spaces, both scaled to
basis points so numbers read the same in logs, plots and the Synth scorer:

- ``relative``: ``(p / last_close - 1) * 1e4`` (simple return from t0, bps)
- ``logret``:   ``log(p / last_close) * 1e4`` (log return from t0, bps)

CRPS itself (sort-based O(n log n), standard and almost-fair) comes from
:mod:`synthwb.evaluate.crps`; the Synth-style loss from :mod:`synthwb.evaluate.synth`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..evaluate.crps import crps_almost_fair_torch, crps_ensemble_torch
from .config import TrainConfig

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


def synth_loss(paths: torch.Tensor, future: torch.Tensor, task: str, step_seconds: int,
               alpha: float = 0.0) -> torch.Tensor:
    """The differentiable Synth-style score (DESIGN.md §5) on the model's grid, mean over the
    batch; ``alpha`` > 0 uses the almost-fair CRPS in every term (less biased with few paths)."""
    from ..evaluate.synth import synth_loss_torch

    return synth_loss_torch(paths, future, task, step_seconds, reduction="mean", fair=alpha)


def training_loss(paths: torch.Tensor, future: torch.Tensor, last_close: torch.Tensor,
                  config: TrainConfig, step_seconds: int | None = None) -> torch.Tensor:
    """The scalar loss the optimizer minimises, chosen by ``config.loss``."""
    paths = paths.float()
    if config.loss == "crps":
        return step_crps(paths, future, last_close, config.space).mean()
    if config.loss == "afcrps":
        return step_crps(paths, future, last_close, config.space, alpha=config.alpha).mean()
    if config.loss == "synth":
        if not step_seconds:
            raise ValueError("the synth loss needs the bar size in seconds")
        return synth_loss(paths, future, config.synth_task, step_seconds, alpha=config.alpha)
    raise ValueError(f"unknown loss {config.loss!r}")


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
