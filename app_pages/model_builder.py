"""Model Builder: assemble a backbone from registered blocks, put a path head on it, check it,
look at its summary and untrained paths, save the spec for Train."""
from __future__ import annotations

import sys

import streamlit as st
from streamlit_sortables import sort_items

from synthwb.charts.backtest import path_trajectories
from synthwb.charts.forecast import fan_chart
from synthwb.core.errors import SynthwbError
from synthwb.models import (
    BLOCKS,
    HEADS,
    PRESETS,
    ModelSpec,
    delete_spec,
    get_preset,
    list_specs,
    load_spec,
    save_spec,
    summary,
)
from synthwb.models import stack as stk
from synthwb.models.registry import block_is_causal, block_min_len
from ui import state
from ui.classical_view import classical_section
from ui.widgets import CONTEXT, HELP_CONTEXT, HELP_HORIZON, HORIZON, params_form

S = st.session_state
SIZE_KEYS = {"mb_context": 256, "mb_horizon": 288, "mb_d_model": 64, "mb_n_features": 16,
             "mb_norm_between": True, "mb_dropout": 0.0}
S.setdefault("mb_stack", [])
S.setdefault("mb_ver", 0)
S.setdefault("mb_next_uid", 0)
S.setdefault("mb_head", "horizon")
for _k, _v in SIZE_KEYS.items():
    S.setdefault(_k, _v)


# ---------------------------------------------------------------- state changes (callbacks)
def _changed(stack: list[dict]) -> None:
    S.mb_stack = stack
    S.mb_ver += 1


def _add(name: str) -> None:
    _changed(stk.add(S.mb_stack, name, uid=S.mb_next_uid))
    S.mb_next_uid += 1


def _move(i: int, delta: int) -> None:
    _changed(stk.move(S.mb_stack, i, delta))


def _remove(i: int) -> None:
    _changed(stk.remove(S.mb_stack, i))


def _load(spec: ModelSpec) -> None:
    """Replace the whole builder state with ``spec`` (fresh uids so no stale widget values)."""
    for k in [k for k in S.keys() if str(k).startswith(("mb_p_", "mb_h_"))]:
        del S[k]
    stack = []
    for b in spec.blocks:
        stack = stk.add(stack, b.name, b.params, uid=S.mb_next_uid)
        S.mb_next_uid += 1
    _changed(stack)
    S.mb_head = spec.head.name
    S.mb_head_loaded = dict(spec.head.params)
    S.mb_context, S.mb_horizon, S.mb_d_model = spec.context, spec.horizon, spec.d_model
    S.mb_n_features, S.mb_norm_between, S.mb_dropout = spec.n_features, spec.norm_between, spec.dropout
    S.mb_loaded_fs = spec.feature_set


def _load_preset() -> None:
    try:
        _load(get_preset(S.mb_preset, S.mb_n_features, S.mb_context, S.mb_horizon))
    except SynthwbError as exc:
        S.mb_load_error = exc


def _load_saved() -> None:
    try:
        _load(load_spec(S.mb_saved))
    except SynthwbError as exc:
        S.mb_load_error = exc


def _delete_saved() -> None:
    try:
        delete_spec(S.mb_saved)
    except SynthwbError as exc:
        S.mb_load_error = exc


def _load_upload() -> None:
    f = S.get("mb_upload")
    if f is None:
        return
    try:
        _load(ModelSpec.model_validate_json(f.getvalue()))
    except SynthwbError as exc:
        S.mb_load_error = exc


def module_doc(entry) -> str:
    return (sys.modules[entry.obj.__module__].__doc__ or entry.help or "").strip()


# ---------------------------------------------------------------- page
st.title("Model Builder")
st.caption("Stack blocks over (batch, time, d_model), put a path head on top, check the chain before training. "
           "Every head outputs price paths (batch, n_paths, horizon + 1) starting at the last close.")
if err := S.pop("mb_load_error", None):
    state.show_error(err)

# sizes and feature set
try:
    from synthwb.features import list_featuresets

    fsets = [f["name"] for f in list_featuresets()]
except SynthwbError as exc:
    fsets = []
    state.show_error(exc)
fs_opts = ["(none: sidebar bars)"] + fsets
loaded_fs = S.pop("mb_loaded_fs", None)
if loaded_fs in fsets:
    S.mb_fs = loaded_fs
elif S.get("mb_fs") not in fs_opts:          # first visit, or a deleted feature set: the saved one
    S.mb_fs = fsets[0] if fsets else fs_opts[0]  # (as Train and Research start on it), else the sidebar
c = st.columns([2, 1, 1, 1, 1, 1])
fs_choice = c[0].selectbox("Feature set", fs_opts, key="mb_fs",
                           help="Sets n_features and provides real windows for the smoke test.")
feature_set = None if fs_choice == fs_opts[0] else fs_choice
if feature_set:
    S.mb_n_features = next(f["features"] for f in list_featuresets() if f["name"] == feature_set)
c[1].number_input("n_features", 1, 4096, key="mb_n_features", disabled=bool(feature_set))
c[2].number_input(CONTEXT, 1, 100_000, key="mb_context", help=HELP_CONTEXT)
c[3].number_input(HORIZON, 1, 100_000, key="mb_horizon", help=HELP_HORIZON)
c[4].number_input("d_model", 1, 4096, key="mb_d_model")
c[5].number_input("dropout", 0.0, 0.95, step=0.05, key="mb_dropout")
st.checkbox("LayerNorm between blocks", key="mb_norm_between",
            help="a LayerNorm after every block of the stack")

left, right = st.columns([1, 2.3], gap="large")
with left:
    st.subheader("Blocks")
    for category, entries in sorted(BLOCKS.categories().items()):
        st.markdown(f"**{category}**")
        for e in entries:
            st.button(f"+ {e.name}", key=f"mb_add_{e.name}", on_click=_add, args=(e.name,), help=e.help,
                      width="stretch")
    st.subheader("Start from")
    st.selectbox("Preset", list(PRESETS), key="mb_preset", help=PRESETS[S.get("mb_preset") or next(iter(PRESETS))]["help"])
    st.button("Load preset", on_click=_load_preset, width="stretch")
    saved = list_specs()
    if saved:
        st.selectbox("Saved spec", saved, key="mb_saved")
        lc, dc = st.columns([3, 1])
        lc.button("Load saved spec", on_click=_load_saved, width="stretch")
        dc.button("Delete", key="mb_delete", on_click=_delete_saved, width="stretch", help="delete this saved spec")
    st.file_uploader("Spec JSON file", type=["json"], key="mb_upload", on_change=_load_upload,
                     help="a model spec, e.g. from Download JSON or `synthwb models preset ... --out`")

with right:
    st.subheader("Stack (input projection first, head last)")
    stack = S.mb_stack
    if not stack:
        st.info("Add blocks from the palette, or load a preset. An empty stack feeds the projected input to the head.")
    else:
        order = sort_items(stk.labels(stack), direction="vertical", key=f"mb_sort_{S.mb_ver}")
        if order and order != stk.labels(stack):
            _changed(stk.apply_order(stack, order))
            st.rerun()
        st.caption("Drag to reorder, or use the arrows.")
        for i, item in enumerate(stack):
            entry = BLOCKS.get(item["name"])
            with st.expander(f"{i}. {item['name']}  ({entry.category})", expanded=False):
                b = st.columns([1, 1, 1, 6])
                b[0].button("↑", key=f"mb_up_{item['uid']}", on_click=_move, args=(i, -1), disabled=i == 0)
                b[1].button("↓", key=f"mb_dn_{item['uid']}", on_click=_move, args=(i, 1), disabled=i == len(stack) - 1)
                b[2].button("✕", key=f"mb_rm_{item['uid']}", on_click=_remove, args=(i,), help="remove")
                item["params"] = params_form(entry, item["params"], f"mb_p_{item['uid']}")
                try:
                    p = entry.resolve(item["params"])
                    b[3].caption(f"keeps time: {entry.meta['keeps_time']} · min length: {block_min_len(entry, p)} · "
                                 f"causal: {block_is_causal(entry, p)}")
                except SynthwbError:
                    pass
                st.markdown(module_doc(entry))

    st.subheader("Head")
    heads = HEADS.names()
    head = st.selectbox("Path head", heads, key="mb_head",
                        format_func=lambda n: f"{n}: {HEADS.get(n).help}")
    hentry = HEADS.get(head)
    head_values = S.pop("mb_head_loaded", None) or {}
    head_params = params_form(hentry, head_values, f"mb_h_{head}")
    with st.expander("About this head"):
        st.markdown(module_doc(hentry))

@st.cache_data(max_entries=64, show_spinner=False)
def cached_summary(spec_json: str) -> list[dict]:
    return summary(ModelSpec.model_validate_json(spec_json))


spec = None
try:
    spec = ModelSpec(blocks=stk.to_blocks(S.mb_stack), head={"name": head, "params": head_params},
                     n_features=int(S.mb_n_features), d_model=int(S.mb_d_model), context=int(S.mb_context),
                     horizon=int(S.mb_horizon), norm_between=bool(S.mb_norm_between), dropout=float(S.mb_dropout),
                     feature_set=feature_set)
    rows = cached_summary(spec.model_dump_json())
except SynthwbError as exc:
    st.subheader("Validation")
    state.show_error(exc)
    spec = None

if spec is not None:
    st.subheader("Summary")
    total = rows[-1]["params"]
    st.success(f"Valid: {len(spec.blocks)} blocks, head {spec.head.name}, {total:,} parameters; "
               f"output paths (B, n_paths, {spec.horizon + 1}).", icon=":material/check_circle:")
    st.dataframe(rows, hide_index=True, width="stretch", height=36 * (len(rows) + 1) + 4)

    save_col, smoke_col = st.columns([1, 2], gap="large")
    with save_col:
        st.subheader("Save")
        name = st.text_input("Spec name", value=S.get("mb_saved") or "my-model", key="mb_save_name",
                             help="a-z, 0-9, '.', '_' or '-'; saved under <store>/_specs/<name>.json")
        if st.button("Save spec", type="primary"):
            try:
                path = save_spec(name, spec)
                st.success(f"Saved {path}")
            except SynthwbError as exc:
                state.show_error(exc)
        st.download_button("Download JSON", spec.model_dump_json(indent=2), file_name=f"{name}.json",
                           mime="application/json")
    with smoke_col:
        st.subheader("Forward-pass smoke test (untrained)")
        n_paths = st.select_slider("paths", [50, 100, 200, 500, 1000], value=200, key="mb_smoke_paths")
        if st.button("Run forward pass"):
            from synthwb.models import smoke

            try:
                if feature_set:
                    w = smoke.windows_from_featureset(spec, feature_set)
                else:
                    sel = state.selection()
                    w = smoke.windows_from_bars(spec, state.bars(sel), sel.freq if sel else "1h")
                with st.spinner("Simulating..."):
                    S.mb_smoke = (w, smoke.run_smoke(w, n_paths=n_paths))
            except SynthwbError as exc:
                state.show_error(exc)
        if "mb_smoke" in S:
            w, res = S.mb_smoke
            for note in w.notes:
                st.info(note)
            st.caption(f"{len(w.x)} windows from {w.source}; {res['seconds'] * 1000:.0f} ms; finite: {res['finite']}, "
                       f"positive: {res['positive']}, t0 exact: {res['t0_exact']}")
            k = st.selectbox("Window", range(len(w.x)), format_func=lambda i: str(w.times[i][0])[:16], key="mb_smoke_w")
            st.plotly_chart(fan_chart(res["paths"][k], times=w.times[k], realised=w.future[k],
                                      title="Untrained paths vs realised"), width="stretch")
            ex = {n: res["extras"][n][k] for n in ("drift", "vol") if n in res["extras"]}
            if ex:
                st.plotly_chart(path_trajectories(None, extras=ex, title="Per-step drift and vol (log return)", ytitle="log return"),
                                width="stretch")

st.divider()
classical_section()
