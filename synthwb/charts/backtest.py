"""Backtest figures (plotly) beside the shared fan, interval and score-over-time charts of
:mod:`synthwb.charts.forecast`: the terminal distribution with the realised price, drift and
volatility per step of a path set (or of a head's own extras), the PIT histogram and the
coverage curve."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import polars as pl

from synthwb.charts.colors import REALISED, color_map
from synthwb.core.errors import SpecError

__all__ = ["terminal_distribution", "path_trajectories", "drift_vol", "pit_histogram", "coverage_curve"]


def _layout(fig: go.Figure, title: str, height: int, ytitle: str = "") -> go.Figure:
    """Title on top, legend below the x axis (anchored by its top: never over the title or the data)."""
    fig.update_layout(title=title or None, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0), yaxis_title=ytitle or None)
    return fig


def terminal_distribution(paths: np.ndarray, realised_last: float | None = None, title: str = "",
                          bins: int = 60, height: int = 300) -> go.Figure:
    """Histogram of the simulated final prices with the realised final price as a line."""
    arr = np.asarray(paths, dtype=float)
    if arr.ndim != 2:
        raise SpecError(f"paths must be (n_paths, T), got {arr.shape}")
    last = arr[:, -1]
    fig = go.Figure(go.Histogram(x=last, nbinsx=bins, name="simulated", marker_color="rgba(31,119,180,0.6)",
                                 histnorm="probability density"))
    fig.add_vline(x=float(arr[0, 0]), line=dict(color="grey", dash="dot"), annotation_text="t0")
    if realised_last is not None and np.isfinite(realised_last):
        fig.add_vline(x=float(realised_last), line=dict(color=REALISED, width=3), annotation_text="realised")
    return _layout(fig, title, height, "density").update_layout(xaxis_title="final price", bargap=0.02)


def drift_vol(paths: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step drift and volatility of a path set in basis points: the mean and standard
    deviation across paths of the log return of each step (what the head implied)."""
    arr = np.asarray(paths, dtype=float)
    lr = np.diff(np.log(arr), axis=1) * 1e4
    return {"drift (bp/step)": lr.mean(axis=0), "volatility (bp/step)": lr.std(axis=0)}


def path_trajectories(paths: np.ndarray | None, times: Sequence | None = None, title: str = "", height: int = 280,
                      extras: dict[str, np.ndarray] | None = None, ytitle: str = "basis points") -> go.Figure:
    """Drift and volatility per step (from the paths, or from a head's own ``extras``)."""
    series = extras or drift_vol(paths)
    fig = go.Figure()
    for name, y in series.items():
        y = np.asarray(y, dtype=float)
        x = list(times)[1:len(y) + 1] if times is not None else np.arange(1, len(y) + 1)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name))
    return _layout(fig, title, height, ytitle).update_layout(hovermode="x unified", xaxis_title="step after t0")


def pit_histogram(pit: pl.DataFrame, bins: int = 20, title: str = "", height: int = 300,
                  colors: dict[str, str] | None = None) -> go.Figure:
    """PIT histogram per model (density; a calibrated forecast is flat at 1, a too-narrow one
    U-shaped, a too-wide one hump-shaped, a biased one tilted)."""
    fig = go.Figure()
    edges = np.linspace(0, 1, bins + 1)
    colors = dict(colors or color_map(pit["model"].unique(maintain_order=True).to_list()))
    for (model,), g in pit.group_by("model", maintain_order=True):
        h, _ = np.histogram(g["pit"].to_numpy(), bins=edges, density=True)
        fig.add_trace(go.Scatter(x=np.repeat(edges, 2)[1:-1], y=np.repeat(h, 2), mode="lines", name=str(model),
                                 line=dict(color=colors.get(str(model)))))
    fig.add_hline(y=1.0, line=dict(color="grey", dash="dot"))
    fig.update_xaxes(title="PIT (share of paths below the realised price)", range=[0, 1])
    return _legend_below(_layout(fig, title, height, "density"))


def coverage_curve(cov: pl.DataFrame, title: str = "", height: int = 300,
                   colors: dict[str, str] | None = None) -> go.Figure:
    """Observed coverage of each central band against its nominal level, per model (the
    diagonal is perfect calibration)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot"),
                             name="calibrated", hoverinfo="skip"))
    colors = dict(colors or color_map(cov["model"].unique(maintain_order=True).to_list()))
    for (model,), g in cov.group_by("model", maintain_order=True):
        g = g.sort("level")
        fig.add_trace(go.Scatter(x=g["level"], y=g["coverage"], mode="lines+markers", name=str(model),
                                 line=dict(color=colors.get(str(model)))))
    fig.update_xaxes(title="nominal level of the central band", range=[0, 1])
    fig.update_yaxes(range=[0, 1])
    return _legend_below(_layout(fig, title, height, "observed coverage"))


def _legend_below(fig: go.Figure) -> go.Figure:
    """Many models: the legend goes under the axis, clear of the title."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, x=0),
                      margin=dict(b=90), height=(fig.layout.height or 300) + 60)
    return fig
