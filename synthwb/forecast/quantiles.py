"""Quantiles to joint price paths: one layer for every quantile forecaster (Moirai 2, Chronos,
TimesFM, TiRex, ...), so the Synth score (1000 joint paths, CRPS of increments at many intervals)
can measure them.

A quantile forecaster gives, per origin and per forecast horizon ``t_j`` (seconds after t0),
marginal quantiles at ``levels`` (any set, e.g. Moirai 2's nine levels 0.1 .. 0.9) of the
*cumulative log return* ``X_t = log(P_t / P_0)`` (``kind="cumulative"``; a price quantile ``q``
is ``log(q / P_0)``, quantiles commute with monotone maps), or of the per-step log return
(``kind="increments"``). :func:`quantiles_to_paths` turns them into ``n_paths`` joint paths of
``X`` on any grid inside the horizon, in three steps:

1. **Marginals.** Per origin and horizon the quantile function ``Q(u)`` is a PCHIP (monotone
   cubic) interpolation of the quantiles against their normal scores ``Phi^-1(level)`` (near
   linear for near-Gaussian laws, so few levels suffice); beyond the outer levels it follows a
   fitted parametric tail, never a clip: the normal variance mixture ``sigma * N(0, 1)`` with
   ``log sigma ~ N(0, s^2)`` (``s = 0``: the normal; larger ``s``: heavier tails, kurtosis
   ``3 exp(4 s^2)``), whose ``s`` is fitted to the shape of all the quantiles (least squares,
   location and scale free), scaled separately below and above the median (skew). Crossing
   quantiles are sorted (rearranged) first.
2. **Dependence.** A latent random walk on the output grid, ``Z_t = v * W(V_t)``: a Gaussian
   copula whose correlation is that of a random walk with the variance ``V_t`` implied by the
   marginals (``corr(Z_s, Z_t) = sqrt(V_s / V_t)``, ``V_t`` the robust variance
   ``((Q(hi) - Q(lo)) / (z_hi - z_lo))^2`` of the outer levels, made non-decreasing), mixed
   across paths by a per-path volatility factor ``v = exp(s_v * xi)``, ``xi ~ N(0, 1)``: the
   stochastic-volatility mixing that gives block volatilities (the validator 2026-09 Crypto 1h
   volatility term) a realistic spread. ``s_v`` is fitted to the marginals' shape over the
   horizons (pooled), so when the marginals are such a mixture the latent law *is* the law of
   the paths.
3. **Marginals imposed through the copula.** At every grid time a path's latent value goes
   through the latent's own marginal CDF (the same mixture family, scaled by ``sqrt(V_t)``) and
   then the forecast's quantile function: ``X_t = Q_t(H_t(Z_t))``. Every marginal is the
   forecast's whatever the latent law; when the forecast is itself such a mixture the map is
   linear and the paths have the latent's increments exactly. (Imposing the marginals by ranks
   instead would add order-statistic noise to every short increment.)

Horizons and the output grid may differ: between two forecast horizons (and between t0 and the
first) the marginal is interpolated with the median and the variance linear in time and the
standardised shape linear in between (Brownian scaling); past the last horizon nothing is
extrapolated (refused).

What it assumes
---------------
- the quantiles are those of the cumulative log return from the last close (or, for
  ``kind="increments"``, of each step's log return, the steps independent given the volatility
  factor);
- increments are martingale-like: uncorrelated, with the variance the marginals imply, so the
  increment over ``[s, t]`` has variance ``V_t - V_s`` (times the path's factor);
- given its volatility factor a path's increments are independent (no volatility clustering
  within the horizon beyond the single per-path factor, no leverage).

Where it breaks
---------------
- strong mean reversion or momentum (``Var(X_t - X_s) != V_t - V_s``): the marginals stay
  right, the increments at short intervals do not;
- quantile crossing across levels (rearranged, information is lost) or a spread that shrinks
  with the horizon (``V_t`` is made non-decreasing: those steps get almost no movement);
- horizons with coarse steps (e.g. hourly quantiles for 1-minute paths): inside a step the
  paths are Brownian with the step's variance, so intra-step volatility patterns are invented;
- volatility that changes within the horizon (regime shifts, scheduled news): one factor per
  path cannot make the 5-minute block volatilities of hour 1 and hour 20 differ in spread;
- few levels (fewer than 4 cannot identify the tail shape: the normal tail is used) and levels
  far from the tails the scorer weighs (0.1 .. 0.9 leaves the outer 20% to the fitted family).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import polars as pl
from scipy.interpolate import PchipInterpolator
from scipy.special import log_ndtr, ndtr, ndtri

from synthwb.core.errors import SpecError
from synthwb.forecast.base import ForecasterBase

__all__ = ["MOIRAI2_LEVELS", "S_GRID", "Marginals", "fit_marginals", "mixture_ppf", "mixture_cdf", "interpolate_horizons",
           "robust_variance", "fit_vol_mixing", "quantiles_to_paths", "paths_from_quantiles",
           "QuantileSource", "QuantilePathForecaster"]

#: Moirai 2's quantile levels
MOIRAI2_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: the tail family's shape grid: log-sd ``s`` of the normal variance mixture (0: the normal)
S_GRID = np.linspace(0.0, 1.2, 49)
_GH_NODES = 48
_TABLE: tuple[np.ndarray, np.ndarray] | None = None


# ----------------------------------------------------------------------------- tail family


def _table() -> tuple[np.ndarray, np.ndarray]:
    """``(x, zF)``: for each ``s`` of :data:`S_GRID` the normal score ``Phi^-1(F_s(x))`` of the
    mixture's CDF on ``x >= 0`` (the law is symmetric), computed in log space for the tails."""
    global _TABLE
    if _TABLE is None:
        x = np.sinh(np.linspace(0.0, np.arcsinh(400.0), 6000))
        h, w = np.polynomial.hermite.hermgauss(_GH_NODES)
        lw = np.log(w / math.sqrt(math.pi))
        z = np.empty((len(S_GRID), x.size))
        for i, s in enumerate(S_GRID):
            sig = np.exp(s * math.sqrt(2.0) * h)  # log sigma ~ N(0, s^2)
            # upper tail: log(1 - F(x)) = logsumexp(lw + log Phi(-x / sigma))
            lt = np.logaddexp.reduce(lw[:, None] + log_ndtr(-x[None, :] / sig[:, None]), axis=0)
            z[i] = -ndtri(np.exp(lt))
        z[:, 0] = 0.0
        z = np.maximum.accumulate(z, axis=1)
        _TABLE = (x, z)
    return _TABLE


def mixture_ppf(u, s_index) -> np.ndarray:
    """Quantiles of the unit normal variance mixture at levels ``u`` for shape indices
    ``s_index`` into :data:`S_GRID` (broadcast together)."""
    x, zt = _table()
    u = np.asarray(u, dtype=np.float64)
    s_index = np.asarray(s_index, dtype=np.int64)
    z = ndtri(np.clip(u, 1e-300, 1 - 1e-16))
    az = np.abs(z)
    u_b, s_b = np.broadcast_arrays(az, s_index)
    out = np.empty(u_b.shape)
    for i in np.unique(s_b):
        m = s_b == i
        out[m] = np.interp(u_b[m], zt[i], x)
    return np.sign(np.broadcast_to(z, out.shape)) * out


def mixture_cdf(x, s_index) -> np.ndarray:
    """The CDF of the unit normal variance mixture at ``x`` for shape indices ``s_index``."""
    xt, zt = _table()
    x = np.asarray(x, dtype=np.float64)
    x_b, s_b = np.broadcast_arrays(np.abs(x), np.asarray(s_index, dtype=np.int64))
    z = np.empty(x_b.shape)
    for i in np.unique(s_b):
        m = s_b == i
        z[m] = np.interp(x_b[m], xt, zt[i])
    return ndtr(np.sign(x) * z)


# ----------------------------------------------------------------------------- marginals


@dataclass
class Marginals:
    """Fitted marginals of ``N`` distributions (rows) from ``K`` quantiles each."""

    levels: np.ndarray  # (K,)
    q: np.ndarray  # (N, K) sorted quantiles
    s_index: np.ndarray  # (N,) tail shape (index into S_GRID)
    c_lo: np.ndarray  # (N,) tail scale below the median
    c_hi: np.ndarray  # (N,) tail scale above the median
    ssr: np.ndarray  # (N, len(S_GRID)) standardised residual of each shape (for pooling)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """``Q(u)`` of every row: ``u`` ``(n,)`` (the same levels for all rows) or ``(N, n)`` (one
        set per row); returns ``(N, n)``."""
        lv, q = self.levels, self.q
        N = q.shape[0]
        u = np.broadcast_to(np.asarray(u, dtype=np.float64), (N, np.shape(u)[-1]))
        zk = ndtri(lv)
        zu = ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        c = PchipInterpolator(zk, q, axis=1).c  # (4, K - 1, N): a cubic per interval and row
        idx = np.clip(np.searchsorted(zk, zu) - 1, 0, lv.size - 2)
        dx = zu - zk[idx]
        rows = np.arange(N)[:, None]
        out = ((c[0, idx, rows] * dx + c[1, idx, rows]) * dx + c[2, idx, rows]) * dx + c[3, idx, rows]
        lo, hi = u < lv[0], u > lv[-1]
        si = np.broadcast_to(self.s_index[:, None], u.shape)
        if lo.any():
            g = mixture_ppf(u[lo], si[lo]) - mixture_ppf(lv[0], si[lo])
            out[lo] = np.broadcast_to(q[:, :1], u.shape)[lo] + np.broadcast_to(self.c_lo[:, None], u.shape)[lo] * g
        if hi.any():
            g = mixture_ppf(u[hi], si[hi]) - mixture_ppf(lv[-1], si[hi])
            out[hi] = np.broadcast_to(q[:, -1:], u.shape)[hi] + np.broadcast_to(self.c_hi[:, None], u.shape)[hi] * g
        return out


def _check_levels(levels) -> np.ndarray:
    lv = np.asarray(levels, dtype=np.float64).ravel()
    if lv.size < 3 or not np.all((lv > 0) & (lv < 1)) or np.any(np.diff(lv) <= 0):
        raise SpecError(f"quantile levels must be at least 3 increasing values strictly between 0 and 1, got "
                        f"{lv.tolist()}")
    if not (lv[0] < 0.5 < lv[-1]):
        raise SpecError(f"quantile levels must lie on both sides of the median, got {lv.tolist()}")
    return lv


def fit_marginals(levels, q, s_fixed: float | None = None) -> Marginals:
    """Fit the marginals of quantiles ``q`` ``(N, K)`` at ``levels`` ``(K,)``: sort crossing
    quantiles, fit the tail shape (least squares of ``q ~ m + c * G_s^-1(level)`` over the
    shape grid; fewer than 4 levels or ``s_fixed``: that shape) and the two tail scales."""
    lv = _check_levels(levels)
    q = np.sort(np.asarray(q, dtype=np.float64), axis=-1)
    if q.ndim != 2 or q.shape[1] != lv.size:
        raise SpecError(f"quantiles must have shape (N, {lv.size}), got {q.shape}")
    span = q[:, -1] - q[:, 0]
    tiny = np.maximum(span, np.abs(q).max(axis=1) * 1e-9 + 1e-12) * 1e-6
    q = q + tiny[:, None] * np.arange(lv.size)[None, :]  # strictly increasing (PCHIP, ranks)
    G = mixture_ppf(lv[None, :], np.arange(len(S_GRID))[:, None])  # (S, K)
    Gc = G - G.mean(axis=1, keepdims=True)
    qc = q - q.mean(axis=1, keepdims=True)
    c = (qc @ Gc.T) / (Gc * Gc).sum(axis=1)[None, :]  # (N, S)
    resid = qc[:, None, :] - c[:, :, None] * Gc[None, :, :]
    scale2 = np.maximum(c, 1e-300) ** 2
    ssr = (resid ** 2).sum(axis=-1) / scale2  # standardised: comparable across rows
    ssr = np.where(c > 0, ssr, np.inf)
    if s_fixed is not None or lv.size < 4:
        si = np.full(q.shape[0], int(np.argmin(np.abs(S_GRID - (s_fixed or 0.0)))))
    else:
        si = np.argmin(ssr, axis=1)
    k_mid = int(np.argmin(np.abs(lv - 0.5)))
    k_lo = k_mid if k_mid > 0 else 1
    k_hi = k_mid if k_mid < lv.size - 1 else lv.size - 2
    g_lo = G[si, k_lo] - G[si, 0]
    g_hi = G[si, -1] - G[si, k_hi]
    c_lo = (q[:, k_lo] - q[:, 0]) / g_lo
    c_hi = (q[:, -1] - q[:, k_hi]) / g_hi
    return Marginals(lv, q, si, c_lo, c_hi, ssr)


def robust_variance(levels, q) -> np.ndarray:
    """The variance a normal law with the outer quantiles ``q[..., 0]``, ``q[..., -1]`` would have."""
    lv = np.asarray(levels, dtype=np.float64)
    z = ndtri(lv[-1]) - ndtri(lv[0])
    q = np.asarray(q, dtype=np.float64)
    return ((q[..., -1] - q[..., 0]) / z) ** 2


def fit_vol_mixing(m: Marginals, weights: np.ndarray | None = None) -> float:
    """The per-path volatility factor's log-sd: the tail shape that fits all the rows of ``m``
    (pooled standardised residuals; ``weights`` per row)."""
    ssr = np.where(np.isfinite(m.ssr), m.ssr, 1e6)
    w = np.ones(ssr.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(S_GRID[int(np.argmin((w[:, None] * ssr).sum(axis=0)))])


# ----------------------------------------------------------------------------- time


def interpolate_horizons(levels, q, times, grid) -> np.ndarray:
    """Quantiles ``(..., H, K)`` at forecast horizons ``times`` ``(H,)`` -> ``(..., M, K)`` at the
    grid times ``(M,)`` (all seconds after t0, ``0 < grid <= times[-1]``). A grid time that is a
    horizon keeps its quantiles exactly; in between (and between t0 and the first horizon) the
    median and the robust variance are linear in time and the standardised shape too."""
    lv = _check_levels(levels)
    times = np.asarray(times, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if times.ndim != 1 or q.shape[-2] != times.size or q.shape[-1] != lv.size:
        raise SpecError(f"quantiles {q.shape} do not match {times.size} horizons x {lv.size} levels")
    if times.size == 0 or np.any(np.diff(times) <= 0) or times[0] <= 0:
        raise SpecError("forecast horizons must be increasing times after t0")
    if grid.size and (grid.min() <= 0 or grid.max() > times[-1] * (1 + 1e-9)):
        raise SpecError(f"the grid reaches {grid.max():g} s but the quantiles stop at {times[-1]:g} s")
    exact = np.searchsorted(times, grid)
    exact = np.minimum(exact, times.size - 1)
    hit = np.isclose(times[exact], grid, rtol=0, atol=1e-9 * max(1.0, float(times[-1])))
    if hit.all():
        return q[..., exact, :]
    k_mid = int(np.argmin(np.abs(lv - 0.5)))
    med = q[..., k_mid]
    var = np.maximum(robust_variance(lv, q), 1e-300)
    shape = (q - med[..., None]) / np.sqrt(var)[..., None]
    t_ext = np.concatenate([[0.0], times])
    med_ext = np.concatenate([np.zeros(med.shape[:-1] + (1,)), med], axis=-1)
    var_ext = np.concatenate([np.zeros(var.shape[:-1] + (1,)), var], axis=-1)
    shape_ext = np.concatenate([shape[..., :1, :], shape], axis=-2)
    b = np.clip(np.searchsorted(t_ext, grid, side="left"), 1, times.size)
    a = b - 1
    lam = (grid - t_ext[a]) / (t_ext[b] - t_ext[a])
    m_g = med_ext[..., a] * (1 - lam) + med_ext[..., b] * lam
    v_g = var_ext[..., a] * (1 - lam) + var_ext[..., b] * lam
    s_g = shape_ext[..., a, :] * (1 - lam)[:, None] + shape_ext[..., b, :] * lam[:, None]
    out = m_g[..., None] + np.sqrt(v_g)[..., None] * s_g
    out[..., hit, :] = q[..., exact[hit], :]
    return out


# ----------------------------------------------------------------------------- paths


def _snap(s: float) -> int:
    return int(np.argmin(np.abs(S_GRID - float(s))))


def quantiles_to_paths(levels: Sequence[float], q: np.ndarray, times: Sequence[float], grid: Sequence[float],
                       n_paths: int = 1000, seed: int | np.random.Generator = 0,
                       kind: Literal["cumulative", "increments"] = "cumulative",
                       vol_mixing: float | Literal["auto"] | None = "auto") -> np.ndarray:
    """Joint paths of the cumulative log return ``(n_paths, M + 1)`` on ``grid`` (seconds after t0,
    ``M`` times; column 0 is t0, exactly 0) from quantiles ``q`` ``(H, K)`` at ``levels`` of the
    horizons ``times`` ``(H,)``. ``vol_mixing``: the per-path volatility factor's log-sd
    (``"auto"``: fitted to the marginals; 0 or None: a plain Gaussian copula). See the module doc.

    ``kind="increments"``: ``q[j]`` are quantiles of the log return over ``(times[j-1], times[j]]``;
    the steps' marginals are imposed on the latent increments (independent given the factor)
    and summed; the grid must then be the horizons or a subset of them."""
    lv = _check_levels(levels)
    q = np.asarray(q, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    n = int(n_paths)
    if n < 2:
        raise SpecError("n_paths must be at least 2")
    if q.ndim != 2 or q.shape != (times.size, lv.size):
        raise SpecError(f"quantiles must have shape ({times.size}, {lv.size}), got {q.shape}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = np.zeros((n, grid.size + 1))
    if grid.size == 0:
        return out
    if not np.isfinite(q).all():
        out[:, 1:] = np.nan
        return out
    if kind == "increments":
        pos = np.searchsorted(times, grid)
        if np.any(pos >= times.size) or not np.allclose(times[np.minimum(pos, times.size - 1)], grid):
            raise SpecError("increment quantiles need a grid made of their own horizons")
        m = fit_marginals(lv, q)
        s_v = _snap(fit_vol_mixing(m) if vol_mixing == "auto" else float(vol_mixing or 0.0))
        v = np.exp(S_GRID[s_v] * rng.standard_normal(n))
        latent = v[:, None] * rng.standard_normal((n, times.size))
        steps = m.ppf(mixture_cdf(latent, s_v).T).T
        out[:, 1:] = np.cumsum(steps, axis=1)[:, pos]
        return out
    if kind != "cumulative":
        raise SpecError(f"kind must be 'cumulative' or 'increments', not {kind!r}")
    qg = interpolate_horizons(lv, q, times, grid)  # (M, K)
    m = fit_marginals(lv, qg)
    var = np.maximum.accumulate(np.maximum(robust_variance(lv, m.q), 0.0))
    dv = np.diff(np.concatenate([[0.0], var]))
    dv = np.maximum(dv, max(float(var[-1]), 1e-300) * 1e-6 / grid.size)
    if vol_mixing == "auto":
        # weight the horizons by their time span so a fine grid at the start does not dominate
        w = np.diff(np.concatenate([[0.0], grid]))
        s_v = _snap(fit_vol_mixing(m, w / w.sum()))
    else:
        s_v = _snap(float(vol_mixing or 0.0))
    v = np.exp(S_GRID[s_v] * rng.standard_normal(n))
    latent = v[:, None] * np.cumsum(np.sqrt(dv)[None, :] * rng.standard_normal((n, grid.size)), axis=1)
    # the latent's own marginal CDF (the same mixture family, scaled by sqrt(V_t)), then Q_t
    u = mixture_cdf(latent / np.sqrt(np.cumsum(dv))[None, :], s_v)
    out[:, 1:] = m.ppf(u.T).T
    return out


def paths_from_quantiles(levels: Sequence[float], q: np.ndarray, times: Sequence[float], grid: Sequence[float],
                         last_close: np.ndarray, n_paths: int = 1000, seed: int = 0,
                         kind: Literal["cumulative", "increments"] = "cumulative",
                         vol_mixing: float | Literal["auto"] | None = "auto") -> np.ndarray:
    """Price paths ``(B, n_paths, M + 1)`` (../shared/DESIGN.md §4: column 0 = ``last_close``
    exactly) from log-return quantiles ``q`` ``(B, H, K)``, one origin per row; origin ``b``
    draws from ``default_rng([seed, b])``. An origin with non-finite quantiles gets NaN paths
    (scored invalid)."""
    q = np.asarray(q, dtype=np.float64)
    last = np.asarray(last_close, dtype=np.float64).ravel()
    if q.ndim != 3 or q.shape[0] != last.size:
        raise SpecError(f"quantiles must have shape (B, H, K) with B = {last.size} origins, got {q.shape}")
    grid = np.asarray(grid, dtype=np.float64)
    paths = np.empty((last.size, int(n_paths), grid.size + 1))
    for b in range(last.size):
        x = quantiles_to_paths(levels, q[b], times, grid, n_paths, np.random.default_rng([int(seed), b]), kind,
                               vol_mixing)
        with np.errstate(over="ignore"):
            paths[b] = last[b] * np.exp(np.clip(x, -50.0, 50.0))
        paths[b, :, 0] = last[b]
    return paths


# ----------------------------------------------------------------------------- forecaster


@runtime_checkable
class QuantileSource(Protocol):
    """A quantile forecaster on a bar grid (e.g. :class:`synthwb.moirai.forecast.Moirai2Quantiles`).

    ``predict_quantiles(bars, origins, horizon)`` -> ``(q, last_close)``: quantiles ``(n_origins,
    horizon, K)`` at ``levels`` of the log return (``kind`` ``"cumulative"``: from the last close
    at or before each origin to the end of each of the next ``horizon`` bars; ``"increments"``:
    of each bar's own log return), and those last closes."""

    name: str
    context_bars: int
    context_days: float
    bar_seconds: int
    freq: str
    levels: tuple[float, ...]
    kind: str
    spec: object

    def predict_quantiles(self, bars: pl.DataFrame, origins: Sequence[datetime],
                          horizon: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...


class QuantilePathForecaster(ForecasterBase):
    """Any :class:`QuantileSource` as a path Forecaster (../shared/DESIGN.md §4) through
    :func:`paths_from_quantiles`. Cumulative quantiles simulate on whatever step the task asks
    (``step_seconds = 0``): a 5-minute model serves the 1-minute 1h task, the marginals inside a
    bar interpolated (see the module doc); increment quantiles need a whole number of bars per
    step (``step_seconds`` = the bar)."""

    def __init__(self, source: QuantileSource, vol_mixing: float | Literal["auto"] | None = "auto"):
        self.source = source
        self.name = source.name
        self.context_bars = int(source.context_bars)
        self.context_days = float(source.context_days)
        self.bar_seconds = int(source.bar_seconds)
        self.freq = source.freq
        self.horizon = int(source.spec.horizon)
        self.step_seconds = 0 if source.kind == "cumulative" else self.bar_seconds
        self.vol_mixing = vol_mixing

    def __repr__(self) -> str:
        return f"QuantilePathForecaster({self.source!r})"

    def grid_steps(self, n_steps: int, step_seconds: int) -> int:
        if self.step_seconds:
            return math.ceil(int(n_steps) * int(step_seconds) / self.step_seconds)
        return int(n_steps)

    def bars_needed(self, n_steps: int, step_seconds: int) -> int:
        """Bars of the quantile forecast that cover ``n_steps`` of ``step_seconds`` (refused past
        the source's horizon)."""
        need = math.ceil(int(n_steps) * int(step_seconds) / self.bar_seconds)
        if need > self.horizon:
            raise SpecError(f"{self.name!r} forecasts {self.horizon} bars of {self.bar_seconds} s "
                            f"({self.horizon * self.bar_seconds / 3600:g} h); the task needs "
                            f"{int(n_steps) * int(step_seconds) / 3600:g} h. Use a longer horizon.")
        return need

    def forecast(self, bars: pl.DataFrame, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        m = self.grid_steps(n_steps, step_seconds)
        step = self.step_seconds or int(step_seconds)
        if len(origins) == 0:
            return np.empty((0, int(n_paths), m + 1))
        h = self.bars_needed(m, step)
        q, last = self.source.predict_quantiles(bars, origins, h)
        times = self.bar_seconds * np.arange(1, h + 1, dtype=np.float64)
        grid = step * np.arange(1, m + 1, dtype=np.float64)
        return paths_from_quantiles(self.source.levels, q, times, grid, last, int(n_paths), int(seed),
                                    kind=self.source.kind, vol_mixing=self.vol_mixing)
