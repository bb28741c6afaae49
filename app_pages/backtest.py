"""Backtest: score runs and baselines with the Synth validator's CRPS over a test period.

Pick runs (or baselines only), the test period and the task preset; the backtest runs as a
background job with live progress. Results: the score table with the model beside the
baselines, scores over origins, per-interval breakdown, fan charts of kept origins with the
terminal distribution and drift/volatility, GluonTS and trading metrics, CSV downloads.
Draws only: every number comes from synthwb.evaluate.backtest (same call as the CLI)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import polars as pl
import streamlit as st

from synthwb.charts import backtest as eplots
from synthwb.charts import forecast as fplots
from synthwb.charts.colors import color_map
from synthwb.core.errors import SynthwbError
from synthwb.evaluate import export
from synthwb.evaluate.backtest import BacktestSpec
from synthwb.forecast.baselines import BASELINES
from synthwb.scoring.synth import TASKS
from ui import jobs as bg
from ui import state
from ui.getting_started import guide
from ui.held_out import held_out_range
from ui.widgets import (
    DEFAULT_BASELINES,
    classical_options,
    classical_picker,
    left_out_note,
    task_label,
    validator_caption,
    validator_picker,
)

S = st.session_state


HELD_OUT, DATES = "held-out test split", "dates"
DEFAULT_ORIGINS = 100
#: the settings a result depends on, by the label the page shows them with (the stale marker)
INPUT_NAMES = {"runs": "Runs", "baselines": "Baselines", "classical": "Classical", "task": "Task", "validator": "Validator",
               "period": "Test period", "from": "Test from", "to": "Test to", "origins": "Origins",
               "every": "Every k bars", "cadence": "Validator cadence", "paths": "Paths", "seed": "Seed",
               "uncal": "uncalibrated", "data": "sidebar data"}


def _inputs(sel) -> dict:
    """The page's settings a backtest result depends on, as they are now."""
    runs = list(S.get("bt_runs") or [])
    held_out = bool(runs) and S.get("bt_period", HELD_OUT) == HELD_OUT
    return {"runs": runs, "baselines": list(S.get("bt_baselines") or []),
            "classical": list(S.get("bt_classical") or []), "task": S.get("bt_task"),
            "validator": S.get("validator"), "period": HELD_OUT if held_out else DATES,
            "from": None if held_out else str(S.get("bt_from")), "to": None if held_out else str(S.get("bt_to")),
            "origins": S.get("bt_origins"), "every": None if S.get("bt_cadence") else S.get("bt_every"),
            "cadence": bool(S.get("bt_cadence")), "paths": S.get("bt_paths"), "seed": S.get("bt_seed"),
            "uncal": bool(S.get("bt_uncal")),
            "data": None if runs else f"{sel.asset_class}/{sel.symbol} {sel.freq}"}


def _on_run(sel) -> None:
    runs = list(S.bt_runs)
    held_out = bool(runs) and S.bt_period == HELD_OUT
    try:
        spec = BacktestSpec.parse({
            "selection": None if runs else {"asset_class": sel.asset_class, "symbol": sel.symbol, "freq": sel.freq},
            "task": S.bt_task, "models": runs, "baselines": list(S.bt_baselines),
            "classical": [classical_options()[x] for x in S.bt_classical],
            "start": None if held_out else datetime.combine(S.bt_from, time(), tzinfo=UTC),
            "end": None if held_out else datetime.combine(S.bt_to + timedelta(days=1), time(), tzinfo=UTC),
            "uncalibrated": bool(S.bt_uncal),
            "n_origins": int(S.bt_origins), "n_paths": int(S.bt_paths),
            "seed": int(S.bt_seed), "cost_bps": float(S.bt_cost), "threshold_bps": float(S.bt_threshold),
            "seasonality": int(S.bt_season), "validator": S.get("validator"),
            "cadence": bool(S.get("bt_cadence")), "every": None if S.get("bt_cadence") else int(S.bt_every) or None,
        })
    except SynthwbError as exc:
        S.bt_error = exc
        return
    names = runs + [b.label for b in spec.baselines] + [c.label for c in spec.classical]
    label = f"{', '.join(names)} · {spec.task} · validator {spec.validator}"
    bg.remember_inputs("bt_job", _inputs(sel))
    bg.submit("bt_job", "backtest", label, spec=spec)


def _runs_task(info: dict) -> None:
    """The task follows the chosen runs: the one the first of them was trained for."""
    task = next((info[r].get("task") for r in S.bt_runs if info[r].get("task") in TASKS), None)
    if task:
        S.bt_task = task


def _setup(sel) -> None:
    runs = bg.usable_runs()
    info = {r["run_id"]: r for r in runs}
    if "bt_runs" in S:  # runs deleted since the last choice
        S.bt_runs = [r for r in S.bt_runs if r in info]
    c1, c2, c3 = st.columns([2, 1, 1])
    c1.multiselect("Runs", list(info), key="bt_runs", placeholder="none: baselines only", on_change=_runs_task,
                   args=(info,), format_func=lambda r: bg.run_option(info[r]),
                   help="finished runs, and stopped runs scored from their best weights")
    S.setdefault("bt_baselines", [b for b in DEFAULT_BASELINES if b in BASELINES])  # as on the Compare page
    c2.multiselect("Baselines", BASELINES.names(), key="bt_baselines",
                   help="GBM (historical / EWMA vol), GARCH(1,1), bootstrap: scored on the same origins")
    classical_picker(c3, "bt_classical")
    lo, hi = sel.start.date(), (sel.end - timedelta(days=1)).date()
    S.setdefault("bt_from", lo + (hi - lo) / 4)
    S.setdefault("bt_to", hi)
    p1, p2 = st.columns([2, 1])
    p1.radio("Test period", [HELD_OUT, DATES], key="bt_period", horizontal=True, disabled=not S.bt_runs,
             help="held-out: the runs' unseen test split (the latest common one), as the CLI does by default; "
                  "dates: any period, origins inside a run's training or validation split are flagged")
    p2.checkbox("Also score runs uncalibrated", False, key="bt_uncal",
                help="each calibrated run twice: with and without the calibration and the blend with the "
                     "classical forecasters fitted on its validation split (a run whose calibration and blend "
                     "changed nothing is scored once)")
    dates = not S.bt_runs or S.bt_period == DATES
    v1, v2 = st.columns([1, 3])
    version = validator_picker(v1)
    v2.checkbox("Validator cadence", key="bt_cadence",
                help="origins where the chosen version's scored requests fall (one per asset and hour for 24h, "
                     "per 10 minutes for 1h, by its keeper rule), at most 'Origins' of them, instead of evenly "
                     "spread; the live request ids and salt are unknown, so which request of a bucket is kept is "
                     "a faithful draw of the rule (`backtest --cadence`)")
    c = st.columns([1, 1, 1, 1, 1, 1, 1])
    c[0].selectbox("Task", list(TASKS), key="bt_task", format_func=lambda t: task_label(t, version))
    if dates:
        c[1].date_input("Test from", key="bt_from", min_value=lo, max_value=hi)
        c[2].date_input("Test to", key="bt_to", min_value=lo, max_value=hi)
    else:  # greyed: the held-out split the origins are placed in, not the dates kept for "dates"
        held = held_out_range(tuple(S.bt_runs))
        c[1].date_input("Test from", value=held[0] if held else None, key="bt_from_held", disabled=True,
                        help="the first bar of the runs' common held-out test split")
        c[2].date_input("Test to", value=held[1] if held else None, key="bt_to_held", disabled=True,
                        help="the last bar of the runs' common held-out test split (origins stop a task "
                             "horizon before it)")
    c[3].number_input("Origins", 1, 5000, DEFAULT_ORIGINS, key="bt_origins",
                      help="forecast origins (evenly spread); 100 give a mean score within a few percent")
    c[4].number_input("Every k bars", 0, 100_000, 0, key="bt_every", help="0: spread the origins evenly",
                      disabled=bool(S.get("bt_cadence")))
    c[5].number_input("Paths", 10, 10_000, 1000, step=100, key="bt_paths")
    c[6].number_input("Seed", 0, 2**31 - 1, 0, key="bt_seed")
    with st.expander("Metrics settings"):
        a, b, d = st.columns(3)
        a.number_input("Trading cost (bp per side)", 0.0, 100.0, 1.0, key="bt_cost")
        b.number_input("Signal threshold (bp)", 0.0, 1000.0, 0.0, key="bt_threshold")
        d.number_input("MASE/MSIS seasonality (steps)", 1, 10_000, 1, key="bt_season")
    where = ("each run's own data" if S.bt_runs else f"{sel.asset_class}/{sel.symbol} {sel.freq} (sidebar)")
    st.caption(f"Data: {where}. Realised prices come from the finest stored bars, joined by timestamp.")
    busy = bg.busy("bt_job")
    st.button("Run backtest", type="primary", icon=":material/play_arrow:", key="bt_go", on_click=_on_run,
              args=(sel,), disabled=busy or not (S.bt_runs or S.bt_baselines or S.bt_classical))
    err = S.pop("bt_error", None)
    if err is not None:
        state.show_error(err)


def _table(res) -> None:
    summ = res.summary()
    st.dataframe(summ, hide_index=True, width="stretch", key="bt_summary", column_config={
        "mean_score": st.column_config.NumberColumn("mean score", format="%.2f"),
        "median_score": st.column_config.NumberColumn("median", format="%.2f"),
        "vs_best_baseline": st.column_config.NumberColumn("vs best baseline", format="%.4f"),
        "coverage_90": st.column_config.NumberColumn("90% coverage", format="%.3f"),
        "n_refused": st.column_config.NumberColumn("refused by validator", help=(
            "forecasts the Synth validator would refuse once exported (e.g. fewer than 1000 paths, a zero price); "
            "its reason is in the per-origin CSV, column validator")),
    })
    n_in = res.meta.get("n_in_sample") or 0
    if n_in:
        st.warning(f"{n_in} of {len(res.origins)} origins lie before {res.meta['unseen_from'][:16]} UTC, inside a "
                   "run's training or validation split: those scores are in-sample (column `in_sample` in the "
                   "per-origin table and CSV). Choose the held-out test split for honest figures.",
                   icon=":material/warning:")
    cad = res.meta.get("cadence")
    st.caption(f"{validator_caption(res.validator)} · "
               + (f"validator cadence ({cad['n_scored_requests']} scored {cad['asset']} requests, keeper "
                  f"{cad['keeper']}) · " if cad else "")
               + f"{len(res.origins)} origins from {res.origins[0]:%Y-%m-%d %H:%M} to {res.origins[-1]:%Y-%m-%d %H:%M} "
               f"UTC · {res.task.name} task ({res.task.n_terms()} terms) · lower is better · realised "
               f"{res.meta['realised_freq']} bars, coverage {res.meta['realised_coverage']:.1%} · "
               f"{res.meta['elapsed_s']:.1f} s" + (f" · saved to `{res.meta['saved']}`" if res.meta.get("saved") else ""))
    left_out_note(res.meta)


def _fans(res) -> None:
    c1, c2 = st.columns(2)
    model = c1.selectbox("Model", res.models, key="bt_fan_model")
    kept = res.paths.get(model, {})
    i = c2.selectbox("Origin", range(len(res.origins)), key="bt_fan_origin",
                     format_func=lambda k: f"{res.origins[k]:%Y-%m-%d %H:%M} UTC" + (" · paths kept" if k in kept else ""))
    q = res.quantiles.filter((pl.col("model") == model) & (pl.col("origin") == res.origins[i])).sort("step")
    score = res.per_origin.filter((pl.col("model") == model) & (pl.col("origin") == res.origins[i]))["total"][0]
    title = f"{model} · score {score:.1f}" if score is not None else f"{model} · invalid forecast"
    if i not in kept:  # bands from the stored quantiles
        st.plotly_chart(fplots.quantile_fan(q, title=title), width="stretch", key="bt_fan")
        st.caption("Full path sets are kept for the origins marked 'paths kept' (terminal distribution, drift, vol).")
        return
    paths, times = kept[i], q["time"].to_list()
    st.plotly_chart(fplots.fan_chart(paths, times, res.realised[i], title=title), width="stretch", key="bt_fan")
    a, b = st.columns(2)
    a.plotly_chart(eplots.terminal_distribution(paths, res.realised[i][-1], title="Final price"),
                   width="stretch", key="bt_terminal")
    b.plotly_chart(eplots.path_trajectories(paths, times, title="Drift and volatility per step (from the paths)"),
                   width="stretch", key="bt_traj")


def _calibration(res) -> None:
    if res.pit.is_empty():
        st.info("No realised points to check the calibration on.")
        return
    a, b = st.columns(2)
    colors = color_map(res.models)
    a.plotly_chart(eplots.pit_histogram(res.pit, title="PIT histogram (flat = calibrated)", colors=colors),
                   width="stretch", key="bt_pit")
    b.plotly_chart(eplots.coverage_curve(res.coverage_by_level(), title="Coverage by level", colors=colors),
                   width="stretch", key="bt_cov")
    st.caption("Every realised point of every origin: its rank among the simulated prices. A U-shape means paths too "
               "narrow, a hump too wide, a slope a drift bias. Runs marked '(uncalibrated)' are the same weights "
               "without the vol scale / drift shrink fitted on the validation split.")


def _downloads(res) -> None:
    sel = res.selection
    stem = f"backtest_{sel['symbol']}_{res.task.name}".lower()
    c = st.columns(3)
    for col, (label, fn, name) in zip(c, (("Per-origin scores", export.per_origin_csv, "per_origin"),
                                          ("Per-interval breakdown", export.intervals_csv, "intervals"),
                                          ("Quantiles + realised", export.quantiles_csv, "quantiles"))):
        col.download_button(f"{label} CSV", fn(res), f"{stem}_{name}.csv", "text/csv",
                            icon=":material/download:", key=f"bt_dl_{name}")
    st.caption("The same files as `python -m synthwb backtest ... --csv OUT`.")


def _results(res) -> None:
    if res.per_origin.is_empty():
        st.warning("The backtest was stopped before any origin was scored.")
        return
    _table(res)
    _downloads(res)
    tabs = st.tabs(["Fan charts", "Per interval", "Over origins", "Calibration", "GluonTS metrics", "Trading"])
    with tabs[0]:
        _fans(res)
    with tabs[1]:
        st.plotly_chart(fplots.interval_chart(res.intervals, title="Mean CRPS per interval",
                                              colors=color_map(res.models)), width="stretch", key="bt_iv")
    with tabs[2]:
        st.plotly_chart(fplots.score_over_time(res.per_origin, colors=color_map(res.models)), width="stretch",
                        key="bt_time")
    with tabs[3]:
        _calibration(res)
    with tabs[4]:
        st.dataframe(res.gluonts, hide_index=True, width="stretch", key="bt_gluonts")
        st.caption("wQL: mean weighted quantile loss (0.1..0.9); MSE of the mean, MAE/MASE of the median; "
                   "MSIS at 95%; coverage of the central 50/80/90% intervals (GluonTS).")
    with tabs[5]:
        st.dataframe(res.trading, hide_index=True, width="stretch", key="bt_trading")
        st.caption("Long/short/flat on the median forecast return and P(up), held for `holding_steps`, "
                   "costs per side; buy-and-hold over the same periods beside it.")


st.title(":material/query_stats: Backtest")
sel = state.require_selection()
guide(here="app_pages/backtest.py")
_setup(sel)
if S.pop("bt_autostart", False) and S.bt_runs:  # "Backtest this run" on the Train page
    _on_run(sel)
    err = S.pop("bt_error", None)
    if err is not None:
        state.show_error(err)
changed = bg.changed_inputs("bt_job", _inputs(sel), INPUT_NAMES)
result = bg.outcome("bt_job", stopped="Stopped before the end: partial results.", changed=changed)
if result is not None:
    if changed:
        bg.stale_marker(changed, "results", "Run backtest")
    try:
        _results(result)
    except SynthwbError as exc:
        state.show_error(exc)
