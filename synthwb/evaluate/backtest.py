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
the smallest multiple of ``lcm(60, bar, the forecasters' native steps)`` that is >= ``M``
(``M`` = 180 s; 120 s for the 1h task under 2026-09, whose start time has no extra minute); the
request time is ``c + L - M`` and the validator's start time ``c + L - 60 s``. Grid label
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

Validator version (``spec.validator``, default the newest, :mod:`synthwb.scoring.versions`):
the task's terms (1h under 2026-09 adds the volatility blocks), the timing above and the
response rules the per-origin ``validator`` verdict applies all follow it; the result records it
(``meta["validator"]``: name, repository, commit, date; :attr:`BacktestResult.validator`), and so
do its JSON digest, every CSV (columns ``validator_version`` and ``validator_source``) and the
tables' headers.

Validator cadence (``spec.cadence``): instead of spread or every-``k`` origins, the origins are
the version's *scored* requests of the selection's asset in the period
(:mod:`synthwb.evaluate.cadence`: the request stream, one kept request per (asset, bucket)),
each replayed at the latest origin the backtest can place at or before it
(:func:`~synthwb.evaluate.backtest_origins.cadence_origins`), at most ``n_origins`` of them;
``meta["cadence"]`` records the stream's facts.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import DataError, SpecError, SynthwbError
from synthwb.data.schema import FREQ_SECONDS, Selection
from synthwb.evaluate.backtest_origins import (  # noqa: F401  (choose_origins: re-exported)
    NS,
    _place_origins,
    _read_data,
    choose_origins,
)
from synthwb.evaluate.backtest_result import (  # noqa: F401  (re-exported: the public names)
    COVERAGE_LEVELS,
    PIT_SCHEMA,
    QUANTILES,
    BacktestResult,
    _records,
    _Tables,
    default_slug,
    load_backtest,
    save_backtest,
    save_beside_run,
    validator_record,
)
from synthwb.evaluate.backtest_spec import BacktestSpec, BaselineRef
from synthwb.evaluate.timing import forecast_across_lead, lead_seconds
from synthwb.features.featureset import run_featureset
from synthwb.forecast.base import Forecaster, check_named  # noqa: F401  (Forecaster: re-exported)
from synthwb.forecast.baselines import MIN_HISTORY, BaselineForecaster
from synthwb.forecast.kinds import load_forecaster
from synthwb.scoring.metrics import GluonMetrics
from synthwb.scoring.synth import TASKS, SynthTask
from synthwb.scoring.trading import TradingConfig, trading_metrics
from synthwb.store.runs import load_run, scoring_label

__all__ = [
    "Forecaster",
    "BaselineRef",
    "BacktestSpec",
    "BacktestResult",
    "run_backtest",
    "choose_origins",
    "save_backtest",
    "save_beside_run",
    "load_backtest",
    "QUANTILES",
]


# ---------------------------------------------------------------------------------- running


def _identity(cal: dict | None) -> bool:
    """A calibration that changes nothing (none fitted, or vol scale 1, drift shrink 1 and no
    bucket scales): the run's uncalibrated twin would be the same forecast under another name."""
    if not cal:
        return True
    return (float(cal.get("vol_scale", 1.0)) == 1.0 and float(cal.get("drift_shrink", 1.0)) == 1.0
            and all(float(m) == 1.0 for m in cal.get("bucket_scales") or []))


def _load_forecasters(spec: BacktestSpec, store, extra=(), root=None, sel: Selection | None = None
                      ) -> list[tuple[str, str, Any]]:
    """(name, kind, forecaster) for the spec's saved runs (any kind), baselines and classical
    references (on the selection ``sel``); ``extra`` forecasters come first. A path model with a
    calibration or a blend is also scored without them when the spec asks (``uncalibrated``)."""
    out: list[tuple[str, str, Any]] = list(extra)
    for run_id in spec.models:
        run = load_run(run_id, store)
        kind = "ensemble" if run.kind == "ensemble" else "run"
        out.append((run_id, kind, load_forecaster(run_id, store=store, device=spec.device, root=root)))
        blended = bool((run.info.get("blend") or {}).get("partners"))
        if spec.uncalibrated and run.kind == "path" and (blended or not _identity(run.info.get("calibration"))):
            f = load_forecaster(run_id, store=store, device=spec.device, root=root, calibrated=False)
            out.append((f.name, kind, f))
    for b in spec.baselines:
        out.append((b.label, "baseline", BaselineForecaster(b.name, **b.params)))
    selection = sel.to_dict() if sel is not None else spec.selection
    for c in spec.classical:
        out.append((c.label, "classical", c.forecaster(selection, root=root)))
    check_named(out, "the backtest", " (a run named like a baseline?)")
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
    forecasters = _load_forecasters(spec, store, extra, root, sel)
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
    lead = lead_seconds(bar_s, natives, task, spec.validator) if timing == "validator" else 0
    note = progress or (lambda *a, **k: None)
    note(0.0, message="reading bars")

    data = _read_data(spec, sel, forecasters, horizon, lead, root)
    seen_until = _unseen_start(spec.models, store, root)   # origins before it lie in a run's train/val split
    labels = _run_labels(spec.models, [n for n, _, _ in forecasters], store)
    # the history every origin needs; the classical references' (a fit's 200 returns) where the
    # period allows it, else they are left out at origins they cannot fit (a note, not a failure)
    need = max([MIN_HISTORY] + [int(f.context_bars) for _, k, f in forecasters if k != "classical"])
    want = max([need] + [int(f.context_bars) for _, k, f in forecasters if k == "classical"])
    try:
        org = _place_origins(spec, task, data, bar_s, horizon, lead, natives, want, seen_until)
    except DataError:
        if want == need:
            raise
        org = _place_origins(spec, task, data, bar_s, horizon, lead, natives, need, seen_until)
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
    tables = _Tables(task, org, keep_idx, seen_until, spec.validator)

    chunks = [list(range(i, min(i + spec.batch_size, n_o))) for i in range(0, n_o, spec.batch_size)]
    total_units, done_units = len(chunks) * len(forecasters), 0
    status = "finished"
    timings: dict[str, float] = {}
    left_out: dict[str, str] = {}
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
            try:
                paths = forecast(f, data.bars.slice(0, cut), [origins[i] for i in idx], name)
            except DataError as exc:  # a classical reference without the history to fit: a note, not a failure
                if kind != "classical" or idx[0] != 0:
                    raise
                left_out[name] = str(exc)
                break
            tables.add(name, kind, idx, paths, gm, hold, stats_parts, real_parts)
            done_units += 1
            note(done_units / total_units, message=f"{name}: {min(idx[-1] + 1, n_o)}/{n_o} origins")
        if name in left_out:
            continue
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
        "left_out": left_out,
        "unseen_from": seen_until.isoformat() if seen_until is not None else None,
        "timing": {"mode": timing, **(org.plan.to_dict() if org.plan is not None else {}),
                   "dropped_origins": [o.isoformat() for o in org.dropped], "held_t0": held},
        "validator": validator_record(spec.rules()),
        **({"cadence": org.cadence} if org.cadence is not None else {}),
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
