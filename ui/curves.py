"""The Train page's one training-curves view: the watched job's live curves (or saved runs'),
with TensorBoard's basics: legend, smoothing slider, log-scale switch, runs overlaid."""
from __future__ import annotations

import streamlit as st

from synthwb.charts.train import curves_figure
from synthwb.core.errors import SynthwbError
from synthwb.store import runs

from .jobs import run_details

S = st.session_state


def controls(run_ids: list[str], label: str, labels: dict[str, str] | None = None) -> tuple[list[str], float, bool]:
    """Runs to draw (multiselect of saved runs, labelled as every picker labels them), smoothing,
    log scale."""
    if "tr_curves_runs" in S:  # runs deleted or renamed since the last choice
        S.tr_curves_runs = [r for r in S.tr_curves_runs if r in run_ids]
    a, b, c = st.columns([4, 2, 1], vertical_alignment="bottom")
    picked = a.multiselect(label, run_ids, key="tr_curves_runs", placeholder="saved runs (metrics.jsonl)",
                           format_func=lambda r: (labels or {}).get(r, r))
    smoothing = b.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="tr_smoothing",
                         help="exponential moving average, as TensorBoard's slider; the raw curve is drawn faint")
    log_y = c.toggle("Log scale", key="tr_log_y")
    return picked, smoothing, log_y


def curves(live: dict[str, list[dict]], run_ids: list[str], store: str, key: str) -> None:
    """Controls and the figure: ``live`` (the watched job's rows, keyed by the run id it is
    saved under) first, then the picked saved runs read from their metrics.jsonl; a saved run
    never replaces the live curves."""
    # data and task, not the status (a label that changes when a job ends would lose the choice)
    labels = {r["run_id"]: f"{r['run_id']} ({run_details(r)})" for r in runs.list_runs(store)}
    picked, smoothing, log_y = controls(run_ids, "Overlay saved runs" if live else "Runs", labels)
    hist = dict(live)
    for rid in picked:
        if rid in hist:
            continue
        try:
            hist[rid] = runs.read_metrics(rid, store)
        except SynthwbError:
            continue  # deleted between the listing and now
    hist = {k: v for k, v in hist.items() if any(r.get("kind") in ("train", "val") for r in v)}
    waiting = [k for k in live if k not in hist]
    if waiting:
        st.caption(f"Curves of {waiting[0]} appear at its first logged step (every `log_every` steps) and validation.")
    if not hist:
        if not live:
            st.caption("Pick runs to draw their curves.")
        return
    one = next(iter(hist)) if len(hist) == 1 else None
    fig = curves_figure(hist[one] if one else hist, title=one, smoothing=smoothing, log_y=log_y)
    st.plotly_chart(fig, key=key)
    if not one:
        st.caption("A colour per run; in a panel with two metrics the first is solid, the second dashed. "
                   "Click a run in the legend to hide it in every panel.")
