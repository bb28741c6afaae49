"""Session state shared across pages: the data selection and cached engine calls."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from synthwb.core.config import data_dir, store_dir
from synthwb.data.lake import lake_state
from synthwb.data.schema import Selection

SEL_KEY = "synthwb_selection"


def lake_root() -> Path:
    return data_dir()


def store_root() -> Path:
    return store_dir()


# The caches below are keyed by the lake's state (synthwb.data.lake.lake_state: mtimes and sizes
# of the files concerned), so any write to the lake, by this app or the CLI, invalidates them at
# the next rerun; there is no time-to-live to wait for.


@st.cache_data(max_entries=8, show_spinner=False)
def _inventory(root: str, lake_token: str) -> pl.DataFrame:
    from synthwb.data.lake import inventory as _inv

    return _inv(root)


def inventory(root: str) -> pl.DataFrame:
    """What the lake holds (drives the sidebar), cached until a file of the lake changes."""
    return _inventory(root, lake_state(root))


@st.cache_data(show_spinner="Loading bars...", max_entries=16)
def load_bars(root: str, sel_key: str, sel: dict, lake_token: str = "") -> pl.DataFrame:
    from synthwb.data.lake import read_bars

    return read_bars(Selection.from_dict(sel), root=root)


def series_state(sel: Selection) -> str:
    """The lake state of the selection's symbol (every stored timeframe: a coarser one is
    resampled from the finest)."""
    return lake_state(lake_root(), sel.asset_class, sel.symbol)


def bars(sel: Selection | None = None) -> pl.DataFrame | None:
    """Bars for the current (or given) selection, cached until its symbol's files change."""
    sel = sel or selection()
    if sel is None:
        return None
    return load_bars(str(lake_root()), sel.key(), sel.to_dict(), series_state(sel))


def selection() -> Selection | None:
    """The sidebar's current selection, or None while the lake is empty."""
    return st.session_state.get(SEL_KEY)


def require_selection() -> Selection:
    """The current selection; on an empty lake, say where to get data and stop the page."""
    sel = selection()
    if sel is None:
        st.info("The lake is empty: create the demo lake or import bars on the Data Explorer page first.",
                icon=":material/database:")
        st.stop()
    return sel


def data_changed() -> None:
    """Call after writing to the lake: drops the cached views at once (the lake-state keys would
    miss them at the next rerun anyway; this frees their memory)."""
    _inventory.clear()
    load_bars.clear()


def show_error(exc: Exception) -> None:
    """A user mistake is shown as a message, never as a raw traceback."""
    st.error(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc), icon=":material/error:")
