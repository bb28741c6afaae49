"""HAR-RV (Corsi 2009): the next day's realised variance from the daily, weekly and monthly ones.

At a cutoff ``T`` the history is cut into 24-hour blocks ending at ``T`` (block 1 is the last day,
block 2 the one before, ...); a block's realised variance is the sum of squared regular log
returns of the finest stored bars in it (1-minute where the lake has them; ``rv_source="bars"``:
the bars given). A block that starts before the data, or holds less than a third of the usual number of
returns (a weekend of a session market, a data gap), is missing. OLS (``numpy.linalg.lstsq``)::

    RV[k] = b0 + bd * RV[k+1] + bw * mean(RV[k+1..k+5]) + bm * mean(RV[k+1..k+22])

over the rows ``k = 1..`` of the last ``window_days`` blocks whose target and regressors are all
present; the forecast is the row ``k = 0`` (floored at a tenth of the mean RV). With fewer than
``MIN_ROWS`` rows (a short history) it is the mean of the last five complete days. It is refitted
at every origin (it is a small least-squares problem); the seasonal profile, the innovation law
and the vol of vol follow the refit schedule.

Paths: the day's variance is spread over the steps by the seasonal profile (a step's share is
its profile value over the sum over the next 24 hours of steps), so a horizon of H gets the
share of its own hours; every path draws its own variance level, ``RV * exp(s Z - s^2 / 2)``,
``s`` the std of the in-sample log residuals ``log(RV / fitted)`` (``volvol``), so the paths'
realised volatilities spread as the forecast errors do. Innovations come from the law fitted
on returns standardised by their block's variance and the profile.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from synthwb.core.errors import DataError, SynthwbError
from synthwb.core.registry import Param
from synthwb.data.lake import read_bars, stored_freqs
from synthwb.data.schema import FREQ_SECONDS, Selection
from synthwb.forecast.classical.base import (
    CLASSICAL,
    DAY_NS,
    NS,
    REFIT_HOURS,
    SEASON_DAYS,
    SEASONALITY,
    ClassicalForecaster,
    Series,
)
from synthwb.forecast.classical.seasonal import Innovations, Profile, fit_innovations, fit_profile

LAGS = (1, 5, 22)
MIN_ROWS = 10


def block_rv(r: np.ndarray, r_ts: np.ndarray, bar_s: int, t_ns: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(RV, count) of the ``n_blocks`` 24-hour blocks ending at ``t_ns``, newest first (block 1
    first). A return belongs to the block its bar closes in."""
    close_ts = r_ts + bar_s * NS
    edges = t_ns - np.arange(n_blocks + 1, dtype=np.int64) * DAY_NS        # newest edge first
    idx = np.searchsorted(close_ts, edges[::-1], side="right")             # oldest edge first
    c2 = np.concatenate([[0.0], np.cumsum(r * r)])
    rv = (c2[idx[1:]] - c2[idx[:-1]])[::-1]
    cnt = np.diff(idx)[::-1]
    return rv, cnt


def har_design(rv: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, x0): regressors and targets of the rows k = 1.. with everything present, and the
    forecast row for k = 0. ``rv[j]`` is block j + 1 (newest first); ``ok`` marks present blocks."""
    n = rv.size
    rvn = np.where(ok, rv, np.nan)
    rows, ys = [], []

    def regs(k):  # regressors for target block k (1-based), from blocks k+1.. (indices k..)
        parts = [rvn[k:k + lag] for lag in LAGS]
        if k + max(LAGS) > n or any(np.isnan(p).any() for p in parts):
            return None
        return [1.0] + [float(p.mean()) for p in parts]

    for k in range(1, n - max(LAGS) + 1):
        x = regs(k)
        if x is not None and ok[k - 1]:
            rows.append(x)
            ys.append(rv[k - 1])
    x0 = regs(0)
    return np.asarray(rows).reshape(-1, 1 + len(LAGS)), np.asarray(ys), (None if x0 is None else np.asarray(x0))


def har_fit(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS coefficients (b0, bd, bw, bm)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


@dataclass
class HarSlow:
    profile: Profile
    innov: Innovations
    fit_seconds: float


@CLASSICAL.register(
    "har-rv", category="realised variance",
    params=[Param("dist", str, "t", choices=("normal", "t", "johnsonsu"), help="innovation law, fitted per asset"),
            Param("window_days", float, 180.0, low=30.0, high=3650.0, help="days of daily blocks in the OLS fit"),
            Param("rv_source", str, "finest", choices=("finest", "bars"),
                  help="realised variance from the finest stored bars of the series, or from the bars given"),
            Param("volvol", bool, True, help="draw each path's variance level around the forecast "
                                             "(log-normal, the fit's residual spread)"),
            REFIT_HOURS, SEASONALITY, SEASON_DAYS],
    help="HAR-RV: daily/weekly/monthly realised variance, OLS; seasonal spread over the steps",
)
class HarRV(ClassicalForecaster):
    """HAR-RV (see the module doc)."""

    model = "har-rv"

    @property
    def context_days(self) -> float:  # type: ignore[override]
        p = self.params
        return max(p["window_days"] + max(LAGS), p["season_days"]) + p["refit_hours"] / 24.0 + 2.0

    # -- data --------------------------------------------------------------------------------
    def series(self, bars: pl.DataFrame) -> Series:
        s = Series.from_bars(bars, self.asset_class)
        sel = self.selection
        if self.params["rv_source"] != "finest" or not sel:
            return s
        try:
            freqs = stored_freqs(sel["asset_class"], sel["symbol"], self.root)
        except SynthwbError:
            return s
        finer = [f for f in freqs if FREQ_SECONDS[f] < s.bar_s]
        if not finer:
            return s
        lo = pl.Series([int(s.ts[0])]).cast(pl.Datetime("ns", "UTC"))[0]
        hi = pl.Series([int(s.ts[-1]) + s.bar_s * NS]).cast(pl.Datetime("ns", "UTC"))[0]
        fine = read_bars(Selection(sel["asset_class"], sel["symbol"], finer[0], lo, hi), root=self.root)
        if fine.height < 100:
            return s
        f = Series.from_bars(fine, self.asset_class)
        # the prices of the bars given (column 0 of the paths) stay those of the selection
        return Series(s.ts, s.close, f.bar_s, f.r_ts, f.r, s.asset_class, px_bar_s=s.bar_s)

    # -- fit ---------------------------------------------------------------------------------
    def blocks(self, s: Series, t_ns: int) -> tuple[np.ndarray, np.ndarray]:
        n_blocks = int(self.params["window_days"]) + max(LAGS) + 1
        rv, cnt = block_rv(s.r, s.r_ts, s.bar_s, t_ns, n_blocks)
        usual = float(np.median(cnt[cnt > 0])) if (cnt > 0).any() else 0.0
        covered = s.r_ts[0] <= t_ns - np.arange(1, n_blocks + 1, dtype=np.int64) * DAY_NS  # data before its start
        ok = (cnt >= max(usual, 1.0) / 3.0) & (cnt > 0) & (rv > 0) & covered
        return rv, ok

    def regression(self, s: Series, t_ns: int) -> tuple[np.ndarray, float, float, int]:
        """(coefficients, forecast RV of the next 24 hours, log-residual std, rows)."""
        rv, ok = self.blocks(s, t_ns)
        X, y, x0 = har_design(rv, ok)
        if y.size < MIN_ROWS or x0 is None:
            # a short history: the mean of the last (up to 5) complete days, their spread as vol of vol
            recent = rv[ok][:5]
            if recent.size == 0:
                raise DataError(f"{self.name}: no complete day of realised variance before "
                                f"{np.datetime64(int(t_ns), 'ns')}; HAR-RV needs at least one "
                                f"({MIN_ROWS + max(LAGS)} for its regression)")
            pred = float(recent.mean())
            vv = float(np.std(np.log(recent / pred))) if recent.size > 2 else 0.5
            return np.array([pred, 0.0, 0.0, 0.0]), pred, float(np.clip(vv, 0.0, 1.5)), 0
        beta = har_fit(X, y)
        mean_rv = float(np.mean(rv[ok]))
        floor = 0.1 * mean_rv
        pred = max(float(x0 @ beta), floor)
        fitted = np.maximum(X @ beta, floor)
        resid = np.log(np.maximum(y, floor) / fitted)
        return beta, pred, float(np.clip(np.std(resid), 0.0, 1.5)), int(y.size)

    def fit_state(self, s: Series, n: int) -> HarSlow:
        t = time.perf_counter()
        p = self.params
        lo = int(np.searchsorted(s.r_ts, s.r_ts[n - 1] - int(p["season_days"] * DAY_NS), side="right"))
        prof = fit_profile(s.r[lo:n], s.r_ts[lo:n], p["seasonality"], s.asset_class)
        # standardise the last month of returns by their block's variance and the profile
        lo2 = int(np.searchsorted(s.r_ts, s.r_ts[n - 1] - 30 * DAY_NS, side="right"))
        r, rts = s.r[lo2:n], s.r_ts[lo2:n]
        day = (rts - rts[-1]) // DAY_NS
        _, inv = np.unique(day, return_inverse=True)
        sq = r * r / prof.at(rts)
        level = np.bincount(inv, weights=sq) / np.maximum(np.bincount(inv), 1)
        z = r / np.sqrt(np.maximum(level[inv] * prof.at(rts), 1e-300))
        innov = fit_innovations(z, p["dist"])
        return HarSlow(prof, innov, time.perf_counter() - t)

    # -- paths -------------------------------------------------------------------------------
    def simulate(self, s, state: HarSlow, t_ns, n_steps, step_s, n_paths, rng):
        _, pred, vv, _ = self.regression(s, t_ns)
        per_day = max(int(round(86400 / step_s)), 1)
        n_prof = max(per_day, n_steps)
        season = state.profile.at(t_ns + np.arange(n_prof, dtype=np.int64) * step_s * NS)
        share = season[:n_steps] / float(season[:per_day].sum()) * (per_day * step_s / 86400.0)
        var = pred * share                                                  # (n_steps,)
        if self.params["volvol"] and vv > 0:
            mult = np.exp(vv * rng.standard_normal(n_paths) - 0.5 * vv * vv)
        else:
            mult = np.ones(n_paths)
        v = var[None, :] * mult[:, None]
        z = state.innov.sample(rng, (n_paths, n_steps))
        return np.sqrt(v) * z - 0.5 * v

    def summary(self, bars: pl.DataFrame) -> dict:
        s = self.series(bars)
        t_ns = int(s.ts[-1]) + s.price_bar_s * NS
        beta, pred, vv, rows = self.regression(s, t_ns)
        d = self.describe_state(self.fitted_at(s, t_ns))
        d.update({"coef": dict(zip(("b0", "bd", "bw", "bm"), (float(b) for b in beta))),
                  "rv_next_day": pred, "vol_of_vol": vv, "rows": rows, "rv_bar_seconds": s.bar_s})
        return d

    def describe_state(self, state: HarSlow) -> dict:
        return {"model": self.model, "innovations": state.innov.describe(), "seasonality": state.profile.how,
                "fit_seconds": round(state.fit_seconds, 4),
                "profile_range": [float(state.profile.values.min()), float(state.profile.values.max())]}
