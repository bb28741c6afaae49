"""Data Explorer's Fetch panel: bars from the validator's own feeds (Binance spot, Hyperliquid)
as a background job with progress and Stop, a summary of what each series gained, and the list
of fetched series with one button to top them all up."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import streamlit as st

from synthwb.core.errors import SynthwbError
from synthwb.data.feeds.assets import FEEDS, INTERVALS, SOURCES, assets_of
from synthwb.data.feeds.manifest import read_manifest
from synthwb.jobs.registry import ACTIVE
from synthwb.scoring.versions import DEFAULT_VALIDATOR, get_validator, validator_names
from ui import jobs, state

KEY = "de_fetch_job"
MODES = ["Assets", "A validator competition"]


def _summary(result: dict) -> None:
    rows = [{"asset": r["asset"], "feed": f"{r['source']} {r['feed_symbol']}", "freq": r["freq"],
             "bars added": r["rows_added"], "partitions": r["partitions"],
             "added from": r["first_added"], "added to": r["last_added"], "status": r["status"]}
            for r in result.get("series", [])]
    if rows:
        st.dataframe(pl.DataFrame(rows), hide_index=True, key="de_fetch_summary")
    for r in result.get("series", []):
        for n in r["notes"]:
            st.caption(f"{r['asset']}: {n}")


def _outcome() -> None:
    j = jobs.job(KEY)
    if j is None:
        return
    if j.status in ACTIVE:
        jobs.progress(KEY)
        return
    res = j.result if isinstance(j.result, dict) else {}
    if st.session_state.get("de_fetch_seen") != j.id:  # new bars: the sidebar and views re-read the lake
        st.session_state["de_fetch_seen"] = j.id
        state.data_changed()
    added = res.get("rows_added", 0)
    if j.status == "finished":
        st.success(f"{j.name}: {added:,} bars added.", icon=":material/check_circle:")
    elif j.status == "interrupted":
        st.warning(f"{j.name}: stopped; {added:,} bars added, complete partitions kept. Fetch again to go on "
                   "where it stopped.", icon=":material/stop_circle:")
    else:
        st.error(f"{jobs.error_text(j.error)} ({added:,} bars added before; complete partitions kept, "
                 "nothing partial was written)", icon=":material/error:")
    _summary(res)


def _fetched() -> None:
    try:
        series = read_manifest(state.lake_root())["series"]
    except SynthwbError as exc:
        state.show_error(exc)
        return
    if not series:
        return
    rows = [{"series": f"{e['asset_class']}/{e['symbol']} {e['freq']}", "feed": f"{e['source']} {e['feed_symbol']}",
             "since": e.get("since", "")[:16], "last bar": (e.get("last_bar") or "")[:16],
             "last fetch": (e.get("last_fetch") or "")[:16]} for e in series.values()]
    st.markdown("**Fetched series** (`feeds.json` in the lake)")
    st.dataframe(pl.DataFrame(rows), hide_index=True, key="de_fetch_manifest")
    if st.button("Update all to now", key="de_fetch_update", icon=":material/update:", disabled=jobs.busy(KEY),
                 help="adds only the missing bars; archive months fetched whole are not downloaded again"):
        jobs.submit(KEY, "fetch", "Update of the fetched series", update=True)
        st.rerun()


def fetch_form() -> None:
    st.markdown("**Fetch from the validator's feeds**: Binance spot (bulk archives, verified against their "
                "checksums, then REST for the recent tail) and Hyperliquid (a recent window of candles), the "
                "prices the validator scores with. Runs in the background; each month is written as it completes.")
    mode = st.segmented_control("Fetch", MODES, default=MODES[0], key="de_fetch_mode") or MODES[0]
    c1, c2 = st.columns([1, 3])
    source = None
    if mode == MODES[0]:
        source = c1.selectbox("Feed", SOURCES, key="de_fetch_source",
                              format_func={"binance": "Binance spot", "hyperliquid": "Hyperliquid"}.get)
        names = assets_of(source)
        assets = c2.multiselect("Assets", names, default=names[:1], key="de_fetch_assets",
                                format_func=lambda a: f"{a} ({FEEDS[a].symbol})")
    else:
        versions = validator_names()
        ver = c1.selectbox("Validator", versions, index=versions.index(DEFAULT_VALIDATOR), key="de_fetch_validator")
        rules = get_validator(ver)
        comps = list(rules.competitions)
        comp = c2.selectbox("Competition", comps, key="de_fetch_comp",
                            format_func=lambda k: f"{rules.competitions[k].label} ({', '.join(rules.competitions[k].assets)})")
        assets = [a for a in rules.competition(comp).assets if a in FEEDS and FEEDS[a].fetchable]
        left = [a for a in rules.competition(comp).assets if a not in assets]
        st.caption("Feeds: " + ", ".join(f"{a} {FEEDS[a].source} {FEEDS[a].symbol}" for a in assets)
                   + (f"; not fetchable: {', '.join(left)}" if left else ""))
    c3, c4, c5 = st.columns(3)
    freq = c3.selectbox("Timeframe", list(INTERVALS), key="de_fetch_freq")
    today = datetime.now(UTC).date()
    since = c4.date_input("Since (UTC)", value=today - timedelta(days=30), max_value=today, key="de_fetch_since")
    until = c5.date_input("Until (UTC, empty: now)", value=None, key="de_fetch_until")
    busy = jobs.busy(KEY)
    if st.button("Fetch", key="de_fetch_go", type="primary", icon=":material/cloud_download:",
                 disabled=busy or not assets, help="a fetch is running" if busy else None):
        kwargs = {"assets": list(assets), "source": source, "freq": freq,
                  "since": since.isoformat() if isinstance(since, date) else None,
                  "until": until.isoformat() if isinstance(until, date) else None}
        label = f"Fetch of {', '.join(assets)} {freq} since {kwargs['since']}"
        jobs.submit(KEY, "fetch", label, **kwargs)
        st.rerun()
    _outcome()
    _fetched()
