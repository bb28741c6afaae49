"""Honest baselines that run through exactly the same backtest as trained models.

Every baseline is registered in :data:`BASELINES` (the shared :class:`~synthwb.core.registry.Registry`
idiom); ``entry.obj(**entry.resolve(params))`` builds a :class:`Baseline`, which is a
Forecaster (``forecast(bars, origins, n_steps, step_seconds, n_paths, seed)``) and also
offers the lower-level ``simulate(history_close, history_ts, n_steps, step_seconds, n_paths,
seed)`` returning prices ``(n_paths, n_steps + 1)`` with column 0 = the last close.

- ``gbm``: geometric Brownian motion, zero drift (a martingale in price), constant volatility
  estimated from the recent history (realised variance per second of regular bar returns), or
  a fixed annual volatility as the validator's reference miner uses per asset.
- ``gbm_ewma``: the same with RiskMetrics-style exponentially weighted variance (half-life in
  hours), so the forecast reacts to the current volatility regime.
- ``garch``: GARCH(1,1) with Gaussian innovations, fitted by maximum likelihood (scipy, with
  variance targeting: omega = (1 - alpha - beta) * sample variance) on returns at the forecast
  step, or with a fixed persistence (``fit=False``: alpha=0.05, beta=0.94, the RiskMetrics-like
  choice). Volatility then evolves along each simulated path (clustering).
- ``bootstrap``: i.i.d. or block resampling of historical log returns at the forecast step
  (demeaned by default: zero drift), fat tails come for free.

Volatility is estimated per second from regular bars only (returns spanning a session or data
gap are dropped), then scaled to the forecast step, so any bar size works with any task step.
Returns at the forecast step (garch, bootstrap) use exact timestamp differences: a return is
``log(c[t] / c[t - step])`` and is kept only when both bars exist. When the step is shorter than
the bars, bar returns are rescaled by ``sqrt(step / bar)`` (documented approximation).

Random numbers come from ``numpy.random.default_rng([seed, origin_seconds])``: the paths of an
origin depend only on the seed, the origin and the bars up to it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from synthwb.core.errors import DataError, SpecError
from synthwb.core.registry import Param, Registry
from synthwb.core.time import to_ns
from synthwb.forecast.base import ForecasterBase

__all__ = ["BASELINES", "Baseline", "BaselineForecaster", "simulate_baseline", "history_until", "MIN_HISTORY"]

BASELINES = Registry("baseline")
YEAR_SECONDS = 365 * 86400
MIN_HISTORY = 20  # bars needed to estimate anything
NS = 1_000_000_000


# ------------------------------------------------------------------------------ helpers


def _as_arrays(history_close, history_ts) -> tuple[np.ndarray, np.ndarray]:
    close = np.asarray(history_close, dtype=np.float64)
    ts = to_ns(history_ts)
    if close.ndim != 1 or close.shape != ts.shape:
        raise SpecError(f"history close {close.shape} and timestamps {ts.shape} must be 1-d of equal length")
    ok = np.isfinite(close) & (close > 0)
    close, ts = close[ok], ts[ok]
    if close.size < MIN_HISTORY:
        raise DataError(f"a baseline needs at least {MIN_HISTORY} bars of history, got {close.size}")
    return close, ts


def _bar_seconds(ts: np.ndarray) -> float:
    d = np.diff(ts)
    d = d[d > 0]
    if d.size == 0:
        raise DataError("history timestamps do not advance")
    return float(np.median(d)) / NS


def _regular_returns(close: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, float]:
    """Log returns of consecutive regular bars (gaps dropped) and the bar length in seconds."""
    bar = _bar_seconds(ts)
    r = np.diff(np.log(close))
    dt = np.diff(ts) / NS
    keep = np.isclose(dt, bar)
    r = r[keep]
    if r.size < MIN_HISTORY - 1:
        raise DataError(f"too few regular bar returns in the history ({r.size})")
    return r, bar


def _step_returns(close: np.ndarray, ts: np.ndarray, step_seconds: int) -> np.ndarray:
    """Log returns over exactly ``step_seconds`` (by timestamps), oldest first.

    Non-overlapping, anchored at the last bar. A step shorter than the bars uses bar returns
    scaled by sqrt(step / bar).
    """
    bar = _bar_seconds(ts)
    if step_seconds <= bar:
        r, bar = _regular_returns(close, ts)
        return r * np.sqrt(step_seconds / bar)
    target = ts - step_seconds * NS
    idx = np.searchsorted(ts, target)
    idx_c = np.clip(idx, 0, ts.size - 1)
    has = (idx < ts.size) & (ts[idx_c] == target)
    # non-overlapping: walk back from the last bar in whole steps
    m = int(round(step_seconds / bar))
    pick = np.arange(ts.size - 1, -1, -max(m, 1))[::-1]
    pick = pick[has[pick]]
    r = np.log(close[pick] / close[idx_c[pick]])
    if r.size < 10:
        # too short a history at this step: fall back to scaled bar returns
        rb, bar = _regular_returns(close, ts)
        return rb * np.sqrt(step_seconds / bar)
    return r


def _tail(close: np.ndarray, ts: np.ndarray, days: float) -> tuple[np.ndarray, np.ndarray]:
    if days <= 0:
        return close, ts
    keep = ts >= ts[-1] - int(days * 86400 * NS)
    if keep.sum() < MIN_HISTORY:
        return close[-MIN_HISTORY:], ts[-MIN_HISTORY:]
    return close[keep], ts[keep]


def _paths_from_logret(last: float, logret: np.ndarray) -> np.ndarray:
    """Prices (n_paths, n_steps + 1) from log returns (n_paths, n_steps), column 0 = last."""
    out = np.empty((logret.shape[0], logret.shape[1] + 1))
    out[:, 0] = last
    out[:, 1:] = last * np.exp(np.cumsum(logret, axis=1))
    return out


def _rng(seed: int, ts_last_ns: int | None = None) -> np.random.Generator:
    key = [int(seed) & 0xFFFFFFFF]
    if ts_last_ns is not None:
        key.append(int(ts_last_ns // NS) & 0xFFFFFFFFFFFF)
    return np.random.default_rng(key)


def history_until(ts_ns: np.ndarray, origin) -> int:
    """Number of bars with ``ts <= origin`` (the history an origin may see)."""
    return int(np.searchsorted(ts_ns, to_ns(origin)[0], side="right"))


# ------------------------------------------------------------------------------ base class


class Baseline(ForecasterBase):
    """A baseline forecaster; subclasses implement :meth:`_logret`."""

    name = "baseline"
    #: bars of history the baseline looks at (for the backtest's data reads)
    context_days: float = 30.0

    def __init__(self, **params: Any):
        entry = BASELINES.get(self.name)
        self.params = entry.resolve(params)
        self.context_days = float(self.params.get("lookback_days", 30.0) or 30.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"

    def _logret(self, close: np.ndarray, ts: np.ndarray, n_steps: int, step_seconds: int,
                n_paths: int, rng: np.random.Generator) -> np.ndarray:
        raise TypeError("Baseline is abstract: use a registered baseline")  # pragma: no cover

    def simulate(self, history_close, history_ts, n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Price paths ``(n_paths, n_steps + 1)``, column 0 = the last close of the history."""
        if n_steps < 1 or n_paths < 1 or step_seconds < 1:
            raise SpecError("n_steps, n_paths and step_seconds must be positive")
        close, ts = _as_arrays(history_close, history_ts)
        rng = _rng(seed, int(ts[-1]))
        lr = self._logret(close, ts, int(n_steps), int(step_seconds), int(n_paths), rng)
        return _paths_from_logret(float(close[-1]), lr)

    def forecast(self, bars, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Forecaster protocol: ``(n_origins, n_paths, n_steps + 1)`` from bars with ts <= origin."""
        ts = to_ns(bars["ts"])
        close = bars["close"].to_numpy().astype(np.float64)
        out = np.empty((len(origins), int(n_paths), int(n_steps) + 1))
        lo_days = self.context_days
        for i, o in enumerate(origins):
            hi = history_until(ts, o)
            if hi < MIN_HISTORY:
                raise DataError(f"{self.name}: only {hi} bars before origin {o}; need {MIN_HISTORY}")
            lo = int(np.searchsorted(ts, ts[hi - 1] - int(lo_days * 86400 * NS))) if lo_days > 0 else 0
            lo = min(lo, hi - MIN_HISTORY)
            out[i] = self.simulate(close[lo:hi], ts[lo:hi], n_steps, step_seconds, n_paths, seed)
        return out


# ------------------------------------------------------------------------------ baselines

_LOOKBACK = Param("lookback_days", float, 7.0, low=0.0, high=3650.0,
                  help="days of history used to estimate volatility (0 = all available)")


def _drift_term(sigma: np.ndarray | float) -> np.ndarray | float:
    """Log drift that makes the price a martingale (zero drift in price)."""
    return -0.5 * np.square(sigma)


@BASELINES.register(
    "gbm", category="gbm",
    params=[_LOOKBACK,
            Param("sigma_annual", float, 0.0, low=0.0, high=20.0,
                  help="fixed annual volatility (0 = estimate from history), as the validator's reference miner")],
    help="GBM, zero drift, historical (or fixed) volatility",
)
class GBMHistorical(Baseline):
    """GBM with zero drift and volatility from the recent history (or fixed per asset)."""

    name = "gbm"

    def step_sigma(self, close: np.ndarray, ts: np.ndarray, step_seconds: int) -> float:
        if self.params["sigma_annual"] > 0:
            return self.params["sigma_annual"] * np.sqrt(step_seconds / YEAR_SECONDS)
        c, t = _tail(close, ts, self.params["lookback_days"])
        r, bar = _regular_returns(c, t)
        var_per_s = float(np.mean(r * r)) / bar
        return float(np.sqrt(var_per_s * step_seconds))

    def _logret(self, close, ts, n_steps, step_seconds, n_paths, rng):
        s = self.step_sigma(close, ts, step_seconds)
        return rng.normal(_drift_term(s), s, size=(n_paths, n_steps))


@BASELINES.register(
    "gbm_ewma", category="gbm",
    params=[Param("halflife_hours", float, 6.0, low=0.05, high=24 * 365.0,
                  help="half-life of the exponentially weighted variance"),
            Param("lookback_days", float, 7.0, low=0.0, high=3650.0, help="days of history read")],
    help="GBM, zero drift, EWMA volatility (RiskMetrics-style)",
)
class GBMEWMA(Baseline):
    """GBM with exponentially weighted (half-life) volatility of recent bar returns."""

    name = "gbm_ewma"

    def step_sigma(self, close, ts, step_seconds) -> float:
        c, t = _tail(close, ts, self.params["lookback_days"])
        r, bar = _regular_returns(c, t)
        hl_bars = max(self.params["halflife_hours"] * 3600.0 / bar, 1e-9)
        w = 0.5 ** (np.arange(r.size)[::-1] / hl_bars)  # newest return weighs 1
        var_per_bar = float(np.sum(w * r * r) / np.sum(w))
        return float(np.sqrt(var_per_bar / bar * step_seconds))

    def _logret(self, close, ts, n_steps, step_seconds, n_paths, rng):
        s = self.step_sigma(close, ts, step_seconds)
        return rng.normal(_drift_term(s), s, size=(n_paths, n_steps))


def garch_fit(r: np.ndarray) -> tuple[float, float, float, float]:
    """Gaussian GARCH(1,1) MLE with variance targeting; returns (omega, alpha, beta, last_var).

    ``last_var`` is the conditional variance for the step after the last return.
    """
    from scipy.optimize import minimize
    from scipy.signal import lfilter

    r = np.asarray(r, dtype=np.float64)
    r = r - r.mean()
    v = float(np.mean(r * r))
    if not np.isfinite(v) or v <= 0:
        raise DataError("GARCH: the history has no variance (constant prices)")
    x = r / np.sqrt(v)  # unit variance: better conditioned
    x2 = x * x

    def cond_var(a: float, b: float) -> np.ndarray:
        w = 1.0 - a - b
        # h_t = w + a x_{t-1}^2 + b h_{t-1}, h_0 = 1 (the target)
        # u_0 = h_0, u_t = w + a x_{t-1}^2; then h_t = u_t + b h_{t-1} is a first-order IIR filter
        u = np.concatenate([[1.0], w + a * x2[:-1]])
        return lfilter([1.0], [1.0, -b], u)

    def nll(theta: np.ndarray) -> float:
        a, b = theta
        if a < 0 or b < 0 or a + b >= 0.9999:
            return 1e10
        h = cond_var(a, b)
        if np.any(h <= 0):
            return 1e10
        return float(0.5 * np.sum(np.log(h) + x2 / h))

    best = None
    for a0, b0 in ((0.05, 0.90), (0.10, 0.80)):
        res = minimize(nll, np.array([a0, b0]), method="L-BFGS-B",
                       bounds=[(1e-6, 0.5), (1e-6, 0.9989)])
        if best is None or res.fun < best.fun:
            best = res
    a, b = (float(v_) for v_ in best.x)
    if a + b >= 0.9999:
        b = 0.9999 - a
    h = cond_var(a, b)
    w = 1.0 - a - b
    h_next = w + a * x2[-1] + b * h[-1]
    return w * v, a, b, float(h_next * v)


@BASELINES.register(
    "garch", category="volatility",
    params=[Param("lookback_days", float, 14.0, low=0.5, high=3650.0, help="days of returns used for the fit"),
            Param("fit", bool, True, help="fit alpha/beta by MLE (else fixed alpha=0.05, beta=0.94)"),
            Param("max_obs", int, 2000, low=50, high=100_000, help="at most this many recent returns in the fit")],
    help="GARCH(1,1): volatility clustering along each path",
)
class GARCH(Baseline):
    """GARCH(1,1) volatility with Gaussian innovations, zero drift in price."""

    name = "garch"

    def fitted(self, close, ts, step_seconds) -> tuple[float, float, float, float]:
        c, t = _tail(close, ts, self.params["lookback_days"])
        r = _step_returns(c, t, step_seconds)[-self.params["max_obs"]:]
        if self.params["fit"] and r.size >= 50:
            return garch_fit(r)
        a, b = 0.05, 0.94
        r = r - r.mean()
        v = float(np.mean(r * r))
        # EWMA-like start: the recent variance
        h = v
        for x in r[-200:]:
            h = (1 - a - b) * v + a * x * x + b * h
        return (1 - a - b) * v, a, b, float(h)

    def _logret(self, close, ts, n_steps, step_seconds, n_paths, rng):
        w, a, b, h0 = self.fitted(close, ts, step_seconds)
        z = rng.standard_normal((n_paths, n_steps))
        out = np.empty((n_paths, n_steps))
        h = np.full(n_paths, h0)
        for k in range(n_steps):
            s = np.sqrt(h)
            eps = s * z[:, k]
            out[:, k] = eps - 0.5 * h
            h = w + a * eps * eps + b * h
        return out


@BASELINES.register(
    "bootstrap", category="empirical",
    params=[_LOOKBACK,
            Param("block", int, 1, low=1, high=500, help="block length in steps (1 = i.i.d. resampling)"),
            Param("demean", bool, True, help="remove the historical mean return (zero drift)")],
    help="resampled historical returns at the forecast step",
)
class Bootstrap(Baseline):
    """Bootstrap of historical log returns at the forecast step (i.i.d. or in blocks)."""

    name = "bootstrap"

    def _logret(self, close, ts, n_steps, step_seconds, n_paths, rng):
        c, t = _tail(close, ts, self.params["lookback_days"])
        r = _step_returns(c, t, step_seconds)
        if self.params["demean"]:
            # demean in price: E[exp(r)] = 1
            r = r - np.log(np.mean(np.exp(r)))
        blk = min(self.params["block"], r.size)
        if blk <= 1:
            return r[rng.integers(0, r.size, size=(n_paths, n_steps))]
        n_blocks = -(-n_steps // blk)
        starts = rng.integers(0, r.size - blk + 1, size=(n_paths, n_blocks))
        idx = (starts[:, :, None] + np.arange(blk)[None, None, :]).reshape(n_paths, -1)[:, :n_steps]
        return r[idx]


# ------------------------------------------------------------------------------ façade


def BaselineForecaster(name: str, **params: Any) -> Baseline:
    """A registered baseline as a Forecaster, parameters resolved and checked."""
    entry = BASELINES.get(name)
    return entry.obj(**entry.resolve(params))


def simulate_baseline(name: str, history_close, history_ts, n_steps: int, step_seconds: int,
                      n_paths: int = 1000, seed: int = 0, **params: Any) -> np.ndarray:
    """``BASELINES[name].simulate(...)``: prices ``(n_paths, n_steps + 1)``, column 0 = last close."""
    return BaselineForecaster(name, **params).simulate(history_close, history_ts, n_steps, step_seconds, n_paths, seed)
