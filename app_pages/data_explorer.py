"""Data Explorer: chart, data quality, statistics, import, demo data and CSV export of the
sidebar's selection. Draws only; every computation is a synthwb.data call."""
from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import streamlit as st

from synthwb.data.schema import ASSET_CLASSES, FREQS, is_24_7
from synthwb.core.errors import SynthwbError
from ui import state


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _quality_report(root: str, sel_key: str, freq: str, asset_class: str, _bars: pl.DataFrame) -> dict:
    from synthwb.data.cleaning import quality_report

    return quality_report(_bars, freq, asset_class)


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


NO_VOLUME = "(none: volume 0)"
CHOOSE = "(choose a column)"
MAP_FIELDS = ("ts", "open", "high", "low", "close", "volume")


@st.cache_data(max_entries=4, show_spinner=False)
def _preview(fid: str, name: str, _data: bytes, opts_key: str, _opts: dict):
    """The import preview of an uploaded file (cached per file and options)."""
    from synthwb.data.sources import preview_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{''.join(Path(name).suffixes[-2:]) or '.csv'}"
        path.write_bytes(_data)
        try:
            return preview_file(path, name=name, **_opts), None
        except SynthwbError as exc:
            return None, str(exc)


def _source_label(src) -> str:
    from synthwb.data.columns import describe

    return NO_VOLUME if src is None else describe(src)


def _guess_label(guess, f: str) -> str:
    """The form's label of the guessed source of ``f``."""
    return _source_label(guess.mapping[f]) if f in guess.mapping and guess.mapping[f] != "__missing__" else CHOOSE


def _chosen_mapping(guess, key_of) -> dict:
    """The fields the user changed in the form, as ``--map`` values (the rest stay guessed,
    so the preview keeps its notes on them)."""
    out = {}
    for f in MAP_FIELDS:
        choice = st.session_state.get(key_of(f))
        if choice and choice != CHOOSE and choice != _guess_label(guess, f):
            out[f] = "none" if choice == NO_VOLUME else choice.replace(" + ", "+")
    return out


def _mapping_form(pv, key_of) -> None:
    """One select box per field, pre-filled with the guess (read back by _chosen_mapping)."""
    st.markdown("**Column mapping** (pre-filled with the guess; change a field to override it)")
    cols = st.columns(len(MAP_FIELDS))
    for c, f in zip(cols, MAP_FIELDS):
        options = list(pv.columns)
        guess = pv.mapping.get(f)
        if isinstance(guess, list):
            options.insert(0, _source_label(guess))
        if f == "volume":
            options.append(NO_VOLUME)
        label = _guess_label(pv, f)
        if label == CHOOSE:
            options.insert(0, CHOOSE)
        c.selectbox(f, options, index=options.index(label), key=key_of(f))


def _show_preview(pv) -> None:
    sh = pv.shape
    read = [sh.format.upper()] + ([sh.compression] if sh.compression else [])
    if sh.format == "csv":
        from synthwb.data.sources import describe_delim

        read += [sh.encoding, describe_delim(sh), f"header on line {sh.header_line}" if sh.header else "no header row"]
        if sh.skipped_lines:
            read.append(f"{len(sh.skipped_lines)} preamble line(s) skipped")
    st.markdown("**Preview** (nothing is written until you press Import)")
    m = st.columns(5)
    m[0].metric("Rows in file", f"{pv.rows:,}")
    m[1].metric("Bars", f"{pv.bars.height if pv.bars is not None else 0:,}")
    m[2].metric("Duplicates", f"{pv.duplicates:,}")
    m[3].metric("Gaps", "?" if pv.gaps is None else f"{pv.gaps:,}")
    m[4].metric("Inferred frequency", pv.inferred_freq or "?")
    ts = pv.timestamps
    st.caption(f"Read as {', '.join(read)}. Timestamps: {ts.get('format', '?')}; zone: {ts.get('zone', '?')}; "
               f"order: {pv.order}.")
    for n in pv.notes:
        st.caption(f"Note: {n}")
    for w in pv.warnings:
        st.warning(w, icon=":material/warning:")
    if pv.bars is not None and pv.bars.height:
        left, right = st.columns(2)
        left.markdown("First rows")
        left.dataframe(pl.DataFrame(pv.rows_shown("first")), hide_index=True, key="de_imp_first")
        right.markdown("Last rows")
        right.dataframe(pl.DataFrame(pv.rows_shown("last")), hide_index=True, key="de_imp_last")


def _import_form(sel) -> None:
    import hashlib

    from synthwb.data.sources import ON_DUPLICATE, import_file

    st.markdown("**Import a CSV or Parquet file** (plain, gzip or zip; comma, semicolon or tab; exchange and "
                "vendor exports such as Yahoo, Binance, CryptoDataDownload, MetaTrader). The file is read and "
                "previewed first; rows at timestamps already stored are replaced.")
    up = st.file_uploader("File", type=["csv", "parquet", "pq", "txt", "tsv", "gz", "zip"], key="de_upload")
    if up is None:
        return
    data = up.getvalue()
    fid = hashlib.sha1(data).hexdigest()[:12]
    key_of = lambda f: f"de_map_{f}"
    if st.session_state.get("de_imp_fid") != fid:  # a new file: forget the last file's choices
        for f in MAP_FIELDS:
            st.session_state.pop(key_of(f), None)
        st.session_state["de_imp_fid"] = fid
    c1, c2, c3, c4 = st.columns(4)
    ac = c1.selectbox("Asset class", ASSET_CLASSES, index=ASSET_CLASSES.index(sel.asset_class) if sel else 0,
                      key="de_imp_ac")
    sym = c2.text_input("Symbol", value="", placeholder="e.g. BTC", key="de_imp_sym").strip()
    freq = c3.selectbox("Frequency", FREQS, index=0, key="de_imp_freq")
    tz = c4.text_input("Zone of naive timestamps", value="UTC", key="de_imp_tz",
                       help="IANA name, e.g. America/New_York. Rows with an explicit UTC offset keep it.").strip()
    c5, c6, c7 = st.columns([3, 1, 1])
    ts_format = c5.text_input("Timestamp format", value="", placeholder="inferred (e.g. %d.%m.%Y %H:%M)",
                              key="de_imp_tsfmt").strip()
    dup = c6.selectbox("Duplicate timestamps", ON_DUPLICATE, key="de_imp_dup",
                       help="error: refuse; first / last: keep that row; mean: average the rows")
    srt = c7.checkbox("Sort rows by time", False, key="de_imp_sort",
                      help="for a vendor file with rows out of place (CLI: --sort); duplicates then follow "
                           "the policy on the left")
    opts = {"freq": freq, "asset_class": ac, "symbol": sym or None, "tz": tz or None,
            "ts_format": ts_format or None, "mapping": {}, "on_duplicate": dup, "sort": srt}
    guess, fatal = _preview(fid, up.name, data, repr(sorted(opts.items())), opts)
    if fatal:
        st.error(fatal, icon=":material/error:")
        st.caption("Nothing was written; the lake is unchanged.")
        return
    mapping = _chosen_mapping(guess, key_of)
    pv = guess
    if mapping:
        opts["mapping"] = mapping
        pv, fatal = _preview(fid, up.name, data, repr(sorted(opts.items())), opts)
        if fatal:
            st.error(fatal, icon=":material/error:")
            return
    _mapping_form(guess, key_of)
    _show_preview(pv)
    if pv.problem:
        st.error(pv.problem, icon=":material/error:")
        st.caption("Nothing was written; the lake is unchanged. Fix the file or the choices above.")
    if not st.button("Import", key="de_imp_go", disabled=bool(pv.problem) or not sym, icon=":material/upload:",
                     type="primary", help=None if sym else "Enter a symbol first"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{''.join(Path(up.name).suffixes[-2:]) or '.csv'}"
        path.write_bytes(data)
        try:
            with st.spinner(f"Importing {up.name}..."):
                res = import_file(path, ac, sym, freq, root=state.lake_root(), tz=tz or None,
                                  ts_format=ts_format or None, mapping=mapping, on_duplicate=dup, name=up.name,
                                  sort=srt)
        except SynthwbError as exc:
            state.show_error(exc)
            st.caption("Nothing was written; the lake is unchanged.")
            return
    _done(f"Imported {res['rows_written']:,} bars of {ac}/{res['symbol']} {freq} from {up.name} into "
          f"{res['partitions']} partition(s); {res['rows_replaced']:,} stored rows replaced.")


def _hf_form() -> None:
    from synthwb.data.sources import import_hf

    st.markdown("**Import from a Hugging Face dataset** laid out as `data/{ASSET}/{timeframe}.parquet` "
                "(e.g. open-synth-training-data); uses the local hub cache when offline.")
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    repo = c1.text_input("Dataset repo", placeholder="owner/open-synth-training-data", key="de_hf_repo")
    asset = c2.text_input("Asset", value="BTC", key="de_hf_asset")
    tf = c3.text_input("Timeframe file", value="1m", key="de_hf_tf")
    ac = c4.selectbox("Asset class", ASSET_CLASSES, key="de_hf_ac")
    if not st.button("Fetch and import", key="de_hf_go", disabled=not repo.strip(), icon=":material/cloud_download:"):
        return
    try:
        with st.spinner(f"Fetching data/{asset}/{tf}.parquet from {repo}..."):
            res = import_hf(repo.strip(), asset.strip(), tf.strip(), asset_class=ac, root=state.lake_root())
    except SynthwbError as exc:
        state.show_error(exc)
        return
    _done(f"Imported {res['rows_written']:,} bars from {res['source']} as {ac}/{res['symbol']} {res['freq']}.")


def _empty_lake() -> None:
    st.info(f"The lake at `{state.lake_root()}` is empty. Generate the demo lake to explore the app, "
            "or import your own file below.", icon=":material/database:")
    st.subheader("Generate demo data")
    _demo_form("de_demo", prominent=True)
    st.divider()
    _import_form(None)


def _chart(df: pl.DataFrame, sel, report: dict) -> None:
    from synthwb.charts.data import MAX_CANDLES, candles_figure, display_bars

    shown, freq, aggregated = display_bars(df, sel.freq, sel.asset_class)
    gaps = pl.DataFrame({"ts": [g["start"] for g in report["gaps"]["list"]]},
                        schema={"ts": pl.Datetime("us", "UTC")})
    mark = st.toggle("Mark gaps", value=False, key="de_mark_gaps")
    fig = candles_figure(shown, f"{sel.symbol} {freq}", sel.asset_class, gaps if mark else None)
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
    from synthwb.data.stats import summary

    s = summary(df, sel.freq, sel.asset_class)
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
    report = _quality_report(str(state.lake_root()), sel.key(), sel.freq, sel.asset_class, bars)
    t_chart, t_quality, t_stats, t_export = st.tabs(["Chart", "Data quality", "Statistics", "Export"])
    with t_chart:
        _chart(bars, sel, report)
    with t_quality:
        _quality(report)
    with t_stats:
        _stats(bars, sel)
    with t_export:
        _export(bars, sel)

with st.expander("Import a file", icon=":material/upload_file:"):
    _import_form(sel)
    st.divider()
    _hf_form()
with st.expander("Generate demo data", icon=":material/auto_awesome:"):
    _demo_form("de_demo2", prominent=False)
