"""Seasonal variance profiles and fitted innovation laws, shared by the classical models.

Profile: an hour-of-day shape of the squared returns, each hour's mean over its day's mean, and
(for ``hour_of_week``) a weekday shape of what is left, each weekday over its Monday-week's mean,
both shrunk towards 1 by empirical Bayes (:func:`synthwb.features.realised.shrunk_shape`, the HAR
anchor's own estimator: a storm day or week's level drops out, a bucket moves by its share of the
evidence); their product is normalised so the returns it was estimated on keep their mean
variance. Crypto buckets and days are in UTC; every other class in New York time, so sessions,
the overnight and weekends fall in their own buckets.

Why not each bucket's mean over the overall mean: fourteen days of 1-minute bars hold two of each
hour of the week, and one storm hour set its bucket. Out of sample (``bench/bench_seasonal.py``)
the shrunk shape predicts the next hour's squared return better on most splits of the quality
panel's real series, and the panel's classical models all gained (README, "The classical models'
profile").

Innovations: unit-variance, zero-mean laws fitted per asset on standardised returns: normal,
Student-t (``scipy.stats.t``, location 0) or Johnson SU (``scipy.stats.johnsonsu``). Every shock a
classical model simulates (these laws, and the GARCH family's own) is winsorised at ``Z_MAX``
standard deviations and centred again (:func:`bounded`): its quantiles within the bound stay as
fitted (what the CRPS reads), and the variance beyond it is lost (12% for a t with 2.8 degrees of
freedom, a law whose variance is barely finite; 0.2% at 5). Why: a t law fitted to hourly BTC has
3 degrees of freedom or fewer, and among the million draws of a walk-forward a few land beyond 50
sd; the variance recursion then multiplies the next steps' vol too, and one path of the 2019
Coinbase fold ended at e^15 times its start. The validator's CRPS estimator (mean |X - y| minus half
the mean |X - X'| over all pairs) charges such a path about its size over N^2: one origin scored
132,998 against 1,250 and took the blended run's fold from 0.973 to 1.071 of gbm.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from synthwb.data.schema import SESSION_TZ
from synthwb.features.realised import hour_of_week, shrunk_shape, week_shape

DAY_NS = 86_400 * 1_000_000_000
Z_MAX = 10.0           # a simulated shock's bound, in standard deviations of its law (then centred again)
_MOMENT_GRID = 200_000  # quantile midpoints for the winsorised law's mean and sd
MAX_DIST_FIT = 5000


def _clock(ts_ns: np.ndarray, asset_class: str, days: bool = False):
    """Hour of the week of each time (0: Monday 00:00) in the market's clock (crypto: UTC; other classes:
    New York time), and with ``days`` the day too (days since 1970-01-01, same clock): one conversion."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    if asset_class == "crypto":
        return (hour_of_week(ts_ns), ts_ns // DAY_NS) if days else hour_of_week(ts_ns)
    local = pl.Series("t", ts_ns).cast(pl.Datetime("ns", "UTC")).dt.convert_time_zone(SESSION_TZ)
    how = ((local.dt.weekday() - 1).cast(pl.Int64) * 24 + local.dt.hour().cast(pl.Int64)).to_numpy()
    return (how, local.dt.date().cast(pl.Int64).to_numpy()) if days else how


def buckets(ts_ns: np.ndarray, how: str, asset_class: str) -> np.ndarray:
    """The seasonal bucket of each time (int array); all zeros for ``how="off"``."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    if how == "off" or ts_ns.size == 0:
        return np.zeros(ts_ns.shape, dtype=np.int64)
    how_ = _clock(ts_ns, asset_class)
    return how_ % 24 if how == "hour_of_day" else how_


@dataclass
class Profile:
    how: str
    asset_class: str
    values: np.ndarray   # variance multiplier per bucket

    def at(self, ts_ns: np.ndarray) -> np.ndarray:
        if self.how == "off":
            return np.ones(np.shape(ts_ns))
        return self.values[buckets(ts_ns, self.how, self.asset_class)]


def fit_profile(r: np.ndarray, r_ts: np.ndarray, how: str, asset_class: str) -> Profile:
    """The seasonal profile of returns ``r`` that end in bars opening at ``r_ts`` (see the module doc)."""
    if how == "off" or r.size == 0:
        return Profile("off", asset_class, np.ones(1))
    r2 = r * r
    if not float(r2.mean()) > 0:
        return Profile("off", asset_class, np.ones(1))
    b, day = _clock(r_ts, asset_class, days=True)
    if how == "hour_of_week":
        return Profile(how, asset_class, week_shape(b, day, r2))
    b = b % 24
    vals = shrunk_shape(b, day, r2, 24)
    vals = vals / float(np.mean(vals[b]))
    return Profile(how, asset_class, vals)


@dataclass
class Innovations:
    """A unit-variance, zero-mean law: ``dist`` and its scipy shape parameters."""

    dist: str
    shape: tuple = ()
    mean: float = 0.0
    std: float = 1.0

    def sample(self, rng: np.random.Generator, size) -> np.ndarray:
        """Draws of the law, winsorised at ``Z_MAX`` and centred again (:func:`bounded`)."""
        if self.dist == "t":
            nu = self.shape[0]
            return bounded(rng.standard_t(nu, size=size) * np.sqrt((nu - 2.0) / nu), "t", (float(nu),))
        if self.dist == "johnsonsu":
            a, b = self.shape
            # Johnson SU: x = sinh((z - a) / b), z standard normal (loc 0, scale 1), then standardised
            x = np.sinh((rng.standard_normal(size) - a) / b)
            return bounded((x - self.mean) / self.std, "johnsonsu", (float(a), float(b), self.mean, self.std))
        return rng.standard_normal(size)

    def describe(self) -> dict:
        d = {"dist": self.dist}
        if self.dist == "t":
            d["nu"] = float(self.shape[0])
        elif self.dist == "johnsonsu":
            d["a"], d["b"] = (float(v) for v in self.shape)
        return d


def fit_innovations(z: np.ndarray, dist: str) -> Innovations:
    """Fit ``dist`` to standardised returns ``z`` (at most the last ``MAX_DIST_FIT``)."""
    from scipy import stats  # lazy: scipy.stats is slow to import

    z = np.asarray(z, dtype=np.float64)
    z = z[np.isfinite(z)][-MAX_DIST_FIT:]
    if dist == "normal" or z.size < 50:
        return Innovations("normal")
    z = (z - z.mean()) / (z.std() or 1.0)
    if dist == "t":
        nu, _, _ = stats.t.fit(z, floc=0.0)
        return Innovations("t", (float(np.clip(nu, 2.5, 200.0)),))
    a, b, _, _ = stats.johnsonsu.fit(z, floc=0.0, fscale=1.0)
    b = float(max(b, 0.3))
    mean, var = stats.johnsonsu.stats(a, b, moments="mv")
    return Innovations("johnsonsu", (float(a), b), float(mean), float(np.sqrt(var)))


def _unit_ppf(dist: str, shape: tuple, u: np.ndarray) -> np.ndarray:
    """Quantiles of the unit-variance law ``dist`` (t: (nu,); skewt: arch's (eta, lambda); johnsonsu:
    (a, b, mean, sd))."""
    from scipy import stats

    if dist == "t":
        nu = shape[0]
        return stats.t.ppf(u, nu) * np.sqrt((nu - 2.0) / nu)
    if dist == "skewt":
        from arch.univariate import SkewStudent

        return SkewStudent().ppf(u, list(shape))
    if dist == "johnsonsu":
        a, b, mean, sd = shape
        return (np.sinh((stats.norm.ppf(u) - a) / b) - mean) / sd
    return stats.norm.ppf(u)


@lru_cache(maxsize=512)
def winsorised_moments(dist: str, shape: tuple) -> tuple[float, float]:
    """Mean and sd of the unit-variance law ``dist`` winsorised at +-``Z_MAX`` (midpoint rule over its
    quantiles: the winsorised law is bounded, so the rule converges fast; the sd for the record)."""
    u = (np.arange(_MOMENT_GRID) + 0.5) / _MOMENT_GRID
    z = np.clip(_unit_ppf(dist, tuple(float(v) for v in shape), u), -Z_MAX, Z_MAX)
    return float(z.mean()), float(z.std())


def bounded(z: np.ndarray, dist: str, shape: tuple = ()) -> np.ndarray:
    """Unit-variance draws ``z`` of ``dist`` winsorised at +-``Z_MAX`` and centred again (mean 0; the
    quantiles inside the bound as they were; see the module doc; a normal law is returned as it is)."""
    if dist == "normal":
        return z
    if dist == "t":  # symmetric: its winsorised mean is 0, no quantile grid to compute at each refit
        return np.clip(z, -Z_MAX, Z_MAX)
    mean, _ = winsorised_moments(dist, tuple(round(float(v), 6) for v in shape))
    return np.clip(z, -Z_MAX, Z_MAX) - mean
