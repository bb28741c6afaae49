"""Seasonal variance profiles and fitted innovation laws, shared by the classical models.

Profile: an hour-of-day shape of the squared returns, each hour's mean over its day's mean, and
(for ``hour_of_week``) a weekday shape of what is left, each weekday over its Monday-week's mean,
both shrunk towards 1 by empirical Bayes (:func:`synthwb.features.realised.shrunk_shape`, the HAR
anchor's own estimator: a storm day or week's level drops out, a bucket moves by its share of the
evidence); their product is normalised so the returns it was estimated on keep their mean
variance. Crypto buckets and days are in UTC; every other class in New York time, so sessions,
the overnight and weekends fall in their own buckets.

Why not each bucket's mean over the overall mean: fourteen days of 1-minute bars hold two of each
hour of the week, and one storm hour set its bucket; out of sample the shrunk shape scores better
on every real series of the quality panel (README, "The anchor's seasonal profile").

Innovations: unit-variance, zero-mean laws fitted per asset on standardised returns: normal,
Student-t (``scipy.stats.t``, location 0) or Johnson SU (``scipy.stats.johnsonsu``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthwb.data.schema import SESSION_TZ
from synthwb.features.realised import hour_of_week, shrunk_shape, week_shape

DAY_NS = 86_400 * 1_000_000_000
MAX_DIST_FIT = 5000


def buckets(ts_ns: np.ndarray, how: str, asset_class: str) -> np.ndarray:
    """The seasonal bucket of each time (int array); all zeros for ``how="off"``."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    if how == "off" or ts_ns.size == 0:
        return np.zeros(ts_ns.shape, dtype=np.int64)
    if asset_class == "crypto":
        how_ = hour_of_week(ts_ns)  # Monday 00:00 UTC is bucket 0
    else:
        local = pl.Series("t", ts_ns).cast(pl.Datetime("ns", "UTC")).dt.convert_time_zone(SESSION_TZ)
        how_ = ((local.dt.weekday() - 1).cast(pl.Int64) * 24 + local.dt.hour().cast(pl.Int64)).to_numpy()
    return how_ % 24 if how == "hour_of_day" else how_


def local_days(ts_ns: np.ndarray, asset_class: str) -> np.ndarray:
    """The day of each time, as days since 1970-01-01 (crypto: UTC; other classes: New York time)."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    if asset_class == "crypto":
        return ts_ns // DAY_NS
    local = pl.Series("t", ts_ns).cast(pl.Datetime("ns", "UTC")).dt.convert_time_zone(SESSION_TZ)
    return local.dt.date().cast(pl.Int64).to_numpy()


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
    b = buckets(r_ts, how, asset_class)
    r2 = r * r
    if not float(r2.mean()) > 0:
        return Profile("off", asset_class, np.ones(1))
    day = local_days(r_ts, asset_class)
    if how == "hour_of_week":
        return Profile(how, asset_class, week_shape(b, day, r2))
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
        if self.dist == "t":
            nu = self.shape[0]
            return rng.standard_t(nu, size=size) * np.sqrt((nu - 2.0) / nu)
        if self.dist == "johnsonsu":
            a, b = self.shape
            # Johnson SU: x = sinh((z - a) / b), z standard normal (loc 0, scale 1), then standardised
            x = np.sinh((rng.standard_normal(size) - a) / b)
            return (x - self.mean) / self.std
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
