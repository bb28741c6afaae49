"""Compare forecasters on the same origins: leaderboard, paired significance, comparison runs.

Everything here works on a *per-origin score table*: a polars frame with one row per
(origin, model) and the columns ``origin`` (any sortable type, usually a UTC timestamp),
``model`` (str), ``total`` (the Synth-style score, lower is better) and optionally ``valid``
(bool; a forecast the validator would reject). The rolling backtest (``run_backtest``)
produces exactly that table; :func:`compare` runs it for several models on **shared** origins.

Fairness rule: every statistic that puts two models side by side (relative score, win rate,
significance) is computed on the *shared* origins only, i.e. the origins where every model in
the table produced a valid, finite score. A model that fails on hard origins cannot look
better by skipping them.

Significance: :func:`significance` tests whether the mean loss differential
``d_t = L_a(t) - L_b(t)`` over origins is zero, either with the Diebold-Mariano test
(Newey-West long-run variance with ``h - 1`` lags, the Harvey-Leybourne-Newbold small-sample
correction and a Student-t(T-1) p-value) or with a paired moving-block bootstrap of the mean
difference (percentile confidence interval; the block keeps the serial correlation that
overlapping forecast horizons create).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import DataError, SpecError, SynthwbError
from synthwb.core.io import atomic_write_all
from synthwb.core.training import part_progress
from synthwb.data.schema import Selection
from synthwb.evaluate.backtest import BacktestSpec, _records, run_backtest
from synthwb.evaluate.compare_stats import (  # noqa: F401  re-exported
    SignificanceResult,
    _check_per_origin,
    _wide,
    block_bootstrap,
    dm_test,
    leaderboard,
    overlap_lag,
    shared_origins,
    significance,
)
from synthwb.evaluate.export import to_csv, version_label, with_version
from synthwb.forecast.classical.refs import parse_classical
from synthwb.scoring.versions import get_validator
from synthwb.store import read_info

__all__ = [
    "SignificanceResult",
    "shared_origins",
    "leaderboard",
    "significance",
    "dm_test",
    "block_bootstrap",
    "overlap_lag",
    "CompareRequest",
    "CompareResult",
    "compare",
    "summarise",
    "LEADERBOARD_METRICS",
    "BOARD_COLUMNS",
]

# columns of the leaderboard a user may sort by (page and CLI)
LEADERBOARD_METRICS = (
    "rank", "mean", "median", "std", "rel_mean", "pct_vs_benchmark", "win_rate",
    "p_value", "n_origins", "n_invalid",
)


# ------------------------------------------------------------------------------- comparisons

BOARD_COLUMNS = ("rank", "model", "mean", "median", "rel_mean", "pct_vs_benchmark", "win_rate", "p_value",
                 "n_origins", "n_invalid", "note")


@dataclass
class CompareRequest:
    """What to compare and where: runs (ids, ensembles included), baselines (registry names) and
    classical references (``classical``: text or list for
    :func:`~synthwb.forecast.classical.refs.parse_classical`, ``"all"`` for every registered
    model, what the CLI and the pages compare by default; None: none) on
    one selection, task and test period, all on the same origins."""

    runs: list[str]
    baselines: list[str]
    selection: Any  # synthwb.data.schema.Selection (asset class, symbol, timeframe)
    task: str = "24h"
    start: Any = None
    end: Any = None
    n_origins: int = 20
    n_paths: int = 1000
    seed: int = 0
    benchmark: str | None = None
    method: str = "dm"
    assets: list[str] = field(default_factory=list)  # more symbols (same class and timeframe) for the reward
    validator: str | None = None  # the Synth validator version the scores follow (None: the newest)
    classical: Any = None  # parsed into ClassicalRefs ("all": every registered model); None: none

    def __post_init__(self) -> None:
        self.validator = get_validator(self.validator).name
        self.assets = [str(a).strip() for a in (self.assets or []) if str(a).strip()]
        sym = getattr(self.selection, "symbol", None)
        if sym in self.assets or len(set(self.assets)) != len(self.assets):
            raise SpecError(f"each asset is listed once: {[sym, *self.assets]}")
        self.runs = [str(r).strip() for r in self.runs if str(r).strip()]
        self.baselines = [str(b).strip() for b in self.baselines if str(b).strip()]
        self.classical = [] if self.classical is None else parse_classical(self.classical)
        names = self.models
        if len(names) < 2:
            raise SpecError(f"a comparison needs at least two models (runs and/or baselines); got {names or 'none'}")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpecError(f"model(s) {dup} are listed twice")
        if self.method not in ("dm", "bootstrap"):
            raise SpecError(f"unknown significance method {self.method!r}; use 'dm' or 'bootstrap'")
        if self.benchmark is not None and self.benchmark not in names:
            raise SpecError(f"benchmark {self.benchmark!r} is not among the compared models {names}")
        if int(self.n_origins) < 2:
            raise SpecError(f"a comparison needs at least 2 origins, got {self.n_origins}")

    @property
    def models(self) -> list[str]:
        return self.runs + self.baselines + [c.label for c in self.classical]

    @property
    def benchmark_name(self) -> str:
        """The chosen benchmark, else the first baseline, else the first run."""
        return self.benchmark or (self.baselines[0] if self.baselines else self.runs[0])

    @classmethod
    def from_options(cls, runs: Sequence[str], baselines: Sequence[str], asset_class: str | None = None,
                     symbol: str | None = None, freq: str | None = None, store=None, **kw: Any) -> CompareRequest:
        """Build from loose options; a missing selection part comes from the first run's record."""
        named = [str(x).strip() for x in [*runs, *baselines] if str(x).strip()]
        named += [c.label for c in parse_classical(kw["classical"])] if kw.get("classical") is not None else []
        if len(named) < 2:
            raise SpecError(f"a comparison needs at least two models (runs and/or baselines); got {named or 'none'}")
        sel: dict = {}
        if runs and not (asset_class and symbol and freq):
            for r in runs:
                sel = read_info(r, store).get("selection") or {}
                if sel:
                    break
        sel = {"asset_class": asset_class or sel.get("asset_class"), "symbol": symbol or sel.get("symbol"),
               "freq": freq or sel.get("freq")}
        missing = [k for k, v in sel.items() if not v]
        if missing:
            raise SpecError(f"say which data to compare on: missing {', '.join(missing)} "
                            "(--asset-class/--symbol/--freq, or give a run that records them)")
        kw = {k: v for k, v in kw.items() if v is not None}
        if "origins" in kw:
            kw["n_origins"] = kw.pop("origins")
        return cls(list(runs), list(baselines), Selection(sel["asset_class"], sel["symbol"], sel["freq"]), **kw)

    @property
    def symbols(self) -> list[str]:
        """The compared symbol first, then the extra assets."""
        return [self.selection.symbol, *self.assets]

    def backtest_spec(self, device: str = "auto", keep_paths: int = 0, symbol: str | None = None):
        sel = {k: getattr(self.selection, k) for k in ("asset_class", "symbol", "freq")}
        return BacktestSpec.parse({
            "selection": sel | ({"symbol": symbol} if symbol else {}),
            "task": self.task, "start": self.start, "end": self.end, "n_origins": int(self.n_origins),
            "n_paths": int(self.n_paths), "seed": int(self.seed), "models": self.runs,
            "baselines": [{"name": b} for b in self.baselines], "keep_paths": int(keep_paths), "device": device,
            "classical": [c.model_dump() for c in self.classical],
            "validator": self.validator,
        })

    def to_dict(self) -> dict:
        return {"runs": self.runs, "baselines": self.baselines, "classical": [c.label for c in self.classical],
                "selection": {k: getattr(self.selection, k) for k in ("asset_class", "symbol", "freq")},
                "task": self.task, "start": _iso(self.start), "end": _iso(self.end), "n_origins": self.n_origins,
                "n_paths": self.n_paths, "seed": self.seed, "benchmark": self.benchmark_name, "method": self.method,
                "assets": self.assets, "validator": self.validator}


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


@dataclass
class CompareResult:
    """A comparison on shared origins: the tables the page shows and the CLI prints."""

    request: CompareRequest
    backtest: Any  # BacktestResult
    benchmark: str
    board: pl.DataFrame  # leaderboard()
    tests: pl.DataFrame  # model, method, mean_diff, ci_low, ci_high, statistic, p_value, significant, verdict
    per_origin: pl.DataFrame  # origin, model, kind, total, valid, reason + rank within origin, vs benchmark
    intervals: pl.DataFrame  # model, interval, kind, score (mean per shared origin), share
    lag: int = 1
    # every asset's per-origin scores of the compared models (asset, origin, t0, model, total, valid, ...):
    # the leaderboard's symbol, then request.assets; the Synth reward's population
    by_asset: pl.DataFrame | None = None

    def reward_table(self) -> pl.DataFrame:
        """Per-origin scores of every compared model on every asset (column ``asset``)."""
        if self.by_asset is not None:
            return self.by_asset
        po = self.backtest.per_origin.filter(pl.col("model").is_in(self.models))
        return po.with_columns(pl.lit(self.request.selection.symbol).alias("asset"))

    @property
    def task(self) -> str:
        return self.backtest.task.name

    @property
    def validator(self) -> dict:
        """The validator version the scores follow (name, repository, commit, date)."""
        return self.backtest.validator

    @property
    def validator_label(self) -> str:
        """``2026-09 (synthdataco/synth-subnet@2cfb24b)``, for headers and captions."""
        return version_label(self.validator)

    @property
    def models(self) -> list[str]:
        """The compared models that were scored (a classical reference without the history to fit
        is left out: ``backtest.meta["left_out"]``)."""
        return scored_models(self.request, self.backtest)

    @property
    def origins(self) -> list:
        return list(self.backtest.origins)

    @property
    def n_origins(self) -> int:
        return int(self.board["n_origins"][0]) if self.board.height else 0

    def board_rows(self) -> list[dict]:
        return [{k: r[k] for k in BOARD_COLUMNS} for r in self.board.to_dicts()]

    def origin_order(self, how: str = "date", model: str | None = None, seed: int = 0) -> list:
        """Origins for the fan-chart picker: ``date``, ``worst`` / ``best`` (by ``model``'s score,
        default the benchmark's), or ``random``."""
        po = self.per_origin.filter(pl.col("model") == (model or self.benchmark))
        if how == "date":
            return po.sort("origin")["origin"].to_list()
        if how in ("worst", "best"):
            return po.drop_nulls("total").sort("total", descending=(how == "worst"))["origin"].to_list()
        if how == "random":
            o = po.sort("origin")["origin"].to_list()
            return [o[i] for i in np.random.default_rng(seed).permutation(len(o))]
        raise SpecError(f"unknown origin order {how!r}; use date, worst, best or random")

    def intervals_vs_benchmark(self) -> pl.DataFrame:
        """The per-interval table with ``score`` divided by the benchmark's score on that interval."""
        bench = self.intervals.filter(pl.col("model") == self.benchmark).select("interval", pl.col("score").alias("_b"))
        return (self.intervals.join(bench, on="interval", how="left", maintain_order="left")
                .with_columns((pl.col("score") / pl.col("_b")).alias("score")).drop("_b", "share"))

    def fan_data(self, origin) -> tuple[pl.DataFrame, dict[str, float | None]]:
        """Quantile bands of every model at ``origin`` (model, step, time, p5..p95, realised) and the scores."""
        q = self.backtest.quantiles.filter(pl.col("origin") == origin).sort("model", "step")
        sc = self.per_origin.filter(pl.col("origin") == origin)
        return q, dict(zip(sc["model"].to_list(), sc["total"].to_list()))

    def to_dict(self) -> dict:
        return {"request": self.request.to_dict(), "task": self.task, "validator": self.validator,
                "benchmark": self.benchmark,
                "n_origins": self.n_origins, "dm_lag": self.lag, "leaderboard": _records(self.board),
                "tests": _records(self.tests), "intervals": _records(self.intervals),
                "per_origin": _records(self.per_origin), "meta": self.backtest.meta}

    def board_csv(self) -> str:
        return to_csv(with_version(self.board, self.validator))

    def per_origin_csv(self) -> str:
        return to_csv(with_version(self.per_origin, self.validator))

    def intervals_csv(self) -> str:
        return to_csv(with_version(self.intervals, self.validator))

    def write_csv(self, out: str | Any) -> list[str]:
        """``out``: a ``.csv`` file for the leaderboard with ``<stem>_per_origin.csv`` and
        ``<stem>_intervals.csv`` beside it, or a folder (leaderboard.csv, per_origin.csv,
        intervals.csv). Each file is written atomically."""
        from pathlib import Path


        out = Path(out)
        if out.suffix.lower() == ".csv":
            paths = [out, out.with_name(f"{out.stem}_per_origin.csv"), out.with_name(f"{out.stem}_intervals.csv")]
        else:
            paths = [out / "leaderboard.csv", out / "per_origin.csv", out / "intervals.csv"]
        atomic_write_all(dict(zip(paths, (self.board_csv(), self.per_origin_csv(), self.intervals_csv()))),
                         "comparison CSVs")  # all or none
        return [str(p) for p in paths]


def _spacing_seconds(origins: Sequence) -> float:
    if len(origins) < 2:
        return 0.0
    ts = np.array([o.timestamp() for o in origins], dtype=np.float64)
    return float(np.median(np.diff(np.sort(ts))))


def scored_models(request: CompareRequest, bt: Any) -> list[str]:
    """``request.models`` less those the backtest left out (``bt.meta["left_out"]``)."""
    left = (getattr(bt, "meta", None) or {}).get("left_out") or {}
    return [m for m in request.models if m not in left]


def summarise(request: CompareRequest, bt: Any) -> CompareResult:
    """Turn a multi-model backtest into the comparison tables (pure; no forecasting)."""
    models = scored_models(request, bt)
    bench = request.benchmark_name
    if bench not in models:
        raise DataError(f"the benchmark {bench!r} was left out: {bt.meta['left_out'][bench]}; choose another one")
    po = bt.per_origin.filter(pl.col("model").is_in(models))
    lag = overlap_lag(bt.task.horizon_seconds, _spacing_seconds(bt.origins))
    board = leaderboard(po, bench, method=request.method, h=lag, seed=request.seed)
    labels = bt.meta.get("run_labels") or {}   # e.g. "interrupted, best weights at step 40"
    board = board.with_columns(pl.col("model").replace_strict(labels, default="", return_dtype=pl.Utf8).alias("note"))
    shared = shared_origins(po, models)
    tests = []
    for m in models:
        if m == bench or len(shared) < 2:
            continue
        for method in ("dm", "bootstrap"):
            r = significance(po.filter(pl.col("origin").is_in(shared)), m, bench, method, h=lag, seed=request.seed)
            tests.append({"model": m, "benchmark": bench, "method": method, "n": r.n, "mean_diff": r.mean_diff,
                          "ci_low": r.ci_low, "ci_high": r.ci_high, "statistic": r.statistic, "p_value": r.p_value,
                          "significant": r.significant, "verdict": r.verdict})
    tests_df = pl.DataFrame(tests, schema={
        "model": pl.Utf8, "benchmark": pl.Utf8, "method": pl.Utf8, "n": pl.Int64, "mean_diff": pl.Float64,
        "ci_low": pl.Float64, "ci_high": pl.Float64, "statistic": pl.Float64, "p_value": pl.Float64,
        "significant": pl.Boolean, "verdict": pl.Utf8})
    shared_s = pl.Series("origin", shared, dtype=po.schema["origin"])
    bench_tot = po.filter(pl.col("model") == bench).select("origin", pl.col("total").alias("_bench"))
    per_origin = (
        po.select([c for c in ("origin", "model", "kind", "total", "valid", "reason") if c in po.columns])
        .join(bench_tot, on="origin", how="left")
        .with_columns(
            pl.col("origin").is_in(shared_s.implode()).alias("shared"),
            (pl.col("total") / pl.col("_bench")).alias("rel_to_benchmark"),
        )
        .with_columns(pl.when(pl.col("shared")).then(pl.col("total")).otherwise(None)
                      .rank("min").over("origin").cast(pl.Int64).alias("rank_in_origin"))
        .drop("_bench").sort("origin", "model")
    )
    iv = bt.intervals.filter(pl.col("model").is_in(models) & pl.col("origin").is_in(shared_s.implode()))
    n_sh = max(len(shared), 1)
    intervals = (iv.group_by("model", "interval", "kind", maintain_order=True)
                 .agg((pl.col("score").sum() / n_sh).alias("score"))
                 .with_columns((pl.col("score") / pl.col("score").sum().over("model")).alias("share")))
    order = {m: i for i, m in enumerate(models)}
    iv_order = {n: i for i, n in enumerate([v.name for v in bt.task.intervals]
                                           + [vb.name for vb in bt.task.vol_blocks])}
    intervals = (intervals.with_columns(pl.col("model").replace_strict(order, default=99).alias("_m"),
                                        pl.col("interval").replace_strict(iv_order, default=99).alias("_i"))
                 .sort("_m", "_i").drop("_m", "_i"))
    return CompareResult(request, bt, bench, board, tests_df, per_origin, intervals, lag)


def compare(request: CompareRequest, root=None, store=None, progress: Callable[..., None] | None = None,
            stop_event=None, device: str = "auto",
            run_many: Callable[[list[BacktestSpec]], list[Any]] | None = None) -> CompareResult:
    """Backtest every run and baseline on the same origins, then rank them and test the
    differences against the benchmark (:func:`summarise`). With ``request.assets``, the same
    models are also backtested on those symbols (same class, timeframe and period): the
    leaderboard stays on the first symbol, and :meth:`CompareResult.reward_table` holds every
    asset's scores for the Synth reward. ``run_many(specs) -> results``: another way to run the
    per-asset backtests (e.g. :func:`synthwb.research.backend.run_backtests` on Ray); default:
    one after another in this process, with ``progress`` and ``stop_event``."""
    symbols = request.symbols
    specs = [request.backtest_spec(device=device, symbol=sym) for sym in symbols]
    if run_many is not None:
        results = run_many(specs)
    else:
        results = []
        for i, (sym, spec) in enumerate(zip(symbols, specs)):
            cb = part_progress(progress, i, len(symbols))
            if cb is not None and len(symbols) > 1:
                cb(0.0, message=f"asset {sym} ({i + 1}/{len(symbols)})")
            results.append(_for_asset(sym if i else None, lambda s=spec, c=cb: run_backtest(
                s, root=root, store=store, progress=c, stop_event=stop_event)))
    if any(bt.status != "finished" for bt in results):
        raise SpecError("the comparison was stopped before every model was scored")
    res = summarise(request, results[0])
    if len(results) > 1:
        res.by_asset = pl.concat([
            bt.per_origin.filter(pl.col("model").is_in(res.models)).with_columns(pl.lit(sym).alias("asset"))
            for sym, bt in zip(symbols, results)], how="diagonal_relaxed")
    return res


def _for_asset(symbol: str | None, fn: Callable[[], Any]) -> Any:
    """``fn()``; a user error names the extra asset it concerns."""
    try:
        return fn()
    except SynthwbError as exc:
        if symbol is None:
            raise
        raise type(exc)(f"asset {symbol}: {exc}") from None
