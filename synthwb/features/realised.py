"""Realised measures from the finest stored bars, and a HAR-RV variance forecast per horizon.

Both families read the *finest* bars the lake stores for the series (1-minute where it has them;
otherwise the bars themselves): :class:`synthwb.features.registry.FeatureContext.finest`, filled
by :func:`synthwb.features.compute.load_context` and ``FeatureSet.features_for`` for every spec
with a ``finest`` feature. A row (bar open ``ts``, close ``ts + bar``) only uses fine returns
whose bar closed by its own close, so appending bars never changes a past value.

``realised_var`` (inputs): the mean squared fine log return per second over the last hour, day,
week and month (time windows, so gaps and sessions count only the returns that exist), as
``log`` daily variance (``frv_1h`` .. ``frv_1m``), plus two ratios (``frv_h_d`` = hour / day,
``frv_d_m`` = day / month, in logs). A model reading them sees the slow volatility components
(half-lives of days to weeks) without a context of weeks of bars.

``har_anchor`` (the classical anchor of ``ModelSpec.anchor == "har"``): for each horizon ``h``
of :data:`HAR_KNOTS` a log-HAR-RV regression (Corsi 2009, in logs) of the realised variance
over the next ``h`` on the hour / day / week / month ones (all as log variance per day)::

    log RV(t, t + h] = b0 + b1 log RV_1h + b2 log RV_1d + b3 log RV_1w + b4 log RV_1m

fitted by least squares (``numpy.linalg.lstsq``) once on the training period (rows whose target
window ends before ``fit_end`` and holds at least a third of its usual returns; a window longer
than half the history before ``fit_end`` is left out, :func:`fit_columns`), the
coefficients stored with the feature set (``FeatureSet.fitted``) so a forecast uses exactly the
training fit. That is ``measure="close", seasonal="off"``; the default (``measure="range",
seasonal="week"``, :func:`har_anchor`) runs the same regression on better inputs: the
Garman-Klass range variance of each fine bar (on hourly series the bars themselves are the
finest, and one squared return is a very noisy measure of an hour), divided by an hour-of-day x
day-of-week profile fitted on the training period (each factor's shape within days or weeks, shrunk
towards 1 by empirical Bayes, :func:`shrunk_shape`), the forecast multiplied back by the profile's
mean over the coming window and by a level factor per horizon chosen by the Gaussian CRPS of the
training period's returns over that horizon. With ``garch="on"`` each knot's regression has one
more regressor, a GARCH(1,1) forecast of the same window's mean variance (``arch``, fitted once on
the training period's deseasonalised fine returns; :mod:`synthwb.features.garch_term`), and the least-squares fit
weighs it against the HAR terms (off by default: on the quality panel it gained 0.24% on 15-minute
BTC and lost 0.04-0.07% on hourly and 1-minute BTC, nothing on the demo lake). Untrained, as Gaussian paths (t(5) innovations),
on the quality panel's held-out origins (ratio to gbm, ``bench/bench_quality.py`` protocol,
measured 2026-12-06): demo 24h 0.985 (0.975), demo 1h 0.947 (0.942), Coinbase BTC 1h 0.990
(0.976), Bitstamp BTC 1min 0.800 (0.798), EURUSD 1h backtesting.py 0.991 (0.990), gym-anytrading
0.996 (0.991), against 0.988, 0.952, 0.982, 0.812, 1.003, 1.001 for the plain log-HAR and
0.974-0.992 for the best GARCH; the trained heads add the tails and the corrections. In logs a few storms do not decide the fit, and the forecast is the typical
variance rather than the mean one (which the vol dispersion of the heads adds back): on the
demo lake's held-out 24h windows its log error has a spread of 0.61 against 0.64 for the same
regression in levels and 0.68 for the EWMA anchor. The forecast, clipped to [1/5, 20] times the
month's RV, is ``har_lv_<h>``: the log of the mean variance per day over the next ``h``, which the
anchor (:mod:`synthwb.models.anchor`) turns into a variance per path step.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from synthwb.core.normal import crps_gaussian
from synthwb.core.registry import Param
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.garch_term import fit_garch_term, garch_next, garch_window_mean
from synthwb.features.registry import FEATURES

NS = 1_000_000_000
DAY = 86400
#: trailing windows of the realised measures: (label, seconds)
RV_WINDOWS = (("1h", 3600), ("1d", DAY), ("1w", 7 * DAY), ("1m", 30 * DAY))
#: the horizons the HAR anchor forecasts: (label, seconds); the anchor interpolates between them
HAR_KNOTS = (("1h", 3600), ("4h", 4 * 3600), ("24h", DAY))
HAR_PREFIX = "har_lv_"
LOOKBACK_S = max(w for _, w in RV_WINDOWS)
MIN_FIT_ROWS = 30
FLOOR_SHARE, CAP_SHARE = 0.2, 20.0


def har_columns() -> list[str]:
    return [f"{HAR_PREFIX}{lab}" for lab, _ in HAR_KNOTS]


def har_knot_seconds() -> tuple[int, ...]:
    return tuple(s for _, s in HAR_KNOTS)


def _ns(ts: pl.Series) -> np.ndarray:
    return ts.dt.cast_time_unit("ns").dt.replace_time_zone(None).cast(pl.Int64).to_numpy()


def fine_returns(df: pl.DataFrame, ctx) -> tuple[np.ndarray, np.ndarray, int]:
    """(close time ns, log return, fine bar seconds) of consecutive regular bars of the finest
    bars known (``ctx.finest``, else ``ctx.fine``, else ``df``); a return across a gap is left out."""
    src = getattr(ctx, "finest", None)
    if src is None:
        src = getattr(ctx, "fine", None)
    if src is None or src.is_empty():
        src = df
    src = src.select("ts", "close").sort("ts")
    ts = _ns(src["ts"])
    c = src["close"].cast(pl.Float64).to_numpy()
    if ts.size < 2:
        return np.zeros(0, np.int64), np.zeros(0), 60
    d = np.diff(ts)
    bar_ns = int(np.median(d[d > 0])) if (d > 0).any() else NS
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(c[1:] / c[:-1])
    ok = (d == bar_ns) & np.isfinite(r)
    return ts[1:][ok] + bar_ns, r[ok], max(1, bar_ns // NS)


def _row_close_ns(df: pl.DataFrame, ctx) -> np.ndarray:
    bar = FREQ_SECONDS.get(getattr(ctx, "freq", None) or "", 0)
    ts = _ns(df["ts"])
    if not bar and ts.size > 1:
        bar = int(np.median(np.diff(ts))) // NS
    return ts + int(bar) * NS


def window_rv(close_ns: np.ndarray, rts: np.ndarray, r: np.ndarray, fine_s: int, window_s: int,
              forward: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(mean squared return per second, number of returns) over ``(t - window, t]`` for each
    ``t`` in ``close_ns`` (``forward``: ``(t, t + window]``); NaN where the window holds none."""
    c2 = np.concatenate([[0.0], np.cumsum(r * r)])
    w = int(window_s) * NS
    if forward:
        lo = np.searchsorted(rts, close_ns, side="right")
        hi = np.searchsorted(rts, close_ns + w, side="right")
    else:
        lo = np.searchsorted(rts, close_ns - w, side="right")
        hi = np.searchsorted(rts, close_ns, side="right")
    n = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (c2[hi] - c2[lo]) / (n * float(fine_s))
    v[n == 0] = np.nan
    return v, n


def trailing_rvs(df: pl.DataFrame, ctx) -> dict[str, np.ndarray]:
    """Per row: realised variance per second over each of :data:`RV_WINDOWS` (NaN = no return yet).
    A window with no return in it (the first bar after a weekend or a data gap) takes the next
    longer window's value; one with no variance (a flat hour) is floored at 1e-4 of the longest's."""
    close_ns = _row_close_ns(df, ctx)
    rts, r, fine_s = fine_returns(df, ctx)
    out = {lab: window_rv(close_ns, rts, r, fine_s, w)[0] for lab, w in RV_WINDOWS}
    labs = [lab for lab, _ in RV_WINDOWS]
    for short, long in zip(labs[-2::-1], labs[:0:-1]):      # longest first, so a fill cascades down
        out[short] = np.where(np.isfinite(out[short]), out[short], out[long])
    longest = out[RV_WINDOWS[-1][0]]
    floor = np.where(np.isfinite(longest) & (longest > 0), 1e-4 * longest, 1e-20)
    return {k: np.where(np.isfinite(v), np.maximum(v, floor), np.nan) for k, v in out.items()}


def _log_day(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(v * DAY)


_RV_NAMES = [f"frv_{lab}" for lab, _ in RV_WINDOWS] + ["frv_h_d", "frv_d_m"]


@FEATURES.register(
    "realised_var", category="volatility", params=[], needs=("finest bars",), makes=_RV_NAMES,
    finest=True, lookback_s=LOOKBACK_S,
    help="Realised variance from the finest stored bars (1-minute where the lake has them) over the last "
         "hour, day, week and month (log daily variance), plus the hour/day and day/month log ratios: "
         "the slow volatility components without a long context.")
def realised_var(df: pl.DataFrame, ctx) -> pl.DataFrame:
    rv = trailing_rvs(df, ctx)
    cols = {f"frv_{lab}": _log_day(rv[lab]) for lab, _ in RV_WINDOWS}
    cols["frv_h_d"] = cols["frv_1h"] - cols["frv_1d"]
    cols["frv_d_m"] = cols["frv_1d"] - cols["frv_1m"]
    return pl.DataFrame(cols).fill_nan(None)


def har_design(rv: dict[str, np.ndarray]) -> np.ndarray:
    """Regressors (n, 1 + len(RV_WINDOWS)): a constant and the trailing RVs as log variance per day."""
    return np.column_stack([np.ones_like(rv[RV_WINDOWS[0][0]])] + [_log_day(rv[lab]) for lab, _ in RV_WINDOWS])


def fit_columns(history_s: float) -> np.ndarray:
    """Which regressors of :func:`har_design` a fit on ``history_s`` seconds of fine bars may use: the
    constant, the hour and the day always; a longer window only when the history is at least twice as
    long. Otherwise it holds nearly all the history there is, as the next longer one does: least squares
    on two near copies gives large offsetting coefficients that blow up out of sample (seen on 10 days of
    1-minute bars: a week and a "month" at +7.5 and -6.9, an anchor 30 times the realised variance)."""
    return np.array([True] + [i < 2 or 2 * w <= history_s for i, (_, w) in enumerate(RV_WINDOWS)])


def fit_har(X: np.ndarray, y: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Least squares coefficients (numpy lstsq) of ``y`` (log variance per day) on the columns ``use``
    of ``X`` (default all; the others get 0); rows with any non-finite value there are left out. Fewer
    than MIN_FIT_ROWS usable rows: the day's RV as the forecast (0, 0, 1, 0, 0)."""
    use = np.ones(X.shape[1], bool) if use is None else np.asarray(use, bool)
    ok = np.isfinite(X[:, use]).all(1) & np.isfinite(y)
    beta = np.zeros(X.shape[1])
    if ok.sum() < MIN_FIT_ROWS:
        beta[2] = 1.0
        return beta
    beta[use] = np.linalg.lstsq(X[ok][:, use], y[ok], rcond=None)[0]
    return beta


def har_predict(X: np.ndarray, beta: np.ndarray, rv_month: np.ndarray) -> np.ndarray:
    """The forecast variance per second, clipped to [FLOOR_SHARE, CAP_SHARE] times the month's RV (the
    regressors a fit left out, coefficient 0, are not read)."""
    nz = np.asarray(beta) != 0
    with np.errstate(over="ignore", invalid="ignore"):
        pred = np.exp(X[:, nz] @ np.asarray(beta)[nz]) / DAY
    return np.clip(pred, FLOOR_SHARE * rv_month, CAP_SHARE * rv_month)


GK_C = 2.0 * np.log(2.0) - 1.0      # Garman-Klass (1980): 0.5 log(H/L)^2 - (2 ln 2 - 1) log(C/O)^2
WEEK_H = 168


def fine_bars(df: pl.DataFrame, ctx) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(close time ns, close-to-close log return, range-based variance, fine bar seconds) of the
    consecutive regular bars of the finest bars known (as :func:`fine_returns`). The range-based
    variance of a bar is Garman-Klass's ``0.5 log(H/L)^2 - (2 ln 2 - 1) log(C/O)^2`` plus the
    squared opening gap ``log(O / previous C)^2``; a bar without a usable range takes ``r^2``."""
    src = getattr(ctx, "finest", None)
    if src is None:
        src = getattr(ctx, "fine", None)
    if src is None or src.is_empty():
        src = df
    cols = [c for c in ("open", "high", "low") if c in src.columns]
    src = src.select("ts", "close", *cols).sort("ts")
    ts = _ns(src["ts"])
    if ts.size < 2:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 60
    c = src["close"].cast(pl.Float64).to_numpy()
    d = np.diff(ts)
    bar_ns = int(np.median(d[d > 0])) if (d > 0).any() else NS
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(c[1:] / c[:-1])
        if len(cols) == 3:
            o, h, lo = (src[k].cast(pl.Float64).to_numpy()[1:] for k in ("open", "high", "low"))
            gk = 0.5 * np.log(h / lo) ** 2 - GK_C * np.log(c[1:] / o) ** 2 + np.log(o / c[:-1]) ** 2
            gk = np.where(np.isfinite(gk) & (h >= lo) & (lo > 0), gk, r * r)
        else:
            gk = r * r
    ok = (d == bar_ns) & np.isfinite(r)
    return ts[1:][ok] + bar_ns, r[ok], np.maximum(gk[ok], 0.0), max(1, bar_ns // NS)


def hour_of_week(ns: np.ndarray) -> np.ndarray:
    """0 = Monday 00:00-01:00 UTC .. 167 (1970-01-01 was a Thursday)."""
    return ((ns // (3600 * NS)) + 72) % WEEK_H


def fit_week_profile(mid_ns: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hour-of-week variance profile ``hour-of-day x day-of-week`` (multiplicative, mean 1 over the
    bars) of per-bar variances ``v`` at bar midpoints ``mid_ns``, and which hours of the week hold
    any bar (closed hours: weekends of a session market). Each factor is a :func:`shrunk_shape`:
    the hours' shape within each UTC day, then the weekdays' within each week (of the variances
    divided by the hours' factors). Returns (factor (168,), open (168,))."""
    how = hour_of_week(mid_ns)
    fac, opn = np.ones(WEEK_H), np.zeros(WEEK_H, bool)
    ok = np.isfinite(v)
    if ok.sum() < 10 * 24:
        return fac, np.ones(WEEK_H, bool)
    how, v, day = how[ok], v[ok], mid_ns[ok] // (DAY * NS)
    opn[np.unique(how)] = True
    if not v.mean() > 0:
        return fac, opn
    return week_shape(how, day, v), opn


def shrunk_shape(bucket: np.ndarray, period: np.ndarray, v: np.ndarray, nb: int) -> np.ndarray:
    """A multiplicative shape (nb,) of per-bar variances ``v`` over ``nb`` buckets (hours of the day,
    days of the week), estimated within periods (days, weeks) and shrunk by empirical Bayes.

    In each period that holds at least half the buckets seen, each bucket's mean variance over the
    period's mean over its buckets (the period's level drops out: a storm week does not make its
    weekdays louder than another week's); ``m_k``, a bucket's mean of those ratios over its ``n_k``
    periods; ``s^2``, their pooled variance around the bucket means (one period's noise); ``tau^2``,
    the spread of the ``m_k`` beyond their noise ``s^2 / n_k`` (0 when there is none). The factor is
    ``1 + w_k (m_k - mean(m))`` with ``w_k = tau^2 / (tau^2 + s^2 / n_k)``: a bucket moves by its share
    of the evidence. Fourteen days of 1-minute bars hold one or two of each weekday, and one storm day
    set its weekday's factor to 2.9 before (the profile then multiplied that weekday's forecasts; out
    of sample it was worse than no profile on the panel's 1-minute BTC)."""
    key = np.asarray(period, np.int64) * nb + np.asarray(bucket, np.int64)
    uk, inv = np.unique(key, return_inverse=True)
    cell = np.bincount(inv, weights=v) / np.bincount(inv)
    kb = uk % nb
    _, pinv = np.unique(uk // nb, return_inverse=True)
    cnt = np.bincount(pinv)
    level = np.bincount(pinv, weights=cell) / cnt
    full = (cnt >= 0.5 * np.unique(kb).size)[pinv] & (level[pinv] > 0)
    ratio, kb = cell[full] / level[pinv][full], kb[full]
    n = np.bincount(kb, minlength=nb).astype(float)
    have = n > 0
    dof = float(np.maximum(n - 1, 0).sum())
    if have.sum() < 2 or dof <= 0:
        return np.ones(nb)
    m = np.bincount(kb, weights=ratio, minlength=nb) / np.maximum(n, 1)
    s2 = float(np.square(ratio - m[kb]).sum()) / dof
    noise = s2 / np.maximum(n, 1)
    tau2 = max(float(np.var(m[have]) - noise[have].mean()), 0.0)
    w = np.where(have, tau2 / (tau2 + noise), 0.0) if tau2 > 0 else np.zeros(nb)
    return np.maximum(1.0 + w * (m - m[have].mean()), 1e-3)


def week_shape(how: np.ndarray, day: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Hour-of-week shape (168,) of per-bar variances ``v`` in hour of the week ``how`` (0: Monday
    00:00) on day ``day`` (days since 1970-01-01, in the same clock): :func:`shrunk_shape` of the
    hours within each day, times that of the weekdays within each Monday-week (of the variances
    divided by the hours' factors), scaled to mean 1 over the bars."""
    hod = shrunk_shape(how % 24, day, v, 24)
    dow = shrunk_shape(how // 24, (day + 3) // 7, v / hod[how % 24], 7)   # weeks from Monday (day 0: a Thursday)
    fac = np.outer(dow, hod).ravel()
    return fac / fac[how].mean()


def window_season(t_ns: np.ndarray, h_s: int, fac: np.ndarray, opn: np.ndarray) -> np.ndarray:
    """Mean profile factor over the open minutes of ``(t, t + h]`` (1 where none is open)."""
    minute = np.repeat(fac * opn, 60)                     # per minute of the week, 0 when closed
    count = np.repeat(opn.astype(float), 60)
    cf = np.concatenate([[0.0], np.cumsum(np.tile(minute, 2))])
    cc = np.concatenate([[0.0], np.cumsum(np.tile(count, 2))])
    n_min = WEEK_H * 60
    start = ((t_ns // (60 * NS)) + 72 * 60) % n_min
    k = max(1, int(round(h_s / 60)))
    whole, part = divmod(k, n_min)
    sf = whole * cf[n_min] + cf[start + part] - cf[start]
    sc = whole * cc[n_min] + cc[start + part] - cc[start]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sc > 0, sf / sc, 1.0)


def season_trailing_rvs(close_ns: np.ndarray, rts: np.ndarray, v: np.ndarray, fine_s: int) -> dict[str, np.ndarray]:
    """:func:`trailing_rvs` on per-bar variances ``v`` (deseasonalised) instead of squared returns."""
    out = {lab: window_rv(close_ns, rts, np.sqrt(v), fine_s, w)[0] for lab, w in RV_WINDOWS}
    labs = [lab for lab, _ in RV_WINDOWS]
    for short, long in zip(labs[-2::-1], labs[:0:-1]):
        out[short] = np.where(np.isfinite(out[short]), out[short], out[long])
    longest = out[RV_WINDOWS[-1][0]]
    floor = np.where(np.isfinite(longest) & (longest > 0), 1e-4 * longest, 1e-20)
    return {k: np.where(np.isfinite(x), np.maximum(x, floor), np.nan) for k, x in out.items()}


def forward_sum(close_ns: np.ndarray, rts: np.ndarray, r: np.ndarray, window_s: int) -> np.ndarray:
    """Sum of the returns in ``(t, t + window]`` for each ``t`` in ``close_ns`` (the log return over it)."""
    c = np.concatenate([[0.0], np.cumsum(r)])
    lo = np.searchsorted(rts, close_ns, side="right")
    hi = np.searchsorted(rts, close_ns + int(window_s) * NS, side="right")
    return c[hi] - c[lo]


def gauss_crps(x: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """CRPS of N(0, sd^2) at ``x`` (closed form, :func:`synthwb.core.normal.crps_gaussian`)."""
    return crps_gaussian(0.0, sd, x)


SCALE_GRID = np.exp(np.linspace(np.log(0.25), np.log(4.0), 121))


def crps_scale(x: np.ndarray, var: np.ndarray) -> float:
    """The variance factor ``b`` (on a log grid over [1/4, 4]) minimising the mean Gaussian CRPS of
    N(0, b var) at the realised log returns ``x``: the level that scores best, not the mean ratio
    (which a few storms decide)."""
    sd = np.sqrt(var)
    loss = [float(np.mean(gauss_crps(x, np.sqrt(b) * sd))) for b in SCALE_GRID]
    return float(SCALE_GRID[int(np.argmin(loss))])


def _fit_end_ns(df, ctx, close_ns, fit_frac) -> int:
    if ctx.fit_end is not None:
        return int(pl.Series([ctx.fit_end]).dt.cast_time_unit("ns").dt.replace_time_zone(None).cast(pl.Int64)[0])
    return int(close_ns[max(0, int(len(close_ns) * fit_frac) - 1)]) if len(close_ns) else 0


def _har_close(df: pl.DataFrame, fit_frac: float, ctx, coefs) -> dict:
    """The plain log-HAR on close-to-close realised variances (``measure="close"``, ``seasonal="off"``)."""
    rv = trailing_rvs(df, ctx)
    X = har_design(rv)
    month = rv[RV_WINDOWS[-1][0]]
    if coefs is None:
        close_ns = _row_close_ns(df, ctx)
        rts, r, fine_s = fine_returns(df, ctx)
        end_ns = _fit_end_ns(df, ctx, close_ns, fit_frac)
        use = fit_columns((end_ns - rts[0]) / NS if rts.size else 0.0)
        coefs = []
        for _, h in HAR_KNOTS:
            y, n = window_rv(close_ns, rts, r, fine_s, h, forward=True)
            keep = (close_ns + h * NS <= end_ns) & (n >= h / fine_s / 3.0) & (y > 0)
            coefs.append(fit_har(X, np.where(keep, _log_day(np.where(keep, y, 1.0)), np.nan), use).tolist())
    cols = {f"{HAR_PREFIX}{lab}": _log_day(har_predict(X, np.asarray(b, dtype=float), month))
            for (lab, _), b in zip(HAR_KNOTS, coefs)}
    return cols, coefs


def _har_range(df: pl.DataFrame, fit_frac: float, ctx, state, measure: str, seasonal: str,
               garch: bool = False) -> tuple[dict, dict]:
    """The log-HAR on deseasonalised range-based (or close-to-close) variances, level-corrected (see
    :func:`har_anchor`)."""
    close_ns = _row_close_ns(df, ctx)
    rts, r, gk, fine_s = fine_bars(df, ctx)
    v = gk if measure == "range" else r * r
    mid = rts - fine_s * NS // 2
    if state is None:
        end_ns = _fit_end_ns(df, ctx, close_ns, fit_frac)
        tr = rts <= end_ns
        if seasonal == "week":
            fac, opn = fit_week_profile(mid[tr], v[tr])
        else:
            fac, opn = np.ones(WEEK_H), np.ones(WEEK_H, bool)
        state = {"measure": measure, "seasonal": seasonal, "factor": fac.tolist(), "open": opn.astype(int).tolist()}
    fac, opn = np.asarray(state["factor"], float), np.asarray(state["open"], bool)
    prof = fac[hour_of_week(mid)]
    vd = v / prof
    rv = season_trailing_rvs(close_ns, rts, vd, fine_s)
    X0 = har_design(rv)
    month = rv[RV_WINDOWS[-1][0]]
    seas = {h: window_season(close_ns, h, fac, opn) for _, h in HAR_KNOTS}
    rd = r / np.sqrt(prof)                                        # deseasonalised fine returns
    if "coefs" not in state:
        end_ns = _fit_end_ns(df, ctx, close_ns, fit_frac)
        state = {**state, "garch": fit_garch_term(rd[rts <= end_ns]) if garch else None}
    # the regressors per knot: the HAR ones, plus the GARCH(1,1) term when the state has one (garch="on" and
    # a fit that worked; feature sets fitted before the option have none)
    g = state.get("garch")
    s1 = garch_next(close_ns, rts, rd, g) if g else None
    design = {h: X0 if not g else np.column_stack([X0, _log_day(garch_window_mean(s1, g, h / fine_s) / fine_s)])
              for _, h in HAR_KNOTS}
    if "coefs" not in state:
        use = fit_columns((end_ns - rts[0]) / NS if rts.size else 0.0)
        use = np.r_[use, True] if g else use
        coefs, bias = [], []
        for _, h in HAR_KNOTS:
            X = design[h]
            y, n = window_rv(close_ns, rts, np.sqrt(vd), fine_s, h, forward=True)
            xs = forward_sum(close_ns, rts, r, h)
            keep = (close_ns + h * NS <= end_ns) & (n >= h / fine_s / 3.0) & (y > 0)
            beta = fit_har(X, np.where(keep, _log_day(np.where(keep, y, 1.0)), np.nan), use)
            pred = har_predict(X, beta, month) * seas[h]
            ok = keep & np.isfinite(pred) & (pred > 0) & np.isfinite(xs)
            b = crps_scale(xs[ok], pred[ok] * n[ok] * fine_s) if ok.sum() >= MIN_FIT_ROWS else 1.0
            coefs.append(beta.tolist())
            bias.append(b if np.isfinite(b) and b > 0 else 1.0)
        state = {**state, "coefs": coefs, "bias": bias}
    cols = {}
    for (lab, h), beta, b in zip(HAR_KNOTS, state["coefs"], state["bias"]):
        cols[f"{HAR_PREFIX}{lab}"] = _log_day(har_predict(design[h], np.asarray(beta, float), month) * seas[h] * b)
    return cols, state


@FEATURES.register(
    "har_anchor", category="volatility",
    params=[Param("fit_frac", float, 0.7, low=0.1, high=1.0, help="fraction fitted on when no split is given"),
            Param("measure", str, "range", choices=("range", "close"),
                  help="per fine bar variance: Garman-Klass range (+ opening gap) or squared close-to-close return"),
            Param("seasonal", str, "week", choices=("week", "off"),
                  help="deseasonalise by an hour-of-day x day-of-week profile fitted on the training period"),
            Param("garch", str, "off", choices=("off", "on"),
                  help="on: one more regressor per horizon, a GARCH(1,1) forecast of the window's variance "
                       "(fitted on the training period; not with measure close and seasonal off, the plain "
                       "log-HAR); measured 2026-12-07: +0.24% on 15-minute BTC, -0.04 to "
                       "-0.07% on hourly and 1-minute BTC, nothing on the demo lake")],
    needs=("finest bars",), makes=lambda p, r: har_columns(), finest=True, fitted=True, lookback_s=LOOKBACK_S,
    help="log-HAR-RV forecast of the variance over the next 1h, 4h and 24h (log daily variance) from the "
         "hour/day/week/month realised variance of the finest stored bars (range-based, deseasonalised by an "
         "hour-of-week profile, level-corrected to close-to-close variance); fitted on the training period only. "
         "The classical anchor of models with anchor 'har'.")
def har_anchor(df: pl.DataFrame, fit_frac: float, ctx, measure: str = "range", seasonal: str = "week",
               garch: str = "off") -> pl.DataFrame:
    """The classical variance forecast per horizon (see the module doc).

    ``measure="close", seasonal="off"``: the plain log-HAR of the module doc. Otherwise (the default)
    the per-bar variance of the finest bars is Garman-Klass's range estimator (:func:`fine_bars`; on
    hourly series the bars themselves, where one squared return is a very noisy measure of the hour),
    divided by an hour-of-day x day-of-week profile fitted on the training period
    (:func:`fit_week_profile`); the HAR regression runs on those deseasonalised variances (target:
    their mean over the next ``h``); the forecast is multiplied back by the profile's mean over the
    open hours of the next ``h`` (:func:`window_season`) and by a level factor per horizon, the mean
    ratio on the training period of the realised close-to-close variance to that forecast (the log
    fit forecasts a typical variance and the range a slightly different one; the paths need the mean).
    """
    key = "har_anchor"
    state = (ctx.fitted or {}).get(key)
    if isinstance(state, list) or (state is None and measure == "close" and seasonal == "off"):
        cols, coefs = _har_close(df, fit_frac, ctx, state)
        ctx.fitted[key] = coefs
    else:
        cols, state = _har_range(df, fit_frac, ctx, state, measure, seasonal, garch == "on")
        ctx.fitted[key] = state
    return pl.DataFrame(cols).fill_nan(None)


def interp_weights(knots_s, step_seconds: float, horizon: int) -> np.ndarray:
    """(horizon, K) weights: the log mean variance to step j's end (``j * step``) as a linear
    interpolation in log time between the knots' (flat before the first and after the last)."""
    lk = np.log(np.asarray(knots_s, dtype=float))
    t = np.log((np.arange(horizon) + 1.0) * float(step_seconds))
    W = np.zeros((horizon, lk.size))
    for j, x in enumerate(t):
        if x <= lk[0]:
            W[j, 0] = 1.0
        elif x >= lk[-1]:
            W[j, -1] = 1.0
        else:
            k = int(np.searchsorted(lk, x, side="right")) - 1
            a = (x - lk[k]) / (lk[k + 1] - lk[k])
            W[j, k], W[j, k + 1] = 1.0 - a, a
    return W

