"""Technical indicators as polars expressions (vectorised, past-only).

Conventions (pinned by tests against hand-computed values):

- EMA: alpha = 2/(n+1), seeded with the simple average of the first n values (TA-Lib style),
  so the first value appears at the n-th bar.
- Wilder smoothing (RSI, ATR, ADX): alpha = 1/n, seeded with the simple average of the first
  n values: ``s_n = mean(x_1..x_n)``, ``s_t = s_{t-1} + (x_t - s_{t-1}) / n``.
- True range needs the previous close, so it (and ATR) starts at the second bar.
- Bollinger bands use the population standard deviation (ddof=0), as Bollinger defines them.
- Every ratio is guarded: a zero denominator gives the neutral value named in the docstring,
  never inf or NaN.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from synthwb.core.registry import Param
from synthwb.features.expr import ema, log_return, safe_div, series, true_range, wilder
from synthwb.features.registry import FEATURES

SOURCES = ("close", "open", "high", "low", "typical", "volume")


# ----------------------------------------------------------------------------- helpers

def _src_name(prefix: str, p: dict, key: str = "window") -> str:
    src = p.get("source", "close")
    return f"{prefix}_{p[key]}" if src == "close" else f"{prefix}_{src}_{p[key]}"


WINDOW = Param("window", int, 20, low=2, high=2000, help="bars in the window")
SOURCE = Param("source", str, "close", choices=SOURCES, help="input series")


# ----------------------------------------------------------------------------- returns

@FEATURES.register("return", category="returns", params=[Param("periods", int, 1, low=1, high=1000)],
                   needs=("close",), makes=lambda p, r: [f"ret_{p['periods']}"],
                   help="Simple return over `periods` bars: C_t / C_{t-k} - 1.")
def simple_return(df: pl.DataFrame, periods: int) -> list[pl.Expr]:
    prev = pl.col("close").shift(periods)
    return [safe_div(pl.col("close") - prev, prev).alias(f"ret_{periods}")]


@FEATURES.register("log_return", category="returns", params=[Param("periods", int, 1, low=1, high=1000)],
                   needs=("close",), makes=lambda p, r: [f"logret_{p['periods']}"],
                   help="Log return over `periods` bars: ln(C_t / C_{t-k}).")
def log_return_feature(df: pl.DataFrame, periods: int) -> list[pl.Expr]:
    return [log_return(periods).alias(f"logret_{periods}")]


# ----------------------------------------------------------------------------- trend

@FEATURES.register("sma", category="trend", params=[WINDOW, SOURCE], needs=("close",), overlay=True,
                   makes=lambda p, r: [_src_name("sma", p)], help="Simple moving average.")
def sma(df: pl.DataFrame, window: int, source: str = "close") -> list[pl.Expr]:
    return [series(source).rolling_mean(window).alias(_src_name("sma", {"window": window, "source": source}))]


@FEATURES.register("ema", category="trend", params=[WINDOW, SOURCE], needs=("close",), overlay=True,
                   makes=lambda p, r: [_src_name("ema", p)],
                   help="Exponential moving average, alpha = 2/(n+1), seeded with the first n-bar SMA.")
def ema_feature(df: pl.DataFrame, window: int, source: str = "close") -> list[pl.Expr]:
    return [ema(series(source), window).alias(_src_name("ema", {"window": window, "source": source}))]


@FEATURES.register("wma", category="trend", params=[WINDOW, SOURCE], needs=("close",), overlay=True,
                   makes=lambda p, r: [_src_name("wma", p)],
                   help="Linearly weighted moving average (weights 1..n, newest heaviest).")
def wma(df: pl.DataFrame, window: int, source: str = "close") -> list[pl.Expr]:
    w = np.arange(1, window + 1, dtype=float)
    expr = series(source).rolling_sum(window, weights=list(w)) / float(w.sum())
    return [expr.alias(_src_name("wma", {"window": window, "source": source}))]


def _macd_names(p: dict) -> list[str]:
    tag = f"{p['fast']}_{p['slow']}_{p['signal']}"
    return [f"macd_{tag}", f"macd_signal_{tag}", f"macd_hist_{tag}"]


@FEATURES.register(
    "macd", category="momentum",
    params=[Param("fast", int, 12, low=2, high=500), Param("slow", int, 26, low=3, high=1000),
            Param("signal", int, 9, low=2, high=500)],
    needs=("close",), makes=lambda p, r: _macd_names(p),
    check=lambda p: None if p["fast"] < p["slow"] else f"fast ({p['fast']}) must be shorter than slow ({p['slow']})",
    help="MACD line (EMA fast - EMA slow), signal line (EMA of the line) and histogram.")
def macd(df: pl.DataFrame, fast: int, slow: int, signal: int) -> list[pl.Expr]:
    line_name, sig_name, hist_name = _macd_names({"fast": fast, "slow": slow, "signal": signal})
    line = ema(pl.col("close"), fast) - ema(pl.col("close"), slow)
    sig = ema(line, signal)
    return [line.alias(line_name), sig.alias(sig_name), (line - sig).alias(hist_name)]


def _psar_names(p: dict) -> list[str]:
    tag = f"{p['step']:g}_{p['max_step']:g}"
    return [f"psar_{tag}", f"psar_trend_{tag}"]


def parabolic_sar(high: np.ndarray, low: np.ndarray, step: float, max_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilder's Parabolic SAR. Starts long at bar 0 (SAR = low_0, EP = high_0); the first SAR is
    reported at bar 1. Returns (sar, trend) with trend +1 (long) / -1 (short); bar 0 is NaN."""
    n = len(high)
    sar_out = np.full(n, np.nan)
    trend_out = np.full(n, np.nan)
    if n < 2:
        return sar_out, trend_out
    up, af, ep, sar = True, step, high[0], low[0]
    for i in range(1, n):
        sar = sar + af * (ep - sar)
        if up:
            sar = min(sar, low[i - 1], low[i - 2]) if i >= 2 else min(sar, low[i - 1])
            if low[i] < sar:
                up, sar, ep, af = False, ep, low[i], step
            elif high[i] > ep:
                ep, af = high[i], min(af + step, max_step)
        else:
            sar = max(sar, high[i - 1], high[i - 2]) if i >= 2 else max(sar, high[i - 1])
            if high[i] > sar:
                up, sar, ep, af = True, ep, high[i], step
            elif low[i] < ep:
                ep, af = low[i], min(af + step, max_step)
        sar_out[i] = sar
        trend_out[i] = 1.0 if up else -1.0
    return sar_out, trend_out


@FEATURES.register(
    "psar", category="trend",
    params=[Param("step", float, 0.02, low=0.001, high=0.5, step=0.005),
            Param("max_step", float, 0.2, low=0.01, high=1.0, step=0.01)],
    needs=("high", "low"), makes=lambda p, r: _psar_names(p), overlay=lambda p: _psar_names(p)[:1],
    check=lambda p: None if p["step"] <= p["max_step"] else "step must not exceed max_step",
    help="Parabolic SAR (Wilder) and its trend (+1 long, -1 short).")
def psar(df: pl.DataFrame, step: float, max_step: float) -> pl.DataFrame:
    names = _psar_names({"step": step, "max_step": max_step})
    sar, trend = parabolic_sar(df["high"].to_numpy().astype(float), df["low"].to_numpy().astype(float),
                               step, max_step)
    return pl.DataFrame({names[0]: sar, names[1]: trend}).fill_nan(None)


# ----------------------------------------------------------------------------- momentum

@FEATURES.register("rsi", category="momentum", params=[Param("window", int, 14, low=2, high=500)],
                   needs=("close",), makes=lambda p, r: [f"rsi_{p['window']}"],
                   help="Relative strength index with Wilder smoothing (0..100; 50 when flat, "
                        "100 when there were no losses).")
def rsi(df: pl.DataFrame, window: int) -> list[pl.Expr]:
    d = pl.col("close").diff()
    avg_gain = wilder(d.clip(lower_bound=0.0), window)
    avg_loss = wilder((-d).clip(lower_bound=0.0), window)
    out = (pl.when(avg_loss > 0).then(100.0 - 100.0 / (1.0 + avg_gain / avg_loss))
           .when(avg_gain > 0).then(100.0).when(avg_gain.is_null()).then(None).otherwise(50.0))
    return [out.alias(f"rsi_{window}")]


@FEATURES.register(
    "stochastic", category="momentum",
    params=[Param("k", int, 14, low=2, high=500, help="lookback of %K"),
            Param("d", int, 3, low=1, high=100, help="SMA length of %D")],
    needs=("high", "low", "close"), makes=lambda p, r: [f"stoch_k_{p['k']}", f"stoch_d_{p['k']}_{p['d']}"],
    help="Stochastic oscillator: %K = 100 (C - LL) / (HH - LL) (50 when HH = LL), %D = SMA of %K.")
def stochastic(df: pl.DataFrame, k: int, d: int) -> list[pl.Expr]:
    ll = pl.col("low").rolling_min(k)
    hh = pl.col("high").rolling_max(k)
    pk = 100.0 * safe_div(pl.col("close") - ll, hh - ll, fill=0.5)
    return [pk.alias(f"stoch_k_{k}"), pk.rolling_mean(d).alias(f"stoch_d_{k}_{d}")]


@FEATURES.register(
    "cci", category="momentum",
    params=[Param("window", int, 20, low=2, high=500), Param("constant", float, 0.015, low=0.001, high=1.0)],
    needs=("high", "low", "close"), makes=lambda p, r: [f"cci_{p['window']}"],
    help="Commodity channel index: (TP - SMA(TP)) / (c * mean absolute deviation of TP); 0 when flat.")
def cci(df: pl.DataFrame, window: int, constant: float) -> pl.DataFrame:
    tp = df.select(series("typical")).to_series().to_numpy().astype(float)
    out = np.full(len(tp), np.nan)
    if len(tp) >= window:
        win = np.lib.stride_tricks.sliding_window_view(tp, window)  # (N - w + 1, w), a view
        m = win.mean(axis=1)
        mad = np.abs(win - m[:, None]).mean(axis=1)
        dev = tp[window - 1:] - m
        den = constant * mad
        out[window - 1:] = np.divide(dev, den, out=np.zeros_like(dev), where=den > 0)
    return pl.DataFrame({f"cci_{window}": out}).fill_nan(None)


# ----------------------------------------------------------------------------- volatility

def _bb_names(p: dict) -> list[str]:
    w, k = p["window"], f"{p['k']:g}"
    return [f"bb_mid_{w}", f"bb_upper_{w}_{k}", f"bb_lower_{w}_{k}", f"bb_width_{w}_{k}", f"bb_pctb_{w}_{k}"]


@FEATURES.register(
    "bollinger", category="volatility",
    params=[WINDOW, Param("k", float, 2.0, low=0.1, high=10.0, step=0.1, help="band width in std devs")],
    needs=("close",), makes=lambda p, r: _bb_names(p), overlay=lambda p: _bb_names(p)[:3],
    help="Bollinger bands (SMA +/- k population std), width (upper-lower)/mid and %b "
         "(C-lower)/(upper-lower) (0.5 when the bands touch).")
def bollinger(df: pl.DataFrame, window: int, k: float) -> list[pl.Expr]:
    names = _bb_names({"window": window, "k": k})
    mid = pl.col("close").rolling_mean(window)
    sd = pl.col("close").rolling_std(window, ddof=0)
    upper, lower = mid + k * sd, mid - k * sd
    return [mid.alias(names[0]), upper.alias(names[1]), lower.alias(names[2]),
            safe_div(upper - lower, mid).alias(names[3]),
            safe_div(pl.col("close") - lower, upper - lower, fill=0.5).alias(names[4])]


@FEATURES.register("atr", category="volatility", params=[Param("window", int, 14, low=2, high=500)],
                   needs=("high", "low", "close"), makes=lambda p, r: [f"atr_{p['window']}"],
                   help="Average true range with Wilder smoothing (first value at bar n+1).")
def atr(df: pl.DataFrame, window: int) -> list[pl.Expr]:
    return [wilder(true_range(), window).alias(f"atr_{window}")]


@FEATURES.register("rolling_std", category="volatility", params=[WINDOW],
                   needs=("close",), makes=lambda p, r: [f"std_{p['window']}"],
                   help="Rolling standard deviation (ddof=1) of 1-bar log returns.")
def rolling_std(df: pl.DataFrame, window: int) -> list[pl.Expr]:
    return [log_return(1).rolling_std(window).alias(f"std_{window}")]


# ----------------------------------------------------------------------------- volume

@FEATURES.register("obv", category="volume", params=[], needs=("close", "volume"), makes=("obv",),
                   help="On-balance volume: cumulative sum of sign(close change) x volume (0 at the first bar).")
def obv(df: pl.DataFrame) -> list[pl.Expr]:
    return [(pl.col("close").diff().sign() * pl.col("volume")).fill_null(0.0).cum_sum().alias("obv")]


@FEATURES.register("volume_roc", category="volume", params=[Param("periods", int, 14, low=1, high=1000)],
                   needs=("volume",), makes=lambda p, r: [f"vroc_{p['periods']}"],
                   help="Volume rate of change in percent: 100 (V_t - V_{t-k}) / V_{t-k} (0 when V_{t-k} = 0).")
def volume_roc(df: pl.DataFrame, periods: int) -> list[pl.Expr]:
    prev = pl.col("volume").shift(periods)
    return [(100.0 * safe_div(pl.col("volume") - prev, prev)).alias(f"vroc_{periods}")]


def clv() -> pl.Expr:
    """Close location value ((C-L) - (H-C)) / (H-L) in [-1, 1]; 0 for a bar with no range."""
    h, lo, c = pl.col("high"), pl.col("low"), pl.col("close")
    return safe_div((c - lo) - (h - c), h - lo)


@FEATURES.register("ad_line", category="volume", params=[], needs=("high", "low", "close", "volume"),
                   makes=("ad_line",), help="Accumulation/distribution line: cumulative CLV x volume.")
def ad_line(df: pl.DataFrame) -> list[pl.Expr]:
    return [(clv() * pl.col("volume")).cum_sum().alias("ad_line")]
