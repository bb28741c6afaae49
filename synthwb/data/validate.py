"""The shared bar validator: everything the lake refuses, with the rows that break it.

Re-exported as :func:`synthwb.data.sources.validate_bars`.
"""
from __future__ import annotations

import polars as pl

from synthwb.core.errors import DataError
from synthwb.data.schema import COLUMNS, OHLCV

TS_DTYPE = pl.Datetime("us", "UTC")
PRICES = ("open", "high", "low", "close")
MAX_ROWS_SHOWN = 5


def rows_text(idx: list[int] | pl.Series, offset: int = 1, label: str = "row") -> str:
    """'rows 3, 7, 9 (and 12 more)' from 0-based positions (shown 1-based by default)."""
    idx = list(idx)
    shown = ", ".join(str(int(i) + offset) for i in idx[:MAX_ROWS_SHOWN])
    more = f" (and {len(idx) - MAX_ROWS_SHOWN} more)" if len(idx) > MAX_ROWS_SHOWN else ""
    return f"{label}{'s' if len(idx) != 1 else ''} {shown}{more}"


def join_problems(problems: list[str]) -> str:
    """Every problem found, as one line: the problem itself, or ``N problems: (1) ...; (2) ...``."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems: " + "; ".join(f"({i}) {p.rstrip('.')}" for i, p in enumerate(problems, 1))


def _bad_rows(df: pl.DataFrame, mask: pl.Expr) -> list[int]:
    return df.select(pl.arg_where(mask.fill_null(False))).to_series().to_list()


def validate_bars(df: pl.DataFrame, *, row_offset: int = 1, row_label: str = "row",
                  row_numbers: pl.Series | list[int] | None = None) -> pl.DataFrame:
    """Check a canonical bar frame and return it cast to the lake schema.

    Requires columns ``ts`` (a datetime; naive means UTC) and ``open high low close volume``
    (numeric). Refuses: an empty frame, missing columns, nulls, NaN or infinite values,
    duplicate or unsorted timestamps, non-positive prices, negative volume, high < low and
    open/close outside [low, high]. Each :class:`DataError` names the problem and the rows
    (1-based positions in ``df`` unless ``row_offset``/``row_label`` say otherwise, e.g. file
    lines; ``row_numbers`` maps positions in ``df`` to the 0-based rows of the file they came
    from, e.g. after a newest-first file was turned round). Extra columns are dropped.
    """
    if not isinstance(df, pl.DataFrame):
        raise DataError(f"expected a polars DataFrame of bars, got {type(df).__name__}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(have: {', '.join(df.columns) or 'none'})")
    if df.height == 0:
        raise DataError("no bars: the data is empty")
    numbers = None if row_numbers is None else list(row_numbers)
    where = lambda idx: rows_text(idx if numbers is None else [numbers[i] for i in idx], row_offset, row_label)

    ts = df.schema["ts"]
    if not isinstance(ts, pl.Datetime):
        raise DataError(f"column ts must be a datetime, got {ts}")
    for c in OHLCV:
        if not df.schema[c].is_numeric():
            raise DataError(f"column {c} must be numeric, got {df.schema[c]}")

    ts_expr = pl.col("ts")
    if ts.time_zone is None:
        ts_expr = ts_expr.dt.replace_time_zone("UTC")
    elif ts.time_zone != "UTC":
        ts_expr = ts_expr.dt.convert_time_zone("UTC")
    out = df.select(ts_expr.dt.cast_time_unit("us").alias("ts"), *[pl.col(c).cast(pl.Float64) for c in OHLCV])

    problems: list[str] = []  # every check below runs; all their problems are raised together
    bad = _bad_rows(out, pl.col("ts").is_null())
    if bad:
        problems.append(f"missing timestamp in {where(bad)}")
    for c in OHLCV:
        bad = _bad_rows(out, pl.col(c).is_null() | pl.col(c).is_nan())
        if bad:
            problems.append(f"missing or NaN {c} in {where(bad)}")
        bad = _bad_rows(out, pl.col(c).is_infinite())
        if bad:
            problems.append(f"infinite {c} in {where(bad)}")

    dup = _bad_rows(out, pl.col("ts").is_duplicated())
    if dup:
        first = out["ts"][dup[0]]
        problems.append(f"duplicate timestamps in {where(dup)} (e.g. {first:%Y-%m-%d %H:%M:%S} UTC appears more than once)")
    back = _bad_rows(out, pl.col("ts").diff() < pl.duration(microseconds=0))
    if back:
        i = back[0]
        problems.append(
            f"timestamps are not sorted ascending: {where(back)} {'goes' if len(back) == 1 else 'go'} back in time "
            f"({out['ts'][i - 1]:%Y-%m-%d %H:%M:%S} then {out['ts'][i]:%Y-%m-%d %H:%M:%S}); sort the bars by time first"
        )

    nonpos = pl.any_horizontal([pl.col(c) <= 0 for c in PRICES])
    bad = _bad_rows(out, nonpos)
    if bad:
        problems.append(f"non-positive (zero or negative) prices in {where(bad)}")
    bad = _bad_rows(out, pl.col("volume") < 0)
    if bad:
        problems.append(f"negative volume in {where(bad)}")
    bad = _bad_rows(out, pl.col("high") < pl.col("low"))
    if bad:
        problems.append(f"high < low in {where(bad)}")
    tol = 1e-9
    outside = (
        (pl.max_horizontal("open", "close") > pl.col("high") * (1 + tol))
        | (pl.min_horizontal("open", "close") < pl.col("low") * (1 - tol))
    )
    bad = _bad_rows(out, outside)
    if bad:
        problems.append(f"open/close outside the [low, high] range in {where(bad)}")
    if problems:
        err = DataError(join_problems(problems))
        err.problems = problems  # type: ignore[attr-defined]  # the import joins them with its own
        raise err
    return out
