"""Browser test of the Live page on a real `streamlit run` (Debian Chromium through Playwright):
a forward test started from the page on the simulated clock (sped up) keeps running across a page
switch and an app restart, and its table fills as requests close. SYNTHWB_SHOTS=DIR keeps the
screenshots."""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from screenshot import CHROMIUM, launch_browser, streamlit_server, wait_idle  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]
SHOTS = os.environ.get("SYNTHWB_SHOTS")


def _scored(store: Path) -> int:
    from synthwb.live.state import live_folder

    folder = live_folder("browser-live", store)
    if not folder.exists():
        return 0
    return sum(r["status"] == "scored" for r in folder.read()["requests"].values())


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page, timeout_ms=120_000)
    page.get_by_role("heading", name=re.compile(title)).first.wait_for()


def _number(page, label: str, value) -> None:
    box = page.locator('[data-testid="stNumberInput"]').filter(has=page.get_by_text(label, exact=True)).first
    box.locator("input").fill(str(value))
    box.locator("input").press("Enter")
    wait_idle(page, timeout_ms=120_000)


def _rolling_requests(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_a_forward_test_survives_a_page_switch_and_an_app_restart(demo_lake, tmp_path):
    from playwright.sync_api import sync_playwright

    store = tmp_path / "store"
    store.mkdir()
    env = {"SYNTHWB_DATA_DIR": str(demo_lake), "SYNTHWB_STORE_DIR": str(store),
           "SYNTHWB_CACHE_DIR": str(tmp_path / "cache")}
    with sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        with streamlit_server(env) as base:
            page.goto(base + "/live")
            wait_idle(page, timeout_ms=120_000)
            main = page.locator('[data-testid="stMain"]')
            main.get_by_text("No forward test yet").first.wait_for()
            name = page.get_by_label("Name")
            name.fill("browser-live")
            name.press("Enter")
            wait_idle(page)
            _number(page, "Paths", 100)
            _number(page, "Days", 0.5)
            _number(page, "Speed (simulated s per s; 0 = as fast as possible)", 600)
            page.get_by_role("button", name=re.compile("Start forward test")).click()
            # requests close about an hour (6 s at x600) after they are issued
            _wait(lambda: _scored(store) >= 1, 90, "the first scored request")
            main.get_by_text("Rolling score (lower is better)").first.wait_for(timeout=30_000)
            before_switch = _scored(store)
            _go(page, "Data Explorer")
            time.sleep(4)
            _go(page, "Live")
            try:
                main.get_by_text("Rolling score (lower is better)").first.wait_for(timeout=90_000)
            except Exception:
                page.screenshot(path=str(tmp_path / "after_switch.png"), full_page=True)
                raise AssertionError(f"after the switch: {main.inner_text()[:800]}") from None
            after_switch = _scored(store)
            assert after_switch > before_switch, "the forward test stopped on a page switch"
        # the app is down: the test does not move
        down = _scored(store)
        time.sleep(2)
        assert _scored(store) == down
        with streamlit_server(env) as base:
            page.goto(base + "/live")
            wait_idle(page, timeout_ms=120_000)
            _wait(lambda: _scored(store) >= down + 3, 90, "scored requests after the restart")
            main = page.locator('[data-testid="stMain"]')
            main.get_by_text("Rolling score (lower is better)").first.wait_for(timeout=30_000)
            time.sleep(3)  # the panel re-reads the state every 2 s
            text = main.inner_text()
            assert "running" in text and "scored" in text, text[:600]
            shown = int(page.locator('[data-testid="stMetricValue"]').first.inner_text().replace(",", ""))
            assert shown > down, (shown, down)
            page.get_by_text("Latest fan charts", exact=True).click()
            page.locator(".js-plotly-plot:visible").first.wait_for(timeout=30_000)
            time.sleep(1)
            assert page.locator('[data-testid="stException"]').count() == 0
            if SHOTS:
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(Path(SHOTS) / "live.png"), full_page=True)
            page.get_by_role("button", name="Stop").first.click()
            _wait(lambda: not __import__("synthwb.live.state", fromlist=["x"]).live_folder(
                "browser-live", store).status()["running"], 30, "the stop")
        browser.close()
