"""Regime indicators: annualised volatility, ADX with +DI/-DI (Wilder), a trend regime label
one-hot encoded, and a volatility-regime clustering fitted on the training period only."""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from synthwb.core.registry import Param
from synthwb.data.schema import FREQ_SECONDS, is_24_7
from synthwb.features.expr import log_return, safe_div, true_range, wilder
from synthwb.features.registry import FEATURES

REGIME_LABELS = ("up", "down", "range", "neutral")


def bars_per_year(freq: str, asset_class: str) -> float:
    """Crypto: 365 days x 24 h. Session assets: 252 days; intraday bars per 6.5 h session
    (fx: 24 h sessions, 5 days a week -> 260 days)."""
    sec = FREQ_SECONDS[freq]
    if is_24_7(asset_class):
        return 365.0 * 86400.0 / sec
    if asset_class == "fx":
        return 260.0 * max(1.0, 86400.0 / sec)
    return 252.0 * max(1.0, 6.5 * 3600.0 / sec)


@FEATURES.register(
    "realized_vol", category="regime", params=[Param("window", int, 24, low=2, high=5000)],
    needs=("close",), makes=lambda p, r: [f"vol_ann_{p['window']}"],
    help="Annualised rolling volatility: std (ddof=1) of 1-bar log returns x sqrt(bars per year).")
def realized_vol(df: pl.DataFrame, window: int, ctx) -> list[pl.Expr]:
    k = math.sqrt(bars_per_year(ctx.freq, ctx.asset_class))
    return [(log_return(1).rolling_std(window) * k).alias(f"vol_ann_{window}")]


def adx_frame(df: pl.DataFrame, window: int) -> pl.DataFrame:
    """Columns ``adx``, ``plus_di``, ``minus_di`` (Wilder): +DM = the up move when it exceeds the
    down move and is > 0, etc.; DI = 100 x Wilder(DM) / Wilder(TR);
    DX = 100 |+DI - -DI| / (+DI + -DI); ADX = Wilder(DX). Computed in stages so each smoothing
    runs over a materialised column (no repeated sub-expressions)."""
    up = pl.col("high").diff()
    down = -pl.col("low").diff()
    plus_dm = pl.when((up > down) & (up > 0)).then(up).when(up.is_null()).then(None).otherwise(0.0)
    minus_dm = pl.when((down > up) & (down > 0)).then(down).when(down.is_null()).then(None).otherwise(0.0)
    p, m = pl.col("plus_di"), pl.col("minus_di")
    return (
        df.lazy().select(true_range().alias("_tr"), plus_dm.alias("_pdm"), minus_dm.alias("_mdm"))
        .select(wilder(pl.col("_tr"), window).alias("_atr"), wilder(pl.col("_pdm"), window).alias("_spdm"),
                wilder(pl.col("_mdm"), window).alias("_smdm"))
        .select((100.0 * safe_div(pl.col("_spdm"), pl.col("_atr"))).alias("plus_di"),
                (100.0 * safe_div(pl.col("_smdm"), pl.col("_atr"))).alias("minus_di"))
        .with_columns((100.0 * safe_div((p - m).abs(), p + m)).alias("_dx"))
        .select(wilder(pl.col("_dx"), window).alias("adx"), p, m)
        .collect()
    )


@FEATURES.register(
    "adx", category="regime", params=[Param("window", int, 14, low=2, high=500)],
    needs=("high", "low", "close"),
    makes=lambda p, r: [f"adx_{p['window']}", f"plus_di_{p['window']}", f"minus_di_{p['window']}"],
    help="Average directional index with +DI and -DI (Wilder smoothing).")
def adx(df: pl.DataFrame, window: int) -> pl.DataFrame:
    return adx_frame(df, window).rename({"adx": f"adx_{window}", "plus_di": f"plus_di_{window}",
                                         "minus_di": f"minus_di_{window}"})


@FEATURES.register(
    "adx_regime", category="regime",
    params=[Param("window", int, 14, low=2, high=500),
            Param("trend_threshold", float, 25.0, low=1.0, high=100.0, help="ADX at or above: trending"),
            Param("range_threshold", float, 20.0, low=0.0, high=100.0, help="ADX below: ranging")],
    needs=("high", "low", "close"), makes=tuple(f"regime_{x}" for x in REGIME_LABELS),
    check=lambda p: None if p["range_threshold"] <= p["trend_threshold"]
    else "range_threshold must not exceed trend_threshold",
    help="Regime label one-hot: up (ADX >= trend and +DI > -DI), down (ADX >= trend and -DI >= +DI), "
         "range (ADX < range threshold), neutral otherwise (and during warm-up).")
def adx_regime(df: pl.DataFrame, window: int, trend_threshold: float, range_threshold: float) -> pl.DataFrame:
    a, p, m = pl.col("adx"), pl.col("plus_di"), pl.col("minus_di")
    trending = a >= trend_threshold
    is_up = (trending & (p > m)).fill_null(False)
    is_down = (trending & (p <= m)).fill_null(False)
    is_range = (a < range_threshold).fill_null(False)
    neutral = ~(is_up | is_down | is_range)
    return adx_frame(df, window).select([e.cast(pl.Float64).alias(f"regime_{n}") for e, n in
                                         zip((is_up, is_down, is_range, neutral), REGIME_LABELS)])


def _vreg_names(p: dict) -> list[str]:
    return ["vreg", *[f"vreg_{i}" for i in range(p["n_regimes"])]]


def fit_vol_centers(logvol: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """KMeans centers (sorted ascending) of 1-D log-volatility values."""
    from sklearn.cluster import KMeans

    x = logvol[np.isfinite(logvol)].reshape(-1, 1)
    if len(x) < k:
        raise ValueError("too few values")
    # deterministic start at the k quantile midpoints: one Lloyd run, no random restarts needed in 1-D
    init = np.quantile(x.ravel(), (np.arange(k) + 0.5) / k).reshape(-1, 1)
    km = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit(x)
    return np.sort(km.cluster_centers_.ravel())


@FEATURES.register(
    "vol_regime", category="regime",
    params=[Param("window", int, 24, low=2, high=5000), Param("n_regimes", int, 3, low=2, high=6),
            Param("fit_frac", float, 0.7, low=0.1, high=1.0, help="fraction fitted on when no split is given")],
    needs=("close",), makes=lambda p, r: _vreg_names(p), fitted=True,
    help="Volatility regime: KMeans on log rolling volatility fitted on the training period only "
         "(bars before the split's train end, else the first fit_frac of bars); vreg = 0 (calm) .. k-1, "
         "plus one-hot vreg_i.")
def vol_regime(df: pl.DataFrame, window: int, n_regimes: int, fit_frac: float, ctx) -> pl.DataFrame:
    names = _vreg_names({"n_regimes": n_regimes})
    vol = df.select(log_return(1).rolling_std(window).alias("v"), pl.col("ts")).with_columns(
        pl.when(pl.col("v") > 0).then(pl.col("v").log()).otherwise(None).alias("lv"))
    lv = vol["lv"].to_numpy().astype(float)
    if ctx.fit_end is not None:
        fit_mask = (vol["ts"] < ctx.fit_end).to_numpy()
    else:
        fit_mask = np.arange(len(lv)) < int(len(lv) * fit_frac)
    key = f"vol_regime_{window}_{n_regimes}"
    if key in ctx.fitted:  # a saved feature set's centers: identical labels on any history
        centers = np.asarray(ctx.fitted[key], dtype=float)
    else:
        try:
            centers = fit_vol_centers(lv[fit_mask], n_regimes)
            ctx.fitted[key] = centers.tolist()
        except ValueError:
            centers = None
    if centers is None:
        label = np.full(len(lv), np.nan)
    else:
        edges = (centers[1:] + centers[:-1]) / 2.0
        label = np.where(np.isfinite(lv), np.searchsorted(edges, np.nan_to_num(lv), side="right"), np.nan)
    out = {names[0]: label}
    for i in range(n_regimes):
        out[names[i + 1]] = np.where(np.isfinite(label), (label == i).astype(float), np.nan)
    return pl.DataFrame(out).fill_nan(None)
