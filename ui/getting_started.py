"""The getting-started path: from an empty lake to a scored model in four numbered steps,
each with the button that does it or opens its page. Where the user stands is read from the
lake and the store (no hidden state), so the guide is right after a refresh or a CLI import."""
from __future__ import annotations

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.features.featureset import list_featuresets
from synthwb.store import list_runs
from synthwb.store.backtests import list_backtests

from . import state

STEPS = (
    ("Create the demo lake", "app_pages/data_explorer.py", "Data Explorer",
     "seeded 1-minute bars for BTC, ETH, SOL and SPY (a few seconds)"),
    ("Save a feature set", "app_pages/feature_lab.py", "Feature Lab",
     "the sidebar's {bars} (its date range, shown above the button; the whole lake is one click "
     "away) with the default features: press **Save feature set**"),
    ("Train a model", "app_pages/train.py", "Train",
     "the defaults (a quick first model on a CPU, with its time estimate): press **Start training** and "
     "watch its curves; when it ends press **Backtest this run**"),
    ("Backtest it", "app_pages/backtest.py", "Backtest",
     "pick your run under **Runs** (or press **Backtest this run** on the Train page), press **Run backtest**, "
     "then download the per-origin CSV; Compare ranks several runs"),
)


def current_step() -> int:
    """The first step not done yet (0-based); ``len(STEPS)`` once a run has a saved backtest."""
    if state.inventory(str(state.lake_root())).is_empty():
        return 0
    store = state.store_root()
    try:
        if not list_featuresets(store):
            return 1
        runs = [r for r in list_runs(store) if r.get("status") == "finished"]
        if not runs:
            return 2
        if not any(list_backtests(r["run_id"], store) for r in runs):
            return 3
    except SynthwbError:
        return len(STEPS)  # an unreadable store: the pages say why; no guide
    return len(STEPS)


def _bars() -> str:
    """The sidebar's series in words ("BTC 5min bars"); the demo's default before the sidebar has one."""
    sel = state.selection()
    return f"{sel.symbol} {sel.freq} bars" if sel is not None else "BTC 5min bars"


def guide(here: str | None = None, expanded: bool | None = None) -> int:
    """Draw the numbered path (done steps ticked, the current one with its page button) while
    it is not finished; ``here``: this page's file, whose button is not drawn. Drawn on every
    page of the path (Data Explorer, Feature Lab, Train, Backtest), open where the next step is
    done (``expanded`` None) and folded elsewhere. Returns the current step."""
    cur = current_step()
    if cur >= len(STEPS):
        return cur
    if expanded is None:
        expanded = STEPS[cur][1] == here
    with st.expander(f"Getting started: step {cur + 1} of {len(STEPS)}", expanded=expanded,
                     icon=":material/flag:"):
        for i, (title, _page, label, how) in enumerate(STEPS):
            how = how.format(bars=_bars())
            mark = ":material/check_circle:" if i < cur else f"**{i + 1}.**"
            text = f"{mark} {title} ({label})" if i != cur else f"{mark} **{title}** ({label}): {how}"
            st.markdown(text if i >= cur else f"~~{title}~~ ({label}) {mark}")
        title, page, label, _ = STEPS[cur]
        if page != here:
            st.page_link(page, label=f"Step {cur + 1}: open {label}", icon=":material/arrow_forward:")
    return cur
