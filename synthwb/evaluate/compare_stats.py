"""Comparison statistics on per-origin scores: shared origins, paired significance tests
(Diebold-Mariano with the HLN correction, block bootstrap) and the leaderboard. Split from
:mod:`synthwb.evaluate.compare`, which re-exports every name."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from synthwb.core.dm import dm_test, overlap_lag  # noqa: F401  re-exported
from synthwb.core.errors import SpecError

# ------------------------------------------------------------------------ per-origin tables


def _check_per_origin(per_origin: pl.DataFrame) -> pl.DataFrame:
    if not isinstance(per_origin, pl.DataFrame):
        raise SpecError("per-origin scores must be a polars DataFrame")
    missing = {"origin", "model", "total"} - set(per_origin.columns)
    if missing:
        raise SpecError(f"per-origin scores lack column(s) {sorted(missing)}; need origin, model, total")
    if per_origin.is_empty():
        raise SpecError("per-origin scores are empty: no origin was scored")
    df = per_origin.with_columns(pl.col("total").cast(pl.Float64), pl.col("model").cast(pl.Utf8))
    ok = pl.col("total").is_not_null() & pl.col("total").is_finite() & (pl.col("total") >= 0)
    if "valid" in df.columns:
        ok = ok & pl.col("valid").fill_null(False).cast(pl.Boolean)
    df = df.with_columns(ok.alias("_ok"))
    dup = df.group_by("origin", "model").len().filter(pl.col("len") > 1)
    if not dup.is_empty():
        raise SpecError(
            f"per-origin scores hold {dup.height} duplicate (origin, model) pair(s), "
            f"e.g. model {dup['model'][0]!r}"
        )
    return df


def shared_origins(per_origin: pl.DataFrame, models: Sequence[str] | None = None) -> list:
    """Origins (sorted) where every model in ``models`` (default: all) has a valid finite score."""
    df = _check_per_origin(per_origin)
    models = list(models) if models is not None else sorted(df["model"].unique().to_list())
    good = (
        df.filter(pl.col("model").is_in(models) & pl.col("_ok"))
        .group_by("origin").agg(pl.col("model").n_unique().alias("n"))
        .filter(pl.col("n") == len(models))
        .sort("origin")
    )
    return good["origin"].to_list()


def _wide(df: pl.DataFrame, models: Sequence[str], origins: list) -> pl.DataFrame:
    """origin x model matrix of totals on the given origins (sorted by origin)."""
    sub = df.filter(pl.col("origin").is_in(origins) & pl.col("model").is_in(list(models)))
    return sub.pivot(on="model", index="origin", values="total").sort("origin").select("origin", *models)


# ------------------------------------------------------------------------------ significance


@dataclass
class SignificanceResult:
    """A paired comparison of model ``a`` against model ``b`` (negative mean_diff: a is better)."""

    method: str
    a: str
    b: str
    n: int
    mean_diff: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    lag: int = 0
    block: int = 0
    alpha: float = 0.05
    extra: dict = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)

    @property
    def verdict(self) -> str:
        if not self.significant:
            return "no significant difference"
        return f"{self.a} better" if self.mean_diff < 0 else f"{self.b} better"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["significant"] = self.significant
        d["verdict"] = self.verdict
        return d


def block_bootstrap(d: np.ndarray, block: int, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` circular moving-block bootstrap resamples of ``d`` (length T each)."""
    d = np.asarray(d, dtype=np.float64)
    T = d.size
    block = int(max(1, min(block, T)))
    n_blocks = int(math.ceil(T / block))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, T, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)[:, :T] % T
    return d[idx].mean(axis=1)


def significance(
    per_origin: pl.DataFrame,
    a: str,
    b: str,
    method: str = "dm",
    *,
    h: int = 1,
    alpha: float = 0.05,
    n_boot: int = 2000,
    block: int | None = None,
    seed: int = 0,
) -> SignificanceResult:
    """Is model ``a``'s mean score different from model ``b``'s over their shared origins?

    ``method="dm"``: Diebold-Mariano (see :func:`dm_test`), ``h`` = forecast overlap in
    origins (:func:`overlap_lag`). ``method="bootstrap"``: paired circular moving-block
    bootstrap of the mean difference, block length ``block`` (default ``max(h, T^(1/3))``),
    percentile CI at level ``1 - alpha``, two-sided p-value of the centred bootstrap
    ``(1 + #{|m* - dbar| >= |dbar|}) / (1 + n_boot)`` (1 when the means are identical).
    """
    if method not in ("dm", "bootstrap"):
        raise SpecError(f"unknown significance method {method!r}; use 'dm' or 'bootstrap'")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be in (0, 1), got {alpha!r}")
    df = _check_per_origin(per_origin)
    known = set(df["model"].unique().to_list())
    for m in (a, b):
        if m not in known:
            raise SpecError(f"model {m!r} is not in the score table; have {sorted(known)}")
    origins = shared_origins(df, [a, b])
    if len(origins) < 2:
        raise SpecError(f"{a!r} and {b!r} share {len(origins)} valid origin(s); need at least 2 to test")
    w = _wide(df, [a, b], origins)
    d = (w[a] - w[b]).to_numpy()
    T = d.size
    h = int(max(1, h))
    if method == "dm":
        stat, p, lo, hi, lrv = dm_test(d, h=h, alpha=alpha)
        return SignificanceResult("dm", a, b, T, float(d.mean()), stat, p, lo, hi, lag=min(h, T - 1) - 1,
                                  alpha=alpha, extra={"long_run_variance": lrv})
    if n_boot < 100:
        raise SpecError(f"n_boot must be at least 100, got {n_boot}")
    blk = int(block) if block else max(h, int(round(T ** (1.0 / 3.0))))
    if blk < 1:
        raise SpecError(f"block length must be at least 1, got {block}")
    means = block_bootstrap(d, blk, n_boot, seed)
    dbar = float(d.mean())
    lo, hi = (float(x) for x in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    exceed = int(np.sum(np.abs(means - dbar) >= abs(dbar) - 1e-12 * max(1.0, abs(dbar))))
    p = (1 + exceed) / (1 + n_boot)
    sd = float(means.std(ddof=1))
    stat = dbar / sd if sd > 0 else (0.0 if dbar == 0 else math.copysign(math.inf, dbar))
    return SignificanceResult("bootstrap", a, b, T, dbar, float(stat), float(min(p, 1.0)), lo, hi,
                              block=min(blk, T), alpha=alpha, extra={"n_boot": n_boot, "seed": seed})


# ------------------------------------------------------------------------------- leaderboard


def leaderboard(
    per_origin: pl.DataFrame,
    benchmark: str | None = None,
    *,
    method: str | None = "dm",
    h: int = 1,
    alpha: float = 0.05,
    seed: int = 0,
) -> pl.DataFrame:
    """One row per model, best first.

    Columns: ``rank`` (1 = lowest mean on shared origins), ``model``, ``mean``, ``median``,
    ``std`` (over shared origins), ``rel_mean`` (mean / benchmark mean), ``pct_vs_benchmark``
    (``(rel_mean - 1) * 100``; negative = better than the benchmark), ``win_rate`` (share of
    shared origins where the model scores strictly lower than the benchmark, ties count one
    half), ``p_value`` (paired test vs the benchmark, ``method`` "dm" or "bootstrap"; None for
    the benchmark itself or when ``method`` is None), ``n_origins`` (shared origins),
    ``n_invalid`` (origins this model failed on), ``mean_all`` (mean over all of the model's own
    valid origins). ``benchmark`` defaults to the first model in the table.
    """
    df = _check_per_origin(per_origin)
    models = list(dict.fromkeys(df["model"].to_list()))
    if benchmark is None:
        benchmark = models[0]
    if benchmark not in models:
        raise SpecError(f"benchmark {benchmark!r} is not in the score table; have {models}")
    origins = shared_origins(df, models)
    if not origins:
        bad = df.filter(~pl.col("_ok")).group_by("model").len().sort("len", descending=True)
        worst = bad["model"][0] if not bad.is_empty() else "?"
        raise SpecError(
            "no origin where every model has a valid score, so nothing can be compared fairly "
            f"(most invalid: {worst!r}); drop that model or change the period"
        )
    w = _wide(df, models, origins)
    bench = w[benchmark].to_numpy()
    bench_mean = float(bench.mean())
    n_all = df.group_by("model").agg(
        (~pl.col("_ok")).sum().alias("n_invalid"),
        pl.col("total").filter(pl.col("_ok")).mean().alias("mean_all"),
    )
    on_shared = df.drop("_ok").filter(pl.col("origin").is_in(origins))
    rows = []
    for m in models:
        x = w[m].to_numpy()
        diff = x - bench
        p = None
        if method is not None and m != benchmark and len(origins) >= 2:
            p = significance(on_shared, m, benchmark, method, h=h, alpha=alpha, seed=seed).p_value
        rows.append({
            "model": m,
            "mean": float(x.mean()),
            "median": float(np.median(x)),
            "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "rel_mean": float(x.mean() / bench_mean) if bench_mean > 0 else math.nan,
            "pct_vs_benchmark": float((x.mean() / bench_mean - 1.0) * 100.0) if bench_mean > 0 else math.nan,
            "win_rate": float(np.mean((diff < 0) + 0.5 * (diff == 0))),
            "p_value": p,
            "n_origins": len(origins),
        })
    out = pl.DataFrame(rows, schema_overrides={"p_value": pl.Float64}).join(n_all, on="model", how="left")
    out = out.with_columns(pl.col("n_invalid").cast(pl.Int64), pl.lit(benchmark).alias("benchmark"))
    out = out.sort(["mean", "model"]).with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
    return out.select("rank", "model", "mean", "median", "std", "rel_mean", "pct_vs_benchmark", "win_rate",
                      "p_value", "n_origins", "n_invalid", "mean_all", "benchmark")
