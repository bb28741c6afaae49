"""The default classical anchor (``har_anchor`` with ``measure="range"``, ``seasonal="week"``) against
independent computations written here: Garman-Klass variances bar by bar, the hour-of-week
profile and its window means by brute force, the HAR coefficients by a least-squares fit of the
deseasonalised range variances and a GARCH(1,1) term (arch's own fit, the recursion by a loop), the level factor by a grid search of the Gaussian CRPS (itself
checked against numerical integration); and the GARCH family's guard against degenerate fits."""
from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from arch import arch_model
from scipy.stats import norm

from synthwb.features.compute import compute_features, warmup_bars
from synthwb.features.garch_term import fit_garch_term
from synthwb.features.realised import (
    HAR_KNOTS,
    RV_WINDOWS,
    SCALE_GRID,
    crps_scale,
    fine_bars,
    fit_week_profile,
    gauss_crps,
    shrunk_shape,
    window_season,
)
from synthwb.features.registry import FeatureContext, FeatureSpec, default_spec
from synthwb.forecast.classical.garch import prior_params, sane_params, simulate_variance

T0 = datetime(2024, 1, 1, tzinfo=UTC)   # a Monday


def _bars(n_days: int = 24, minutes: int = 15, seed: int = 5) -> pl.DataFrame:
    """Bars with OHLC from a 1-minute path, an intraday vol pattern, slow vol swings and a gap."""
    rng = np.random.default_rng(seed)
    n = n_days * 1440
    t = np.arange(n)
    hour = (t // 60) % 24
    vol = 0.0008 * np.exp(0.4 * np.sin(t / (1440 * 4.0))) * np.where((hour >= 13) & (hour < 17), 2.0, 1.0)
    px = 100 * np.exp(np.cumsum(rng.normal(0, 1, n) * vol))
    ts = pl.datetime_range(T0, T0 + timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC")
    fine = pl.DataFrame({"ts": ts, "close": px}).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    bars = fine.group_by_dynamic("ts", every=f"{minutes}m").agg(
        pl.col("close").first().alias("open"), pl.col("close").max().alias("high"),
        pl.col("close").min().alias("low"), pl.col("close").last().alias("close"), pl.len().cast(pl.Float64).alias("volume"))
    return bars.filter((pl.col("ts") < T0 + timedelta(days=9)) | (pl.col("ts") >= T0 + timedelta(days=9, hours=3)))


def test_garman_klass_variance_bar_by_bar():
    df = _bars(n_days=3, minutes=60)
    close_ns, r, v, fine_s = fine_bars(df, FeatureContext("crypto", "1h"))
    assert fine_s == 3600
    rows = df.to_dicts()
    want_r, want_v, want_t = [], [], []
    for prev, cur in zip(rows[:-1], rows[1:]):
        if (cur["ts"] - prev["ts"]) != timedelta(hours=1):
            continue   # a return across the gap is left out
        o, h, lo, c = cur["open"], cur["high"], cur["low"], cur["close"]
        want_r.append(math.log(c / prev["close"]))
        want_v.append(0.5 * math.log(h / lo) ** 2 - (2 * math.log(2) - 1) * math.log(c / o) ** 2
                      + math.log(o / prev["close"]) ** 2)
        want_t.append(int((cur["ts"] + timedelta(hours=1)).timestamp()) * 10**9)
    np.testing.assert_allclose(r, want_r, rtol=1e-12)
    np.testing.assert_allclose(v, want_v, rtol=1e-9, atol=1e-18)
    np.testing.assert_array_equal(close_ns, want_t)


def test_week_profile_and_its_window_means_by_brute_force():
    rng = np.random.default_rng(0)
    mid = np.arange(28 * 24 * 4, dtype=np.int64) * 900 * 10**9 + int(T0.timestamp()) * 10**9 + 450 * 10**9
    hour = (mid // (3600 * 10**9)) % 24
    v = rng.exponential(1.0, mid.size) * np.where((hour >= 13) & (hour < 17), 4.0, 1.0)
    fac, opn = fit_week_profile(mid, v)
    assert opn.all()
    # hour of day x day of week, mean one over the bars: the 4x hours stand out by about 4
    how = ((mid // (3600 * 10**9)) + 72) % 168
    assert fac[how].mean() == pytest.approx(1.0, rel=1e-9)
    hod = fac.reshape(7, 24).mean(0)
    assert hod[13:17].mean() / np.r_[hod[:13], hod[17:]].mean() == pytest.approx(4.0, rel=0.15)
    # window means over the open minutes, against a minute-by-minute loop
    opn2 = opn.copy()
    opn2[5 * 24:] = False          # the weekend closed
    for t in (T0 + timedelta(hours=13, minutes=7), T0 + timedelta(days=4, hours=20), T0 + timedelta(days=6)):
        t_ns = np.array([int(t.timestamp()) * 10**9])
        for h in (3600, 4 * 3600, 86400):
            minutes = [t + timedelta(minutes=k) for k in range(h // 60)]
            idx = [((m.weekday() * 24) + m.hour) for m in minutes]
            w = [fac[i] for i in idx if opn2[i]]
            want = np.mean(w) if w else 1.0
            assert window_season(t_ns, h, fac, opn2)[0] == pytest.approx(want, rel=1e-9), (t, h)


def _shape_by_loops(bucket, period, v, nb):
    """shrunk_shape written with dicts and loops: per-period bucket ratios, their pooled noise, the
    empirical-Bayes weight per bucket."""
    cells = {}
    for b, p, x in zip(bucket.tolist(), period.tolist(), v.tolist()):
        cells.setdefault(p, {}).setdefault(b, []).append(x)
    seen = {b for per in cells.values() for b in per}
    ratios = {b: [] for b in range(nb)}
    for per in cells.values():
        means = {b: sum(xs) / len(xs) for b, xs in per.items()}
        level = sum(means.values()) / len(means)
        if len(means) >= 0.5 * len(seen) and level > 0:
            for b, mb in means.items():
                ratios[b].append(mb / level)
    have = [b for b in range(nb) if ratios[b]]
    m = {b: sum(ratios[b]) / len(ratios[b]) for b in have}
    s2 = sum((x - m[b]) ** 2 for b in have for x in ratios[b]) / sum(len(ratios[b]) - 1 for b in have)
    mean_m = sum(m.values()) / len(m)
    spread = sum((m[b] - mean_m) ** 2 for b in have) / len(have)
    tau2 = max(spread - sum(s2 / len(ratios[b]) for b in have) / len(have), 0.0)
    out = np.ones(nb)
    for b in have:
        w = tau2 / (tau2 + s2 / len(ratios[b])) if tau2 > 0 else 0.0
        out[b] = 1.0 + w * (m[b] - mean_m)
    return out


def test_the_profile_shape_is_shrunk_by_empirical_bayes_as_written_by_hand():
    rng = np.random.default_rng(3)
    for nb, n_per, n_obs in ((24, 9, 2000), (7, 5, 400)):
        bucket = rng.integers(0, nb, n_obs)
        period = rng.integers(0, n_per, n_obs)
        true = 1.0 + 0.6 * np.sin(np.arange(nb))                   # a real shape, well measured
        v = rng.exponential(1.0, n_obs) * true[bucket] * rng.uniform(0.5, 2.0, n_per)[period]
        got = shrunk_shape(bucket, period, v, nb)
        np.testing.assert_allclose(got, _shape_by_loops(bucket, period, v, nb), rtol=1e-10)
    # no shape beyond the noise: every factor is 1
    bucket, period = np.tile(np.arange(24), 20), np.repeat(np.arange(20), 24)
    assert np.all(shrunk_shape(bucket, period, np.ones(480), 24) == 1.0)


def test_one_storm_day_barely_moves_its_weekday_and_a_real_weekend_stands_out():
    rng = np.random.default_rng(4)
    t0 = int(T0.timestamp()) * 10**9
    # 14 days of 1-minute bars, no weekly pattern, one storm Wednesday (five times the variance)
    mid = t0 + np.arange(14 * 1440, dtype=np.int64) * 60 * 10**9 + 30 * 10**9
    day = (mid - t0) // (86400 * 10**9)
    v = rng.exponential(1.0, mid.size) * np.where(day == 2, 5.0, 1.0)
    fac, _ = fit_week_profile(mid, v)
    dow = fac.reshape(7, 24).mean(1)
    assert dow[2] / np.delete(dow, 2).mean() < 1.3          # 3.0 before: one day set its weekday's factor
    # twelve weeks of 15-minute bars with weekends at half the variance: the pattern is kept
    mid = t0 + np.arange(12 * 7 * 96, dtype=np.int64) * 900 * 10**9 + 450 * 10**9
    weekend = ((mid - t0) // (86400 * 10**9)) % 7 >= 5
    v = rng.exponential(1.0, mid.size) * np.where(weekend, 0.5, 1.0) * np.repeat(rng.uniform(0.3, 3.0, 12), 7 * 96)
    dow = fit_week_profile(mid, v)[0].reshape(7, 24).mean(1)
    assert dow[5:].mean() / dow[:5].mean() == pytest.approx(0.5, rel=0.12)


def test_gaussian_crps_and_the_level_factor():
    for x, sd in ((0.3, 1.0), (-2.0, 0.5), (0.0, 2.0)):
        y = np.linspace(-30, 30, 600_001)
        num = np.trapezoid((norm.cdf(y, scale=sd) - (y >= x)) ** 2, y)
        assert gauss_crps(np.array([x]), np.array([sd]))[0] == pytest.approx(num, rel=1e-4)
    rng = np.random.default_rng(1)
    var = rng.uniform(0.5, 2.0, 4000)
    x = rng.normal(0, 1, 4000) * np.sqrt(1.7 * var)
    loss = [np.mean(gauss_crps(x, np.sqrt(b * var))) for b in SCALE_GRID]
    assert crps_scale(x, var) == SCALE_GRID[int(np.argmin(loss))]
    assert crps_scale(x, var) == pytest.approx(1.7, rel=0.15)


@pytest.mark.parametrize("garch", ["off", "on"])
def test_range_har_is_least_squares_on_deseasonalised_range_variances(garch):
    bars = _bars()
    fit_end = T0 + timedelta(days=16)
    spec = FeatureSpec(freq="15min", features=[{"name": "har_anchor", "params": {"garch": garch}}], dropna=False)
    ctx = FeatureContext("crypto", "15min", fit_end=fit_end)
    out = compute_features(bars, spec, ctx)
    state = ctx.fitted["har_anchor"]
    assert state["measure"] == "range" and state["seasonal"] == "week"
    fac, opn = np.asarray(state["factor"]), np.asarray(state["open"], bool)

    close_ns, r, v, fine_s = fine_bars(bars, ctx)
    rc = close_ns // 10**9
    how = ((close_ns - fine_s * 10**9 // 2) // (3600 * 10**9) + 72) % 168
    vd = v / fac[how]
    row_close = bars["ts"].dt.epoch("s").to_numpy() + 900

    def mean_per_s(x, lo, hi):
        m = (rc > lo) & (rc <= hi)
        return x[m].sum() / (m.sum() * fine_s) if m.any() else np.nan, m

    rv = np.array([[mean_per_s(vd, t - w, t)[0] for _, w in RV_WINDOWS] for t in row_close])
    for j in range(len(RV_WINDOWS) - 2, -1, -1):          # an empty window takes the next longer one
        rv[:, j] = np.where(np.isfinite(rv[:, j]), rv[:, j], rv[:, j + 1])
    X5 = np.column_stack([np.ones(len(rv)), np.log(rv * 86400)])
    end = fit_end.timestamp()
    # the GARCH(1,1) term: arch's own fit of the deseasonalised training returns, then the recursion by a loop
    rd = r / np.sqrt(fac[how])
    tr = rd[rc <= end]
    k10 = 10.0 ** round(math.log10(10.0 / tr.std()))
    fit = arch_model(k10 * tr, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")
    gw, ga, gb = fit.params["omega"] / k10**2, fit.params["alpha[1]"], fit.params["beta[1]"]
    if garch == "on":
        assert state["garch"] == pytest.approx({"omega": gw, "alpha": ga, "beta": gb}, rel=1e-6)
    else:
        assert state["garch"] is None
    u = s_ = gw / (1 - ga - gb)
    nxt = []
    for x in rd:
        s_ = gw + ga * x * x + gb * s_
        nxt.append(s_)

    def garch_mean(t, h):
        i = np.searchsorted(rc, t, side="right") - 1
        x, tot = (nxt[i] if i >= 0 else u), 0.0
        for _ in range(int(h // fine_s)):
            tot, x = tot + x, gw + (ga + gb) * x
        return tot / int(h // fine_s)

    for k, (lab, h) in enumerate(HAR_KNOTS):
        g = [np.log(np.array([garch_mean(t, h) for t in row_close]) / fine_s * 86400)] if garch == "on" else []
        X = np.column_stack([X5, *g])
        y, n, xs = [], [], []
        for t in row_close:
            val, m = mean_per_s(vd, t, t + h)
            y.append(val)
            n.append(m.sum())
            xs.append(r[m].sum())
        y, n, xs = np.array(y), np.array(n), np.array(xs)
        keep = (row_close + h <= end) & (n >= h / fine_s / 3) & np.isfinite(X).all(1) & (y > 0)
        # 16 days of history before fit_end: the month's window (over half of it) is left out of the fit
        use = [0, 1, 2, 3, 5] if garch == "on" else [0, 1, 2, 3]
        beta = np.zeros(X.shape[1])
        beta[use] = np.linalg.lstsq(X[keep][:, use], np.log(y[keep] * 86400), rcond=None)[0]
        assert state["coefs"][k] == pytest.approx(beta.tolist(), rel=1e-5, abs=1e-8), lab
        season = window_season(row_close * 10**9, h, fac, opn)
        pred = np.clip(np.exp(X[:, use] @ beta[use]) / 86400, 0.2 * rv[:, -1], 20 * rv[:, -1]) * season
        ok = keep & np.isfinite(pred)
        loss = [np.mean(gauss_crps(xs[ok], np.sqrt(b * pred[ok] * n[ok] * fine_s))) for b in SCALE_GRID]
        b = SCALE_GRID[int(np.argmin(loss))]
        assert state["bias"][k] == pytest.approx(b, rel=1e-9), lab
        got = out[f"har_lv_{lab}"].to_numpy()
        fin = np.isfinite(pred) & np.isfinite(got)
        assert fin.mean() > 0.95
        np.testing.assert_allclose(got[fin], np.log(pred[fin] * b * 86400), rtol=1e-7, err_msg=lab)
    # the stored state is reused as it is (no split given: without it, 70% would be refitted)
    ctx2 = FeatureContext("crypto", "15min", fitted={"har_anchor": state})
    again = compute_features(bars, spec, ctx2)
    for lab, _ in HAR_KNOTS:
        np.testing.assert_allclose(again[f"har_lv_{lab}"].to_numpy(), out[f"har_lv_{lab}"].to_numpy(), rtol=1e-12)


def test_a_state_fitted_before_the_garch_term_keeps_its_own_forecast():
    # a feature set saved before 2026-12-07: five coefficients per knot, no "garch" entry
    bars = _bars()
    spec = FeatureSpec(freq="15min", features=["har_anchor"], dropna=False)
    ctx = FeatureContext("crypto", "15min", fit_end=T0 + timedelta(days=16))
    compute_features(bars, spec, ctx)
    new = ctx.fitted["har_anchor"]
    old = {k: v for k, v in new.items() if k != "garch"}
    old["coefs"] = [c[:5] for c in new["coefs"]]
    out = compute_features(bars, spec, FeatureContext("crypto", "15min", fitted={"har_anchor": old}))
    fac = np.asarray(old["factor"])
    close_ns, r, v, fine_s = fine_bars(bars, FeatureContext("crypto", "15min"))
    how = ((close_ns - fine_s * 10**9 // 2) // (3600 * 10**9) + 72) % 168
    vd, rc = v / fac[how], close_ns // 10**9
    t = int(bars["ts"].dt.epoch("s").to_numpy()[-1]) + 900
    rv = []
    for _, w in RV_WINDOWS:
        m = (rc > t - w) & (rc <= t)
        rv.append(vd[m].sum() / (m.sum() * fine_s))
    x = np.r_[1.0, np.log(np.array(rv) * 86400)]
    for k, (lab, h) in enumerate(HAR_KNOTS):
        b = np.asarray(old["coefs"][k])
        season = window_season(np.array([t * 10**9]), h, fac, np.asarray(old["open"], bool))[0]
        pred = np.clip(np.exp(x[b != 0] @ b[b != 0]) / 86400, 0.2 * rv[-1], 20 * rv[-1]) * season * old["bias"][k]
        assert out[f"har_lv_{lab}"][-1] == pytest.approx(np.log(pred * 86400), rel=1e-9), lab


def test_an_integrated_garch_term_is_capped_and_variance_targeted():
    # vol rising twelvefold over the sample: arch's fit reaches alpha + beta >= 1 (as 1-minute BTC does)
    rng = np.random.default_rng(3)
    n = 6000
    r = np.exp(np.linspace(0, 2.5, n)) * 1e-3 * rng.standard_normal(n)
    k10 = 10.0 ** round(math.log10(10.0 / r.std()))
    raw = arch_model(k10 * r, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
        disp="off", show_warning=False)
    assert raw.params["alpha[1]"] + raw.params["beta[1]"] > 0.9999
    g = fit_garch_term(r)
    assert g["alpha"] == pytest.approx(raw.params["alpha[1]"], rel=1e-9)
    assert g["alpha"] + g["beta"] == pytest.approx(0.9999, abs=1e-12)
    # variance targeting: the long-run variance omega / (1 - alpha - beta) is the sample's
    assert g["omega"] / (1 - g["alpha"] - g["beta"]) == pytest.approx(np.mean(r * r), rel=1e-9)
    assert fit_garch_term(r[:100]) is None          # too few returns for a fit


def test_default_spec_carries_the_anchor_and_a_short_series_needs_no_month():
    spec = default_spec("1min")
    assert {"har_lv_1h", "har_lv_24h", "frv_1m"} <= set(spec.columns())
    # the month the realised measures read back is read when it exists, not required
    assert warmup_bars(spec) > 30 * 1440
    assert warmup_bars(spec, lookback=False) < 1440


def test_degenerate_garch_fits_are_refused_and_the_recursion_is_capped():
    # an EGARCH fit seen on hourly EURUSD: alpha ~ 1e3 overflowed the variance recursion
    bad = np.array([4.69, 947.5, 25484.8, 3.2e-5, 2.11])
    assert not sane_params("egarch", bad, "t")
    assert not sane_params("egarch", np.array([0.0078, -0.056, 0.0198, 0.9977, 11.1]), "t")  # news lowers vol
    assert sane_params("egarch", np.array([0.03, 0.04, 0.016, 0.9945, 7.8]), "t")
    assert not sane_params("garch", np.array([0.1, 0.3, 0.75, 6.0]), "t")               # explosive
    assert sane_params("gjr-garch", np.array([0.1, 0.02, 0.06, 0.9, 6.0]), "t")
    # a fit on arch's boundary (alpha + beta = 1, IGARCH: seen on the demo lake) is a legitimate one
    assert sane_params("garch", np.array([0.3521745, 0.08065847, 0.91934153, 4.61835986]), "t")
    y = np.random.default_rng(0).normal(0, 3.0, 2000)
    for model in ("garch", "gjr-garch", "egarch"):
        p = prior_params(model, y, "t")
        assert sane_params(model, p, "t")
    e = np.random.default_rng(1).standard_t(2.2, (50, 200))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, hs = simulate_variance("egarch", bad[:4], np.full(50, 9.0), e, cap=900.0)
    assert np.isfinite(hs).all() and hs.max() <= 900.0 * (1 + 1e-12) and hs.min() > 0


def test_a_fit_leaves_out_the_windows_longer_than_half_its_history():
    from synthwb.features.realised import fit_columns, fit_har

    day = 86400
    # columns: constant, hour, day, week, month
    assert fit_columns(2 * day).tolist() == [True, True, True, False, False]
    assert fit_columns(14 * day - 1).tolist() == [True, True, True, False, False]
    assert fit_columns(14 * day).tolist() == [True, True, True, True, False]
    assert fit_columns(60 * day).tolist() == [True, True, True, True, True]
    # two near copies of one regressor: least squares alone gives large offsetting coefficients
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 500)
    X = np.column_stack([np.ones(500), rng.normal(0, 1, 500), a, a + rng.normal(0, 1e-3, 500),
                         a + rng.normal(0, 1e-3, 500)])
    y = 0.5 + 0.8 * a + rng.normal(0, 0.3, 500)
    free = fit_har(X, y)
    assert np.abs(free[2:]).max() > 10 * 0.8                  # the true slope is 0.8, shared by the copies
    kept = fit_har(X, y, fit_columns(10 * day))
    assert kept[3:].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(kept[:3], np.linalg.lstsq(X[:, :3], y, rcond=None)[0], rtol=1e-12)
