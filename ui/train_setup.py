"""Train page helpers for a first run: the training-length choice (quick on a CPU, the
recommended defaults one click away), the time estimate shown before Start, and the button
that takes a finished run to the Backtest page."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.store.featuresets import FILE, featureset_folder
from synthwb.train.config import (
    FORM_ADVANCED,
    FORM_MAIN,
    PROFILES,
    TrainConfig,
    config_from_form,
    config_param,
    profile_overrides,
)
from synthwb.train.estimate import format_seconds

from . import state

S = st.session_state
PROFILE_KEY = "tr_profile"
PREFIX = "tr"  # the form's widget keys are tr_<field>
# an estimate times the machine as it is then; another process starting or ending changes it,
# so a cached one is kept for minutes, not an hour
ESTIMATE_TTL_S = 300


def _has_gpu() -> bool:
    from synthwb.core.device import resolve_device

    return resolve_device("auto").type != "cpu"


def _form_value(name: str, value):
    """A TrainConfig value as the form's widget holds it (None in an optional number is 0)."""
    return 0 if value is None and config_param(name).kind in (int, float) else value


def _apply(profile: str) -> None:
    """Put the profile's config into the form's widgets (every field, so nothing lingers)."""
    cfg = TrainConfig.parse(profile_overrides(profile))
    for name in FORM_MAIN + FORM_ADVANCED:
        S[f"{PREFIX}_{name}"] = _form_value(name, getattr(cfg, name))


def _on_profile() -> None:
    _apply(S[PROFILE_KEY])


def profile_choice() -> str:
    """The training-length radio above the form; its first value is quick on a CPU and the
    recommended defaults on a GPU. Returns the chosen profile."""
    default = "recommended" if _has_gpu() else "quick"
    if PROFILE_KEY not in S:
        S[PROFILE_KEY] = default
        _apply(default)
    names = list(PROFILES)
    st.radio("Training length", names, key=PROFILE_KEY, horizontal=True, on_change=_on_profile,
             format_func=lambda p: PROFILES[p]["label"] + (" · default here" if p == default else ""))
    chosen = S[PROFILE_KEY]
    note = PROFILES[chosen]["help"]
    if chosen == "quick":
        note += (". The page starts here on a machine without a GPU; the command line's `train` keeps the "
                 "recommended defaults (`train --profile quick` for this one).")
    st.caption(note)
    return chosen


def _featureset_stamp(name: str) -> float:
    try:
        return (featureset_folder(name, state.store_root()) / FILE).stat().st_mtime
    except (OSError, SynthwbError):
        return 0.0


@st.cache_data(ttl=ESTIMATE_TTL_S, max_entries=32, show_spinner=False)
def _estimate(store: str, root: str, fs_name: str, stamp: float, model: str, config_json: str, context: int,
              horizon: int) -> dict:
    from synthwb.train.estimate import estimate_training

    est = estimate_training(fs_name, model, json.loads(config_json), store=store, root=root, context=context,
                            horizon=horizon or None, leave_one_core=True)
    return {**est.to_dict(), "text": est.text(), "timed_at": datetime.now(UTC).strftime("%H:%M")}


def form_config() -> dict:
    """The config the form holds now (its last submitted values; the profile's before any)."""
    values = {n: S[f"{PREFIX}_{n}"] for n in FORM_MAIN + FORM_ADVANCED if f"{PREFIX}_{n}" in S}
    out = config_from_form(values)
    if S.get("validator"):  # the page's validator picker (the version the run trains for)
        out["validator"] = S["validator"]
    return out


def estimate_panel(fs_name: str | None, model: str | None, busy: bool) -> None:
    """Steps and seconds the form's run would take, measured on this machine (a few real steps,
    a validation batch, the calibration), before Start. Cached per setup; not measured while a
    job trains (the two would share the CPU and both figures would be wrong)."""
    if not fs_name or not model:
        return
    name = model.partition(": ")[2]
    context = int(S.get(f"{PREFIX}_context", 256))
    horizon = int(S.get(f"{PREFIX}_horizon", 0))
    config_json = json.dumps(form_config(), sort_keys=True, default=str)
    key = (str(state.store_root()), str(state.lake_root()), fs_name, _featureset_stamp(fs_name), name,
           config_json, context, horizon)
    if busy:
        st.caption(":material/timer: Estimate: measured when no training job is running.")
        return
    try:
        with st.spinner("Timing a few training steps on this machine for the estimate..."):
            est = _estimate(*key)
    except SynthwbError as exc:
        st.warning(f"This setup cannot train: {exc}", icon=":material/warning:")
        return
    st.info(f"**Estimate:** {est['text']}. Timed on this machine at {est.get('timed_at', '?')} UTC, with the "
            "load it had then: a few seconds of real steps, a validation batch and the calibration, for "
            "the settings as last applied (**Update estimate** after changing them); the run's ETA replaces it "
            "once it starts.", icon=":material/timer:")


def backtest_button(run_id: str, task) -> None:
    """Open the Backtest page with this run chosen, on its target task, and start it there."""
    if st.button("Backtest this run", key=f"tr_bt_{run_id}", type="primary", icon=":material/query_stats:",
                 help="scores the run on its held-out test split beside the baselines (Backtest page defaults)"):
        S["bt_runs"] = [run_id]
        if isinstance(task, str):
            S["bt_task"] = task
        S["bt_autostart"] = True
        st.switch_page("app_pages/backtest.py")


def trials_estimate(prefix: str, inputs, n_runs: int, unit: str) -> None:
    """The time of one trial, measured on this machine as the Train page measures a run, times
    the number of trials; on request (timing takes a few seconds)."""
    fs, model, ctx, hor, config = inputs
    c1, c2 = st.columns([1, 4], vertical_alignment="center")
    if not c1.button("Estimate time", key=f"{prefix}_est", icon=":material/timer:"):
        c2.caption(f"{n_runs} {unit}s; **Estimate time** times one on this machine before you start.")
        return
    try:
        with st.spinner("Timing a few training steps on this machine..."):
            est = _estimate(str(state.store_root()), str(state.lake_root()), fs, 0.0, model,
                                  json.dumps(config, sort_keys=True), ctx, hor or 0)
    except SynthwbError as exc:
        state.show_error(exc)
        return
    one = est["seconds"]
    c2.info(f"**Estimate:** one {unit} about {format_seconds(one)} ({est['text']}); {n_runs} {unit}s one after "
            f"another about {format_seconds(one * n_runs)}.", icon=":material/timer:")
