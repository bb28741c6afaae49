"""The GARCH family through ``arch``: GARCH(1,1), GJR-GARCH(1,1,1), EGARCH(1,1,1), with normal,
Student-t or skew-t (Hansen) innovations, on deseasonalised bar log returns.

Fit (once per epoch, :mod:`.base`): ``arch_model(y, mean="Zero", vol=..., p=1, o=..., q=1,
dist=..., rescale=False).fit(disp="off")`` on ``y = scale * r / sqrt(profile)`` over the last
``window_days`` (at most ``max_obs`` returns); ``scale`` is a power of ten that brings the
returns' std near 10 (arch's optimiser prefers it). At each origin the fitted parameters are
fixed (``model.fix``) on the returns up to the origin and ``forecast(horizon=1)`` gives the
variance of the next bar. Paths then run the model's own recursion, vectorised over paths,
with innovations drawn from the fitted law: every path has its own variance path (stochastic
volatility). A step finer than the bars spreads each bar's variance evenly over its sub-steps;
a coarser one sums whole bars.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from synthwb.core.registry import Param
from synthwb.features.garch_term import scale_for
from synthwb.forecast.classical.base import (
    CLASSICAL,
    DAY_NS,
    NS,
    REFIT_HOURS,
    SEASON_DAYS,
    SEASONALITY,
    ClassicalForecaster,
    Series,
    check_step,
)
from synthwb.forecast.classical.seasonal import Profile, bounded, fit_profile

VOLS = {"garch": ("GARCH", 0), "gjr-garch": ("GARCH", 1), "egarch": ("EGARCH", 1)}
NORM_CONST = math.sqrt(2.0 / math.pi)


def arch_spec(model: str, y: np.ndarray, dist: str):
    """The ``arch`` model for ``model`` (garch, gjr-garch, egarch) on ``y``, zero mean."""
    from arch import arch_model  # lazy: arch imports statsmodels pieces

    vol, o = VOLS[model]
    return arch_model(y, mean="Zero", vol=vol, p=1, o=o, q=1, dist="skewt" if dist == "skewt" else dist,
                      rescale=False)


def fit_arch(model: str, y: np.ndarray, dist: str):
    """``arch``'s maximum-likelihood fit (the result object)."""
    return arch_spec(model, y, dist).fit(disp="off", show_warning=False)


@dataclass
class GarchState:
    params: np.ndarray          # arch's order: omega, alpha, [gamma], beta, [nu | eta, lambda]
    names: list[str]
    scale: float
    profile: Profile
    var_cap: float              # a ceiling on the simulated (scaled) variance
    loglik: float
    n_obs: int
    fit_seconds: float
    extra: dict = field(default_factory=dict)


def _sample(dist: str, shape_params: np.ndarray, rng: np.random.Generator, size) -> np.ndarray:
    """Innovations of arch's unit-variance laws, winsorised (:func:`seasonal.bounded`)."""
    if dist == "t":
        nu = float(shape_params[0])
        return bounded(rng.standard_t(nu, size=size) * math.sqrt((nu - 2.0) / nu), "t", (nu,))
    if dist == "skewt":
        eta, lam = float(shape_params[0]), float(shape_params[1])
        return bounded(skewt_sample(eta, lam, rng, size), "skewt", (eta, lam))
    return rng.standard_normal(size)


def skewt_sample(eta: float, lam: float, rng: np.random.Generator, size) -> np.ndarray:
    """Hansen's (1994) skewed t, arch's ``SkewStudent`` (eta, lambda), by its two half-densities:
    ``y = b z + a`` is ``-(1 - lam)|x|`` with probability ``(1 - lam) / 2`` and ``(1 + lam)|x|``
    otherwise, ``x`` a unit-variance Student t."""
    c = math.exp(math.lgamma((eta + 1) / 2) - math.lgamma(eta / 2)) / math.sqrt(math.pi * (eta - 2))
    a = 4 * lam * c * (eta - 2) / (eta - 1)
    b = math.sqrt(1 + 3 * lam * lam - a * a)
    x = np.abs(rng.standard_t(eta, size=size)) * math.sqrt((eta - 2) / eta)
    left = rng.uniform(size=size) < (1 - lam) / 2
    y = np.where(left, -(1 - lam) * x, (1 + lam) * x)
    return (y - a) / b


def simulate_variance(model: str, vol_params: np.ndarray, h0: np.ndarray, e: np.ndarray,
                      cap: float = math.inf) -> tuple:
    """The recursion alone: from next-bar variances ``h0`` (n_paths,) and standardised shocks
    ``e`` (n_paths, n_bars), returns (shocks eps, variances h), both (n_paths, n_bars). ``cap``:
    a ceiling on every variance, applied inside the recursion (an EGARCH's exponent cannot overflow)."""
    n_paths, n_bars = e.shape
    hs = np.empty((n_paths, n_bars))
    h = np.minimum(np.asarray(h0, dtype=np.float64), cap)
    log_cap = math.log(cap) if math.isfinite(cap) else 700.0
    for b in range(n_bars):
        hs[:, b] = h
        eb = e[:, b]
        if model == "egarch":
            w, a, g, beta = vol_params
            h = np.exp(np.clip(w + a * (np.abs(eb) - NORM_CONST) + g * eb + beta * np.log(h), -700.0, log_cap))
            continue
        else:
            eps2 = h * eb * eb
            if model == "gjr-garch":
                w, a, g, beta = vol_params
                h = w + (a + g * (eb < 0)) * eps2 + beta * h
            else:
                w, a, beta = vol_params
                h = w + a * eps2 + beta * h
            h = np.minimum(h, cap)
    return np.sqrt(hs) * e, hs


def sane_params(model: str, params: np.ndarray, dist: str) -> bool:
    """Whether a fit's parameters describe a stationary, non-degenerate model (an optimiser that
    wandered off gives e.g. an EGARCH with alpha ~ 1e3 and a variance that overflows)."""
    p = np.asarray(params, dtype=np.float64)
    if not np.isfinite(p).all():
        return False
    if model == "egarch":
        w, a, g, b = p[:4]
        ok = abs(b) <= 1.0 + 1e-6 and 0.0 <= a < 2.0 and abs(g) < 2.0
        rest = p[4:]
    else:
        if model == "gjr-garch":
            w, a, g, b = p[:4]
            pers, rest = a + 0.5 * g + b, p[4:]
            ok = g > -a - 1e-9
        else:
            w, a, b = p[:3]
            pers, rest, ok = a + b, p[3:], True
        ok = ok and w > 0 and a >= 0 and b >= 0 and pers <= 1.0 + 1e-6   # arch bounds it by 1 (IGARCH)
    if dist in ("t", "skewt") and rest.size:
        ok = ok and 2.05 < rest[0] < 500.0
    if dist == "skewt" and rest.size > 1:
        ok = ok and abs(rest[1]) < 0.99
    return bool(ok)


def prior_params(model: str, y: np.ndarray, dist: str) -> np.ndarray:
    """Textbook parameters (persistence 0.95, news 0.05 to 0.1) with the sample variance of ``y`` as
    the unconditional one: the fallback when a fit is not sane."""
    v = float(np.var(y)) or 1.0
    if model == "egarch":
        vol = [(1 - 0.95) * math.log(v), 0.1, 0.0, 0.95]
    elif model == "gjr-garch":
        vol = [v * 0.05, 0.03, 0.04, 0.9]
    else:
        vol = [v * 0.05, 0.05, 0.9]
    shape = {"t": [8.0], "skewt": [8.0, 0.0]}.get(dist, [])
    return np.asarray(vol + shape, dtype=np.float64)


_DIST = Param("dist", str, "t", choices=("normal", "t", "skewt"), help="innovation law, fitted with the model")
_PARAMS = [
    _DIST,
    Param("window_days", float, 30.0, low=1.0, high=3650.0, help="days of bar returns in each fit"),
    Param("max_obs", int, 20_000, low=200, high=500_000, help="at most this many recent returns in a fit"),
    REFIT_HOURS, SEASONALITY, SEASON_DAYS,
]


class GarchForecaster(ClassicalForecaster):
    """A GARCH-family model fitted with ``arch`` (see the module doc)."""

    @property
    def context_days(self) -> float:  # type: ignore[override]
        p = self.params
        return max(p["window_days"], p["season_days"] if p["seasonality"] != "off" else 0.0) \
            + p["refit_hours"] / 24.0 + 1.0

    def _window(self, s: Series, n: int) -> slice:
        lo = int(np.searchsorted(s.r_ts, s.r_ts[n - 1] - int(self.params["window_days"] * DAY_NS), side="right"))
        return slice(max(lo, n - self.params["max_obs"]), n)

    def fit_state(self, s: Series, n: int) -> GarchState:
        t = time.perf_counter()
        p = self.params
        lo = int(np.searchsorted(s.r_ts, s.r_ts[n - 1] - int(p["season_days"] * DAY_NS), side="right"))
        prof = fit_profile(s.r[lo:n], s.r_ts[lo:n], p["seasonality"], s.asset_class)
        w = self._window(s, n)
        x = s.r[w] / np.sqrt(prof.at(s.r_ts[w]))
        scale = scale_for(x)
        y = x * scale
        res = fit_arch(self.model, y, p["dist"])
        params = np.asarray(res.params.values, dtype=np.float64)
        extra = {}
        if not sane_params(self.model, params, p["dist"]):
            # the optimiser wandered off: start again from textbook values, else keep them
            start = prior_params(self.model, y, p["dist"])
            retry = arch_spec(self.model, y, p["dist"]).fit(disp="off", show_warning=False, starting_values=start)
            params2 = np.asarray(retry.params.values, dtype=np.float64)
            if sane_params(self.model, params2, p["dist"]):
                res, params, extra = retry, params2, {"refit": "from textbook starting values"}
            else:
                params, extra = start, {"refit": "not sane twice: textbook parameters"}
        return GarchState(params, list(res.params.index), scale, prof, var_cap=100.0 * float(np.var(y)),
                          loglik=float(res.loglikelihood), n_obs=int(y.size),
                          fit_seconds=time.perf_counter() - t, extra=extra)

    def next_variance(self, s: Series, state: GarchState, n: int) -> float:
        """The (scaled, deseasonalised) variance of the bar after the first ``n`` returns."""
        w = self._window(s, n)
        y = s.r[w] / np.sqrt(state.profile.at(s.r_ts[w])) * state.scale
        res = arch_spec(self.model, y, self.params["dist"]).fix(state.params)
        return float(res.forecast(horizon=1, reindex=False).variance.values[-1, 0])

    def simulate(self, s, state: GarchState, t_ns, n_steps, step_s, n_paths, rng):
        k, m = check_step(s.bar_s, step_s, self.name)
        n_fine = n_steps * m                      # in units of min(bar, step)
        n_bars = -(-n_fine // k)
        unit = min(s.bar_s, step_s)
        h0 = self.next_variance(s, state, s.upto(t_ns))
        # a filtered variance outside [cap / 1e3, cap] (0, inf or nan from a bad window) is clipped
        h0 = float(np.clip(h0, state.var_cap * 1e-3, state.var_cap)) if np.isfinite(h0) else state.var_cap / 100.0
        nv = 4 if self.model != "garch" else 3
        z = _sample(self.params["dist"], state.params[nv:], rng, (n_paths, n_bars, k))
        e = z.sum(axis=2) / math.sqrt(k)          # the bar's standardised shock
        _, hs = simulate_variance(self.model, state.params[:nv], np.full(n_paths, h0), e, cap=state.var_cap)
        season = state.profile.at(t_ns + np.arange(n_bars * k, dtype=np.int64) * unit * NS)
        var = (np.repeat(hs, k, axis=1) / k) * season[None, :] / state.scale ** 2
        lr = (np.sqrt(var) * z.reshape(n_paths, n_bars * k) - 0.5 * var)[:, :n_fine]
        return lr.reshape(n_paths, n_steps, m).sum(axis=2) if m > 1 else lr

    def describe_state(self, state: GarchState) -> dict:
        return {"model": self.model, "params": dict(zip(state.names, (float(v) for v in state.params))),
                "scale": state.scale, "loglik": state.loglik, "n_obs": state.n_obs, **state.extra,
                "fit_seconds": round(state.fit_seconds, 4),
                "seasonality": state.profile.how,
                "profile_range": [float(state.profile.values.min()), float(state.profile.values.max())]}


@CLASSICAL.register("garch", category="garch", params=_PARAMS,
                    help="GARCH(1,1) through arch, fitted innovations, seasonal variance profile")
class Garch(GarchForecaster):
    model = "garch"


@CLASSICAL.register("gjr-garch", category="garch", params=_PARAMS,
                    help="GJR-GARCH(1,1,1): GARCH with a leverage term for negative shocks")
class GjrGarch(GarchForecaster):
    model = "gjr-garch"


@CLASSICAL.register("egarch", category="garch", params=_PARAMS,
                    help="EGARCH(1,1,1): log-variance recursion with asymmetry")
class Egarch(GarchForecaster):
    model = "egarch"
