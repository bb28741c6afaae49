"""The GARCH(1,1) term of the HAR anchor (``har_anchor`` with ``garch="on"``, :mod:`synthwb.features.realised`):
a GARCH forecast of a window's mean variance, one more regressor of each horizon's log-HAR regression.

The parameters come from ``arch`` (zero mean, Gaussian quasi-likelihood) on the training period's
deseasonalised fine returns; the forecast runs the recursion over every fine return up to a row's close
(a linear filter, so nothing after it is read) and takes the closed-form mean of the next ``n`` variances.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

DAY = 86400
MIN_FIT_RETURNS = 300    # fewer training returns: no term
GARCH_MAX_OBS = 50_000   # the GARCH term is fitted on at most the last this many fine returns of the training period
GARCH_MAX_PERSISTENCE = 0.9999


def fit_garch_term(rd: np.ndarray) -> dict | None:
    """GARCH(1,1) parameters (``arch``, zero mean, Gaussian quasi-likelihood) of the deseasonalised fine
    returns ``rd`` of the training period, in units of squared return; an integrated fit (persistence
    over ``GARCH_MAX_PERSISTENCE``) has its beta lowered to that and its omega set by variance targeting;
    None when the fit fails (the anchor then runs without the term)."""
    from arch import arch_model  # lazy: arch imports statsmodels pieces

    rd = rd[np.isfinite(rd)][-GARCH_MAX_OBS:]
    if rd.size < MIN_FIT_RETURNS or not rd.std() > 0:
        return None
    k = 10.0 ** round(math.log10(10.0 / rd.std()))  # a std near 10: arch's optimiser prefers it
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


def garch_term(close_ns: np.ndarray, rts: np.ndarray, rd: np.ndarray, fine_s: int, h_s: int, g: dict) -> np.ndarray:
    """log mean variance per day over ``(t, t + h]`` of the GARCH(1,1) ``g`` for each row close ``t``:
    the recursion ``s_{k+1} = omega + alpha r_k^2 + beta s_k`` run over the fine returns up to ``t`` (a
    linear filter, so every value uses only returns before it), then the closed-form mean of the next
    ``n = h / fine`` variances, ``u + (s - u)(1 - phi^n) / (n (1 - phi))`` with ``phi = alpha + beta``."""
    w, a, b = g["omega"], g["alpha"], g["beta"]
    phi = a + b
    u = w / (1.0 - phi)
    r2 = np.where(np.isfinite(rd), rd * rd, u)
    nxt = lfilter([1.0], [1.0, -b], w + a * r2, zi=[b * u])[0]  # nxt[k]: the variance after return k
    idx = np.searchsorted(rts, close_ns, side="right") - 1
    s1 = np.where(idx >= 0, nxt[np.maximum(idx, 0)], u)        # the variance of the next fine bar
    n = max(1.0, h_s / float(fine_s))
    mean = u + (s1 - u) * (1.0 - phi ** n) / (n * (1.0 - phi))
    return np.log(np.maximum(mean, 1e-30) / float(fine_s) * DAY)
