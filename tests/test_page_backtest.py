"""AppTest: the Backtest page runs a baselines-only backtest on the demo lake in a real
background thread, renders the table and charts, and shows the same numbers as the CLI.

Sidebar choices are preset through session_state before the first run (see the AppTest quirk
noted in test_page_data_explorer.py)."""
from __future__ import annotations

import json
import shutil
from datetime import date

import pytest
from apptest_support import DEMO_SIDEBAR, wait_jobs
from apptest_support import open_page as open_app
from streamlit.testing.v1 import AppTest

from synthwb.cli import main


@pytest.fixture
def demo_env(lake_env, demo_lake):
    shutil.rmtree(lake_env.root)
    shutil.copytree(demo_lake, lake_env.root)
    return lake_env


def open_page() -> AppTest:
    at = open_app("backtest", **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    return at


def test_empty_lake_says_so(lake_env):
    at = open_page()
    assert any("empty" in str(i.value) for i in at.info)


def test_baselines_only_backtest_renders_and_matches_cli(demo_env, capsys):
    at = open_page()
    assert at.button(key="bt_go").label == "Run backtest"
    at.multiselect(key="bt_baselines").set_value(["gbm", "bootstrap"])
    at.date_input(key="bt_from").set_value(date(2024, 1, 9))
    at.date_input(key="bt_to").set_value(date(2024, 1, 19))
    at.number_input(key="bt_origins").set_value(2)
    at.number_input(key="bt_paths").set_value(32)
    at.number_input(key="bt_seed").set_value(3)
    at.button(key="bt_go").click()
    at.run()
    assert not at.exception, at.exception
    wait_jobs(at, 300)
    assert not at.error, [e.value for e in at.error]

    tables = [d.value for d in at.dataframe]
    summary = next(t for t in tables if "mean_score" in t.columns)
    # the classical forecasters are in the table by default, as in the CLI's
    assert set(summary["model"]) == {"gbm", "bootstrap", "garch-t", "gjr-garch-t", "egarch-t", "har-rv-t"}
    assert set(summary.loc[summary["model"].str.endswith("-t"), "kind"]) == {"classical"}
    charts = at.get("plotly_chart")
    assert len(charts) >= 4  # fan, terminal, trajectories, intervals, over origins
    assert len(at.get("download_button")) == 3

    rc = main(["backtest", "--asset-class", "crypto", "--symbol", "BTC", "--freq", "5min", "--start", "2024-01-09",
               "--end", "2024-01-20", "--origins", "2", "--n-paths", "32", "--seed", "3",
               "--baseline", "gbm,bootstrap", "--json"])
    assert rc == 0
    cli = {r["model"]: r["mean_score"] for r in json.loads(capsys.readouterr().out)["summary"]}
    page = dict(zip(summary["model"], summary["mean_score"]))
    assert page == pytest.approx(cli, rel=1e-12)


def test_bad_period_shows_a_message_not_a_traceback(demo_env):
    at = open_page()
    at.multiselect(key="bt_baselines").set_value(["gbm"])
    at.multiselect(key="bt_classical").set_value([])
    at.date_input(key="bt_from").set_value(date(2024, 1, 19))
    at.date_input(key="bt_to").set_value(date(2024, 1, 19))
    at.number_input(key="bt_paths").set_value(16)
    at.button(key="bt_go").click()
    at.run()
    wait_jobs(at, 120)
    assert any("no forecast origin" in str(e.value) for e in at.error)


def test_a_trained_run_gives_the_same_numbers_on_the_page_and_the_cli(demo_env, capsys):
    from train_support import make_featureset, tiny_config

    from synthwb.train import train

    make_featureset(demo_env.root, demo_env.store, name="tiny", freq="5min")
    train("page-bt", "tiny", "dlinear-gbm", tiny_config(max_steps=3), store=demo_env.store, root=demo_env.root,
          context=32, horizon=288)
    at = open_page()
    at.multiselect(key="bt_runs").set_value(["page-bt"])
    at.multiselect(key="bt_baselines").set_value(["gbm"])
    at.multiselect(key="bt_classical").set_value([])
    at.number_input(key="bt_origins").set_value(2)
    at.number_input(key="bt_paths").set_value(32)
    at.number_input(key="bt_seed").set_value(3)
    at.checkbox(key="bt_uncal").check()  # off by default; on, the page scores as --uncalibrated does
    at.run()
    # with a run chosen, the period defaults to the run's held-out test split, as the CLI does
    assert at.radio(key="bt_period").value == "held-out test split"
    at.button(key="bt_go").click()
    at.run()
    wait_jobs(at, 300)
    assert not at.error, [e.value for e in at.error]
    assert not at.warning, [w.value for w in at.warning]       # no origin inside the training data
    summary = next(d.value for d in at.dataframe if "mean_score" in d.value.columns)
    # the page scores the run before and after its calibration, as --uncalibrated (one row when
    # the calibration fitted the identity)
    assert {"page-bt", "gbm"} <= set(summary["model"])
    rc = main(["backtest", "--classical", "none", "--run", "page-bt", "--baseline", "gbm", "--origins", "2", "--n-paths", "32",
               "--seed", "3", "--no-save", "--json", "--uncalibrated"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["meta"]["n_in_sample"] == 0
    cli = {r["model"]: r["mean_score"] for r in out["summary"]}
    assert dict(zip(summary["model"], summary["mean_score"])) == pytest.approx(cli, rel=1e-12)

    # dates inside the run's training split: scored, but flagged on the page and in the per-origin table
    at.radio(key="bt_period").set_value("dates").run()
    at.date_input(key="bt_from").set_value(date(2024, 1, 5))
    at.date_input(key="bt_to").set_value(date(2024, 1, 9))
    at.button(key="bt_go").click()
    at.run()
    wait_jobs(at, 300)
    assert any("2 of 2 origins lie before" in w.value for w in at.warning), [w.value for w in at.warning]
    summary = next(d.value for d in at.dataframe if "mean_score" in d.value.columns)
    rc = main(["backtest", "--classical", "none", "--run", "page-bt", "--baseline", "gbm", "--start", "2024-01-05", "--end", "2024-01-10",
               "--origins", "2", "--n-paths", "32", "--seed", "3", "--no-save", "--json", "--uncalibrated"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["in_sample"] for r in out["per_origin"])
    cli = {r["model"]: r["mean_score"] for r in out["summary"]}
    assert dict(zip(summary["model"], summary["mean_score"])) == pytest.approx(cli, rel=1e-12)


def test_the_task_follows_the_run_and_a_run_no_task_fits_is_a_clear_message(demo_env):
    from train_support import make_featureset, tiny_config

    from synthwb.train import train

    make_featureset(demo_env.root, demo_env.store, name="m5", freq="5min")
    make_featureset(demo_env.root, demo_env.store, name="h1", freq="1h")
    # the 1h task: 1-minute paths from 5-minute features; a step-CRPS run on 1h bars: 1-hour paths
    train("for-1h", "m5", "dlinear-gbm", tiny_config(max_steps=2, loss="synth", synth_task="1h"),
          store=demo_env.store, root=demo_env.root, context=32)
    train("hourly", "h1", "dlinear-gbm", tiny_config(max_steps=2), store=demo_env.store, root=demo_env.root,
          context=16, horizon=24)
    at = open_page()
    assert at.selectbox(key="bt_task").value == "24h"
    at.multiselect(key="bt_runs").set_value(["for-1h"]).run()
    assert at.selectbox(key="bt_task").value == "1h"  # the task the run was trained for
    at.multiselect(key="bt_runs").set_value(["hourly"]).run()
    at.selectbox(key="bt_task").set_value("24h")
    at.number_input(key="bt_origins").set_value(2)
    at.number_input(key="bt_paths").set_value(16)
    at.button(key="bt_go").click()
    at.run()
    wait_jobs(at, 120)
    msg = [e.value for e in at.error]
    assert len(msg) == 1 and msg[0].startswith("hourly simulates paths on a 1 h grid, coarser than the 24h task's 5 min step")
    assert "SpecError" not in msg[0]


def test_backtest_this_run_starts_on_the_runs_task(demo_env):
    """What the Train page's "Backtest this run" leaves in the session: the run, its task, start."""
    from train_support import make_featureset, tiny_config

    from synthwb.train import train

    make_featureset(demo_env.root, demo_env.store, name="m5", freq="5min")
    train("quick-one", "m5", "dlinear-gbm", tiny_config(max_steps=2, loss="synth"), store=demo_env.store,
          root=demo_env.root, context=32)
    at = open_app("backtest", **DEMO_SIDEBAR, bt_runs=["quick-one"], bt_task="24h", bt_autostart=True)
    assert not at.exception, at.exception
    wait_jobs(at, 300)
    summary = next(d.value for d in at.dataframe if "mean_score" in d.value.columns)
    assert "quick-one" in set(summary["model"]) and "gbm" in set(summary["model"])
    assert len(at.get("download_button")) == 3  # right under the table, no tab to open first


def test_a_stopped_run_is_picked_and_backtested_from_its_best_weights(demo_env, capsys):
    from train_support import make_featureset, train_stopped

    make_featureset(demo_env.root, demo_env.store, name="tiny5", freq="5min")
    out = train_stopped(demo_env.store, demo_env.root, "stopped bt", featureset="tiny5", horizon=288)
    rid, label = out["run_id"], f"interrupted, best weights at step {out['best_step']}"
    at = open_page()
    picker = at.multiselect(key="bt_runs")
    assert picker.options == [f"{rid} (BTC 5min bars; {label})"]
    picker.set_value([rid])
    at.multiselect(key="bt_baselines").set_value(["gbm"])
    at.multiselect(key="bt_classical").set_value([])
    at.number_input(key="bt_origins").set_value(2)
    at.number_input(key="bt_paths").set_value(32)
    at.checkbox(key="bt_uncal").uncheck()
    at.run()
    at.button(key="bt_go").click()
    at.run()
    wait_jobs(at, 300)
    assert not at.error, [e.value for e in at.error]
    summary = next(d.value for d in at.dataframe if "mean_score" in d.value.columns).set_index("model")
    assert summary.loc[rid, "note"] == label and summary.loc["gbm", "note"] == ""
    # the CLI gives the same scores for it
    assert main(["backtest", "--classical", "none", "--run", rid, "--baseline", "gbm", "--origins", "2", "--n-paths", "32", "--no-save",
                 "--json"]) == 0
    cli = {r["model"]: r["mean_score"] for r in json.loads(capsys.readouterr().out)["summary"]}
    assert summary["mean_score"].to_dict() == pytest.approx(cli, rel=1e-12)


def test_validator_picker_and_cadence_reach_the_engine(demo_env, capsys):
    """The version picked (session key "validator", default the newest) scores the backtest, the task
    box counts its terms, the caption names it; the cadence checkbox places the origins."""
    at = open_page()
    pick = at.selectbox(key="_validator_picker")
    assert pick.value == "2026-09" and pick.options[0].startswith("2026-09")
    assert "synthdataco/synth-subnet@2cfb24b" in pick.help and "mode-network/synth-subnet@ec8a625" in pick.help
    assert "1h (138 terms)" in at.selectbox(key="bt_task").options
    pick.set_value("2026-05")
    at.run()
    assert at.session_state["validator"] == "2026-05"
    assert "1h (121 terms)" in at.selectbox(key="bt_task").options
    at.multiselect(key="bt_baselines").set_value(["gbm"])
    at.multiselect(key="bt_classical").set_value([])
    at.selectbox(key="bt_task").set_value("1h")
    at.date_input(key="bt_from").set_value(date(2024, 1, 10))
    at.date_input(key="bt_to").set_value(date(2024, 1, 10))
    at.number_input(key="bt_origins").set_value(3)
    at.number_input(key="bt_paths").set_value(16)
    at.checkbox(key="bt_cadence").check()
    at.button(key="bt_go").click()
    at.run()
    wait_jobs(at, 300)
    assert not at.error, [e.value for e in at.error]
    captions = " ".join(str(c.value) for c in at.caption)
    assert "scored with validator 2026-05 (mode-network/synth-subnet@ec8a625)" in captions
    assert "validator cadence" in captions and "keeper min-id" in captions
