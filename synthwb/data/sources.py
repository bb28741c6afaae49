"""Where bars come from: files (CSV / Parquet, plain or gzip/zip), the Hugging Face hub, and the
lake itself.

A file goes through :func:`preview_file` before anything is written:

1. :func:`synthwb.data.tabular.read_table` finds its shape (compression, encoding, delimiter,
   decimal comma, preamble lines, header);
2. :func:`synthwb.data.columns.guess_mapping` picks the ts/open/high/low/close/volume columns
   (``mapping`` overrides it);
3. :func:`synthwb.data.timeparse.parse_timestamps` reads the times (format inferred or
   ``ts_format``; explicit offsets per row; naive times in ``tz``);
4. duplicates follow ``on_duplicate`` (error | first | last | mean), a newest-first file is
   turned round, the spacing is checked against ``freq`` and :func:`validate_bars` refuses
   anything the lake must not hold, naming the rows (data rows counted from 1 in file order).

Only when the preview has no problem does :func:`import_file` call
:func:`synthwb.data.lake.write_bars`, which writes atomically.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from synthwb.core.config import writable_data_dir
from synthwb.core.errors import DataError, NotFound, SynthwbError
from synthwb.core.text import table
from synthwb.data.cleaning import quality_report
from synthwb.data.columns import FIELDS, describe, guess_mapping
from synthwb.data.filenames import guess_series
from synthwb.data.lake import check_symbol, write_bars
from synthwb.data.ordering import off_grid, order_text, time_order
from synthwb.data.schema import FREQ_SECONDS, FREQS, OHLCV, check_asset_class, check_freq
from synthwb.data.tabular import Shape, read_table
from synthwb.data.timeparse import check_zone, future_problem, parse_timestamps
from synthwb.data.validate import join_problems, rows_text, validate_bars

TS_DTYPE = pl.Datetime("us", "UTC")
ON_DUPLICATE = ("error", "first", "last", "mean")
PREVIEW_ROWS = 5


# ----------------------------------------------------------------------------- numbers

def parse_numbers(s: pl.Series, decimal_comma: bool, name: str, source: str) -> pl.Series:
    """Text cells to float64: currency signs, thousands separators, a decimal comma and
    K/M/B suffixes (``1.2K``) are read; ``-`` or an empty cell is missing; anything else is
    refused naming the rows."""
    if s.dtype.is_numeric():
        return s.cast(pl.Float64).alias(name)
    if s.dtype != pl.String:
        raise DataError(f"column {name} ({source}) must be numeric, got {s.dtype}")
    t = s.str.strip_chars().str.replace(r"^[$€£]\s*", "").str.replace(r"^[-–—]$", "")
    mult = (pl.select(pl.when(t.str.contains(r"(?i)\d\s*k$")).then(1e3).when(t.str.contains(r"(?i)\d\s*m$")).then(1e6)
                      .when(t.str.contains(r"(?i)\d\s*b$")).then(1e9).otherwise(1.0)).to_series())
    t = t.str.replace(r"(?i)(\d)\s*[kmb]$", "$1")
    if decimal_comma:
        t = t.str.replace_all(r"[.' ](\d{3})", "$1").str.replace(",", ".", literal=True)
    else:
        t = t.str.replace_all(r"(\d)[,' ](\d{3})", "$1$2").str.replace_all(r"(\d)[,' ](\d{3})", "$1$2")
    out = t.cast(pl.Float64, strict=False)
    bad = (out.is_null() & t.is_not_null() & (t != "")).arg_true().to_list()
    if bad:
        raise DataError(f"column {name} ({source}) is not numeric in {rows_text(bad)}: {s[bad[0]]!r}"
                        + ("" if decimal_comma else "; a decimal comma is only read in semicolon- or tab-separated files"))
    return (out * mult).alias(name)


# ----------------------------------------------------------------------------- frequency

def freq_label(seconds: float) -> str:
    """A spacing in lake words (1min, 1h, 1d) or plain ones (30min, 2h, 7d, 45 s)."""
    s = round(seconds)
    for name, sec in FREQ_SECONDS.items():
        if sec == s:
            return name
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}min"
    return f"{s} s"


def infer_spacing(ts: pl.Series) -> int | None:
    """The most common positive spacing of sorted bars, in seconds (None for one bar)."""
    d = ts.sort().diff().dt.total_seconds().drop_nulls()
    d = d.filter(d > 0)
    if d.len() == 0:
        return None
    counts = d.value_counts(sort=True)
    top = counts["count"][0]
    return int(counts.filter(pl.col("count") == top)[d.name].min())


def _suggest(spacing: int) -> str:
    name = freq_label(spacing)
    if name in FREQS:
        return f"use --freq {name}"
    return f"no lake frequency is {name}: resample the file to one of {', '.join(FREQS)} first"


def check_spacing(df: pl.DataFrame, freq: str, rows: pl.Series | None = None) -> None:
    """Refuse bars whose spacing does not fit ``freq``: a file of coarser or finer bars than
    declared, or bars off the grid the others follow (one bar at :17 in an hourly file).
    Daylight-saving shifts of one hour are allowed for 4h and daily bars."""
    if df.height < 2:
        return
    step = FREQ_SECONDS[freq]
    spacing = infer_spacing(df["ts"])
    rows = rows if rows is not None else pl.Series(range(df.height))
    at = lambda idx: ", ".join(f"{df['ts'][i]:%Y-%m-%d %H:%M:%S}" for i in idx[:3])
    where = lambda idx: rows_text([rows[i] for i in idx])
    if spacing is None:
        return
    inferred = freq_label(spacing)
    if spacing > step:
        raise DataError(f"the bars are {inferred} apart (inferred frequency {inferred}) but --freq is {freq}; "
                        f"{_suggest(spacing)}")
    gaps = df["ts"].diff().dt.total_seconds()
    if spacing < step:
        fine = (gaps < step).fill_null(False).arg_true().to_list()
        raise DataError(f"bars are {spacing:g} s apart in {where(fine)}, finer than {freq} (inferred frequency "
                        f"{inferred}); {_suggest(spacing)}")
    stray = off_grid(df["ts"], freq)
    if stray:
        raise DataError(
            f"{where(stray)} ({at(stray)} UTC) {'is' if len(stray) == 1 else 'are'} off the {freq} grid the other bars follow "
            f"(inferred frequency {inferred}); drop {'it' if len(stray) == 1 else 'them'} with --drop-off-grid, fix the "
            "file, or import it as a finer --freq"
        )
    fine = (gaps < step - (3600 if step > 3600 else 0)).fill_null(False).arg_true().to_list()
    if fine:
        raise DataError(f"bars are {gaps[fine[0]]:g} s apart in {where(fine)}, finer than {freq} "
                        f"(inferred frequency {inferred}); fix or drop those rows")


# ----------------------------------------------------------------------------- preview

@dataclass
class Preview:
    """What an import would do: how the file was read, the parsed bars and any problem."""

    file: str
    shape: Shape
    columns: list[str]
    mapping: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timestamps: dict = field(default_factory=dict)
    order: str = "oldest first"
    sort: bool = False
    moved: int = 0
    drop_off_grid: bool = False
    dropped: list[str] = field(default_factory=list)
    guess: dict | None = None
    rows: int = 0
    duplicates: int = 0
    on_duplicate: str = "error"
    inferred_freq: str | None = None
    freq: str | None = None
    gaps: int | None = None
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None
    bars: pl.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.bars is not None

    def rows_shown(self, which: str) -> list[dict]:
        if self.bars is None or self.bars.height == 0:
            return []
        part = {"first": self.bars.head(PREVIEW_ROWS), "last": self.bars.tail(PREVIEW_ROWS)}.get(which, self.bars)
        return part.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S%.f").str.strip_suffix(".000000")).to_dicts()

    def to_dict(self) -> dict:
        return {
            "file": self.file, "shape": self.shape.to_dict(), "columns": self.columns,
            "mapping": {k: describe(self.mapping[k], k) for k in FIELDS if k in self.mapping}, "candidates": self.candidates,
            "notes": self.notes, "timestamps": self.timestamps, "order": self.order, "rows": self.rows,
            "bars": self.bars.height if self.bars is not None else 0, "duplicates": self.duplicates,
            "on_duplicate": self.on_duplicate, "inferred_freq": self.inferred_freq, "freq": self.freq,
            "rows_moved": self.moved, "dropped_off_grid": self.dropped, "guess": self.guess,
            "gaps": self.gaps, "first_rows": self.rows_shown("first"), "last_rows": self.rows_shown("last"),
            "warnings": self.warnings, "problem": self.problem,
        }

    def text(self) -> str:
        """The preview as the CLI's --dry-run prints it."""
        sh = self.shape
        read = [sh.format]
        if sh.compression:
            read.append(f"{sh.compression}{' ' + sh.member if sh.member else ''}")
        if sh.format == "csv":
            read += [f"{sh.encoding}", f"{describe_delim(sh)}", f"header on line {sh.header_line}" if sh.header else "no header"]
            if sh.skipped_lines:
                read.append(f"{len(sh.skipped_lines)} preamble line(s) skipped")
        lines = [f"file: {self.file} ({', '.join(read)})",
                 "mapping: " + ", ".join(f"{k} <- {describe(self.mapping[k], k)}" for k in FIELDS if k in self.mapping)]
        lines += [f"  note: {n}" for n in self.notes]
        if self.guess:
            g = self.guess
            lines.append(f"guess: {g['asset_class']} {g['symbol']}{' ' + g['freq'] if g.get('freq') else ''} "
                         f"({g['why']})")
        if self.timestamps:
            lines.append(f"timestamps: {self.timestamps.get('format', '?')}; {self.timestamps.get('zone', '')}")
        lines.append(f"rows: {self.rows} in the file, {self.bars.height if self.bars is not None else 0} bars; "
                     f"duplicates: {self.duplicates} (--on-duplicate {self.on_duplicate}); order: {self.order}")
        lines.append(f"frequency: inferred {self.inferred_freq or '?'}, --freq {self.freq or '?'}; "
                     f"gaps: {'?' if self.gaps is None else self.gaps}")
        n = self.bars.height if self.bars is not None else 0
        for which in ("first", "last") if n > 2 * PREVIEW_ROWS else ("all",):
            shown = self.rows_shown(which)
            if shown:
                lines.append(f"{which} rows:")
                lines.append(table(shown))
        lines += [f"warning: {w}" for w in self.warnings]
        if self.problem:
            lines.append(f"problem: {self.problem}")
        return "\n".join(lines)


def describe_delim(shape: Shape) -> str:
    d = shape.to_dict()["delimiter"]
    return f"{d}-separated" + (", decimal comma" if shape.decimal_comma else "")


def _read_ts(raw: pl.DataFrame, source, tz, ts_format) -> tuple[pl.Series, dict]:
    if isinstance(source, list):
        col = raw.select(pl.concat_str([pl.col(c).cast(pl.String).str.strip_chars() for c in source],
                                       separator=" ")).to_series()
        return parse_timestamps(col, tz=tz, fmt=ts_format, name=describe(source))
    return parse_timestamps(raw[source], tz=tz, fmt=ts_format, name=source)


def _apply_duplicates(df: pl.DataFrame, policy: str) -> pl.DataFrame:
    dup = df.select(pl.arg_where(pl.col("ts").is_duplicated())).to_series().to_list()
    if not dup:
        return df
    if policy == "error":
        first = df["ts"][dup[0]]
        k = int((df["ts"] == first).sum())
        raise DataError(
            f"duplicate timestamps in {rows_text([df['_row'][i] for i in dup])} ({first:%Y-%m-%d %H:%M:%S} UTC appears "
            f"{k} times); keep one bar per time with --on-duplicate first|last|mean"
        )
    if policy in ("first", "last"):
        return df.unique(subset="ts", keep=policy, maintain_order=True)
    return df.group_by("ts", maintain_order=True).agg(*[pl.col(c).mean() for c in OHLCV], pl.col("_row").min())


def preview_file(path: str | os.PathLike, *, freq: str | None = None, asset_class: str | None = None,
                 symbol: str | None = None, tz: str | None = None, ts_format: str | None = None,
                 mapping: dict[str, str] | None = None, on_duplicate: str = "error",
                 name: str | None = None, sort: bool = False, drop_off_grid: bool = False) -> Preview:
    """Read and check a file of bars; nothing is written. Raises :class:`DataError` when the
    file cannot be read as a table at all; every later problem (columns, times, duplicates,
    spacing, invalid bars) is in ``problem`` with as much of the preview as was reached.
    Rows out of time order are always put in order (the preview says how many moved; ``sort``
    is kept for old callers); the duplicate policy applies to rows that share a time, in file
    order. ``drop_off_grid``: drop the bars off the ``freq`` grid, naming each one."""
    if on_duplicate not in ON_DUPLICATE:
        raise DataError(f"unknown --on-duplicate {on_duplicate!r}; use one of {', '.join(ON_DUPLICATE)}")
    if freq is not None:
        check_freq(freq)
    if asset_class is not None:
        check_asset_class(asset_class)
    tz = check_zone(tz)
    raw, shape = read_table(path)
    pv = Preview(file=name or Path(path).name, shape=shape, columns=list(raw.columns), rows=raw.height,
                 on_duplicate=on_duplicate, freq=freq)
    pv.sort = bool(sort)
    pv.drop_off_grid = bool(drop_off_grid)
    pv.guess = guess_series(pv.file)
    if raw.height == 0:
        raise DataError(f"the file {pv.file} has a header but no rows")
    try:
        _fill(pv, raw, symbol=symbol, tz=tz, ts_format=ts_format, mapping=mapping or {}, asset_class=asset_class)
    except SynthwbError as exc:
        pv.problem = str(exc)
    return pv


def _fill(pv: Preview, raw: pl.DataFrame, *, symbol, tz, ts_format, mapping, asset_class) -> None:
    """Read and check the bars; every independent problem is collected (times, each price
    column, future dates, duplicates, bar values, spacing) and raised together."""
    guess_mapping(raw, symbol=symbol, header=pv.shape.header, explicit=mapping, into=pv.mapping,
                  candidates=pv.candidates, notes=pv.notes)
    problems: list[str] = []

    def attempt(fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except DataError as exc:
            problems.extend(getattr(exc, "problems", None) or [str(exc)])
            return None

    got = attempt(_read_ts, raw, pv.mapping["ts"], tz, ts_format)
    cols = [got[0] if got else None, pl.Series("_row", range(raw.height), dtype=pl.Int64)]
    if got:
        pv.timestamps = got[1]
    for f in OHLCV:
        src = pv.mapping[f]
        cols.append(pl.Series(f, [0.0] * raw.height) if src is None
                    else attempt(parse_numbers, raw[src], pv.shape.decimal_comma, f, src))
    if any(c is None for c in cols):
        raise DataError(join_problems(problems))
    df = pl.DataFrame(cols)
    pv.bars = df.select("ts", *OHLCV)  # shown in the preview even when a later check refuses the file
    dups = df["ts"].is_duplicated()
    pv.duplicates = int(dups.sum()) - df.filter(dups)["ts"].n_unique() if dups.any() else 0
    late = future_problem(df["ts"])
    if late:
        problems.append(late)
    deduped = attempt(_apply_duplicates, df, pv.on_duplicate)
    # the later checks go on with one bar per time, so they can report their own problems too
    df = deduped if deduped is not None else df.unique(subset="ts", keep="first", maintain_order=True)
    if df["ts"].null_count() == 0:
        order, pv.moved = time_order(df["ts"])
        pv.order = order_text(order, pv.moved)
        if order != "oldest first" or pv.moved:
            df = df.sort("ts", maintain_order=True)
    if pv.drop_off_grid and pv.freq:
        stray = off_grid(df["ts"], pv.freq)
        if stray:
            pv.dropped = [f"row {df['_row'][i] + 1} ({df['ts'][i]:%Y-%m-%d %H:%M:%S})" for i in stray]
            df = df.filter(~pl.int_range(df.height).is_in(stray))
            shown = ", ".join(pv.dropped[:50]) + (f" and {len(stray) - 50} more" if len(stray) > 50 else "")
            pv.warnings.append(f"dropped {len(stray)} row{'s' if len(stray) != 1 else ''} off the {pv.freq} grid: {shown}")
    spacing = infer_spacing(df["ts"])
    pv.inferred_freq = freq_label(spacing) if spacing else None
    pv.bars = df.select("ts", *OHLCV)
    rows = df["_row"]
    checked = attempt(validate_bars, df.select("ts", *OHLCV), row_numbers=rows)
    if pv.freq and (checked is not None or df["ts"].is_sorted()):
        attempt(check_spacing, checked if checked is not None else pv.bars, pv.freq, rows)
    if problems:
        raise DataError(join_problems(problems))
    pv.bars = checked
    if pv.freq and asset_class:
        pv.gaps = quality_report(pv.bars, pv.freq, asset_class)["gaps"]["count"]


def load_file(path: str | os.PathLike, tz: str | None = None, **options) -> pl.DataFrame:
    """Read, map and validate a file of bars (see :func:`preview_file`); nothing is written."""
    pv = preview_file(path, tz=tz, **options)
    if pv.problem:
        raise DataError(pv.problem)
    return pv.bars


def import_file(path: str | os.PathLike, asset_class: str, symbol: str, freq: str, root=None,
                tz: str | None = None, *, ts_format: str | None = None, mapping: dict[str, str] | None = None,
                on_duplicate: str = "error", dry_run: bool = False, name: str | None = None,
                sort: bool = False, drop_off_grid: bool = False) -> dict:
    """Validate a CSV/Parquet file of bars and write it into the lake.

    Nothing is written unless the whole file is valid (and nothing at all with ``dry_run``).
    Rows already stored at the same timestamps are replaced. Returns write_bars' summary plus
    ``file``, ``warnings`` and ``preview`` (:meth:`Preview.to_dict`).
    """
    check_asset_class(asset_class)
    check_freq(freq)
    check_symbol(symbol)
    if not dry_run:  # a lake that cannot be written is refused before the file is read
        writable_data_dir(root)
    pv = preview_file(path, freq=freq, asset_class=asset_class, symbol=symbol, tz=tz, ts_format=ts_format,
                      mapping=mapping, on_duplicate=on_duplicate, name=name, sort=sort, drop_off_grid=drop_off_grid)
    if pv.problem:
        raise DataError(pv.problem)
    if dry_run:
        summary = {"asset_class": asset_class, "symbol": symbol, "freq": freq, "rows_written": 0,
                   "dry_run": True, "start": pv.bars["ts"].min(), "end": pv.bars["ts"].max()}
    else:
        summary = write_bars(pv.bars, asset_class, symbol, freq, root=root)
    summary["file"] = str(path)
    summary["order"], summary["rows_moved"], summary["dropped_off_grid"] = pv.order, pv.moved, pv.dropped
    summary["warnings"] = pv.warnings
    summary["preview"] = pv.to_dict()
    return summary


# ----------------------------------------------------------------------------- Hugging Face

HF_TIMEFRAMES = {"1m": "1min", "1min": "1min", "5m": "5min", "5min": "5min", "15m": "15min",
                 "15min": "15min", "1h": "1h", "60m": "1h", "4h": "4h", "1d": "1d", "1D": "1d"}


def hf_filename(asset: str, timeframe: str) -> str:
    """The open-synth-training-data layout: ``data/{ASSET}/{timeframe}.parquet``."""
    if not asset or "/" in asset or ".." in asset:
        raise DataError(f"invalid asset name {asset!r}")
    if not timeframe or "/" in timeframe or ".." in timeframe:
        raise DataError(f"invalid timeframe {timeframe!r}")
    return f"data/{asset}/{timeframe}.parquet"


def hf_load(repo_id: str, asset: str, timeframe: str, *, revision: str | None = None,
            cache_dir: str | os.PathLike | None = None,
            local_dir: str | os.PathLike | None = None) -> pl.DataFrame:
    """Download (or take from the local cache) ``data/{asset}/{timeframe}.parquet`` of a
    dataset repo with ``huggingface_hub.hf_hub_download`` and return validated bars.

    Offline (``HF_HUB_OFFLINE=1``) it resolves the file from ``cache_dir`` (the hub cache
    layout) or ``local_dir``.

    A download that fails leaves nothing behind: folders it had to create for ``cache_dir`` or
    ``local_dir`` (lock files, a ``.cache`` tree) are removed again.
    """
    filename = hf_filename(asset, timeframe)
    made = _missing_tops(cache_dir, local_dir)
    try:
        path = _hf_download(repo_id, filename, revision, cache_dir, local_dir)
    except BaseException:
        for top in made:
            shutil.rmtree(top, ignore_errors=True)
        raise
    return load_file(path)


def _missing_tops(*dirs) -> list[Path]:
    """For each given folder that does not exist yet, its topmost missing ancestor: what a
    download creates there (lock files, a ``.cache`` tree) and must remove if it fails."""
    tops = []
    for d in dirs:
        if not d:
            continue
        p, top = Path(d).expanduser().absolute(), None
        while not p.exists() and p != p.parent:
            p, top = p.parent, p
        if top is not None:
            tops.append(top)
    return tops


def _hf_download(repo_id: str, filename: str, revision, cache_dir, local_dir) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return hf_hub_download(
            repo_id=repo_id, filename=filename, repo_type="dataset", revision=revision,
            cache_dir=str(cache_dir) if cache_dir else None,
            local_dir=str(local_dir) if local_dir else None,
        )
    except LocalEntryNotFoundError:  # (a subclass of EntryNotFoundError: test it first)
        raise NotFound(
            f"{filename} of dataset {repo_id} is not in the local cache and the hub cannot be reached "
            "(offline or no network)"
        ) from None
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise NotFound(f"{filename} not found in dataset {repo_id}"
                       f"{'@' + revision if revision else ''}: {type(exc).__name__}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot fetch {filename} from {repo_id}: {' '.join(str(exc).split())[:200]}") from None


def import_hf(repo_id: str, asset: str, timeframe: str, *, asset_class: str = "crypto",
              symbol: str | None = None, freq: str | None = None, root=None,
              revision: str | None = None, cache_dir=None, local_dir=None) -> dict:
    """:func:`hf_load` and write the bars into the lake (symbol defaults to the asset name,
    freq to the timeframe's lake name, e.g. ``1m`` -> ``1min``)."""
    check_asset_class(asset_class)
    freq = freq or HF_TIMEFRAMES.get(timeframe)
    if freq is None:
        raise DataError(f"cannot map timeframe {timeframe!r} to a lake frequency; pass freq (one of {', '.join(FREQS)})")
    check_freq(freq)
    symbol = check_symbol(symbol or asset)
    writable_data_dir(root)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}", str(repo_id)) or ".." in str(repo_id):
        raise DataError(f"invalid dataset repo {str(repo_id)[:60]!r}: give it as owner/name, "
                        "e.g. owner/open-synth-training-data")
    df = hf_load(repo_id, asset, timeframe, revision=revision, cache_dir=cache_dir, local_dir=local_dir)
    check_spacing(df, freq)
    summary = write_bars(df, asset_class, symbol, freq, root=root)
    summary["source"] = f"hf://{repo_id}/{hf_filename(asset, timeframe)}"
    return summary
