"""Resumable fetches from the validator's feeds into the lake, and ``update``.

A fetch of one series is a list of units, each inside one calendar month (one lake partition):

- Binance: a month that ended before the current one is its monthly archive; a day of the
  current month that has ended is its daily archive; today is REST. A month whose archive is not
  out yet (404 within days of its end) becomes its days, a day without an archive becomes REST.
- Hyperliquid: each month of the range through ``candleSnapshot`` pages.

Each unit's new bars (those not already stored: only missing minutes are added) are written at
once through :func:`synthwb.data.lake.write_bars`, atomically, so a fetch killed or failing
mid-way leaves the lake as it was plus complete partitions, and running it again goes on where
it stopped. Archive units fetched whole are recorded in the manifest (:mod:`.manifest`) and
skipped the next time; REST and Hyperliquid units start at their first missing bar.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from synthwb.core.config import writable_data_dir
from synthwb.core.errors import DataError, SpecError
from synthwb.core.time import to_utc
from synthwb.data.feeds import binance, hyperliquid
from synthwb.data.feeds.assets import INTERVALS, Feed, check_source, feed_for
from synthwb.data.feeds.http import FeedClient, Stopped
from synthwb.data.feeds.manifest import read_manifest, record, series_key
from synthwb.data.lake import read_stored, write_bars
from synthwb.data.schema import FREQ_SECONDS, Selection, check_freq

#: a monthly archive missing this long after its month ended is taken as "no data that month"
ARCHIVE_LAG = timedelta(days=10)

Progress = Callable[..., None]


@dataclass
class Unit:
    """Bars wanted in [lo, hi) of the archive period [start, end)."""

    kind: str  # month | day | rest | hl
    start: datetime
    end: datetime
    lo: datetime
    hi: datetime

    @property
    def key(self) -> str | None:
        if self.kind == "month":
            return f"m:{self.start:%Y-%m}"
        if self.kind == "day":
            return f"d:{self.start:%Y-%m-%d}"
        return None

    @property
    def whole(self) -> bool:
        return self.lo == self.start and self.hi == self.end

    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%Y-%m} monthly archive"
        if self.kind == "day":
            return f"{self.start:%Y-%m-%d} daily archive"
        return f"{self.lo:%Y-%m-%d %H:%M} to {self.hi:%Y-%m-%d %H:%M} ({'REST' if self.kind == 'rest' else 'candles'})"


@dataclass
class SeriesResult:
    feed: Feed
    freq: str
    since: datetime
    until: datetime
    rows_added: int = 0
    partitions: set = field(default_factory=set)
    units: int = 0
    skipped: int = 0
    requests: int = 0
    first: datetime | None = None
    last: datetime | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    status: str = "finished"

    def to_dict(self) -> dict:
        return {"asset": self.feed.asset, "source": self.feed.source, "feed_symbol": self.feed.symbol,
                "asset_class": self.feed.asset_class, "symbol": self.feed.asset, "freq": self.freq,
                "since": self.since, "until": self.until, "rows_added": self.rows_added,
                "partitions": len(self.partitions), "units": self.units, "skipped": self.skipped,
                "requests": self.requests, "first_added": self.first, "last_added": self.last,
                "notes": self.notes, "error": self.error, "status": self.status}


def _month_start(t: datetime) -> datetime:
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(t: datetime) -> datetime:
    return (_month_start(t) + timedelta(days=32)).replace(day=1)


def _day_start(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _days(lo: datetime, hi: datetime, today: datetime) -> list[Unit]:
    out, d = [], _day_start(lo)
    while d < hi:
        e = d + timedelta(days=1)
        out.append(Unit("day" if e <= today else "rest", d, e, max(d, lo), min(e, hi)))
        d = e
    return out


def plan(source: str, since: datetime, until: datetime, now: datetime) -> list[Unit]:
    """The units of [since, until) as seen at ``now``."""
    units: list[Unit] = []
    m = _month_start(since)
    cur, today = _month_start(now), _day_start(now)
    while m < until:
        e = _next_month(m)
        lo, hi = max(m, since), min(e, until)
        if source == "hyperliquid":
            units.append(Unit("hl", m, e, lo, hi))
        elif e <= cur:
            units.append(Unit("month", m, e, lo, hi))
        else:
            units += _days(lo, hi, today)
        m = e
    return units


def _floor(t: datetime, step: int) -> datetime:
    s = int(t.timestamp())
    return datetime.fromtimestamp(s - s % step, UTC)


def resolve_range(since, until, freq: str, now: datetime | None) -> tuple[datetime, datetime, datetime]:
    """(since, until, now): ``until`` defaults to now and never passes the last closed bar."""
    now = to_utc(now, "now") or datetime.now(UTC)
    step = FREQ_SECONDS[freq]
    start = to_utc(since, "--since")
    if start is None:
        raise SpecError("give --since (the first day to fetch, e.g. 2024-01-01)")
    start = _floor(start, step)
    closed = _floor(now, step)  # the bar opening at `closed` is still forming
    end = min(to_utc(until, "--until") or closed, closed)
    if start >= end:
        raise SpecError(f"--since {start:%Y-%m-%d %H:%M} is not before --until {end:%Y-%m-%d %H:%M} "
                        "(the last closed bar); choose an earlier --since")
    return start, end, now


def _stored(feed: Feed, freq: str, lo: datetime, hi: datetime, root) -> pl.Series:
    sel = Selection(feed.asset_class, feed.asset, freq, lo, hi)
    return read_stored(sel, root)["ts"]


def _first_missing(stored: pl.Series, lo: datetime, hi: datetime, step: int) -> datetime | None:
    if stored.len() == 0:
        return lo
    grid = pl.datetime_range(lo, hi - timedelta(seconds=step), timedelta(seconds=step), time_unit="us",
                             time_zone="UTC", eager=True)
    missing = grid.filter(~grid.is_in(stored.implode()))
    return missing[0] if missing.len() else None


def _download(feed: Feed, unit: Unit, freq: str, client: FeedClient, stored: pl.Series, now: datetime,
              res: SeriesResult, queue: list[Unit]) -> tuple[pl.DataFrame | None, bool]:
    """(bars, complete): the unit's bars from its route; None when there is nothing to fetch."""
    step = FREQ_SECONDS[freq]
    if unit.kind == "month":
        df = binance.fetch_archive(client, binance.monthly_name(feed.symbol, freq, unit.start.year, unit.start.month))
        if df is not None:
            return df, True
        if unit.end + ARCHIVE_LAG < now:
            res.notes.append(f"no {unit.label()} of {feed.symbol} (not listed then?); skipped")
            return None, False
        queue[:0] = _days(unit.lo, unit.hi, _day_start(now))  # not out yet: its days instead
        return None, False
    if unit.kind == "day":
        df = binance.fetch_archive(client, binance.daily_name(feed.symbol, freq, unit.start.date()))
        if df is not None:
            return df, True
        unit = Unit("rest", unit.start, unit.end, unit.lo, unit.hi)
    first = _first_missing(stored, unit.lo, unit.hi, step)
    if first is None:
        return None, True
    if unit.kind == "rest":
        return binance.rest_klines(client, feed.symbol, freq, first, unit.hi), unit.end <= _floor(now, step)
    return hyperliquid.candles(client, feed.symbol, freq, first, unit.hi), False


def fetch_series(feed: Feed, freq: str, since, until=None, *, root=None, client: FeedClient,
                 progress: Progress | None = None, now=None, done: tuple[int, int] = (0, 1)) -> SeriesResult:
    """Fetch one series into the lake (see the module doc). Raises :class:`Stopped` when stopped."""
    _check_freq(freq)
    start, end, now = resolve_range(since, until, freq, now)
    step = FREQ_SECONDS[freq]
    key = series_key(feed.source, feed.asset_class, feed.asset, freq)
    res = SeriesResult(feed, freq, start, end)
    base = {"source": feed.source, "asset": feed.asset, "feed_symbol": feed.symbol, "asset_class": feed.asset_class,
            "symbol": feed.asset, "freq": freq, "since": start.isoformat()}  # recorded once something is done
    complete = set(read_manifest(root)["series"].get(key, {}).get("complete", []))
    queue = plan(feed.source, start, end, now)
    n0 = client.requests
    i = 0
    while queue:
        unit = queue.pop(0)
        i += 1
        res.units += 1
        if progress is not None:
            k, n = done
            progress((k + (i - 1) / (i + len(queue))) / n,
                     message=f"{feed.asset} ({feed.source} {feed.symbol}): {unit.label()}; "
                             f"{res.rows_added:,} bars added so far")
        stored = _stored(feed, freq, unit.lo, unit.hi, root)
        full = stored.len() >= int((unit.hi - unit.lo).total_seconds()) // step
        if full or (unit.key and unit.key in complete and stored.len()):
            res.skipped += 1
            continue
        df, whole = _download(feed, unit, freq, client, stored, now, res, queue)
        if df is not None and df.height:
            df = df.filter((pl.col("ts") >= unit.lo) & (pl.col("ts") < unit.hi)
                           & (pl.col("ts").dt.epoch("us") % (step * 1_000_000) == 0))
            new = df.filter(~pl.col("ts").is_in(stored.implode()))
            if new.height:
                out = write_bars(new, feed.asset_class, feed.asset, freq, root=root)
                res.rows_added += new.height
                res.partitions.update(out["paths"])
                res.first = min(res.first, out["start"]) if res.first else out["start"]
                res.last = max(res.last, out["end"]) if res.last else out["end"]
        if whole and unit.whole and unit.key:
            complete.add(unit.key)
            record(root, key, base, [unit.key])
    res.requests = client.requests - n0
    stored = _stored(feed, freq, start, end, root)
    if feed.source == "hyperliquid" and stored.len() and stored[0] > start + timedelta(days=1):
        res.notes.append(f"Hyperliquid serves only a recent window: the first bar it has is {stored[0]:%Y-%m-%d %H:%M} "
                         f"(asked from {start:%Y-%m-%d})")
    record(root, key, {**base, "last_fetch": datetime.now(UTC).isoformat(),
                       "last_bar": stored[-1].isoformat() if stored.len() else None})
    return res


def _check_freq(freq: str) -> None:
    check_freq(freq)
    if freq not in INTERVALS:
        raise SpecError(f"the feeds serve {', '.join(INTERVALS)} bars, not {freq}")


def fetch(assets: Sequence[str], *, source: str | None = None, freq: str = "1min", since=None, until=None,
          root=None, progress: Progress | None = None, stop_event: threading.Event | None = None, now=None,
          client_options: dict | None = None) -> dict:
    """Fetch every asset (validator names: BTC, HYPE, XAU, ...) from its feed (``source`` checks it).
    Returns ``{"status", "series": [...], "rows_added", "error"}``; a feed error stops the asset it
    hit and the others still run; the first error is ``error`` (status ``failed``)."""
    if source is not None:
        source = check_source(source)
    _check_freq(freq)
    names = [a.strip().upper() for a in assets if a and a.strip()]
    if not names:
        raise SpecError("no asset given; name one or more, e.g. --asset BTC,ETH")
    feeds = [feed_for(a, source) for a in dict.fromkeys(names)]
    resolve_range(since, until, freq, now)  # refuse a bad range before any request
    writable_data_dir(root)
    return _run([(f, freq, since) for f in feeds], until, root, progress, stop_event, now, client_options)


def _run(jobs, until, root, progress, stop_event, now, client_options) -> dict:
    stop_event = stop_event or threading.Event()
    results: list[SeriesResult] = []
    status, error = "finished", None
    with FeedClient(stop_event=stop_event, **(client_options or {})) as client:
        for k, (feed, freq, since) in enumerate(jobs):
            try:
                results.append(fetch_series(feed, freq, since, until, root=root, client=client, progress=progress,
                                            now=now, done=(k, len(jobs))))
            except Stopped:
                status = "interrupted"
                break
            except DataError as exc:  # a feed that failed (FeedError), or bars the lake refuses
                r = SeriesResult(feed, freq, to_utc(since, "since"), to_utc(until, "until") or datetime.now(UTC))
                r.error, r.status = f"{feed.asset}: {exc}", "failed"
                results.append(r)
                error = error or r.error
                status = "failed"
    if progress is not None and status == "finished":
        progress(1.0, message="done")
    rows = [r.to_dict() for r in results]
    return {"status": status, "series": rows, "rows_added": sum(r["rows_added"] for r in rows), "error": error}


def update(*, root=None, until=None, progress: Progress | None = None, stop_event: threading.Event | None = None,
           now=None, client_options: dict | None = None, only: Sequence[str] | None = None) -> dict:
    """Top every series of the manifest up to now (or ``until``): only missing bars are added;
    archive months and days fetched whole are not asked for again."""
    writable_data_dir(root)
    entries = read_manifest(root)["series"]
    if only:
        entries = {k: v for k, v in entries.items() if v.get("symbol") in set(only)}
    if not entries:
        raise SpecError("nothing to update: no series was fetched into this lake yet "
                        "(start with `synthwb data fetch --asset BTC --since 2024-01-01`)")
    jobs = []
    for e in entries.values():
        feed = Feed(e["asset"], e["source"], e["feed_symbol"], e.get("asset_class", "crypto"))
        since = e["since"]
        if feed.source == "hyperliquid" and e.get("last_bar"):  # its window moves on: only from the last bar
            since = max(since, e["last_bar"])
        jobs.append((feed, e["freq"], since))
    return _run(jobs, until, root, progress, stop_event, now, client_options)
