"""Hyperliquid candles: ``POST {base}/info`` (``https://api.hyperliquid.xyz``,
``$SYNTHWB_HYPERLIQUID_URL``) with ``{"type": "candleSnapshot", "req": {"coin", "interval",
"startTime", "endTime"}}`` (milliseconds), answered by a JSON list of
``{"t", "T", "s", "i", "o", "c", "h", "l", "v", "n"}`` (open/close time in ms, prices and volume
as strings), at most 5000 candles per call. Only a recent window of candles is served: older
requests come back empty, so the first page that holds any tells where the history starts.
Spot coins are addressed as ``@<index>`` (HYPE/USDC is ``@107``), HIP-3 perpetuals as
``xyz:NAME``.
"""
from __future__ import annotations

import os
from datetime import datetime

import polars as pl

from synthwb.data.feeds.assets import INTERVALS
from synthwb.data.feeds.http import FeedClient, FeedError, json_list
from synthwb.data.schema import FREQ_SECONDS

API_URL = "https://api.hyperliquid.xyz"
PAGE = 5000
#: seconds between two pages (candleSnapshot weighs about 20 of the 1200 per minute an IP may spend)
PACE = 0.25
TS = pl.Datetime("us", "UTC")


def api_url() -> str:
    return (os.environ.get("SYNTHWB_HYPERLIQUID_URL") or API_URL).rstrip("/")


def _frame(rows: list[dict]) -> pl.DataFrame:
    try:
        df = pl.DataFrame({
            "ts": pl.Series([int(r["t"]) * 1000 for r in rows], dtype=pl.Int64).cast(TS),
            **{name: pl.Series([r[k] for r in rows]).cast(pl.Float64)
               for name, k in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"))},
        })
    except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise FeedError(f"Hyperliquid answered candles in an unknown shape ({type(exc).__name__}: {exc})") from None
    return df.unique("ts", keep="last").sort("ts")


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"ts": TS, **{c: pl.Float64 for c in ("open", "high", "low", "close", "volume")}})


def _page(client: FeedClient, coin: str, freq: str, start_ms: int, end_ms: int) -> list[dict]:
    body = {"type": "candleSnapshot", "req": {"coin": coin, "interval": INTERVALS[freq],
                                              "startTime": int(start_ms), "endTime": int(end_ms)}}
    resp = client.post_json(f"{api_url()}/info", body, what=f"candles of {coin} from {start_ms}")
    rows = json_list(resp, who="Hyperliquid", what=f"candles of {coin}", endpoint="/info endpoint",
                     env_var="SYNTHWB_HYPERLIQUID_URL")
    return rows


def candles(client: FeedClient, coin: str, freq: str, start: datetime, end: datetime,
            page: int = PAGE) -> pl.DataFrame:
    """Candles opening in [start, end), ``page`` per call; an empty window before the served
    history is skipped with one probe over the rest of the range."""
    step = FREQ_SECONDS[freq] * 1000
    cursor, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    parts: list[pl.DataFrame] = []
    while cursor < end_ms:
        hi = min(cursor + page * step, end_ms) - 1
        if parts:
            client.wait(PACE)
        rows = _page(client, coin, freq, cursor, hi)
        if not rows and not parts and hi + 1 < end_ms:
            hi = end_ms - 1  # nothing yet: one probe over the rest tells where the served window starts
            rows = _page(client, coin, freq, cursor, hi)
            if not rows:
                break
        if not rows:
            cursor = hi + 1
            continue
        df = _frame(rows)
        parts.append(df)
        last = int(df["ts"].max().timestamp() * 1000)
        cursor = hi + 1 if len(rows) < page else last + step
    if not parts:
        return _empty()
    out = pl.concat(parts).unique("ts", keep="last").sort("ts")
    return out.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
