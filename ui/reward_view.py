"""The "Synth reward" view: the compared models as a population of miners, under a validator
version's reward rule (synthwb.evaluate.reward): the per-request transform of that version, the
rolling window, asset weights (editable), the softmax; one panel per competition the compared
assets count for (only those assets), each model's share over time beside its mean score, and
the combined expected share of miner emissions across competitions. A CSV of other miners'
per-request scores puts the models into that population.

Draws only: every number comes from synthwb.evaluate.reward (the same call as `compare --reward`)."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.evaluate import reward as rw
from synthwb.scoring.versions import ValidatorRules, get_validator


def _weights_editor(assets: list[str], key: str, rules: ValidatorRules) -> dict[str, float]:
    table = pl.DataFrame({"asset": assets, "weight": [rw.asset_weight(a, validator=rules) for a in assets]})
    edited = st.data_editor(table.to_pandas(), key=f"{key}_weights_{rules.name}", hide_index=True, disabled=["asset"],
                            column_config={"weight": st.column_config.NumberColumn(
                                "weight", min_value=0.0, max_value=100.0, step=0.0001, format="%.4f")})
    out = {}
    for a, w in zip(edited["asset"], edited["weight"]):
        try:
            out[str(a)] = float(w)
        except (TypeError, ValueError):
            out[str(a)] = rw.asset_weight(str(a), validator=rules)
    return out


def _share_chart(over: pl.DataFrame, highlight: list[str], title: str) -> go.Figure:
    fig = go.Figure()
    for m in over["miner"].unique(maintain_order=True).to_list():
        d = over.filter(pl.col("miner") == m).sort("time")
        mine = m in highlight
        fig.add_trace(go.Scatter(x=d["time"].to_list(), y=d["share"].to_list(), name=m, mode="lines+markers",
                                 line={"width": 2.5 if mine else 1}, opacity=1.0 if mine else 0.45))
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_title="share of the competition",
                      yaxis_tickformat=".0%", title=title, legend_title=None)
    return fig


_PCT = {"format": "percent"}


def _competition_panel(res: rw.RewardResult, share: float, ours: list[str], key: str) -> None:
    c = res.competition
    st.subheader(f"{c.label} ({c.task})", divider="gray")
    counted = ", ".join(res.weights)
    st.caption(f"Counts {' '.join(c.assets)}; here **{counted}**"
               + (f" ({', '.join(res.ignored_assets)} left out: not in this competition)" if res.ignored_assets else "")
               + f". A {c.window_days:g}-day rolling window averages the prompt scores with the asset weights; a "
               f"softmax with beta {c.beta:g} gives each model's share. This competition pays "
               f"**{rw.fraction_text(share)}** of miner emissions.")
    st.plotly_chart(_share_chart(res.over_time, ours, f"{c.label}: share of emissions after each scored request"),
                    width="stretch", key=f"{key}_chart_{c.key}")
    st.dataframe(res.summary.select(rw.SUMMARY_COLUMNS).to_pandas(), hide_index=True, width="stretch",
                 key=f"{key}_summary_{c.key}", column_config={
                     "final_share": st.column_config.NumberColumn("final share", **_PCT),
                     "mean_share": st.column_config.NumberColumn("mean share", **_PCT),
                     "mean_score": st.column_config.NumberColumn("mean score", format="%.2f"),
                     "mean_prompt_score": st.column_config.NumberColumn("mean prompt score", format="%.2f")})


def _expected_table(comb: rw.CombinedReward, key: str) -> None:
    cfg = {"expected_share": st.column_config.NumberColumn("expected share", **_PCT,
                                                           help="sum over competitions of the final share there x "
                                                                "the competition's share of miner emissions"),
           "expected_mean_share": st.column_config.NumberColumn("from mean shares", **_PCT,
                                                                help="the same with each competition's mean share "
                                                                     "over the period"),
           "of_validator_weight": st.column_config.NumberColumn("of validator weight", **_PCT,
                                                                help="expected share x the miners' part of the "
                                                                     "validator's weight (after the owner's entry)")}
    for k in comb.results:
        cfg[k] = st.column_config.NumberColumn(f"{comb.validator.competition(k).label}", **_PCT,
                                               help=f"final share in the competition (it pays "
                                                    f"{rw.fraction_text(comb.shares[k])})")
    if comb.vhft and comb.validator.vhft is not None:
        cfg[comb.validator.vhft.key] = st.column_config.NumberColumn(
            comb.validator.vhft.label, **_PCT, help="off-subnet: the compared models have no VHFT scores")
    cols = [c for c in comb.expected.columns if c != "of_validator_weight" or comb.validator.owner_share]
    st.dataframe(comb.expected.select(cols).to_pandas(), hide_index=True, width="stretch", key=f"{key}_expected",
                 column_config=cfg)


def reward_view(per_origin: pl.DataFrame, task: str, key: str = "rw", validator=None) -> None:
    """Draw the reward simulation of ``per_origin`` (per-origin scores with an ``asset`` column:
    asset, origin, t0, model, total, valid; :meth:`CompareResult.reward_table`) under a validator
    version (default: the session's ``validator``, else the newest)."""
    try:
        rules = get_validator(validator or st.session_state.get("validator"))
    except SynthwbError as exc:
        st.error(str(exc))
        return
    if task not in rules.tasks or not rules.competitions_for(task):
        st.info("The Synth reward exists for the 24h and 1h prompts; this comparison ran a custom task.")
        return
    comps = rules.competitions_for(task)
    st.caption(
        f"Reward under **{rules.label()}**. The compared models act as the miners of the {task} "
        f"competition{'s' if len(comps) > 1 else ''} {', '.join(c.label for c in comps)}; each counts only its "
        f"own assets. Transform: {rw.transform_rule(rules)}.")
    try:
        ours = rw.from_per_origin(per_origin, None, rules.task(task).horizon_seconds)
    except SynthwbError as exc:
        st.error(str(exc))
        return
    c1, c2 = st.columns([1, 2])
    with c1:
        up = st.file_uploader("Other miners' scores (CSV)", type=["csv"], key=f"{key}_pop",
                              help="columns asset, scored_time, miner, score (and optionally request); an "
                                   "empty score or -1 is an invalid response. The compared models join the "
                                   "requests with the same asset and scored time.")
        vhft = st.checkbox("Blend in VHFT", key=f"{key}_vhft", disabled=rules.vhft is None,
                           help=("the off-subnet 10-second BTC competition as one more equal share: each "
                                 "competition then pays 1/4; the compared models have no VHFT scores and earn "
                                 "none of its share") if rules.vhft is not None
                           else f"validator {rules.name} has no VHFT competition")
    table, note = ours, ""
    if up is not None:
        try:
            table, n = rw.insert_models(rw.read_population_csv(up.getvalue()), ours)
            note = f"{n} requests of the uploaded population matched the compared models' requests."
        except SynthwbError as exc:
            st.error(str(exc))
    assets = sorted(table["asset"].unique().to_list())
    with c1:
        weights = _weights_editor(assets, key, rules)
        st.caption(f"Asset weights of validator {rules.name} (editable; unknown assets 1.0).")
    try:
        comb = rw.simulate_competitions(table, task=task, validator=rules, weights=weights,
                                        vhft=bool(vhft and rules.vhft is not None))
    except SynthwbError as exc:  # e.g. no competition of the version counts the compared assets
        st.warning(str(exc), icon=":material/info:")
        return
    mine = ours["miner"].unique().to_list()
    with c2:
        st.markdown("**Expected share of miner emissions**")
        _expected_table(comb, key)
        missing = [c.label for k, c in rules.competitions.items() if k not in comb.results]
        st.caption(comb.emission_rule + (f" No data for {', '.join(missing)}: the compared models earn nothing "
                                         "there." if missing else ""))
        if note:
            st.caption(note)
    for k, res in comb.results.items():
        _competition_panel(res, comb.shares[k], mine, key)
    st.caption("A model with a better mean score can earn less if it sometimes fails badly. "
               f"The same numbers: `python -m synthwb compare ... --reward --validator {rules.name}"
               f"{' --vhft' if comb.vhft else ''}`.")
