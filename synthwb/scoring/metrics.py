"""Standard probabilistic and point metrics on path forecasts, computed by GluonTS (gluonts.ev).

The forecast of one origin is the ensemble of simulated prices at steps 1..H (t0 excluded);
the label is the realised price on the same grid (NaN masked). Metrics are aggregated over
every (origin, step) with GluonTS' own metric definitions:

- ``wQL``: mean weighted quantile loss over the levels 0.1..0.9 (a CRPS approximation),
- ``MSE`` of the ensemble mean, ``MAE`` of the median,
- ``MASE`` of the median and ``MSIS`` (alpha = 0.05), both scaled by the seasonal error of
  the history before each origin with an explicit ``seasonality`` (in forecast steps; 1 =
  the naive random-walk scale usual for prices),
- ``coverage_50/80/90``: share of realised prices inside the central 50/80/90% intervals.

Use :class:`GluonMetrics` to stream batches of origins (``update``) and ``get()`` a dict.
"""
from __future__ import annotations

import numpy as np

from synthwb.core.errors import SpecError

__all__ = ["sorted_quantiles", "QUANTILE_LEVELS", "GluonMetrics", "gluonts_metrics", "needed_levels", "METRIC_NAMES"]

QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COVERAGES = (0.5, 0.8, 0.9)
MSIS_ALPHA = 0.05
METRIC_NAMES = ("wQL", "MSE", "MAE", "MASE", "MSIS", "coverage_50", "coverage_80", "coverage_90")


def sorted_quantiles(sorted_paths: np.ndarray, levels) -> np.ndarray:
    """Quantiles along axis 1 of already sorted samples, numpy's default (linear) method:
    ``(L, B, ...)`` for ``L`` levels. One sort serves any number of levels."""
    n = sorted_paths.shape[1]
    out = []
    for q in levels:
        h = (n - 1) * float(q)
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        a, b = sorted_paths[:, lo], sorted_paths[:, hi]
        out.append(a + (h - lo) * (b - a))
    return np.stack(out)


def _key(q: float) -> str:
    return str(float(round(q, 6)))


def needed_levels() -> list[float]:
    """Every quantile level the metrics read."""
    lv = set(QUANTILE_LEVELS) | {MSIS_ALPHA / 2, 1 - MSIS_ALPHA / 2}
    for c in COVERAGES:
        lv |= {round((1 - c) / 2, 6), round(1 - (1 - c) / 2, 6)}
    return sorted(round(v, 6) for v in lv)


class GluonMetrics:
    """Streaming GluonTS metrics over batches of origins."""

    def __init__(self, seasonality: int = 1):
        from gluonts.ev.metrics import MAE, MASE, MSE, MSIS, Coverage, MeanWeightedSumQuantileLoss

        if int(seasonality) < 1:
            raise SpecError(f"seasonality must be a positive number of steps, got {seasonality!r}")
        self.seasonality = int(seasonality)
        self.metrics = {
            "wQL": MeanWeightedSumQuantileLoss(quantile_levels=list(QUANTILE_LEVELS))(axis=None),
            "MSE": MSE(forecast_type="mean")(axis=None),
            "MAE": MAE(forecast_type="0.5")(axis=None),
            "MASE": MASE(forecast_type="0.5")(axis=None),
            "MSIS": MSIS(alpha=MSIS_ALPHA)(axis=None),
        }
        for c in COVERAGES:
            lo, hi = round((1 - c) / 2, 6), round(1 - (1 - c) / 2, 6)
            self.metrics[f"_cov_lo_{c}"] = Coverage(q=lo)(axis=None)
            self.metrics[f"_cov_hi_{c}"] = Coverage(q=hi)(axis=None)
        self.n = 0

    def update(self, paths: np.ndarray, realised: np.ndarray, history: np.ndarray,
               presorted: bool = False) -> None:
        """``paths`` (B, P, T) with t0 in column 0, ``realised`` (B, T), ``history`` (B, L)
        prices on the same step grid before (and including) t0, NaN allowed.
        ``presorted``: the paths are already sorted along the path axis (saves a sort)."""
        from gluonts.ev.ts_stats import seasonal_error

        paths = np.asarray(paths, dtype=np.float64)[:, :, 1:]
        label = np.ma.masked_invalid(np.asarray(realised, dtype=np.float64)[:, 1:])
        if label.count() == 0:
            return
        levels = needed_levels()
        qs = sorted_quantiles(paths if presorted else np.sort(paths, axis=1), levels)  # (L, B, T-1)
        data = {_key(q): qs[i] for i, q in enumerate(levels)}
        data["label"] = label
        data["mean"] = paths.mean(axis=1)
        hist = np.asarray(history, dtype=np.float64)
        se = np.empty((hist.shape[0], 1))
        for i, h in enumerate(hist):
            h = h[np.isfinite(h)]
            se[i, 0] = seasonal_error(h, self.seasonality)[0] if h.size > self.seasonality else np.nan
        # no usable history: fall back to the realised step scale of that origin's forecast window
        bad = ~np.isfinite(se[:, 0]) | (se[:, 0] <= 0)
        if bad.any():
            d = np.abs(np.diff(np.asarray(realised, dtype=np.float64), axis=1))[bad]
            n = np.isfinite(d).sum(axis=1)   # a window with no realised step keeps NaN (no "empty slice" warning)
            se[bad, 0] = np.where(n > 0, np.nansum(d, axis=1) / np.maximum(n, 1), np.nan)
        data["seasonal_error"] = se
        for m in self.metrics.values():
            m.update(data)
        self.n += int(label.count())

    def get(self) -> dict[str, float]:
        if self.n == 0:
            return {k: float("nan") for k in METRIC_NAMES} | {"n_points": 0, "seasonality": self.seasonality}
        out = {k: float(np.asarray(self.metrics[k].get())) for k in ("wQL", "MSE", "MAE", "MASE", "MSIS")}
        for c in COVERAGES:
            hi = float(np.asarray(self.metrics[f"_cov_hi_{c}"].get()))
            lo = float(np.asarray(self.metrics[f"_cov_lo_{c}"].get()))
            out[f"coverage_{int(c * 100)}"] = hi - lo
        out["n_points"] = self.n
        out["seasonality"] = self.seasonality
        return out


def gluonts_metrics(paths: np.ndarray, realised: np.ndarray, history: np.ndarray, seasonality: int = 1) -> dict:
    """One-shot :class:`GluonMetrics` over all origins."""
    gm = GluonMetrics(seasonality)
    gm.update(paths, realised, history)
    return gm.get()
