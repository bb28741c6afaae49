"""Widgets drawn from the registry idiom: one input per :class:`synthwb.core.registry.Param`."""
from __future__ import annotations

from typing import Any

import streamlit as st

from synthwb.core.registry import Entry, Param
from synthwb.evaluate.export import version_label
from synthwb.forecast.classical import CLASSICAL
from synthwb.forecast.classical.refs import ClassicalRef, default_classical
from synthwb.scoring.versions import DEFAULT_VALIDATOR, get_validator, validator_names

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


#: the baselines Backtest and Compare start with (the same on both pages)
DEFAULT_BASELINES = ("gbm", "gbm_ewma", "garch", "bootstrap")

#: the help of the Classical picker on Backtest and Compare
CLASSICAL_HELP = ("classical forecasters (arch's GARCH family, HAR-RV; fitted innovations, hour-of-week "
                  "seasonality, stochastic-volatility paths), refitted daily from the bars before each origin and "
                  "scored on the same origins; one without the history to fit is left out with a note")


def classical_options() -> dict[str, str]:
    """label (``gjr-garch-t``) -> ``model:dist`` for every registered classical model and law."""
    return {ClassicalRef(model=m, params={"dist": d}).label: f"{m}:{d}"
            for m in CLASSICAL.names() for d in CLASSICAL.get(m).param("dist").choices}


def classical_picker(container, key: str) -> list[str]:
    """The Classical multiselect (default: every model with its default law, the same on both
    pages); returns the chosen ``model:dist`` texts for the spec."""
    opts = classical_options()
    st.session_state.setdefault(key, [r.label for r in default_classical()])
    container.multiselect("Classical", list(opts), key=key, help=CLASSICAL_HELP)
    return [opts[x] for x in st.session_state[key] if x in opts]


def left_out_note(meta: dict) -> None:
    """Name the classical references a backtest left out (no history to fit before the first origin)."""
    left = (meta or {}).get("left_out") or {}
    if left:
        st.info("Left out: " + "; ".join(f"**{k}**: {v.removeprefix(k + ': ')}" for k, v in left.items())
                + ". Start the test period later, or import more history.", icon=":material/info:")


VALIDATOR_KEY = "validator"  # one choice of version shared by the Train, Backtest and Compare pages


def validator_help() -> str:
    """What the picker's help says: each version's source and that the newest is live."""
    lines = []
    for name in validator_names():
        r = get_validator(name)
        live = " (live: the rules that pay miners now)" if name == DEFAULT_VALIDATOR else ""
        lines.append(f"{name}: {r.repository}@{r.commit}, {r.date}{live}")
    return ("The Synth validator version whose rules score (tasks, timing, responses, cadence) and train. "
            + "; ".join(lines) + ". Older versions stay selectable so old results reproduce.")


def validator_picker(container=None, label: str = "Validator", key: str = VALIDATOR_KEY) -> str:
    """A selectbox over the known validator versions (default the newest); the choice lives in the
    session key ``validator`` (not a widget key, so it survives a page change and every page shows
    the same choice). Returns the chosen version's name."""
    S = st.session_state
    names = validator_names()
    if S.get(key) not in names:
        S[key] = DEFAULT_VALIDATOR
    wkey = f"_{key}_picker"
    S[wkey] = S[key]  # the widget shows the shared choice (set before the widget is drawn)

    def _keep() -> None:
        S[key] = S[wkey]

    where = container if container is not None else st
    where.selectbox(label, names, key=wkey, on_change=_keep, help=validator_help(),
                    format_func=lambda n: f"{n}{' (live)' if n == DEFAULT_VALIDATOR else ''}")
    return S[key]


def validator_caption(record) -> str:
    """``scored with validator 2026-09 (synthdataco/synth-subnet@2cfb24b)`` for a result's record."""
    return f"scored with validator {version_label(record)}"


def task_label(task: str, validator: str | None = None) -> str:
    """``1h (138 terms)``: a task preset with its term count under the chosen version."""
    return f"{task} ({get_validator(validator).task(task).n_terms()} terms)"
