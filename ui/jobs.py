"""Background jobs as the pages see them: the process-wide registry, the watched job of a
session-state key, and its live progress panel (a fragment that never blocks the page)."""
from __future__ import annotations

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.jobs.adapters import JOB_KINDS
from synthwb.jobs.registry import ACTIVE, Job, JobRegistry, get_registry
from synthwb.store import usable_runs as usable_run_list

from . import state


@st.cache_resource
def registry() -> JobRegistry:
    """The one registry of this process: jobs survive reruns, page switches and refreshes."""
    return get_registry()


def job(key: str) -> Job | None:
    """The job whose id is stored in ``st.session_state[key]``, if it still exists."""
    return registry().find(st.session_state.get(key))


def submit(key: str, kind: str, label: str, **kwargs) -> Job:
    """Start the job kind ``kind`` (:data:`synthwb.jobs.adapters.JOB_KINDS`) in the background with
    this app's lake and store, and watch it under ``session_state[key]``."""
    fn = JOB_KINDS.get(kind).obj
    j = registry().submit(kind, label, fn, root=str(state.lake_root()), store=str(state.store_root()), **kwargs)
    st.session_state[key] = j.id
    return j


def busy(key: str) -> bool:
    return (j := job(key)) is not None and j.status in ACTIVE


def usable_runs() -> list[dict]:
    """The runs Backtest, Compare and Research can score: finished ones, and interrupted ones
    with best weights (labelled so, :func:`synthwb.store.runs.scoring_state`). An unreadable
    store is shown as a message, with no runs."""
    try:
        return usable_run_list(state.store_root())
    except SynthwbError as exc:
        state.show_error(exc)
        return []


def run_task(r: dict) -> str | None:
    """The task a run was trained for: its ``synth_task`` when it trained on that task's score
    (the synth loss); a step-CRPS run records the default task but was fitted to none."""
    return r.get("task") if r.get("loss") in (None, "synth") else None


def run_details(r: dict) -> str:
    """``BTC 5min bars · 1h task``: the data a run reads and the task it was trained for (a run
    on 5-minute bars trained for the 1h task is a 1h model; its bars alone would mislead)."""
    data = f"{r.get('symbol') or 'any'} {r.get('freq') or ''}".strip() + " bars"
    return f"{data} · {task} task" if (task := run_task(r)) else data


def run_option(r: dict) -> str:
    """A run as every picker, header and table shows it: its saved id (``...-2`` when the name
    was taken), its data and target task, and its status when not plain finished."""
    label = r.get("label") or (r.get("status") if r.get("status") != "finished" else "")
    return f"{r['run_id']} ({run_details(r)}" + (f"; {label})" if label and label != "finished" else ")")


def progress_bar(j: Job, key: str) -> None:
    c1, c2 = st.columns([6, 1])
    eta = f" · about {j.eta:.0f} s left" if j.eta else ""
    c1.progress(j.progress, text=f"{j.message or j.status}{eta}")
    c2.button("Stop", key=f"{key}_stop", icon=":material/stop:", on_click=j.stop)


@st.fragment(run_every=1.0)
def progress(key: str) -> None:
    """Live progress of the job in ``session_state[key]``; a full rerun once it ends."""
    j = job(key)
    if j is None:
        return
    if j.status not in ACTIVE:
        st.rerun()
    progress_bar(j, key)


def _error_classes(cls=SynthwbError) -> set[str]:
    return {cls.__name__} | {n for sub in cls.__subclasses__() for n in _error_classes(sub)}


def error_text(error: str | None) -> str:
    """A failed job's message for the page: a user error (a SynthwbError, which names the
    problem and the fix) without its class name; anything else as it is."""
    if not error:
        return "the job failed"
    name, sep, rest = error.partition(": ")
    return rest if sep and name in _error_classes() else error


def remember_inputs(key: str, inputs: dict) -> None:
    """Keep the settings a job of ``key`` is started with, to tell later whether its result
    still matches the page (:func:`changed_inputs`)."""
    st.session_state[f"{key}_inputs"] = dict(inputs)


def changed_inputs(key: str, inputs: dict, names: dict[str, str] | None = None) -> list[str]:
    """The settings (by their label in ``names``) that differ now from those the watched job
    of ``key`` was started with; empty when they match or nothing was recorded."""
    then = st.session_state.get(f"{key}_inputs")
    if then is None:
        return []
    return [(names or {}).get(k, k) for k in dict.fromkeys([*inputs, *then]) if then.get(k) != inputs.get(k)]


STALE = "Stale"


def stale_marker(changed: list[str], what: str, button: str) -> None:
    """The marker over a result whose settings have changed since it was computed."""
    st.warning(f"**{STALE}:** these {what} are for earlier settings; changed since: {', '.join(changed)}. "
               f"Press **{button}** to update them.", icon=":material/history:")


def outcome(key: str, stopped: str = "Stopped before the end.", changed: list[str] | None = None):
    """The watched job's result once it has ended, else None: while it runs its progress
    panel is drawn here, and a failure is shown with its message. ``changed``: the settings
    changed since the job started (:func:`changed_inputs`); a failure of those old settings is
    no longer shown as this page's error."""
    j = job(key)
    if j is None:
        return None
    if j.status in ACTIVE:
        progress(key)
        return None
    if j.status == "failed":
        if changed:
            st.caption(f":material/history: The last run failed with earlier settings (changed since: "
                       f"{', '.join(changed)}).")
        else:
            st.error(error_text(j.error), icon=":material/error:")
        return None
    if j.status == "interrupted":
        st.warning(stopped, icon=":material/stop_circle:")
    return j.result
