"""The Diebold-Mariano test on per-origin loss differentials (HLN correction, Newey-West variance over
the lags overlapping forecast windows share), used by the comparisons (:mod:`synthwb.evaluate.compare_stats`)
and by training's gate (:mod:`synthwb.train.gate`)."""
from __future__ import annotations

import math

import numpy as np

from synthwb.core.errors import SpecError


def overlap_lag(horizon_seconds: float, spacing_seconds: float) -> int:
    """The DM ``h``: how many consecutive origins' forecast windows overlap (at least 1).

    Forecasts from origins ``spacing`` apart over a horizon ``H`` overlap with the next
    ``ceil(H / spacing) - 1`` origins, so their loss differentials are serially correlated up
    to that lag (the h-step-ahead case of Diebold and Mariano)."""
    if spacing_seconds <= 0:
        return 1
    return max(1, int(math.ceil(horizon_seconds / spacing_seconds - 1e-9)))


def _autocov(d: np.ndarray, k: int) -> float:
    dc = d - d.mean()
    return float(np.dot(dc[k:], dc[: len(d) - k]) / len(d))


def dm_test(d: np.ndarray, h: int = 1, alpha: float = 0.05) -> tuple[float, float, float, float, float]:
    """Diebold-Mariano with HLN correction on a loss differential series ``d``.

    Long-run variance: Newey-West (Bartlett weights ``1 - k/h``) over lags ``k = 1..h-1`` of
    the biased autocovariances ``gamma_k = 1/T sum (d_t - dbar)(d_{t-k} - dbar)``.
    ``DM = dbar / sqrt(lrv / T)``; HLN: ``DM* = DM * sqrt((T + 1 - 2h + h(h-1)/T) / T)``;
    two-sided p-value from Student-t with ``T - 1`` degrees of freedom.
    Returns ``(statistic, p_value, ci_low, ci_high, lrv)``; the CI of the mean difference uses
    the same standard error and t quantile. With ``h = 1`` it is the paired t-test.
    """
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    T = d.size
    if T < 2:
        raise SpecError(f"the Diebold-Mariano test needs at least 2 shared origins, got {T}")
    h = int(max(1, min(h, T - 1)))
    dbar = float(d.mean())
    lrv = _autocov(d, 0)
    for k in range(1, h):
        lrv += 2.0 * (1.0 - k / h) * _autocov(d, k)
    hln = math.sqrt(max((T + 1 - 2 * h + h * (h - 1) / T) / T, 1e-12))
    tq = float(stats.t.ppf(1 - alpha / 2, T - 1))
    if lrv <= 1e-300 * max(1.0, dbar * dbar):
        if dbar == 0.0:
            return 0.0, 1.0, 0.0, 0.0, 0.0
        return math.copysign(math.inf, dbar), 0.0, dbar, dbar, 0.0
    se = math.sqrt(lrv / T)
    stat = dbar / se * hln
    p = float(2.0 * stats.t.sf(abs(stat), T - 1))
    se_adj = se / hln
    return float(stat), min(p, 1.0), dbar - tq * se_adj, dbar + tq * se_adj, float(lrv)
