"""Session state shared across pages: the data selection and cached engine calls."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from synthwb.core.config import data_dir, store_dir
from synthwb.data.schema import Selection

SEL_KEY = "synthwb_selection"


def lake_root() -> Path:
    return data_dir()


def store_root() -> Path:
    return store_dir()


@st.cache_data(ttl=60, show_spinner=False)
def inventory(root: str) -> pl.DataFrame:
    from synthwb.data.lake import inventory as _inventory

    return _inventory(root)


@st.cache_data(ttl=300, show_spinner="Loading bars...", max_entries=16)
def load_bars(root: str, sel_key: str, sel: dict) -> pl.DataFrame:
    from synthwb.data.lake import read_bars

    return read_bars(Selection.from_dict(sel), root=root)


def bars(sel: Selection | None = None) -> pl.DataFrame | None:
    """Bars for the current (or given) selection, cached."""
    sel = sel or selection()
    if sel is None:
        return None
    return load_bars(str(lake_root()), sel.key(), sel.to_dict())


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
    """Call after writing to the lake so the sidebar and charts re-read it."""
    inventory.clear()
    load_bars.clear()


def show_error(exc: Exception) -> None:
    """A user mistake is shown as a message, never as a raw traceback."""
    st.error(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc), icon=":material/error:")
