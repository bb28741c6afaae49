"""Plotly figures for training curves (the Train page and notebooks; no streamlit here).

The figure is built as one dict (four panels with manual axis domains) and validated once:
it is redrawn every two seconds while a job trains, so it must stay cheap.
"""
from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

# (title, kind, key, second kind, second key, second on its own y axis)
PANELS = (
    ("Loss (train) / CRPS (val), bps", "train", "loss", "val", "val_crps", False),
    ("Sharpness: ensemble std (val), bps", "val", "sharpness", None, None, False),
    ("Learning rate", "train", "lr", None, None, False),
    ("Gradient norm (train) / Gaussian NLL (val)", "train", "grad_norm", "val", "gauss_nll", True),
)
MAX_POINTS = 2000  # per series; longer histories are thinned evenly (last point kept)
COLORS = ("#1f77b4", "#d62728")


def _series(rows: Iterable[dict], kind: str, key: str) -> tuple[list, list]:
    xs, ys = [], []
    for r in rows:
        if r.get("kind") == kind and r.get(key) is not None:
            xs.append(r["step"])
            ys.append(r[key])
    if len(xs) > MAX_POINTS:
        stride = -(-len(xs) // MAX_POINTS)
        keep = list(range(0, len(xs) - 1, stride)) + [len(xs) - 1]
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
    return xs, ys


def curves_figure(history: list[dict], title: str | None = None, height: int = 520) -> go.Figure:
    """Four panels of training curves from metric rows (``kind`` 'train' or 'val', ``step``)."""
    gap_x, gap_y = 0.08, 0.16
    w, h = (1 - gap_x) / 2, (1 - gap_y) / 2
    data, layout = [], {
        "height": height, "template": "plotly_white", "showlegend": False, "uirevision": "curves",
        "margin": {"l": 40, "r": 40, "t": 50 if title else 30, "b": 30}, "annotations": [],
    }
    if title:
        layout["title"] = {"text": title}
    n_axes = 0
    for i, (name, k1, m1, k2, m2, own_y) in enumerate(PANELS):
        r, c = divmod(i, 2)
        x0 = c * (w + gap_x)
        y0 = (1 - r) * (h + gap_y)
        n_axes += 1
        ax = "" if n_axes == 1 else str(n_axes)
        layout[f"xaxis{ax}"] = {"domain": [x0, x0 + w], "anchor": f"y{ax}", "title": {"text": "step", "standoff": 2}}
        layout[f"yaxis{ax}"] = {"domain": [y0, y0 + h], "anchor": f"x{ax}", "exponentformat": "e"}
        layout["annotations"].append({"text": name, "x": x0 + w / 2, "y": y0 + h, "xref": "paper", "yref": "paper",
                                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 14}})
        x, y = _series(history, k1, m1)
        # a lone point (e.g. the first validation) is drawn as a marker: a line of one point is invisible
        data.append({"type": "scatter", "x": x, "y": y, "mode": "lines" if len(x) > 1 else "markers",
                     "name": f"{k1} {m1}", "line": {"color": COLORS[0], "width": 1.6}, "marker": {"size": 6},
                     "xaxis": f"x{ax}", "yaxis": f"y{ax}"})
        if k2:
            x2, y2 = _series(history, k2, m2)
            yax = ax
            if own_y:
                n_axes += 1
                yax = str(n_axes)
                layout[f"yaxis{yax}"] = {"overlaying": f"y{ax}", "side": "right", "anchor": f"x{ax}",
                                         "showgrid": False}
            data.append({"type": "scatter", "x": x2, "y": y2, "mode": "lines+markers", "name": f"{k2} {m2}",
                         "line": {"color": COLORS[1], "width": 2}, "marker": {"size": 5},
                         "xaxis": f"x{ax}", "yaxis": f"y{yax}"})
    return go.Figure({"data": data, "layout": layout})


def lr_figure(lrs: list[float], height: int = 200) -> go.Figure:
    """The learning-rate schedule preview (one value per step)."""
    return go.Figure({"data": [{"type": "scatter", "x": list(range(len(lrs))), "y": lrs, "mode": "lines"}],
                      "layout": {"height": height, "template": "plotly_white",
                                 "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
                                 "xaxis": {"title": {"text": "step"}}, "yaxis": {"title": {"text": "lr"}}}})
