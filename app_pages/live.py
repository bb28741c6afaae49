"""Live: a forward test on the validator's cadence, and how a miner serves forecasts.

Pick runs and baselines, a competition of a validator version and a clock (the wall clock, or a
simulated one over stored history, sped up); the test runs as a background job that outlives
page switches and, from its state on disk, an app restart. The panel re-reads that state every
2 seconds: rolling score per model against the baselines, the competition's reward replay,
coverage, the latest fan charts against the realised path, a warning when a run falls behind
a baseline. Draws only: the numbers come from synthwb.live (the CLI's `synthwb live`)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.forecast.baselines import BASELINES
from synthwb.live.spec import LiveSpec, default_competition
from synthwb.scoring.versions import get_validator
from ui import jobs as bg
from ui import live_view as lv
from ui import state
from ui.widgets import validator_picker

S = st.session_state

st.title("Live")
st.caption("Forward test: the validator's scored requests, forecast as they come and scored with the exact "
           "scorer once their realised window closes. `synthwb live` runs the same from a shell; "
           "`synthwb serve` puts a run in front of a miner's neuron.")

tests = lv.live_tests()
names = [f.name for f in tests]

with st.expander("New forward test", expanded=not names):
    c1, c2 = st.columns(2)
    name = c1.text_input("Name", key="lv_name", value="forward-1")
    validator = validator_picker(c2)
    runs = [r["run_id"] for r in bg.usable_runs()]
    c1, c2 = st.columns(2)
    pick_runs = c1.multiselect("Runs", runs, key="lv_runs")
    pick_base = c2.multiselect("Baselines", BASELINES.names(), default=["gbm"], key="lv_baselines")
    comps = [k for k, c in get_validator(validator).competitions.items() if c.scored]
    c1, c2, c3 = st.columns(3)
    comp = c1.selectbox("Competition", comps, index=comps.index(default_competition(validator)), key="lv_comp")
    assets = c2.multiselect("Assets", list(get_validator(validator).competition(comp).assets), key="lv_assets",
                            help="empty: every asset of the competition the lake holds")
    n_paths = c3.number_input("Paths", 10, 20_000, 1000, step=100, key="lv_paths")
    c1, c2, c3, c4 = st.columns(4)
    clock = c1.radio("Clock", ["simulated", "wall"], key="lv_clock", horizontal=True,
                     help="simulated: replay stored history; wall: real time on the lake kept current")
    sim_from = c2.date_input("Replay from", key="lv_from", value=datetime(2024, 1, 10).date(),
                             disabled=clock != "simulated")
    days = c3.number_input("Days", 0.1, 365.0, 2.0, step=0.5, key="lv_days", disabled=clock != "simulated")
    speed = c4.number_input("Speed (simulated s per s; 0 = as fast as possible)", 0.0, 1e7, 600.0, step=60.0,
                            key="lv_speed", disabled=clock != "simulated")
    if st.button("Start forward test", type="primary", icon=":material/play_arrow:", key="lv_start"):
        start = datetime.combine(sim_from, time(), tzinfo=UTC) if clock == "simulated" else None
        try:
            spec = LiveSpec.parse({
                "name": name, "models": pick_runs, "baselines": pick_base, "validator": validator,
                "competition": comp, "assets": assets or None, "n_paths": int(n_paths), "clock": clock,
                "start": start, "end": start + timedelta(days=float(days)) if start else None,
                "speed": float(speed)})
        except SynthwbError as exc:
            state.show_error(exc)
        else:
            if name in names:
                st.error(f"a forward test named {name!r} exists; pick another name, or resume it below")
            else:
                if lv.start(name, spec.model_dump(mode="json")):
                    S["lv_pick"] = name
                    st.rerun()

if names:
    if S.get("lv_pick") not in names:
        S["lv_pick"] = names[-1]
    pick = st.selectbox("Forward test", names, key="lv_pick")
    lv.panel(pick)
else:
    st.info("No forward test yet: start one above.")
