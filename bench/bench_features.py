"""Feature Lab benchmark: one year of 1-minute bars -> 1h bars with the 16 micro-structure
features plus the full indicator and regime set.

Prints our time (goal < 0.5 s), the time of a straightforward pandas implementation of the
same formulas (written below as the reference a user would otherwise write: resample + a
groupby-apply for the per-bar statistics, rolling/ewm for the indicators), and the ratio
(goal >= 5x). It also checks that both give the same numbers.

    OMP_NUM_THREADS=1 python bench/bench_features.py [--days 365] [--repeat 3]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthwb.features.compute import compute_features  # noqa: E402
from synthwb.features.microstructure import MICRO_EXTRA, resample_with_micro  # noqa: E402
from synthwb.features.registry import FeatureContext, FeatureSpec  # noqa: E402

SPEC = FeatureSpec(freq="1h", base_freq="1min", dropna=False, features=[
    "microstructure", "calendar", "return", "log_return", "sma", "ema", "wma", "macd", "psar", "rsi",
    "stochastic", "cci", "bollinger", "atr", "rolling_std", "obv", "volume_roc", "ad_line",
    "realized_vol", "adx", "adx_regime", "vol_regime",
])


def synthetic_minutes(days: int, seed: int = 0) -> pl.DataFrame:
    """Seeded 1-minute bars with stochastic volatility and a few missing minutes."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    vol = 0.0006 * np.exp(np.cumsum(rng.normal(0, 0.002, n)) * 0.5)
    close = 40_000 * np.exp(np.cumsum(vol * rng.standard_t(4, n) / math.sqrt(2)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 1, n)) * vol * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.gamma(2.0, 5.0, n)
    ts = pl.datetime_range(pl.datetime(2024, 1, 1, time_zone="UTC"),
                           pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(minutes=n - 1), "1m",
                           eager=True).dt.cast_time_unit("us")
    keep = rng.uniform(size=n) > 0.002
    return pl.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
                        ).filter(pl.Series(keep))


def ours(fine: pl.DataFrame) -> pl.DataFrame:
    micro = resample_with_micro(fine, "1h", "crypto")
    ctx = FeatureContext("crypto", "1h", fine=fine, micro=micro)
    return compute_features(micro.select("ts", "open", "high", "low", "close", "volume"), SPEC, ctx)


# ----------------------------------------------------------------------------- pandas reference

def _bar_stats(g: pd.DataFrame) -> pd.Series:
    o, h, lo, c, v = g["open"].to_numpy(), g["high"].to_numpy(), g["low"].to_numpy(), g["close"].to_numpy(), g["volume"].to_numpy()
    prev = np.r_[o[0], c[:-1]]
    r = np.log(c / prev)
    dc = c - prev
    O, H, L, C, V = o[0], h.max(), lo.min(), c[-1], v.sum()
    d = r - r.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    tp = (h + lo + c) / 3
    vwap = (tp * v).sum() / V if V > 0 else tp.mean()
    path = np.abs(dc).sum()
    rng = H - L
    return pd.Series({
        "open": O, "high": H, "low": L, "close": C, "volume": V,
        "ms_rv": r.std(ddof=1) if len(r) > 1 else 0.0,
        "ms_skew": m3 / m2 ** 1.5 if m2 > 1e-18 else 0.0,
        "ms_kurt": m4 / m2 ** 2 - 3 if m2 > 1e-18 else 0.0,
        "ms_parkinson": math.sqrt((np.log(h / lo) ** 2).mean() / (4 * math.log(2))),
        "ms_efficiency": abs(C - O) / path if path else 0.0,
        "ms_vwap_dev": (C - vwap) / vwap if vwap else 0.0,
        "ms_signed_volume": (np.sign(dc) * v).sum(),
        "ms_upper_wick": (H - max(O, C)) / rng if rng else 0.0,
        "ms_lower_wick": (min(O, C) - L) / rng if rng else 0.0,
        "ms_body": abs(C - O) / rng if rng else 0.0,
        "ms_clv": ((C - L) - (H - C)) / rng if rng else 0.0,
    })


def _seeded(x: pd.Series, n: int, alpha: float) -> pd.Series:
    seed = x.rolling(n).mean()
    first = seed.first_valid_index()
    z = x.copy()
    z[:] = np.nan
    if first is not None:
        z.loc[first] = seed.loc[first]
        z[z.index > first] = x[x.index > first]
    return z.ewm(alpha=alpha, adjust=False, ignore_na=True).mean().where(z.notna().cumsum() > 0)


def _psar(h, lo, step=0.02, mx=0.2):
    n = len(h)
    out, tr = np.full(n, np.nan), np.full(n, np.nan)
    up, af, ep, sar = True, step, h[0], lo[0]
    for i in range(1, n):
        sar = sar + af * (ep - sar)
        if up:
            sar = min(sar, lo[i - 1], lo[i - 2] if i >= 2 else lo[i - 1])
            if lo[i] < sar:
                up, sar, ep, af = False, ep, lo[i], step
            elif h[i] > ep:
                ep, af = h[i], min(af + step, mx)
        else:
            sar = max(sar, h[i - 1], h[i - 2] if i >= 2 else h[i - 1])
            if h[i] > sar:
                up, sar, ep, af = True, ep, h[i], step
            elif lo[i] < ep:
                ep, af = lo[i], min(af + step, mx)
        out[i], tr[i] = sar, 1.0 if up else -1.0
    return out, tr


def pandas_reference(fine_pd: pd.DataFrame) -> pd.DataFrame:
    from sklearn.cluster import KMeans

    g = fine_pd.set_index("ts")
    df = g.groupby(g.index.floor("h")).apply(_bar_stats)
    c, h, lo, v = df["close"], df["high"], df["low"], df["volume"]
    idx = df.index
    df["cal_year"], df["cal_month"], df["cal_day"], df["cal_hour"] = idx.year, idx.month, idx.day, idx.hour
    dow = idx.dayofweek
    df["cal_weekday"], df["cal_weekend"] = dow, (dow >= 5).astype(float)
    hf = idx.hour + idx.minute / 60
    df["cal_hour_sin"], df["cal_hour_cos"] = np.sin(2 * np.pi * hf / 24), np.cos(2 * np.pi * hf / 24)
    df["cal_dow_sin"], df["cal_dow_cos"] = np.sin(2 * np.pi * dow / 7), np.cos(2 * np.pi * dow / 7)
    lr = np.log(c / c.shift(1))
    df["ret_1"], df["logret_1"] = c.pct_change(), lr
    df["sma_20"] = c.rolling(20).mean()
    df["ema_20"] = _seeded(c, 20, 2 / 21)
    w = np.arange(1, 21)
    df["wma_20"] = c.rolling(20).apply(lambda x: (x * w).sum() / w.sum(), raw=True)
    line = _seeded(c, 12, 2 / 13) - _seeded(c, 26, 2 / 27)
    sig = _seeded(line, 9, 0.2)
    df["macd_12_26_9"], df["macd_signal_12_26_9"], df["macd_hist_12_26_9"] = line, sig, line - sig
    df["psar_0.02_0.2"], df["psar_trend_0.02_0.2"] = _psar(h.to_numpy(), lo.to_numpy())
    d = c.diff()
    ag, al = _seeded(d.clip(lower=0), 14, 1 / 14), _seeded((-d).clip(lower=0), 14, 1 / 14)
    df["rsi_14"] = np.where(al > 0, 100 - 100 / (1 + ag / al), np.where(ag > 0, 100.0, 50.0))
    df.loc[ag.isna(), "rsi_14"] = np.nan
    ll, hh = lo.rolling(14).min(), h.rolling(14).max()
    df["stoch_k_14"] = np.where(hh - ll != 0, 100 * (c - ll) / (hh - ll), 50.0)
    df.loc[ll.isna(), "stoch_k_14"] = np.nan
    df["stoch_d_14_3"] = df["stoch_k_14"].rolling(3).mean()
    tp = (h + lo + c) / 3
    mad = tp.rolling(20).apply(lambda x: np.abs(x - x.mean()).mean(), raw=True)
    df["cci_20"] = (tp - tp.rolling(20).mean()) / (0.015 * mad)
    mid, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    up_, dn_ = mid + 2 * sd, mid - 2 * sd
    df["bb_mid_20"], df["bb_upper_20_2"], df["bb_lower_20_2"] = mid, up_, dn_
    df["bb_width_20_2"], df["bb_pctb_20_2"] = (up_ - dn_) / mid, (c - dn_) / (up_ - dn_)
    pc = c.shift(1)
    trange = pd.concat([h - lo, (h - pc).abs(), (lo - pc).abs()], axis=1).max(axis=1).where(pc.notna())
    df["atr_14"] = _seeded(trange, 14, 1 / 14)
    df["std_20"] = lr.rolling(20).std()
    df["obv"] = (np.sign(c.diff()) * v).fillna(0).cumsum()
    df["vroc_14"] = 100 * (v - v.shift(14)) / v.shift(14)
    clv = ((c - lo) - (h - c)) / (h - lo)
    df["ad_line"] = (clv.fillna(0) * v).cumsum()
    df["vol_ann_24"] = lr.rolling(24).std() * math.sqrt(365 * 24)
    upm, dnm = h.diff(), -lo.diff()
    pdm = pd.Series(np.where((upm > dnm) & (upm > 0), upm, 0.0), idx).where(upm.notna())
    mdm = pd.Series(np.where((dnm > upm) & (dnm > 0), dnm, 0.0), idx).where(upm.notna())
    atr = _seeded(trange, 14, 1 / 14)
    pdi, mdi = 100 * _seeded(pdm, 14, 1 / 14) / atr, 100 * _seeded(mdm, 14, 1 / 14) / atr
    dx = 100 * (pdi - mdi).abs() / (pdi + mdi)
    adx = _seeded(dx, 14, 1 / 14)
    df["adx_14"], df["plus_di_14"], df["minus_di_14"] = adx, pdi, mdi
    trend = adx >= 25
    df["regime_up"] = (trend & (pdi > mdi)).astype(float)
    df["regime_down"] = (trend & (pdi <= mdi)).astype(float)
    df["regime_range"] = (adx < 20).astype(float)
    df["regime_neutral"] = 1.0 - df[["regime_up", "regime_down", "regime_range"]].sum(axis=1)
    lv = np.log(lr.rolling(24).std())
    fit = lv.iloc[: int(len(lv) * 0.7)].dropna().to_numpy().reshape(-1, 1)
    init = np.quantile(fit.ravel(), (np.arange(3) + 0.5) / 3).reshape(-1, 1)
    centers = np.sort(KMeans(3, init=init, n_init=1, random_state=0).fit(fit).cluster_centers_.ravel())
    lab = pd.Series(np.searchsorted((centers[1:] + centers[:-1]) / 2, lv.fillna(0), side="right"), idx).where(lv.notna())
    df["vreg"] = lab
    for i in range(3):
        df[f"vreg_{i}"] = (lab == i).astype(float).where(lab.notna())
    return df


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    fine = synthetic_minutes(args.days)
    fine_pd = fine.to_pandas()
    ours(fine.head(5000))  # warm-up (imports, sklearn)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        out = ours(fine)
        times.append(time.perf_counter() - t)
    t_ours = min(times)
    t = time.perf_counter()
    ref = pandas_reference(fine_pd)
    t_pd = time.perf_counter() - t
    cols = [c for c in out.columns if c != "ts"]
    a = out.select(cols).to_numpy()
    b = ref[cols].to_numpy(dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    max_rel = float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))))
    print(f"input: {fine.height:,} 1-minute bars ({args.days} days) -> {out.height:,} 1h bars, "
          f"{len(cols)} columns ({len(MICRO_EXTRA) + 5} micro-structure + {len(cols) - len(MICRO_EXTRA) - 5} indicator/regime/calendar)")
    print(f"synthwb (polars): {t_ours:.3f} s  (best of {args.repeat}; goal < 0.5 s)")
    print(f"pandas reference: {t_pd:.3f} s")
    print(f"speed-up: {t_pd / t_ours:.1f}x  (goal >= 5x)")
    print(f"agreement: max relative difference {max_rel:.2e} over {int(ok.sum()):,} values")


if __name__ == "__main__":
    main()
