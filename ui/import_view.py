"""Data Explorer's import forms: a file (preview, column mapping, time format, zone,
duplicates, rows off the grid; asset class, symbol and timeframe guessed from the file name) and
a Hugging Face dataset. ``done(message)`` is called after a write. The engine's messages name
CLI flags; :func:`page_words` turns them into this form's controls."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.data.schema import ASSET_CLASSES, FREQS
from ui import state

NO_VOLUME = "(none: volume 0)"
CHOOSE = "(choose a column)"
MAP_FIELDS = ("ts", "open", "high", "low", "close", "volume")


CHUNK = 1 << 20

#: CLI wording -> the form's controls, applied in order
_PAGE_WORDS = (
    (r"--on-duplicate first\|last\|mean", "“Duplicate timestamps” (first, last or mean)"),
    (r"--on-duplicate (\w+)", r"“Duplicate timestamps”: \1"),
    (r"(drop (?:it|them)) with --drop-off-grid", r"\1 by ticking “Drop rows off the grid”"),
    (r"--drop-off-grid", "“Drop rows off the grid”"),
    (r"use --freq (\w+)", r"choose Frequency \1"),
    (r"a finer --freq", "a finer Frequency"),
    (r"--freq (\w+)", r"Frequency \1"),
    (r"--freq", "Frequency"),
    (r"--map volume=none", "volume “(none: volume 0)” in the column mapping"),
    (r"--map (\w+)=COLUMN", r"the \1 field of the column mapping"),
    (r"--map (\w+)=([^\s;,)]+)", r"\1 = \2 in the column mapping"),
    (r"--map [A-Za-z_]*=?[A-Z]*", "the column mapping"),
    (r"--ts-format", "“Timestamp format”"),
    (r"--tz", "“Zone of naive timestamps”"),
    (r"--asset-class", "Asset class"),
    (r"--symbol", "Symbol"),
    (r",? or import with --sort", ""),
)


def page_words(message: str) -> str:
    """An engine message with its CLI flags named as this form's controls."""
    for pattern, repl in _PAGE_WORDS:
        message = re.sub(pattern, repl, message)
    return message


def _spool(up) -> tuple[str, Path]:
    """The upload streamed to a temp file on disk in 1 MiB chunks, hashed on the way: the engine
    reads that file, and no copy of the whole upload is kept in memory or in a cache. One file
    per session, replaced (the old one deleted) when another file is uploaded."""
    held = st.session_state.get("de_imp_spool")
    if held and held[0] == up.file_id and Path(held[2]).is_file():
        return held[1], Path(held[2])
    if held:
        shutil.rmtree(Path(held[2]).parent, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="synthwb-upload-"))
    path = folder / f"upload{''.join(Path(up.name).suffixes[-2:]) or '.csv'}"
    digest = hashlib.sha1()
    up.seek(0)
    with open(path, "wb") as fh:
        for chunk in iter(lambda: up.read(CHUNK), b""):
            digest.update(chunk)
            fh.write(chunk)
    os.chmod(path, 0o600)
    fid = digest.hexdigest()[:12]
    st.session_state["de_imp_spool"] = (up.file_id, fid, str(path))
    return fid, path


@st.cache_data(max_entries=4, show_spinner=False)
def _preview(fid: str, name: str, _path: Path, opts_key: str, _opts: dict):
    """The import preview of an uploaded file (cached per file content and options)."""
    from synthwb.data.sources import preview_file

    try:
        return preview_file(_path, name=name, **_opts), None
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
    if pv.guess:
        g = pv.guess
        st.caption(f"Guess: {g['asset_class']} / {g['symbol']}{' / ' + g['freq'] if g.get('freq') else ''}, "
                   f"{g['why']} (change it above).")
    for n in pv.notes:
        st.caption(f"Note: {page_words(n)}")
    for w in pv.warnings:
        st.warning(page_words(w), icon=":material/warning:")
    if pv.bars is not None and pv.bars.height:
        left, right = st.columns(2)
        left.markdown("First rows")
        left.dataframe(pl.DataFrame(pv.rows_shown("first")), hide_index=True, key="de_imp_first")
        right.markdown("Last rows")
        right.dataframe(pl.DataFrame(pv.rows_shown("last")), hide_index=True, key="de_imp_last")


def import_form(sel, done: Callable[[str], None]) -> None:
    from synthwb.data.sources import ON_DUPLICATE, import_file

    st.markdown("**Import a CSV or Parquet file** (plain, gzip or zip; comma, semicolon or tab; exchange and "
                "vendor exports such as Yahoo, Binance, CryptoDataDownload, MetaTrader). The file is read and "
                "previewed first; rows at timestamps already stored are replaced.")
    up = st.file_uploader("File", type=["csv", "parquet", "pq", "txt", "tsv", "gz", "zip"], key="de_upload")
    if up is None:
        return
    fid, path = _spool(up)
    key_of = lambda f: f"de_map_{f}"
    if st.session_state.get("de_imp_fid") != fid:  # a new file: forget the last file's choices
        for f in MAP_FIELDS:
            st.session_state.pop(key_of(f), None)
        st.session_state["de_imp_fid"] = fid
        from synthwb.data.filenames import guess_series

        guess = guess_series(up.name) or {}  # the form starts on the file name's guess
        st.session_state["de_imp_sym"] = guess.get("symbol", "")
        if guess.get("asset_class"):
            st.session_state["de_imp_ac"] = guess["asset_class"]
        if guess.get("freq"):
            st.session_state["de_imp_freq"] = guess["freq"]
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
    drop = c7.checkbox("Drop rows off the grid", False, key="de_imp_drop",
                       help="drop bars whose time is off the Frequency grid the others follow (e.g. Yahoo's live, "
                            "partial bar at 13:46:02); each dropped row is named. Rows out of time order are always "
                            "sorted.")
    opts = {"freq": freq, "asset_class": ac, "symbol": sym or None, "tz": tz or None,
            "ts_format": ts_format or None, "mapping": {}, "on_duplicate": dup, "drop_off_grid": drop}
    guess, fatal = _preview(fid, up.name, path, repr(sorted(opts.items())), opts)
    if fatal:
        st.error(page_words(fatal), icon=":material/error:")
        st.caption("Nothing was written; the lake is unchanged.")
        return
    mapping = _chosen_mapping(guess, key_of)
    pv = guess
    if mapping:
        opts["mapping"] = mapping
        pv, fatal = _preview(fid, up.name, path, repr(sorted(opts.items())), opts)
        if fatal:
            st.error(page_words(fatal), icon=":material/error:")
            return
    _mapping_form(guess, key_of)
    _show_preview(pv)
    if pv.problem:
        st.error(page_words(pv.problem), icon=":material/error:")
        st.caption("Nothing was written; the lake is unchanged. Fix the file or the choices above.")
    elif not sym:
        st.caption("Enter a symbol above to import (none could be guessed from the file name).")
    if not st.button("Import", key="de_imp_go", disabled=bool(pv.problem) or not sym, icon=":material/upload:",
                     type="primary", help=None if sym else "Enter a symbol first"):
        return
    try:
        with st.spinner(f"Importing {up.name}..."):
            res = import_file(path, ac, sym, freq, root=state.lake_root(), tz=tz or None,
                              ts_format=ts_format or None, mapping=mapping, on_duplicate=dup, name=up.name,
                              drop_off_grid=drop)
    except SynthwbError as exc:
        st.error(page_words(str(exc)), icon=":material/error:")
        st.caption("Nothing was written; the lake is unchanged.")
        return
    extra = f" Rows were {res['order']}." if res["order"] != "oldest first" else ""
    if res["dropped_off_grid"]:
        extra += f" Dropped off the grid: {', '.join(res['dropped_off_grid'][:20])}."
    done(f"Imported {res['rows_written']:,} bars of {ac}/{res['symbol']} {freq} from {up.name} into "
          f"{res['partitions']} partition(s); {res['rows_replaced']:,} stored rows replaced.{extra}")


def hf_form(done: Callable[[str], None]) -> None:
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
    done(f"Imported {res['rows_written']:,} bars from {res['source']} as {ac}/{res['symbol']} {res['freq']}.")
