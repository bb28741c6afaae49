"""The shared sidebar: asset class / symbol / timeframe / date range pickers every page reads."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from synthwb.data.schema import FREQ_SECONDS, FREQS, Selection

from . import state


def _derivable(stored: list[str]) -> list[str]:
    """Stored timeframes plus every coarser one (served by resampling the finest stored)."""
    finest = min(FREQ_SECONDS[f] for f in stored)
    return [f for f in FREQS if FREQ_SECONDS[f] >= finest]


def render_sidebar() -> None:
    root = state.lake_root()
    with st.sidebar:
        st.markdown("### :material/candlestick_chart: synthwb")
        inv = state.inventory(str(root))
        if inv.is_empty():
            st.info(f"The lake at `{root}` is empty. Create the demo lake or import a file on the Data Explorer page.")
            st.session_state[state.SEL_KEY] = None
            return
        prev = state.selection()
        classes = sorted(inv["asset_class"].unique().to_list())
        ac = st.selectbox("Asset class", classes, index=_index(classes, prev and prev.asset_class), key="sb_asset_class")
        sub = inv.filter(inv["asset_class"] == ac)
        symbols = sorted(sub["symbol"].unique().to_list())
        sym = st.selectbox("Symbol", symbols, index=_index(symbols, prev and prev.symbol), key="sb_symbol")
        sub = sub.filter(sub["symbol"] == sym)
        freqs = _derivable(sub["freq"].unique().to_list())
        # 5-minute bars by default: the 24h Synth task's step, so the defaults downstream (feature
        # set, training, backtest) fit the task with no expert choice
        default_freq = prev.freq if prev and prev.freq in freqs else next(
            (f for f in ("5min", "1h") if f in freqs), freqs[-1])
        freq = st.selectbox("Timeframe", freqs, index=freqs.index(default_freq), key="sb_freq",
                            help="Timeframes not stored are resampled from the finest stored bars.")
        lo = sub["start"].min().date()
        hi = sub["end"].max().date()
        default = (max(lo, hi - timedelta(days=90)), hi)
        rng = st.date_input("Date range (UTC)", value=default, min_value=lo, max_value=hi, key="sb_range")
        start, end = (rng if isinstance(rng, (tuple, list)) and len(rng) == 2 else (default[0], default[1]))
        sel = Selection(ac, sym, freq,
                        datetime.combine(start, time(), tzinfo=UTC),
                        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC))
        st.session_state[state.SEL_KEY] = sel
        rows = int(sub["rows"].sum())
        st.caption(f"{sym}: {lo} to {hi}, {rows:,} stored rows ({', '.join(sorted(sub['freq'].to_list(), key=FREQ_SECONDS.get))})")


def _index(options: list, value) -> int:
    return options.index(value) if value in options else 0
