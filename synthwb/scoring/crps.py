"""The CRPS family for ensembles, in numpy (scoring) and torch (training losses).

For an ensemble ``x_1..x_n`` and an observation ``y``::

    CRPS(x, y) = mean_i |x_i - y| - 1/(2 n^2) * sum_ij |x_i - x_j|

This is the estimator the Synth validator uses (``properscoring.crps_ensemble``). The double
sum is computed in O(n log n) from the sorted ensemble: with ``x_(1) <= ... <= x_(n)``,
``sum_ij |x_i - x_j| = 2 * sum_i (2i - n - 1) x_(i)``.

The *fair* estimator divides the spread term by ``2 n (n-1)`` instead (unbiased for the CRPS
of the distribution the ensemble is drawn from). The *almost fair* CRPS of Lang et al. (2024,
"AIFS-CRPS") mixes both: ``afCRPS_a = a * fair + (1 - a) * standard``, which equals their
``(1 - eps)`` weighting of the spread with ``eps = (1 - a) / n``; ``a = 1`` is fair and ``a = 0``
standard. The paper uses ``a = 0.95``.

All functions work on any leading shape: ``samples`` ``(..., n)`` (or the ensemble along
``axis``), ``y`` broadcastable to the leading shape. Computation is done on ``samples - y`` so
large price levels do not lose precision. NaN in the samples or in ``y`` gives NaN.
"""
from __future__ import annotations

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.core.normal import crps_gaussian  # noqa: F401  (re-exported: checks and reference levels)

__all__ = [
    "crps_ensemble",
    "crps_fair",
    "crps_almost_fair",
    "crps_ensemble_torch",
    "crps_fair_torch",
    "crps_almost_fair_torch",
    "crps_gaussian",
]


def _spread_weight(n: int, alpha: float) -> float:
    """Factor ``c`` so that the spread term is ``c * sum_i (2i - n - 1) x_(i)``."""
    if n < 1:
        raise SpecError("CRPS needs at least one ensemble member")
    if not 0.0 <= alpha <= 1.0:
        raise SpecError(f"alpha must be in [0, 1], got {alpha!r}")
    if alpha == 0.0:
        return 1.0 / (n * n)
    if n < 2:
        raise SpecError("the fair CRPS needs at least two ensemble members")
    # (1 - eps) / (n (n - 1)) with eps = (1 - alpha) / n  ==  (n - 1 + alpha) / (n^2 (n - 1))
    return (n - 1.0 + alpha) / (n * n * (n - 1.0))


def _crps_np(samples, y, axis: int, alpha: float) -> np.ndarray:
    x = np.moveaxis(np.asarray(samples, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    c = _spread_weight(n, alpha)
    d = x - np.asarray(y, dtype=np.float64)[..., None]
    w = 2.0 * np.arange(1, n + 1, dtype=np.float64) - n - 1.0
    return np.abs(d).mean(axis=-1) - c * (np.sort(d, axis=-1) @ w)


def crps_ensemble(samples, y, axis: int = -1) -> np.ndarray:
    """Standard ensemble CRPS (the validator's estimator), vectorised over leading dims."""
    return _crps_np(samples, y, axis, 0.0)


def crps_fair(samples, y, axis: int = -1) -> np.ndarray:
    """Fair (unbiased) ensemble CRPS: spread term divided by 2n(n-1)."""
    return _crps_np(samples, y, axis, 1.0)


def crps_almost_fair(samples, y, alpha: float = 0.95, axis: int = -1) -> np.ndarray:
    """Almost-fair CRPS (Lang et al. 2024): ``alpha * fair + (1 - alpha) * standard``."""
    return _crps_np(samples, y, axis, float(alpha))


# ---------------------------------------------------------------------------------- torch


def _crps_torch(samples, y, dim: int, alpha: float):
    import torch

    x = samples.movedim(dim, -1)
    n = x.shape[-1]
    c = _spread_weight(n, alpha)
    y = torch.as_tensor(y, dtype=x.dtype, device=x.device)
    d = x - y.unsqueeze(-1)
    w = 2.0 * torch.arange(1, n + 1, dtype=x.dtype, device=x.device) - n - 1.0
    ds = torch.sort(d, dim=-1).values
    return d.abs().mean(dim=-1) - c * (ds * w).sum(dim=-1)


def crps_ensemble_torch(samples, y, dim: int = -1):
    """Differentiable standard ensemble CRPS (sort-based); gradients flow to ``samples``
    (and to ``y`` if it requires grad). Shapes as :func:`crps_ensemble`."""
    return _crps_torch(samples, y, dim, 0.0)


def crps_fair_torch(samples, y, dim: int = -1):
    """Differentiable fair ensemble CRPS."""
    return _crps_torch(samples, y, dim, 1.0)


def crps_almost_fair_torch(samples, y, alpha: float = 0.95, dim: int = -1):
    """Differentiable almost-fair CRPS (Lang et al. 2024)."""
    return _crps_torch(samples, y, dim, float(alpha))
