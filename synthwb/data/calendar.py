"""Trading calendars per asset class, all in America/New_York for non-crypto.

- crypto: 24/7 in UTC.
- equity / etf / index: regular session 09:30-16:00 New York, Monday-Friday, NYSE full-day
  holidays excluded (rule-based; early closes are treated as full days).
- fx: Sunday 17:00 to Friday 17:00 New York; the trading day rolls at 17:00.

Bars of a session asset are anchored at the session open: an equity 1h bar starts at 09:30,
10:30, ...; a 1d bar is stamped at that day's 09:30 New York (in UTC); an fx 1d bar at 17:00
New York of the previous calendar day.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from synthwb.data.schema import FREQ_SECONDS, SESSION_TZ, check_asset_class, is_24_7

# session anchor (minutes after local midnight) and length (minutes) per asset class
_ANCHOR_MIN = {"equity": 9 * 60 + 30, "etf": 9 * 60 + 30, "index": 9 * 60 + 30, "fx": 17 * 60}
_SESSION_MIN = {"equity": 390, "etf": 390, "index": 390}


def anchor_minutes(asset_class: str) -> int:
    """Minutes after New York midnight at which the asset's trading day starts (0 for crypto)."""
    check_asset_class(asset_class)
    return 0 if is_24_7(asset_class) else _ANCHOR_MIN[asset_class]


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ll = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ll) // 451
    month = (h + ll - 7 * m + 114) // 31
    day = (h + ll - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    d = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


def nyse_holidays(year: int) -> set[date]:
    """NYSE full-day closures of a year (New Year, MLK, Presidents, Good Friday, Memorial,
    Juneteenth from 2022, Independence, Labor, Thanksgiving, Christmas; observed dates)."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # MLK
        _nth_weekday(year, 2, 0, 3),  # Presidents
        _easter(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    }
    ny = date(year, 1, 1)
    if ny.weekday() != 5:  # a Saturday New Year is not observed on the Friday before
        days.add(_observed(ny))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))
    return days


def trading_days(asset_class: str, first: date, last: date) -> list[date]:
    """New York trading dates in [first, last] for a session asset (all days for crypto)."""
    check_asset_class(asset_class)
    out = []
    d = first
    hol: dict[int, set[date]] = {}
    while d <= last:
        if is_24_7(asset_class):
            out.append(d)
        elif asset_class == "fx":
            if d.weekday() < 5:  # fx trading day D runs from 17:00 on D-1 to 17:00 on D
                out.append(d)
        else:
            if d.year not in hol:
                hol[d.year] = nyse_holidays(d.year)
            if d.weekday() < 5 and d not in hol[d.year]:
                out.append(d)
        d += timedelta(days=1)
    return out


def session_minutes(asset_class: str, first: date, last: date) -> pl.Series:
    """Every 1-minute bar-open time (Datetime us UTC) of the sessions on trading days
    ``first``..``last`` (New York dates; UTC dates for crypto)."""
    check_asset_class(asset_class)
    if is_24_7(asset_class):
        return pl.datetime_range(
            datetime(first.year, first.month, first.day),
            datetime(last.year, last.month, last.day) + timedelta(days=1),
            "1m", closed="left", time_unit="us", time_zone="UTC", eager=True,
        ).alias("ts")
    days = trading_days(asset_class, first, last)
    if not days:
        return pl.Series("ts", [], dtype=pl.Datetime("us", "UTC"))
    if asset_class == "fx":
        start_off, length = -7 * 60, 24 * 60  # 17:00 the day before, 24 hours
    else:
        start_off, length = _ANCHOR_MIN[asset_class], _SESSION_MIN[asset_class]
    day_s = pl.Series("d", days, dtype=pl.Date).cast(pl.Datetime("us"))
    frame = pl.DataFrame({"d": day_s}).with_columns(
        (pl.col("d") + pl.duration(minutes=start_off)).alias("open")
    )
    # local wall-clock minutes; convert each with its own UTC offset
    local = frame.select(
        pl.datetime_ranges(
            pl.col("open"), pl.col("open") + pl.duration(minutes=length - 1), "1m", closed="both"
        ).alias("ts")
    ).explode("ts")
    utc = local.select(
        pl.col("ts").dt.replace_time_zone(SESSION_TZ, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    ).drop_nulls()
    return utc.get_column("ts").dt.cast_time_unit("us").unique(maintain_order=True).sort()


def bucket_expr(freq: str, asset_class: str, col: str = "ts") -> pl.Expr:
    """Bar-open time (Datetime us UTC) of the ``freq`` bar that contains ``col``.

    Crypto: truncation in UTC. Session assets: truncation of New York wall time shifted by
    the session anchor (so equity 1h bars open at 09:30, 10:30, ...; 1d at 09:30 of the day).
    """
    check_asset_class(asset_class)
    every = f"{FREQ_SECONDS[freq]}s"
    if is_24_7(asset_class):
        return pl.col(col).dt.truncate(every)
    anchor = pl.duration(minutes=anchor_minutes(asset_class))
    local = pl.col(col).dt.convert_time_zone(SESSION_TZ).dt.replace_time_zone(None)
    bucket_local = (local - anchor).dt.truncate(every) + anchor
    if FREQ_SECONDS[freq] < 3600:
        # sub-hour bars: the bar's own UTC offset is exact (no DST issue inside an hour)
        offset = local - pl.col(col).dt.replace_time_zone(None)
        return (bucket_local - offset).dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    utc = (
        bucket_local.dt.replace_time_zone(SESSION_TZ, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.cast_time_unit("us")
    )
    # a bucket start that falls into a spring-forward hour does not exist: use the UTC truncation
    return pl.coalesce(utc, pl.col(col).dt.truncate(every).dt.cast_time_unit("us"))


def trading_date_expr(asset_class: str, col: str = "ts") -> pl.Expr:
    """The trading date (pl.Date) a bar belongs to: UTC date for crypto, New York date for
    equity-like assets, the 17:00-rolled New York date for fx."""
    check_asset_class(asset_class)
    if is_24_7(asset_class):
        return pl.col(col).dt.date()
    local = pl.col(col).dt.convert_time_zone(SESSION_TZ).dt.replace_time_zone(None)
    if asset_class == "fx":
        local = local + pl.duration(hours=7)
    return local.dt.date()
