"""Calendar features in the asset class's market time zone (UTC for crypto, New York otherwise)."""
from __future__ import annotations

import math

import polars as pl

from synthwb.data.schema import market_tz
from synthwb.features.registry import FEATURES

CALENDAR_COLS = ("cal_year", "cal_month", "cal_day", "cal_hour", "cal_weekday", "cal_weekend",
                 "cal_hour_sin", "cal_hour_cos", "cal_dow_sin", "cal_dow_cos")


@FEATURES.register(
    "calendar", category="calendar", params=[], needs=("ts",), makes=CALENDAR_COLS, known_ahead=True,
    help="Year, month, day, hour, weekday (Mon=0), weekend flag and sin/cos of hour-of-day and "
         "day-of-week, in the market time zone of the asset class.",
)
def calendar(df: pl.DataFrame, ctx) -> list[pl.Expr]:
    local = pl.col("ts").dt.convert_time_zone(market_tz(ctx.asset_class))
    hour_frac = local.dt.hour().cast(pl.Float64) + local.dt.minute().cast(pl.Float64) / 60.0
    dow = (local.dt.weekday() - 1).cast(pl.Float64)  # Monday=0 .. Sunday=6
    two_pi = 2.0 * math.pi
    return [
        local.dt.year().cast(pl.Float64).alias("cal_year"),
        local.dt.month().cast(pl.Float64).alias("cal_month"),
        local.dt.day().cast(pl.Float64).alias("cal_day"),
        local.dt.hour().cast(pl.Float64).alias("cal_hour"),
        dow.alias("cal_weekday"),
        (dow >= 5).cast(pl.Float64).alias("cal_weekend"),
        (two_pi * hour_frac / 24.0).sin().alias("cal_hour_sin"),
        (two_pi * hour_frac / 24.0).cos().alias("cal_hour_cos"),
        (two_pi * dow / 7.0).sin().alias("cal_dow_sin"),
        (two_pi * dow / 7.0).cos().alias("cal_dow_cos"),
    ]
