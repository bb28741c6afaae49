"""Cleaning: the expected timestamp grid, gap filling, outlier capping, time zones and a
data-quality report. Pure functions on polars frames (``ts`` Datetime UTC + OHLCV).

The grid is calendar-aware: crypto expects every bar, 24/7; equity/etf/index expect the
09:30-16:00 New York session on NYSE trading days; fx expects Sunday 17:00 to Friday 17:00
New York. Bars of coarser timeframes are the session-anchored buckets of those minutes
(see :mod:`synthwb.data.calendar`).
"""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import polars as pl

from synthwb.core.errors import DataError
from synthwb.data.calendar import bucket_expr, session_minutes, trading_date_expr
from synthwb.data.schema import FREQ_SECONDS, SESSION_TZ, check_asset_class, check_freq, is_24_7

TS_DTYPE = pl.Datetime("us", "UTC")
PRICES = ("open", "high", "low", "close")


def _need_ts(df: pl.DataFrame) -> None:
    if "ts" not in df.columns:
        raise DataError("the frame has no ts column")


def expected_grid(df: pl.DataFrame, freq: str, asset_class: str) -> pl.Series:
    """Every bar-open time (Datetime us UTC) the calendar expects between the first and the
    last bar of ``df`` (inclusive)."""
    check_freq(freq)
    check_asset_class(asset_class)
    _need_ts(df)
    if df.height == 0:
        return pl.Series("ts", [], dtype=TS_DTYPE)
    lo, hi = df["ts"].min(), df["ts"].max()
    step = timedelta(seconds=FREQ_SECONDS[freq])
    if is_24_7(asset_class):
        # crypto bars follow UTC truncation; start from the bucket of the first bar
        first = pl.select(pl.lit(lo).dt.truncate(f"{FREQ_SECONDS[freq]}s")).item()
        return pl.datetime_range(first, hi, step, closed="both", time_unit="us",
                                 time_zone="UTC", eager=True).alias("ts")
    tz = SESSION_TZ
    first_day = lo.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    last_day = hi.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
    minutes = session_minutes(asset_class, first_day, last_day)
    if freq == "1min":
        grid = minutes
    else:
        grid = pl.DataFrame({"ts": minutes}).select(bucket_expr(freq, asset_class)).to_series().unique().sort()
    return grid.filter((grid >= lo) & (grid <= hi)).alias("ts")


def fill_gaps(df: pl.DataFrame, freq: str, asset_class: str, max_ffill: int | None = 5) -> pl.DataFrame:
    """Reindex ``df`` on the expected grid and add ``is_missing`` (True where the bar was not
    in ``df``).

    Missing bars are forward-filled for at most ``max_ffill`` consecutive bars (None: no
    limit; 0: no fill): open = high = low = close = the last close, volume = 0. Longer runs
    keep nulls past the limit. Rows off the calendar (e.g. a pre-market bar) are kept.
    """
    if max_ffill is not None and max_ffill < 0:
        raise DataError(f"max_ffill must be >= 0, got {max_ffill}")
    grid = expected_grid(df, freq, asset_class)
    out = (
        pl.DataFrame({"ts": grid})
        .join(df.with_columns(pl.lit(False).alias("is_missing")), on="ts", how="full", coalesce=True)
        .sort("ts")
        .with_columns(pl.col("is_missing").fill_null(True))
    )
    if max_ffill == 0:
        return out
    prev_close = pl.col("close").forward_fill(limit=max_ffill)
    filled = pl.col("is_missing") & prev_close.is_not_null()
    return out.with_columns(
        *[pl.when(pl.col("is_missing")).then(prev_close).otherwise(pl.col(c)).alias(c) for c in PRICES],
        pl.when(filled).then(0.0).otherwise(pl.col("volume")).alias("volume"),
    )


def _capping_values(df: pl.DataFrame, col: str, z: float) -> pl.Series | None:
    """The finite values of ``col`` to fit a capping rule on; None when there are too few."""
    if col not in df.columns:
        raise DataError(f"no column {col!r}")
    if z <= 0:
        raise DataError(f"z must be positive, got {z}")
    s = df[col].drop_nulls().drop_nans() if df[col].dtype.is_float() else df[col].drop_nulls()
    return s if s.len() >= 2 else None


def cap_outliers_zscore(df: pl.DataFrame, col: str, z: float = 4.0) -> pl.DataFrame:
    """Clip ``col`` to mean +/- z * std (population std over the frame)."""
    s = _capping_values(df, col, z)
    if s is None:
        return df
    mu, sd = s.mean(), s.std(ddof=0)
    if not sd:
        return df
    return df.with_columns(pl.col(col).clip(mu - z * sd, mu + z * sd))


def cap_outliers_mad(df: pl.DataFrame, col: str, z: float = 3.5) -> pl.DataFrame:
    """Clip ``col`` where the modified z-score 0.6745 * (x - median) / MAD exceeds ``z``
    (Iglewicz-Hoaglin), i.e. to median +/- z * MAD / 0.6745. Robust to the outliers
    themselves, unlike :func:`cap_outliers_zscore`."""
    s = _capping_values(df, col, z)
    if s is None:
        return df
    med = s.median()
    mad = (s - med).abs().median()
    if not mad:
        return df
    half = z * mad / 0.6745
    return df.with_columns(pl.col(col).clip(med - half, med + half))


def to_market_tz(df: pl.DataFrame, asset_class: str) -> pl.DataFrame:
    """``ts`` converted to the asset's market zone (UTC for crypto, America/New_York
    otherwise). The instants are unchanged; only the wall-clock representation moves."""
    check_asset_class(asset_class)
    _need_ts(df)
    tz = "UTC" if is_24_7(asset_class) else SESSION_TZ
    ts = df.schema["ts"]
    expr = pl.col("ts")
    if isinstance(ts, pl.Datetime) and ts.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    return df.with_columns(expr.dt.convert_time_zone(tz))


def _runs(missing: pl.DataFrame) -> pl.DataFrame:
    """Runs of consecutive missing grid points: start, end, bars."""
    return (
        missing.with_columns((pl.col("is_missing") != pl.col("is_missing").shift(1)).fill_null(True).cum_sum().alias("_run"))
        .filter(pl.col("is_missing"))
        .group_by("_run", maintain_order=True)
        .agg(pl.col("ts").first().alias("start"), pl.col("ts").last().alias("end"), pl.len().alias("bars"))
        .drop("_run")
    )


def quality_report(df: pl.DataFrame, freq: str, asset_class: str, max_gaps_listed: int = 50) -> dict:
    """What is wrong or missing in a bar frame.

    Returns a dict with ``rows, start, end, expected, present, missing, missing_share``,
    ``gaps`` ({count, longest_bars, longest_start, longest_duration_s, list[...]}), ``duplicates``
    (rows whose ts repeats), ``unsorted`` (rows going back in time), ``non_positive`` (rows
    with a price <= 0 or volume < 0), ``inconsistent_ohlc`` (high < low, or open/close
    outside [low, high]), ``nan_rows``, ``off_calendar`` (bars the calendar does not expect),
    and ``coverage``: a list of {date, expected, present, share} per trading day (New York
    dates for session assets, UTC dates for crypto).
    """
    check_freq(freq)
    check_asset_class(asset_class)
    _need_ts(df)
    n = df.height
    empty = {"rows": 0, "start": None, "end": None, "expected": 0, "present": 0, "missing": 0,
             "missing_share": 0.0, "gaps": {"count": 0, "longest_bars": 0, "longest_start": None,
                                            "longest_duration_s": 0, "list": []},
             "duplicates": 0, "unsorted": 0, "non_positive": 0, "inconsistent_ohlc": 0, "nan_rows": 0,
             "off_calendar": 0, "coverage": [], "issues": []}
    if n == 0:
        return empty
    price_cols = [c for c in PRICES if c in df.columns]
    num = [c for c in (*PRICES, "volume") if c in df.columns]
    flags = df.select(
        pl.col("ts").is_duplicated().sum().alias("duplicates"),
        (pl.col("ts").diff() < pl.duration(microseconds=0)).sum().alias("unsorted"),
        (pl.any_horizontal([pl.col(c) <= 0 for c in price_cols])
         | ((pl.col("volume") < 0) if "volume" in df.columns else pl.lit(False))).sum().alias("non_positive"),
        pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in num]).sum().alias("nan_rows"),
        ((pl.col("high") < pl.col("low"))
         | (pl.max_horizontal("open", "close") > pl.col("high"))
         | (pl.min_horizontal("open", "close") < pl.col("low"))).sum().alias("inconsistent_ohlc"),
    ).row(0, named=True)

    clean = df.select("ts").unique().sort("ts")
    grid = expected_grid(clean, freq, asset_class)
    step_s = FREQ_SECONDS[freq]
    marks = pl.DataFrame({"ts": grid}).join(
        clean.with_columns(pl.lit(False).alias("is_missing")), on="ts", how="left"
    ).with_columns(pl.col("is_missing").fill_null(True))
    expected = marks.height
    missing = int(marks["is_missing"].sum())
    off_cal = clean.join(pl.DataFrame({"ts": grid}), on="ts", how="anti").height
    runs = _runs(marks)
    gaps_list = []
    longest = {"longest_bars": 0, "longest_start": None, "longest_duration_s": 0}
    if runs.height:
        r = runs.sort("bars", descending=True)
        top = r.row(0, named=True)
        longest = {"longest_bars": int(top["bars"]), "longest_start": top["start"],
                   "longest_duration_s": int(top["bars"]) * step_s}
        gaps_list = [
            {"start": row["start"], "end": row["end"] + timedelta(seconds=step_s), "bars": int(row["bars"])}
            for row in r.head(max_gaps_listed).sort("start").iter_rows(named=True)
        ]
    day = trading_date_expr(asset_class)
    cov = (
        marks.with_columns(day.alias("date"))
        .group_by("date")
        .agg(pl.len().alias("expected"), (~pl.col("is_missing")).sum().alias("present"))
        .with_columns((pl.col("present") / pl.col("expected")).alias("share"))
        .sort("date")
    )
    report = {
        "rows": n,
        "start": df["ts"].min(),
        "end": df["ts"].max(),
        "expected": expected,
        "present": expected - missing,
        "missing": missing,
        "missing_share": (missing / expected) if expected else 0.0,
        "gaps": {"count": runs.height, **longest, "list": gaps_list},
        **{k: int(v) for k, v in flags.items()},
        "off_calendar": off_cal,
        "coverage": cov.to_dicts(),
    }
    issues = []
    if report["duplicates"]:
        issues.append(f"{report['duplicates']} rows with a duplicated timestamp")
    if report["unsorted"]:
        issues.append(f"{report['unsorted']} rows out of time order")
    if report["non_positive"]:
        issues.append(f"{report['non_positive']} rows with a non-positive price or negative volume")
    if report["inconsistent_ohlc"]:
        issues.append(f"{report['inconsistent_ohlc']} rows with inconsistent OHLC")
    if report["nan_rows"]:
        issues.append(f"{report['nan_rows']} rows with missing values")
    if runs.height:
        issues.append(f"{runs.height} gap{'s' if runs.height != 1 else ''}, {missing} missing "
                      f"bar{'s' if missing != 1 else ''} ({report['missing_share']:.2%})")
    report["issues"] = issues
    return report
