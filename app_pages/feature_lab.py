"""Feature Lab: pick features from the registry, preview and chart them, check correlation
and importance, choose the split and save a named feature set for Model Builder and Train.
Draws only; every computation is a synthwb.features call."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from datetime import time as dtime

import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.core.registry import Param
from synthwb.data.lake import lake_state
from synthwb.data.schema import FREQ_SECONDS, FREQS
from synthwb.features.registry import FEATURES, FeatureSpec, default_spec
from ui import state
from ui.getting_started import guide
from ui.widgets import param_widget

st.title(":material/science: Feature Lab")
sel = state.require_selection()
guide(here="app_pages/feature_lab.py")

DEFAULT_ON = {it.name for it in default_spec(sel.freq).features}


def _param_widget(name: str, p: Param):
    return param_widget(p, f"fl_p_{name}_{p.name}")


def _picker() -> tuple[list[dict], list[str], str | None]:
    """Feature checkboxes, one tab per category, with their parameter widgets (from Entry.params)."""
    items, refs, base = [], [], None
    cats = FEATURES.categories()
    tabs = st.tabs([f"{cat} ({len(entries)})" for cat, entries in cats.items()])
    for tab, entries in zip(tabs, cats.values()):
        grid = tab.columns(3)
        for i, e in enumerate(entries):
            with grid[i % 3].container(border=True):
                on = st.checkbox(f"**{e.name}**", value=e.name in DEFAULT_ON, key=f"fl_on_{e.name}",
                                 help=e.help or None)
                if not on:
                    continue
                if e.params:
                    params = {}
                    for k, p in enumerate(e.params):  # two to a row: a card is a third of the page wide
                        if k % 2 == 0:
                            pcols = st.columns(2)
                        with pcols[k % 2]:
                            params[p.name] = _param_widget(e.name, p)
                else:
                    params = {}
                items.append({"name": e.name, "params": params})
                if e.meta.get("fine"):
                    finer = [f for f in FREQS if FREQ_SECONDS[f] <= min(300, FREQ_SECONDS[sel.freq])]
                    base = st.selectbox("fine bars", finer or ["1min"], key="fl_base_freq",
                                        help="the fine bars aggregated into each bar")
                if e.meta.get("refs"):
                    inv = state.inventory(str(state.lake_root()))
                    syms = sorted({f"{r['asset_class']}:{r['symbol']}" for r in inv.iter_rows(named=True)}
                                  - {f"{sel.asset_class}:{sel.symbol}"})
                    refs = st.multiselect("reference symbols", syms, default=syms[:1], key="fl_refs")
    return items, refs, base


@st.cache_data(max_entries=8, show_spinner=False)
def _build(root: str, sel_dict: dict, spec_json: str, lake_token: str) -> pl.DataFrame:
    """Kept in memory per selection and spec until a lake file changes (``lake_token``); the
    engine also caches on disk, keyed by selection, spec and lake file mtimes."""
    from synthwb.data.schema import Selection
    from synthwb.features.compute import build_features

    return build_features(Selection.from_dict(sel_dict), FeatureSpec.from_json(spec_json), root=root)



def _split_chooser(frame: pl.DataFrame):
    from synthwb.features.datasets import SplitSpec

    c1, c2, c3 = st.columns([1, 1, 1])
    how = c1.radio("Split by", ["fractions", "dates"], horizontal=True, key="fl_split_how")
    if how == "fractions":
        train = c2.slider("train", 0.3, 0.9, 0.7, 0.05, key="fl_split_train")
        val = c3.slider("validation", 0.0, 0.4, 0.15, 0.05, key="fl_split_val")
        return SplitSpec(train=train, val=val)
    lo, hi = frame["ts"].min().date(), frame["ts"].max().date()
    span = hi - lo
    v = c2.date_input("validation from", value=lo + span * 0.7, min_value=lo, max_value=hi, key="fl_split_vs")
    t = c3.date_input("test from", value=lo + span * 0.85, min_value=lo, max_value=hi, key="fl_split_ts")
    as_dt = lambda d: datetime.combine(d, dtime(), tzinfo=UTC)  # noqa: E731
    return SplitSpec(val_start=as_dt(v), test_start=as_dt(t))


st.caption(f"{sel.asset_class}/{sel.symbol}, {sel.freq} bars, "
           f"{sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d} (sidebar). Widgets come from the feature registry.")
st.subheader("Features")
items, refs, base = _picker()
try:
    spec = FeatureSpec(freq=sel.freq, features=items, references=refs, base_freq=base)
except SynthwbError as exc:
    state.show_error(exc)
    st.stop()
if not spec.features:
    st.info("Pick at least one feature above.")
    st.stop()

t0 = time.perf_counter()
try:
    with st.spinner(f"Computing {len(spec.columns())} feature columns..."):
        frame = _build(str(state.lake_root()), sel.to_dict(), spec.to_json(), lake_state(state.lake_root()))
except SynthwbError as exc:
    state.show_error(exc)
    st.stop()
st.caption(f"{frame.height:,} rows x {len(spec.columns())} features in {time.perf_counter() - t0:.2f} s"
           + (f" ({spec.base_freq} fine bars for micro-structure)" if spec.needs_fine() else ""))
feature_cols = spec.columns()

st.subheader("Split")
try:
    split = _split_chooser(frame)
    from synthwb.features.datasets import split_frame

    parts = split_frame(frame, split)
except SynthwbError as exc:
    state.show_error(exc)
    st.stop()
st.caption(" | ".join(f"{k}: {v.height:,} rows" + (f" from {v['ts'][0]:%Y-%m-%d %H:%M}" if v.height else "")
                      for k, v in parts.items()) + " (scaling and selection are fitted on train only)")


def _save() -> None:
    from synthwb.features.featureset import create_featureset, list_featuresets, save_featureset

    rep = st.session_state.get("fl_report")
    use_kept = False
    if rep and rep[0] == spec.to_json():
        use_kept = st.checkbox("Use only the selected features (+ OHLCV)", value=False, key="fl_use_kept")
    c1, c2, c3 = st.columns([2, 1, 1])
    name = c1.text_input("Feature set name", value=f"{sel.symbol.lower()}-{sel.freq}", key="fl_save_name",
                         help="a-z, 0-9, '.', '_' or '-'; Model Builder and Train list it by this name")
    scaling = c2.selectbox("Scaling", ["standard", "minmax", "none"], key="fl_scaling")
    inv = state.inventory(str(state.lake_root()))
    mine = inv.filter((pl.col("asset_class") == sel.asset_class) & (pl.col("symbol") == sel.symbol))
    lake_lo, lake_hi = mine["start"].min(), mine["end"].max()
    whole = f"the whole lake: {lake_lo:%Y-%m-%d} to {lake_hi:%Y-%m-%d}"
    side = f"the sidebar's range: {sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d}"
    rows = st.radio("Rows", [side, whole], key="fl_save_rows", horizontal=True,
                    help=f"the bars of {sel.symbol} {sel.freq} the feature set covers, split into train / val / test "
                         "as chosen above. The sidebar's range (the preview below) keeps a first run fast; the whole "
                         "lake gives training the most data (setup and validation take longer)")
    if rows == side and (sel.start > lake_lo or sel.end < lake_hi):
        st.caption(f":material/info: This feature set will cover **{(sel.end - sel.start).days} days** of the "
                   f"{(lake_hi - lake_lo).days} stored for {sel.symbol}: widen the sidebar's date range or choose "
                   "the whole lake for more training data.")
    save_sel = type(sel)(sel.asset_class, sel.symbol, sel.freq) if rows == whole else sel
    ohlcv = c3.checkbox("OHLCV as inputs", value=default_spec(sel.freq).include_ohlcv, key="fl_ohlcv",
                        help="raw price levels drift out of the range seen in training; off by default, "
                             "as in `features build`")
    if st.button("Save feature set", type="primary", icon=":material/save:", key="fl_save"):
        cols = (list(rep[1].kept) if use_kept else list(feature_cols))
        cols = (["open", "high", "low", "close", "volume"] if ohlcv else []) + cols
        t1 = time.perf_counter()
        with st.status(f"Saving feature set {name}...", expanded=True) as status:
            try:
                status.write("building the frame, splitting it, fitting the scaler on train")
                fs = create_featureset(name, save_sel, spec, split, scaling=scaling, feature_cols=cols,
                                       root=state.lake_root())
                status.write("writing frame.parquet and featureset.json")
                path = save_featureset(fs, state.store_root())
            except SynthwbError as exc:
                status.update(label="Not saved", state="error")
                state.show_error(exc)
                return
            status.update(label=f"Saved in {time.perf_counter() - t1:.1f} s", state="complete", expanded=False)
        st.success(f"Saved feature set **{fs.name}** ({len(fs.feature_cols)} columns; "
                   + ", ".join(f"{k} {v:,}" for k, v in fs.rows.items()) + f" rows, {rows}) to `{path.parent}`",
                   icon=":material/check_circle:")
        st.page_link("app_pages/train.py", label=f"Next: train a model on {fs.name}", icon=":material/arrow_forward:")
    saved = list_featuresets(state.store_root())
    if saved:
        with st.expander(f"Saved feature sets ({len(saved)})"):
            st.dataframe(pl.DataFrame(saved).to_pandas(), hide_index=True, width="stretch")


st.subheader("Save feature set")
_save()

st.subheader("Explore")
# one view at a time: only the chosen one is computed (st.tabs would compute all of them)
VIEWS = ["Preview", "Chart", "Correlation", "Selection"]
shown = st.segmented_control("View", VIEWS, default=VIEWS[0], key="fl_view", label_visibility="collapsed") or VIEWS[0]

if shown == "Preview":
    st.dataframe(frame.tail(500).to_pandas(), width="stretch", height=360, hide_index=True)
    st.caption(f"last 500 of {frame.height:,} rows; columns: ts, OHLCV + {len(feature_cols)} features")

elif shown == "Chart":
    from synthwb.charts.features import oscillator_groups, price_figure

    groups = list(oscillator_groups(spec))
    c1, c2 = st.columns([3, 1])
    panels = c1.multiselect("Oscillator panels", groups, default=groups[:2], key="fl_panels")
    shade = c2.toggle("Shade ADX regimes", value=True, key="fl_shade",
                      help="green: uptrend, red: downtrend, grey: ranging (needs the adx_regime feature)")
    st.plotly_chart(price_figure(frame, spec, sel.asset_class, panels=panels, shade_regimes=shade),
                    width="stretch", key="fl_price_chart")
    if frame.height > 1500:
        st.caption("showing the last 1,500 bars")

elif shown == "Correlation":
    from synthwb.charts.features import correlation_figure

    st.plotly_chart(correlation_figure(parts["train"], feature_cols), width="stretch", key="fl_corr")
    st.caption(f"Correlation of the {len(feature_cols)} features on the training split")

else:
    from synthwb.charts.features import importance_figure
    from synthwb.features.selection import select_features

    with st.form("fl_sel_form"):
        c1, c2, c3 = st.columns(3)
        thr = c1.slider("drop pairs with |corr| above", 0.5, 1.0, 0.95, 0.01, key="fl_sel_thr")
        top_n = c2.number_input("keep top N", 1, max(1, len(feature_cols)), min(20, len(feature_cols)), key="fl_sel_n")
        hz = c3.number_input("forward-return horizon (bars)", 1, 500, 1, key="fl_sel_h")
        run = st.form_submit_button("Run selection on the training split", icon=":material/filter_alt:")
    if run:
        with st.spinner("Fitting the tree ensemble..."):
            try:
                st.session_state["fl_report"] = (spec.to_json(), select_features(
                    parts["train"], feature_cols, corr_threshold=thr, top_n=int(top_n), horizon=int(hz)))
            except SynthwbError as exc:
                state.show_error(exc)
    got = st.session_state.get("fl_report")
    if got and got[0] == spec.to_json():
        rep = got[1]
        c1, c2 = st.columns([2, 3])
        c1.markdown(f"**Dropped ({len(rep.dropped)})**, |corr| > {rep.corr_threshold}")
        c1.dataframe(rep.dropped_frame().to_pandas(), hide_index=True, width="stretch")
        c2.plotly_chart(importance_figure(rep), width="stretch", key="fl_imp")
        st.caption(f"kept ({len(rep.kept)}): {', '.join(rep.kept)}")
    else:
        st.caption("Run the selection to see dropped pairs and importances.")
