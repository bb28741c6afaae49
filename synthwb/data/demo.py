"""A seeded, realistic demo lake so the app is useful on first launch.

1-minute bars for three correlated crypto assets (BTC, ETH, SOL; 24/7 in UTC) and one
session asset (equity SPY, 09:30-16:00 New York on NYSE trading days, stored in UTC).

The model, all vectorised numpy (recursions through ``scipy.signal.lfilter``):

- returns ``r_t = sigma_t * eps_t`` with Student-t(4) innovations (fat tails), correlated
  across the crypto assets through a Cholesky factor (BTC-ETH 0.8, BTC-SOL 0.65, ETH-SOL 0.7);
- stochastic volatility ``sigma_t = base * season(t) * exp(s*h_t - s^2)`` where the log-vol
  ``h_t`` is a sum of AR(1) processes with half-lives of 30 minutes, 1 day and 10 days,
  partly shared across assets: volatility clustering at several time scales;
- intraday / weekly seasonality of volatility and volume (crypto: busier in US hours, calmer
  at weekends; SPY: U-shaped intraday), volume also rising with |return| and volatility;
- a weak mean reversion of log price towards a realistic level (half-life ~30 days), so prices
  stay plausible (BTC around 40-60k, ETH 2-3k, SOL ~100, SPY ~475) over years;
- SPY gets an overnight gap between sessions and a mild correlation with BTC;
- occasional missing minutes (exchange outages), at least one per asset.

:func:`demo_latent` returns what generated a crypto series besides its bars (the log-vol
components minute by minute, the seasonal profile and the parameters), for forecasters that
know the true process (the quality bench's oracles).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from scipy.signal import lfilter

from synthwb.core.config import writable_data_dir
from synthwb.core.errors import SpecError
from synthwb.core.time import to_utc
from synthwb.data.calendar import session_minutes
from synthwb.data.lake import write_bars

MIN_PER_YEAR = 365.25 * 1440

CRYPTO = {
    # symbol: (price level, annual vol, volume per minute in base units)
    "BTC": (48_000.0, 0.48, 12.0),
    "ETH": (2_500.0, 0.60, 150.0),
    "SOL": (100.0, 0.85, 2_500.0),
}
CRYPTO_CORR = np.array([[1.0, 0.8, 0.65], [0.8, 1.0, 0.7], [0.65, 0.7, 1.0]])
EQUITY = {"SPY": (475.0, 0.15, 60_000.0)}
SYMBOLS = (*CRYPTO, *EQUITY)

_HALF_LIVES_MIN = (30.0, 1440.0, 14_400.0)
_HL_WEIGHTS = np.sqrt(np.array([0.35, 0.35, 0.30]))
_VOL_OF_VOL = 0.55
_MEAN_REV_HALF_LIFE_MIN = 30 * 1440.0
_T_DF = 4.0


def _ar1(rng: np.random.Generator, n: int, half_life: float) -> np.ndarray:
    """Stationary unit-variance AR(1) with the given half-life (in steps)."""
    phi = 0.5 ** (1.0 / half_life)
    e = rng.standard_normal(n)
    x0 = rng.standard_normal()
    y, _ = lfilter([np.sqrt(1.0 - phi * phi)], [1.0, -phi], e, zi=[phi * x0])
    return y


def _log_vol(rng: np.random.Generator, n: int, parts: list | None = None) -> np.ndarray:
    """Multi-scale log-volatility factor, unit variance; ``parts`` (if given) receives its
    weighted AR(1) components, fastest first (they add up to the factor)."""
    comps = [w * _ar1(rng, n, hl) for w, hl in zip(_HL_WEIGHTS, _HALF_LIVES_MIN)]
    if parts is not None:
        parts.extend(comps)
    return sum(comps)


def _student_t(rng: np.random.Generator, size) -> np.ndarray:
    """Student-t(4) scaled to unit variance."""
    return rng.standard_t(_T_DF, size=size) / np.sqrt(_T_DF / (_T_DF - 2.0))


def _ou_log_price(r: np.ndarray, level: float, d0: float = 0.0) -> np.ndarray:
    """log price = log(level) + D_t with D_t = (1-theta) D_{t-1} + r_t (weak pull to level)."""
    theta = 1.0 - 0.5 ** (1.0 / _MEAN_REV_HALF_LIFE_MIN)
    a = 1.0 - theta
    d, _ = lfilter([1.0], [1.0, -a], r, zi=[a * d0])
    return np.log(level) + d


def _bars_from_path(rng, log_close: np.ndarray, open0: float, sigma: np.ndarray,
                    volume: np.ndarray) -> dict[str, np.ndarray]:
    close = np.exp(log_close)
    open_ = np.empty_like(close)
    open_[0] = open0
    open_[1:] = close[:-1]
    hi_exc = np.abs(rng.standard_normal(close.size)) * sigma * 0.6
    lo_exc = np.abs(rng.standard_normal(close.size)) * sigma * 0.6
    high = np.maximum(open_, close) * np.exp(hi_exc)
    low = np.minimum(open_, close) * np.exp(-lo_exc)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _gap_mask(rng: np.random.Generator, n: int) -> np.ndarray:
    """True for minutes to drop: a few short outages a week, rarely an hour or more."""
    keep = np.ones(n, dtype=bool)
    if n < 100:
        return keep
    days = n / 1440.0
    k = max(1, int(rng.poisson(2.0 * days / 7.0 + 0.5)))
    starts = rng.integers(10, n - 10, size=k)
    lens = np.where(rng.random(k) < 0.1, rng.integers(60, 240, size=k), rng.geometric(1 / 6.0, size=k))
    for s, ln in zip(starts, lens):
        keep[s:min(n - 1, s + int(ln))] = False
    return keep


def _crypto_frames(rng: np.random.Generator, start: datetime, n: int,
                   latent: dict | None = None) -> dict[str, pl.DataFrame]:
    """The crypto bars; ``latent`` (if given) receives each symbol's hidden state (see
    :func:`demo_latent`). Recording it draws no random numbers: the bars are the same."""
    ts_us = int(start.timestamp() * 1e6) + np.arange(n, dtype=np.int64) * 60_000_000
    minute_of_day = (np.arange(n) + start.hour * 60 + start.minute) % 1440
    hour = minute_of_day / 60.0
    weekday = ((ts_us // 86_400_000_000) + 3) % 7  # 1970-01-01 was a Thursday (3)
    weekend = weekday >= 5
    vol_season = (1.0 + 0.30 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)) * np.where(weekend, 0.75, 1.0)
    vol_season /= np.sqrt(np.mean(vol_season ** 2))
    vlm_season = (1.0 + 0.45 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)) * np.where(weekend, 0.6, 1.0)

    common_parts: list = []
    common_h = _log_vol(rng, n, common_parts)
    eps = _student_t(rng, (n, len(CRYPTO))) @ np.linalg.cholesky(CRYPTO_CORR).T
    out: dict[str, pl.DataFrame] = {}
    for j, (sym, (level, ann_vol, vbase)) in enumerate(CRYPTO.items()):
        own_parts: list = []
        h = np.sqrt(0.7) * common_h + np.sqrt(0.3) * _log_vol(rng, n, own_parts)
        base = ann_vol / np.sqrt(MIN_PER_YEAR)
        if latent is not None:
            latent[sym] = {"components": np.stack([np.sqrt(0.7) * c + np.sqrt(0.3) * o
                                                   for c, o in zip(common_parts, own_parts)], axis=1),
                           "h": h, "season": vol_season, "base": float(base), "level": float(level)}
        sigma = base * vol_season * np.exp(_VOL_OF_VOL * h - _VOL_OF_VOL ** 2)
        r = sigma * eps[:, j]
        open0 = level * np.exp(0.05 * rng.standard_normal())
        log_close = _ou_log_price(r, level, np.log(open0 / level))
        volume = (vbase * vlm_season * np.exp(0.6 * _VOL_OF_VOL * h + 0.35 * rng.standard_normal(n))
                  * (1.0 + 0.6 * np.abs(eps[:, j])))
        cols = _bars_from_path(rng, log_close, open0, sigma, volume)
        keep = _gap_mask(rng, n)
        out[sym] = _frame(ts_us[keep], {k: v[keep] for k, v in cols.items()})
    out["_btc_eps"] = pl.DataFrame({"ts_us": ts_us, "eps": eps[:, 0]})
    return out


def _equity_frame(rng: np.random.Generator, start: datetime, n: int, sym: str,
                  btc_eps: pl.DataFrame) -> pl.DataFrame:
    level, ann_vol, vbase = EQUITY[sym]
    end = start + timedelta(minutes=n)
    ts = session_minutes("equity", start.date(), (end - timedelta(minutes=1)).date())
    ts = ts.filter((ts >= start) & (ts < end))
    m = ts.len()
    if m == 0:
        return _frame(np.zeros(0, dtype=np.int64), {k: np.zeros(0) for k in ("open", "high", "low", "close", "volume")})
    ts_us = ts.dt.epoch("us").to_numpy()
    local = ts.dt.convert_time_zone("America/New_York")
    mins = (local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32) - 570).to_numpy()  # 0..389
    day = local.dt.date().to_numpy()
    first_of_day = np.r_[True, day[1:] != day[:-1]]
    u = (mins - 195.0) / 195.0  # -1 at the open, +1 at the close
    vol_season = 0.75 + 0.9 * u ** 2
    vol_season /= np.sqrt(np.mean(vol_season ** 2))
    vlm_season = 0.55 + 1.6 * u ** 4 + 0.5 * (mins < 30)

    h = _log_vol(rng, m)
    base = ann_vol * np.sqrt(0.8 / 252.0 / 390.0)
    sigma = base * vol_season * np.exp(0.8 * _VOL_OF_VOL * h - (0.8 * _VOL_OF_VOL) ** 2)
    idx = (ts_us - btc_eps["ts_us"][0]) // 60_000_000
    e_btc = btc_eps["eps"].to_numpy()[idx]
    eps = 0.3 * e_btc + np.sqrt(1 - 0.09) * _student_t(rng, m)
    r = sigma * eps
    gap = np.where(first_of_day, ann_vol * np.sqrt(0.2 / 252.0) * _student_t(rng, m), 0.0)
    gap[0] = 0.0
    open0 = level * np.exp(0.03 * rng.standard_normal())
    log_close = _ou_log_price(r + gap, level, np.log(open0 / level))
    volume = vbase * vlm_season * np.exp(0.5 * h + 0.3 * rng.standard_normal(m)) * (1.0 + 0.5 * np.abs(eps))
    cols = _bars_from_path(rng, log_close, open0, sigma, volume)
    # the open of a session's first bar carries the overnight gap: open = prev close * exp(gap)
    cols["open"] = np.where(first_of_day, np.exp(log_close - r), cols["open"])
    cols["open"][0] = open0
    cols["high"] = np.maximum(cols["high"], np.maximum(cols["open"], cols["close"]))
    cols["low"] = np.minimum(cols["low"], np.minimum(cols["open"], cols["close"]))
    keep = _gap_mask(rng, m)
    return _frame(ts_us[keep], {k: v[keep] for k, v in cols.items()})


def _frame(ts_us: np.ndarray, cols: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": pl.Series(ts_us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
         **{k: pl.Series(v, dtype=pl.Float64) for k, v in cols.items()}}
    )


def _check_years(years) -> float:
    try:
        years = float(years)
    except (TypeError, ValueError):
        raise SpecError(f"years must be a number, got {years!r}") from None
    if not (0 < years <= 20):
        raise SpecError(f"years must be in (0, 20], got {years}")
    return years


def demo_frames(years: float = 2.0, seed: int = 0, start: str = "2023-01-01",
                symbols=None) -> dict[str, tuple[str, pl.DataFrame]]:
    """The demo bars in memory: ``{symbol: (asset_class, frame)}``."""
    years = _check_years(years)
    syms = list(symbols) if symbols else list(SYMBOLS)
    unknown = [s for s in syms if s not in SYMBOLS]
    if unknown:
        raise SpecError(f"unknown demo symbol(s) {', '.join(map(str, unknown))}; choose from {', '.join(SYMBOLS)}")
    t0 = to_utc(start, "start")
    t0 = datetime(t0.year, t0.month, t0.day, tzinfo=UTC)
    n = max(2, int(round(years * MIN_PER_YEAR)))
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    crypto = _crypto_frames(rng, t0, n)
    out: dict[str, tuple[str, pl.DataFrame]] = {}
    for sym in syms:
        if sym in CRYPTO:
            out[sym] = ("crypto", crypto[sym])
    eq_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    for sym in EQUITY:
        if sym in syms:
            out[sym] = ("equity", _equity_frame(eq_rng, t0, n, sym, crypto["_btc_eps"]))
    return out


@dataclass(frozen=True)
class DemoLatent:
    """The hidden state and the parameters behind one demo crypto series, minute by minute.

    Minute ``i`` is the 1-minute bar that opens at ``start + i`` minutes (missing bars included:
    the arrays cover every minute). Its log return is ``r_i = sigma_i * eps_i`` with
    ``sigma_i = base * season[i] * exp(vol_of_vol * h_i - vol_of_vol**2)``, ``h_i`` the sum of
    ``components[i]`` (AR(1) processes with coefficients ``phis``, stationary standard deviations
    ``comp_std``) and ``eps_i`` Student-t(``t_df``) scaled to unit variance; the log close is
    ``log(level) + D_i`` with ``D_i = (1 - theta) * D_{i-1} + r_i``.
    """

    symbol: str
    start: datetime
    components: np.ndarray  # (n, 3) log-vol components, fastest first
    h: np.ndarray           # (n,) their sum, as used by the generator
    season: np.ndarray      # (n,) the seasonal volatility multiplier
    base: float             # per-minute volatility scale
    level: float            # the level the log price reverts to
    half_lives_min: tuple[float, ...]
    comp_std: tuple[float, ...]
    vol_of_vol: float
    t_df: float
    theta: float            # per-minute mean-reversion rate of the log price

    @property
    def phis(self) -> np.ndarray:
        return 0.5 ** (1.0 / np.asarray(self.half_lives_min))

    @property
    def sigma(self) -> np.ndarray:
        """The per-minute volatility of the log return."""
        s = self.vol_of_vol
        return self.base * self.season * np.exp(s * self.h - s * s)


def demo_latent(symbol: str = "BTC", years: float = 2.0, seed: int = 0, start: str = "2023-01-01") -> DemoLatent:
    """The hidden state of the crypto series ``symbol`` that :func:`demo_frames` generates for the
    same ``years``, ``seed`` and ``start`` (the generation is replayed; its bars are unchanged)."""
    if symbol not in CRYPTO:
        raise SpecError(f"demo_latent covers the crypto symbols {', '.join(CRYPTO)}; got {symbol!r}")
    years = _check_years(years)
    t0 = to_utc(start, "start")
    t0 = datetime(t0.year, t0.month, t0.day, tzinfo=UTC)
    n = max(2, int(round(years * MIN_PER_YEAR)))
    latent: dict = {}
    _crypto_frames(np.random.default_rng(np.random.SeedSequence(int(seed))), t0, n, latent)
    x = latent[symbol]
    return DemoLatent(symbol, t0, x["components"], x["h"], x["season"], x["base"], x["level"],
                      tuple(_HALF_LIVES_MIN), tuple(float(w) for w in _HL_WEIGHTS), _VOL_OF_VOL, _T_DF,
                      1.0 - 0.5 ** (1.0 / _MEAN_REV_HALF_LIFE_MIN))


def generate_demo_lake(root=None, years: float = 2.0, seed: int = 0, start: str = "2023-01-01",
                       symbols=None) -> dict:
    """Write the demo lake (1-minute bars) under ``root``; existing demo rows are replaced.

    Returns ``{"root", "years", "seed", "seconds", "series": [{asset_class, symbol, freq, rows,
    start, end, partitions}]}``.
    """
    t_start = time.perf_counter()
    root = writable_data_dir(root)
    frames = demo_frames(years=years, seed=seed, start=start, symbols=symbols)

    def _write(item):
        sym, (ac, df) = item
        if df.height == 0:
            return None
        s = write_bars(df, ac, sym, "1min", root=root)
        return {"asset_class": ac, "symbol": sym, "freq": "1min", "rows": s["rows_written"],
                "start": s["start"], "end": s["end"], "partitions": s["partitions"]}

    with ThreadPoolExecutor(max_workers=2) as pool:
        series = [s for s in pool.map(_write, frames.items()) if s]
    return {"root": str(root), "years": float(years), "seed": int(seed),
            "seconds": round(time.perf_counter() - t_start, 3), "series": series}
