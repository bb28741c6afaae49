"""Summary statistics of a bar frame: returns, realised volatility, tails, drawdown."""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from synthwb.data.schema import FREQ_SECONDS, is_24_7

# bars per year: crypto trades 365.25 days of 24 h; session assets 252 days of 6.5 h
_SESSION_SECONDS_PER_YEAR = 252 * 6.5 * 3600
_CRYPTO_SECONDS_PER_YEAR = 365.25 * 86400


def infer_freq(df: pl.DataFrame) -> str | None:
    """The lake frequency matching the most common bar spacing (None if it matches none)."""
    if df.height < 2:
        return None
    mode = df.select(pl.col("ts").diff().dt.total_seconds().drop_nulls().mode().min()).item()
    for f, s in FREQ_SECONDS.items():
        if s == mode:
            return f
    return None


def bars_per_year(freq: str, asset_class: str = "crypto") -> float:
    sec = FREQ_SECONDS[freq]
    if is_24_7(asset_class):
        return _CRYPTO_SECONDS_PER_YEAR / sec
    if sec >= 86400:
        return 252.0
    return _SESSION_SECONDS_PER_YEAR / sec


def bars_per_day(freq: str, asset_class: str = "crypto") -> float:
    """Bars in one trading day: 24 h for crypto, the 6.5 h session otherwise (1 for 1d)."""
    sec = FREQ_SECONDS[freq]
    if sec >= 86400:
        return 1.0
    return (86400 if is_24_7(asset_class) else 6.5 * 3600) / sec


def summary(df: pl.DataFrame, freq: str | None = None, asset_class: str = "crypto") -> dict:
    """Statistics of the close-to-close log returns of ``df`` (sorted bars).

    Keys: rows, start, end, first_close, last_close, total_return, log_return_mean,
    log_return_std, realized_vol_annual (std * sqrt(bars per year of the timeframe and asset
    class)), skew, excess_kurtosis, min_return, max_return, max_drawdown, mean_volume,
    total_volume, mean_range_bp (mean (high-low)/close in basis points), freq, bars_per_year.
    """
    n = df.height
    out: dict = {"rows": n, "freq": None}
    if n == 0:
        return out
    freq = freq or infer_freq(df)
    close = df["close"].to_numpy().astype(float)
    r = np.diff(np.log(close)) if n > 1 else np.array([])
    r = r[np.isfinite(r)]
    bpy = bars_per_year(freq, asset_class) if freq else float("nan")
    peak = np.maximum.accumulate(close)
    out.update({
        "freq": freq,
        "start": df["ts"].min(),
        "end": df["ts"].max(),
        "first_close": float(close[0]),
        "last_close": float(close[-1]),
        "total_return": float(close[-1] / close[0] - 1.0),
        "bars_per_year": bpy,
        "max_drawdown": float(np.min(close / peak - 1.0)),
        "mean_volume": float(df["volume"].mean()) if "volume" in df.columns else None,
        "total_volume": float(df["volume"].sum()) if "volume" in df.columns else None,
        "mean_range_bp": float(((df["high"] - df["low"]) / df["close"]).mean() * 1e4),
    })
    if r.size >= 2:
        mu, sd = float(r.mean()), float(r.std(ddof=1))
        z = (r - mu) / sd if sd > 0 else np.zeros_like(r)
        out.update({
            "log_return_mean": mu,
            "log_return_std": sd,
            "realized_vol_annual": sd * math.sqrt(bpy) if freq else None,
            "skew": float(np.mean(z ** 3)),
            "excess_kurtosis": float(np.mean(z ** 4) - 3.0),
            "min_return": float(np.expm1(r.min())),
            "max_return": float(np.expm1(r.max())),
        })
    return out


def rolling_realized_vol(df: pl.DataFrame, window: int, freq: str, asset_class: str = "crypto") -> pl.DataFrame:
    """Annualised realised volatility of log returns over a trailing window of bars (uses
    only bars at or before each timestamp)."""
    bpy = bars_per_year(freq, asset_class)
    return df.select(
        "ts",
        (pl.col("close").log().diff().rolling_std(window_size=window) * math.sqrt(bpy)).alias("realized_vol"),
    )
