"""Resample bars to a coarser timeframe: first open, max high, min low, last close, summed
volume, stamped with the bar-open time.

Crypto bars are aligned to UTC (1h bars at :00, 1d bars at 00:00 UTC). Session assets are
aligned to their New York session (see :mod:`synthwb.data.calendar`): an equity 1h bar
opens at 09:30, 10:30, ... 15:30 (the last one is 30 minutes long), a 1d bar is one New York
trading day stamped at its 09:30 open; fx days roll at 17:00 New York.
"""
from __future__ import annotations

import polars as pl

from synthwb.core.errors import DataError
from synthwb.data.calendar import bucket_expr
from synthwb.data.schema import FREQ_SECONDS, check_asset_class, check_freq

TS_DTYPE = pl.Datetime("us", "UTC")


def resample(df: pl.DataFrame, freq: str, asset_class: str = "crypto") -> pl.DataFrame:
    """Aggregate sorted bars ``df`` (ts + OHLCV) into ``freq`` bars.

    Empty buckets produce no row (gaps stay gaps). Extra columns are dropped. The input must
    be sorted by ``ts`` (as :func:`synthwb.data.lake.read_bars` returns it).
    """
    check_freq(freq)
    check_asset_class(asset_class)
    if df.height == 0:
        return df.select("ts", "open", "high", "low", "close", "volume")
    if df.height > 1:
        step = df.select(pl.col("ts").diff().min()).item()
        if step is not None and step.total_seconds() > FREQ_SECONDS[freq]:
            raise DataError(
                f"cannot resample to {freq}: the bars are coarser ({step.total_seconds():.0f} s apart)"
            )
    return (
        df.lazy()
        .with_columns(bucket_expr(freq, asset_class).alias("_b"))
        .group_by("_b", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .rename({"_b": "ts"})
        .sort("ts")
        .collect()
    )


def bars_on(bars: pl.DataFrame, freq: str, asset_class: str, what: str = "forecast") -> pl.DataFrame:
    """``bars`` sorted, on ``freq``: finer bars are resampled up (a forecaster reads bars of
    its own timeframe); bars of that timeframe are used as they are; coarser bars are refused
    (1h bars read as 5-minute bars would be a wrong forecast, not an error)."""
    if bars is None or bars.is_empty():
        raise DataError(f"no bars to {what} from")
    bars = bars.sort("ts")
    if bars.height > 2:
        diffs = bars["ts"].diff().drop_nulls().dt.total_seconds()
        spacing = diffs.median()
        closest = diffs.filter(diffs > 0).min()  # sessions and gaps only widen spacings, never narrow them
        if spacing is not None and spacing < FREQ_SECONDS[freq]:
            bars = resample(bars, freq, asset_class)
        elif closest is not None and closest > FREQ_SECONDS[freq]:
            raise DataError(f"the bars to {what} from are at least {closest:g} s apart, coarser than the {freq} bars "
                            f"the model reads; give {freq} bars or finer (they are resampled)")
    return bars
