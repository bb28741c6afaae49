"""What every classical forecaster shares: the registry, the series prepared once per call, the
refit schedule, the seasonal profile and the fitted innovations (:mod:`.seasonal`), the
simulation grid.

A classical forecaster is fitted, not trained: at each origin it reads only bars that closed by
the origin's close ``T`` (the close of the origin bar), and its slow parts (the model parameters,
the seasonal profile, the innovation law) are refitted once per *epoch* of ``refit_hours``, on
data up to the epoch's start (``floor(T / R) * R``). The schedule is anchored on absolute time,
so a forecast does not depend on which other origins were asked for or in which order; the fast
part (the conditional variance at ``T``) is always filtered up to ``T`` itself.

Paths are on the task's step (``step_seconds = 0``); prices are a martingale (log drift
``-variance / 2``), column 0 is the last close at or before the origin.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import DataError, SpecError
from synthwb.core.registry import Param, Registry
from synthwb.core.time import to_ns
from synthwb.forecast.base import ForecasterBase

CLASSICAL = Registry("classical model")
NS = 1_000_000_000
DAY_NS = 86400 * NS
MIN_RETURNS = 200

SEASONALITY = Param("seasonality", str, "hour_of_week", choices=("hour_of_week", "hour_of_day", "off"),
                    help="multiplicative variance profile by hour of the week (crypto: UTC; others: New York "
                         "time, so sessions and weekends), by hour of the day, or none")
SEASON_DAYS = Param("season_days", float, 60.0, low=7.0, high=3650.0,
                    help="days of history the seasonal profile is estimated from")
REFIT_HOURS = Param("refit_hours", float, 24.0, low=0.0, high=24 * 365.0,
                    help="refit the parameters once per this many hours of data (0: at every origin)")


@dataclass
class Series:
    """Log returns of consecutive regular bars (gaps dropped), prepared once per forecast call."""

    ts: np.ndarray          # bar open times, ns (all bars)
    close: np.ndarray       # closes (all bars)
    bar_s: int              # the bar length, seconds
    r_ts: np.ndarray        # open time of the bar each return ends in, ns
    r: np.ndarray           # log returns
    asset_class: str
    px_bar_s: int = 0       # the bar of ts/close when the returns come from finer bars

    @property
    def price_bar_s(self) -> int:
        return self.px_bar_s or self.bar_s

    @classmethod
    def from_arrays(cls, ts_ns: np.ndarray, close: np.ndarray, asset_class: str = "crypto") -> Series:
        ts = np.asarray(ts_ns, dtype=np.int64)
        close = np.asarray(close, dtype=np.float64)
        ok = np.isfinite(close) & (close > 0)
        ts, close = ts[ok], close[ok]
        if ts.size < 3:
            raise DataError(f"a classical forecaster needs bars; got {ts.size}")
        d = np.diff(ts)
        pos = d[d > 0]
        if pos.size == 0:
            raise DataError("bar timestamps do not advance")
        bar_ns = int(np.median(pos))
        keep = d == bar_ns
        r = np.diff(np.log(close))[keep]
        return cls(ts, close, bar_ns // NS, ts[1:][keep], r, asset_class)

    @classmethod
    def from_bars(cls, bars: pl.DataFrame, asset_class: str = "crypto") -> Series:
        if bars is None or bars.is_empty() or "ts" not in bars.columns or "close" not in bars.columns:
            raise DataError("a classical forecaster needs bars with ts and close")
        return cls.from_arrays(to_ns(bars["ts"]), bars["close"].to_numpy(), asset_class)

    def upto(self, t_ns: int) -> int:
        """Number of returns known at time ``t_ns`` (their bar closed by then)."""
        return int(np.searchsorted(self.r_ts, t_ns - self.bar_s * NS, side="right"))


def check_step(bar_s: int, step_s: int, what: str) -> tuple[int, int]:
    """(k sub-steps per bar, m bars per step) for simulating a ``step_s`` grid from ``bar_s`` bars."""
    if step_s >= bar_s:
        if step_s % bar_s:
            raise SpecError(f"{what}: the step {step_s} s is not a whole number of its {bar_s} s bars")
        return 1, step_s // bar_s
    if bar_s % step_s:
        raise SpecError(f"{what}: the step {step_s} s does not divide its {bar_s} s bars")
    return bar_s // step_s, 1


def rng_for(seed: int, origin_ns: int) -> np.random.Generator:
    """The paths of an origin depend only on the seed and the origin (as the baselines')."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(origin_ns // NS) & 0xFFFFFFFFFFFF])


def paths_from_logret(last: float, logret: np.ndarray) -> np.ndarray:
    out = np.empty((logret.shape[0], logret.shape[1] + 1))
    out[:, 0] = last
    out[:, 1:] = last * np.exp(np.cumsum(logret, axis=1))
    return out


class ClassicalForecaster(ForecasterBase):
    """A registered classical model as a Forecaster (subclasses: :mod:`.garch`, :mod:`.har`).

    ``selection`` (asset class, symbol, freq) and ``root`` let a model read finer bars of the
    same series from the lake (HAR-RV's realised variance); without them it uses the bars given.
    """

    model: str = "classical"
    #: bars before an origin that a fit needs: backtests place their first origin after them
    context_bars: int = MIN_RETURNS + 1

    def __init__(self, selection: dict | None = None, root=None, name: str | None = None, **params: Any):
        entry = CLASSICAL.get(self.model)
        self.params = entry.resolve(params)
        self.selection = dict(selection) if selection else None
        self.asset_class = (self.selection or {}).get("asset_class", "crypto")
        self.root = root
        self.name = name or self.model
        self._cache: dict = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, {self.params})"

    # -- the schedule ------------------------------------------------------------------------
    def epoch(self, t_ns: int) -> tuple[int, int]:
        """(epoch key, the time its fit may read up to) for a cutoff ``t_ns``."""
        r_ns = int(self.params["refit_hours"] * 3600 * NS)
        if r_ns <= 0:
            return t_ns, t_ns
        e = t_ns // r_ns
        return e, e * r_ns

    def fitted_at(self, s: Series, t_ns: int) -> Any:
        """The slow state (parameters, profile, innovations) for cutoff ``t_ns``, cached per epoch."""
        key, until = self.epoch(t_ns)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is s:
            return hit[1]
        n = s.upto(until)
        if n < MIN_RETURNS:  # not enough data before the epoch's start: fit up to the cutoff itself
            n = s.upto(t_ns)
        if n < MIN_RETURNS:
            when = np.datetime_as_string(np.datetime64(int(t_ns), "ns"), unit="m").replace("T", " ")
            raise DataError(f"{self.name}: only {n} regular bar returns before {when} UTC; it needs at least "
                            f"{MIN_RETURNS}")
        state = self.fit_state(s, n)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = (s, state)
        return state

    # -- to implement ------------------------------------------------------------------------
    def fit_state(self, s: Series, n: int) -> Any:  # pragma: no cover - abstract
        raise TypeError("ClassicalForecaster is abstract: use a registered model")

    def simulate(self, s: Series, state: Any, t_ns: int, n_steps: int, step_s: int, n_paths: int,
                 rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - abstract
        raise TypeError("ClassicalForecaster is abstract: use a registered model")

    def series(self, bars: pl.DataFrame) -> Series:
        return Series.from_bars(bars, self.asset_class)

    def summary(self, bars: pl.DataFrame) -> dict:
        """The fit at the end of ``bars`` as plain numbers (for run.json and the pages)."""
        s = self.series(bars)
        t_ns = int(s.ts[-1]) + s.price_bar_s * NS
        return self.describe_state(self.fitted_at(s, t_ns))

    def describe_state(self, state: Any) -> dict:  # pragma: no cover - abstract
        return {}

    # -- the contract ------------------------------------------------------------------------
    def forecast(self, bars: pl.DataFrame, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Paths ``(n_origins, n_paths, n_steps + 1)`` on the task's step, from bars with ts <= origin."""
        n_steps, step_seconds, n_paths = int(n_steps), int(step_seconds), int(n_paths)
        if n_steps < 1 or n_paths < 1 or step_seconds < 1:
            raise SpecError("n_steps, n_paths and step_seconds must be positive")
        out = np.empty((len(origins), n_paths, n_steps + 1))
        if not len(origins):
            return out
        s = self.series(bars)
        o_ns = to_ns(list(origins))
        for i, o in enumerate(o_ns):
            hi = int(np.searchsorted(s.ts, o, side="right"))
            if hi < 1:
                raise DataError(f"{self.name}: no bars at or before origin {origins[i]}")
            t_ns = int(s.ts[hi - 1]) + s.price_bar_s * NS  # the last known close's time
            state = self.fitted_at(s, t_ns)
            lr = self.simulate(s, state, t_ns, n_steps, step_seconds, n_paths, rng_for(seed, int(s.ts[hi - 1])))
            out[i] = paths_from_logret(float(s.close[hi - 1]), lr)
        return out
