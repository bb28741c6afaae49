"""Fit a classical forecaster (GARCH family, HAR-RV) on the sidebar's selection and save it as a
run: "fit" instead of "train". The run is of kind ``classical``; Backtest and Compare list it
with the other runs. Same engine call as ``synthwb fit``."""
from __future__ import annotations

import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.forecast.classical import CLASSICAL, fit_classical
from ui import state
from ui.widgets import params_form


def classical_section(prefix: str = "cls") -> None:
    """The fit form and, after a fit, the run it saved with its fitted parameters."""
    st.subheader("Classical forecasters (fit in seconds)")
    sel = state.selection()
    if sel is None:
        st.info("Select a series in the sidebar to fit a classical model on it.")
        return
    names = CLASSICAL.names()
    model = st.selectbox("Model", names, key=f"{prefix}_model",
                         format_func=lambda n: f"{n}: {CLASSICAL.get(n).help}")
    entry = CLASSICAL.get(model)
    params = params_form(entry, {}, f"{prefix}_{model}")
    name = st.text_input("Run name", value=f"{sel.symbol.lower()}-{model}", key=f"{prefix}_name")
    if st.button("Fit and save", key=f"{prefix}_fit", icon=":material/functions:"):
        try:
            with st.spinner(f"Fitting {model} on {sel.asset_class}/{sel.symbol} {sel.freq}..."):
                st.session_state[f"{prefix}_last"] = fit_classical(
                    name, model, sel.asset_class, sel.symbol, sel.freq, params,
                    store=state.store_root(), root=state.lake_root())
        except SynthwbError as exc:
            state.show_error(exc)
    info = st.session_state.get(f"{prefix}_last")
    if info:
        fit = info.get("fit") or {}
        st.success(f"Saved run **{info['run_id']}** ({info.get('model_name')}, {fit.get('bars')} bars, "
                   f"{fit.get('seconds', 0):.2f} s). Backtest and Compare list it with the other runs.",
                   icon=":material/check_circle:")
        shown = fit.get("params") or fit.get("coef") or {}
        if shown:
            st.dataframe([{"parameter": k, "value": v} for k, v in shown.items()], hide_index=True)
