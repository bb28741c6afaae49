"""Classical forecasters (synthwb.forecast.classical) against independent references: each
GARCH-family model against the same fit done directly with ``arch``, the simulated variance
recursion against arch's own forecasts, HAR-RV against a least-squares fit written here; paths,
seeds, saved runs and the ``fit`` CLI on the demo lake."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from arch import arch_model
from arch.univariate import SkewStudent

from synthwb.cli import main
from synthwb.core.errors import DataError, NotFound, SpecError
from synthwb.forecast.classical import CLASSICAL, Series, classical_forecaster
from synthwb.forecast.classical.garch import simulate_variance, skewt_sample
from synthwb.forecast.kinds import FORECASTER_KINDS, load_forecaster

NS = 1_000_000_000
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * NS


def _gjr_prices(n: int, bar_s: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Closes of a GJR-GARCH(1,1,1)-t process on a regular bar grid (no gaps)."""
    rng = np.random.default_rng(seed)
    h, r = 25.0, np.empty(n)
    for i in range(n):
        e = rng.standard_t(6.0) * math.sqrt(4.0 / 6.0) * math.sqrt(h)
        r[i] = e
        h = 0.5 + (0.05 + 0.05 * (e < 0)) * e * e + 0.9 * h
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r / 1e4)]))
    ts = T0 + np.arange(n + 1, dtype=np.int64) * bar_s * NS
    return ts, close


@pytest.fixture(scope="module")
def series():
    ts, close = _gjr_prices(3000)
    return Series.from_arrays(ts, close)


def _scaled(close: np.ndarray) -> np.ndarray:
    r = np.diff(np.log(close))
    return r * 10.0 ** round(math.log10(10.0 / np.std(r)))


# ------------------------------------------------------------------------------ arch models


@pytest.mark.parametrize("model,vol,o", [("garch", "GARCH", 0), ("gjr-garch", "GARCH", 1), ("egarch", "EGARCH", 1)])
@pytest.mark.parametrize("dist", ["normal", "t", "skewt"])
def test_arch_fit_equals_arch(series, model, vol, o, dist):
    f = classical_forecaster(model, {"dist": dist, "seasonality": "off", "refit_hours": 0, "window_days": 3650})
    t_ns = int(series.ts[-1]) + 300 * NS
    state = f.fitted_at(series, t_ns)
    y = _scaled(series.close)
    ref = arch_model(y, mean="Zero", vol=vol, p=1, o=o, q=1, dist=dist, rescale=False).fit(disp="off")
    assert state.names == list(ref.params.index)
    np.testing.assert_allclose(state.params, ref.params.values, rtol=1e-6, atol=1e-8)
    h1 = ref.forecast(horizon=1, reindex=False).variance.values[-1, 0]
    assert f.next_variance(series, state, series.r.size) == pytest.approx(h1, rel=1e-6)


@pytest.mark.parametrize("model,vol,o", [("garch", "GARCH", 0), ("gjr-garch", "GARCH", 1), ("egarch", "EGARCH", 1)])
def test_variance_recursion_equals_arch_forecast(series, model, vol, o):
    y = _scaled(series.close)
    res = arch_model(y, mean="Zero", vol=vol, p=1, o=o, q=1, dist="t", rescale=False).fit(disp="off")
    horizon, n = 8, 40_000
    if model == "egarch":  # no closed form beyond one step: arch's own simulation
        want = res.forecast(horizon=horizon, method="simulation", simulations=n, reindex=False,
                            random_state=np.random.RandomState(1)).variance.values[-1]
    else:
        want = res.forecast(horizon=horizon, reindex=False).variance.values[-1]
    p = res.params.values
    nu = p[-1]
    rng = np.random.default_rng(2)
    e = rng.standard_t(nu, size=(n, horizon)) * math.sqrt((nu - 2) / nu)
    _, hs = simulate_variance(model, p[:-1], np.full(n, want[0]), e)
    np.testing.assert_allclose(hs.mean(axis=0), want, rtol=0.03)


def test_skewt_sampler_matches_arch_quantiles():
    x = skewt_sample(5.0, -0.3, np.random.default_rng(0), 400_000)
    q = np.array([0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
    np.testing.assert_allclose(np.quantile(x, q), SkewStudent().ppf(q, np.array([5.0, -0.3])), atol=0.04)
    assert abs(x.mean()) < 0.01 and x.std() == pytest.approx(1.0, abs=0.01)


# ------------------------------------------------------------------------------ HAR-RV


def test_har_equals_least_squares():
    ts, close = _gjr_prices(60 * 288, seed=3)
    s = Series.from_arrays(ts, close)
    f = classical_forecaster("har-rv", {"rv_source": "bars", "window_days": 30})
    t_ns = int(ts[-1]) + 300 * NS
    beta, pred, _, rows = f.regression(s, t_ns)
    # blocks by hand: block k holds the returns whose bar closes in (T - k days, T - (k-1) days]
    close_t = ts[1:] + 300 * NS
    r2 = np.diff(np.log(close)) ** 2
    day = 86400 * NS
    n_blocks = 30 + 22 + 1
    rv = np.array([r2[(close_t > t_ns - k * day) & (close_t <= t_ns - (k - 1) * day)].sum()
                   for k in range(1, n_blocks + 1)])
    X, y = [], []
    for k in range(1, n_blocks - 22 + 1):
        X.append([1.0, rv[k], rv[k:k + 5].mean(), rv[k:k + 22].mean()])
        y.append(rv[k - 1])
    ref = np.linalg.lstsq(np.array(X), np.array(y), rcond=None)[0]
    assert rows == len(y)
    np.testing.assert_allclose(beta, ref, rtol=1e-9)
    x0 = np.array([1.0, rv[0], rv[:5].mean(), rv[:22].mean()])
    assert pred == pytest.approx(max(x0 @ ref, 0.1 * rv.mean()), rel=1e-9)


def test_har_short_history_falls_back_to_recent_days():
    ts, close = _gjr_prices(5 * 288, seed=4)
    s = Series.from_arrays(ts, close)
    f = classical_forecaster("har-rv", {"rv_source": "bars"})
    _, pred, _, rows = f.regression(s, int(ts[-1]) + 300 * NS)
    assert rows == 0 and pred > 0
    with pytest.raises(DataError, match="no complete day"):
        f.regression(Series.from_arrays(ts[:250], close[:250]), int(ts[249]) + 300 * NS)


# ------------------------------------------------------------------------------ paths


def _bars(ts, close):
    import polars as pl

    return pl.DataFrame({"ts": pl.Series(ts // 1000).cast(pl.Datetime("us", "UTC")), "close": close})


@pytest.mark.parametrize("model,params", [("garch", {"dist": "normal"}), ("gjr-garch", {"dist": "t"}),
                                          ("egarch", {"dist": "skewt"}), ("har-rv", {"dist": "johnsonsu"}),
                                          ("har-rv", {"dist": "t", "volvol": False})])
def test_paths_shape_positive_reproducible(model, params):
    ts, close = _gjr_prices(40 * 288, seed=5)
    bars = _bars(ts, close)
    f = classical_forecaster(model, {**params, "window_days": 30 if model == "har-rv" else 10})
    origins = [bars["ts"][-300], bars["ts"][-100]]
    p = f.forecast(bars, origins, 288, 300, 64, seed=1)
    assert p.shape == (2, 64, 289) and np.all(p > 0) and np.all(np.isfinite(p))
    np.testing.assert_array_equal(p[:, :, 0], close[[-300, -100]][:, None].repeat(64, 1))
    np.testing.assert_array_equal(p, f.forecast(bars, origins, 288, 300, 64, seed=1))
    # a fresh forecaster, the second origin alone: the same paths (the schedule is on absolute time)
    g = classical_forecaster(model, {**params, "window_days": 30 if model == "har-rv" else 10})
    np.testing.assert_array_equal(p[1:], g.forecast(bars, origins[1:], 288, 300, 64, seed=1))
    assert not np.array_equal(p, f.forecast(bars, origins, 288, 300, 64, seed=2))
    # a finer step than the bars (1h task on 5-minute bars), and a coarser one
    q = f.forecast(bars, origins[:1], 60, 60, 32, seed=0)
    assert q.shape == (1, 32, 61) and np.all(q > 0)
    c = f.forecast(bars, origins[:1], 4, 900, 32, seed=0)
    assert c.shape == (1, 32, 5) and np.all(c > 0)
    assert f.context_days > 0 and f.step_seconds == 0


def test_garch_paths_have_random_variance_and_the_fitted_level():
    ts, close = _gjr_prices(20 * 288, seed=6)
    bars = _bars(ts, close)
    f = classical_forecaster("gjr-garch", {"dist": "t", "seasonality": "off", "window_days": 30})
    p = f.forecast(bars, [bars["ts"][-1]], 288, 300, 4000, seed=0)[0]
    lr = np.diff(np.log(p), axis=1)
    path_vol = lr.std(axis=1)
    assert path_vol.std() / path_vol.mean() > 0.05          # stochastic volatility across paths
    # the day's variance is near the process's unconditional level (h = 0.5 / (1 - 0.975) bps^2 per bar)
    assert lr.var() * 1e8 == pytest.approx(0.5 / (1 - 0.05 - 0.025 - 0.9), rel=0.35)


def test_bad_inputs_are_clear():
    with pytest.raises(NotFound, match="unknown classical model"):
        classical_forecaster("arima")
    with pytest.raises(SpecError, match="dist"):
        classical_forecaster("garch", {"dist": "johnsonsu"})
    with pytest.raises(SpecError, match="window_days"):
        classical_forecaster("har-rv", {"window_days": 5})
    ts, close = _gjr_prices(2000)
    f = classical_forecaster("garch")
    with pytest.raises(SpecError, match="not a whole number"):
        f.forecast(_bars(ts, close), [_bars(ts, close)["ts"][-1]], 10, 420, 8)
    with pytest.raises(DataError, match="needs at least"):
        f.forecast(_bars(ts[:50], close[:50]), [_bars(ts[:50], close[:50])["ts"][-1]], 10, 300, 8)
    assert {"garch", "gjr-garch", "egarch", "har-rv"} <= set(CLASSICAL.names())
    assert "classical" in FORECASTER_KINDS


# ------------------------------------------------------------------------------ runs and the CLI


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_fit_cli_saves_a_run_that_reloads_and_forecasts_identically(demo_lake, tmp_path, capsys):
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection
    from synthwb.store.runs import load_run

    store = tmp_path / "store"
    base = ["--root", str(demo_lake), "--store", str(store), "--json"]
    rc, out, err = _cli(capsys, "fit", *base, "--name", "btc gjr", "--model", "gjr-garch", "--dist", "t",
                        "--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min", "--window-days", "7")
    assert rc == 0, err
    info = json.loads(out)
    run = load_run(info["run_id"], store)
    assert run.kind == "classical" and run.status == "finished"
    assert run.info["config"]["params"]["window_days"] == 7.0 and run.info["fit"]["seconds"] < 30
    assert set(run.info["fit"]["params"]) == {"omega", "alpha[1]", "gamma[1]", "beta[1]", "nu"}
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    origins = [bars["ts"][-400], bars["ts"][-300]]
    f = load_forecaster(info["run_id"], store=store, root=demo_lake)
    assert f.name == info["run_id"]
    direct = classical_forecaster("gjr-garch", {"dist": "t", "window_days": 7},
                                  {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"}, root=demo_lake)
    np.testing.assert_array_equal(f.forecast(bars, origins, 288, 300, 50, 3),
                                  direct.forecast(bars, origins, 288, 300, 50, 3))
    # HAR-RV reads the lake's 1-minute bars; the demo lake is short, so it uses the recent days
    rc, out, err = _cli(capsys, "fit", *base, "--name", "btc har", "--model", "har-rv", "--dist", "johnsonsu",
                        "--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min")
    assert rc == 0, err
    fit = json.loads(out)["fit"]
    assert fit["rv_bar_seconds"] == 60 and fit["rv_next_day"] > 0
    rc, out, _ = _cli(capsys, "models", "classical", "--json")
    assert rc == 0 and {d["name"] for d in json.loads(out)} >= {"garch", "har-rv"}
    rc, out, _ = _cli(capsys, "runs", "list", "--store", str(store), "--json")
    assert rc == 0


@pytest.mark.parametrize("extra,msg", [
    (["--model", "arima"], "unknown classical model"),
    (["--model", "garch", "--dist", "johnsonsu"], "garch.dist"),
    (["--model", "har-rv", "--param", "window_days"], "KEY=VALUE"),
    (["--model", "har-rv", "--param", "lags=3"], "unknown parameter"),
    (["--model", "garch", "--window-days", "-1"], "below the minimum"),
])
def test_fit_cli_bad_input_one_line(demo_lake, tmp_path, capsys, extra, msg):
    rc, out, err = _cli(capsys, "fit", "--root", str(demo_lake), "--store", str(tmp_path / "s"), "--name", "x",
                        "--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min", *extra)
    assert rc == 2 and out == ""
    assert err.startswith("error:") and msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


# ------------------------------------------------------------------------------ seasonal profile

def _hourly_r(days: int, scale, seed: int = 0, t0: int = T0) -> tuple[np.ndarray, np.ndarray]:
    """Hourly returns over ``days`` days from ``t0`` (a Monday, UTC) with variance ``scale(ts_ns)``."""
    ts = t0 + np.arange(days * 24, dtype=np.int64) * 3600 * NS
    return np.random.default_rng(seed).standard_normal(ts.size) * np.sqrt(scale(ts)), ts


def test_the_seasonal_profile_finds_a_real_pattern_in_utc_and_in_new_york_time():
    from synthwb.forecast.classical.seasonal import fit_profile

    hour, wday = lambda ts: (ts // (3600 * NS)) % 24, lambda ts: (ts // (86400 * NS) + 3) % 7  # Monday 0
    # crypto: hours 14-15 UTC carry 3x the variance, weekends half; 200 days
    r, ts = _hourly_r(200, lambda ts: np.where(np.isin(hour(ts), (14, 15)), 3.0, 1.0)
                      * np.where(wday(ts) >= 5, 0.5, 1.0))
    p = fit_profile(r, ts, "hour_of_week", "crypto")
    assert p.values.shape == (168,)
    assert np.mean(p.values[(ts // (3600 * NS) + 72) % 168]) == pytest.approx(1.0)  # its returns keep their variance
    v = p.values.reshape(7, 24)
    busy, calm = v[:5, 14:16].mean(), np.delete(v[:5], [14, 15], axis=1).mean()
    assert busy / calm == pytest.approx(3.0, rel=0.15)
    assert v[5:].mean() / v[:5].mean() == pytest.approx(0.5, rel=0.15)
    # fx: 3x at 09:00-10:59 New York time, across the March change to summer time (bucket hours are local)
    ny = ZoneInfo("America/New_York")
    local_hour = lambda ts: np.array([datetime.fromtimestamp(t / NS, ny).hour for t in ts.tolist()])  # noqa: E731
    r, ts = _hourly_r(150, lambda ts: np.where(np.isin(local_hour(ts), (9, 10)), 3.0, 1.0), seed=1)
    hod = fit_profile(r, ts, "hour_of_day", "fx").values
    # one return per hour and day: a loud hour also raises its own day's mean, so the within-day
    # ratio reads about 2.4 for a 3x hour (kept: a left-out mean reads 3 and did worse out of sample)
    assert 2.1 < hod[9:11].mean() / np.delete(hod, [9, 10]).mean() < 3.3
    assert set(np.argsort(hod)[-2:]) == {9, 10} and np.delete(hod, [9, 10]).max() < 1.3


def test_one_storm_day_on_a_short_series_barely_moves_its_weekday():
    """Fourteen days of 1-minute bars, no pattern at all, one Wednesday at 5x the variance. Each hour of
    the week used to be its bucket's mean over the overall mean (120 returns each, shrunk by 30): the
    storm's hours read about 3.2; now the day's level drops out of the hours and the weekday moves by
    its share of the evidence."""
    from synthwb.forecast.classical.seasonal import fit_profile

    ts = T0 + np.arange(14 * 1440, dtype=np.int64) * 60 * NS
    storm = np.where((ts - T0) // (86400 * NS) == 2, 5.0, 1.0)
    r = np.random.default_rng(2).standard_normal(ts.size) * np.sqrt(storm)
    v = fit_profile(r, ts, "hour_of_week", "crypto").values.reshape(7, 24)
    assert v[2].mean() / v[[0, 1, 3, 4]].mean() < 1.3
    assert v.max() / v.min() < 1.5
    assert fit_profile(r, ts, "off", "crypto").at(ts[:5]).tolist() == [1.0] * 5


# ------------------------------------------------------------------------------ bounded shocks

def test_simulated_shocks_are_winsorised_and_centred_against_quadrature_of_the_density():
    from scipy import integrate, stats

    from synthwb.forecast.classical.garch import _sample
    from synthwb.forecast.classical.seasonal import Z_MAX, Innovations, winsorised_moments

    nu = 2.6
    s = math.sqrt((nu - 2) / nu)  # unit-variance t: z = s T; winsorised second moment by the density
    a = Z_MAX / s
    inner = integrate.quad(lambda t: (s * t) ** 2 * stats.t.pdf(t, nu), -a, a, limit=200)[0]
    outer = 2 * Z_MAX ** 2 * stats.t.sf(a, nu)
    _, sd = winsorised_moments("t", (nu,))
    assert sd == pytest.approx(math.sqrt(inner + outer), rel=2e-3)
    assert 0.80 < sd < 0.95  # the variance a t(2.6) keeps beyond 10 sd is not small
    z = _sample("t", np.array([nu]), np.random.default_rng(0), 2_000_000)
    assert np.abs(z).max() <= Z_MAX and np.abs(z).max() > 0.99 * Z_MAX
    assert np.mean(z ** 2) == pytest.approx(sd ** 2, rel=0.02)
    # inside the bound the quantiles are the fitted law's
    q = np.quantile(z, [0.01, 0.1, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(q, stats.t.ppf([0.01, 0.1, 0.5, 0.9, 0.99], nu) * s, atol=0.01)
    # a skewed law is centred again: mean 0 after winsorising
    zs = _sample("skewt", np.array([2.4, -0.4]), np.random.default_rng(1), 2_000_000)
    assert np.abs(zs).max() <= Z_MAX + 0.05 and abs(zs.mean()) < 0.01
    assert np.abs(Innovations("t", (2.5,)).sample(np.random.default_rng(2), 1_000_000)).max() <= Z_MAX


def test_a_garch_with_very_fat_tails_never_simulates_an_absurd_day():
    """GARCH-t with nu 2.6 (what hourly BTC fits) over 24 hourly steps, 1,000 origins x 256 paths: before
    the bound, about one path in a million ended at e^5 to e^15 times its start."""
    f = classical_forecaster("garch", {"dist": "t", "seasonality": "off", "window_days": 3650})
    ts, close = _gjr_prices(3000, bar_s=3600, seed=3)
    s = Series.from_arrays(ts, close)
    state = f.fit_state(s, s.r.size)
    state.params[-1] = 2.6
    rng = np.random.default_rng(4)
    worst = 0.0
    for _ in range(40):
        lr = f.simulate(s, state, int(ts[-1]) + 3600 * NS, 24, 3600, 6400, rng)
        worst = max(worst, float(np.abs(lr.sum(axis=1)).max()))
    daily = math.sqrt(24) * float(np.std(np.diff(np.log(close))))
    assert worst < 40 * daily
