"""Browser layer: a real `streamlit run` driven by Debian's headless Chromium through Playwright.

Skipped when /usr/bin/chromium is absent (install it with `E2E=1 ./install.sh`).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from screenshot import CHROMIUM, launch_browser, open_app, streamlit_server, wait_idle  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

PAGES = {  # url path -> a heading the page must show
    "": "Data Explorer",
    "feature_lab": "Feature Lab",
    "model_builder": "Model Builder",
    "train": "Train",
    "backtest": "Backtest",
    "compare": "Compare",
}


@pytest.fixture(scope="module")
def server(demo_lake, tmp_path_factory):
    lake = tmp_path_factory.mktemp("e2e_lake")
    shutil.copytree(demo_lake, lake, dirs_exist_ok=True)
    store = tmp_path_factory.mktemp("e2e_store")
    cache = tmp_path_factory.mktemp("e2e_cache")
    env = {"SYNTHWB_DATA_DIR": str(lake), "SYNTHWB_STORE_DIR": str(store), "SYNTHWB_CACHE_DIR": str(cache)}
    with streamlit_server(env) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.mark.parametrize("path, heading", list(PAGES.items()))
def test_page_opens_without_exception(server, browser, path, heading, tmp_path):
    page, errors = open_app(browser, f"{server}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert errors == []
    # the shared sidebar is present on every page and shows the demo lake's symbols
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "Asset class" in sidebar.inner_text()
    page.screenshot(path=str(tmp_path / f"{path or 'data_explorer'}.png"), full_page=True)
    page.close()


def test_data_explorer_draws_candles_and_switches_symbol(server, browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(server)
    wait_idle(page, timeout_ms=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    # pick another symbol in the sidebar selectbox and see the page follow it
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Symbol").first.wait_for()
    box = sidebar.locator('[data-testid="stSelectbox"]').nth(1)
    box.click()
    page.get_by_role("option", name="ETH").click()
    wait_idle(page, timeout_ms=120_000)
    assert "ETH" in page.locator('[data-testid="stMain"]').inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
