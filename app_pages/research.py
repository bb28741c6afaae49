"""Research: an ensemble builder (equal, custom or fitted weights), feature ablation and
hyperparameter search, each as background jobs whose runs land in models_store.

Draws only: the work is synthwb.research's (the "ensemble-fit", "ablation" and "search" jobs)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.evaluate import compare as cmp
from synthwb.features.featureset import list_featuresets, load_featureset
from synthwb.forecast.baselines import BASELINES
from synthwb.forecast.ensemble import BASELINE_PREFIX, save_ensemble
from synthwb.jobs.adapters import ablation_rows, submit_ablation
from synthwb.jobs.registry import ACTIVE
from synthwb.models import list_specs, preset_names, recommended_preset
from synthwb.research.ablation import ablation_table, feature_groups
from synthwb.research.backend import RayOptions
from synthwb.research.search import parse_space
from synthwb.train import TrainConfig
from ui import jobs as bg
from ui import state
from ui.train_setup import trials_estimate
from ui.widgets import CONTEXT, HELP_CONTEXT, HELP_HORIZON, HORIZON

S = st.session_state


# ------------------------------------------------------------------------------ ensemble builder
def _ens_members() -> list[str]:
    return list(S.get("ens_members") or [])


def _on_fit(sel) -> None:
    members = _ens_members()
    try:
        d0, d1 = S.ens_val
        req = cmp.CompareRequest(
            runs=[m for m in members if not m.startswith(BASELINE_PREFIX)],
            baselines=[m[len(BASELINE_PREFIX):] for m in members if m.startswith(BASELINE_PREFIX)],
            selection=sel, task=S.ens_task, start=datetime.combine(d0, time(), tzinfo=UTC),
            end=datetime.combine(d1 + timedelta(days=1), time(), tzinfo=UTC),
            n_origins=int(S.ens_origins), n_paths=int(S.ens_paths), seed=int(S.ens_seed))
    except (SynthwbError, ValueError) as exc:
        S.ens_error = exc
        return
    bg.submit("ens_job", "ensemble-fit", f"fit {', '.join(members)}", request=req, members=members)
    S.ens_job_members = members


def _on_save(weights: list[float] | None, fit) -> None:
    sel = state.selection()
    try:
        run_id = save_ensemble(S.ens_name, _ens_members(), weights, store=state.store_root(), fit=fit,
                               selection=sel.to_dict() if sel else None)
    except SynthwbError as exc:
        S.ens_error = exc
        return
    S.ens_flash = f"Saved ensemble **{run_id}**: pick it under Runs on the Compare page to compare it."


def _ensemble_builder(sel, runs: list[dict]) -> None:
    options = [r["run_id"] for r in runs] + [BASELINE_PREFIX + b for b in BASELINES.names()]
    if "ens_members" in S:
        S.ens_members = [m for m in S.ens_members if m in options]
    info = {r["run_id"]: r for r in runs}
    st.multiselect("Members", options, key="ens_members", placeholder="two or more runs or baselines",
                   format_func=lambda m: bg.run_option(info[m]) if m in info else m)
    members = _ens_members()
    mode = st.radio("Weights", ["equal", "custom", "fitted"], horizontal=True, key="ens_mode",
                    help="fitted: minimise the mean Synth score of the mixture on a validation period")
    weights, fit = None, None
    if mode == "custom" and members:
        cols = st.columns(min(len(members), 4))
        weights = [cols[i % len(cols)].number_input(m, 0.0, 100.0, 1.0, step=0.1, key=f"ens_w_{m}")
                   for i, m in enumerate(members)]
    elif mode == "fitted":
        a = sel.start.date() if sel.start else datetime.now(UTC).date() - timedelta(days=30)
        b = sel.end.date() if sel.end else datetime.now(UTC).date()
        c1, c2, c3, c4, c5 = st.columns([3, 1, 1, 1, 1])
        c1.date_input("Validation period", value=(a, a + (b - a) / 3), key="ens_val",
                      help="fit on a period the comparison does not test on (e.g. before it)")
        c2.selectbox("Task", ["24h", "1h"], key="ens_task", help="the Synth task the mixture is fitted on")
        c3.number_input("Origins", 2, 200, 20, key="ens_origins")
        c4.number_input("Paths", 10, 5000, 500, step=100, key="ens_paths")
        c5.number_input("Seed", 0, 2**31 - 1, 0, key="ens_seed")
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


# ------------------------------------------------------------------------------ ablation and search
def _training_inputs(prefix: str):
    """Feature set, model, context, horizon and config of every trial, with the Train page's
    defaults (context 256, the target task's horizon, its epochs and target task)."""
    sets = [f["name"] for f in list_featuresets(state.store_root())]
    if not sets:
        st.info("Save a feature set on the Feature Lab page first.")
        return None
    defaults = TrainConfig()
    c1, c2, c3, c4, c5 = st.columns(5)
    fs = c1.selectbox("Feature set", sets, key=f"{prefix}_fs")
    rec = recommended_preset()
    models = [f"preset:{p}" for p in [rec, *[p for p in preset_names() if p != rec]]] + \
        [f"spec:{s}" for s in list_specs(state.store_root())]
    model = c2.selectbox("Model", models, key=f"{prefix}_model",
                         format_func=lambda m: f"{m} (recommended)" if m == models[0] else m)
    task = c3.selectbox("Target task", ["24h", "1h"], key=f"{prefix}_task",
                        index=["24h", "1h"].index(defaults.synth_task) if defaults.synth_task in ("24h", "1h") else 0,
                        help="the Synth task every trial trains for (as on the Train page)")
    ctx = c4.number_input(CONTEXT, 8, 4096, 256, key=f"{prefix}_ctx", help=HELP_CONTEXT + " (as on the Train page)")
    hor = c5.number_input(HORIZON, 0, 4096, 0, key=f"{prefix}_hor",
                          help="0: the target task's horizon on the path grid (as on the Train page). " + HELP_HORIZON)
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", 1, 1000, defaults.epochs, key=f"{prefix}_epochs")
    steps = c2.number_input("Max steps per run (0 = no limit)", 0, 10**6, 200, key=f"{prefix}_steps")
    c3.text_input("Run name prefix", key=f"{prefix}_name", value=prefix)
    config = {"epochs": int(epochs), "synth_task": task, **({"max_steps": int(steps)} if steps else {})}
    return fs, model.split(":", 1)[1], int(ctx), int(hor) or None, config


def _backend_choice(prefix: str) -> None:
    """Where the trials run: this app's process, or Ray Tune trials (1 CPU each) on a Ray cluster."""
    c1, c2 = st.columns([1, 3])
    c1.radio("Run trials on", ["local", "ray"], key=f"{prefix}_backend", horizontal=True,
             help="local: one after another in this app; ray: Ray Tune trials (1 CPU each) on a Ray cluster")
    if S.get(f"{prefix}_backend") == "ray":
        c2.text_input("Ray address", key=f"{prefix}_ray_address",
                      placeholder="empty: start a local Ray; auto; ray://HOST:10001")


def _backend(prefix: str) -> tuple[str, RayOptions | None]:
    if S.get(f"{prefix}_backend") != "ray":
        return "local", None
    return "ray", RayOptions(address=S.get(f"{prefix}_ray_address") or None)


def _on_ablation(fs, model, ctx, hor, config) -> None:
    backend, ray = _backend("abl")
    try:
        jobs = submit_ablation(bg.registry(), S.abl_name, fs, model, config, groups=S.get("abl_groups") or None,
                               store=str(state.store_root()), root=str(state.lake_root()), context=ctx, horizon=hor,
                               backend=backend, ray=ray)
    except SynthwbError as exc:
        S.abl_error = exc
        return
    S.abl_jobs = [j.id for j in jobs]


def _ablation() -> None:
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
    _backend_choice("abl")
    trials_estimate("abl", inputs, len(S.get("abl_groups") or groups) + 1, "run")  # every feature, then one per group
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
    st.dataframe(pl.DataFrame([{"job": j.name, "status": j.status, "progress": j.progress, "error": j.error}
                               for j in jobs], schema_overrides={"error": pl.Utf8}), hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)})
    done = ablation_rows(jobs)
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
    try:
        space = parse_space([ln for ln in S.hp_space.splitlines() if ln.strip()])
    except SynthwbError as exc:
        S.hp_error = exc
        return
    backend, ray = _backend("hp")
    bg.submit("hp_job", "search", f"{S.hp_method} search {S.hp_name}", run_name=S.hp_name,
              featureset=fs, model_spec=model, space=space, method=S.hp_method, n_trials=int(S.hp_trials),
              config=config, keep=int(S.hp_keep), context=ctx, horizon=hor, backend=backend, ray=ray)


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
    _backend_choice("hp")
    trials_estimate("hp", inputs, int(S.get("hp_trials") or 8), "trial")
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
st.title(":material/experiment: Research")
sel = state.require_selection()
runs = bg.usable_runs()

t_ens, t_abl, t_hp = st.tabs(["Ensemble builder", "Feature ablation", "Hyperparameter search"])
with t_ens:
    _ensemble_builder(sel, runs)
with t_abl:
    _ablation()
with t_hp:
    _search()
