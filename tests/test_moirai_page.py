"""The Moirai page with AppTest: a real demo lake + store and the tiny real checkpoint."""
from __future__ import annotations

from pathlib import Path

from apptest_support import DEMO_SIDEBAR, backtest_page_summary, open_page
from moirai_support import (
    moirai_page_preview,
    tiny_ckpt_fixture,  # noqa: F401 - fixture
)
from streamlit.testing.v1 import AppTest
from train_support import make_featureset

from synthwb.store import runs

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "moirai.py")


def test_page_previews_saves_and_finetunes(page_env, demo_lake, tiny_ckpt):
    from synthwb.jobs.registry import get_registry

    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("Feature Lab" in i.value for i in at.info)  # no feature set yet

    make_featureset(demo_lake, page_env, name="btc5", freq="5min")
    at.run()
    assert not at.exception, at.exception
    assert any("CC-BY-NC-4.0" in c.value for c in at.caption)  # the catalogue's licence
    assert any("not on this machine" in i.value for i in at.info), "a hub id without network: advice, no crash"
    at.radio(key="mo_source").set_value("Local folder").run()
    at.text_input(key="mo_dir").input(str(tiny_ckpt))
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="mo_context").set_value(64)
    at.number_input(key="mo_horizon").set_value(24)
    at.selectbox(key="mo_patch").select(16)
    at.multiselect(key="mo_covs").select("volume")
    at.run()
    assert [m.value for m in at.metric][:2] == ["12", "2"]  # 2 variates x ceil(88 / 16)
    at.number_input(key="mo_context").set_value(4096)
    at.selectbox(key="mo_patch").select(8)
    at.run()
    assert any("max_seq_len 512" in w.value for w in at.warning)
    at.selectbox(key="mo_patch").select(16)
    moirai_page_preview(at, context=64, paths=100)

    at.number_input(key="mo_horizon").set_value(288)  # the 24h task on 5-minute bars
    at.text_input(key="mo_name").input("zs page")
    at.button(key="mo_save_zs").click()
    at.run()
    assert not at.exception, at.exception
    assert runs.read_info("zs-page", page_env)["kind"] == "moirai"

    at.text_input(key="mo_name").input("ft page")
    at.selectbox(key="mo_pattern").select("head")
    at.number_input(key="mo_max_steps").set_value(3)
    at.number_input(key="mo_batch").set_value(4)
    at.button(key="mo_start").click()
    at.run()
    assert not at.exception, at.exception
    job = get_registry().jobs("moirai")[0]
    assert job.name == "ft page"
    assert job.wait(120), "the fine-tune did not finish"
    assert job.status == "finished", job.error
    at.run()
    assert not at.exception
    assert any("ft-page" in s.value and "finished at step 3" in s.value for s in at.success)
    info = runs.read_info("ft-page", page_env)
    assert info["kind"] == "moirai" and info["finetune_config"]["finetune"] == "head"
    assert (runs.run_dir("ft-page", page_env) / "weights.safetensors").is_file()

    # both Moirai runs are scored by the Backtest and Compare pages beside gbm
    summary = backtest_page_summary(["zs-page", "ft-page"])
    assert set(summary["model"]) == {"zs-page", "ft-page", "gbm"}
    assert (summary["n_invalid"] == 0).all()

    cmp = open_page("compare", **DEMO_SIDEBAR)
    cmp.multiselect(key="cmp_runs").set_value(["zs-page", "ft-page"]).run()
    cmp.multiselect(key="cmp_baselines").set_value(["gbm"]).run()
    cmp.multiselect(key="cmp_classical").set_value([]).run()
    cmp.number_input(key="cmp_origins").set_value(2)
    cmp.number_input(key="cmp_paths").set_value(32)
    cmp.run()
    cmp.button(key="cmp_go").click().run()
    assert get_registry().wait_all(timeout=300)
    cmp.run()
    assert not cmp.exception, cmp.exception
    board = cmp.dataframe[0].value
    assert set(board["model"]) == {"zs-page", "ft-page", "gbm"} and (board["n_origins"] == 2).all()

    # the Train page lists the Moirai runs and resumes one in a "moirai" job
    tr = open_page("train", **DEMO_SIDEBAR)
    tr.selectbox(key="tr_run").set_value("ft-page").run()
    assert not tr.exception, tr.exception
    tr.button(key="tr_resume_ft-page").click().run()
    assert not tr.exception, tr.exception
    resumed = [j for j in get_registry().jobs("moirai") if j.kwargs.get("resume")]
    assert resumed and resumed[0].wait(120) and resumed[0].status == "finished", resumed and resumed[0].error
