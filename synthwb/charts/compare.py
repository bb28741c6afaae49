"""Plotly figures of a comparison (the engine builds them; the Compare page only shows them).

- :func:`fans_side_by_side`: one fan chart per model for the same origin, on a shared y-axis,
  drawn from the backtest's per-origin quantiles (so every scored origin can be shown).
- :func:`score_over_time`: each model's score per origin through the test period.
- :func:`interval_breakdown`: mean score per scoring interval and model (grouped bars).
- :func:`relative_bars`: the leaderboard's change against the benchmark.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots


__all__ = ["fans_side_by_side", "score_over_time", "interval_breakdown", "relative_bars", "PALETTE"]

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band_traces(q: pl.DataFrame, color: str, legend: bool) -> list[go.Scatter]:
    """P5-P95 and P25-P75 bands, the median and the realised path from one model's quantile rows."""
    x = q["time"].to_list()
    out = []
    for lo, hi, alpha in (("p5", "p95", 0.15), ("p25", "p75", 0.32)):
        label = f"P{lo[1:]}-P{hi[1:]}"
        out.append(go.Scatter(x=x, y=q[hi].to_list(), mode="lines", line=dict(width=0), hoverinfo="skip",
                              showlegend=False, legendgroup=label))
        out.append(go.Scatter(x=x, y=q[lo].to_list(), mode="lines", line=dict(width=0), fill="tonexty",
                              fillcolor=_rgba(color, alpha), name=label, legendgroup=label, showlegend=legend))
    out.append(go.Scatter(x=x, y=q["p50"].to_list(), mode="lines", line=dict(color=color, width=2),
                          name="median", legendgroup="median", showlegend=legend))
    out.append(go.Scatter(x=x, y=q["realised"].to_list(), mode="lines", line=dict(color="#9ca3af", width=2.5),
                          name="realised", legendgroup="realised", showlegend=legend, connectgaps=False))
    return out


def fans_side_by_side(quantiles: pl.DataFrame, models: Sequence[str], title: str = "",
                      scores: Mapping[str, float | None] | None = None, height: int = 420) -> go.Figure:
    """One fan chart per model for the same origin, on a shared y-axis.

    ``quantiles``: the backtest's quantile rows of that origin (model, step, time, p5, p25,
    p50, p75, p95, realised): every scored origin has them, so any origin can be drawn."""
    models = [m for m in models if m in set(quantiles["model"].to_list())]
    n = max(len(models), 1)

    def sub(m: str) -> str:
        v = (scores or {}).get(m)
        return f"{m}  ·  score {v:.1f}" if v is not None and np.isfinite(v) else (f"{m}  ·  invalid" if scores else m)

    fig = make_subplots(rows=1, cols=n, shared_yaxes=True, horizontal_spacing=0.02 if n > 3 else 0.04,
                        subplot_titles=[sub(m) for m in models] or None)
    for i, m in enumerate(models):
        q = quantiles.filter(pl.col("model") == m).sort("step")
        for tr in _band_traces(q, PALETTE[i % len(PALETTE)], legend=(i == 0)):
            fig.add_trace(tr, row=1, col=i + 1)
    fig.update_layout(title=title or None, height=height, margin=dict(l=40, r=10, t=70 if title else 40, b=30),
                      legend=dict(orientation="h", y=-0.15), hovermode="x unified")
    fig.update_yaxes(title_text="price", row=1, col=1)
    for ann in fig.layout.annotations:
        ann.font.size = 12
    return fig


def score_over_time(per_origin: pl.DataFrame, models: Sequence[str] | None = None, relative_to: str | None = None,
                    height: int = 360) -> go.Figure:
    """Score per origin for each model (lower is better); ``relative_to``: ratio to that model."""
    df = per_origin
    if "valid" in df.columns:
        df = df.filter(pl.col("valid"))
    models = list(models) if models is not None else list(dict.fromkeys(df["model"].to_list()))
    ytitle = "score"
    if relative_to is not None:
        base = df.filter(pl.col("model") == relative_to).select("origin", pl.col("total").alias("_b"))
        df = df.join(base, on="origin", how="inner").with_columns((pl.col("total") / pl.col("_b")).alias("total"))
        ytitle = f"score / {relative_to}"
    fig = go.Figure()
    for i, m in enumerate(models):
        sub = df.filter(pl.col("model") == m).sort("origin")
        fig.add_trace(go.Scatter(x=sub["origin"].to_list(), y=sub["total"].to_list(), mode="lines+markers",
                                 marker=dict(size=4), line=dict(color=PALETTE[i % len(PALETTE)], width=1.5), name=m))
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=30, b=30), yaxis_title=ytitle,
                      legend=dict(orientation="h", y=-0.15), hovermode="x unified")
    return fig


def interval_breakdown(per_interval: pl.DataFrame, height: int = 360) -> go.Figure:
    """Grouped bars: mean score per interval (x) and model (colour). Columns model, interval, score."""
    fig = go.Figure()
    models = list(dict.fromkeys(per_interval["model"].to_list()))
    intervals = list(dict.fromkeys(per_interval["interval"].to_list()))
    for i, m in enumerate(models):
        sub = per_interval.filter(pl.col("model") == m)
        vals = dict(zip(sub["interval"].to_list(), sub["score"].to_list()))
        fig.add_trace(go.Bar(x=intervals, y=[vals.get(iv) for iv in intervals], name=m,
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group", height=height, margin=dict(l=40, r=10, t=30, b=30),
                      yaxis_title="mean score per origin", legend=dict(orientation="h", y=-0.2))
    return fig


def relative_bars(board: pl.DataFrame, height: int = 300) -> go.Figure:
    """Horizontal bars of ``pct_vs_benchmark`` per model (negative = better than the benchmark)."""
    b = board.sort("pct_vs_benchmark", descending=True)
    vals = b["pct_vs_benchmark"].to_list()
    colors = ["#059669" if (v is not None and v < 0) else "#dc2626" for v in vals]
    fig = go.Figure(go.Bar(x=vals, y=b["model"].to_list(), orientation="h", marker_color=colors,
                           text=[f"{v:+.1f}%" if v is not None else "" for v in vals], textposition="auto"))
    bench = board["benchmark"][0] if "benchmark" in board.columns and board.height else "benchmark"
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=30), xaxis_title=f"% vs {bench} (lower is better)")
    return fig
