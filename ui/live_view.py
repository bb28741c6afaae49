"""The Live page's Streamlit side: resume the app's forward tests after a restart, start one as a
background job, and the live panel (a fragment that re-reads the test's state from disk)."""
from __future__ import annotations

import time

import polars as pl
import streamlit as st

from synthwb.charts import forecast as fplots
from synthwb.core.errors import SynthwbError
from synthwb.live import report
from synthwb.live.job import resumable
from synthwb.live.state import LiveFolder, list_live, live_folder

from . import jobs as bg
from . import state

JOB_KEY = "lv_job"


@st.cache_resource
def _resumed(store: str) -> list[str]:
    """Once per app process and store: submit the forward tests the app ran before it stopped."""
    out = []
    for name in resumable(store):
        bg.registry().submit("live", f"forward test {name}", bg.JOB_KINDS.get("live").obj, name=name,
                             root=str(state.lake_root()), store=store)
        out.append(name)
    return out


def resume_live_tests() -> list[str]:
    """Called from app.py on every run: cheap after the first (cached per process)."""
    try:
        return _resumed(str(state.store_root()))
    except SynthwbError:
        return []


def live_tests() -> list[LiveFolder]:
    try:
        return list_live(state.store_root())
    except SynthwbError as exc:
        state.show_error(exc)
        return []


def start(name: str, spec: dict | None) -> bool:
    """Submit the job and wait (briefly) for its state file, so the rerun that follows lists it."""
    j = bg.submit(JOB_KEY, "live", f"forward test {name}", name=name, spec=spec)
    folder = live_folder(name, state.store_root())
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and not j.done and not (spec is None or folder.exists()):
        time.sleep(0.05)
    if j.status == "failed":
        st.error(bg.error_text(j.error), icon=":material/error:")
        return False
    return True


def stop(name: str) -> None:
    live_folder(name, state.store_root()).ask_stop()
    for j in bg.registry().active("live"):
        if j.kwargs.get("name") == name:
            j.stop()


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


@st.fragment(run_every=2.0)
def panel(name: str) -> None:
    """Everything about one forward test, re-read from disk every 2 seconds."""
    folder = live_folder(name, state.store_root())
    try:
        st_ = folder.read()
    except SynthwbError as exc:
        st.info(str(exc))
        return
    info = folder.status(st_)
    spec = folder.spec(st_)
    running = info["running"]
    c = st.columns([2, 1, 1, 1, 1])
    now = (info["now"] or "-")[:16].replace("T", " ")
    c[0].markdown(f"**{name}** · {':green[running]' if running else info['status']} · {spec.clock} clock"
                  + (f" ×{spec.speed:g}" if spec.clock == "simulated" and spec.speed else "")
                  + f"  \n{spec.comp().label}, validator {spec.validator} · now {now} UTC")
    c[1].metric("scored", info["n_scored"])
    c[2].metric("pending", info["n_pending"])
    c[3].metric("dropped", info["n_dropped"])
    if running:
        c[4].button("Stop", key=f"lv_stop_{name}", icon=":material/stop:", on_click=stop, args=(name,))
    elif info["status"] != "finished":
        c[4].button("Resume", key=f"lv_resume_{name}", icon=":material/play_arrow:", on_click=start, args=(name, None))
    if info.get("error"):
        st.error(info["error"], icon=":material/error:")
    if info.get("update_error"):
        st.warning(info["update_error"], icon=":material/sync_problem:")
    if info.get("n_skipped"):
        st.caption(f"{info['n_skipped']} request(s) not forecast; the last because {info['skipped_reason']}")
    roll = report.rolling_scores(st_)
    for w in report.behind_baselines(roll):
        st.warning(w, icon=":material/trending_down:")
    if roll.is_empty():
        st.info("No request has closed yet: the table fills as the requests' realised windows close.")
        return
    st.subheader("Rolling score (lower is better)")
    st.caption(f"The validator's rolling average over the last {spec.comp().window_days:g} days of scored "
               "requests, asset-weighted; coverage: share of realised points inside the 50% / 90% bands.")
    st.dataframe(roll.rename({"rolling_score": "rolling score", "n_requests": "requests", "n_invalid": "invalid",
                              "coverage_50": "coverage 50%", "coverage_90": "coverage 90%"}).drop("window_days"),
                 hide_index=True, use_container_width=True, key=f"lv_roll_{name}")
    rew = report.reward_replay(st_)
    tabs = st.tabs(["Reward replay", "Scores over time", "Latest fan charts", "Requests"])
    with tabs[0]:
        if rew is None or "error" in rew:
            st.info((rew or {}).get("error", "nothing scored yet"))
        else:
            st.caption(f"{rew['competition']} under validator {rew['validator']}, the forward test's models as "
                       f"its only miners; the competition pays {rew['share_of_emissions']:.3g} of miner emissions.")
            st.dataframe(rew["summary"].select("miner", "mean_score", "mean_prompt_score", "final_share",
                                               "mean_share", "expected_share", "n_requests", "n_invalid"),
                         hide_index=True, use_container_width=True)
    scores = report.scores_frame(st_)
    with tabs[1]:
        st.plotly_chart(fplots.score_over_time(scores, title="score per request"), use_container_width=True,
                        key=f"lv_sot_{name}")
    with tabs[2]:
        for ch in report.latest_charts(folder, st_, n=2):
            fig = fplots.fans_side_by_side(ch["quantiles"], list(ch["scores"]),
                                           title=f"{ch['asset']} from {ch['start_time'][:16]}", scores=ch["scores"])
            st.plotly_chart(fig, use_container_width=True, key=f"lv_fan_{name}_{ch['key']}")
    with tabs[3]:
        wide = scores.pivot(on="model", index=["key", "asset", "t0"], values="total").sort("t0", descending=True) \
            if not scores.is_empty() else pl.DataFrame()
        st.dataframe(wide.head(200), hide_index=True, use_container_width=True, key=f"lv_req_{name}")
