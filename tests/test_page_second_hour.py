"""The pages after a first run (issue 24, "In the browser"): one run label everywhere, results
marked stale when their settings change, refusals naming the page's control, the Train overlay
keyed by run id, the Moirai page offline, the charts' legends and colours, the defaults."""
from __future__ import annotations

import polars as pl
from apptest_support import DEMO_SIDEBAR, open_page, plotly_spec, wait_jobs
from train_support import CONTEXT, HORIZON, held_training_job, make_featureset, tiny_config


def _texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


# ----------------------------------------------------------------------------- one run label
def test_a_run_label_names_its_saved_id_data_task_and_status():
    from ui.jobs import run_option

    assert run_option({"run_id": "m-2", "symbol": "BTC", "freq": "5min", "task": "1h", "label": "finished"}) \
        == "m-2 (BTC 5min bars · 1h task)"
    assert run_option({"run_id": "m", "symbol": "BTC", "freq": "1h", "task": None,
                       "label": "interrupted, best weights at step 4"}) \
        == "m (BTC 1h bars; interrupted, best weights at step 4)"


def test_pickers_show_the_saved_name_and_the_target_task(page_env, demo_lake):
    from synthwb.train import train

    make_featureset(demo_lake, page_env, name="m5", freq="5min")
    for _ in range(2):  # the second is saved as "for-1h-2"
        train("for-1h", "m5", "dlinear-gbm", tiny_config(max_steps=2, loss="synth", synth_task="1h"),
              store=page_env, root=demo_lake, context=32)
    at = open_page("backtest", **DEMO_SIDEBAR)
    opts = at.multiselect(key="bt_runs").options
    assert sorted(opts) == ["for-1h (BTC 5min bars · 1h task)", "for-1h-2 (BTC 5min bars · 1h task)"]
    at = open_page("compare", **DEMO_SIDEBAR)
    assert "for-1h-2 (BTC 5min bars · 1h task)" in at.multiselect(key="cmp_runs").options
    at = open_page("train", **DEMO_SIDEBAR)
    assert "for-1h-2 (BTC 5min bars · 1h task)" in at.selectbox(key="tr_run").options
    saved = next(d.value for d in at.dataframe if "best_val_score" in d.value.columns)
    assert set(saved["task"]) == {"1h"}


# ----------------------------------------------------------------------------- Train page
def test_overlaying_a_saved_run_named_like_the_live_job_keeps_the_live_curves(lake_env, demo_lake, monkeypatch):
    from synthwb.train import train

    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    train("live run", "tiny", "dlinear-gbm", tiny_config(max_steps=4, loss="crps"), store=lake_env.store,
          root=demo_lake, context=CONTEXT, horizon=HORIZON)
    with held_training_job(lake_env.store, demo_lake, "live run") as job:  # saved as live-run-2
        at = open_page("train")
        at.session_state["train_watch"] = job.id
        at.run()
        assert not at.exception, at.exception
        header = [m.value for m in at.markdown if m.value.startswith("####")][0]
        assert "live-run-2" in header and "running" in header
        assert at.multiselect(key="tr_curves_runs").options == ["live-run (BTC 15min bars)"]
        at.multiselect(key="tr_curves_runs").set_value(["live-run"]).run()
        fig = plotly_spec(at)
        assert [t["name"] for t in fig["data"] if t.get("showlegend")] == ["live-run-2", "live-run"]
        live = next(t for t in fig["data"] if t["meta"]["metric"] == "live-run-2 · train loss")
        assert live["x"][-1] == 3  # the live job's rows, not the saved run's
        jobs = next(d.value for d in at.dataframe if "elapsed_s" in d.value.columns)
        # the registry is process-wide: jobs of earlier tests may be listed too
        jobs = jobs[jobs["id"] == job.id].reset_index(drop=True)
        assert list(jobs["run"]) == ["live-run-2"]
        # one step count: the tile, the Jobs table and the Saved-runs table agree
        tile = next(m.value for m in at.metric if m.label == "Step")
        saved = next(d.value for d in at.dataframe if "best_val_score" in d.value.columns).set_index("run_id")
        assert str(tile).split("/")[0] == str(jobs["step"][0]).split("/")[0] == str(saved.loc["live-run-2", "step"])
    at.run()
    assert not at.exception, at.exception
    # a stopped run: its status line says how it ended (no "validating"), and it can be backtested
    assert not any("validating" in str(p.proto.text) for p in at.get("progress"))
    assert any("interrupted at step" in str(p.proto.text) for p in at.get("progress"))
    assert [b for b in at.button if b.label == "Backtest this run"]
    close = next(b for b in at.button if b.label == "Close")
    close.click().run()
    assert not at.exception and not [m for m in at.markdown if m.value.startswith("####")]


# ----------------------------------------------------------------------------- Backtest page
def test_backtest_defaults_and_a_stale_marker_when_the_settings_change(page_env, demo_lake):
    at = open_page("backtest", **DEMO_SIDEBAR)
    assert at.checkbox(key="bt_uncal").value is False
    assert at.number_input(key="bt_origins").value == 100
    assert at.multiselect(key="bt_baselines").value == ["gbm", "gbm_ewma", "garch", "bootstrap"]
    at.multiselect(key="bt_baselines").set_value(["gbm"])
    at.number_input(key="bt_origins").set_value(2)
    at.number_input(key="bt_paths").set_value(16)
    at.button(key="bt_go").click().run()
    wait_jobs(at, 120)
    assert not [w for w in at.warning if "Stale" in w.value]
    at.selectbox(key="bt_task").set_value("1h").run()
    stale = [w.value for w in at.warning if "Stale" in w.value]
    assert stale and "Task" in stale[0] and "Run backtest" in stale[0]


def test_the_greyed_test_range_is_the_held_out_split(page_env, demo_lake):
    from synthwb.features.featureset import load_featureset
    from synthwb.train import train

    make_featureset(demo_lake, page_env, name="m5", freq="5min")
    train("r", "m5", "dlinear-gbm", tiny_config(max_steps=2, loss="synth"), store=page_env, root=demo_lake, context=32)
    at = open_page("backtest", **DEMO_SIDEBAR)
    at.multiselect(key="bt_runs").set_value(["r"]).run()
    test = load_featureset("m5", page_env).splits(demo_lake)["test"]
    a, b = at.date_input(key="bt_from_held"), at.date_input(key="bt_to_held")
    assert a.disabled and b.disabled
    assert (a.value, b.value) == (test["ts"].min().date(), test["ts"].max().date())


def test_an_identity_calibration_adds_no_uncalibrated_twin(page_env, demo_lake):
    from synthwb.evaluate.backtest import _identity

    assert _identity(None) and _identity({"vol_scale": 1.0, "drift_shrink": 1.0, "bucket_scales": [1.0, 1.0]})
    assert not _identity({"vol_scale": 1.1, "drift_shrink": 1.0})
    assert not _identity({"vol_scale": 1.0, "drift_shrink": 1.0, "bucket_scales": [1.0, 0.9]})


# ----------------------------------------------------------------------------- Compare page
def test_compare_refuses_a_run_of_another_task_naming_the_page_controls(page_env, demo_lake):
    from synthwb.train import train

    make_featureset(demo_lake, page_env, name="m5", freq="5min")
    train("for-1h", "m5", "dlinear-gbm", tiny_config(max_steps=2, loss="synth", synth_task="1h"),
          store=page_env, root=demo_lake, context=32)
    at = open_page("compare", **DEMO_SIDEBAR)
    assert at.number_input(key="cmp_origins").value == 100
    assert at.multiselect(key="cmp_baselines").value == ["gbm", "gbm_ewma", "garch", "bootstrap"]  # as Backtest
    at.multiselect(key="cmp_runs").set_value(["for-1h"]).run()
    assert at.selectbox(key="cmp_task").value == "1h"  # the task follows the run, as on Backtest
    at.selectbox(key="cmp_task").set_value("24h").run()
    at.button(key="cmp_go").click().run()
    err = _texts(at, "error")
    assert len(err) == 1 and "`for-1h` (1h)" in err[0] and "Deselect it under **Runs**" in err[0] \
        and "switch **Task** to 1h" in err[0], err
    assert "longer horizon" not in err[0]
    # a refusal is not kept once the run is deselected
    at.multiselect(key="cmp_runs").set_value([]).run()
    assert not _texts(at, "error")


def test_compare_drops_an_old_failure_and_marks_old_results_stale(page_env, demo_lake):
    at = open_page("compare", **DEMO_SIDEBAR)
    at.multiselect(key="cmp_baselines").set_value(["gbm", "bootstrap"])
    at.number_input(key="cmp_origins").set_value(2)
    at.number_input(key="cmp_paths").set_value(16)
    at.button(key="cmp_go").click().run()
    wait_jobs(at, 120)
    assert not at.error and not [w for w in at.warning if "Stale" in w.value]
    at.selectbox(key="cmp_task").set_value("1h").run()
    stale = [w.value for w in at.warning if "Stale" in w.value]
    assert stale and "Task" in stale[0]


# ----------------------------------------------------------------------------- Moirai offline
def test_moirai_offline_gives_advice_and_downloads_once_per_press(page_env, demo_lake, monkeypatch):
    from synthwb.core.errors import NotFound
    from synthwb.moirai import checkpoints

    calls = []

    def offline(ref, cache=True, local_files_only=False):
        calls.append(bool(local_files_only))
        raise NotFound(f"cannot load {ref!r} (LocalEntryNotFoundError: set local_files_only to False)")

    monkeypatch.setattr(checkpoints, "load_checkpoint", offline)
    make_featureset(demo_lake, page_env, name="btc5", freq="5min")
    at = open_page("moirai", **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    assert not at.error and calls and all(calls)  # the cache only: no network by itself
    advice = " ".join(_texts(at, "info"))
    assert "not on this machine" in advice and "Local folder" in advice and "HF_HOME" in advice
    assert "local_files_only" not in advice
    n = len(calls)
    at.button(key="mo_download").click().run()
    assert calls[n:].count(False) == 1  # one download attempt for one press
    assert any("cannot reach the Hugging Face hub" in e for e in _texts(at, "error"))
    n = len(calls)
    at.run()  # a later visit: no new download attempt, the failure is remembered
    assert all(calls[n:]) and any("cannot reach" in e for e in _texts(at, "error"))


# ----------------------------------------------------------------------------- getting started, defaults
def test_the_guide_follows_the_first_path_to_train_and_backtest(page_env, demo_lake):
    make_featureset(demo_lake, page_env, name="m5", freq="5min")
    at = open_page("train", **DEMO_SIDEBAR)
    assert any("step 3 of 4" in e.label for e in at.expander)
    at = open_page("backtest", **DEMO_SIDEBAR)
    assert any("step 3 of 4" in e.label for e in at.expander)


def test_the_saved_feature_set_says_which_rows_it_covers(page_env, demo_lake):
    """The sidebar's range by default (a fast first run), said on the page with the share of the
    lake it covers; the whole lake one click away, saved as every stored bar."""
    from datetime import date

    from synthwb.features.featureset import load_featureset

    at = open_page("feature_lab", **{**DEMO_SIDEBAR, "sb_range": (date(2024, 1, 5), date(2024, 1, 15))})
    rows = at.radio(key="fl_save_rows")
    assert rows.value == "the sidebar's range: 2024-01-05 to 2024-01-16"
    assert any("days** of the" in c.value for c in at.caption)
    rows.set_value(rows.options[1]).run()
    assert rows.options[1].startswith("the whole lake")
    at.button(key="fl_save").click().run()
    assert not at.exception, at.exception
    fs = load_featureset("btc-5min", page_env)
    assert fs.sel.start is None and fs.sel.end is None  # every stored bar, not the sidebar's range
    assert any("whole lake" in s.value for s in at.success)


def test_model_builder_and_research_start_on_the_saved_feature_set_and_train_defaults(page_env, demo_lake):
    make_featureset(demo_lake, page_env, name="m5", freq="5min")
    at = open_page("model_builder", **DEMO_SIDEBAR)
    assert at.selectbox(key="mb_fs").value == "m5"
    at = open_page("research", **DEMO_SIDEBAR)
    assert at.number_input(key="hp_ctx").value == 256 and at.number_input(key="hp_hor").value == 0
    assert at.selectbox(key="hp_task").value == "24h"
    from synthwb.train import TrainConfig

    assert at.number_input(key="hp_epochs").value == TrainConfig().epochs


# ----------------------------------------------------------------------------- charts
def test_interval_legend_below_the_bars_and_one_colour_per_model():
    from synthwb.charts.colors import REALISED, color_map
    from synthwb.charts.forecast import interval_chart, score_over_time

    models = ["run-a", "gbm", "garch", "bootstrap", "run-b", "gbm_ewma"]
    iv = pl.DataFrame({"model": [m for m in models for _ in range(4)],
                       "interval": ["5min", "30min", "3hour", "24hour_abs"] * len(models),
                       "score": [float(i) for i in range(4 * len(models))]})
    fig = interval_chart(iv, title="Mean CRPS per interval")
    legend = fig.layout.legend
    assert legend.yanchor == "top" and legend.y < 0  # under the axis: extra rows grow downwards
    colours = [t.marker.color for t in fig.data]
    assert len(set(colours)) == len(models) and REALISED not in colours
    cmap = color_map(models)
    assert dict(zip(models, colours)) == cmap
    assert cmap == color_map(list(reversed(models)))  # the order a tab lists them in does not matter
    po = pl.DataFrame({"model": models, "origin": [1] * len(models), "total": [1.0] * len(models)})
    assert {t.name: t.line.color for t in score_over_time(po).data} == cmap


def test_fan_and_calibration_charts_share_the_colours_and_keep_legends_off_titles():
    import numpy as np

    from synthwb.charts import backtest as eplots
    from synthwb.charts.colors import REALISED, color_map
    from synthwb.charts.forecast import fans_side_by_side, quantile_frame

    rng = np.random.default_rng(0)
    rows = []
    for m in ("bootstrap", "run-a"):
        q = quantile_frame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (50, 6)), axis=1)), realised=np.full(6, 100.0))
        rows.append(q.with_columns(pl.lit(m).alias("model"), pl.int_range(0, 6).alias("step")))
    fig = fans_side_by_side(pl.concat(rows), ["bootstrap", "run-a"])
    realised = [t for t in fig.data if t.name == "realised"]
    bands = [t for t in fig.data if t.fillcolor]
    assert realised and all(t.line.color == REALISED for t in realised)
    assert bands and not any("249,115,22" in t.fillcolor for t in bands)  # no band in the realised orange
    pit = pl.DataFrame({"model": ["bootstrap"] * 5 + ["run-a"] * 5, "pit": [0.1, 0.3, 0.5, 0.7, 0.9] * 2})
    f2 = eplots.pit_histogram(pit, title="PIT")
    assert {t.name: t.line.color for t in f2.data if t.name in ("bootstrap", "run-a")} == color_map(["bootstrap", "run-a"])
    assert f2.layout.legend.y < 0 and f2.layout.legend.yanchor == "top"
    f3 = eplots.terminal_distribution(np.ones((10, 3)) * 100, 101.0, title="Final price")
    assert f3.layout.legend.yanchor == "top" and f3.layout.legend.y < 0


def test_the_app_names_no_external_favicon():
    from pathlib import Path

    src = (Path(__file__).resolve().parents[1] / "app.py").read_text()
    assert 'page_icon=":' not in src and "favicon.png" in src
