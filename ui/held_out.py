"""The runs' latest common held-out test split, as the Backtest page shows it (cached by the lake's state)."""
from __future__ import annotations

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.features.featureset import run_featureset
from synthwb.store.runs import load_run
from ui import state


@st.cache_data(show_spinner=False, max_entries=32)
def _cached(run_ids: tuple[str, ...], store: str, root: str, lake: str):
    lo, hi = [], []
    for rid in run_ids:
        try:
            test = run_featureset(load_run(rid, store)).splits(root)["test"]
        except SynthwbError:  # an ensemble or a run without a feature set: no split of its own
            continue
        if not test.is_empty():
            lo.append(test["ts"].min())
            hi.append(test["ts"].max())
    return (max(lo).date(), min(hi).date()) if lo else None


def held_out_range(run_ids: tuple[str, ...]):
    """(first, last) day of the runs' latest common held-out test split, or None."""
    root = str(state.lake_root())
    try:
        return _cached(run_ids, str(state.store_root()), root,
                       state.inventory(root).select("end").to_series().max().isoformat())
    except (SynthwbError, OSError, AttributeError):
        return None
