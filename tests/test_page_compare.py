"""AppTest of the Compare page on the demo lake: compare baselines (and a tiny trained run),
the same leaderboard as the CLI, the ensemble builder saves a run, no exception anywhere."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import date

import pytest
from apptest_support import DEMO_SIDEBAR, wait_jobs
from apptest_support import open_page as open_app
from streamlit.testing.v1 import AppTest

from synthwb.jobs.registry import get_registry


def _open(page: str = "compare", **sidebar) -> AppTest:
    """Sidebar choices are preset through session_state before the first run (AppTest does not
    keep the sidebar's widgets after switch_page)."""
    at = open_app(page, timeout=180, **{**DEMO_SIDEBAR, **sidebar})
    assert not at.exception, at.exception
    return at


def _by_key(widgets, key):
    return next(w for w in widgets if w.key == key)


def test_compare_page_runs_a_comparison_like_the_cli(page_env, demo_lake):
    at = _open()
    assert any("Compare" in h.value for h in at.title)
    at.multiselect(key="cmp_baselines").set_value(["gbm", "bootstrap", "garch"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()
    at.selectbox(key="cmp_task").set_value("1h")
    at.number_input(key="cmp_origins").set_value(6)
    at.number_input(key="cmp_paths").set_value(64)
    at.selectbox(key="cmp_bench").set_value("bootstrap")
    at.run()
    at.button(key="cmp_go").click().run()
    assert not at.exception, at.exception
    wait_jobs(at)
    assert not at.error, [e.value for e in at.error]
    # the leaderboard as drawn
    board = at.dataframe[0].value
    assert set(board["model"]) == {"gbm", "bootstrap", "garch"}
    assert any(m.label == "Shared origins" and str(m.value) == "6" for m in at.metric)

    # the CLI on the same selection and period prints the same table
    sel = at.session_state["synthwb_selection"]
    from synthwb.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["compare", "--classical", "none", "--root", str(demo_lake), "--store", str(page_env), "--baselines", "gbm,bootstrap,garch",
                   "--benchmark", "bootstrap", "--asset-class", sel.asset_class, "--symbol", sel.symbol, "--freq",
                   sel.freq, "--task", "1h", "--start", sel.start.isoformat(), "--end", sel.end.isoformat(),
                   "--origins", "6", "--n-paths", "64", "--seed", "0", "--json"])
    assert rc == 0
    cli = {r["model"]: r for r in json.loads(out.getvalue())["leaderboard"]}
    page = {r["model"]: r for r in board.to_dict("records")}
    for m, r in page.items():
        assert r["rel_mean"] == pytest.approx(cli[m]["rel_mean"], rel=1e-12)
        assert r["win_rate"] == pytest.approx(cli[m]["win_rate"])
        assert r["rank"] == cli[m]["rank"]

    # other views render without error: sort, absolute values, another origin order, re-benchmark
    at.selectbox(key="cmp_sort").set_value("win_rate").run()
    at.toggle(key="cmp_rel").set_value(False).run()
    assert "mean" in at.dataframe[0].value.columns
    at.radio(key="cmp_order").set_value("best").run()
    at.toggle(key="cmp_time_rel").set_value(True).run()
    at.toggle(key="cmp_iv_rel").set_value(True).run()
    # one Benchmark selector on the page: changing it re-ranks the results without a new comparison
    assert [s.key for s in at.selectbox if s.label == "Benchmark"] == ["cmp_bench"]
    at.selectbox(key="cmp_bench").set_value("gbm").run()
    assert not at.exception, at.exception
    assert "gbm" in " ".join(c.value for c in at.caption if "Benchmark" in c.value)
    # the results name the validator version they were scored with (the picker's default: the newest)
    assert at.selectbox(key="_validator_picker").value == "2026-09"
    assert "1h (138 terms)" in at.selectbox(key="cmp_task").options
    assert "scored with validator 2026-09 (synthdataco/synth-subnet@2cfb24b)" in " ".join(
        c.value for c in at.caption if "Benchmark" in c.value)
    assert any(m.label == "Benchmark" and m.value == "gbm" for m in at.metric)
    assert [s.key for s in at.selectbox if s.label == "Benchmark"] == ["cmp_bench"]
    assert len(at.get("download_button")) == 3


def test_ensemble_builder_saves_a_run_that_can_be_compared(page_env, demo_lake):
    from synthwb.store import list_runs, read_info

    at = _open("research")
    at.multiselect(key="ens_members").set_value(["baseline:gbm", "baseline:bootstrap"]).run()
    at.radio(key="ens_mode").set_value("custom").run()
    _by_key(at.number_input, "ens_w_baseline:gbm").set_value(3.0)
    at.text_input(key="ens_name").set_value("page mix")
    at.run()
    at.button(key="ens_save").click().run()
    assert not at.exception, at.exception
    assert any("page-mix" in s.value for s in at.success)
    runs = [r["run_id"] for r in list_runs(page_env)]
    assert runs == ["page-mix"]
    info = read_info("page-mix", page_env)
    assert info["kind"] == "ensemble" and info["weights"] == pytest.approx([0.75, 0.25])
    # it shows up as a run to compare, and compares
    at = _open()
    assert "page-mix (BTC 5min bars)" in at.multiselect(key="cmp_runs").options
    at.multiselect(key="cmp_runs").set_value(["page-mix"]).run()
    at.multiselect(key="cmp_baselines").set_value(["gbm"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()
    at.selectbox(key="cmp_task").set_value("1h")
    at.number_input(key="cmp_origins").set_value(4)
    at.number_input(key="cmp_paths").set_value(32)
    at.run()
    at.button(key="cmp_go").click().run()
    wait_jobs(at)
    assert set(at.dataframe[0].value["model"]) == {"page-mix", "gbm"}


def test_bad_input_shows_a_message_not_a_traceback(page_env):
    at = _open("research", sb_range=(date(2024, 1, 18), date(2024, 1, 18)))
    at.multiselect(key="ens_members").set_value(["baseline:gbm"]).run()
    assert at.button(key="ens_save").disabled  # one member is not an ensemble
    at = _open(sb_range=(date(2024, 1, 18), date(2024, 1, 18)))
    # a comparison over a period too short for the 24-hour task fails as a message
    at.multiselect(key="cmp_baselines").set_value(["gbm", "bootstrap"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()
    at.selectbox(key="cmp_task").set_value("24h")
    at.number_input(key="cmp_origins").set_value(3)
    at.run()
    at.button(key="cmp_go").click().run()
    wait_jobs(at)
    assert not at.exception, at.exception
    assert at.error and "horizon" in at.error[0].value


TINY_CFG = {"loss": "crps", "epochs": 1, "max_steps": 2, "batch_size": 8, "n_paths_train": 8, "n_paths_eval": 8,
            "max_val_batches": 1, "device": "cpu", "warmup_steps": 0}


def _train_1m(store, demo_lake, name: str, seed: int) -> str:
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset
    from synthwb.features.registry import FeatureSpec
    from synthwb.train.loop import train

    fs = create_featureset("tiny1m", Selection("crypto", "BTC", "1min", "2024-01-01", "2024-01-08"),
                           FeatureSpec(freq="1min", features=({"name": "log_return", "params": {}},)), root=demo_lake)
    info = train(name, fs, "dlinear-gbm", {**TINY_CFG, "seed": seed}, store=store, context=32, horizon=60)
    assert info.status == "finished", info.error
    return info.run_id


def test_three_runs_and_two_baselines_with_a_fitted_ensemble(page_env, demo_lake):
    from synthwb.store import read_info

    a = _train_1m(page_env, demo_lake, "tiny-a", 0)
    b = _train_1m(page_env, demo_lake, "tiny-b", 1)
    at = _open("research", sb_freq="1min")
    # the ensemble builder: fit the weights of run a + gbm on a validation period, save
    at.multiselect(key="ens_members").set_value([a, "baseline:gbm"]).run()
    at.radio(key="ens_mode").set_value("fitted").run()
    at.selectbox(key="ens_task").set_value("1h")
    at.date_input(key="ens_val").set_value((date(2024, 1, 8), date(2024, 1, 10)))
    at.number_input(key="ens_origins").set_value(3)
    at.number_input(key="ens_paths").set_value(32)
    at.run()
    assert at.button(key="ens_save").disabled  # nothing fitted yet
    at.button(key="ens_fit").click().run()
    wait_jobs(at)
    weights = next(d.value for d in at.dataframe if "member" in d.value.columns)
    assert list(weights["member"]) == [a, "baseline:gbm"]
    assert weights["weight"].sum() == pytest.approx(1.0)
    at.text_input(key="ens_name").set_value("fitted mix").run()
    at.button(key="ens_save").click().run()
    assert not at.exception, at.exception
    info = read_info("fitted-mix", page_env)
    assert info["weights"] == pytest.approx(list(weights["weight"]))
    assert info["fit"]["n_origins"] == 3

    # compare three runs (two trained, one ensemble) and two baselines on the same origins
    at = _open(sb_freq="1min")
    at.selectbox(key="cmp_task").set_value("1h").run()
    at.multiselect(key="cmp_runs").set_value([a, b, "fitted-mix"]).run()
    at.multiselect(key="cmp_baselines").set_value(["gbm", "bootstrap"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()  # the classical defaults: tests/test_classical_refs.py
    at.number_input(key="cmp_origins").set_value(4)
    at.number_input(key="cmp_paths").set_value(32)
    at.run()
    at.button(key="cmp_go").click().run()
    wait_jobs(at)
    assert not at.error, [e.value for e in at.error]
    board = at.dataframe[0].value
    assert set(board["model"]) == {a, b, "fitted-mix", "gbm", "bootstrap"}
    assert (board["n_origins"] == 4).all()
    # runs chosen: the period is the runs' held-out test split, nothing in-sample
    assert at.radio(key="cmp_period").value == "held-out test split"
    assert not any("in-sample" in w.value for w in at.warning)
    at.radio(key="cmp_order").set_value("random").run()
    assert not at.exception, at.exception
    assert len(at.get("download_button")) == 3
    # the sidebar's whole range reaches into the runs' training data: flagged
    at.radio(key="cmp_period").set_value("sidebar dates").run()
    at.button(key="cmp_go").click().run()
    wait_jobs(at)
    assert not at.exception, at.exception
    assert any("in-sample" in w.value and "of 4 origins lie before" in w.value for w in at.warning), \
        [w.value for w in at.warning]


def test_ablation_and_search_tabs_run_background_jobs(page_env, demo_lake):
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import FeatureSpec
    from synthwb.store import list_runs

    fs = create_featureset("tiny5", Selection("crypto", "BTC", "5min"),
                           FeatureSpec(freq="5min", features=({"name": "log_return", "params": {}},
                                                              {"name": "ema", "params": {"window": 12}})),
                           root=demo_lake)
    save_featureset(fs, store=page_env)
    at = _open("research")
    for prefix in ("abl", "hp"):
        at.selectbox(key=f"{prefix}_fs").set_value("tiny5")
        at.selectbox(key=f"{prefix}_model").set_value("preset:dlinear-gbm")
        at.number_input(key=f"{prefix}_ctx").set_value(32)
        at.number_input(key=f"{prefix}_hor").set_value(288)  # the 24h task on 5-minute paths
        at.number_input(key=f"{prefix}_epochs").set_value(1)
        at.number_input(key=f"{prefix}_steps").set_value(2)
    at.run()
    assert set(at.multiselect(key="abl_groups").options) == {"returns", "trend"}
    at.multiselect(key="abl_groups").set_value(["trend"]).run()
    at.button(key="abl_go").click().run()
    wait_jobs(at)
    table = next(d.value for d in at.dataframe if "delta" in d.value.columns)
    assert list(table["group"]) == ["(all features)", "trend"]
    assert table["val_crps"].notna().all()

    at.text_area(key="hp_space").set_value("config.lr=1e-4:1e-2:log")
    at.selectbox(key="hp_method").set_value("random")
    at.number_input(key="hp_trials").set_value(2)
    at.number_input(key="hp_keep").set_value(1)
    at.run()
    at.button(key="hp_go").click().run()
    wait_jobs(at)
    assert not at.exception, at.exception
    assert any("Best trial" in s.value for s in at.success)
    kept = [r["run_id"] for r in list_runs(page_env) if r["run_id"].startswith("hp-t")]
    assert len(kept) == 1

    at.text_area(key="hp_space").set_value("lr=1:2")
    at.run()
    at.button(key="hp_go").click().run()
    assert at.error and "must start with 'config.' or 'spec.'" in at.error[0].value


def test_stop_ends_a_comparison_as_interrupted(page_env):
    at = _open()
    at.multiselect(key="cmp_baselines").set_value(["gbm", "bootstrap", "garch"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()
    at.number_input(key="cmp_origins").set_value(200)  # long enough to be stopped midway
    at.run()
    at.button(key="cmp_go").click().run()
    job = get_registry().find(at.session_state["cmp_job"])
    assert job.status in ("queued", "running")
    at.button(key="cmp_job_stop").click().run()
    wait_jobs(at)
    assert job.status == "interrupted"
    assert any("Stopped" in w.value for w in at.warning)
    assert not at.error
    assert not at.button(key="cmp_go").disabled  # a new comparison can start


def test_a_stopped_run_is_listed_and_compared_with_its_label(page_env, demo_lake):
    from train_support import make_featureset, train_stopped

    make_featureset(demo_lake, page_env, name="tiny5", freq="5min")
    out = train_stopped(page_env, demo_lake, "stopped cmp", featureset="tiny5", horizon=288)
    rid, label = out["run_id"], f"interrupted, best weights at step {out['best_step']}"
    at = _open()
    assert at.multiselect(key="cmp_runs").options == [f"{rid} (BTC 5min bars; {label})"]
    at.multiselect(key="cmp_runs").set_value([rid]).run()
    at.multiselect(key="cmp_baselines").set_value(["gbm"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()
    at.number_input(key="cmp_origins").set_value(2)
    at.number_input(key="cmp_paths").set_value(32)
    at.run()
    at.button(key="cmp_go").click().run()
    wait_jobs(at)
    assert not at.error, [e.value for e in at.error]
    board = at.dataframe[0].value.set_index("model")
    assert board.loc[rid, "note"] == label and board.loc["gbm", "note"] == ""
