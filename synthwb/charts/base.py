"""Shared plotly figure builders (the engine's side of charts; pages only display them).

``fan_chart`` draws an ensemble of price paths as quantile bands: the outer band between
the lowest and highest requested quantiles (P5-P95 by default), the inner band between the
next pair (P25-P75), the median line, and optionally the realised path.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from synthwb.core.errors import SpecError

_BAND_COLOURS = ("rgba(31,119,180,0.15)", "rgba(31,119,180,0.30)", "rgba(31,119,180,0.45)")


def path_quantiles(paths: np.ndarray, quantiles: Sequence[float] = (5, 25, 50, 75, 95)) -> dict[float, np.ndarray]:
    """Per-step percentiles of (n_paths, T) paths: {q: (T,) array}, NaN-aware."""
    arr = np.asarray(paths, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SpecError(f"paths must be a 2-D array (n_paths, H+1); got shape {arr.shape}")
    qs = np.nanpercentile(arr, list(quantiles), axis=0)
    return {float(q): qs[i] for i, q in enumerate(quantiles)}


def fan_chart(paths: np.ndarray, times=None, realised=None, title: str = "",
              quantiles: Sequence[float] = (5, 25, 50, 75, 95), n_sample_paths: int = 0,
              height: int = 380) -> go.Figure:
    """Fan chart of ``paths`` (n_paths, H+1), column 0 = t0.

    times: x values (H+1,) (datetimes or numbers; default step index 0..H).
    realised: optional (H+1,) or (H,) realised prices (without t0, t0 is taken from the paths).
    quantiles: symmetric percentiles, sorted; pairs from the outside in become bands, the
    middle one (if odd count) the median line. ``n_sample_paths`` thin individual paths.
    """
    arr = np.asarray(paths, dtype=float)
    q = sorted(float(v) for v in quantiles)
    if any(not 0 <= v <= 100 for v in q):
        raise SpecError(f"quantiles must lie in [0, 100]; got {list(quantiles)}")
    qv = path_quantiles(arr, q)
    T = arr.shape[1]
    x = np.arange(T) if times is None else np.asarray(times)
    if len(x) != T:
        raise SpecError(f"times has {len(x)} points but the paths have {T}")
    fig = go.Figure()
    for k in range(min(n_sample_paths, arr.shape[0])):
        fig.add_trace(go.Scatter(x=x, y=arr[k], mode="lines", line=dict(width=0.6, color="rgba(120,120,120,0.35)"),
                                 hoverinfo="skip", showlegend=False))
    n_bands = len(q) // 2
    for b in range(n_bands):
        lo, hi = q[b], q[-1 - b]
        colour = _BAND_COLOURS[min(b, len(_BAND_COLOURS) - 1)]
        fig.add_trace(go.Scatter(x=x, y=qv[hi], mode="lines", line=dict(width=0), hoverinfo="skip",
                                 showlegend=False, name=f"P{hi:g}"))
        fig.add_trace(go.Scatter(x=x, y=qv[lo], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=colour, name=f"P{lo:g}-P{hi:g}"))
    if len(q) % 2 == 1:
        mid = q[len(q) // 2]
        fig.add_trace(go.Scatter(x=x, y=qv[mid], mode="lines", line=dict(color="rgb(31,119,180)", width=2),
                                 name="median" if mid == 50 else f"P{mid:g}"))
    if realised is not None:
        r = np.asarray(realised, dtype=float)
        if len(r) == T - 1:
            r = np.concatenate([[arr[0, 0]], r])
        if len(r) != T:
            raise SpecError(f"realised has {len(r)} points; expected {T} (with t0) or {T - 1}")
        fig.add_trace(go.Scatter(x=x, y=r, mode="lines", line=dict(color="rgb(255,127,14)", width=2), name="realised"))
    fig.update_layout(title=dict(text=title, y=0.98, yanchor="top") if title else None, height=height,
                      margin=dict(l=10, r=10, t=70 if title else 40, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0), yaxis_title="price")
    return fig


def trajectory_chart(series: dict[str, np.ndarray], times=None, title: str = "", height: int = 260) -> go.Figure:
    """Line chart of per-step trajectories, e.g. {"drift": (H,), "vol": (H,)} from a head's extras."""
    fig = go.Figure()
    for name, y in series.items():
        y = np.asarray(y, dtype=float)
        x = np.arange(1, len(y) + 1) if times is None else np.asarray(times)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name))
    fig.update_layout(title=title or None, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      hovermode="x unified", xaxis_title="step after t0")
    return fig
