"""Browser check of the Data Explorer import panel: a real `streamlit run` and Debian's
headless Chromium upload a vendor export, see the preview and the mapping form, import it.

The screenshot goes to $SYNTHWB_SHOTS/data_import_preview.png when that is set (else tmp).
Skipped when /usr/bin/chromium is absent.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from screenshot import CHROMIUM, launch_browser, open_app, streamlit_server, wait_idle  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]

# CryptoDataDownload-style: a URL line above the header, newest first, base and quote volumes
CDD = ("https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n"
       + "".join(f"{1704085200000 - 3600000 * i},2024-01-01,BTC/USDT,{105 - i},{107 - i},{104 - i},{106 - i},"
                 f"{8 - i},{800 - i}\n" for i in range(6)))


def test_import_panel_shows_preview_and_mapping_then_imports(tmp_path):
    from playwright.sync_api import sync_playwright

    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    lake = tmp_path / "lake"
    env = {"SYNTHWB_DATA_DIR": str(lake), "SYNTHWB_STORE_DIR": str(tmp_path / "store"),
           "SYNTHWB_CACHE_DIR": str(tmp_path / "cache")}
    src = tmp_path / "export.csv"  # a name that guesses nothing: the symbol and timeframe are chosen here
    src.write_text(CDD)
    shots = Path(os.environ.get("SYNTHWB_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with streamlit_server(env) as base, sync_playwright() as p:
        browser = launch_browser(p)
        page, errors = open_app(browser, base, height=1900)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(src))
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("Column mapping", exact=True).wait_for(timeout=60_000)
        wait_idle(page, timeout_ms=120_000)
        page.get_by_label("Symbol").fill("BTC")
        page.get_by_label("Symbol").press("Enter")
        wait_idle(page, timeout_ms=120_000)
        # declared 1min, the file is hourly: the preview says so and offers the fix
        main.get_by_text("choose Frequency 1h").first.wait_for(timeout=30_000)
        main.locator('[data-testid="stSelectbox"]').filter(has_text="Frequency").click()
        page.get_by_role("option", name="1h", exact=True).click()
        wait_idle(page, timeout_ms=120_000)
        main.get_by_text("Column mapping", exact=True).scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "data_import_preview.png"), full_page=True)
        text = main.inner_text()
        for want in ("Preview", "Rows in file", "Inferred frequency", "First rows", "Last rows",
                     "1 preamble line(s) skipped", "epoch ms", "newest first"):
            assert want in text, want
        assert "choose Frequency 1h" not in text
        assert "Note: volume from Volume BTC (base volume; not Volume USDT" in text
        assert not list(lake.rglob("*.parquet")), "the preview wrote to the lake"
        page.get_by_role("button", name="Import").click()
        main.get_by_text("Imported 6 bars of crypto/BTC 1h").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert errors == []
        browser.close()
    out = read_bars(Selection("crypto", "BTC", "1h"), root=lake)  # the guessed base volume, Volume BTC
    assert out.height == 6 and out["volume"].to_list() == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
