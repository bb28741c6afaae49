"""The Train page, driven with AppTest: start a short CPU run, watch it, find the run."""
from __future__ import annotations

import time

import pytest
from apptest_support import APP, plotly_spec, started_job, train_to_the_end
from apptest_support import open_page as open_app
from streamlit.testing.v1 import AppTest
from train_support import held_training_job, make_featureset

from synthwb.jobs.registry import get_registry
from synthwb.models import recommended_preset
from synthwb.store import runs


def _page(lake_env) -> AppTest:
    return open_app("train")


def test_empty_store_says_what_to_do(lake_env):
    at = _page(lake_env)
    assert not at.exception
    assert at.title[0].value == "Train"
    assert any("Feature Lab" in i.value for i in at.info)


def test_train_page_runs_a_short_training_to_completion(lake_env, demo_lake, monkeypatch):
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    at = _page(lake_env)
    assert not at.exception
    at.selectbox(key="tr_fs").select("tiny")
    at.selectbox(key="tr_model").select("preset: dlinear-gbm")
    at.number_input(key="tr_context").set_value(32)
    at.number_input(key="tr_horizon").set_value(8)
    at.selectbox(key="tr_loss").select("crps")  # page mechanics: a short step-CRPS run
    at.text_input(key="tr_name").input("page run")
    at.number_input(key="tr_max_steps").set_value(6)
    at.number_input(key="tr_val_every").set_value(3)
    at.number_input(key="tr_batch_size").set_value(16)
    at.number_input(key="tr_n_paths_train").set_value(16)
    at.number_input(key="tr_n_paths_eval").set_value(32)
    at.selectbox(key="tr_device").select("cpu")
    at.button(key="tr_start").click()
    at.run()
    assert not at.exception, at.exception
    job = started_job(at)
    job_id = job.id
    assert job.name == "page run"
    assert job.wait(300), "training did not finish"
    assert job.status == "finished", job.error
    at.run()
    assert not at.exception
    md = " ".join(m.value for m in at.markdown)
    assert "page-run" in md and "`finished`" in md
    assert any("page-run" in s.value and "finished at step 6" in s.value for s in at.success)
    assert runs.load_run("page-run", lake_env.store).status == "finished"
    assert at.selectbox(key="tr_run").value == "page-run"
    # switch to another page and back: the page switch clears the URL, the job is still watched
    at.switch_page("app_pages/data_explorer.py")
    at.run()
    assert not at.exception
    at.switch_page("app_pages/train.py")
    at.run()
    assert not at.exception
    assert any("page-run" in s.value and "finished at step 6" in s.value for s in at.success)
    # re-attach after a "browser refresh": a fresh session with the job id in the URL
    at2 = AppTest.from_file(APP, default_timeout=120)
    at2.query_params["job"] = job_id
    at2.run()
    at2.switch_page("app_pages/train.py")
    at2.query_params["job"] = job_id
    at2.run()
    assert not at2.exception
    assert any("page-run" in s.value for s in at2.success)


def test_a_bad_pairing_is_refused_in_the_page(lake_env, demo_lake, monkeypatch):
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    n_jobs = len(get_registry().jobs())
    make_featureset(demo_lake, lake_env.store)
    at = _page(lake_env)
    at.selectbox(key="tr_fs").select("tiny")
    at.number_input(key="tr_context").set_value(2000)  # longer than the validation split
    at.number_input(key="tr_horizon").set_value(8)
    at.selectbox(key="tr_loss").select("synth")  # 8 five-minute path steps cannot reach the 24h task's horizon
    at.button(key="tr_start").click()
    at.run()
    assert not at.exception
    assert any("use a horizon of at least 288 steps" in e.value for e in at.error)
    at.selectbox(key="tr_loss").select("crps")
    at.button(key="tr_start").click()
    at.run()
    assert any("fewer than context 2000 + horizon 8" in e.value for e in at.error)
    assert "job" not in at.query_params and len(get_registry().jobs()) == n_jobs
    assert runs.list_runs(lake_env.store) == []


def test_pooled_training_from_the_page(lake_env, demo_lake, monkeypatch):
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    make_featureset(demo_lake, lake_env.store, name="tiny-eth", symbol="ETH")
    at = _page(lake_env)
    at.selectbox(key="tr_fs").select("tiny")
    at.selectbox(key="tr_model").select("preset: dlinear-gbm")
    at.number_input(key="tr_context").set_value(32)
    at.number_input(key="tr_horizon").set_value(8)
    at.selectbox(key="tr_loss").select("crps")
    at.number_input(key="tr_max_steps").set_value(4)
    at.number_input(key="tr_batch_size").set_value(16)
    at.number_input(key="tr_n_paths_train").set_value(16)
    at.number_input(key="tr_n_paths_eval").set_value(32)
    at.selectbox(key="tr_device").select("cpu")
    assert "tiny-eth (ETH 15min)" in at.multiselect(key="tr_pool").options
    at.multiselect(key="tr_pool").set_value(["tiny"])  # its own series: refused, no job
    at.button(key="tr_start").click()
    at.run()
    assert not at.exception
    assert any("the run's own feature set" in e.value for e in at.error)
    assert runs.list_runs(lake_env.store) == []
    at.multiselect(key="tr_pool").set_value(["tiny-eth"])
    at.text_input(key="tr_name").input("pooled")
    train_to_the_end(at)
    info = runs.load_run("pooled", lake_env.store).info
    assert info["config"]["pool"] == ["tiny-eth"]
    assert [p["featureset"] for p in info["pool"]] == ["tiny", "tiny-eth"] and info["pool"][1]["windows"] > 0
    assert any("Pooled training windows: tiny" in c.value for c in at.caption)


def test_stop_then_resume_from_the_page(lake_env, demo_lake, monkeypatch):
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    at = _page(lake_env)
    at.selectbox(key="tr_model").select("preset: dlinear-gbm")
    at.number_input(key="tr_context").set_value(32)
    at.number_input(key="tr_horizon").set_value(8)
    at.selectbox(key="tr_loss").select("crps")  # page mechanics: a short step-CRPS run
    at.text_input(key="tr_name").input("stop me")
    at.number_input(key="tr_epochs").set_value(2000)  # far more than the test will wait for
    at.number_input(key="tr_batch_size").set_value(16)
    at.number_input(key="tr_n_paths_train").set_value(16)
    at.number_input(key="tr_n_paths_eval").set_value(16)
    at.number_input(key="tr_val_every").set_value(20)
    at.number_input(key="tr_log_every").set_value(1)
    at.selectbox(key="tr_device").select("cpu")
    at.button(key="tr_start").click()
    at.run()
    job = started_job(at)
    deadline = time.monotonic() + 120
    while job.progress == 0.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    at.button(key=f"stop_{job.id}").click()
    at.run()
    assert job.wait(120) and job.status == "interrupted"
    at.run()
    assert not at.exception
    run = runs.load_run("stop-me", lake_env.store)
    assert run.status == "interrupted" and run.last["step"] >= 1
    stopped_at = run.last["step"]
    # resume with 1 epoch in total: it finishes the first epoch from where it stopped
    at.selectbox(key="tr_run").select("stop-me")
    at.run()
    at.number_input(key="tr_more_stop-me").set_value(1)
    at.button(key="tr_resume_stop-me").click()
    at.run()
    assert not at.exception
    job2 = started_job(at)
    assert job2.id != job.id
    assert job2.wait(300) and job2.status == "finished", job2.error
    steps = [r["step"] for r in runs.read_metrics("stop-me", lake_env.store, kind="train")]
    assert steps == list(range(1, steps[-1] + 1)) and steps[-1] > stopped_at
    at.run()
    assert not at.exception


def test_defaults_on_a_cpu_are_quick_with_an_estimate_and_the_recommended_one_click_away(lake_env, demo_lake,
                                                                                       monkeypatch):
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store, name="btc-5min", freq="5min", har=True)
    at = _page(lake_env)
    assert not at.exception, at.exception
    length = at.radio(key="tr_profile")
    assert length.value == "quick" and length.options == ["Recommended (measured best)",
                                                          "Quick first model · default here"]
    assert at.number_input(key="tr_max_steps").value == 100 and at.number_input(key="tr_val_every").value == 50
    assert at.selectbox(key="tr_model").value == f"preset: {recommended_preset()}"  # the recommended model, shorter
    est = next(i.value for i in at.info if "Estimate:" in i.value)
    assert "100 steps" in est and "3 validations" in est and "about" in est
    length.set_value("recommended").run()
    assert at.number_input(key="tr_max_steps").value == 0  # all epochs: the measured defaults
    assert at.number_input(key="tr_max_val_batches").value == 4 and at.number_input(key="tr_epochs").value == 4
    est = next(i.value for i in at.info if "Estimate:" in i.value)
    assert "100 steps" not in est and "x 4)" in est
    at.number_input(key="tr_max_steps").set_value(20)
    at.button(key="tr_estimate").click().run()  # applies the form without starting a run
    est = next(i.value for i in at.info if "Estimate:" in i.value)
    assert est.startswith("**Estimate:** 20 steps")
    assert not any(j.kwargs.get("featureset") == "btc-5min" for j in get_registry().jobs("train"))
    assert not at.exception


def test_live_tables_and_tensorboard_like_curves(lake_env, demo_lake, monkeypatch):
    from train_support import CONTEXT, HORIZON, tiny_config

    from synthwb.train import train

    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    train("older run", "tiny", "dlinear-gbm", tiny_config(max_steps=4, loss="crps"), store=lake_env.store,
          root=demo_lake, context=CONTEXT, horizon=HORIZON)
    with held_training_job(lake_env.store, demo_lake, "live run") as job:
        at = _page(lake_env)
        at.session_state["train_watch"] = job.id
        at.run()
        assert not at.exception, at.exception
        total = runs.read_info("live-run", lake_env.store)["total_steps"]
        assert runs.read_info("live-run", lake_env.store)["last"].get("step", 0) < 3  # run.json lags: no checkpoint yet
        # the Jobs table and the Saved-runs table show the job's live state, not "queued" / 0 %
        tables = [d.value for d in at.dataframe]
        jobs = next(t for t in tables if "elapsed_s" in t.columns).set_index("run")  # the saved run id
        assert jobs.loc["live-run", "status"] == "running"
        assert jobs.loc["live-run", "progress"] == pytest.approx(3 / total, abs=1e-4)
        saved = next(t for t in tables if "best_val_score" in t.columns).set_index("run_id")
        assert saved.loc["live-run", "status"] == "running" and saved.loc["live-run", "step"] == 3
        assert saved.loc["live-run", "progress"] == pytest.approx(3 / total, abs=1e-4)
        assert saved.loc["older-run", "status"] == "finished"

        # the curves: a legend, smoothed over the faint raw curve (TensorBoard's default 0.6)
        fig = plotly_spec(at)
        assert fig["layout"]["showlegend"] is True
        loss = [t for t in fig["data"] if t.get("legendgroup") == "train loss"]
        assert [t["meta"]["series"] for t in loss] == ["raw", "smoothed"] and loss[0]["opacity"] == 0.25
        assert loss[1]["x"] == [1, 2, 3]
        at.slider(key="tr_smoothing").set_value(0.0).run()
        loss = [t for t in plotly_spec(at)["data"] if t.get("legendgroup") == "train loss"]
        assert [t["meta"]["series"] for t in loss] == ["raw"]
        # log scale, and a saved run overlaid: a legend entry per run
        at.toggle(key="tr_log_y").set_value(True).run()
        opts = at.multiselect(key="tr_curves_runs").options  # labelled with their data and task
        assert "older-run (BTC 15min bars)" in opts
        assert not [o for o in opts if o.startswith("live-run ")]  # the watched run is drawn already
        at.multiselect(key="tr_curves_runs").set_value(["older-run"]).run()
        assert not at.exception, at.exception
        fig = plotly_spec(at)
        assert fig["layout"]["yaxis"]["type"] == "log"
        assert [t["name"] for t in fig["data"] if t.get("showlegend")] == ["live-run", "older-run"]
        older = next(t for t in fig["data"] if t["meta"]["metric"] == "older-run · train loss")
        assert older["x"] == [r["step"] for r in runs.read_metrics("older-run", lake_env.store, kind="train")]
    at.run()
    assert not at.exception, at.exception
    saved = next(d.value for d in at.dataframe if "best_val_score" in d.value.columns).set_index("run_id")
    best = runs.read_info("live-run", lake_env.store)["best"]["step"]
    assert saved.loc["live-run", "status"] == f"interrupted, best weights at step {best}"


def test_without_a_watched_job_the_newest_run_is_drawn_once(lake_env, demo_lake, monkeypatch):
    from train_support import CONTEXT, HORIZON, tiny_config

    from synthwb.train import train

    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    for name in ("first", "second"):
        train(name, "tiny", "dlinear-gbm", tiny_config(max_steps=3, loss="crps"), store=lake_env.store,
              root=demo_lake, context=CONTEXT, horizon=HORIZON)
    at = _page(lake_env)
    assert not at.exception, at.exception
    assert at.multiselect(key="tr_curves_runs").value == ["second"]
    fig = plotly_spec(at)
    assert fig["layout"]["title"]["text"] == "second"
    at.selectbox(key="tr_run").select("first").run()  # the run actions below draw no second chart
    plotly_spec(at)
