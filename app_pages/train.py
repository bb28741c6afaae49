"""Train: pick a feature set and a model, start a background training job, watch its curves
live, stop it, resume it; every run lands in models_store/ for Backtest and Compare.

The job runs in a thread owned by the process-wide registry (held with st.cache_resource),
so it survives reruns, page switches and browser refreshes; the watched job's id lives in the
URL (``?job=...``).
"""
from __future__ import annotations

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.core.text import sentence
from synthwb.features.featureset import list_featuresets
from synthwb.jobs.adapters import train_job
from synthwb.jobs.registry import ACTIVE
from synthwb.models import list_specs, preset_names, recommended_preset
from synthwb.store import runs
from synthwb.train.blend import blend_text
from synthwb.train.config import (
    FORM_ADVANCED,
    FORM_MAIN,
    TrainConfig,
    config_from_form,
    config_label,
    config_param,
)
from synthwb.train.gate import gate_text
from synthwb.train.loop import prepare
from synthwb.train.pool import pool_text
from ui import curves as curves_view
from ui import jobs as bg
from ui import state
from ui.getting_started import guide
from ui.train_jobs import (
    STATUS_ICON,
    fmt_s,
    job_history,
    job_label,
    job_step,
    job_task,
    job_text,
    run_of,
)
from ui.train_runs import jobs_list, runs_list
from ui.train_setup import backtest_button, estimate_panel, profile_choice
from ui.widgets import CONTEXT, HELP_CONTEXT, HELP_HORIZON, HORIZON, fields_form, task_label, validator_picker

S = st.session_state


REG = bg.registry()
STORE = str(state.store_root())
ROOT = str(state.lake_root())
def _watch(job_id: str) -> None:
    """Watch a job: its id goes in the URL (survives a refresh) and in the session (survives
    a page switch, which clears the URL's query parameters)."""
    st.query_params["job"] = job_id
    S.train_watch = job_id


def _watched() -> str | None:
    job_id = st.query_params.get("job") or S.get("train_watch")
    if job_id is None:
        return None
    if job_id and st.query_params.get("job") != job_id:
        st.query_params["job"] = job_id  # back from another page: restore the URL
    return job_id


def _run_options() -> list[str]:
    """Saved run ids, newest first (the curves' picker labels them with :func:`ui.jobs.run_option`)."""
    return [r["run_id"] for r in runs.list_runs(STORE)]


def _any_active() -> bool:
    return bool(REG.active("train") + REG.active("moirai"))


def _live(fn, rerun_when_done: bool = True):
    """Draw ``fn`` as a fragment that re-reads the live job state every 2 s while a training job
    runs (the tables never show a stale 0% or 'queued'); once none runs, one full rerun, unless
    the watched job's panel asks for it (several fragments asking at once race in the browser:
    'Bad delta path index', a blank page)."""
    polling = _any_active()

    def body():
        if polling and rerun_when_done and not _any_active():
            st.rerun()
        fn()
    st.fragment(run_every=2 if polling else None)(body)()


# ------------------------------------------------------------------------- live job panel
def live_panel(job_id: str, polling: bool = False) -> None:
    """The watched job's panel; drawn in a polling fragment while the job runs. When it ends the
    fragment asks for one full rerun before drawing anything, and the finished job's panel and
    its buttons are drawn by that full run, outside any fragment (a button drawn by a fragment
    that then reruns the page appears and vanishes under the user's click)."""
    job = REG.find(job_id)
    if job is None:
        st.info(f"Job `{job_id}` is not in this app process (the app was restarted?). "
                "Its run, if it started, is listed under Saved runs below.", icon=":material/info:")
        return
    if polling and job.done:
        st.rerun()  # one full rerun: the lists refresh, polling stops, the finished panel is drawn
    hist = job_history(job, STORE)
    own = run_of(job)
    step, total = job_step(job)
    c1, c2 = st.columns([4, 1])
    c1.markdown(f"#### {STATUS_ICON.get(job.status, '')} {job_label(job)}")
    if job.status in ("queued", "running"):
        c2.button("Stop", key=f"stop_{job.id}", icon=":material/stop:", on_click=job.stop, width="stretch")
    elif job.done:
        c2.button("Close", key=f"close_{job.id}", icon=":material/close:", on_click=_unwatch, width="stretch",
                  help="stop watching this job (its run stays under Saved runs)")
    eta = f" · ETA {fmt_s(job.eta)}" if job.eta is not None else ""
    st.progress(job.progress, text=f"{job_text(job)} · {fmt_s(job.elapsed)} elapsed{eta}")
    trains = [r for r in hist if r.get("kind") == "train"]
    vals = [r for r in hist if r.get("kind") == "val"]
    m = st.columns(5)
    m[0].metric("Step", f"{step}/{total}" if total else step)
    m[1].metric("Train loss", f"{trains[-1]['loss']:.3f}" if trains else "–",
                help=f"mean over the last logged steps (step {trains[-1]['step']})" if trains else None)
    score = [v for v in vals if v.get("val_score") is not None]
    m[2].metric("Val score (task)", f"{score[-1]['val_score']:.1f}" if score else "–",
                help="the target task's exact Synth score on the validation windows (1000 paths; lower is better)")
    m[3].metric("Val 90% coverage", f"{score[-1]['val_coverage_90']:.2f}" if score else "–",
                help="share of realised points inside the paths' 5-95% band (0.90 is calibrated)")
    m[4].metric("Skipped steps", trains[-1].get("skipped_steps", 0) if trains else 0,
                help="steps with a NaN/inf loss or gradient, skipped")
    # the live curves are keyed by the run id they are saved under (never the requested name,
    # which a saved run may carry while this one is saved as "<name>-2")
    live_key = own or f"{job.name} (live)"
    curves_view.curves({live_key: hist}, [r for r in _run_options() if r != own], STORE, key=f"curves_{job.id}")
    if job.status == "failed":
        st.error(bg.error_text(job.error), icon=":material/error:")
        with st.expander("Traceback"):
            st.code(job.traceback or "", language="text")


def finished_actions(job_id: str) -> None:
    """A finished or stopped job's outcome and its "Backtest this run" (a stopped run is scored
    from its best weights, as Backtest accepts it); full runs only, never a fragment."""
    job = REG.find(job_id)
    if job is None or not job.done or job.result is None or job.status == "failed":
        return
    r = job.result
    try:
        run = runs.load_run(r.run_id, STORE)
        usable, label = runs.scoring_state(run.info, run.path)
    except SynthwbError:
        usable, label = False, "deleted"
    text = (f"Run `{r.run_id}` {r.status} at step {r.step}" + (f" ({r.stop_reason})" if r.stop_reason else ""))
    if r.status == "finished":
        st.success(text, icon=":material/check_circle:")
        gated = gate_text(run.info.get("gate"))
        if usable and gated:
            st.caption(sentence(gated) + ".")
        if usable and run.info.get("blend"):
            t = blend_text(run.info["blend"])
            st.caption(sentence(t) + ". Backtest scores the run with its blend; \"Also score runs "
                       "uncalibrated\" there adds the network alone.")
        if usable and run.info.get("pool"):
            st.caption(sentence(pool_text(run.info["pool"])) + ".")
    else:
        st.warning(text + (f"; Backtest scores it from its best weights ({label})" if usable else
                           "; no best weights yet (stopped before its first validation): resume it below"),
                   icon=":material/pause_circle:")
    if usable:
        backtest_button(r.run_id, job_task(job))


def _unwatch() -> None:
    st.query_params.pop("job", None)
    S.train_watch = None


# ------------------------------------------------------------------------- new run form
def new_run_form() -> None:
    saved = {f["name"]: f for f in list_featuresets(STORE)}
    fsets = list(saved)
    if not fsets:
        st.info("No saved feature set yet: build one on the Feature Lab page first.", icon=":material/science:")
        return
    rec = recommended_preset()
    models = [f"preset: {p}" for p in [rec, *[p for p in preset_names() if p != rec]]] + \
        [f"spec: {s}" for s in list_specs(STORE)]
    profile_choice()
    v1, v2 = st.columns([1, 3])
    version = validator_picker(v1, "Validator (trains for)")
    v2.caption(f"The run trains for validator {version}: its task terms ("
               + ", ".join(task_label(t, version) for t in ("24h", "1h"))
               + ") and, for 1h under 2026-09, the volatility term in the loss. The run records it.")
    with st.form("train_form"):
        a, b, c = st.columns(3)
        fs_name = a.selectbox("Feature set", fsets, key="tr_fs")
        model = a.selectbox("Model", models, key="tr_model", help="a preset sized for the feature set, or a saved spec",
                            format_func=lambda m: f"{m} (recommended)" if m == models[0] else m)
        context = a.number_input(CONTEXT, 8, 100_000, 256, key="tr_context",
                                 help=HELP_CONTEXT + " (presets; a saved spec keeps its own)")
        horizon = a.number_input(HORIZON, 0, 100_000, 0, key="tr_horizon",
                                 help="0: the target task's horizon on the path grid (288 five-minute steps for 24h). "
                                      + HELP_HORIZON + " (presets; a saved spec keeps its own)")
        name = a.text_input("Run name", "", key="tr_name", placeholder="default: model-featureset")
        pool = a.multiselect("Pool training with", fsets, key="tr_pool", help=TrainConfig.model_fields["pool"].description
                             + " (other symbols; the same bar size and features; built with the run's --val-start or "
                               "earlier)", format_func=lambda n: f"{n} ({saved[n]['symbol']} {saved[n]['freq']})")
        devices = a.number_input("Processes (DDP)", 1, 64, 1, key="tr_devices",
                                 help="data-parallel processes: gloo on CPU, one GPU each on CUDA; the batch size is "
                                      "per process")
        labels = {n: config_label(n) for n in FORM_MAIN + FORM_ADVANCED}
        main = fields_form([config_param(n) for n in FORM_MAIN], "tr", labels, containers=[b, c])
        with st.expander("Advanced"):
            advanced = fields_form([config_param(n) for n in FORM_ADVANCED], "tr", labels)
        s1, s2 = st.columns([1, 5])
        start = s1.form_submit_button("Start training", type="primary", icon=":material/play_arrow:", key="tr_start")
        s2.form_submit_button("Update estimate", icon=":material/timer:", key="tr_estimate",
                              help="apply the settings above to the estimate below without starting")
    if not start:
        estimate_panel(fs_name, model, busy=bool(REG.active("train") + REG.active("moirai")))
        return
    kind, _, mname = model.partition(": ")
    try:
        _, _, cfg = prepare(fs_name, mname, {**config_from_form({**main, **advanced}), "validator": version, "pool": pool}, STORE,
                            context=context, horizon=horizon or None)
    except SynthwbError as exc:
        state.show_error(exc)
        return
    run_name = name.strip() or f"{mname}-{fs_name}"
    job = REG.submit("train", run_name, train_job, name=run_name, featureset=fs_name, model_spec=mname,
                     config=cfg, store=STORE, root=ROOT, context=int(context), horizon=int(horizon) or None,
                     devices=int(devices))
    _watch(job.id)
    st.rerun()


# ------------------------------------------------------------------------- page
st.title("Train")
guide(here="app_pages/train.py")
job_id = _watched()
if job_id:
    if (j := REG.find(job_id)) is not None and j.status in ACTIVE:
        st.fragment(run_every=2)(live_panel)(job_id, True)
    else:
        live_panel(job_id)
        finished_actions(job_id)
    st.divider()
elif ids := _run_options():
    st.subheader("Training curves")
    S.setdefault("tr_curves_runs", ids[:1])  # the newest run, until the user picks others
    curves_view.curves({}, ids, STORE, key="curves_saved")
with st.expander("New training run", expanded=not job_id, icon=":material/add:"):
    new_run_form()
st.subheader("Jobs")
_live(lambda: jobs_list(REG, _watch), rerun_when_done=not job_id)
st.subheader("Saved runs")
_live(lambda: runs_list(REG, STORE, ROOT, _watch), rerun_when_done=not job_id)
