"""Reference forecasters for the demo lake, from its generator (``synthwb.data.demo``): how good a
forecast can get there.

- :class:`DemoOracle` (``filtered=False``, "oracle"): knows the true process and its latent
  volatility state at the origin: it simulates the generator's own dynamics forward from the
  true log-vol components (the three AR(1) processes, the seasonal profile, Student-t(4)
  innovations, the weak mean reversion of the log price) minute by minute.
- the same with ``filtered=True`` ("filtered oracle"): knows the parameters but not the state;
  it filters the log-vol components from past 1-minute returns with a steady-state Kalman
  filter on ``log r^2`` (the quasi-likelihood state-space form of the stochastic-volatility
  model: ``log r_t^2 - E = 2 s h_t + noise``, the noise's mean and variance those of
  ``log eps^2`` for the unit-variance Student-t(4)), and draws each path's starting state from
  the filter's Gaussian posterior. The filter is a linear recursion, run once over the whole
  series (so every state uses only returns up to its own minute); a missing minute or a return
  across a gap is read as carrying no information (innovation set to its mean).

Both are Forecasters (``synthwb.forecast.base``): the backtest scores them beside the models,
on the same origins and timing. Paths are simulated on 1-minute steps and read at the asked
step (a whole number of minutes); the paths of an origin depend only on the seed and the origin.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
from scipy.linalg import solve_discrete_are
from scipy.signal import lfilter
from scipy.special import polygamma, psi

from synthwb.core.errors import DataError, SpecError
from synthwb.core.time import to_ns
from synthwb.data.demo import DemoLatent
from synthwb.forecast.base import ForecasterBase

NS = 1_000_000_000
MIN_NS = 60 * NS


def log_eps2_moments(df: float) -> tuple[float, float]:
    """Mean and variance of ``log eps^2`` for a Student-t(df) scaled to unit variance."""
    mean = float(psi(0.5) - psi(df / 2) + math.log(df) - math.log(df / (df - 2)))
    var = float(polygamma(1, 0.5) + polygamma(1, df / 2))
    return mean, var


class QMLFilter:
    """Steady-state Kalman filter of the log-vol components from 1-minute log returns.

    ``mean[i]``: the filtered components after minute ``i``'s return; ``cov``: their
    (steady-state) covariance.
    """

    def __init__(self, lat: DemoLatent, minute_idx: np.ndarray, log_close: np.ndarray):
        n = lat.season.size
        phi = lat.phis
        std = np.asarray(lat.comp_std)
        s = lat.vol_of_vol
        m_eps, v_eps = log_eps2_moments(lat.t_df)
        # y_i = log r_i^2 - (2 log(base season_i) - 2 s^2 + m_eps) = H x_i + v_i
        r = np.full(n, np.nan)
        i = np.asarray(minute_idx, dtype=np.int64)
        ok = (np.diff(i) == 1) & (i[1:] < n)
        r[i[1:][ok]] = np.diff(log_close)[ok]
        y = np.log(np.square(r)) - (2 * np.log(lat.base * lat.season) - 2 * s * s + m_eps)
        y[~np.isfinite(y)] = 0.0  # no information: the innovation's mean
        F = np.diag(phi)
        Q = np.diag(std ** 2 * (1 - phi ** 2))
        H = np.full((1, 3), 2 * s)
        R = np.array([[v_eps]])
        P = solve_discrete_are(F.T, H.T, Q, R)          # predicted covariance
        K = P @ H.T / float((H @ P @ H.T + R)[0, 0])       # (3, 1) gain
        self.cov = (np.eye(3) - K @ H) @ P                # filtered covariance
        A = (np.eye(3) - K @ H) @ F                       # m_i = A m_{i-1} + K y_i
        lam, V = np.linalg.eig(A)
        b = np.linalg.solve(V, K[:, 0])
        z = np.stack([lfilter([b[k]], [1.0, -lam[k]], y.astype(complex)) for k in range(3)], axis=1)
        self.mean = np.real(z @ V.T)
        self.gain = K[:, 0]


class DemoOracle(ForecasterBase):
    """The demo generator run forward from the true (or the filtered) latent state."""

    def __init__(self, lat: DemoLatent, fine_bars: pl.DataFrame | None = None, filtered: bool = False,
                 name: str | None = None):
        self.lat = lat
        self.filtered = bool(filtered)
        self.name = name or ("filtered oracle" if filtered else "oracle")
        self.start_ns = int(lat.start.timestamp()) * NS
        self.qml = None
        if filtered:
            if fine_bars is None or fine_bars.is_empty():
                raise DataError("the filtered oracle needs the series' 1-minute bars")
            ts = to_ns(fine_bars["ts"])
            self.qml = QMLFilter(lat, (ts - self.start_ns) // MIN_NS, np.log(fine_bars["close"].to_numpy()))
            self.chol = np.linalg.cholesky(self.cov_psd(self.qml.cov))

    @staticmethod
    def cov_psd(c: np.ndarray) -> np.ndarray:
        c = 0.5 * (c + c.T)
        w, v = np.linalg.eigh(c)
        return (v * np.clip(w, 1e-12, None)) @ v.T

    def state(self, i: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        """(n_paths, 3) log-vol components after minute ``i``."""
        if self.qml is None:
            return np.broadcast_to(self.lat.components[i], (n_paths, 3)).copy()
        return self.qml.mean[i] + rng.standard_normal((n_paths, 3)) @ self.chol.T

    def simulate(self, i: int, last: float, n_min: int, every: int, n_paths: int,
                 rng: np.random.Generator) -> np.ndarray:
        """Prices (n_paths, n_min // every + 1) for the minutes after minute ``i``, column 0 = last."""
        lat = self.lat
        phi = lat.phis
        std = np.asarray(lat.comp_std)
        x0 = self.state(i, n_paths, rng)
        z = rng.standard_normal((n_paths, n_min, 3))
        h = np.zeros((n_paths, n_min))
        for k in range(3):
            c = std[k] * math.sqrt(1 - phi[k] ** 2)
            h += lfilter([c], [1.0, -phi[k]], z[:, :, k], axis=1, zi=phi[k] * x0[:, k:k + 1])[0]
        season = lat.season[np.clip(np.arange(i + 1, i + 1 + n_min), 0, lat.season.size - 1)]
        s = lat.vol_of_vol
        sigma = lat.base * season[None, :] * np.exp(s * h - s * s)
        eps = rng.standard_t(lat.t_df, size=(n_paths, n_min)) / math.sqrt(lat.t_df / (lat.t_df - 2))
        a = 1.0 - lat.theta
        d0 = math.log(last / lat.level)
        d = lfilter([1.0], [1.0, -a], sigma * eps, axis=1, zi=np.full((n_paths, 1), a * d0))[0]
        out = np.empty((n_paths, n_min // every + 1))
        out[:, 0] = last
        out[:, 1:] = lat.level * np.exp(d[:, every - 1::every])
        return out

    def forecast(self, bars: pl.DataFrame, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        n_steps, step_seconds, n_paths = int(n_steps), int(step_seconds), int(n_paths)
        if step_seconds % 60:
            raise SpecError(f"{self.name} simulates whole minutes; the step {step_seconds} s is not one")
        every = step_seconds // 60
        ts = to_ns(bars["ts"])
        close = bars["close"].to_numpy().astype(np.float64)
        bar_ns = int(np.median(np.diff(ts))) if ts.size > 1 else MIN_NS
        out = np.empty((len(origins), n_paths, n_steps + 1))
        for j, o in enumerate(to_ns(list(origins))):
            hi = int(np.searchsorted(ts, o, side="right"))
            if hi < 1:
                raise DataError(f"{self.name}: no bars at or before origin {origins[j]}")
            c_ns = int(ts[hi - 1]) + bar_ns                  # the last known close's time
            i = (c_ns - self.start_ns) // MIN_NS - 1         # the minute that close ends
            if not 0 <= i < self.lat.season.size:
                raise DataError(f"{self.name}: origin {origins[j]} lies outside the generated series")
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(ts[hi - 1] // NS) & 0xFFFFFFFFFFFF])
            out[j] = self.simulate(int(i), float(close[hi - 1]), n_steps * every, every, n_paths, rng)
        return out
