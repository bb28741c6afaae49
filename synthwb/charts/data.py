"""Plotly figures for market data (no streamlit here, so tests can build them).

Candlestick charts never carry more than ``max_candles`` candles: a longer frame is
resampled to the finest lake timeframe that fits (the caller says so in a caption).
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from synthwb.data.calendar import nyse_holidays
from synthwb.data.resample import resample
from synthwb.data.schema import FREQ_SECONDS, FREQS, SESSION_TZ, is_24_7
from synthwb.data.stats import bars_per_day, rolling_realized_vol

MAX_CANDLES = 1_500  # a page that answers in well under a second (bench/bench_pages.py)
UP, DOWN = "#26a69a", "#ef5350"


def display_bars(df: pl.DataFrame, freq: str, asset_class: str = "crypto",
                 max_candles: int = MAX_CANDLES) -> tuple[pl.DataFrame, str, bool]:
    """(frame to draw, its timeframe, whether it was aggregated) with at most ``max_candles``
    rows: resample to the finest coarser timeframe that fits, else keep the last rows of 1d."""
    if df.height <= max_candles:
        return df, freq, False
    for f in FREQS:
        if FREQ_SECONDS[f] <= FREQ_SECONDS[freq]:
            continue
        agg = resample(df, f, asset_class)
        if agg.height <= max_candles:
            return agg, f, True
    agg = resample(df, "1d", asset_class) if freq != "1d" else df
    return agg.tail(max_candles), "1d", True


def candles_figure(df: pl.DataFrame, title: str = "", asset_class: str = "crypto",
                   missing: pl.DataFrame | None = None) -> go.Figure:
    """Candlestick (top) + volume bars (bottom) of an already display-sized frame.

    For session assets the x axis hides nights and weekends (rangebreaks) so the chart has
    no empty stretches. ``missing`` (a frame with ``ts``) marks gap starts on the price axis.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.75, 0.25])
    tz = "UTC" if is_24_7(asset_class) else SESSION_TZ
    x = df["ts"].dt.convert_time_zone(tz).dt.replace_time_zone(None).to_list() if df.height else []
    fig.add_trace(
        go.Candlestick(x=x, open=df["open"].to_list(), high=df["high"].to_list(), low=df["low"].to_list(),
                       close=df["close"].to_list(), name="price",
                       increasing_line_color=UP, decreasing_line_color=DOWN, showlegend=False),
        row=1, col=1,
    )
    colors = np.where(df["close"].to_numpy() >= df["open"].to_numpy(), UP, DOWN).tolist() if df.height else []
    fig.add_trace(go.Bar(x=x, y=df["volume"].to_list(), marker_color=colors, name="volume", showlegend=False),
                  row=2, col=1)
    if missing is not None and missing.height:
        mx = missing["ts"].dt.convert_time_zone(tz).dt.replace_time_zone(None).to_list()
        ylo = float(df["low"].min()) if df.height else 0.0
        fig.add_trace(go.Scatter(x=mx, y=[ylo] * len(mx), mode="markers", name="gap",
                                 marker=dict(symbol="triangle-up", color="#ff9800", size=8)), row=1, col=1)
    fig.update_layout(  # the title on top of the figure, the legend under it, above the plot (never over it)
        title=dict(text=title, y=0.99, yref="container", yanchor="top") if title else None, height=560,
        margin=dict(l=10, r=10, t=80 if title else 10, b=10),
        xaxis_rangeslider_visible=False, hovermode="x unified", bargap=0,
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="volume", row=2, col=1)
    fig.update_xaxes(title_text=f"time ({tz})", row=2, col=1)
    if asset_class == "fx":
        fig.update_xaxes(rangebreaks=[dict(bounds=["sat", "sun"])])
    elif not is_24_7(asset_class):
        breaks = [dict(bounds=["sat", "mon"]), dict(bounds=[16, 9.5], pattern="hour")]
        if df.height:
            years = range(df["ts"].min().year, df["ts"].max().year + 1)
            # only the session hours of a holiday (overlapping breaks confuse plotly)
            hol = sorted(f"{d.isoformat()} 09:30" for y in years for d in nyse_holidays(y) if d.weekday() < 5)
            breaks.append(dict(values=hol, dvalue=6.5 * 3600 * 1000))
        fig.update_xaxes(rangebreaks=breaks)
    return fig


def coverage_figure(coverage: list[dict]) -> go.Figure:
    """Calendar heatmap of the share of expected bars present per trading day (weeks x weekdays)."""
    if not coverage:
        return go.Figure()
    cov = pl.DataFrame(coverage)
    first: date = cov["date"].min()
    monday = first - timedelta(days=first.weekday())
    cov = cov.with_columns(
        ((pl.col("date") - pl.lit(monday)).dt.total_days() // 7).alias("week"),
        pl.col("date").dt.weekday().alias("dow"),  # 1 = Monday
    )
    n_weeks = int(cov["week"].max()) + 1
    z = np.full((7, n_weeks), np.nan)
    text = np.full((7, n_weeks), "", dtype=object)
    for row in cov.iter_rows(named=True):
        z[row["dow"] - 1, row["week"]] = row["share"]
        text[row["dow"] - 1, row["week"]] = f"{row['date']}: {row['present']}/{row['expected']} bars ({row['share']:.1%})"
    weeks = [(monday + timedelta(weeks=i)).isoformat() for i in range(n_weeks)]
    fig = go.Figure(go.Heatmap(
        z=z, x=weeks, y=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], text=text,
        hovertemplate="%{text}<extra></extra>", zmin=0, zmax=1, xgap=2, ygap=2,
        colorscale=[[0, "#d73027"], [0.9, "#fee08b"], [1, "#1a9850"]], colorbar=dict(title="present"),
    ))
    fig.update_layout(height=230, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(autorange="reversed"),
                      # weeks as categories: a date axis autoscales one lone week to sub-second ticks
                      xaxis=dict(title="week starting", type="category"))
    return fig


def returns_histogram(df: pl.DataFrame, bins: int = 120) -> go.Figure:
    """Histogram of close-to-close log returns (bp) with a normal of the same mean/std."""
    r = np.diff(np.log(df["close"].to_numpy())) * 1e4 if df.height > 2 else np.array([])
    r = r[np.isfinite(r)]
    fig = go.Figure()
    if r.size < 3:
        return fig
    lo, hi = np.percentile(r, [0.1, 99.9])
    counts, edges = np.histogram(r, bins=bins, range=(lo, hi), density=True)
    mid = (edges[:-1] + edges[1:]) / 2
    fig.add_trace(go.Bar(x=mid, y=counts, name="returns", marker_color="#5c6bc0"))
    mu, sd = r.mean(), r.std()
    if sd > 0:
        pdf = np.exp(-0.5 * ((mid - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        fig.add_trace(go.Scatter(x=mid, y=pdf, name="normal", line=dict(color="#ff7043")))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), bargap=0,
                      xaxis_title="log return (bp)", yaxis_title="density",
                      legend=dict(orientation="h", y=1.05, x=0))
    return fig


def realized_vol_figure(df: pl.DataFrame, freq: str, asset_class: str = "crypto", max_points: int = 2000) -> go.Figure:
    """Trailing one-day realised volatility (annualised, %) over time, at most ``max_points``
    points drawn (evenly thinned); needs ~2 days of bars."""
    window = max(2, int(round(bars_per_day(freq, asset_class))))
    fig = go.Figure()
    if df.height <= window + 1:
        return fig
    rv = rolling_realized_vol(df, window, freq, asset_class).drop_nulls()
    if rv.height > max_points:  # a trailing-day average is smooth: thinning it changes nothing visible
        rv = rv.gather_every(-(-rv.height // max_points))
    tz = "UTC" if is_24_7(asset_class) else SESSION_TZ
    fig.add_trace(go.Scatter(x=rv["ts"].dt.convert_time_zone(tz).dt.replace_time_zone(None).to_list(),
                             y=(rv["realized_vol"] * 100).to_list(), mode="lines", name="realised vol",
                             line=dict(color="#ffa726", width=1.5)))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="annualised vol (%)",
                      xaxis_title=f"trailing {window} bars ({tz})")
    return fig
