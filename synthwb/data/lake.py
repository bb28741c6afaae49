"""The OHLCV lake (../shared/DESIGN.md §2): hive-partitioned Parquet, read with partition pruning.

Layout::

    ROOT/asset_class=C/freq=F/symbol=S/year=YYYY/month=M/part.parquet

Each partition is one file holding one calendar month (UTC) of bars, columns ``ts``
(Datetime us UTC, bar-open time), ``open high low close volume`` (Float64).

- :func:`read_bars` lists only the month files that overlap the requested range (pruning by
  path, no directory scan of other symbols/years) and lets polars read them lazily with the
  ``ts`` filter pushed down to Parquet row-group statistics. A timeframe that is not stored
  is served by resampling the finest stored bars of that symbol.
- :func:`inventory` reads Parquet footers only (row counts and ``ts`` min/max statistics),
  memoised per file on (mtime, size), so it is cheap enough to drive the sidebar.
- :func:`write_bars` validates, merges with the existing month files (overlapping
  timestamps are replaced, never duplicated) and writes every touched month to a temp file
  first; only when all of them are written are they renamed into place.
"""
from __future__ import annotations

import os
import re
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from synthwb.core.config import data_dir, writable_data_dir
from synthwb.core.errors import DataError, NotFound
from synthwb.core.io import atomic_path
from synthwb.data.resample import resample
from synthwb.data.schema import (
    COLUMNS,
    FREQ_SECONDS,
    FREQS,
    OHLCV,
    Selection,
    check_asset_class,
    check_freq,
    check_symbol,
    is_24_7,
)
from synthwb.data.validate import validate_bars

TS_DTYPE = pl.Datetime("us", "UTC")
PART_FILE = "part.parquet"
INVENTORY_SCHEMA = {
    "asset_class": pl.String,
    "freq": pl.String,
    "symbol": pl.String,
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "rows": pl.Int64,
    "files": pl.Int64,
}
_HIVE = re.compile(r"^(?P<key>[a-z_]+)=(?P<value>.+)$")


# ----------------------------------------------------------------------------- paths

def series_dir(root: Path, asset_class: str, symbol: str, freq: str) -> Path:
    return Path(root) / f"asset_class={asset_class}" / f"freq={freq}" / f"symbol={symbol}"


def partition_path(root: Path, asset_class: str, symbol: str, freq: str, year: int, month: int) -> Path:
    return series_dir(root, asset_class, symbol, freq) / f"year={year}" / f"month={month}" / PART_FILE


def _hive_children(path: Path, key: str) -> list[tuple[str, Path]]:
    """(value, child) for children named ``key=value`` (ignores temp files and other names)."""
    out = []
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for e in entries:
        if not e.is_dir():
            continue
        m = _HIVE.match(e.name)
        if m and m.group("key") == key:
            out.append((m.group("value"), Path(e.path)))
    return out


def _month_files(sdir: Path) -> list[tuple[int, int, Path]]:
    """All (year, month, file) of one series, sorted by time."""
    out = []
    for y, ydir in _hive_children(sdir, "year"):
        for m, mdir in _hive_children(ydir, "month"):
            f = mdir / PART_FILE
            if f.is_file():
                try:
                    out.append((int(y), int(m), f))
                except ValueError:
                    continue
    return sorted(out)


def _files_in_range(sdir: Path, start: datetime | None, end: datetime | None) -> list[Path]:
    """Partition pruning: the month files that can hold bars in [start, end)."""
    lo = (start.year, start.month) if start else (0, 0)
    hi = (end.year, end.month) if end else (9999, 12)
    return [f for y, m, f in _month_files(sdir) if lo <= (y, m) <= hi]


def stored_freqs(asset_class: str, symbol: str, root=None) -> list[str]:
    """Timeframes stored for a symbol, finest first."""
    check_asset_class(asset_class)
    check_symbol(symbol)
    root = data_dir(root)
    base = Path(root) / f"asset_class={asset_class}"
    freqs = []
    for f, fdir in _hive_children(base, "freq"):
        if f in FREQ_SECONDS and _month_files(fdir / f"symbol={symbol}"):
            freqs.append(f)
    return sorted(freqs, key=FREQ_SECONDS.get)


# ----------------------------------------------------------------------------- reading

def _normalise(df: pl.DataFrame) -> pl.DataFrame:
    """Cast a stored frame to the canonical schema (ts us UTC; OHLCV Float64)."""
    ts = df.schema["ts"]
    ts_expr = pl.col("ts")
    if isinstance(ts, pl.Datetime):
        if ts.time_zone is None:
            ts_expr = ts_expr.dt.replace_time_zone("UTC")
        elif ts.time_zone != "UTC":
            ts_expr = ts_expr.dt.convert_time_zone("UTC")
        ts_expr = ts_expr.dt.cast_time_unit("us")
    else:
        ts_expr = ts_expr.cast(TS_DTYPE)
    return df.select(ts_expr.alias("ts"), *[pl.col(c).cast(pl.Float64) for c in OHLCV])


def _range_filter(start: datetime | None, end: datetime | None) -> pl.Expr | None:
    conds = []
    if start is not None:
        conds.append(pl.col("ts") >= start)
    if end is not None:
        conds.append(pl.col("ts") < end)
    if not conds:
        return None
    expr = conds[0]
    for c in conds[1:]:
        expr = expr & c
    return expr


def _scan(files: list[Path], start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """Read month files; retried twice because a writer may rename a new version over a file
    between the reader's footer and page reads (the rename is atomic, the two reads are not)."""
    for attempt in range(3):
        try:
            return _scan_once(files, start, end)
        except DataError:
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _scan_once(files: list[Path], start: datetime | None, end: datetime | None) -> pl.DataFrame:
    if not files:
        return empty_bars()
    flt = _range_filter(start, end)
    try:
        try:
            lf = pl.scan_parquet([str(f) for f in files], hive_partitioning=False).select(list(COLUMNS))
            df = (lf.filter(flt) if flt is not None else lf).collect()
        except (pl.exceptions.SchemaError, pl.exceptions.InvalidOperationError):
            # files written by different tools (ns vs us, naive vs UTC): read one by one and align
            parts = [_normalise(pl.read_parquet(f, columns=list(COLUMNS))) for f in files]
            df = pl.concat([p.filter(flt) if flt is not None else p for p in parts])
    except (OSError, pl.exceptions.PolarsError) as exc:
        where = files[0].parent.parent.parent
        raise DataError(f"cannot read lake files under {where}: {' '.join(str(exc).split())[:300]}") from exc
    df = _normalise(df)
    if not df["ts"].is_sorted():
        df = df.sort("ts")
    return df


def empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema={"ts": TS_DTYPE, **{c: pl.Float64 for c in OHLCV}})


def read_bars(sel: Selection, root=None) -> pl.DataFrame:
    """Bars for a selection: ``ts`` (us, UTC, bar open, unique, sorted) + OHLCV Float64.

    ``start`` is inclusive and ``end`` exclusive (on bar-open time). A timeframe that is not
    stored is resampled from the finest stored, finer timeframe (session-aware for
    non-crypto). Raises :class:`NotFound` when the symbol or a usable timeframe is absent.
    """
    root = data_dir(root)
    sdir = series_dir(root, sel.asset_class, sel.symbol, sel.freq)
    files = _files_in_range(sdir, sel.start, sel.end)
    if files or _month_files(sdir):
        return _scan(files, sel.start, sel.end)

    stored = stored_freqs(sel.asset_class, sel.symbol, root)
    if not stored:
        raise NotFound(
            f"no bars for {sel.asset_class}/{sel.symbol} in the lake at {root} "
            f"(run `python -m synthwb data list` to see what it holds)"
        )
    finer = [f for f in stored if FREQ_SECONDS[f] < FREQ_SECONDS[sel.freq]]
    if not finer:
        raise NotFound(
            f"{sel.asset_class}/{sel.symbol} has no {sel.freq} bars and none finer to resample from "
            f"(stored: {', '.join(stored)})"
        )
    src = finer[0]
    # pad so the first and last target bars are complete, then cut back to [start, end)
    pad = timedelta(seconds=FREQ_SECONDS[sel.freq]) + (timedelta(days=1) if not is_24_7(sel.asset_class) else timedelta(0))
    lo = sel.start - pad if sel.start else None
    hi = sel.end + pad if sel.end else None
    fine = _scan(_files_in_range(series_dir(root, sel.asset_class, sel.symbol, src), lo, hi), lo, hi)
    out = resample(fine, sel.freq, sel.asset_class)
    flt = _range_filter(sel.start, sel.end)
    return out.filter(flt) if flt is not None else out


def read_stored(sel: Selection, root=None) -> pl.DataFrame:
    """The bars stored at exactly ``sel.freq`` in [start, end), never resampled from a finer
    timeframe; an empty frame when there are none (what a fetch compares against)."""
    root = data_dir(root)
    files = _files_in_range(series_dir(root, sel.asset_class, sel.symbol, sel.freq), sel.start, sel.end)
    return _scan(files, sel.start, sel.end)


# ----------------------------------------------------------------------------- inventory

_FOOTER_CACHE: dict[str, tuple[tuple[int, int], tuple[int, int | None, int | None]]] = {}
_FOOTER_LOCK = threading.Lock()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT_PER_US = {"s": 1e-6, "ms": 1e-3, "us": 1.0, "ns": 1e3}


def _to_us(value, unit: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH) / timedelta(microseconds=1))
    return int(int(value) / _UNIT_PER_US.get(unit, 1.0))


def _footer(path: Path) -> tuple[int, int | None, int | None]:
    """(rows, min ts us, max ts us) from a Parquet footer, memoised on (mtime, size)."""
    st = path.stat()
    key = (st.st_mtime_ns, st.st_size)
    with _FOOTER_LOCK:
        hit = _FOOTER_CACHE.get(str(path))
    if hit and hit[0] == key:
        return hit[1]
    md = pq.read_metadata(path)
    rows = md.num_rows
    names = [md.schema.column(i).name for i in range(md.num_columns)]
    lo = hi = None
    if "ts" in names:
        ci = names.index("ts")
        unit = "us"
        lt = md.schema.column(ci).logical_type
        unit_txt = str(getattr(lt, "to_json", lambda: "")()).lower()
        for u, tag in (("ns", "nanos"), ("ms", "millis"), ("us", "micros")):
            if tag in unit_txt:
                unit = u
        for rg in range(md.num_row_groups):
            stats = md.row_group(rg).column(ci).statistics
            if stats is None or not stats.has_min_max:
                lo = hi = None
                break
            if stats.physical_type != "INT64":  # e.g. legacy INT96 timestamps: read the column
                lo = hi = None
                break
            # raw int64 values: .min/.max would build pandas Timestamps (and import pandas)
            a, b = _to_us(stats.min_raw, unit), _to_us(stats.max_raw, unit)
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
    if rows and (lo is None or hi is None):  # no statistics: read the one column
        ts = _normalise_ts(pl.read_parquet(path, columns=["ts"]))
        lo, hi = ts.min(), ts.max()
    val = (rows, lo, hi)
    with _FOOTER_LOCK:
        _FOOTER_CACHE[str(path)] = (key, val)
    return val


def _normalise_ts(df: pl.DataFrame) -> pl.Series:
    s = df["ts"]
    if isinstance(s.dtype, pl.Datetime) and s.dtype.time_zone is None:
        s = s.dt.replace_time_zone("UTC")
    return s.dt.cast_time_unit("us").dt.epoch("us")


def empty_inventory() -> pl.DataFrame:
    return pl.DataFrame(schema=INVENTORY_SCHEMA)


def inventory(root=None) -> pl.DataFrame:
    """What the lake holds: one row per (asset_class, freq, symbol) with coverage and sizes.

    Reads Parquet footers only. Empty frame (same columns) when the lake is empty or missing.
    """
    root = data_dir(root)
    rows = []
    for ac, acdir in _hive_children(root, "asset_class"):
        for fq, fdir in _hive_children(acdir, "freq"):
            if fq not in FREQ_SECONDS:
                continue
            for sym, sdir in _hive_children(fdir, "symbol"):
                files = _month_files(sdir)
                if not files:
                    continue
                n, lo, hi = 0, None, None
                for _, _, f in files:
                    try:
                        r, a, b = _footer(f)
                    except (OSError, ValueError):
                        continue
                    n += r
                    if r:
                        lo = a if lo is None else min(lo, a)
                        hi = b if hi is None else max(hi, b)
                if n == 0:
                    continue
                rows.append({"asset_class": ac, "freq": fq, "symbol": sym, "start": lo, "end": hi,
                             "rows": n, "files": len(files)})
    if not rows:
        return empty_inventory()
    df = pl.DataFrame(
        rows,
        schema={**INVENTORY_SCHEMA, "start": pl.Int64, "end": pl.Int64},
    ).with_columns(pl.col("start").cast(TS_DTYPE), pl.col("end").cast(TS_DTYPE))
    order = {f: i for i, f in enumerate(FREQS)}
    return (
        df.with_columns(pl.col("freq").replace_strict(order, return_dtype=pl.Int32).alias("_o"))
        .sort("asset_class", "symbol", "_o")
        .drop("_o")
    )


def lake_state(root=None, asset_class: str | None = None, symbol: str | None = None) -> str:
    """A token that changes whenever stored bars change: a hash of (path, mtime, size) of every
    month file of ``asset_class``/``symbol`` (all timeframes), or of the whole lake. Reads
    directory entries only (about 1 ms for a two-year demo lake), so a cache keyed on it is
    invalidated by any write, the app's import or the CLI's alike."""
    import hashlib

    root = data_dir(root)
    h = hashlib.blake2b(digest_size=12)
    for ac, acdir in sorted(_hive_children(root, "asset_class")):
        if asset_class is not None and ac != asset_class:
            continue
        for _freq, fdir in sorted(_hive_children(acdir, "freq")):
            for sym, sdir in sorted(_hive_children(fdir, "symbol")):
                if symbol is not None and sym != symbol:
                    continue
                for _, _, f in _month_files(sdir):
                    try:
                        st = f.stat()
                    except OSError:
                        continue
                    h.update(f"{f}|{st.st_mtime_ns}|{st.st_size}\n".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- writing

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextmanager
def _series_lock(sdir: Path):
    """Serialise writers of one series (threads in this process and, on POSIX, other
    processes via flock on ``<series>/.lock``) so read-merge-write never loses rows."""
    sdir.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        tlock = _THREAD_LOCKS.setdefault(str(sdir.resolve()), threading.Lock())
    with tlock:
        try:
            import fcntl
        except ImportError:  # Windows: in-process lock only
            yield
            return
        with open(sdir / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_bars(df: pl.DataFrame, asset_class: str, symbol: str, freq: str, root=None) -> dict:
    """Validate and write bars into the lake, merging with what is stored.

    Rows whose ``ts`` already exists are replaced by the new ones; nothing is duplicated.
    Every touched month is written to a temp file first and renamed into place only when
    all of them were written, so a failure leaves the lake as it was.
    Returns ``{"asset_class", "symbol", "freq", "rows_written", "rows_replaced", "partitions",
    "start", "end"}``.
    """
    check_asset_class(asset_class)
    check_freq(freq)
    check_symbol(symbol)
    root = writable_data_dir(root)
    new = validate_bars(df)
    new = new.with_columns(
        pl.col("ts").dt.year().alias("_y"), pl.col("ts").dt.month().alias("_m")
    )
    groups = new.partition_by(["_y", "_m"], as_dict=True, maintain_order=True)
    sdir = series_dir(root, asset_class, symbol, freq)
    replaced = 0
    paths = []
    with _series_lock(sdir), ExitStack() as stack:
        # months already stored, whatever their folder spelling (month=1 or month=01)
        existing = {(y, m): f for y, m, f in _month_files(sdir)}
        for (y, m), part in sorted(groups.items()):
            part = part.drop("_y", "_m")
            path = existing.get((int(y), int(m))) or partition_path(root, asset_class, symbol, freq, int(y), int(m))
            if path.exists():
                old = _normalise(pl.read_parquet(path, columns=list(COLUMNS)))
                keep = old.join(part.select("ts"), on="ts", how="anti")
                replaced += old.height - keep.height
                part = pl.concat([keep, part]).sort("ts")
            tmp = stack.enter_context(atomic_path(path, suffix=".parquet"))
            part.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=256_000)
            paths.append(str(path.relative_to(root)))
        # leaving the ExitStack renames every temp file into place (or deletes them all on error)
    return {
        "asset_class": asset_class,
        "symbol": symbol,
        "freq": freq,
        "rows_written": new.height,
        "rows_replaced": replaced,
        "partitions": len(paths),
        "paths": paths,
        "start": new["ts"].min(),
        "end": new["ts"].max(),
    }
