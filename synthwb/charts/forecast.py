"""The forecast charts every page reuses: one fan chart, one interval chart, one
score-over-time chart (the engine builds the figures; pages only show them).

- :func:`fan_chart` draws price paths; :func:`quantile_fan` draws the backtest's stored
  quantile rows of one origin; :func:`fans_side_by_side` draws several models for one origin
  on a shared y-axis. All three draw the same bands (:func:`band_traces`): the outer band
  between the lowest and highest quantiles (P5-P95), the inner one (P25-P75), the median and
  the realised path.
- :func:`interval_chart`: mean score per scoring interval and model (grouped bars).
- :func:`score_over_time`: each model's score per origin, optionally as a ratio to a benchmark.
- :func:`relative_bars`: the leaderboard's change against the benchmark.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from synthwb.charts.colors import REALISED, color_map
from synthwb.core.errors import SpecError

__all__ = ["PALETTE", "band_traces", "fan_chart", "fans_side_by_side", "interval_chart", "path_quantiles",
           "quantile_fan", "quantile_frame", "relative_bars", "score_over_time"]

PALETTE = ("#2563eb", "#dc2626", "#059669", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#4b5563")  # no orange: realised
_ALPHAS = (0.15, 0.32, 0.45)
QUANTILES = (5, 25, 50, 75, 95)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, height: int, ytitle: str = "") -> go.Figure:
    # the legend hangs below the x axis (anchored by its top, so extra rows grow downwards and
    # never cover the bars, lines or the title); plotly widens the bottom margin to fit it
    fig.update_layout(title=dict(text=title, y=0.98, yanchor="top") if title else None, height=height,
                      margin=dict(l=40, r=10, t=60 if title else 30, b=30), yaxis_title=ytitle or None,
                      legend=dict(orientation="h", x=0, xanchor="left", y=-0.22, yanchor="top"),
                      hovermode="x unified")
    return fig


def path_quantiles(paths: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> dict[float, np.ndarray]:
    """Per-step percentiles of (n_paths, T) paths: {q: (T,) array}, NaN-aware."""
    arr = np.asarray(paths, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SpecError(f"paths must be a 2-D array (n_paths, H+1); got shape {arr.shape}")
    qs = np.nanpercentile(arr, list(quantiles), axis=0)
    return {float(q): qs[i] for i, q in enumerate(quantiles)}


def quantile_frame(paths: np.ndarray, times=None, realised=None, quantiles: Sequence[float] = QUANTILES) -> pl.DataFrame:
    """The quantile rows of a path set, as the backtest stores them: ``time``, ``p<q>`` per
    quantile and ``realised`` (with t0 taken from the paths when it has H points)."""
    q = sorted(float(v) for v in quantiles)
    if any(not 0 <= v <= 100 for v in q):
        raise SpecError(f"quantiles must lie in [0, 100]; got {list(quantiles)}")
    qv = path_quantiles(paths, q)
    arr = np.asarray(paths, dtype=float)
    T = arr.shape[1]
    # numpy datetimes stay an array (polars reads them as Datetime), python ones a list
    x = np.arange(T) if times is None else (times if isinstance(times, np.ndarray) else list(times))
    if isinstance(x, np.ndarray) and x.dtype.kind == "M":
        x = x.astype("datetime64[us]")
    if len(x) != T:
        raise SpecError(f"times has {len(x)} points but the paths have {T}")
    cols: dict = {"time": x, **{f"p{v:g}": qv[v] for v in q}}
    r = np.full(T, np.nan)
    if realised is not None:
        r = np.asarray(realised, dtype=float)
        if len(r) == T - 1:
            r = np.concatenate([[arr[0, 0]], r])
        if len(r) != T:
            raise SpecError(f"realised has {len(r)} points; expected {T} (with t0) or {T - 1}")
    cols["realised"] = r
    return pl.DataFrame(cols)


def _levels(q: pl.DataFrame) -> list[float]:
    return sorted(float(c[1:]) for c in q.columns if c.startswith("p") and c[1:].replace(".", "", 1).isdigit())


def band_traces(q: pl.DataFrame, color: str = PALETTE[0], legend: bool = True) -> list[go.Scatter]:
    """Bands between quantile pairs from the outside in, the median line (odd count) and the
    realised path, from quantile rows (``time``, ``p<q>``..., ``realised``)."""
    x = q["time"].to_list()
    levels = _levels(q)
    out = []
    for b in range(len(levels) // 2):
        lo, hi = levels[b], levels[-1 - b]
        label = f"P{lo:g}-P{hi:g}"
        out.append(go.Scatter(x=x, y=q[f"p{hi:g}"].to_list(), mode="lines", line=dict(width=0), hoverinfo="skip",
                              showlegend=False, legendgroup=label))
        out.append(go.Scatter(x=x, y=q[f"p{lo:g}"].to_list(), mode="lines", line=dict(width=0), fill="tonexty",
                              fillcolor=_rgba(color, _ALPHAS[min(b, len(_ALPHAS) - 1)]), name=label,
                              legendgroup=label, showlegend=legend))
    if len(levels) % 2 == 1:
        mid = levels[len(levels) // 2]
        name = "median" if mid == 50 else f"P{mid:g}"
        out.append(go.Scatter(x=x, y=q[f"p{mid:g}"].to_list(), mode="lines", line=dict(color=color, width=2),
                              name=name, legendgroup=name, showlegend=legend))
    if "realised" in q.columns and q["realised"].is_not_nan().any():
        out.append(go.Scatter(x=x, y=q["realised"].to_list(), mode="lines", line=dict(color=REALISED, width=2.5),
                              name="realised", legendgroup="realised", showlegend=legend, connectgaps=False))
    return out


def quantile_fan(q: pl.DataFrame, title: str = "", height: int = 380) -> go.Figure:
    """Fan chart from quantile rows (one origin and model of the backtest's quantile table)."""
    need = {"time", "p50"}
    if not need <= set(q.columns):
        raise SpecError(f"quantile table lacks {sorted(need - set(q.columns))}")
    fig = go.Figure(band_traces(q))
    return _layout(fig, title, height, "price")


def fan_chart(paths: np.ndarray, times=None, realised=None, title: str = "",
              quantiles: Sequence[float] = QUANTILES, n_sample_paths: int = 0, height: int = 380) -> go.Figure:
    """Fan chart of ``paths`` (n_paths, H+1), column 0 = t0; ``times`` the x values (default
    step index), ``realised`` (H+1,) or (H,) prices, ``n_sample_paths`` thin individual paths."""
    q = quantile_frame(paths, times, realised, quantiles)
    arr = np.asarray(paths, dtype=float)
    fig = go.Figure()
    for k in range(min(n_sample_paths, arr.shape[0])):
        fig.add_trace(go.Scatter(x=q["time"].to_list(), y=arr[k], mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(width=0.6, color="rgba(120,120,120,0.35)")))
    fig.add_traces(band_traces(q))
    return _layout(fig, title, height, "price")


def fans_side_by_side(quantiles: pl.DataFrame, models: Sequence[str], title: str = "",
                      scores: Mapping[str, float | None] | None = None, height: int = 420,
                      colors: Mapping[str, str] | None = None) -> go.Figure:
    """One fan chart per model for the same origin, on a shared y-axis, from the backtest's
    quantile rows of that origin (model, step, time, p5..p95, realised)."""
    colors = dict(colors or color_map(models))
    models = [m for m in models if m in set(quantiles["model"].to_list())]
    n = max(len(models), 1)

    def sub(m: str) -> str:
        v = (scores or {}).get(m)
        return f"{m}  ·  score {v:.1f}" if v is not None and np.isfinite(v) else (f"{m}  ·  invalid" if scores else m)

    fig = make_subplots(rows=1, cols=n, shared_yaxes=True, horizontal_spacing=0.02 if n > 3 else 0.04,
                        subplot_titles=[sub(m) for m in models] or None)
    for i, m in enumerate(models):
        q = quantiles.filter(pl.col("model") == m).sort("step")
        for tr in band_traces(q, colors.get(m) or PALETTE[i % len(PALETTE)], legend=(i == 0)):
            fig.add_trace(tr, row=1, col=i + 1)
    _layout(fig, title, height)
    fig.update_yaxes(title_text="price", row=1, col=1)
    for ann in fig.layout.annotations:
        ann.font.size = 12
    return fig


def interval_chart(intervals: pl.DataFrame, title: str = "", height: int = 380,
                   ytitle: str = "mean score per origin", colors: Mapping[str, str] | None = None) -> go.Figure:
    """Grouped bars: the mean score per interval (x) and model (colour), averaged over the rows
    of each (model, interval): per-origin rows (a backtest) or one row each (a comparison)."""
    agg = intervals.group_by(["model", "interval"], maintain_order=True).agg(pl.col("score").mean())
    order = list(dict.fromkeys(intervals["interval"].to_list()))
    names = list(dict.fromkeys(agg["model"].to_list()))
    colors = dict(colors or color_map(names))
    fig = go.Figure()
    for m in names:
        sub = agg.filter(pl.col("model") == m)
        vals = dict(zip(sub["interval"].to_list(), sub["score"].to_list()))
        fig.add_trace(go.Bar(x=order, y=[vals.get(iv) for iv in order], name=m,
                             marker_color=colors.get(m) or color_map([m])[m]))
    fig.update_layout(barmode="group", xaxis_title="interval")
    return _layout(fig, title, height, ytitle)


def score_over_time(per_origin: pl.DataFrame, models: Sequence[str] | None = None, relative_to: str | None = None,
                    title: str = "", height: int = 380, colors: Mapping[str, str] | None = None) -> go.Figure:
    """The Synth score of each origin, one line per model (invalid forecasts left out; lower is
    better); ``relative_to``: the ratio to that model's score at the same origin."""
    df = per_origin.filter(pl.col("valid")) if "valid" in per_origin.columns else per_origin
    models = list(models) if models is not None else list(dict.fromkeys(df["model"].to_list()))
    ytitle = "score (lower is better)"
    if relative_to is not None:
        base = df.filter(pl.col("model") == relative_to).select("origin", pl.col("total").alias("_b"))
        df = df.join(base, on="origin", how="inner").with_columns((pl.col("total") / pl.col("_b")).alias("total"))
        ytitle = f"score / {relative_to}"
    colors = dict(colors or color_map(models))
    fig = go.Figure()
    for m in models:
        sub = df.filter(pl.col("model") == m).sort("origin")
        fig.add_trace(go.Scatter(x=sub["origin"].to_list(), y=sub["total"].to_list(), mode="lines+markers",
                                 marker=dict(size=4), line=dict(color=colors.get(m) or color_map([m])[m], width=1.5),
                                 name=m))
    return _layout(fig, title, height, ytitle)


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
