"""Data Explorer: chart, data quality, statistics, import, demo data and CSV export of the
sidebar's selection. Draws only; every computation is a synthwb.data call."""
from __future__ import annotations

import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.data.schema import is_24_7
from ui import jobs, state
from ui.fetch_view import KEY as FETCH_KEY
from ui.fetch_view import fetch_form
from ui.getting_started import guide
from ui.import_view import hf_form, import_form

VIEWS = ["Chart", "Data quality", "Statistics", "Export"]


@st.cache_data(max_entries=8, show_spinner=False)
def _quality_report(root: str, sel_key: str, freq: str, asset_class: str, lake_token: str, _bars: pl.DataFrame) -> dict:
    """Cached per selection until the symbol's files change (``lake_token``)."""
    from synthwb.data.cleaning import quality_report

    return quality_report(_bars, freq, asset_class)


@st.cache_data(max_entries=8, show_spinner=False)
def _summary(sel_key: str, freq: str, asset_class: str, lake_token: str, _bars: pl.DataFrame) -> dict:
    from synthwb.data.stats import summary

    return summary(_bars, freq, asset_class)


def _flash() -> None:
    """The message of an action that finished just before the rerun."""
    msg = st.session_state.pop("de_flash", None)
    if msg:
        st.success(msg, icon=":material/check_circle:")


def _done(msg: str) -> None:
    """After a write: remember the message, refresh the cached lake views, redraw everything
    (the sidebar was drawn before the write)."""
    st.session_state["de_flash"] = msg
    state.data_changed()
    _quality_report.clear()
    st.rerun()


def _demo_form(key: str, prominent: bool) -> None:
    from synthwb.data.demo import SYMBOLS, generate_demo_lake

    c1, c2, c3 = st.columns([1, 1, 2])
    years = c1.number_input("Years of data", min_value=0.01, max_value=10.0, value=2.0, step=0.25,
                            key=f"{key}_years", help="1-minute bars; 2 years take a few seconds to write.")
    seed = c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key=f"{key}_seed")
    c3.caption(f"Seeded synthetic 1-minute bars for {', '.join(SYMBOLS[:-1])} (crypto, 24/7, correlated, "
               f"fat tails, volatility clustering, a few gaps) and {SYMBOLS[-1]} (equity, New York sessions).")
    if not st.button("Generate demo data", key=f"{key}_go", type="primary" if prominent else "secondary",
                     icon=":material/auto_awesome:"):
        return
    try:
        with st.spinner(f"Generating {years:g} years of 1-minute bars..."):
            res = generate_demo_lake(root=state.lake_root(), years=float(years), seed=int(seed))
    except SynthwbError as exc:
        state.show_error(exc)
        return
    rows = sum(s["rows"] for s in res["series"])
    _done(f"Demo lake written: {rows:,} bars in {res['seconds']:.1f} s at {res['root']}.")


def _empty_lake() -> None:
    st.info(f"The lake at `{state.lake_root()}` is empty. Generate the demo lake to explore the app, "
            "or import your own file below.", icon=":material/database:")
    guide(here="app_pages/data_explorer.py")
    st.subheader("1. Generate demo data")
    _demo_form("de_demo", prominent=True)
    st.divider()
    import_form(None, _done)
    st.divider()
    fetch_form()


def _report(df: pl.DataFrame, sel) -> dict:
    return _quality_report(str(state.lake_root()), sel.key(), sel.freq, sel.asset_class, state.series_state(sel), df)


def _chart(df: pl.DataFrame, sel) -> None:
    from synthwb.charts.data import MAX_CANDLES, candles_figure, display_bars

    shown, freq, aggregated = display_bars(df, sel.freq, sel.asset_class)
    mark = st.toggle("Mark gaps", value=False, key="de_mark_gaps")
    gaps = None
    if mark:  # the quality report finds them; computed only when asked for
        gaps = pl.DataFrame({"ts": [g["start"] for g in _report(df, sel)["gaps"]["list"]]},
                            schema={"ts": pl.Datetime("us", "UTC")})
    fig = candles_figure(shown, f"{sel.symbol} {freq}", sel.asset_class, gaps)
    st.plotly_chart(fig, key="de_candles", config={"displaylogo": False})
    if aggregated:
        st.caption(f"{df.height:,} {sel.freq} bars are drawn as {shown.height:,} {freq} candles "
                   f"(at most {MAX_CANDLES:,} candles keep the chart fluid); narrow the date range for full detail.")
    else:
        st.caption(f"{shown.height:,} {sel.freq} candles. Times in "
                   f"{'UTC' if is_24_7(sel.asset_class) else 'New York time'}.")


def _quality(report: dict) -> None:
    from synthwb.charts.data import coverage_figure

    c = st.columns(5)
    c[0].metric("Missing share", f"{report['missing_share']:.2%}",
                help=f"{report['missing']:,} of {report['expected']:,} bars the calendar expects")
    c[1].metric("Gaps", f"{report['gaps']['count']:,}",
                help=f"longest: {report['gaps']['longest_bars']} bars")
    c[2].metric("Duplicates", f"{report['duplicates']:,}")
    c[3].metric("Bad OHLC rows", f"{report['inconsistent_ohlc'] + report['non_positive']:,}",
                help="high < low, open/close outside [low, high], or non-positive prices")
    c[4].metric("Off-calendar bars", f"{report['off_calendar']:,}", help="bars outside the trading calendar")
    if report["issues"]:
        st.warning("; ".join(report["issues"]), icon=":material/report:")
    else:
        st.success("No gaps, duplicates or inconsistent bars in this range.", icon=":material/verified:")
    st.markdown("**Coverage calendar** (share of expected bars present per trading day)")
    st.plotly_chart(coverage_figure(report["coverage"]), key="de_coverage", config={"displaylogo": False})
    if report["gaps"]["list"]:
        st.markdown(f"**Longest gaps** (up to {len(report['gaps']['list'])})")
        gl = pl.DataFrame(report["gaps"]["list"]).sort("bars", descending=True)
        st.dataframe(gl, hide_index=True, key="de_gaps")


def _stats(df: pl.DataFrame, sel) -> None:
    from synthwb.charts.data import realized_vol_figure, returns_histogram

    s = _summary(sel.key(), sel.freq, sel.asset_class, state.series_state(sel), df)
    if s["rows"] < 3:
        st.info("Too few bars for statistics.")
        return
    c = st.columns(4)
    c[0].metric("Total return", f"{s['total_return']:+.2%}")
    c[1].metric("Realised vol (annualised)", f"{s.get('realized_vol_annual') or 0:.1%}")
    c[2].metric("Excess kurtosis", f"{s.get('excess_kurtosis', 0):.2f}")
    c[3].metric("Max drawdown", f"{s['max_drawdown']:.2%}")
    rows = [{"statistic": k, "value": f"{v:.6g}" if isinstance(v, float) else str(v)} for k, v in s.items()]
    left, right = st.columns([1, 2])
    left.dataframe(pl.DataFrame(rows), hide_index=True, key="de_stats")
    right.plotly_chart(returns_histogram(df), key="de_hist", config={"displaylogo": False})
    if sel.freq != "1d":
        st.markdown("**Realised volatility** over a trailing trading day")
        st.plotly_chart(realized_vol_figure(df, sel.freq, sel.asset_class), key="de_rv",
                        config={"displaylogo": False})


def _export(df: pl.DataFrame, sel) -> None:
    from synthwb.data.lake import read_bars

    root = state.lake_root()
    st.markdown(f"**Export** the selected range ({df.height:,} {sel.freq} bars) as CSV.")

    def _csv() -> bytes:  # built on click, in a thread: no rerun cost for large ranges
        return read_bars(sel, root=root).write_csv(datetime_format="%Y-%m-%dT%H:%M:%S%.fZ").encode()

    start = sel.start.date() if sel.start else "start"
    end = sel.end.date() if sel.end else "end"
    st.download_button("Download CSV", data=_csv, file_name=f"{sel.symbol}_{sel.freq}_{start}_{end}.csv",
                       mime="text/csv", key="de_csv", icon=":material/download:", on_click="ignore")


st.title("Data Explorer")
_flash()
sel = state.selection()
if sel is None:
    _empty_lake()
    st.stop()
guide(here="app_pages/data_explorer.py", expanded=True)

try:
    bars = state.bars(sel)
except SynthwbError as exc:
    state.show_error(exc)
    st.stop()

rng = f"{sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d}" if sel.start and sel.end else "all dates"
st.caption(f"{sel.asset_class} / **{sel.symbol}** / {sel.freq} / {rng} (UTC, end exclusive): {bars.height:,} bars")
if bars.height == 0:
    st.info("No bars in this date range; widen it in the sidebar.")
else:
    # one view at a time: only the chosen one is computed (st.tabs would compute all four)
    shown = st.segmented_control("View", VIEWS, default=VIEWS[0], key="de_view", label_visibility="collapsed")
    shown = shown or VIEWS[0]
    if shown == "Chart":
        _chart(bars, sel)
    elif shown == "Data quality":
        _quality(_report(bars, sel))
    elif shown == "Statistics":
        _stats(bars, sel)
    else:
        _export(bars, sel)

with st.expander("Fetch from the validator's feeds (Binance, Hyperliquid)", icon=":material/cloud_download:",
                 expanded=jobs.job(FETCH_KEY) is not None):
    fetch_form()
with st.expander("Import a file", icon=":material/upload_file:"):
    import_form(sel, _done)
    st.divider()
    hf_form(_done)
with st.expander("Generate demo data", icon=":material/auto_awesome:"):
    _demo_form("de_demo2", prominent=False)
