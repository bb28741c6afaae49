"""Plotly figures for training curves (the Train page and notebooks; no streamlit here).

TensorBoard's basics: a legend, EMA smoothing with the raw curve drawn faint behind it (the
same debiased exponential moving average as TensorBoard's smoothing slider), a log-scale
switch, and several runs overlaid (one colour per run, one dash per metric).

The figure is built as one dict (four panels with manual axis domains) and validated once:
it is redrawn every two seconds while a job trains, so it must stay cheap.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import plotly.graph_objects as go

from synthwb.charts.colors import color_map

# (title, kind, key, second kind, second key, second on its own y axis): a y axis carries one
# scale; a second metric of another unit gets its own axis, on the right
PANELS = (
    ("Loss (train, left) / CRPS (val, right, bps)", "train", "loss", "val", "val_crps", True),
    ("Sharpness: ensemble std (val), bps", "val", "sharpness", None, None, False),
    ("Learning rate", "train", "lr", None, None, False),
    ("Gradient norm (train) / Gaussian NLL (val)", "train", "grad_norm", "val", "gauss_nll", True),
)
#: legend names of the series
LABELS = {("train", "loss"): "train loss", ("val", "val_crps"): "val CRPS", ("val", "sharpness"): "val sharpness",
          ("train", "lr"): "learning rate", ("train", "grad_norm"): "grad norm", ("val", "gauss_nll"): "val Gaussian NLL"}
MAX_POINTS = 2000  # per series; longer histories are thinned evenly (last point kept)
COLORS = ("#1f77b4", "#d62728")  # kept for callers: the first and second metric of a panel
#: one run: a colour per metric, distinct across the panels (the legend names each once)
METRIC_COLORS = {("train", "loss"): "#3b82f6", ("val", "val_crps"): "#ef4444", ("val", "sharpness"): "#22c55e",
                 ("train", "lr"): "#a855f7", ("train", "grad_norm"): "#eab308", ("val", "gauss_nll"): "#06b6d4"}
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
              "#17becf")  # several runs: a colour per run
SMOOTHING_MAX = 0.999


def ema_smooth(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's scalar smoothing: a debiased exponential moving average,
    ``last = last * w + (1 - w) * y``, divided by ``1 - w ** n`` (so the first point is kept
    as it is, not pulled towards 0). ``weight`` 0 returns the values; non-finite values are
    passed through and do not enter the average."""
    w = float(weight)
    if not 0.0 <= w <= SMOOTHING_MAX:
        raise ValueError(f"smoothing must be between 0 and {SMOOTHING_MAX}, got {weight!r}")
    if w == 0.0:
        return [float(v) for v in values]
    out, last, debias = [], 0.0, 0.0
    for v in values:
        v = float(v)
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * w + (1.0 - w) * v
        debias = debias * w + (1.0 - w)
        out.append(last / debias)
    return out


def _series(rows: Iterable[dict], kind: str, key: str) -> tuple[list, list]:
    xs, ys = [], []
    for r in rows:
        if r.get("kind") == kind and r.get(key) is not None:
            xs.append(r["step"])
            ys.append(r[key])
    return xs, ys


def _thin(xs: list, *ys: list) -> tuple[list, ...]:
    if len(xs) <= MAX_POINTS:
        return (xs, *ys)
    stride = -(-len(xs) // MAX_POINTS)
    keep = list(range(0, len(xs) - 1, stride)) + [len(xs) - 1]
    return tuple([s[i] for i in keep] for s in (xs, *ys))


def curves_figure(history: list[dict] | Mapping[str, list[dict]], title: str | None = None, height: int = 600,
                  *, smoothing: float = 0.0, log_y: bool = False) -> go.Figure:
    """Four panels of training curves from metric rows (``kind`` 'train' or 'val', ``step``).

    ``history``: one run's rows, or ``{run name: rows}`` to overlay several runs (a colour per
    run, the second metric of a panel dashed). ``smoothing`` (0 to 0.999, TensorBoard's slider):
    each series is drawn smoothed (:func:`ema_smooth`) over its raw values, drawn faint.
    ``log_y``: every y axis on a log scale (non-positive values are not drawn)."""
    runs = dict(history) if isinstance(history, Mapping) else {"": history}
    many = len(runs) > 1
    run_colors = color_map(runs)  # the same colour for a run in every panel and every redraw
    gap_x, gap_y = 0.08, 0.16
    w, h = (1 - gap_x) / 2, (1 - gap_y) / 2
    data, layout = [], {
        "height": height, "template": "plotly_white", "showlegend": True, "uirevision": "curves",
        # the legend at the foot of the figure, under the bottom panels' step axes (never over them)
        "legend": {"orientation": "h", "x": 0, "y": 0, "yref": "container", "yanchor": "bottom"},
        "margin": {"l": 40, "r": 40, "t": 50 if title else 30, "b": 90}, "annotations": [],
    }
    if title:
        layout["title"] = {"text": title}
    log = {"type": "log", "nticks": 6} if log_y else {}
    n_axes = 0
    for i, (name, k1, m1, k2, m2, own_y) in enumerate(PANELS):
        r, c = divmod(i, 2)
        x0 = c * (w + gap_x)
        y0 = (1 - r) * (h + gap_y)
        n_axes += 1
        ax = "" if n_axes == 1 else str(n_axes)
        layout[f"xaxis{ax}"] = {"domain": [x0, x0 + w], "anchor": f"y{ax}", "title": {"text": "step", "standoff": 10}}
        layout[f"yaxis{ax}"] = {"domain": [y0, y0 + h], "anchor": f"x{ax}", "exponentformat": "e", **log}
        layout["annotations"].append({"text": name, "x": x0 + w / 2, "y": y0 + h, "xref": "paper", "yref": "paper",
                                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 14}})
        yax2 = ax
        if k2 and own_y:
            n_axes += 1
            yax2 = str(n_axes)
            layout[f"yaxis{yax2}"] = {"overlaying": f"y{ax}", "side": "right", "anchor": f"x{ax}",
                                      "showgrid": False, **log}
        for run, rows in runs.items():
            for second, (kind, key, yax) in enumerate(((k1, m1, ax), (k2, m2, yax2))):
                if not kind:
                    continue
                color = run_colors[run] if many else METRIC_COLORS.get((kind, key), COLORS[second])
                label = LABELS.get((kind, key), f"{kind} {key}")
                # one run: a legend entry per metric; several: one per run (its first series), and
                # clicking it hides that run in every panel
                data += _traces(rows, kind, key, run if many else label, f"{run} · {label}" if run else label,
                                color, dash="dash" if many and second else None, smoothing=smoothing,
                                xaxis=f"x{ax}", yaxis=f"y{yax}", group=run if many else label, val=kind == "val",
                                legend=not many or (i == 0 and second == 0))
    return go.Figure({"data": data, "layout": layout})


def _traces(rows: list[dict], kind: str, key: str, name: str, what: str, color: str, *, dash: str | None,
            smoothing: float, xaxis: str, yaxis: str, group: str, val: bool, legend: bool) -> list[dict]:
    """One series: the line (smoothed when asked, over its raw values drawn faint). ``name``:
    its legend entry; ``what``: the run and metric, in the hover text."""
    x, y = _series(rows, kind, key)
    smooth = ema_smooth(y, smoothing) if smoothing and len(x) > 1 else None
    x, y, *rest = _thin(x, y, *([smooth] if smooth is not None else []))
    # a lone point (e.g. the first validation) is drawn as a marker: a line of one point is invisible
    mode = "markers" if len(x) == 1 else ("lines+markers" if val and smooth is None else "lines")
    line = {"color": color, "width": 2 if val else 1.6, **({"dash": dash} if dash else {})}
    main = {"type": "scatter", "x": x, "y": rest[0] if rest else y, "mode": mode, "name": name, "line": line,
            "marker": {"size": 6 if len(x) == 1 else 5}, "legendgroup": group, "showlegend": legend,
            "hovertemplate": f"{what}<br>step %{{x}}: %{{y:.5g}}<extra></extra>", "xaxis": xaxis, "yaxis": yaxis,
            "meta": {"series": "smoothed" if rest else "raw", "metric": what}}
    if not rest:
        return [main]
    raw = {"type": "scatter", "x": x, "y": y, "mode": "lines", "name": f"{name} (raw)", "showlegend": False,
           "opacity": 0.25, "line": {"color": color, "width": 1, **({"dash": dash} if dash else {})},
           "legendgroup": group, "hoverinfo": "skip", "xaxis": xaxis, "yaxis": yaxis,
           "meta": {"series": "raw", "metric": what}}
    return [raw, main]


def lr_figure(lrs: list[float], height: int = 200) -> go.Figure:
    """The learning-rate schedule preview (one value per step)."""
    return go.Figure({"data": [{"type": "scatter", "x": list(range(len(lrs))), "y": lrs, "mode": "lines"}],
                      "layout": {"height": height, "template": "plotly_white",
                                 "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
                                 "xaxis": {"title": {"text": "step"}}, "yaxis": {"title": {"text": "lr"}}}})
