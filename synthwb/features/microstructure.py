"""The 16 micro-structure features, computed while resampling fine bars to a coarser bar.

For each coarse bar (grouped with the lake's own session-aware bucketing, so the OHLCV match
:func:`synthwb.data.resample.resample`), from its m fine bars i = 1..m:

 1-5. ``open high low close volume`` of the coarse bar.
 6.  ``ms_rv``          std (ddof=1) of the fine log returns r_i = ln(C_i / C_{i-1}), C_0 = the
                        coarse bar's open (returns strictly inside the bar; 0 when m < 2).
 7.  ``ms_skew``        skewness m3 / m2^1.5 of the r_i (population moments; 0 when m2 ~ 0).
 8.  ``ms_kurt``        excess kurtosis m4 / m2^2 - 3 (0 when m2 ~ 0).
 9.  ``ms_parkinson``   sqrt(mean(ln(H_i/L_i)^2) / (4 ln 2)) over the fine bars.
 10. ``ms_efficiency``  |C - O| / sum_i |C_i - C_{i-1}| (in [0, 1]; 0 when the sum is 0).
 11. ``ms_vwap_dev``    (C - VWAP) / VWAP, VWAP = sum(TP_i V_i) / sum(V_i), TP = (H+L+C)/3
                        (mean TP when the bar has no volume).
 12. ``ms_signed_volume`` sum_i sign(C_i - C_{i-1}) V_i.
 13. ``ms_upper_wick``  (H - max(O, C)) / (H - L)
 14. ``ms_lower_wick``  (min(O, C) - L) / (H - L)
 15. ``ms_body``        |C - O| / (H - L)
 16. ``ms_clv``         ((C - L) - (H - C)) / (H - L)   (13-16 are 0 for a bar with H = L)

Every division is guarded and a final pass replaces any non-finite value by 0.
"""
from __future__ import annotations

import math

import polars as pl

from synthwb.data.calendar import bucket_expr
from synthwb.data.schema import OHLCV
from synthwb.features.registry import FEATURES

MICRO_EXTRA = ("ms_rv", "ms_skew", "ms_kurt", "ms_parkinson", "ms_efficiency", "ms_vwap_dev",
               "ms_signed_volume", "ms_upper_wick", "ms_lower_wick", "ms_body", "ms_clv")
MICRO_FEATURES = (*OHLCV, *MICRO_EXTRA)  # the 16
_M2_EPS = 1e-18


def _finite(e: pl.Expr) -> pl.Expr:
    return pl.when(e.is_finite()).then(e).otherwise(0.0)


def _div(num: pl.Expr, den: pl.Expr, fill: float = 0.0) -> pl.Expr:
    return pl.when(den != 0).then(num / den).otherwise(fill)


def resample_with_micro(fine: pl.DataFrame, freq: str, asset_class: str) -> pl.DataFrame:
    """Aggregate fine bars to ``freq`` bars: ts, OHLCV and the 11 ``ms_*`` columns (one pass)."""
    if fine.is_empty():
        return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), **{c: pl.Float64 for c in MICRO_FEATURES}})
    o, h, lo, c, v = (pl.col(x) for x in OHLCV)
    b = pl.col("_b")
    first = b != b.shift(1)
    prev = pl.when(first.fill_null(True)).then(o).otherwise(c.shift(1))
    lf = (
        fine.lazy().sort("ts")
        .with_columns(bucket_expr(freq, asset_class).alias("_b"))
        .with_columns(prev.alias("_prev"))
        .with_columns(
            pl.when((pl.col("_prev") > 0) & (c > 0)).then((c / pl.col("_prev")).log()).otherwise(0.0).alias("_r"),
            (c - pl.col("_prev")).alias("_dc"),
            pl.when((lo > 0) & (h > 0)).then((h / lo).log() ** 2).otherwise(0.0).alias("_hl2"),
            ((h + lo + c) / 3.0).alias("_tp"),
        )
    )
    r = pl.col("_r")
    # plain sums only (fast hash-free aggregation of contiguous buckets); central moments below
    agg = lf.group_by("_b", maintain_order=True).agg(
        o.first().alias("open"), h.max().alias("high"), lo.min().alias("low"), c.last().alias("close"),
        v.sum().alias("volume"), pl.len().cast(pl.Float64).alias("_n"),
        r.sum().alias("_s1"), (r * r).sum().alias("_s2"), (r ** 3).sum().alias("_s3"), (r ** 4).sum().alias("_s4"),
        pl.col("_hl2").mean().alias("_pk"),
        pl.col("_dc").abs().sum().alias("_path"),
        (pl.col("_dc").sign() * v).sum().alias("ms_signed_volume"),
        (pl.col("_tp") * v).sum().alias("_pv"),
        pl.col("_tp").mean().alias("_tpm"),
    )
    n, mu = pl.col("_n"), pl.col("_s1") / pl.col("_n")
    e2, e3, e4 = pl.col("_s2") / n, pl.col("_s3") / n, pl.col("_s4") / n
    agg = agg.with_columns(
        (e2 - mu * mu).clip(lower_bound=0.0).alias("_m2"),
        (e3 - 3 * mu * e2 + 2 * mu ** 3).alias("_m3"),
        (e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu ** 4).alias("_m4"),
    ).with_columns(
        pl.when(n > 1).then((pl.col("_m2") * n / (n - 1)).sqrt()).otherwise(0.0).alias("_rv"))
    m2 = pl.col("_m2")
    O, H, L, C, V = (pl.col(x) for x in OHLCV)
    rng = H - L
    vwap = pl.when(V > 0).then(pl.col("_pv") / V).otherwise(pl.col("_tpm"))
    out = agg.select(
        pl.col("_b").alias("ts"), O, H, L, C, V,
        pl.col("_rv").fill_null(0.0).alias("ms_rv"),
        pl.when(m2 > _M2_EPS).then(pl.col("_m3") / m2.pow(1.5)).otherwise(0.0).alias("ms_skew"),
        pl.when(m2 > _M2_EPS).then(pl.col("_m4") / (m2 * m2) - 3.0).otherwise(0.0).alias("ms_kurt"),
        (pl.col("_pk") / (4.0 * math.log(2.0))).sqrt().alias("ms_parkinson"),
        _div((C - O).abs(), pl.col("_path")).alias("ms_efficiency"),
        _div(C - vwap, vwap).alias("ms_vwap_dev"),
        pl.col("ms_signed_volume"),
        _div(H - pl.max_horizontal(O, C), rng).alias("ms_upper_wick"),
        _div(pl.min_horizontal(O, C) - L, rng).alias("ms_lower_wick"),
        _div((C - O).abs(), rng).alias("ms_body"),
        _div((C - L) - (H - C), rng).alias("ms_clv"),
    ).with_columns(*[_finite(pl.col(x)).alias(x) for x in MICRO_EXTRA])
    return out.sort("ts").collect()


@FEATURES.register(
    "microstructure", category="micro-structure", params=[], needs=("fine bars",), makes=MICRO_EXTRA,
    fine=True,
    help="The 16 micro-structure features from the fine bars inside each bar: OHLCV, realised vol, "
         "skew, excess kurtosis, Parkinson vol, efficiency, VWAP deviation, signed volume, wick "
         "ratios, body and close location (the bar's own OHLCV are the first five).")
def microstructure(df: pl.DataFrame, ctx) -> pl.DataFrame:
    micro = getattr(ctx, "micro", None)
    if micro is None:
        fine = ctx.fine if ctx.fine is not None else df.select("ts", *OHLCV)
        micro = resample_with_micro(fine, ctx.freq, ctx.asset_class)
        ctx.micro = micro
    joined = df.select("ts").join(micro.select("ts", *MICRO_EXTRA), on="ts", how="left", maintain_order="left")
    return joined.drop("ts")
