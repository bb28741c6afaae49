"""Where bars come from: files (CSV / Parquet), the Hugging Face hub, and the lake itself.

Every source goes through the same two steps before anything is written:

1. :func:`normalise_columns` maps common column names (``timestamp``/``time``/``date``/
   ``datetime``/``open_time``, ``o h l c v``, ``Open``/``High``/..., ``Volume``...) onto the
   lake's ``ts open high low close volume`` and parses the timestamps (epoch s/ms/us/ns or
   ISO 8601 text, with or without a UTC offset);
2. :func:`validate_bars` refuses anything the lake must not hold, naming the rows.

Only then does :func:`synthwb.data.lake.write_bars` write, atomically.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

from ..errors import DataError, NotFound
from .schema import FREQS, OHLCV, check_asset_class, check_freq
from .validate import rows_text, validate_bars  # noqa: F401  (validate_bars is part of this API)

TS_DTYPE = pl.Datetime("us", "UTC")

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "date", "datetime", "date_time", "open_time", "opentime",
           "time_utc", "timestamp_utc", "t", "unix", "unix_time", "start", "bar_time", "candle_time"),
    "open": ("open", "o", "open_price", "openprice", "first"),
    "high": ("high", "h", "high_price", "highprice", "max"),
    "low": ("low", "l", "low_price", "lowprice", "min"),
    "close": ("close", "c", "close_price", "closeprice", "last", "price"),
    "volume": ("volume", "v", "vol", "base_volume", "volume_base", "qty", "quantity", "size"),
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def normalise_columns(raw: pl.DataFrame, tz: str | None = None) -> pl.DataFrame:
    """Rename recognised columns to ``ts open high low close volume`` and parse ``ts``.

    ``tz`` is the zone of naive timestamps (default UTC). Raises :class:`DataError` for
    missing or ambiguous columns and unparseable / mixed-zone timestamps (naming rows).
    """
    if raw.width == 0:
        raise DataError("the file has no columns")
    keys: dict[str, list[str]] = {}
    for col in raw.columns:
        keys.setdefault(_key(col), []).append(col)
    mapping: dict[str, str] = {}
    for target, aliases in ALIASES.items():
        for a in aliases:
            if a in keys:
                if len(keys[a]) > 1:
                    raise DataError(f"ambiguous columns for {target}: {', '.join(keys[a])}")
                mapping[target] = keys[a][0]
                break
    missing = [t for t in ALIASES if t not in mapping]
    if missing:
        hint = "; ".join(f"{t}: {'/'.join(ALIASES[t][:5])}" for t in missing)
        raise DataError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {', '.join(raw.columns)}; recognised names, case-insensitive: {hint})"
        )
    df = raw.select([pl.col(src).alias(dst) for dst, src in mapping.items()])
    for c in OHLCV:
        dt = df.schema[c]
        if dt == pl.String:
            parsed = df[c].str.strip_chars().cast(pl.Float64, strict=False)
            bad = (parsed.is_null() & df[c].is_not_null() & (df[c].str.strip_chars() != "")).arg_true().to_list()
            if bad:
                raise DataError(f"column {c} ({mapping[c]}) is not numeric in {rows_text(bad)}: "
                                f"{df[c][bad[0]]!r}")
            df = df.with_columns(parsed.alias(c))
        elif not dt.is_numeric():
            raise DataError(f"column {c} ({mapping[c]}) must be numeric, got {dt}")
    return df.with_columns(parse_timestamps(df["ts"], tz=tz, name=mapping["ts"]))


def _epoch_unit(values: pl.Series) -> pl.Series:
    """Per-row epoch unit from magnitude: s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns."""
    a = values.abs()
    return (
        pl.select(
            pl.when(a < 1e11).then(pl.lit("s"))
            .when(a < 1e14).then(pl.lit("ms"))
            .when(a < 1e17).then(pl.lit("us"))
            .otherwise(pl.lit("ns"))
        ).to_series()
    )


def parse_timestamps(s: pl.Series, tz: str | None = None, name: str = "ts") -> pl.Series:
    """Parse a timestamp column to Datetime(us, UTC).

    - numbers: epoch seconds / ms / us / ns (detected from magnitude; one unit per file);
    - text: ISO 8601 with or without time; a trailing ``Z`` or ``+HH:MM`` offset is honoured,
      naive text is read in ``tz`` (default UTC); a mix of offsets is refused unless ``tz``
      is given (then every row's own offset is honoured);
    - datetimes: naive ones are read in ``tz`` (default UTC); dates become midnight.
    """
    tz = tz or None
    if isinstance(s.dtype, pl.Datetime):
        out = s
        if s.dtype.time_zone is None:
            out = _localise(out, tz, name)
        return out.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("ts")
    if s.dtype == pl.Date:
        return _localise(s.cast(pl.Datetime("us")), tz, name).dt.convert_time_zone("UTC").alias("ts")
    if s.dtype.is_numeric():
        f = s.cast(pl.Float64)
        if f.is_null().any() or f.is_nan().any():
            bad = (f.is_null() | f.is_nan()).arg_true().to_list()
            raise DataError(f"missing timestamp ({name}) in {rows_text(bad)}")
        units = _epoch_unit(f)
        uniq = units.unique().to_list()
        if len(uniq) > 1:
            first = units[0]
            bad = (units != first).arg_true().to_list()
            raise DataError(f"mixed epoch units in {name}: rows 1.. look like {first} but {rows_text(bad)} do not")
        mult = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}[uniq[0]]
        us = (f * mult).round(0).cast(pl.Int64)
        return us.cast(TS_DTYPE).alias("ts")
    if s.dtype != pl.String:
        raise DataError(f"cannot read column {name} ({s.dtype}) as timestamps")

    txt = s.str.strip_chars()
    empty = (txt.is_null() | (txt == "")).arg_true().to_list()
    if empty:
        raise DataError(f"missing timestamp ({name}) in {rows_text(empty)}")
    # numbers stored as text (e.g. "1700000000000")
    as_num = txt.cast(pl.Float64, strict=False)
    if as_num.is_not_null().all():
        return parse_timestamps(as_num, tz=tz, name=name)
    off = txt.str.extract(r"(Z|z|[+-]\d{2}:?\d{2})$", 0)
    has_off = off.is_not_null()
    if has_off.any() and not has_off.all():
        with_o = has_off.arg_true().to_list()
        without = (~has_off).arg_true().to_list()
        raise DataError(
            f"mixed time zones in {name}: {rows_text(with_o)} carry a UTC offset but "
            f"{rows_text(without)} do not; use one convention for the whole file"
        )
    off_min = None
    if has_off.all():
        norm = off.str.replace(r"^[Zz]$", "+00:00").str.replace(r"^([+-]\d{2})(\d{2})$", "$1:$2")
        distinct = norm.unique().to_list()
        if len(distinct) > 1 and not tz:
            first = norm[0]
            bad = (norm != first).arg_true().to_list()
            raise DataError(
                f"mixed time zones in {name}: offsets {', '.join(sorted(distinct))}; "
                f"row 1 is {first} but {rows_text(bad)} differ. Convert to one zone, or pass the "
                "market time zone (tz) to honour each row's own offset"
            )
        sign = pl.when(norm.str.slice(0, 1) == "-").then(-1).otherwise(1)
        off_min = pl.select(
            sign * (norm.str.slice(1, 2).cast(pl.Int64) * 60 + norm.str.slice(4, 2).cast(pl.Int64))
        ).to_series()
        txt = txt.str.replace(r"\s*(Z|z|[+-]\d{2}:?\d{2})$", "")
    parsed = _parse_naive(txt)
    bad = parsed.is_null().arg_true().to_list()
    if bad:
        raise DataError(f"cannot read timestamps in {name}: {rows_text(bad)} (e.g. {s[bad[0]]!r}); "
                        "use ISO 8601 (2024-01-31 13:45:00) or epoch seconds/milliseconds")
    if off_min is not None:
        utc = (parsed - pl.select(pl.duration(minutes=off_min)).to_series())
        return utc.dt.replace_time_zone("UTC").dt.cast_time_unit("us").alias("ts")
    return _localise(parsed, tz, name).dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("ts")


def _parse_naive(txt: pl.Series) -> pl.Series:
    txt = txt.str.replace("T", " ", literal=True)
    fmts = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
            "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d %H:%M:%S", "%Y%m%d")
    out = None
    for fmt in fmts:
        p = txt.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
        out = p if out is None else out.fill_null(p)
        if out.null_count() == 0:
            break
    return out


def _localise(s: pl.Series, tz: str | None, name: str) -> pl.Series:
    if not tz or tz.upper() == "UTC":
        return s.dt.replace_time_zone("UTC")
    try:
        return s.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="raise")
    except pl.exceptions.ComputeError as exc:
        raise DataError(f"timestamps in {name} cannot be read in zone {tz}: {exc}") from None


# ----------------------------------------------------------------------------- files

def read_table(path: str | os.PathLike) -> pl.DataFrame:
    """Read a CSV or Parquet file as it is (no renaming); DataError if it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if not p.is_file():
        raise DataError(f"not a file: {p}")
    if p.stat().st_size == 0:
        raise DataError(f"the file {p.name} is empty")
    suffix = "".join(p.suffixes[-2:]).lower()
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataError(f"cannot open {p.name}: {exc}") from None
    try:
        if magic == b"PAR1" or suffix.endswith((".parquet", ".pq")):
            return pl.read_parquet(p)
        return pl.read_csv(p, infer_schema_length=10_000, try_parse_dates=False,
                           null_values=["", "NA", "NaN", "nan", "null", "NULL"], truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        kind = "Parquet" if magic == b"PAR1" or suffix.endswith((".parquet", ".pq")) else "CSV"
        first = " ".join(str(exc).split())[:200]
        raise DataError(f"cannot read {p.name} as {kind}: {first}") from None


def load_file(path: str | os.PathLike, tz: str | None = None) -> pl.DataFrame:
    """Read, normalise and validate a file of bars; nothing is written. Rows in messages are
    data rows counted from 1 (the header is not a row)."""
    raw = read_table(path)
    if raw.height == 0:
        raise DataError(f"the file {Path(path).name} has a header but no rows")
    df = normalise_columns(raw, tz=tz)
    return validate_bars(df)


def import_file(path: str | os.PathLike, asset_class: str, symbol: str, freq: str, root=None,
                tz: str | None = None) -> dict:
    """Validate a CSV/Parquet file of bars and write it into the lake.

    Nothing is written unless the whole file is valid. Rows already stored at the same
    timestamps are replaced. Returns write_bars' summary plus ``file``.
    """
    from .lake import check_symbol, write_bars

    check_asset_class(asset_class)
    check_freq(freq)
    check_symbol(symbol)
    df = load_file(path, tz=tz)
    _check_spacing(df, freq)
    summary = write_bars(df, asset_class, symbol, freq, root=root)
    summary["file"] = str(path)
    return summary


def _check_spacing(df: pl.DataFrame, freq: str) -> None:
    """Refuse a file whose bars are finer than the frequency it is filed under."""
    from .schema import FREQ_SECONDS

    if df.height < 2:
        return
    step = df.select(pl.col("ts").diff().dt.total_seconds().min()).item()
    if step is not None and step < FREQ_SECONDS[freq]:
        bad = df.select(pl.arg_where(pl.col("ts").diff().dt.total_seconds() < FREQ_SECONDS[freq])).to_series()
        raise DataError(
            f"bars are {step:g} s apart in {rows_text(bad.to_list())}, finer than {freq}; "
            f"import them as a finer frequency (one of {', '.join(FREQS)})"
        )


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
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    filename = hf_filename(asset, timeframe)
    try:
        path = hf_hub_download(
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
    return load_file(path)


def import_hf(repo_id: str, asset: str, timeframe: str, *, asset_class: str = "crypto",
              symbol: str | None = None, freq: str | None = None, root=None,
              revision: str | None = None, cache_dir=None, local_dir=None) -> dict:
    """:func:`hf_load` and write the bars into the lake (symbol defaults to the asset name,
    freq to the timeframe's lake name, e.g. ``1m`` -> ``1min``)."""
    from .lake import check_symbol, write_bars

    check_asset_class(asset_class)
    freq = freq or HF_TIMEFRAMES.get(timeframe)
    if freq is None:
        raise DataError(f"cannot map timeframe {timeframe!r} to a lake frequency; pass freq (one of {', '.join(FREQS)})")
    check_freq(freq)
    symbol = check_symbol(symbol or asset)
    df = hf_load(repo_id, asset, timeframe, revision=revision, cache_dir=cache_dir, local_dir=local_dir)
    _check_spacing(df, freq)
    summary = write_bars(df, asset_class, symbol, freq, root=root)
    summary["source"] = f"hf://{repo_id}/{hf_filename(asset, timeframe)}"
    return summary
