"""Opening the app on a page with AppTest, the way every page test does it."""
from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
# the demo lake's BTC on 5-minute bars, as a user would pick it in the sidebar
DEMO_SIDEBAR = {"sb_asset_class": "crypto", "sb_symbol": "BTC", "sb_freq": "5min",
                "sb_range": (date(2024, 1, 1), date(2024, 1, 19))}


def open_page(page: str, timeout: float = 120, **sidebar) -> AppTest:
    """A fresh session of app.py switched to ``app_pages/<page>.py``. Sidebar choices
    (widget keys ``sb_*``) are set before the first run, as a user's clicks leave them."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in sidebar.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    return at


def wait_jobs(at: AppTest, timeout: float = 240) -> None:
    """Wait for every background job to end, then rerun the page, which must not raise."""
    from synthwb.jobs.registry import get_registry

    assert get_registry().wait_all(timeout), "background job did not finish"
    time.sleep(0.05)
    at.run()
    assert not at.exception, at.exception
