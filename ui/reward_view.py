"""The "Synth reward" view: the compared models as a population of miners, under the
validator's reward rule (synthwb.evaluate.reward): capped prompt scores, the rolling window,
asset weights (editable), the softmax; each model's share of emissions over time beside its
mean score. A CSV of other miners' per-request scores puts the models into that population.

Draws only: every number comes from synthwb.evaluate.reward."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.evaluate import reward as rw


def _weights_editor(assets: list[str], key: str) -> dict[str, float]:
    table = pl.DataFrame({"asset": assets, "weight": [rw.asset_weight(a) for a in assets]})
    edited = st.data_editor(table.to_pandas(), key=f"{key}_weights", hide_index=True, disabled=["asset"],
                            column_config={"weight": st.column_config.NumberColumn(
                                "weight", min_value=0.0, max_value=100.0, step=0.0001, format="%.4f")})
    out = {}
    for a, w in zip(edited["asset"], edited["weight"]):
        try:
            out[str(a)] = float(w)
        except (TypeError, ValueError):
            out[str(a)] = rw.asset_weight(str(a))
    return out


def _share_chart(over: pl.DataFrame, highlight: list[str]) -> go.Figure:
    fig = go.Figure()
    for m in over["miner"].unique(maintain_order=True).to_list():
        d = over.filter(pl.col("miner") == m).sort("time")
        mine = m in highlight
        fig.add_trace(go.Scatter(x=d["time"].to_list(), y=d["share"].to_list(), name=m, mode="lines+markers",
                                 line={"width": 2.5 if mine else 1}, opacity=1.0 if mine else 0.45))
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_title="share of the competition",
                      yaxis_tickformat=".0%", title="Share of emissions after each scored request", legend_title=None)
    return fig


def reward_view(per_origin: pl.DataFrame, task: str, key: str = "rw") -> None:
    """Draw the reward simulation of ``per_origin`` (per-origin scores with an ``asset`` column:
    asset, origin, t0, model, total, valid; :meth:`CompareResult.reward_table`)."""
    if task not in rw.COMPETITIONS:
        st.info("The Synth reward exists for the 24h and 1h prompts; this comparison ran a custom task.")
        return
    comp = rw.COMPETITIONS[task]
    st.caption(
        f"The compared models act as the miners of the **{task}** prompt. Per request, scores are capped at "
        "the 90th percentile of the valid ones (an invalid forecast gets that cap) and the request's best is "
        f"subtracted; a {comp.window_days:g}-day rolling window averages them with the asset weights; a softmax "
        f"with beta {comp.beta:g} gives each model's share. This competition pays half of the emissions.")
    try:
        from synthwb.scoring.synth import get_task

        ours = rw.from_per_origin(per_origin, None, get_task(task).horizon_seconds)
    except SynthwbError as exc:
        st.error(str(exc))
        return
    c1, c2 = st.columns([1, 2])
    with c1:
        up = st.file_uploader("Other miners' scores (CSV)", type=["csv"], key=f"{key}_pop",
                              help="columns asset, scored_time, miner, score (and optionally request); an "
                                   "empty score or -1 is an invalid response. The compared models join the "
                                   "requests with the same asset and scored time.")
    table, note = ours, ""
    if up is not None:
        try:
            table, n = rw.insert_models(rw.read_population_csv(up.getvalue()), ours)
            note = f"{n} requests of the uploaded population matched the compared models' requests."
        except SynthwbError as exc:
            st.error(str(exc))
    assets = sorted(table["asset"].unique().to_list())
    with c1:
        weights = _weights_editor(assets, key)
    try:
        res = rw.simulate(table, task, weights)
    except SynthwbError as exc:
        st.error(str(exc))
        return
    if note:
        st.caption(note)
    with c2:
        st.plotly_chart(_share_chart(res.over_time, ours["miner"].unique().to_list()), width="stretch",
                        key=f"{key}_chart")
    st.dataframe(res.summary.select(rw.SUMMARY_COLUMNS).to_pandas(), hide_index=True, width="stretch",
                 key=f"{key}_summary", column_config={
                     "final_share": st.column_config.NumberColumn("final share", format="percent"),
                     "mean_share": st.column_config.NumberColumn("mean share", format="percent"),
                     "mean_score": st.column_config.NumberColumn("mean score", format="%.2f"),
                     "mean_prompt_score": st.column_config.NumberColumn("mean prompt score", format="%.2f")})
    st.caption("A model with a better mean score can earn less if it sometimes fails badly. "
               "The same numbers: `python -m synthwb compare ... --reward`.")
