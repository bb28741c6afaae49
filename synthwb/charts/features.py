"""Plotly figures for the Feature Lab (no streamlit here, so tests can build them)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from synthwb.data.schema import SESSION_TZ, is_24_7
from synthwb.features.registry import FEATURES, FeatureSpec, makes_of, overlay_columns
from synthwb.features.selection import SelectionReport, correlation_matrix

UP, DOWN = "#26a69a", "#ef5350"
REGIME_COLORS = {"regime_up": "rgba(38,166,154,0.13)", "regime_down": "rgba(239,83,80,0.13)",
                 "regime_range": "rgba(120,144,156,0.13)"}
MAX_POINTS = 1500
_PALETTE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


def oscillator_groups(spec: FeatureSpec) -> dict[str, list[str]]:
    """Feature label -> its columns that are drawn in a sub-panel (not on the price axis,
    not calendar or one-hot regime columns)."""
    overlay = set(overlay_columns(spec))
    out: dict[str, list[str]] = {}
    for it in spec.features:
        entry = FEATURES.get(it.name)
        if entry.category == "calendar" or it.name == "adx_regime":
            continue
        cols = [c for c in makes_of(entry, it.params, spec.references) if c not in overlay
                and not (it.name == "vol_regime" and c != "vreg")]
        if cols:
            params = ", ".join(f"{k}={v}" for k, v in it.params.items())
            out[f"{it.name}({params})" if params else it.name] = cols
    return out


def _x(df: pl.DataFrame, asset_class: str) -> list:
    tz = "UTC" if is_24_7(asset_class) else SESSION_TZ
    return df["ts"].dt.convert_time_zone(tz).dt.replace_time_zone(None).to_list() if df.height else []


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of contiguous True runs."""
    if not mask.any():
        return []
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def price_figure(frame: pl.DataFrame, spec: FeatureSpec, asset_class: str = "crypto",
                 panels: list[str] | None = None, shade_regimes: bool = True, title: str = "",
                 max_points: int = MAX_POINTS) -> go.Figure:
    """Candlesticks with price overlays (moving averages, bands, SAR), regime shading from
    the ``regime_*`` columns, and one sub-panel per oscillator group in ``panels``."""
    df = frame.tail(max_points)
    groups = oscillator_groups(spec)
    panels = [p for p in (panels or []) if p in groups]
    n = 1 + len(panels)
    heights = [0.6] + [0.4 / len(panels)] * len(panels) if panels else [1.0]
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=heights,
                        subplot_titles=["", *panels] if panels else None)
    x = _x(df, asset_class)
    fig.add_trace(go.Candlestick(x=x, open=df["open"].to_list(), high=df["high"].to_list(), low=df["low"].to_list(),
                                 close=df["close"].to_list(), name="price", increasing_line_color=UP,
                                 decreasing_line_color=DOWN, showlegend=False), row=1, col=1)
    for i, c in enumerate(c for c in overlay_columns(spec) if c in df.columns):
        dash = "dot" if c.startswith("psar") else None
        mode = "markers" if c.startswith("psar") else "lines"
        fig.add_trace(go.Scatter(x=x, y=df[c].to_list(), name=c, mode=mode, marker=dict(size=3),
                                 line=dict(width=1.2, color=_PALETTE[i % len(_PALETTE)], dash=dash)), row=1, col=1)
    if shade_regimes and df.height:
        # the price panel's full height over each regime run; set at once (add_vrect per run
        # re-validates every shape already there: seconds for a few dozen runs)
        shapes = []
        for col, color in REGIME_COLORS.items():
            if col not in df.columns:
                continue
            mask = df[col].fill_null(0).to_numpy() > 0.5
            shapes += [dict(type="rect", xref="x", yref="y domain", x0=x[a], x1=x[min(b + 1, len(x) - 1)], y0=0, y1=1,
                            fillcolor=color, line_width=0, layer="below") for a, b in _runs(mask)]
        fig.update_layout(shapes=shapes)
    for r, label in enumerate(panels, start=2):
        for j, c in enumerate(groups[label]):
            if c not in df.columns:
                continue
            if "_hist_" in c or c in ("ms_signed_volume",):  # histograms read better as bars
                vals = df[c].fill_null(0.0).to_numpy()
                fig.add_trace(go.Bar(x=x, y=vals.tolist(), name=c, marker_color=np.where(vals >= 0, UP, DOWN).tolist(),
                                     opacity=0.6), row=r, col=1)
            else:
                fig.add_trace(go.Scatter(x=x, y=df[c].to_list(), name=c, mode="lines",
                                         line=dict(width=1.1, color=_PALETTE[j % len(_PALETTE)])), row=r, col=1)
    fig.update_layout(title=dict(text=title, y=0.99, yref="container", yanchor="top") if title else None,
                      height=420 + 170 * len(panels), margin=dict(l=10, r=10, t=90 if title else 20, b=10),
                      xaxis_rangeslider_visible=False, hovermode="x unified",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0), bargap=0)
    if not is_24_7(asset_class):
        fig.update_xaxes(rangebreaks=[dict(bounds=["sat", "mon"]), dict(bounds=[16, 9.5], pattern="hour")])
    return fig


def correlation_figure(frame: pl.DataFrame, cols: list[str]) -> go.Figure:
    corr = correlation_matrix(frame, cols)
    fig = go.Figure(go.Heatmap(z=corr, x=cols, y=cols, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                               colorbar=dict(title="corr")))
    size = max(360, min(900, 22 * len(cols) + 160))
    fig.update_layout(height=size, margin=dict(l=10, r=10, t=20, b=10), yaxis=dict(autorange="reversed"))
    return fig


def importance_figure(report: SelectionReport) -> go.Figure:
    imp = report.importances[::-1]
    kept = set(report.kept)
    fig = go.Figure(go.Bar(x=[r["importance"] for r in imp], y=[r["feature"] for r in imp], orientation="h",
                           marker_color=["#1f77b4" if r["feature"] in kept else "#b0bec5" for r in imp]))
    fig.update_layout(height=max(300, 20 * len(imp) + 80), margin=dict(l=10, r=10, t=30, b=10),
                      title=f"importance for the {report.horizon}-bar forward log return (blue: kept)",
                      xaxis_title="importance")
    return fig
