"""The GARCH(1,1) term of the HAR anchor (``har_anchor`` with ``garch="on"``, :mod:`synthwb.features.realised`):
a GARCH forecast of a window's mean variance, one more regressor of each horizon's log-HAR regression.

The parameters come from ``arch`` (zero mean, Gaussian quasi-likelihood) on the training period's
deseasonalised fine returns; the forecast runs the recursion over every fine return up to a row's close
(a linear filter, so nothing after it is read) and takes the closed-form mean of the next ``n`` variances.
``scale_for`` (the returns' scaling for ``arch``) serves the classical GARCH family too.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

MIN_FIT_RETURNS = 300    # fewer training returns: no term
GARCH_MAX_OBS = 50_000   # the GARCH term is fitted on at most the last this many fine returns of the training period
GARCH_MAX_PERSISTENCE = 0.9999


def scale_for(r: np.ndarray) -> float:
    """A power of ten that brings the std of ``r`` near 10 (arch's optimiser prefers it)."""
    sd = float(np.std(r))
    if not sd > 0:
        return 1.0
    return float(10.0 ** round(math.log10(10.0 / sd)))


def fit_garch_term(rd: np.ndarray) -> dict | None:
    """GARCH(1,1) parameters (``arch``, zero mean, Gaussian quasi-likelihood) of the deseasonalised fine
    returns ``rd`` of the training period, in units of squared return; an integrated fit (persistence
    over ``GARCH_MAX_PERSISTENCE``) has its beta lowered to that and its omega set by variance targeting;
    None when the fit fails (the anchor then runs without the term)."""
    from arch import arch_model  # lazy: arch imports statsmodels pieces

    rd = rd[np.isfinite(rd)][-GARCH_MAX_OBS:]
    if rd.size < MIN_FIT_RETURNS or not rd.std() > 0:
        return None
    k = scale_for(rd)
    try:
        res = arch_model(k * rd, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
            disp="off", show_warning=False)
    except (ValueError, np.linalg.LinAlgError, RuntimeError):
        return None
    omega, alpha, beta = (float(res.params[n]) for n in ("omega", "alpha[1]", "beta[1]"))
    if not (omega > 0 and alpha >= 0 and beta >= 0 and math.isfinite(omega + alpha + beta)):
        return None
    if alpha + beta > GARCH_MAX_PERSISTENCE:  # integrated (1-minute bars often fit alpha + beta = 1): the
        beta = max(GARCH_MAX_PERSISTENCE - alpha, 0.0)  # persistence capped, the level the sample's (targeting)
        omega = float(np.mean((k * rd) ** 2)) * (1.0 - alpha - beta)
    return {"omega": omega / k**2, "alpha": alpha, "beta": beta}


def garch_next(close_ns: np.ndarray, rts: np.ndarray, rd: np.ndarray, g: dict) -> np.ndarray:
    """The variance of the first fine bar after each row close ``t`` under the GARCH(1,1) ``g``: the recursion
    ``s_{k+1} = omega + alpha r_k^2 + beta s_k`` run over the fine returns up to ``t`` (a linear filter, so
    every value uses only returns before it)."""
    w, a, b = g["omega"], g["alpha"], g["beta"]
    u = w / (1.0 - a - b)
    r2 = np.where(np.isfinite(rd), rd * rd, u)
    nxt = lfilter([1.0], [1.0, -b], w + a * r2, zi=[b * u])[0]  # nxt[k]: the variance after return k
    idx = np.searchsorted(rts, close_ns, side="right") - 1
    return np.where(idx >= 0, nxt[np.maximum(idx, 0)], u)


def garch_window_mean(s1: np.ndarray, g: dict, n: float) -> np.ndarray:
    """The mean of the next ``n`` variances from the next one ``s1`` (:func:`garch_next`), in closed form:
    ``u + (s1 - u)(1 - phi^n) / (n (1 - phi))`` with ``phi = alpha + beta`` and ``u`` the long-run variance."""
    phi = g["alpha"] + g["beta"]
    u = g["omega"] / (1.0 - phi)
    n = max(1.0, float(n))
    return np.maximum(u + (s1 - u) * (1.0 - phi ** n) / (n * (1.0 - phi)), 1e-30)
