"""Compare: runs and baselines on the same origins: leaderboard with paired significance tests,
fan charts side by side, per-interval breakdown, score over time, the Synth reward, CSV downloads.

Draws only: every number comes from synthwb.evaluate.compare (the "compare" job)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import polars as pl
import streamlit as st

from synthwb.charts import forecast as cplots
from synthwb.charts.colors import color_map
from synthwb.core.errors import SynthwbError
from synthwb.evaluate import compare as cmp
from synthwb.forecast.baselines import BASELINES
from ui import jobs as bg
from ui import state
from ui.reward_view import reward_view
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


# ------------------------------------------------------------------------------ setup
HELD_OUT, SIDEBAR = "held-out test split", "sidebar dates"


def _period(sel) -> tuple[datetime | None, datetime | None]:
    """None, None (the engine's default: the runs' latest common unseen test split), or the sidebar's range."""
    if S.get("cmp_runs") and S.get("cmp_period", HELD_OUT) == HELD_OUT:
        return None, None
    return sel.start, sel.end


DEFAULT_ORIGINS = 100
#: the settings a comparison depends on, by the label the page shows them with (the stale marker)
INPUT_NAMES = {"runs": "Runs", "baselines": "Baselines", "classical": "Classical", "task": "Task", "validator": "Validator",
               "origins": "Origins", "paths": "Paths", "seed": "Seed", "assets": "More assets",
               "period": "Test period", "data": "sidebar data"}


def _inputs(sel) -> dict:
    """The page's settings a comparison depends on, as they are now (the benchmark and the test
    re-rank a result without new forecasts: not among them)."""
    start, end = _period(sel)
    return {"runs": list(S.get("cmp_runs") or []), "baselines": list(S.get("cmp_baselines") or []),
            "classical": list(S.get("cmp_classical") or []),
            "task": S.get("cmp_task"), "validator": S.get("validator"), "origins": S.get("cmp_origins"),
            "paths": S.get("cmp_paths"), "seed": S.get("cmp_seed"), "assets": list(S.get("cmp_assets") or []),
            "period": None if start is None else f"{start:%Y-%m-%d} to {end:%Y-%m-%d}",
            "data": f"{sel.asset_class}/{sel.symbol} {sel.freq}"}


def _task_refusal(info: dict[str, dict]) -> str | None:
    """Runs trained for another task than the page's Task, refused before any work with the fix
    on this page: deselect them, or switch Task to theirs."""
    task = S.get("cmp_task")
    other = [(r, bg.run_task(info[r])) for r in S.get("cmp_runs") or []
             if r in info and bg.run_task(info[r]) not in (None, task)]
    if not other:
        return None
    runs_txt = ", ".join(f"`{r}` ({t})" for r, t in other)
    tasks = sorted({t for _, t in other})
    fix = f"switch **Task** to {tasks[0]}" if len(tasks) == 1 else "compare runs of one task at a time"
    return (f"Not compared: {runs_txt} {'was' if len(other) == 1 else 'were'} trained for another task than "
            f"**Task** {task}. Deselect {'it' if len(other) == 1 else 'them'} under **Runs**, or {fix}.")


def _on_compare(sel, info: dict[str, dict]) -> None:
    refusal = _task_refusal(info)
    if refusal:
        S.cmp_error = refusal
        return
    try:
        start, end = _period(sel)
        req = cmp.CompareRequest(
            runs=list(S.cmp_runs), baselines=list(S.cmp_baselines), selection=sel, task=S.cmp_task,
            classical=[classical_options()[x] for x in S.get("cmp_classical") or []],
            start=start, end=end, n_origins=int(S.cmp_origins), n_paths=int(S.cmp_paths), seed=int(S.cmp_seed),
            benchmark=S.get("cmp_bench"), method=S.cmp_method, assets=list(S.get("cmp_assets") or []),
            validator=S.get("validator"))  # the page's validator version (None: the newest)
    except SynthwbError as exc:
        S.cmp_error = exc
        return
    label = f"{', '.join(req.models)} on {', '.join(req.symbols)} {sel.freq}"
    bg.remember_inputs("cmp_job", _inputs(sel))
    bg.submit("cmp_job", "compare", label, request=req)


def _runs_task(info: dict[str, dict]) -> None:
    """The task follows the chosen runs (as on the Backtest page): the first one's target task."""
    task = next((t for r in S.get("cmp_runs") or [] if (t := bg.run_task(info[r])) in ("24h", "1h")), None)
    if task:
        S.cmp_task = task


def _setup(sel, runs: list[dict]) -> None:
    usable = [r for r in runs if r.get("freq") in (None, sel.freq)]  # a model reads bars of its own timeframe
    run_ids = [r["run_id"] for r in usable]
    info = {r["run_id"]: r for r in usable}
    if "cmp_runs" in S:  # runs deleted or on another timeframe since the last choice
        S.cmp_runs = [r for r in S.cmp_runs if r in info]
    c1, c2, c3 = st.columns([2, 1, 1])
    c1.multiselect("Runs", run_ids, key="cmp_runs", placeholder="trained runs and saved ensembles",
                   format_func=lambda r: bg.run_option(info[r]), on_change=_runs_task, args=(info,),
                   help=f"finished runs (and stopped runs, scored from their best weights) on {sel.freq} bars" + (f"; {len(runs) - len(usable)} on other timeframes "
                                                               "are hidden (change the sidebar timeframe)"
                                                               if len(runs) > len(usable) else ""))
    S.setdefault("cmp_baselines", [b for b in DEFAULT_BASELINES if b in BASELINES])  # as on the Backtest page
    c2.multiselect("Baselines", BASELINES.names(), key="cmp_baselines")
    classical_picker(c3, "cmp_classical")
    models = list(S.cmp_runs) + list(S.cmp_baselines) + list(S.cmp_classical)
    c0, c1, c2, c3, c4, c5, c6 = st.columns([1, 1, 1, 1, 1, 2, 1])
    version = validator_picker(c0)
    c1.selectbox("Task", ["24h", "1h"], key="cmp_task", format_func=lambda t: task_label(t, version),
                 help="the Synth validator's 24-hour or 1-hour prompt (terms under the chosen version)")
    c2.number_input("Origins", 2, 2000, DEFAULT_ORIGINS, key="cmp_origins",
                    help="forecast origins spread over the period (as on the Backtest page)")
    c3.number_input("Paths", 10, 5000, 1000, step=100, key="cmp_paths")
    c4.number_input("Seed", 0, 2**31 - 1, 0, key="cmp_seed")
    if S.get("cmp_bench") not in models:  # the benchmark left the selection: back to the first baseline
        S.pop("cmp_bench", None)
    c5.selectbox("Benchmark", models or ["-"], key="cmp_bench",
                 index=models.index(S.cmp_baselines[0]) if S.cmp_baselines else 0, disabled=not models,
                 help="the model the others are measured against; changing it after a comparison re-ranks the "
                      "results without new forecasts")
    c6.selectbox("Test", ["dm", "bootstrap"], key="cmp_method",
                 format_func={"dm": "Diebold-Mariano", "bootstrap": "block bootstrap"}.get)
    inv = state.inventory(str(state.lake_root()))
    others = sorted(set(inv.filter(pl.col("asset_class") == sel.asset_class)["symbol"].to_list()) - {sel.symbol})
    S.cmp_assets = [a for a in S.get("cmp_assets", []) if a in others]
    st.multiselect("More assets for the Synth reward", others, key="cmp_assets",
                   placeholder=f"only {sel.symbol}" if others else f"no other {sel.asset_class} symbol in the lake",
                   disabled=not others, help="the same models are also scored on these symbols (same timeframe and "
                   "period); the leaderboard stays on the sidebar's symbol, the Synth reward runs over every asset "
                   "with the validator's asset weights (editable there)")
    st.radio("Test period", [HELD_OUT, SIDEBAR], key="cmp_period", horizontal=True, disabled=not S.cmp_runs,
             help="held-out: the runs' latest common unseen test split (as the CLI and the Backtest page); "
                  "sidebar: the sidebar's range, with in-sample origins flagged")
    where = ("the runs' held-out test split" if S.cmp_runs and S.cmp_period == HELD_OUT
             else f"{sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d} (sidebar)")
    st.caption(f"Test period: {where} on {sel.asset_class}/{sel.symbol} {sel.freq}. "
               "Every model is scored on the same origins.")
    busy = bg.busy("cmp_job")
    st.button("Compare", type="primary", icon=":material/compare_arrows:", disabled=busy or len(models) < 2,
              on_click=_on_compare, args=(sel, info), key="cmp_go")
    err = S.pop("cmp_error", None)
    if err is not None:
        state.show_error(err)


# ------------------------------------------------------------------------------ results
def _leaderboard(res: cmp.CompareResult) -> None:
    c1, c2, c3 = st.columns([2, 1, 1])
    sort_by = c1.selectbox("Sort by", cmp.LEADERBOARD_METRICS, key="cmp_sort")
    desc = c2.toggle("Descending", key="cmp_desc")
    rel = c3.toggle("Relative to benchmark", key="cmp_rel", value=True)
    cols = (["rank", "model", "rel_mean", "pct_vs_benchmark", "win_rate", "p_value", "n_origins"] if rel else
            ["rank", "model", "mean", "median", "std", "n_origins", "n_invalid", "mean_all"])
    if res.board["note"].str.len_chars().max():
        cols.append("note")  # e.g. "interrupted, best weights at step 40"
    board = res.board.sort(sort_by, descending=desc, nulls_last=True).select(cols)
    st.dataframe(board, hide_index=True, width="stretch", column_config={
        "pct_vs_benchmark": st.column_config.NumberColumn("% vs benchmark", format="%+.2f%%"),
        "win_rate": st.column_config.ProgressColumn("win rate", min_value=0.0, max_value=1.0, format="%.2f"),
        "p_value": st.column_config.NumberColumn("p-value", format="%.4f"),
        "rel_mean": st.column_config.NumberColumn("mean / benchmark", format="%.4f"),
    })
    st.caption(f"{validator_caption(res.validator)} · {res.task} task · "
               f"Benchmark **{res.benchmark}**; {res.n_origins} shared origins (where every model is valid); "
               f"win rate = share of origins scored lower than the benchmark (ties count half); lower scores are "
               f"better. Forecasts overlap h={res.lag} origins (used by the tests).")
    left_out_note(res.backtest.meta)
    c1, c2 = st.columns([2, 3])
    c1.plotly_chart(cplots.relative_bars(res.board), width="stretch", key="cmp_relbars")
    tests = res.tests.filter(pl.col("method") == res.request.method)
    c2.markdown(f"**Paired tests vs {res.benchmark}** ({'Diebold-Mariano, HLN' if res.request.method == 'dm' else 'moving-block bootstrap'})")
    c2.dataframe(tests.select("model", "mean_diff", "ci_low", "ci_high", "p_value", "verdict"), hide_index=True,
                 width="stretch", column_config={"p_value": st.column_config.NumberColumn(format="%.4f")})


def _fans(res: cmp.CompareResult) -> None:
    c1, c2, c3 = st.columns([2, 2, 3])
    how = c1.radio("Origin", ["worst", "best", "random", "date"], horizontal=True, key="cmp_order",
                   format_func={"worst": "worst", "best": "best", "random": "random", "date": "by date"}.get)
    by = c2.selectbox("Ranked by", res.models, index=res.models.index(res.benchmark), key="cmp_by",
                      disabled=how in ("random", "date"))
    order = res.origin_order(how, model=by, seed=int(S.get("cmp_seed", 0)))
    if not order:
        st.info("No origin to show.")
        return
    scores_by = dict(res.per_origin.filter(pl.col("model") == by).select("origin", "total").iter_rows())
    origin = c3.selectbox("Forecast origin", order, key=f"cmp_origin_{how}_{by}",
                          format_func=lambda o: f"{o:%Y-%m-%d %H:%M} UTC · {by} {scores_by.get(o) or float('nan'):.1f}")
    q, scores = res.fan_data(origin)
    st.plotly_chart(cplots.fans_side_by_side(q, res.models, scores=scores, colors=color_map(res.models)),
                    width="stretch", key="cmp_fans")


def _intervals(res: cmp.CompareResult) -> None:
    rel = st.toggle(f"Divide by {res.benchmark}", key="cmp_iv_rel", help="each interval's score / the benchmark's")
    table = res.intervals_vs_benchmark() if rel else res.intervals
    fig = cplots.interval_chart(table, colors=color_map(res.models))
    if rel:
        fig.update_layout(yaxis_title=f"score / {res.benchmark}")
    st.plotly_chart(fig, width="stretch", key="cmp_iv")
    wide = table.pivot(on="model", index="interval", values="score")
    st.dataframe(wide, hide_index=True, width="stretch")


def _over_time(res: cmp.CompareResult) -> None:
    rel = st.toggle(f"Divide by {res.benchmark}", key="cmp_time_rel")
    st.plotly_chart(cplots.score_over_time(res.per_origin, res.models, relative_to=res.benchmark if rel else None,
                                           colors=color_map(res.models)), width="stretch", key="cmp_time")


def _downloads(res: cmp.CompareResult) -> None:
    stem = f"compare_{res.request.selection.symbol}_{res.task}".lower()
    c1, c2, c3 = st.columns(3)
    c1.download_button("Leaderboard CSV", res.board_csv(), f"{stem}_leaderboard.csv", "text/csv",
                       icon=":material/download:", key="cmp_dl_board")
    c2.download_button("Per-origin scores CSV", res.per_origin_csv(), f"{stem}_per_origin.csv", "text/csv",
                       icon=":material/download:", key="cmp_dl_po")
    c3.download_button("Per-interval CSV", res.intervals_csv(), f"{stem}_intervals.csv", "text/csv",
                       icon=":material/download:", key="cmp_dl_iv")
    st.caption("The same tables as `python -m synthwb compare ... --csv OUT`.")


def _results(res: cmp.CompareResult) -> None:
    bench = S.get("cmp_bench", res.benchmark)  # the one Benchmark selector, above
    if bench != res.benchmark and bench in res.models:
        try:  # re-rank against another benchmark: no new forecasts needed
            res = cmp.summarise(replace(res.request, benchmark=bench), res.backtest)
        except SynthwbError as exc:
            state.show_error(exc)
    best = res.board.row(0, named=True)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Shared origins", res.n_origins)
    c2.metric("Best model", best["model"], f"{best['pct_vs_benchmark']:+.2f}% vs {res.benchmark}",
              delta_color="inverse")
    c3.metric("Task", res.task)
    c4.metric("Benchmark", res.benchmark)
    n_in = res.backtest.meta.get("n_in_sample") or 0
    if n_in:
        st.warning(f"{n_in} of {res.n_origins} origins lie before {res.backtest.meta['unseen_from'][:16]} UTC, inside "
                   "a run's training or validation split: in-sample scores (column `in_sample` in the CSV). "
                   "Choose the held-out test split for honest figures.", icon=":material/warning:")
    tabs = st.tabs(["Leaderboard", "Fan charts", "Per interval", "Over time", "Synth reward", "Download"])
    with tabs[0]:
        _leaderboard(res)
    with tabs[1]:
        _fans(res)
    with tabs[2]:
        _intervals(res)
    with tabs[3]:
        _over_time(res)
    with tabs[4]:
        # the version the comparison scored with, else the page's picker (session key "validator")
        reward_view(res.reward_table(), res.task, validator=getattr(res.request, "validator", None)
                    or S.get("validator"))
    with tabs[5]:
        _downloads(res)


# ------------------------------------------------------------------------------ page
st.title(":material/compare_arrows: Compare")
sel = state.require_selection()
runs = bg.usable_runs()

_setup(sel, runs)
changed = bg.changed_inputs("cmp_job", _inputs(sel), INPUT_NAMES)
result = bg.outcome("cmp_job", changed=changed)
if isinstance(result, cmp.CompareResult):
    if changed:
        bg.stale_marker(changed, "results", "Compare")
    _results(result)
st.caption("Ensembles, feature ablation and hyperparameter search are on the Research page.")
