"""CSV export of backtests: per-origin scores, per-interval breakdown, quantiles with realised.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are prefixed with a single quote. Numbers are written in
full precision and timestamps as ISO 8601 UTC, so the files round-trip through pandas
(``pd.read_csv(f, float_precision="round_trip")`` gives bit-identical floats; pandas'
default parser may differ in the last digit).

Every CSV names the Synth validator version its scores follow, in two columns on every row
(:func:`with_version`): ``validator_version`` (e.g. ``2026-09``) and ``validator_source``
(``synthdataco/synth-subnet@2cfb24b``), so the files stay plain tables for pandas and polars.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from synthwb.store import backtests as store_bt

if TYPE_CHECKING:  # pragma: no cover
    from synthwb.evaluate.backtest import BacktestResult

__all__ = ["neutralise", "neutralise_frame", "to_csv", "per_origin_csv", "intervals_csv", "quantiles_csv",
           "csv_texts", "write_csvs", "with_version", "version_label", "VERSION_COLUMNS"]

VERSION_COLUMNS = ("validator_version", "validator_source")


def version_label(record: Mapping[str, Any] | None) -> str:
    """``2026-09 (synthdataco/synth-subnet@2cfb24b)`` for a version record (name, repository,
    commit), as table headers and captions name it."""
    if not record:
        return "unknown"
    return f"{record.get('name')} ({record.get('repository')}@{str(record.get('commit', ''))[:7]})"


def with_version(df: pl.DataFrame, record: Mapping[str, Any] | None) -> pl.DataFrame:
    """``df`` with the two version columns (see the module doc) last; unchanged without a record."""
    if not record:
        return df
    src = f"{record.get('repository')}@{str(record.get('commit', ''))[:7]}"
    return df.drop([c for c in VERSION_COLUMNS if c in df.columns]).with_columns(
        pl.lit(str(record.get("name")), pl.Utf8).alias("validator_version"),
        pl.lit(src, pl.Utf8).alias("validator_source"))

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str | None) -> str | None:
    """Prefix a text cell with ``'`` when a spreadsheet would treat it as a formula."""
    if isinstance(value, str) and value.startswith(_DANGEROUS):
        return "'" + value
    return value


def _string_like(dtype: pl.DataType) -> bool:
    """Text as a spreadsheet sees it: String, Categorical, Enum (and a Null column of text)."""
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def neutralise_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Neutralise every string-like column of a frame (String, Categorical, Enum): categorical
    and enum columns are written as text, so they are cast to text and checked the same way."""
    exprs = []
    for c, t in df.schema.items():
        if not _string_like(t):
            continue
        s = pl.col(c).cast(pl.String)
        exprs.append(pl.when(s.str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + s).otherwise(s).alias(c))
    return df.with_columns(exprs) if exprs else df


def to_csv(df: pl.DataFrame) -> str:
    """CSV text of a frame, text neutralised, datetimes as ISO 8601."""
    return neutralise_frame(df).write_csv(datetime_format="%Y-%m-%dT%H:%M:%S%.6f%:z", float_precision=None)


def per_origin_csv(result: BacktestResult) -> str:
    return to_csv(with_version(result.per_origin, result.validator))


def intervals_csv(result: BacktestResult) -> str:
    return to_csv(with_version(result.intervals, result.validator))


def quantiles_csv(result: BacktestResult) -> str:
    return to_csv(with_version(result.quantiles, result.validator))


def csv_texts(result: BacktestResult) -> list[str]:
    """The per-origin, interval and quantile CSV texts."""
    return [per_origin_csv(result), intervals_csv(result), quantiles_csv(result)]


def write_csvs(result: BacktestResult, out: str | os.PathLike) -> list[Path]:
    """Write the three CSVs (:func:`synthwb.store.backtests.write_csvs`: ``out`` is a folder or a
    ``.csv`` file for the per-origin scores with ``<stem>_intervals.csv`` and ``<stem>_quantiles.csv``)."""
    return store_bt.write_csvs(csv_texts(result), out)
