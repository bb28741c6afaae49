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


def backtest_page_summary(runs: list[str], baselines: tuple[str, ...] = ("gbm",), origins: int = 2,
                          paths: int = 32, classical: tuple[str, ...] = ()):
    """The Backtest page (demo sidebar) run on saved ``runs``, ``baselines`` and ``classical``
    references (labels; none by default here, every one on the page) at ``origins`` origins of
    ``paths`` paths and waited for: its summary table (no exception, no error shown)."""
    at = open_page("backtest", **DEMO_SIDEBAR)
    at.multiselect(key="bt_runs").set_value(list(runs))
    at.multiselect(key="bt_baselines").set_value(list(baselines))
    at.multiselect(key="bt_classical").set_value(list(classical))
    at.number_input(key="bt_origins").set_value(origins)
    at.number_input(key="bt_paths").set_value(paths)
    at.button(key="bt_go").click().run()
    wait_jobs(at, 300)
    assert not at.error, [e.value for e in at.error]
    return next(d.value for d in at.dataframe if "mean_score" in d.value.columns)


def plotly_spec(at: AppTest) -> dict:
    """The page's one plotly chart as its JSON spec (a second chart would be a stale copy)."""
    import json

    charts = at.get("plotly_chart")
    assert len(charts) == 1, f"{len(charts)} curve charts: one view, no stale copy"
    return json.loads(charts[0].proto.spec)


def started_job(at: AppTest):
    """The job the Train page just started (its id is in the URL's ``job``)."""
    from synthwb.jobs.registry import get_registry

    job_id = at.query_params["job"]
    return get_registry().get(job_id[0] if isinstance(job_id, list) else job_id)


def train_to_the_end(at: AppTest, timeout: float = 300):
    """Press the Train page's Start, wait for the job to finish and draw the page again; the job."""
    at.button(key="tr_start").click()
    at.run()
    assert not at.exception, at.exception
    job = started_job(at)
    assert job.wait(timeout) and job.status == "finished", job.error
    at.run()
    assert not at.exception, at.exception
    return job
