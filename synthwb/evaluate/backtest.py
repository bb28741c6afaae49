"""Rolling backtests: many forecast origins, every model and baseline, Synth scores and metrics.

The contract
------------
A *Forecaster* has ``name: str`` and
``forecast(bars, origins, n_steps, step_seconds, n_paths, seed) -> (n_origins, n_paths, n_steps + 1)``
prices, column 0 = the last close at or before each origin, using only bars with
``ts <= origin``. Baselines (:mod:`synthwb.forecast.baselines`) and trained runs
(:func:`synthwb.forecast.kinds.load_forecaster`) both implement it; ensembles too.

Time conventions
----------------
Bars are labelled by their open time ``ts``; a bar's close is the price at ``ts + bar``. An
origin is a bar's ``ts``; the forecast's t0 (its column 0) is therefore the price at
``origin + bar_seconds`` and point ``i`` the price at ``t0 + i * step``. Realised prices come
from the finest timeframe stored for the symbol, each close stamped with its own close time
``ts + fine_bar``, and are joined to the forecast grid by exact timestamps (never by
position), so a 5-minute model is scored on 1-minute data correctly and missing minutes
become NaN terms that the scorer skips.

Origins are bars in ``[start, end)`` whose whole horizon ends by ``end`` (or by the data's
end), either every ``every`` bars, ``n_origins`` evenly spread, or an explicit list (each
snapped to the last bar at or before it).

Validator timing (``timing="validator"``, the default for the 24h and 1h presets; "bar" is the
convention above and the default for custom tasks; :mod:`synthwb.evaluate.timing`): each
origin is a request to the miners. Every forecaster knows the bars up to the origin, whose
close ``c`` is its last known price. The first realised price lies ``L`` seconds later, ``L``
the smallest multiple of ``lcm(60, bar, the forecasters' native steps)`` that is >= 180 s; the
request time is ``c + L - 180 s`` and the validator's start time ``c + L - 60 s``. Grid label
``t = start + i * step`` is realised, as the validator does it, by the close of the
1-minute candle that opens at ``t``, i.e. the price at ``t + 60 s``. The forecaster is asked
for paths from ``c`` that cover ``L`` plus the horizon (on its native step, or ``gcd(L, step)``
if it has none); the point ``L`` after ``c`` is its own estimate of the t0 price and becomes
column 0, the earlier points are dropped. A run whose horizon ends before ``L`` + horizon
holds its t0 at the start instead (its paths from ``c`` are placed at the start time, as the
reference miner does); ``meta["timing"]["held_t0"]`` names such models. Per-origin ``t0`` is
the start time, quantile ``time`` the labels. Origins whose final realised price is missing
are not scored by the validator: they are dropped for every model and counted in
``meta["timing"]`` (``n_dropped``, ``dropped_origins``).
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthwb.core.errors import DataError, NotFound, SpecError, SynthwbError, validation_text
from synthwb.core.io import check_slug, slugify
from synthwb.core.time import to_ns, to_utc
from synthwb.data.lake import read_bars, stored_freqs
from synthwb.data.realised import join_on_grid
from synthwb.data.schema import FREQ_SECONDS, Selection
from synthwb.evaluate import export
from synthwb.evaluate.timing import forecast_across_lead, lead_seconds, plan_requests
from synthwb.evaluate.validator import batch_reasons
from synthwb.features.featureset import run_featureset
from synthwb.forecast.base import Forecaster, check_forecaster  # noqa: F401  (Forecaster: re-exported)
from synthwb.forecast.baselines import BASELINES, MIN_HISTORY, BaselineForecaster
from synthwb.forecast.kinds import load_forecaster
from synthwb.scoring.metrics import GluonMetrics, sorted_quantiles
from synthwb.scoring.synth import TASKS, SynthTask, get_task, score_batch
from synthwb.scoring.trading import TradingConfig, path_stats, trading_metrics
from synthwb.store import backtests as store_bt
from synthwb.store.runs import load_run, scoring_label

__all__ = [
    "Forecaster",
    "BaselineRef",
    "BacktestSpec",
    "BacktestResult",
    "run_backtest",
    "choose_origins",
    "save_backtest",
    "load_backtest",
    "QUANTILES",
]

QUANTILES = (5, 25, 50, 75, 95)
COVERAGE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
PIT_SCHEMA = {"origin": pl.Datetime("us", "UTC"), "model": pl.Utf8, "step": pl.Int32, "pit": pl.Float64}


def _pit_frame(srt: np.ndarray, real: np.ndarray, origins: pl.Series, name: str) -> pl.DataFrame:
    """PIT of each realised point 1..T-1 in its sorted ensemble ``srt`` (B, P, T): the share of
    paths at or below it (mid-rank for ties), one row per (origin, step) with a realised value."""
    below = (srt < real[:, None, :]).mean(axis=1)
    at = (srt <= real[:, None, :]).mean(axis=1)
    pit = 0.5 * (below + at)[:, 1:]
    b, k = np.nonzero(np.isfinite(real[:, 1:]))
    return pl.DataFrame({"origin": origins.gather(b), "model": [name] * b.size,
                         "step": (k + 1).astype(np.int32), "pit": pit[b, k]}, schema=PIT_SCHEMA)
NS = 1_000_000_000


# ------------------------------------------------------------------------------------ spec


def _utc(v: Any) -> Any:
    """Dates for the spec's validators: text and datetimes to UTC (naive means UTC); anything
    else is left for pydantic to judge."""
    return to_utc(v, "date") if v is None or isinstance(v, (str, datetime)) else v


class BaselineRef(BaseModel):
    """A baseline by registry name with its parameters."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"


class BacktestSpec(BaseModel):
    """Everything that defines a backtest; JSON round-trips (``model_dump_json`` /
    :meth:`from_json`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    selection: dict | None = None  # {"asset_class", "symbol", "freq"}; default: the run's
    task: str | dict = "24h"
    start: datetime | None = None
    end: datetime | None = None
    every: int | None = Field(None, ge=1, description="origins every k bars of the selection's timeframe")
    origins: list[datetime] | None = None
    n_origins: int = Field(50, ge=1, le=100_000)
    n_paths: int = Field(1000, ge=2, le=20_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    models: list[str] = Field(default_factory=list)
    baselines: list[BaselineRef] = Field(default_factory=lambda: [BaselineRef(name=n) for n in BASELINES.names()])
    seasonality: int = Field(1, ge=1)
    threshold_bps: float = Field(0.0, ge=0)
    cost_bps: float = Field(1.0, ge=0)
    holding_steps: int | None = Field(None, ge=1)
    keep_paths: int = Field(8, ge=0, le=200, description="origins whose full path sets are kept for charts")
    history_days: float = Field(14.0, gt=0)
    batch_size: int = Field(16, ge=1, le=4096)
    device: str = "auto"
    uncalibrated: bool = Field(False, description="also score each calibrated run without its calibration")
    timing: Literal["validator", "bar"] | None = Field(
        None, description='"validator" (default for the 24h/1h presets) or "bar" (default for custom tasks)')

    @field_validator("start", "end", mode="before")
    @classmethod
    def _dates(cls, v):
        return _utc(v)

    @field_validator("origins", mode="before")
    @classmethod
    def _origin_list(cls, v):
        return None if v is None else [_utc(x) for x in v]

    @field_validator("baselines", mode="before")
    @classmethod
    def _baseline_names(cls, v):
        if v is None:
            return []
        if isinstance(v, str):
            v = [s for s in v.split(",") if s.strip()]
        return [{"name": x.strip()} if isinstance(x, str) else x for x in v]

    @field_validator("models", mode="before")
    @classmethod
    def _model_names(cls, v):
        if v is None:
            return []
        if isinstance(v, str):
            v = [s for s in v.split(",") if s.strip()]
        return [str(x).strip() for x in v]

    @model_validator(mode="after")
    def _check(self):
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start:%Y-%m-%d %H:%M} is not before end {self.end:%Y-%m-%d %H:%M}")
        if self.selection is not None:
            Selection(**{k: self.selection.get(k) for k in ("asset_class", "symbol", "freq")})
        get_task(self.task)
        for b in self.baselines:
            BASELINES.get(b.name).resolve(b.params)
        for m in self.models:
            check_slug(m, "run id")
        return self

    @classmethod
    def parse(cls, obj: Any) -> BacktestSpec:
        """Validate a dict/JSON string; a bad spec raises :class:`SpecError` naming the field."""
        try:
            if isinstance(obj, (str, bytes)):
                return cls.model_validate_json(obj)
            if isinstance(obj, cls):
                return obj
            return cls.model_validate(obj)
        except ValidationError as exc:
            raise SpecError(f"invalid backtest spec: {validation_text(exc.errors(), 4, 'spec')}") from None
        except (SpecError, NotFound) as exc:
            raise SpecError(f"invalid backtest spec: {exc}") from None

    from_json = parse

    def task_obj(self) -> SynthTask:
        return get_task(self.task)

    def timing_mode(self) -> str:
        """The timing in force: as set, else "validator" for a Synth preset task, "bar" otherwise."""
        return self.timing or ("validator" if isinstance(self.task, str) else "bar")


# ---------------------------------------------------------------------------------- result


@dataclass
class BacktestResult:
    """Tidy tables of a backtest plus the few path sets kept for charts."""

    spec: BacktestSpec
    task: SynthTask
    selection: dict
    origins: list[datetime]
    per_origin: pl.DataFrame  # origin, t0, model, kind, total, valid, reason, n_terms
    terms: pl.DataFrame  # origin, model, interval, kind, term, score
    quantiles: pl.DataFrame  # origin, model, step, time, p5..p95, mean, realised
    gluonts: pl.DataFrame  # model, wQL, MSE, MAE, MASE, MSIS, coverage_*
    trading: pl.DataFrame  # model, directional_accuracy, strategy_*, buyhold_*
    realised: np.ndarray  # (n_origins, T)
    paths: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)  # model -> origin idx -> (P, T)
    meta: dict = field(default_factory=dict)
    status: str = "finished"
    pit: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PIT_SCHEMA))  # origin, model, step, pit

    def coverage_by_level(self, levels=COVERAGE_LEVELS) -> pl.DataFrame:
        """model, level, coverage: the share of realised points inside each central band of
        the paths (from the PIT values; a calibrated forecast has coverage == level)."""
        if self.pit.is_empty():
            return pl.DataFrame(schema={"model": pl.Utf8, "level": pl.Float64, "coverage": pl.Float64})
        return pl.concat([
            self.pit.group_by("model", maintain_order=True)
            .agg(((pl.col("pit") - 0.5).abs() <= lv / 2).mean().alias("coverage"))
            .with_columns(pl.lit(float(lv)).alias("level")) for lv in levels
        ]).select("model", "level", "coverage")

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.per_origin["model"].to_list()))

    @property
    def intervals(self) -> pl.DataFrame:
        """Per-origin, per-interval sums: origin, model, interval, kind, score, n_terms."""
        if self.terms.is_empty():
            return pl.DataFrame(schema={"origin": pl.Datetime("us", "UTC"), "model": pl.Utf8, "interval": pl.Utf8,
                                        "kind": pl.Utf8, "score": pl.Float64, "n_terms": pl.UInt32})
        order = {iv.name: i for i, iv in enumerate(self.task.intervals)}
        return (self.terms.group_by(["origin", "model", "interval", "kind"], maintain_order=True)
                .agg(pl.col("score").sum(), pl.len().alias("n_terms"))
                .with_columns(pl.col("interval").replace_strict(order, default=99).alias("_o"))
                .sort(["origin", "model", "_o"]).drop("_o"))

    def summary(self) -> pl.DataFrame:
        """One row per model: Synth score statistics, then key GluonTS and trading metrics."""
        po = self.per_origin
        valid = po.filter(pl.col("valid"))
        stats = (po.group_by(["model", "kind"], maintain_order=True)
                 .agg(pl.len().alias("n_origins"), (~pl.col("valid")).sum().alias("n_invalid"),
                      (pl.col("validator").fill_null("") != "").sum().alias("n_refused")))
        sc = (valid.group_by("model", maintain_order=True)
              .agg(pl.col("total").mean().alias("mean_score"), pl.col("total").median().alias("median_score"),
                   pl.col("total").std().alias("std_score")))
        out = stats.join(sc, on="model", how="left")
        # relative to the best baseline on shared valid origins
        base = [m for m, k in zip(out["model"], out["kind"]) if k == "baseline"]
        if base:
            piv = valid.pivot(on="model", index="origin", values="total").drop_nulls()
            if piv.height:
                best = min(base, key=lambda m: piv[m].mean() if m in piv.columns else math.inf)
                rel = {m: float(piv[m].mean() / piv[best].mean()) if m in piv.columns and best in piv.columns else None
                       for m in out["model"]}
                out = out.with_columns(pl.Series("vs_best_baseline", [rel.get(m) for m in out["model"]], dtype=pl.Float64))
        out = out.with_columns(pl.col("mean_score").rank("min").cast(pl.Int32).alias("rank"))
        if not self.gluonts.is_empty():
            out = out.join(self.gluonts.select("model", "wQL", "MASE", "coverage_90"), on="model", how="left")
        if not self.trading.is_empty():
            out = out.join(self.trading.select("model", "directional_accuracy", "strategy_sharpe", "strategy_return"),
                           on="model", how="left")
        labels = self.meta.get("run_labels") or {}
        out = out.with_columns(pl.Series("note", [labels.get(m, "") for m in out["model"]], dtype=pl.Utf8))
        return out.sort("rank")

    def to_dict(self) -> dict:
        """JSON-able digest (what the CLI prints with --json and what is saved as result.json)."""
        return {
            "status": self.status,
            "spec": json.loads(self.spec.model_dump_json()),
            "task": self.task.to_dict(),
            "selection": self.selection,
            "n_origins": len(self.origins),
            "origins": [o.isoformat() for o in self.origins],
            "summary": _records(self.summary()),
            "gluonts": _records(self.gluonts),
            "trading": _records(self.trading),
            "per_origin": _records(self.per_origin),
            "meta": self.meta,
        }


def _records(df: pl.DataFrame) -> list[dict]:
    out = []
    for row in df.to_dicts():
        r = {}
        for k, v in row.items():
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, float) and not math.isfinite(v):
                v = None
            r[k] = v
        out.append(r)
    return out


# -------------------------------------------------------------------------------- origins


def _bars_ts_ns(bars: pl.DataFrame) -> np.ndarray:
    return to_ns(bars["ts"])


def choose_origins(bar_ts_ns: np.ndarray, bar_seconds: int, horizon_seconds: int, *,
                   start: datetime | None, end: datetime | None, data_end_ns: int,
                   every: int | None, n_origins: int, explicit: Sequence[datetime] | None = None,
                   min_history: int = MIN_HISTORY) -> np.ndarray:
    """Origin bar timestamps (int64 ns), see the module doc."""
    ts = np.asarray(bar_ts_ns, dtype=np.int64)
    if ts.size == 0:
        raise DataError("no bars in the chosen period")
    hist_ok = np.arange(ts.size) + 1 >= min_history
    if explicit:
        want = to_ns(list(explicit))
        idx = np.searchsorted(ts, want, side="right") - 1
        bad = [str(o) for o, i in zip(explicit, idx) if i < 0 or not hist_ok[i]]
        if bad:
            raise DataError(f"not enough history before origin(s) {', '.join(bad[:3])} (need {min_history} bars)")
        return np.unique(ts[idx])
    lo = to_ns(start)[0] if start else ts[0]
    hi = min(to_ns(end)[0], data_end_ns) if end else data_end_ns
    fits = (ts >= lo) & (ts + (bar_seconds + horizon_seconds) * NS <= hi) & hist_ok
    cand = ts[fits]
    if cand.size == 0:
        raise DataError(
            "no forecast origin fits the period: it must hold at least one bar followed by a whole "
            f"horizon of {horizon_seconds // 60} minutes of data (and {min_history} bars of history before it)"
        )
    if every:
        return cand[::every][:n_origins]
    if cand.size <= n_origins:
        return cand
    pick = np.unique(np.round(np.linspace(0, cand.size - 1, n_origins)).astype(int))
    return cand[pick]


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(int(ns) // NS, tz=UTC) + timedelta(microseconds=(int(ns) % NS) // 1000)


# ---------------------------------------------------------------------------------- running


def _load_forecasters(spec: BacktestSpec, store, extra=(), root=None) -> list[tuple[str, str, Any]]:
    """(name, kind, forecaster) for the spec's saved runs (any kind) and baselines; ``extra``
    forecasters come first. A path model with a calibration is also scored without it when the
    spec asks (``uncalibrated``)."""
    out: list[tuple[str, str, Any]] = list(extra)
    for run_id in spec.models:
        run = load_run(run_id, store)
        kind = "ensemble" if run.kind == "ensemble" else "run"
        out.append((run_id, kind, load_forecaster(run_id, store=store, device=spec.device, root=root)))
        if spec.uncalibrated and run.kind == "path" and run.info.get("calibration"):
            f = load_forecaster(run_id, store=store, device=spec.device, root=root, calibrated=False)
            out.append((f.name, kind, f))
    for b in spec.baselines:
        out.append((b.label, "baseline", BaselineForecaster(b.name, **b.params)))
    for name, _, f in out:
        check_forecaster(f, repr(name))
    names = [n for n, _, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"model names repeat in the backtest: {dup} (a run named like a baseline?)")
    return out


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min" if seconds % 60 == 0 \
        else f"{seconds} s"


def check_task_grid(forecasters, task: SynthTask) -> None:
    """Every forecaster's path step must divide the task's step (finer steps are subsampled);
    a coarser one is refused before any data is read, naming the tasks that fit it and the fix."""
    for name, _, f in forecasters:
        native = int(getattr(f, "step_seconds", 0) or 0)
        if not native or task.step_seconds % native == 0:
            continue
        fits = [t for t, tk in TASKS.items() if tk.step_seconds % native == 0]
        fix = (f"backtest it on the {' or '.join(fits)} task" if fits else
               "no Synth task fits its paths: retrain it with the synth loss (the default), which simulates "
               "5-minute paths from any bar for the 24h task, or on 5min (or 1min) bars")
        raise SpecError(f"{name} simulates paths on a {_duration(native)} grid, coarser than the {task.name} task's "
                        f"{_duration(task.step_seconds)} step; {fix}")


def _resolve_selection(spec: BacktestSpec, store) -> Selection:
    sel = spec.selection
    if sel is None:
        if not spec.models:
            raise SpecError("a baselines-only backtest needs a selection (asset class, symbol, timeframe)")
        for run_id in spec.models:
            sel = load_run(run_id, store).info.get("selection")
            if sel:
                break
        if not sel:
            raise SpecError(f"run {spec.models[0]!r} records no data selection; pass one explicitly")
    return Selection(sel["asset_class"], sel["symbol"], sel["freq"])


def _run_labels(run_ids: Sequence[str], names: Sequence[str], store) -> dict[str, str]:
    """model name -> how a run that is not plain finished is scored (e.g. ``"interrupted, best
    weights at step 40"``), for its uncalibrated twin too; the summary's ``note`` column."""
    out = {}
    for run_id in run_ids:
        label = scoring_label(load_run(run_id, store))
        if label:
            out.update({n: label for n in names if n == run_id or n.startswith(f"{run_id} (")})
    return out


def _unseen_start(run_ids: Sequence[str], store, root) -> datetime | None:
    """The latest first test-split bar over the runs' feature sets: no run was trained or
    validated on anything from there on. None when no run records a feature set."""
    starts = []
    for run_id in run_ids:
        try:
            test = run_featureset(load_run(run_id, store)).splits(root)["test"]
        except SynthwbError:  # an ensemble or a run without a feature set: no split to honour
            continue
        if not test.is_empty():
            starts.append(test["ts"].min())
    return max(starts) if starts else None


def _context_seconds(forecasters, bar_seconds: int, history_days: float) -> float:
    secs = history_days * 86400.0
    for _, _, f in forecasters:
        secs = max(secs, float(f.context_days) * 86400.0)
        secs = max(secs, float(f.context_bars) * bar_seconds * 1.5)
    return secs


def _forecast(f, bars, origins, task: SynthTask, n_paths: int, seed: int, name: str) -> np.ndarray:
    """Ask a forecaster for the task grid; a model on a finer native grid is subsampled."""
    step = task.step_seconds
    native = int(f.step_seconds)
    ratio = 1
    if native and native != step:
        if step % native:
            raise SpecError(f"{name} forecasts on a {native} s grid that does not divide the task step {step} s")
        ratio = step // native
    paths = np.asarray(f.forecast(bars, origins, task.n_steps * ratio, step // ratio, n_paths, seed), dtype=np.float64)
    want = (len(origins), n_paths, task.n_steps * ratio + 1)
    if paths.shape != want:
        raise SpecError(f"{name} returned paths of shape {paths.shape}; expected {want}")
    return paths[:, :, ::ratio] if ratio > 1 else paths


@dataclass
class _Data:
    """The bars the forecasters read and the realised prices they are scored on."""

    bars: pl.DataFrame
    bar_ts: np.ndarray        # bar open times, ns
    real_ts: np.ndarray       # realised prices' times (the finest stored bars' close times), ns
    real_px: np.ndarray
    fine: str                 # the realised prices' timeframe
    data_end: int             # ns: no realised price after it


def _read_data(spec: BacktestSpec, sel: Selection, forecasters, horizon: int, lead: int, root) -> _Data:
    """Bars of the selection (with history before start and a horizon after end), and realised
    prices from the finest stored timeframe, stamped with each bar's close time."""
    bar_s = FREQ_SECONDS[sel.freq]
    ctx = timedelta(seconds=_context_seconds(forecasters, bar_s, spec.history_days))
    pad = timedelta(seconds=horizon + lead + 2 * bar_s)
    rd_start = spec.start - ctx if spec.start else None
    rd_end = spec.end + pad if spec.end else None
    bars = read_bars(Selection(sel.asset_class, sel.symbol, sel.freq, rd_start, rd_end), root=root)
    if bars.is_empty():
        raise DataError(f"no {sel.freq} bars for {sel.asset_class}/{sel.symbol} in the chosen period")
    bar_ts = _bars_ts_ns(bars)
    stored = stored_freqs(sel.asset_class, sel.symbol, root)
    fine = stored[0] if stored and FREQ_SECONDS[stored[0]] <= bar_s else sel.freq
    if fine == sel.freq:
        fine_bars = bars
    else:
        lo = spec.start - timedelta(seconds=2 * bar_s) if spec.start else None
        fine_bars = read_bars(Selection(sel.asset_class, sel.symbol, fine, lo, rd_end), root=root)
    real_ts = _bars_ts_ns(fine_bars) + FREQ_SECONDS[fine] * NS
    real_px = fine_bars["close"].to_numpy().astype(np.float64)
    data_end = int(min(real_ts[-1], bar_ts[-1] + bar_s * NS)) if real_ts.size else int(bar_ts[-1] + bar_s * NS)
    return _Data(bars, bar_ts, real_ts, real_px, fine, data_end)


@dataclass
class _Origins:
    """The scored origins, each forecast's t0 on the task grid and the realised path there."""

    o_ns: np.ndarray
    origins: list[datetime]
    t0_ns: np.ndarray          # label times start here
    price_t0_ns: np.ndarray    # the last known price's time
    realised: np.ndarray       # (n_origins, n_points)
    history: np.ndarray        # realised prices before t0 (for MASE/MSIS)
    plan: Any = None           # the validator's requests (validator timing), else None
    dropped: list[datetime] = field(default_factory=list)


def _place_origins(spec: BacktestSpec, task: SynthTask, data: _Data, bar_s: int, horizon: int, lead: int,
                   natives: list[int], min_hist: int, seen_until: datetime | None) -> _Origins:
    start = spec.start
    if start is None and not spec.origins:
        # default test period: data no run has seen (its feature set's test split); without
        # runs, after a quarter of the data (at most history_days) of history
        start = seen_until
        if start is None:
            warm = min(spec.history_days * 86400 * NS, (data.data_end - int(data.bar_ts[0])) // 4)
            start = _dt(int(data.bar_ts[0]) + int(warm))
    o_ns = choose_origins(data.bar_ts, bar_s, horizon + lead, start=start, end=spec.end, data_end_ns=data.data_end,
                          every=spec.every, n_origins=spec.n_origins, explicit=spec.origins, min_history=min_hist)
    step_ns = task.step_seconds * NS
    plan, dropped = None, []
    if spec.timing_mode() == "validator":
        # one validator request per origin (see the module doc); a request whose final realised
        # price is missing is not scored by the validator: dropped for every model alike
        plan = plan_requests(o_ns + bar_s * NS, data.real_ts, data.real_px, task, bar_s, natives)
        if not plan.scored.any():
            raise DataError(f"no request in the period has its final realised price ({plan.n_dropped} dropped)")
        dropped = [_dt(v) for v in o_ns[~plan.scored]]
        o_ns = o_ns[plan.scored]
        t0_ns, price_t0_ns = plan.start_ns[plan.scored], plan.first_price_ns[plan.scored]
        realised = plan.realised[plan.scored]
    else:
        t0_ns = price_t0_ns = o_ns + bar_s * NS
        grid = t0_ns[:, None] + np.arange(task.n_points, dtype=np.int64)[None, :] * step_ns
        realised = join_on_grid(data.real_ts, data.real_px, grid)
    hist_len = max(4 * spec.seasonality, task.n_steps)
    hist_grid = price_t0_ns[:, None] - np.arange(hist_len, -1, -1, dtype=np.int64)[None, :] * step_ns
    history = join_on_grid(data.real_ts, data.real_px, hist_grid)
    return _Origins(o_ns, [_dt(v) for v in o_ns], t0_ns, price_t0_ns, realised, history, plan, dropped)


class _Tables:
    """The result tables, filled one (model, batch of origins) at a time."""

    def __init__(self, task: SynthTask, org: _Origins, keep_idx: set[int], seen_until: datetime | None):
        self.task, self.org, self.keep_idx, self.seen_until = task, org, keep_idx, seen_until
        self.origin_series = pl.Series("origin", org.origins, dtype=pl.Datetime("us", "UTC"))
        self.grid = org.t0_ns[:, None] + np.arange(task.n_points, dtype=np.int64)[None, :] * task.step_seconds * NS
        self.po_rows: list[dict] = []
        self.term_frames: list[pl.DataFrame] = []
        self.q_frames: list[pl.DataFrame] = []
        self.pit_frames: list[pl.DataFrame] = []
        self.glu_rows: list[dict] = []
        self.trade_rows: list[dict] = []
        self.kept: dict[str, dict[int, np.ndarray]] = {}

    def add(self, name: str, kind: str, idx: list[int], paths: np.ndarray, gm: GluonMetrics, hold: int | None,
            stats_parts: list[dict], real_parts: list[np.ndarray]) -> None:
        """Score one batch: per-origin totals, tidy terms, quantiles, PIT, metrics' running sums."""
        task, org = self.task, self.org
        real_c = org.realised[idx]
        sc = score_batch(paths, real_c, task)
        verdicts = batch_reasons(paths, task)
        for j, i in enumerate(idx):
            self.po_rows.append({"origin": org.origins[i], "t0": _dt(org.t0_ns[i]), "model": name, "kind": kind,
                                 "total": float(sc.totals[j]) if sc.valid[j] else None,
                                 "valid": bool(sc.valid[j]), "reason": sc.reasons[j], "n_terms": int(sc.n_terms[j]),
                                 "in_sample": bool(self.seen_until is not None and org.origins[i] < self.seen_until),
                                 "validator": verdicts[j]})
        gather = np.asarray(idx)
        for iv in task.intervals:
            t = sc.terms[iv.name]
            b_idx, pos = np.nonzero(np.isfinite(t))
            if b_idx.size:
                self.term_frames.append(pl.DataFrame({
                    "origin": self.origin_series.gather(gather[b_idx]), "model": [name] * b_idx.size,
                    "interval": [iv.name] * b_idx.size, "kind": [iv.kind] * b_idx.size,
                    "term": pos.astype(np.int32), "score": t[b_idx, pos]}))
        finite = np.isfinite(paths).all(axis=(1, 2))
        qs = np.full((len(QUANTILES), len(idx), task.n_points), np.nan)
        mean = np.full((len(idx), task.n_points), np.nan)
        if finite.any():
            srt = np.sort(paths[finite], axis=1)  # one sort for every quantile and metric
            self.pit_frames.append(_pit_frame(srt, real_c[finite], self.origin_series.gather(gather[finite]), name))
            qs[:, finite] = sorted_quantiles(srt, [q / 100 for q in QUANTILES])
            mean[finite] = paths[finite].mean(axis=1)
            gm.update(srt, real_c[finite], org.history[idx][finite], presorted=True)
            stats_parts.append(path_stats(paths[finite], hold, median_path=qs[QUANTILES.index(50), finite]))
            real_parts.append(real_c[finite])
        B, T = len(idx), task.n_points
        self.q_frames.append(pl.DataFrame({
            "origin": self.origin_series.gather(np.repeat(gather, T)), "model": [name] * (B * T),
            "step": np.tile(np.arange(T, dtype=np.int32), B),
            "time": pl.Series(self.grid[idx].ravel() // 1000, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            **{f"p{q}": qs[k].ravel() for k, q in enumerate(QUANTILES)},
            "mean": mean.ravel(), "realised": real_c.ravel()}))
        for j, i in enumerate(idx):
            if i in self.keep_idx:
                self.kept.setdefault(name, {})[i] = paths[j].astype(np.float32)

    def per_origin(self) -> pl.DataFrame:
        return pl.DataFrame(self.po_rows, schema={
            "origin": pl.Datetime("us", "UTC"), "t0": pl.Datetime("us", "UTC"), "model": pl.Utf8, "kind": pl.Utf8,
            "total": pl.Float64, "valid": pl.Boolean, "reason": pl.Utf8, "n_terms": pl.Int64, "in_sample": pl.Boolean,
            "validator": pl.Utf8})

    def terms(self) -> pl.DataFrame:
        return pl.concat(self.term_frames) if self.term_frames else pl.DataFrame(schema={
            "origin": pl.Datetime("us", "UTC"), "model": pl.Utf8, "interval": pl.Utf8, "kind": pl.Utf8,
            "term": pl.Int32, "score": pl.Float64})


def run_backtest(spec: BacktestSpec | dict | str, root=None, store=None,
                 progress: Callable[..., None] | None = None,
                 stop_event: threading.Event | None = None,
                 forecasters: Sequence[Forecaster] = ()) -> BacktestResult:
    """Run a rolling backtest (see the module doc). ``progress(fraction, message=...)`` is
    called as batches finish; setting ``stop_event`` ends early with status "interrupted".
    ``forecasters``: extra Forecaster objects (kind "custom") scored beside the spec's runs
    and baselines; a custom backtest needs ``spec.selection``."""
    t_start = time.perf_counter()
    spec = BacktestSpec.parse(spec)
    task = spec.task_obj()
    sel = _resolve_selection(spec, store)
    bar_s = FREQ_SECONDS[sel.freq]
    horizon = task.horizon_seconds
    extra = [(str(f.name or f"custom{i}"), "custom", f) for i, f in enumerate(forecasters)]
    forecasters = _load_forecasters(spec, store, extra, root)
    if not forecasters:
        raise SpecError("nothing to backtest: give at least one run or one baseline")
    coarse = [(name, f.freq) for name, _, f in forecasters if getattr(f, "bar_seconds", None) and bar_s > int(f.bar_seconds)]
    if coarse:  # 1h bars would be read as if they were the run's 5-minute bars
        name, freq = coarse[0]
        raise SpecError(f"{name!r} reads {freq} bars but the selection's timeframe is {sel.freq}, coarser; use "
                        f"--freq {freq} (finer bars are resampled to {freq})")
    check_task_grid(forecasters, task)
    timing = spec.timing_mode()
    natives = [int(f.step_seconds) for _, _, f in forecasters]
    lead = lead_seconds(bar_s, natives) if timing == "validator" else 0
    note = progress or (lambda *a, **k: None)
    note(0.0, message="reading bars")

    data = _read_data(spec, sel, forecasters, horizon, lead, root)
    seen_until = _unseen_start(spec.models, store, root)   # origins before it lie in a run's train/val split
    labels = _run_labels(spec.models, [n for n, _, _ in forecasters], store)
    min_hist = max([MIN_HISTORY] + [int(f.context_bars) for _, _, f in forecasters])
    org = _place_origins(spec, task, data, bar_s, horizon, lead, natives, min_hist, seen_until)
    origins, n_o = org.origins, len(org.origins)
    held: list[str] = []

    def forecast(f, bars_, origins_, name):
        if org.plan is None:
            return _forecast(f, bars_, origins_, task, spec.n_paths, spec.seed, name)
        out, across = forecast_across_lead(f, bars_, origins_, task, org.plan.lead_s, spec.n_paths, spec.seed, name)
        if not across and name not in held:
            held.append(name)
        return out

    # holding period: the whole horizon, or the origin spacing when origins are closer
    hold = spec.holding_steps
    if hold is None and n_o > 1:
        spacing = int(np.min(np.diff(org.o_ns)) // (task.step_seconds * NS))
        hold = max(1, min(task.n_steps, spacing))
    trade_cfg = TradingConfig(spec.threshold_bps, spec.cost_bps, hold)
    keep_idx = set(np.unique(np.round(np.linspace(0, n_o - 1, min(spec.keep_paths, n_o))).astype(int)).tolist()) \
        if spec.keep_paths else set()
    tables = _Tables(task, org, keep_idx, seen_until)

    chunks = [list(range(i, min(i + spec.batch_size, n_o))) for i in range(0, n_o, spec.batch_size)]
    total_units, done_units = len(chunks) * len(forecasters), 0
    status = "finished"
    timings: dict[str, float] = {}
    for name, kind, f in forecasters:
        if stop_event is not None and stop_event.is_set():
            status = "interrupted"
            break
        t_model = time.perf_counter()
        gm = GluonMetrics(spec.seasonality)
        stats_parts: list[dict] = []
        real_parts: list[np.ndarray] = []
        for idx in chunks:
            if stop_event is not None and stop_event.is_set():
                status = "interrupted"
                break
            # never hand a forecaster bars after the latest origin of its batch
            cut = int(np.searchsorted(data.bar_ts, org.o_ns[idx[-1]], side="right"))
            paths = forecast(f, data.bars.slice(0, cut), [origins[i] for i in idx], name)
            tables.add(name, kind, idx, paths, gm, hold, stats_parts, real_parts)
            done_units += 1
            note(done_units / total_units, message=f"{name}: {min(idx[-1] + 1, n_o)}/{n_o} origins")
        timings[name] = time.perf_counter() - t_model
        tables.glu_rows.append({"model": name, **gm.get()})
        tr = {}
        if stats_parts:
            st = {k: np.concatenate([s[k] for s in stats_parts]) for k in stats_parts[0]}
            tr = trading_metrics(st, np.concatenate(real_parts), task.step_seconds, trade_cfg)
        tables.trade_rows.append({"model": name, **tr})

    elapsed = time.perf_counter() - t_start
    realised = org.realised
    meta = {
        "elapsed_s": round(elapsed, 3),
        "origins_per_second": round(n_o * len(forecasters) / elapsed, 3) if elapsed > 0 else None,
        "model_seconds": {k: round(v, 3) for k, v in timings.items()},
        "bar_seconds": bar_s, "realised_freq": data.fine,
        "realised_coverage": float(np.isfinite(realised).mean()) if realised.size else 0.0,
        "holding_steps": hold, "created": datetime.now(UTC).isoformat(),
        "n_in_sample": int(sum(o < seen_until for o in origins)) if seen_until is not None else 0,
        "run_labels": labels,
        "unseen_from": seen_until.isoformat() if seen_until is not None else None,
        "timing": {"mode": timing, **(org.plan.to_dict() if org.plan is not None else {}),
                   "dropped_origins": [o.isoformat() for o in org.dropped], "held_t0": held},
    }
    t = tables
    result = BacktestResult(spec, task, sel.to_dict() | {"start": None, "end": None}, origins, t.per_origin(),
                            t.terms(), pl.concat(t.q_frames) if t.q_frames else pl.DataFrame(),
                            pl.DataFrame(t.glu_rows) if t.glu_rows else pl.DataFrame(),
                            pl.DataFrame(t.trade_rows) if t.trade_rows else pl.DataFrame(),
                            realised, t.kept, meta, status,
                            pl.concat(t.pit_frames) if t.pit_frames else pl.DataFrame(schema=PIT_SCHEMA))
    note(1.0, message="done" if status == "finished" else "stopped")
    return result


# --------------------------------------------------------------------------------- storage


def default_slug(result: BacktestResult) -> str:
    o = result.origins
    first = o[0].strftime("%Y%m%d") if o else "none"
    last = o[-1].strftime("%Y%m%d") if o else "none"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return slugify(f"{result.task.name}-{first}-{last}-{len(o)}o-{stamp}")


def save_backtest(result: BacktestResult, folder: str | os.PathLike) -> Path:
    """Write a backtest folder atomically (:mod:`synthwb.store.backtests`)."""
    return store_bt.write_backtest(
        folder, spec=json.loads(result.spec.model_dump_json()), result=result.to_dict(),
        csvs=export.csv_texts(result),
        frames={"terms": result.terms, "quantiles": result.quantiles, "pit": result.pit},
        arrays={"realised": result.realised})


def save_beside_run(result: BacktestResult, run_id: str, store=None, slug: str | None = None) -> Path:
    """Save into ``models_store/<run_id>/backtests/<slug>/``."""
    slug = check_slug(slug or default_slug(result), "backtest name")
    return save_backtest(result, store_bt.backtest_folder(run_id, slug, store))


def load_backtest(folder: str | os.PathLike) -> BacktestResult:
    """Read a saved backtest back (paths are not saved; quantiles are)."""
    info, frames, arrays = store_bt.read_backtest(folder)
    spec = BacktestSpec.parse(info["spec"])
    per_origin = frames["per_origin"].with_columns(
        pl.col("origin").cast(pl.Datetime("us", "UTC")), pl.col("t0").cast(pl.Datetime("us", "UTC")),
        pl.col("reason").fill_null("").str.strip_prefix("'"), pl.col("total").cast(pl.Float64))
    if "validator" in per_origin.columns:  # saved before the validator's verdict was recorded: unknown
        per_origin = per_origin.with_columns(pl.col("validator").fill_null("").cast(pl.Utf8).str.strip_prefix("'"))
    else:
        per_origin = per_origin.with_columns(pl.lit(None, pl.Utf8).alias("validator"))
    glu = pl.DataFrame(info.get("gluonts") or [])
    trd = pl.DataFrame(info.get("trading") or [])
    origins = [datetime.fromisoformat(o) for o in info.get("origins", [])]
    return BacktestResult(spec, SynthTask.from_dict(info["task"]), info.get("selection") or {}, origins,
                          per_origin, frames["terms"], frames.get("quantiles", pl.DataFrame()), glu, trd,
                          arrays.get("realised", np.empty((0, 0))), {}, info.get("meta") or {},
                          info.get("status", "finished"), frames.get("pit", pl.DataFrame(schema=PIT_SCHEMA)))
