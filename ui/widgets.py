"""Widgets drawn from the registry idiom: one input per :class:`synthwb.core.registry.Param`."""
from __future__ import annotations

from typing import Any

import streamlit as st

from synthwb.core.registry import Entry, Param

#: one wording on every page for the two sizes a model is asked for
CONTEXT = "Context (bars)"
HORIZON = "Horizon (path steps)"
HELP_CONTEXT = "bars of features the model reads before each forecast origin"
HELP_HORIZON = ("points of the simulated paths after t0; a path step is one bar unless the model simulates finer "
                "steps than its features (the 24h task: 288 five-minute steps)")


def param_widget(p: Param, key: str, value: Any = None, label: str | None = None):
    """One input for a registry Param, with its bounds, choices, step and help."""
    value = p.default if value is None else value
    label = label or p.name.replace("_", " ")
    help_ = p.help or None
    if p.kind is bool:
        return st.checkbox(label, value=bool(value), key=key, help=help_)
    if p.choices:
        opts = list(p.choices)
        return st.selectbox(label, opts, index=opts.index(value) if value in opts else 0, key=key, help=help_)
    if p.kind is int:
        return int(st.number_input(label, min_value=None if p.low is None else int(p.low),
                                   max_value=None if p.high is None else int(p.high), value=int(value),
                                   step=int(p.step or 1), key=key, help=help_))
    if p.kind is float:
        step = p.step or (abs(p.default) / 10 if p.default else 0.01)
        return float(st.number_input(label, min_value=None if p.low is None else float(p.low),
                                     max_value=None if p.high is None else float(p.high), value=float(value),
                                     step=float(step), format="%g", key=key, help=help_))
    return st.text_input(label, value=str(value), key=key, help=help_)


def params_form(entry: Entry, values: dict, prefix: str, columns: int = 3) -> dict:
    """All of an entry's parameters in a grid; returns name -> value."""
    cols = st.columns(columns)
    out = {}
    for j, p in enumerate(entry.params):
        with cols[j % columns]:
            out[p.name] = param_widget(p, f"{prefix}_{p.name}", values.get(p.name))
    return out


def fields_form(params: list[Param], prefix: str, labels: dict[str, str] | None = None, columns: int = 3,
                containers=None) -> dict:
    """Inputs for typed fields (e.g. TrainConfig's, as Params) in a grid, keyed ``<prefix>_<name>``;
    returns name -> value. ``containers``: the columns to fill (default: a new row of ``columns``)."""
    cols = containers or st.columns(columns)
    out = {}
    for j, p in enumerate(params):
        with cols[j % len(cols)]:
            out[p.name] = param_widget(p, f"{prefix}_{p.name}", label=(labels or {}).get(p.name))
    return out
