"""synthwb: `streamlit run app.py`.

Navigation over app_pages/, the shared sidebar (asset class / symbol / timeframe / date
range), session init. Pages read the selection with ``ui.state.selection()``.

The page folder is deliberately not called ``pages/``: streamlit treats a ``pages/`` folder
beside the main script as its legacy multi-page app, and then a deep link or a refresh on
e.g. /backtest runs that page file alone, without this script (no sidebar, no navigation).
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui.live_view import resume_live_tests  # noqa: E402
from ui.sidebar import render_sidebar  # noqa: E402

# the favicon is a file served by the app itself: an icon name (":material/...:" or an emoji)
# makes the browser fetch it from an external host on every page switch, and the app must work
# offline and leak nothing (tests/test_e2e_offline.py records every request a page makes)
FAVICON = Path(__file__).resolve().parent / "ui" / "favicon.png"
st.set_page_config(page_title="synthwb", page_icon=str(FAVICON), layout="wide")

PAGES = [
    st.Page("app_pages/data_explorer.py", title="Data Explorer", icon=":material/database:", default=True),
    st.Page("app_pages/feature_lab.py", title="Feature Lab", icon=":material/science:"),
    st.Page("app_pages/model_builder.py", title="Model Builder", icon=":material/account_tree:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/moirai.py", title="Moirai", icon=":material/neurology:"),
    st.Page("app_pages/backtest.py", title="Backtest", icon=":material/query_stats:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/research.py", title="Research", icon=":material/experiment:"),
    st.Page("app_pages/live.py", title="Live", icon=":material/sensors:"),
]

nav = st.navigation(PAGES)
resume_live_tests()  # forward tests the app ran before a restart go on from their state on disk
render_sidebar()
nav.run()
