"""Binance spot klines: the public bulk archives and the REST endpoint.

Archives (``https://data.binance.vision``, ``$SYNTHWB_BINANCE_DATA_URL``)::

    data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip   (+ .CHECKSUM)
    data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-01.zip  (+ .CHECKSUM)

Each zip holds one CSV without a header: open time, open, high, low, close, volume, close time,
quote volume, trades, taker base volume, taker quote volume, ignore. Open times are epoch
milliseconds, microseconds in spot files from 2025 on. The ``.CHECKSUM`` file is one line
``<sha256>  <file name>``; an archive whose digest differs is refused. A monthly archive appears
in the first days of the next month, a daily one the next day: what they do not cover yet comes
from REST (``https://api.binance.com``, ``$SYNTHWB_BINANCE_API_URL``)::

    GET /api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=MS&endTime=MS&limit=1000

a JSON array of arrays in the same column order (prices as strings), at most 1000 per call.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from datetime import date, datetime

import polars as pl

from synthwb.data.feeds.assets import INTERVALS
from synthwb.data.feeds.http import FeedClient, FeedError, json_list
from synthwb.data.schema import FREQ_SECONDS

ARCHIVE_URL = "https://data.binance.vision"
API_URL = "https://api.binance.com"
REST_LIMIT = 1000
TS = pl.Datetime("us", "UTC")
_COLS = ("open", "high", "low", "close", "volume")


def archive_url() -> str:
    return (os.environ.get("SYNTHWB_BINANCE_DATA_URL") or ARCHIVE_URL).rstrip("/")


def api_url() -> str:
    return (os.environ.get("SYNTHWB_BINANCE_API_URL") or API_URL).rstrip("/")


def interval(freq: str) -> str:
    return INTERVALS[freq]


def monthly_name(symbol: str, freq: str, year: int, month: int) -> str:
    iv = interval(freq)
    return f"data/spot/monthly/klines/{symbol}/{iv}/{symbol}-{iv}-{year:04d}-{month:02d}.zip"


def daily_name(symbol: str, freq: str, day: date) -> str:
    iv = interval(freq)
    return f"data/spot/daily/klines/{symbol}/{iv}/{symbol}-{iv}-{day:%Y-%m-%d}.zip"


def _epoch_to_ts(values: pl.Series) -> pl.Series:
    """Open times in ms (or us from 2025 on, told apart per row by magnitude) to Datetime(us, UTC)."""
    v = values.cast(pl.Int64)
    us = pl.select(pl.when(v > 10**14).then(v).otherwise(v * 1000)).to_series()
    return us.cast(TS).alias("ts")


def frame(open_times: list | pl.Series, cols: dict[str, list | pl.Series]) -> pl.DataFrame:
    out = pl.DataFrame({"ts": _epoch_to_ts(pl.Series(open_times)),
                        **{c: pl.Series(c, cols[c]).cast(pl.Float64) for c in _COLS}})
    return out.unique("ts", keep="last").sort("ts")


def parse_klines_csv(data: bytes, name: str) -> pl.DataFrame:
    """The kline rows of one archive's CSV (a header line, as some exports carry, is skipped)."""
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        return frame([], {c: [] for c in _COLS})
    first = text.split("\n", 1)[0]
    has_header = not first.split(",")[0].strip().isdigit()
    try:
        raw = pl.read_csv(io.BytesIO(data), has_header=has_header, infer_schema=False, new_columns=None)
        cells = raw.columns
        return frame(raw[cells[0]].cast(pl.Int64), {c: raw[cells[i + 1]].cast(pl.Float64) for i, c in enumerate(_COLS)})
    except (pl.exceptions.PolarsError, IndexError) as exc:
        raise FeedError(f"cannot read {name} as Binance klines: {' '.join(str(exc).split())[:160]}") from None


def _unzip(data: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [n for n in z.namelist() if n.lower().endswith(".csv")]
            if len(members) != 1:
                raise FeedError(f"{name} holds {len(members)} CSV files, not one")
            return z.read(members[0])
    except zipfile.BadZipFile as exc:
        raise FeedError(f"{name} is not a readable zip ({exc}); run the fetch again") from None


def fetch_archive(client: FeedClient, path: str) -> pl.DataFrame | None:
    """One archive, verified against its ``.CHECKSUM``; None when the archive does not exist (404)."""
    url = f"{archive_url()}/{path}"
    name = path.rsplit("/", 1)[-1]
    resp = client.get(url, what=name)
    if resp.status_code == 404:
        return None
    data = resp.content
    chk = client.get(url + ".CHECKSUM", what=name + ".CHECKSUM")
    if chk.status_code == 404:
        raise FeedError(f"{name} has no .CHECKSUM beside it, so it cannot be verified; nothing of it was written")
    expected = chk.text.strip().split()[0].lower() if chk.text.strip() else ""
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise FeedError(f"checksum mismatch for {name}: its .CHECKSUM says sha256 {expected[:16]}..., the download "
                        f"has {got[:16]}...; the download was damaged or the archive is being replaced: run the "
                        "fetch again later (nothing of it was written)")
    return parse_klines_csv(_unzip(data, name), name)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def rest_klines(client: FeedClient, symbol: str, freq: str, start: datetime, end: datetime,
                limit: int = REST_LIMIT) -> pl.DataFrame:
    """Klines opening in [start, end), paged ``limit`` at a time."""
    step_ms = FREQ_SECONDS[freq] * 1000
    cursor, end_ms = _ms(start), _ms(end)
    parts: list[pl.DataFrame] = []
    url = f"{api_url()}/api/v3/klines"
    while cursor < end_ms:
        params = {"symbol": symbol, "interval": interval(freq), "startTime": cursor, "endTime": end_ms - 1,
                  "limit": int(limit)}
        resp = client.get(url, params=params, what=f"klines of {symbol} from {cursor}")
        rows = json_list(resp, who="Binance", what=f"klines of {symbol}", endpoint="/api/v3/klines",
                         env_var="SYNTHWB_BINANCE_API_URL")
        if not rows:
            break
        parts.append(frame([r[0] for r in rows], {c: [r[i + 1] for r in rows] for i, c in enumerate(_COLS)}))
        last = int(rows[-1][0])
        last_ms = last // 1000 if last > 10**14 else last
        if last_ms + step_ms <= cursor:
            break
        cursor = last_ms + step_ms
    if not parts:
        return frame([], {c: [] for c in _COLS})
    out = pl.concat(parts).unique("ts", keep="last").sort("ts")
    return out.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
