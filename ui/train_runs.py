"""Train page: the Jobs table and the Saved runs panel (resume, rename, delete)."""
from __future__ import annotations

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.core.text import sentence
from synthwb.jobs.adapters import JOB_KINDS
from synthwb.jobs.registry import ACTIVE
from synthwb.store import runs
from synthwb.train import TrainConfig
from synthwb.train.blend import blend_text
from synthwb.train.gate import gate_text
from synthwb.train.pool import pool_text
from ui import jobs as bg
from ui import state
from ui.train_jobs import job_run, job_step, job_task, job_text, run_of


def jobs_list(REG, _watch) -> None:
    jobs = REG.jobs("train") + REG.jobs("moirai")
    if not jobs:
        st.caption("No training jobs in this app process yet.")
        return
    rows = []
    for j in jobs:
        step, total = job_step(j)
        rows.append({"id": j.id, "run": job_run(j), "task": job_task(j), "status": j.status,
                     "progress": round(j.progress, 4), "step": f"{step}/{total}" if total else step,
                     "message": job_text(j), "elapsed_s": round(j.elapsed, 1), "error": j.error})
    st.dataframe(rows, hide_index=True,
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                                "run": st.column_config.TextColumn("run", help="the run id it is saved under")})
    ids = [j.id for j in jobs]
    by_id = {j.id: j for j in jobs}
    cur = st.query_params.get("job")
    # keyed by the watched job: the picker shows it again after a switch (a finished job is not
    # left selected once another is watched), and a new job's first choice is itself
    labels = {i: f"{i} · {job_run(by_id[i])}" for i in ids}
    # keyed by the watched job and the labels: a label changes once a job knows the run id it is
    # saved under ("x (starting)" -> "x-2"), and a widget whose option labels change loses its value
    sig = abs(hash(tuple(labels.values()))) % 10**8
    pick = st.selectbox("Watch job", ids, index=ids.index(cur) if cur in ids else 0, key=f"tr_watch_{cur}_{sig}",
                        format_func=labels.get)
    if pick != cur and st.button("Watch", key="tr_watch_btn", icon=":material/visibility:"):
        _watch(pick)
        st.rerun()


def live_rows(REG, rows: list[dict]) -> list[dict]:
    """Saved runs with the live state of the jobs training them (run.json is written at
    checkpoints only): status, step and progress as the job reports them; a stopped run that
    Backtest and Compare score from its best weights says so."""
    live = {}
    for j in REG.jobs("train") + REG.jobs("moirai"):
        if (rid := run_of(j)) is not None and (j.status in ACTIVE or rid not in live):
            live[rid] = j
    out = []
    for r in rows:
        j = live.get(r["run_id"])
        r = {**r, "status": r["label"] if r.get("usable") else r["status"]}
        if j is not None and j.status in ACTIVE:
            r.update(status=j.status, progress=j.progress, step=job_step(j)[0])
        elif j is not None and j.done and j.result is not None and getattr(j.result, "step", None) is not None:
            r["step"] = j.result.step  # the final step (run.json's "last" is the last checkpoint's)
        out.append(r)
    return out


def runs_list(REG, STORE: str, ROOT: str, _watch) -> None:
    rows = runs.list_runs(STORE)
    if not rows:
        st.caption(f"No saved runs in `{STORE}` yet.")
        return
    cols = ("run_id", "status", "progress", "task", "model", "featureset", "symbol", "freq", "step",
            "best_val_score", "best_val_coverage_90", "created")
    st.dataframe([{k: r.get(k) for k in cols} for r in live_rows(REG, rows)], hide_index=True,
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                                "status": st.column_config.TextColumn("status", width="large")})
    # labelled with its data and task, not its status: a label that changes when a job ends would
    # lose the choice (the table above shows the status)
    summaries = {r["run_id"]: r for r in rows}
    rid = st.selectbox("Run", list(summaries), key="tr_run",
                       format_func=lambda r: f"{r} ({bg.run_details(summaries[r])})")
    try:
        run = runs.load_run(rid, STORE)
    except SynthwbError as exc:
        state.show_error(exc)
        return
    busy = any(j.kwargs.get("name") == rid or (j.result is None and j.name == rid) for j in REG.active("train") + REG.active("moirai"))
    busy = busy or run.status in ACTIVE
    info = run.info
    st.markdown(f"**{run.run_id}** · `{run.status}`" + (f" · {info.get('stop_reason')}" if info.get("stop_reason") else "")
                + f" · step {run.last.get('step', 0)} / {info.get('total_steps', '?')}")
    notes = [t for t in (pool_text(info.get("pool")), gate_text(info.get("gate")), blend_text(info.get("blend"))) if t]
    if notes:
        st.caption(". ".join(sentence(t) for t in notes) + ".")
    if run.error:
        st.error(run.error, icon=":material/error:")
        with st.expander("Traceback"):
            st.code(info.get("traceback") or "", language="text")
    a, b, c = st.columns(3)
    can_resume = run.status in ("interrupted", "failed", "finished") and run.has_weights("last") and not busy
    cfg = info.get("finetune_config") if run.kind == "moirai" else info.get("config")
    more = a.number_input("Epochs (total) for resume", 1, 100_000, int((cfg or {}).get("epochs") or TrainConfig().epochs),
                          key=f"tr_more_{rid}")
    if a.button("Resume", key=f"tr_resume_{rid}", disabled=not can_resume, icon=":material/play_arrow:"):
        kind = "moirai" if run.kind == "moirai" else "train"  # each kind of run resumes in its own job
        job = REG.submit(kind, rid, JOB_KINDS.get(kind).obj, name=rid, featureset=None, config={"epochs": int(more)},
                         store=STORE, root=ROOT, resume=True, **({} if kind == "moirai" else {"model_spec": None}))
        _watch(job.id)
        st.rerun()
    new = b.text_input("New name", key=f"tr_rename_{rid}")
    if b.button("Rename", key=f"tr_rename_btn_{rid}", disabled=busy or not new):
        try:
            runs.rename_run(rid, new, STORE)
            st.rerun()
        except SynthwbError as exc:
            state.show_error(exc)
    sure = c.checkbox("Yes, delete this run", key=f"tr_del_ok_{rid}")
    if c.button("Delete", key=f"tr_del_{rid}", disabled=busy or not sure, icon=":material/delete:"):
        try:
            runs.delete_run(rid, STORE)
            st.rerun()
        except SynthwbError as exc:
            state.show_error(exc)
