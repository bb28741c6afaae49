"""Compare: runs and baselines on the same origins: leaderboard with paired significance tests,
fan charts side by side, per-interval breakdown, score over time, CSV downloads; an ensemble
builder; feature ablation and hyperparameter search as background jobs.

Draws only: every number comes from synthwb.evaluate.compare / ensemble / search."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.evaluate import compare as cmp
from synthwb.charts import compare as cplots
from synthwb.forecast.baselines import BASELINES
from synthwb.forecast.ensemble import BASELINE_PREFIX
from synthwb.jobs.registry import ACTIVE
from ui import jobs as bg
from ui import state

S = st.session_state


# ------------------------------------------------------------------------------ setup
def _compare_job(progress, stop_event, *, request, root, store):
    try:
        return cmp.compare(request, root=root, store=store, progress=progress, stop_event=stop_event)
    except SynthwbError:
        if stop_event.is_set():
            return None  # the user pressed Stop: the job ends as interrupted, not failed
        raise


HELD_OUT, SIDEBAR = "held-out test split", "sidebar dates"


def _period(sel) -> tuple[datetime | None, datetime | None]:
    """None, None (the engine's default: the runs' latest common unseen test split), or the sidebar's range."""
    if S.get("cmp_runs") and S.get("cmp_period", HELD_OUT) == HELD_OUT:
        return None, None
    return sel.start, sel.end


def _on_compare(sel) -> None:
    try:
        start, end = _period(sel)
        req = cmp.CompareRequest(
            runs=list(S.cmp_runs), baselines=list(S.cmp_baselines), selection=sel, task=S.cmp_task,
            start=start, end=end, n_origins=int(S.cmp_origins), n_paths=int(S.cmp_paths), seed=int(S.cmp_seed),
            benchmark=S.get("cmp_bench"), method=S.cmp_method)
    except SynthwbError as exc:
        S.cmp_error = exc
        return
    label = f"{', '.join(req.models)} on {sel.symbol} {sel.freq}"
    bg.submit("cmp_job", "compare", label, _compare_job, request=req)


def _setup(sel, runs: list[dict]) -> None:
    usable = [r for r in runs if r.get("freq") in (None, sel.freq)]  # a model reads bars of its own timeframe
    run_ids = [r["run_id"] for r in usable]
    info = {r["run_id"]: r for r in usable}
    if "cmp_runs" in S:  # runs deleted or on another timeframe since the last choice
        S.cmp_runs = [r for r in S.cmp_runs if r in info]
    c1, c2 = st.columns(2)
    c1.multiselect("Runs", run_ids, key="cmp_runs", placeholder="trained runs and saved ensembles",
                   format_func=lambda r: f"{r} ({info[r].get('symbol') or 'any'} {info[r].get('freq') or ''})".strip(),
                   help=f"finished runs on {sel.freq} bars" + (f"; {len(runs) - len(usable)} on other timeframes "
                                                               "are hidden (change the sidebar timeframe)"
                                                               if len(runs) > len(usable) else ""))
    S.setdefault("cmp_baselines", [b for b in ("gbm", "bootstrap") if b in BASELINES])
    c2.multiselect("Baselines", BASELINES.names(), key="cmp_baselines")
    models = list(S.cmp_runs) + list(S.cmp_baselines)
    c1, c2, c3, c4, c5, c6 = st.columns([1, 1, 1, 1, 2, 1])
    c1.selectbox("Task", ["24h", "1h"], key="cmp_task", help="Synth task preset (DESIGN.md §5)")
    c2.number_input("Origins", 2, 2000, 20, key="cmp_origins", help="forecast origins spread over the period")
    c3.number_input("Paths", 10, 5000, 1000, step=100, key="cmp_paths")
    c4.number_input("Seed", 0, 2**31 - 1, 0, key="cmp_seed")
    c5.selectbox("Benchmark", models or ["-"], key="cmp_bench",
                 index=models.index(S.cmp_baselines[0]) if S.cmp_baselines else 0, disabled=not models)
    c6.selectbox("Test", ["dm", "bootstrap"], key="cmp_method",
                 format_func={"dm": "Diebold-Mariano", "bootstrap": "block bootstrap"}.get)
    st.radio("Test period", [HELD_OUT, SIDEBAR], key="cmp_period", horizontal=True, disabled=not S.cmp_runs,
             help="held-out: the runs' latest common unseen test split (as the CLI and the Backtest page); "
                  "sidebar: the sidebar's range, with in-sample origins flagged")
    where = ("the runs' held-out test split" if S.cmp_runs and S.cmp_period == HELD_OUT
             else f"{sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d} (sidebar)")
    st.caption(f"Test period: {where} on {sel.asset_class}/{sel.symbol} {sel.freq}. "
               "Every model is scored on the same origins.")
    busy = bg.busy("cmp_job")
    st.button("Compare", type="primary", icon=":material/compare_arrows:", disabled=busy or len(models) < 2,
              on_click=_on_compare, args=(sel,), key="cmp_go")
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
    board = res.board.sort(sort_by, descending=desc, nulls_last=True).select(cols)
    st.dataframe(board, hide_index=True, width="stretch", column_config={
        "pct_vs_benchmark": st.column_config.NumberColumn("% vs benchmark", format="%+.2f%%"),
        "win_rate": st.column_config.ProgressColumn("win rate", min_value=0.0, max_value=1.0, format="%.2f"),
        "p_value": st.column_config.NumberColumn("p-value", format="%.4f"),
        "rel_mean": st.column_config.NumberColumn("mean / benchmark", format="%.4f"),
    })
    st.caption(f"Benchmark **{res.benchmark}**; {res.n_origins} shared origins (where every model is valid); "
               f"win rate = share of origins scored lower than the benchmark (ties count half); lower scores are "
               f"better. Forecasts overlap h={res.lag} origins (used by the tests).")
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
    st.plotly_chart(cplots.fans_side_by_side(q, res.models, scores=scores), width="stretch", key="cmp_fans")


def _intervals(res: cmp.CompareResult) -> None:
    rel = st.toggle(f"Divide by {res.benchmark}", key="cmp_iv_rel", help="each interval's score / the benchmark's")
    table = res.intervals_vs_benchmark() if rel else res.intervals
    fig = cplots.interval_breakdown(table)
    if rel:
        fig.update_layout(yaxis_title=f"score / {res.benchmark}")
    st.plotly_chart(fig, width="stretch", key="cmp_iv")
    wide = table.pivot(on="model", index="interval", values="score")
    st.dataframe(wide, hide_index=True, width="stretch")


def _over_time(res: cmp.CompareResult) -> None:
    rel = st.toggle(f"Divide by {res.benchmark}", key="cmp_time_rel")
    st.plotly_chart(cplots.score_over_time(res.per_origin, res.models, relative_to=res.benchmark if rel else None),
                    width="stretch", key="cmp_time")


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
    bench = S.get("cmp_bench_after", res.benchmark)
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
    c4.selectbox("Benchmark", res.models, index=res.models.index(res.benchmark), key="cmp_bench_after")
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
        from ui.reward_view import reward_view

        reward_view(res.backtest.per_origin.filter(pl.col("model").is_in(res.models)), res.task,
                    res.request.selection.symbol)
    with tabs[5]:
        _downloads(res)


# ------------------------------------------------------------------------------ ensemble builder
def _fit_job(progress, stop_event, *, request, members, root, store):
    try:
        return cmp.fit_ensemble(request, members, root=root, store=store, progress=progress, stop_event=stop_event)
    except SynthwbError:
        if stop_event.is_set():
            return None
        raise


def _ens_members() -> list[str]:
    return list(S.get("ens_members") or [])


def _on_fit(sel) -> None:
    members = _ens_members()
    try:
        d0, d1 = S.ens_val
        req = cmp.CompareRequest(
            runs=[m for m in members if not m.startswith(BASELINE_PREFIX)],
            baselines=[m[len(BASELINE_PREFIX):] for m in members if m.startswith(BASELINE_PREFIX)],
            selection=sel, task=S.cmp_task, start=datetime.combine(d0, time(), tzinfo=timezone.utc),
            end=datetime.combine(d1 + timedelta(days=1), time(), tzinfo=timezone.utc),
            n_origins=int(S.ens_origins), n_paths=int(S.ens_paths), seed=int(S.cmp_seed))
    except (SynthwbError, ValueError) as exc:
        S.ens_error = exc
        return
    bg.submit("ens_job", "ensemble-fit", f"fit {', '.join(members)}", _fit_job, request=req, members=members)
    S.ens_job_members = members


def _on_save(weights: list[float] | None, fit) -> None:
    from synthwb.forecast.ensemble import save_ensemble

    sel = state.selection()
    try:
        run_id = save_ensemble(S.ens_name, _ens_members(), weights, store=state.store_root(), fit=fit,
                               selection=sel.to_dict() if sel else None)
    except SynthwbError as exc:
        S.ens_error = exc
        return
    S.ens_flash = f"Saved ensemble **{run_id}**: pick it under Runs above to compare it."


def _ensemble_builder(sel, runs: list[dict]) -> None:
    options = [r["run_id"] for r in runs] + [BASELINE_PREFIX + b for b in BASELINES.names()]
    if "ens_members" in S:
        S.ens_members = [m for m in S.ens_members if m in options]
    st.multiselect("Members", options, key="ens_members", placeholder="two or more runs or baselines")
    members = _ens_members()
    mode = st.radio("Weights", ["equal", "custom", "fitted"], horizontal=True, key="ens_mode",
                    help="fitted: minimise the mean Synth score of the mixture on a validation period")
    weights, fit = None, None
    if mode == "custom" and members:
        cols = st.columns(min(len(members), 4))
        weights = [cols[i % len(cols)].number_input(m, 0.0, 100.0, 1.0, step=0.1, key=f"ens_w_{m}")
                   for i, m in enumerate(members)]
    elif mode == "fitted":
        a = sel.start.date() if sel.start else datetime.now(timezone.utc).date() - timedelta(days=30)
        b = sel.end.date() if sel.end else datetime.now(timezone.utc).date()
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.date_input("Validation period", value=(a, a + (b - a) / 3), key="ens_val",
                      help="fit on a period the comparison does not test on (e.g. before it)")
        c2.number_input("Origins", 2, 200, 20, key="ens_origins")
        c3.number_input("Paths", 10, 5000, 500, step=100, key="ens_paths")
        st.button("Fit weights", icon=":material/tune:", on_click=_on_fit, args=(sel,), disabled=len(members) < 2,
                  key="ens_fit")
        fitted = bg.outcome("ens_job")
        if fitted is not None and S.get("ens_job_members") == members:
            fit, weights = fitted, fitted.weights
            st.dataframe(pl.DataFrame({"member": members, "weight": fitted.weights,
                                       "alone": fitted.member_scores}), hide_index=True)
            st.caption(f"Mixture score {fitted.score:.2f} vs equal weights {fitted.equal_score:.2f} on "
                       f"{fitted.n_origins} validation origins.")
    c1, c2 = st.columns([3, 1])
    c1.text_input("Ensemble name", key="ens_name", value="ensemble")
    need_fit = mode == "fitted" and fit is None
    c2.button("Save ensemble", type="primary", icon=":material/save:", key="ens_save",
              disabled=len(members) < 2 or need_fit, on_click=_on_save, args=(weights, fit))
    err = S.pop("ens_error", None)
    if err is not None:
        state.show_error(err)
    msg = S.pop("ens_flash", None)
    if msg:
        st.success(msg, icon=":material/check_circle:")


# ------------------------------------------------------------------------------ research jobs
def _training_inputs(prefix: str):
    from synthwb.features.featureset import list_featuresets
    from synthwb.models import list_specs, preset_names

    sets = [f["name"] for f in list_featuresets(state.store_root())]
    if not sets:
        st.info("Save a feature set on the Feature Lab page first.")
        return None
    c1, c2, c3, c4 = st.columns(4)
    fs = c1.selectbox("Feature set", sets, key=f"{prefix}_fs")
    models = [f"preset:{p}" for p in preset_names()] + [f"spec:{s}" for s in list_specs(state.store_root())]
    model = c2.selectbox("Model", models, key=f"{prefix}_model")
    ctx = c3.number_input("Context (bars)", 8, 4096, 64, key=f"{prefix}_ctx")
    hor = c4.number_input("Horizon (path steps)", 1, 4096, 288, key=f"{prefix}_hor",
                          help="steps of the path grid; the default synth loss needs the whole task horizon (288 for 24h)")
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", 1, 1000, 3, key=f"{prefix}_epochs")
    steps = c2.number_input("Max steps per run (0 = no limit)", 0, 10**6, 200, key=f"{prefix}_steps")
    c3.text_input("Run name prefix", key=f"{prefix}_name", value=prefix)
    config = {"epochs": int(epochs), **({"max_steps": int(steps)} if steps else {})}
    return fs, model.split(":", 1)[1], int(ctx), int(hor), config


def _on_ablation(fs, model, ctx, hor, config) -> None:
    from synthwb.research.search import submit_ablation

    try:
        jobs = submit_ablation(bg.registry(), S.abl_name, fs, model, config, groups=S.get("abl_groups") or None,
                               store=str(state.store_root()), root=str(state.lake_root()), context=ctx, horizon=hor)
    except SynthwbError as exc:
        S.abl_error = exc
        return
    S.abl_jobs = [j.id for j in jobs]


def _ablation() -> None:
    from synthwb.research.search import feature_groups
    from synthwb.features.featureset import load_featureset

    inputs = _training_inputs("abl")
    if inputs is None:
        return
    fs, model, ctx, hor, config = inputs
    try:
        groups = list(feature_groups(load_featureset(fs, state.store_root()).feature_spec))
    except SynthwbError as exc:
        state.show_error(exc)
        return
    st.multiselect("Groups to remove (one at a time)", groups, default=groups, key="abl_groups")
    st.button("Run ablation", icon=":material/science:", on_click=_on_ablation, args=inputs, key="abl_go")
    err = S.pop("abl_error", None)
    if err is not None:
        state.show_error(err)
    jobs = [j for j in (bg.registry().find(i) for i in S.get("abl_jobs", [])) if j is not None]
    if any(j.status in ACTIVE for j in jobs):
        _ablation_live()
    elif jobs:
        _ablation_tables(jobs)


def _ablation_tables(jobs) -> None:
    from synthwb.research.search import ablation_table

    st.dataframe(pl.DataFrame([{"job": j.name, "status": j.status, "progress": j.progress, "error": j.error}
                               for j in jobs], schema_overrides={"error": pl.Utf8}), hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)})
    done = [j.result for j in jobs if j.status == "finished" and j.result]
    if done:
        st.dataframe(ablation_table(done), hide_index=True, width="stretch", key="abl_table")
        st.caption("delta = validation CRPS without the group minus with every feature: positive means the group helped.")


@st.fragment(run_every=2.0)
def _ablation_live() -> None:
    jobs = [j for j in (bg.registry().find(i) for i in S.get("abl_jobs", [])) if j is not None]
    if not any(j.status in ACTIVE for j in jobs):
        st.rerun()
    _ablation_tables(jobs)


def _on_search(fs, model, ctx, hor, config) -> None:
    from synthwb.research.search import parse_space, search_job

    try:
        space = parse_space([ln for ln in S.hp_space.splitlines() if ln.strip()])
    except SynthwbError as exc:
        S.hp_error = exc
        return
    bg.submit("hp_job", "search", f"{S.hp_method} search {S.hp_name}", search_job, run_name=S.hp_name,
              featureset=fs, model_spec=model, space=space, method=S.hp_method, n_trials=int(S.hp_trials),
              config=config, keep=int(S.hp_keep), context=ctx, horizon=hor)


def _search() -> None:
    inputs = _training_inputs("hp")
    if inputs is None:
        return
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
    c1.text_area("Search space (one per line: PATH=LOW:HIGH[:log|:int] or PATH=A,B,C)",
                 "config.lr=1e-4:1e-2:log\nspec.d_model=16,32,64", key="hp_space", height=100)
    c2.selectbox("Method", ["tpe", "random", "grid"], key="hp_method",
                 format_func={"tpe": "Optuna TPE", "random": "random", "grid": "grid"}.get)
    c3.number_input("Trials", 1, 500, 8, key="hp_trials")
    c4.number_input("Keep best", 1, 100, 3, key="hp_keep", help="best trial runs kept in models_store")
    st.button("Start search", icon=":material/manage_search:", on_click=_on_search, args=inputs, key="hp_go")
    err = S.pop("hp_error", None)
    if err is not None:
        state.show_error(err)
    job = bg.job("hp_job")
    if job is None:
        return
    if job.status in ACTIVE:
        _trials_live()
        return
    _trials_table(job)
    res = bg.outcome("hp_job")
    if res is not None and res.best is not None:
        st.success(f"Best trial {res.best.number}: val CRPS {res.best.value:.4f}; kept runs: {', '.join(res.kept)}",
                   icon=":material/emoji_events:")


def _trials_table(job) -> None:
    trials = [m for m in job.metrics if "trial" in m]
    if trials:
        st.dataframe(pl.DataFrame(trials, infer_schema_length=None), hide_index=True, width="stretch")


@st.fragment(run_every=2.0)
def _trials_live() -> None:
    job = bg.job("hp_job")
    if job is None or job.status not in ACTIVE:
        st.rerun()
    bg.progress_bar(job, "hp_job")
    _trials_table(job)


# ------------------------------------------------------------------------------ page
st.title(":material/compare_arrows: Compare")
sel = state.require_selection()
try:
    runs = bg.finished_runs()
except SynthwbError as exc:
    state.show_error(exc)
    runs = []

_setup(sel, runs)
result = bg.outcome("cmp_job")
if isinstance(result, cmp.CompareResult):
    _results(result)

st.divider()
t_ens, t_abl, t_hp = st.tabs(["Ensemble builder", "Feature ablation", "Hyperparameter search"])
with t_ens:
    _ensemble_builder(sel, runs)
with t_abl:
    _ablation()
with t_hp:
    _search()
