"""The Live page (AppTest through app.py): start a forward test on the simulated clock, let the
background job finish, see the rolling scores, the reward replay and the fan charts; a test the
app ran before a restart is resumed from disk."""
from __future__ import annotations

from datetime import date

from apptest_support import open_page, wait_jobs

from synthwb.live.engine import run_live
from synthwb.live.state import live_folder


def test_start_a_replay_from_the_page(page_env, demo_lake):
    at = open_page("live")
    assert not at.exception, at.exception
    assert any("No forward test yet" in str(i.value) for i in at.info)
    at.text_input(key="lv_name").set_value("page-test")
    at.multiselect(key="lv_assets").set_value(["BTC"])
    at.number_input(key="lv_paths").set_value(50)
    at.date_input(key="lv_from").set_value(date(2024, 1, 10))
    at.number_input(key="lv_days").set_value(0.25)
    at.number_input(key="lv_speed").set_value(0.0)
    at.button(key="lv_start").click()
    at.run()
    assert not at.exception, at.exception
    wait_jobs(at)
    state = live_folder("page-test", page_env).read()
    assert state["status"] == "finished" and state["owner"] == "app"
    n = sum(r["status"] == "scored" for r in state["requests"].values())
    assert n == 36  # one scored BTC request per 10 minutes over 6 hours
    frames = [d.value for d in at.dataframe]
    roll = next(f for f in frames if "rolling score" in f.columns)
    assert list(roll["model"]) == ["gbm"] and int(roll["requests"][0]) == 36
    assert any("final_share" in f.columns for f in frames)
    assert len(at.get("plotly_chart")) >= 2  # scores over time + a fan chart
    assert [m.value for m in at.metric][:1] == ["36"]


def test_a_test_the_app_ran_is_resumed_after_a_restart(page_env, demo_lake):
    spec = {"name": "was-running", "assets": ["BTC"], "clock": "simulated", "start": "2024-01-10",
            "end": "2024-01-10T02:00", "n_paths": 40}
    import threading

    stop = threading.Event()
    stop.set()  # the app "died" right away: the state on disk says it should run, and no one runs it
    run_live("was-running", spec, root=demo_lake, store=page_env, owner="app", stop_event=stop)
    folder = live_folder("was-running", page_env)
    folder.set_desired("running", owner="app")
    at = open_page("live")
    assert not at.exception, at.exception
    wait_jobs(at)
    state = folder.read()
    assert state["status"] == "finished" and sum(r["status"] == "scored" for r in state["requests"].values()) == 12
