"""Browser check of the Data Explorer's Fetch panel: a real `streamlit run` fetching from the
loopback feeds (tests/feeds_support.py, nothing leaves 127.0.0.1) in Debian's headless Chromium:
the progress bar with its Stop while a request is held, then the summary of what was added.

Screenshots go to $SYNTHWB_SHOTS/data_fetch_progress.png and data_fetch_done.png when that is set
(else tmp). Skipped when /usr/bin/chromium is absent.
"""
from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feeds_support import FeedServer, make_bars

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from screenshot import CHROMIUM, launch_browser, open_app, streamlit_server, wait_idle  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]


def test_fetch_panel_in_the_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    lake = tmp_path / "lake"
    shots = Path(os.environ.get("SYNTHWB_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with FeedServer() as srv:
        srv.binance["BTCUSDT"] = make_bars(yesterday, now + timedelta(hours=1), seed=5)
        srv.binance["ETHUSDT"] = make_bars(yesterday, now + timedelta(hours=1), seed=6, base=2500.0)
        srv.daily |= {("BTCUSDT", f"{yesterday:%Y-%m-%d}"), ("ETHUSDT", f"{yesterday:%Y-%m-%d}")}
        srv.faults.append({"match": f"ETHUSDT-1m-{yesterday:%Y-%m-%d}.zip", "action": "block", "times": 1})
        env = {"SYNTHWB_DATA_DIR": str(lake), "SYNTHWB_STORE_DIR": str(tmp_path / "store"),
               "SYNTHWB_CACHE_DIR": str(tmp_path / "cache"), **srv.env()}
        with streamlit_server(env) as base, sync_playwright() as p:
            browser = launch_browser(p)
            page, errors = open_app(browser, base, height=1500)
            main = page.locator('[data-testid="stMain"]')
            main.get_by_text("Fetch from the validator's feeds").first.scroll_into_view_if_needed()
            assets = main.locator('[data-testid="stMultiSelect"]').filter(has_text="Assets")
            assets.click()
            page.get_by_role("option", name="ETH (ETHUSDT)").click()
            page.keyboard.press("Escape")
            wait_idle(page, timeout_ms=60_000)  # since: the default 30 days back; the feeds serve two days
            page.get_by_role("button", name="Fetch", exact=True).click()
            assert srv.held.wait(120), "the fetch never reached ETH's archive of yesterday"
            main.get_by_role("button", name="Stop").wait_for(timeout=30_000)
            main.get_by_text(f"ETH (binance ETHUSDT): {yesterday:%Y-%m-%d} daily archive").first.wait_for(timeout=30_000)
            main.get_by_role("button", name="Stop").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "data_fetch_progress.png"), full_page=False)
            srv.release.set()
            main.get_by_text("bars added.").first.wait_for(timeout=120_000)
            wait_idle(page, timeout_ms=60_000)
            main.get_by_text("Fetched series").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "data_fetch_done.png"), full_page=False)
            text = main.inner_text()
            for want in ("Fetch of BTC, ETH 1min since", "bars added", "Fetched series", "Update all to now"):
                assert want in text, want
            assert page.locator('[data-testid="stException"]').count() == 0
            assert errors == []
            browser.close()
    for sym in ("BTC", "ETH"):
        got = read_bars(Selection("crypto", sym, "1min"), root=lake)
        assert got["ts"].min() == yesterday and got.height >= 1440
