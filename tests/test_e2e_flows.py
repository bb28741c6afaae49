"""Browser user flows on a real `streamlit run` (Debian Chromium through Playwright):
train from the Train page while switching pages, backtest a run beside the baselines, and
compare a path run and a Moirai run with baselines; preview Moirai on its page. Set SYNTHWB_SHOTS=DIR to keep screenshots of each step."""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from screenshot import CHROMIUM, launch_browser, streamlit_server, wait_idle  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]
SHOTS = os.environ.get("SYNTHWB_SHOTS")


@pytest.fixture(scope="module")
def env(demo_lake, tmp_path_factory):
    """A lake, a 5-minute feature set and two tiny trained runs on the 24h task's grid (288 steps)."""
    from train_support import make_featureset, tiny_config

    from synthwb.train import train

    lake = tmp_path_factory.mktemp("flow_lake")
    shutil.copytree(demo_lake, lake, dirs_exist_ok=True)
    store = tmp_path_factory.mktemp("flow_store")
    make_featureset(lake, store, name="tiny", freq="5min")
    for run, preset in (("run-a", "dlinear-gbm"), ("run-b", "tcn-bridge")):
        train(run, "tiny", preset, tiny_config(max_steps=3), store=store, root=lake, context=32, horizon=288)
    # a zero-shot Moirai run of the tiny random checkpoint, on the same feature set
    from synthwb.moirai.checkpoints import make_tiny_checkpoint
    from synthwb.moirai.finetune import moirai_train

    ckpt = make_tiny_checkpoint(tmp_path_factory.mktemp("flow_moirai") / "tiny")
    moirai_train("moirai-zs", "tiny", {"checkpoint": str(ckpt), "context": 64, "horizon": 288, "patch_size": 16,
                                       "samples": 100}, {"finetune": "none"}, store=store)
    return {"SYNTHWB_DATA_DIR": str(lake), "SYNTHWB_STORE_DIR": str(store), "MOIRAI_CKPT": str(ckpt),
            "SYNTHWB_CACHE_DIR": str(tmp_path_factory.mktemp("flow_cache"))}


@pytest.fixture(scope="module")
def app(env):
    from playwright.sync_api import sync_playwright

    with streamlit_server(env) as base, sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1200})
        page.goto(base)
        wait_idle(page, timeout_ms=120_000)
        pick(page.locator('[data-testid="stSidebar"]'), page, "Timeframe", "5min")
        yield page
        browser.close()


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def pick(scope, page, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox or multiselect labelled ``label`` within ``scope``."""
    box = scope.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').filter(
        has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}( \(.*\))?$")).first.click()
    page.keyboard.press("Escape")
    wait_idle(page, timeout_ms=120_000)


def set_number(page, label: str, value: int, in_form: bool = False) -> None:
    """Type a number; outside a form Enter commits it (inside one Enter would submit the form)."""
    box = page.locator('[data-testid="stNumberInput"]').filter(has=page.get_by_text(label, exact=True)).first
    inp = box.locator("input")
    inp.fill(str(value))
    inp.press("Tab" if in_form else "Enter")
    if not in_form:
        wait_idle(page, timeout_ms=120_000)


def go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page, timeout_ms=120_000)
    page.get_by_role("heading", name=re.compile(title)).first.wait_for()


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_backtest_a_run_beside_baselines(app):
    page = app
    go(page, "Backtest")
    main = page.locator('[data-testid="stMain"]')
    pick(main, page, "Runs", "run-a")
    # a run is chosen: the period is its held-out test split
    assert main.get_by_role("radio", name="held-out test split").is_checked()
    set_number(page, "Origins", 4)
    set_number(page, "Paths", 200)
    page.get_by_role("button", name=re.compile("Run backtest")).click()
    page.get_by_text("Fan charts", exact=True).first.wait_for(timeout=180_000)
    wait_idle(page, timeout_ms=120_000)
    text = main.inner_text()
    for model in ("run-a", "gbm", "garch", "bootstrap"):
        assert model in text
    assert "in-sample" not in text
    assert page.locator(".js-plotly-plot").count() >= 1
    no_exception(page)
    shot(page, "flow_backtest")


def test_compare_a_path_run_a_moirai_run_and_baselines(app):
    page = app
    go(page, "Compare")
    main = page.locator('[data-testid="stMain"]')
    pick(main, page, "Runs", "moirai-zs")
    pick(main, page, "Runs", "run-a")
    pick(main, page, "More assets for the Synth reward", "ETH")
    set_number(page, "Origins", 4)
    set_number(page, "Paths", 200)
    page.get_by_role("button", name=re.compile("^.*Compare$")).last.click()
    page.get_by_text("Leaderboard", exact=True).first.wait_for(timeout=240_000)
    wait_idle(page, timeout_ms=120_000)
    text = main.inner_text()
    assert "run-a" in text and "moirai-zs" in text and "gbm" in text
    no_exception(page)
    shot(page, "flow_compare")
    # the Synth reward over BTC and ETH: the compared models as miners, ETH at the validator's weight
    main.get_by_role("tab", name="Synth reward").click()
    main.get_by_text("Share of emissions after each scored request").first.wait_for(timeout=60_000)
    wait_idle(page, timeout_ms=60_000)
    assert main.locator(".js-plotly-plot").count() >= 1
    no_exception(page)
    shot(page, "flow_compare_reward")


def test_moirai_page_previews_a_local_checkpoint(app, env):
    page = app
    go(page, "Moirai")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_test_id("stRadioGroup").get_by_text("Local folder", exact=True).click()
    wait_idle(page, timeout_ms=60_000)
    box = main.get_by_label("Folder with config.json + model.safetensors")
    box.fill(env["MOIRAI_CKPT"])
    box.press("Enter")
    main.get_by_text(re.compile("^Licence: CC-BY-NC-4.0")).first.wait_for(timeout=120_000)  # the folder loaded
    wait_idle(page, timeout_ms=60_000)
    set_number(page, "Context (bars)", 64)
    set_number(page, "Samples", 100)
    page.get_by_role("button", name=re.compile("Preview")).click()
    page.get_by_text(re.compile("median at the horizon")).first.wait_for(timeout=120_000)
    assert page.locator(".js-plotly-plot").count() >= 1
    no_exception(page)
    shot(page, "flow_moirai")


def test_train_from_the_page_and_come_back(app):
    page = app
    go(page, "Train")
    main = page.locator('[data-testid="stMain"]')
    pick(main, page, "Model", "preset: dlinear-gbm")
    set_number(page, "Context (bars)", 32, in_form=True)
    # horizon 0 (default): the target task's, 288 five-minute steps; the default loss is its score
    set_number(page, "Max steps (0 = all epochs)", 30, in_form=True)
    set_number(page, "Paths per sample (train)", 16, in_form=True)
    main.get_by_label("Run name").fill("page-run")
    page.get_by_role("button", name=re.compile("Start training")).click()
    wait_idle(page, timeout_ms=120_000)
    assert "job=" in page.url  # re-attachable after a refresh
    shot(page, "flow_train_live")
    go(page, "Data Explorer")
    go(page, "Train")  # the page switch cleared ?job=: the page must still watch the job
    page.get_by_text(re.compile(r"Run page-run finished at step 30")).first.wait_for(timeout=180_000)
    assert "job=" in page.url
    no_exception(page)
    shot(page, "flow_train_done")
