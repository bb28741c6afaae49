"""Cross-asset features against reference symbols from the lake.

A reference's bars are aligned to the primary's timestamps with an as-of (backward) join:
at each bar the reference value is its last close at or before that bar's timestamp, so
nothing from the future is used, and a reference that does not trade at that moment (an
equity overnight) keeps its last known price.
"""
from __future__ import annotations

import polars as pl

from synthwb.core.errors import SpecError
from synthwb.core.registry import Param
from synthwb.features.registry import FEATURES, ref_label


def _names(p: dict, refs: tuple) -> list[str]:
    out = []
    for ref in refs:
        lab = ref_label(ref)
        out += [f"xa_{lab}_relperf_{p['perf_window']}", f"xa_{lab}_corr_{p['window']}",
                f"xa_{lab}_beta_{p['window']}"]
    return out


def _logret(col: str, n: int) -> pl.Expr:
    prev = pl.col(col).shift(n)
    return pl.when((prev > 0) & (pl.col(col) > 0)).then((pl.col(col) / prev).log()) \
        .when(prev.is_null() | pl.col(col).is_null()).then(None).otherwise(0.0)


@FEATURES.register(
    "cross_asset", category="cross-asset",
    params=[Param("window", int, 48, low=3, high=5000, help="bars for correlation and beta"),
            Param("perf_window", int, 24, low=1, high=5000, help="bars for relative performance")],
    needs=("close", "references"), makes=_names, refs=True,
    help="Per reference: relative performance (log return of the asset minus the reference's "
         "over perf_window), rolling correlation and beta (cov/var of the reference) of 1-bar log returns.")
def cross_asset(df: pl.DataFrame, window: int, perf_window: int, ctx) -> pl.DataFrame:
    base = df.select("ts", pl.col("close"))
    cols = []
    for ref, names in zip(ctx.references, _chunks(_names({"window": window, "perf_window": perf_window},
                                                          tuple(ctx.references)), 3)):
        rb = ctx.references[ref]
        if rb is None or rb.is_empty():
            raise SpecError(f"reference {ref!r} has no bars in the selected range")
        aligned = base.join_asof(rb.select("ts", pl.col("close").alias("_ref")).sort("ts"), on="ts",
                                 strategy="backward")
        x, y = _logret("close", 1), _logret("_ref", 1)
        mx, my = x.rolling_mean(window), y.rolling_mean(window)
        cov = (x * y).rolling_mean(window) - mx * my
        vx = (x * x).rolling_mean(window) - mx * mx
        vy = (y * y).rolling_mean(window) - my * my
        den = (vx * vy).clip(lower_bound=0.0).sqrt()
        corr = pl.when(den > 1e-24).then(cov / den).when(den.is_null()).then(None).otherwise(0.0)
        beta = pl.when(vy > 1e-24).then(cov / vy).when(vy.is_null()).then(None).otherwise(0.0)
        cols.append(aligned.select(
            (_logret("close", perf_window) - _logret("_ref", perf_window)).alias(names[0]),
            corr.clip(-1.0, 1.0).alias(names[1]),
            beta.alias(names[2]),
        ))
    return pl.concat(cols, how="horizontal") if cols else pl.DataFrame()


def _chunks(seq: list, n: int) -> list[list]:
    return [seq[i:i + n] for i in range(0, len(seq), n)]
