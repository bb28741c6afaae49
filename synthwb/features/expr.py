"""Polars expression helpers the indicator and regime features share (no registration here,
so any feature module can import them without importing the registry)."""
from __future__ import annotations

import polars as pl


def safe_div(num: pl.Expr, den: pl.Expr, fill: float = 0.0) -> pl.Expr:
    """num/den, ``fill`` where den is 0 (null stays null: warm-up)."""
    return pl.when(den != 0).then(num / den).when(den.is_null()).then(None).otherwise(pl.lit(fill))


def seeded_ewm(x: pl.Expr, n: int, alpha: float) -> pl.Expr:
    """Recursive smoothing seeded with the simple mean of the first n valid values."""
    seed = x.rolling_mean(n)
    count = seed.is_not_null().cast(pl.Int64).cum_sum()
    z = pl.when(count == 1).then(seed).when(count > 1).then(x).otherwise(None)
    return z.ewm_mean(alpha=alpha, adjust=False)


def wilder(x: pl.Expr, n: int) -> pl.Expr:
    return seeded_ewm(x, n, 1.0 / n)


def ema(x: pl.Expr, n: int) -> pl.Expr:
    return seeded_ewm(x, n, 2.0 / (n + 1.0))


def series(name: str) -> pl.Expr:
    if name == "typical":
        return (pl.col("high") + pl.col("low") + pl.col("close")) / 3.0
    return pl.col(name)


def true_range() -> pl.Expr:
    """max(H-L, |H-C_prev|, |L-C_prev|); null at the first bar (no previous close)."""
    prev = pl.col("close").shift(1)
    tr = pl.max_horizontal(pl.col("high") - pl.col("low"), (pl.col("high") - prev).abs(),
                           (pl.col("low") - prev).abs())
    return pl.when(prev.is_null()).then(None).otherwise(tr)


def log_return(n: int = 1) -> pl.Expr:
    prev = pl.col("close").shift(n)
    return pl.when((prev > 0) & (pl.col("close") > 0)).then((pl.col("close") / prev).log()) \
        .when(prev.is_null()).then(None).otherwise(0.0)
