"""The Synth-style scorer (../shared/DESIGN.md §5), matching the public Synth validator.

A forecast is ``paths`` ``(n_paths, n_points)`` of simulated prices on a grid of
``step_seconds``, column 0 being t0 (the last known close). ``realised`` ``(n_points,)`` are the
realised prices on the same grid (NaN where unknown). For every interval of ``k`` steps:

- ``ordinary``: points ``0, k, 2k, ...``; one term per sub-interval: CRPS of the simulated
  simple returns in basis points ``(p[i+1] - p[i]) / p[i] * 10000`` against the realised one.
- ``abs`` (name ends with ``_abs``): CRPS of the simulated price *levels* at points
  ``k, 2k, ...`` against the realised level, divided by the final realised price, times 10000.
  As in the validator, ``k`` is reduced while the grid holds only t0 at that stride, and the
  terms are skipped when the final realised price is missing or zero.
- ``gaps`` (name ends with ``_gaps``): only the first change, t0 to t0 + k, is scored.

Terms whose realised value is NaN are skipped (the validator's observed blocks). A forecast
with any NaN/inf or any zero price is invalid: its total is -1 (the validator's value) and
the reason is reported. The score is the plain sum of all terms (345 for the 24-hour task,
121 for the 1-hour task); lower is better.

Timestamps, not positions, align realised prices with the forecast grid
(:func:`align_realised`): point ``i`` of a forecast made at ``t0`` is the price at
``t0 + i * step_seconds``; a realised price is joined only when its timestamp is exactly that.

:func:`synth_loss_torch` is the same sum written in torch for training. It scores paths on
the model's own grid, so it works when the model's step equals the task step, or divides
every interval length of the task (e.g. a 1-minute model on the 24-hour task: intervals of
5, 30, 180 and 1440 model steps); the terms are then exactly those of the task scored on
the model's grid, provided the paths cover the task's horizon.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.core.time import to_ns
from synthwb.data.realised import join_on_grid
from synthwb.scoring.crps import crps_almost_fair_torch, crps_ensemble
from synthwb.scoring.kernels import kernels, term_layout

__all__ = [
    "KINDS",
    "Interval",
    "SynthTask",
    "TASKS",
    "get_task",
    "IntervalScore",
    "ScoreResult",
    "BatchScore",
    "check_forecast",
    "score_paths",
    "score_batch",
    "align_realised",
    "align_realised_batch",
    "synth_loss_torch",
]

KINDS = ("ordinary", "abs", "gaps")
BP = 10_000.0


# ------------------------------------------------------------------------------ tasks


def _kind_from_name(name: str) -> str:
    if name.endswith("_abs"):
        return "abs"
    if name.endswith("_gaps"):
        return "gaps"
    return "ordinary"


@dataclass(frozen=True)
class Interval:
    """A scoring interval: ``name``, length in ``seconds`` and ``kind``.

    ``kind`` defaults to what the name says, as in the validator (``*_abs`` -> abs,
    ``*_gaps`` -> gaps, else ordinary); a custom interval may set it explicitly.
    """

    name: str
    seconds: int
    kind: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("an interval needs a non-empty name")
        try:
            seconds = int(self.seconds)
        except (TypeError, ValueError):
            raise SpecError(f"interval {self.name!r}: seconds must be an integer, got {self.seconds!r}") from None
        if seconds <= 0 or seconds != self.seconds:
            raise SpecError(f"interval {self.name!r}: seconds must be a positive integer, got {self.seconds!r}")
        object.__setattr__(self, "seconds", seconds)
        kind = self.kind or _kind_from_name(self.name)
        if kind not in KINDS:
            raise SpecError(f"interval {self.name!r}: kind {kind!r} is not one of {list(KINDS)}")
        object.__setattr__(self, "kind", kind)

    def steps(self, step_seconds: int) -> int:
        """Grid steps in this interval; the interval must be a whole number of steps."""
        if self.seconds % step_seconds:
            raise SpecError(
                f"interval {self.name!r} ({self.seconds} s) is not a multiple of the grid step "
                f"{step_seconds} s"
            )
        return self.seconds // step_seconds

    def to_dict(self) -> dict:
        return {"name": self.name, "seconds": self.seconds, "kind": self.kind}


@dataclass(frozen=True)
class SynthTask:
    """A prompt: grid step, number of points (t0 included), scoring intervals, paths asked."""

    name: str
    step_seconds: int
    n_points: int
    intervals: tuple[Interval, ...]
    n_paths: int = 1000

    def __post_init__(self) -> None:
        if int(self.step_seconds) <= 0:
            raise SpecError(f"task {self.name!r}: step_seconds must be positive")
        if int(self.n_points) < 2:
            raise SpecError(f"task {self.name!r}: n_points must be at least 2 (t0 and one step)")
        ivs = tuple(iv if isinstance(iv, Interval) else Interval(**iv) for iv in self.intervals)
        if not ivs:
            raise SpecError(f"task {self.name!r}: no scoring intervals")
        names = [iv.name for iv in ivs]
        if len(set(names)) != len(names):
            raise SpecError(f"task {self.name!r}: duplicate interval names {names}")
        object.__setattr__(self, "intervals", ivs)
        object.__setattr__(self, "step_seconds", int(self.step_seconds))
        object.__setattr__(self, "n_points", int(self.n_points))
        for iv in ivs:
            iv.steps(self.step_seconds)

    @property
    def horizon_seconds(self) -> int:
        return self.step_seconds * (self.n_points - 1)

    @property
    def n_steps(self) -> int:
        return self.n_points - 1

    @classmethod
    def custom(cls, name: str, step_seconds: int, n_points: int,
               intervals: Mapping[str, int] | Iterable[Interval | dict], n_paths: int = 1000) -> SynthTask:
        """A task from ``{"name": seconds}`` (kinds from the names) or a list of intervals."""
        if isinstance(intervals, Mapping):
            ivs = tuple(Interval(k, v) for k, v in intervals.items())
        else:
            ivs = tuple(iv if isinstance(iv, Interval) else Interval(**iv) for iv in intervals)
        return cls(name, step_seconds, n_points, ivs, n_paths)

    def grid_points(self, step_seconds: int | None = None) -> int:
        """Points (t0 included) of a forecast on a grid of ``step_seconds`` over this horizon."""
        step = int(step_seconds or self.step_seconds)
        if self.horizon_seconds % step:
            raise SpecError(f"task {self.name!r}: horizon {self.horizon_seconds} s is not a multiple of {step} s")
        return self.horizon_seconds // step + 1

    def n_terms(self, step_seconds: int | None = None) -> int:
        """Number of score terms when every realised value is present."""
        step = int(step_seconds or self.step_seconds)
        n = self.grid_points(step)
        return sum(len(_plan(iv.kind, iv.steps(step), n)[1]) for iv in self.intervals)

    def to_dict(self) -> dict:
        return {"name": self.name, "step_seconds": self.step_seconds, "n_points": self.n_points,
                "n_paths": self.n_paths, "intervals": [iv.to_dict() for iv in self.intervals]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SynthTask:
        try:
            return cls(d["name"], d["step_seconds"], d["n_points"],
                       tuple(Interval(**iv) for iv in d["intervals"]), d.get("n_paths", 1000))
        except KeyError as exc:
            raise SpecError(f"task spec is missing {exc.args[0]!r}") from None


TASKS: dict[str, SynthTask] = {
    "24h": SynthTask.custom(
        "24h", 300, 289,
        {"5min": 300, "30min": 1800, "3hour": 10800, "24hour_abs": 86400},
    ),
    "1h": SynthTask.custom(
        "1h", 60, 61,
        {"1min": 60, "2min": 120, "5min": 300, "15min": 900, "30min": 1800, "60min_abs": 3600,
         **{f"0_{m}min_gaps": m * 60 for m in range(5, 61, 5)}},
    ),
}


def get_task(task: str | SynthTask | Mapping) -> SynthTask:
    """A task by preset name ("24h", "1h"), a SynthTask, or its dict form."""
    if isinstance(task, SynthTask):
        return task
    if isinstance(task, Mapping):
        return SynthTask.from_dict(task)
    if task in TASKS:
        return TASKS[task]
    raise SpecError(f"unknown task {task!r}; presets: {', '.join(TASKS)}")


def _plan(kind: str, k: int, n: int) -> tuple[np.ndarray | None, np.ndarray, int]:
    """(start indices or None for abs, end indices, effective k) of an interval on n points."""
    if kind == "abs":
        # validator: if only t0 is on the stride, shorten the stride
        while len(range(0, n, k)) == 1 and k > 1:
            k -= 1
        pts = np.arange(0, n, k)
        return None, pts[1:], k
    pts = np.arange(0, n, k)
    if kind == "gaps":
        pts = pts[:2]
    return pts[:-1], pts[1:], k


def _intervals_of(task_or_intervals) -> tuple[Interval, ...]:
    if isinstance(task_or_intervals, (SynthTask, str)) or (
        isinstance(task_or_intervals, Mapping) and "intervals" in task_or_intervals
    ):
        return get_task(task_or_intervals).intervals
    if isinstance(task_or_intervals, Mapping):
        return tuple(Interval(k, v) for k, v in task_or_intervals.items())
    return tuple(iv if isinstance(iv, Interval) else Interval(**iv) for iv in task_or_intervals)


# ------------------------------------------------------------------------------ results


@dataclass
class IntervalScore:
    """One interval's terms: ``terms[j]`` is the CRPS of sub-interval ``positions[j]``."""

    name: str
    kind: str
    seconds: int
    steps: int
    terms: np.ndarray
    positions: np.ndarray
    n_possible: int

    @property
    def total(self) -> float:
        return float(self.terms.sum())

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "seconds": self.seconds, "steps": self.steps,
                "total": self.total, "n_terms": int(self.terms.size), "n_possible": self.n_possible,
                "terms": [float(v) for v in self.terms], "positions": [int(v) for v in self.positions]}


@dataclass
class ScoreResult:
    """Score of one forecast. ``total`` is -1 when the forecast is invalid (as the validator)."""

    total: float
    valid: bool
    reason: str = ""
    intervals: dict[str, IntervalScore] = field(default_factory=dict)

    @property
    def n_terms(self) -> int:
        return int(sum(iv.terms.size for iv in self.intervals.values()))

    def breakdown(self) -> dict[str, float]:
        """Interval name -> sum of its terms."""
        return {k: v.total for k, v in self.intervals.items()}

    def to_dict(self, terms: bool = True) -> dict:
        d = {"total": self.total, "valid": self.valid, "reason": self.reason, "n_terms": self.n_terms,
             "breakdown": self.breakdown()}
        if terms:
            d["intervals"] = {k: v.to_dict() for k, v in self.intervals.items()}
        return d

    def rows(self) -> list[dict]:
        """Tidy rows (interval, kind, term, score), one per scored term."""
        return [{"interval": iv.name, "kind": iv.kind, "term": int(p), "score": float(s)}
                for iv in self.intervals.values() for p, s in zip(iv.positions, iv.terms)]


@dataclass
class BatchScore:
    """Scores of B forecasts. ``terms[name]`` is ``(B, m)`` with NaN where a term was skipped."""

    task: SynthTask
    step_seconds: int
    totals: np.ndarray
    valid: np.ndarray
    reasons: list[str]
    terms: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.totals.shape[0])

    @property
    def n_terms(self) -> np.ndarray:
        cnt = sum(np.isfinite(v).sum(axis=1) for v in self.terms.values())
        return np.where(self.valid, cnt, 0)

    def result(self, i: int) -> ScoreResult:
        if not self.valid[i]:
            return ScoreResult(-1.0, False, self.reasons[i], {})
        out: dict[str, IntervalScore] = {}
        n = self.task.grid_points(self.step_seconds)
        for iv in self.task.intervals:
            row = self.terms[iv.name][i]
            pos = np.flatnonzero(np.isfinite(row))
            _, ends, k = _plan(iv.kind, iv.steps(self.step_seconds), n)
            out[iv.name] = IntervalScore(iv.name, iv.kind, iv.seconds, k, row[pos], pos, len(ends))
        return ScoreResult(float(self.totals[i]), True, "", out)


# ------------------------------------------------------------------------------ validity


def check_forecast(paths: np.ndarray) -> str:
    """Why a forecast is invalid ("" if valid): NaN/inf anywhere, or a zero price."""
    if np.isnan(paths).any():
        return "NaN in forecast"
    if not np.isfinite(paths).all():
        return "infinite value in forecast"
    if (paths == 0).any():
        return "zero price in forecast"
    return ""


def _prepare(paths, realised, task, step_seconds, batch: bool) -> tuple[np.ndarray, np.ndarray, SynthTask, int]:
    task = get_task(task)
    step = int(step_seconds or task.step_seconds)
    paths = np.asarray(paths, dtype=np.float64)
    realised = np.asarray(realised, dtype=np.float64)
    want = 3 if batch else 2
    if paths.ndim != want:
        shape = "(batch, n_paths, n_points)" if batch else "(n_paths, n_points)"
        raise SpecError(f"paths must have shape {shape}, got {paths.shape}")
    if realised.shape != paths.shape[:-2] + paths.shape[-1:]:
        raise SpecError(f"realised has shape {realised.shape}; expected {paths.shape[:-2] + paths.shape[-1:]}")
    n = task.grid_points(step)
    if paths.shape[-1] != n:
        raise SpecError(
            f"task {task.name!r} on a {step} s grid needs {n} points (t0 included), got {paths.shape[-1]}"
        )
    if paths.shape[-2] < 1:
        raise SpecError("a forecast needs at least one path")
    for iv in task.intervals:
        iv.steps(step)
    return paths, realised, task, step


# ------------------------------------------------------------------------------ scoring


def score_paths(paths, realised, task: str | SynthTask = "24h", *, step_seconds: int | None = None) -> ScoreResult:
    """Score one forecast exactly as the validator does (see module doc).

    ``paths`` ``(n_paths, n_points)`` prices, ``realised`` ``(n_points,)`` with NaN allowed,
    ``step_seconds`` the forecast grid (default: the task's).
    """
    paths, realised, task, step = _prepare(paths, realised, task, step_seconds, batch=False)
    reason = check_forecast(paths)
    if reason:
        return ScoreResult(-1.0, False, reason, {})
    n = paths.shape[1]
    pt = np.ascontiguousarray(paths.T)  # (n_points, n_paths): each ensemble contiguous
    last = realised[-1]
    out: dict[str, IntervalScore] = {}
    total = 0.0
    for iv in task.intervals:
        starts, ends, k = _plan(iv.kind, iv.steps(step), n)
        if iv.kind == "abs":
            sim = pt[ends]
            real = realised[ends]
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                sim = (pt[ends] - pt[starts]) / pt[starts] * BP
                real = (realised[ends] - realised[starts]) / realised[starts] * BP
        observed = np.flatnonzero(~np.isnan(real))
        terms = crps_ensemble(sim[observed], real[observed])
        if iv.kind == "abs":
            if last == 0 or not np.isfinite(last):
                observed, terms = observed[:0], terms[:0]
            else:
                terms = terms / last * BP
        out[iv.name] = IntervalScore(iv.name, iv.kind, iv.seconds, k, terms, observed, len(ends))
        total += float(terms.sum())
    return ScoreResult(total, True, "", out)


def score_batch(paths, realised, task: str | SynthTask = "24h", *, step_seconds: int | None = None,
                threads: int | None = None) -> BatchScore:
    """Score B forecasts at once: ``paths`` ``(B, n_paths, n_points)``, ``realised`` ``(B, n_points)``.

    Same numbers as :func:`score_paths` applied to each forecast (to about 1e-15), computed in
    compiled passes over every term's values (:mod:`synthwb.scoring.kernels`) with numpy's SIMD
    sort in between, on ``threads`` threads (default: the machine's cores, at most 8).
    """
    paths, realised, task, step = _prepare(paths, realised, task, step_seconds, batch=True)
    b, m, n = paths.shape
    starts, ends, is_abs, spans = term_layout(
        [(iv.name, *_plan(iv.kind, iv.steps(step), n)[:2]) for iv in task.intervals])
    with np.errstate(invalid="ignore", divide="ignore"):
        real = np.where(is_abs, realised[:, ends],
                        (realised[:, ends] - realised[:, starts]) / realised[:, starts] * BP)
    raw = np.empty((b, len(ends)))
    bad = np.zeros((b, 3), dtype=np.bool_)  # NaN, inf, zero
    term_values, crps_sorted = kernels()

    def run(a: int) -> None:
        sl = slice(a, min(a + chunk, b))
        buf = term_values(paths[sl], starts, ends, is_abs, np.empty((sl.stop - a, len(ends), m)), bad[sl])
        buf.sort(axis=-1)  # numpy's SIMD sort, in place, GIL released
        crps_sorted(buf, real[sl], raw[sl])

    # about 1.4 M values (11 MB) per chunk; chunks run on threads (every kernel releases the GIL)
    chunk = max(1, 1_400_000 // max(1, m * len(ends)))
    starts_at = range(0, b, chunk)
    if threads is None:
        threads = min(os.cpu_count() or 1, 8)
    if threads > 1 and len(starts_at) > 1:
        with ThreadPoolExecutor(min(threads, len(starts_at))) as ex:
            list(ex.map(run, starts_at))
    else:
        for a in starts_at:
            run(a)
    reasons = ["NaN in forecast" if a else "infinite value in forecast" if i else "zero price in forecast" if z else ""
               for a, i, z in bad.tolist()]
    valid = ~bad.any(axis=1)
    last = realised[:, -1]
    last_ok = np.isfinite(last) & (last != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw[:, is_abs] = np.where(last_ok[:, None], raw[:, is_abs] / last[:, None] * BP, np.nan)
    raw[np.isnan(real) | ~valid[:, None]] = np.nan
    terms = {name: raw[:, lo:hi] for name, lo, hi in spans}
    totals = np.nansum(raw, axis=1)
    totals = np.where(valid, totals, -1.0)
    return BatchScore(task, step, totals, valid, reasons, terms)


# ------------------------------------------------------------------------------ alignment


def align_realised_batch(realised_ts, realised_prices, t0s, task: str | SynthTask = "24h",
                         step_seconds: int | None = None) -> np.ndarray:
    """Realised prices on each forecast's grid ``t0 + i * step`` by exact timestamp join.

    Returns ``(len(t0s), n_points)`` with NaN where the data has no price at that exact time.
    ``realised_ts`` must be the times the prices refer to (e.g. bar close times).
    """
    task = get_task(task)
    step = int(step_seconds or task.step_seconds)
    n = task.grid_points(step)
    ts = to_ns(realised_ts)
    px = np.asarray(realised_prices, dtype=np.float64)
    if ts.shape != px.shape or ts.ndim != 1:
        raise SpecError(f"realised timestamps {ts.shape} and prices {px.shape} must be 1-d of equal length")
    grid = to_ns(t0s)[:, None] + np.arange(n, dtype=np.int64)[None, :] * step * 1_000_000_000
    return join_on_grid(ts, px, grid)


def align_realised(realised_ts, realised_prices, t0, task: str | SynthTask = "24h",
                   step_seconds: int | None = None) -> np.ndarray:
    """Realised prices ``(n_points,)`` on the grid of one forecast made at ``t0`` (exact joins)."""
    return align_realised_batch(realised_ts, realised_prices, [t0] if not isinstance(t0, (list, np.ndarray)) else t0,
                                task, step_seconds)[0]


# ------------------------------------------------------------------------------ torch


def synth_loss_torch(paths, realised, task_or_intervals: Any = "24h", step_seconds: int | None = None,
                     reduction: str = "none", fair: float = 0.0):
    """Differentiable Synth score of each forecast: the sum of the §5 terms.

    ``paths`` ``(B, P, T)`` strictly positive prices on the model's grid (t0 in column 0),
    ``realised`` ``(B, T)`` on the same grid (NaN skipped). ``task_or_intervals``: a task (or
    preset name), a list of :class:`Interval`, or ``{"name": seconds}``. ``step_seconds``: the
    model's grid step (default: the task's step, or required for bare intervals); it must
    divide every interval. ``reduction``: "none" -> ``(B,)``, "mean" or "sum".
    ``fair``: 0 gives the validator's estimator; ``alpha`` in (0, 1] the almost-fair CRPS
    (less biased with few paths during training).
    """
    import torch


    intervals = _intervals_of(task_or_intervals)
    if step_seconds is None:
        if isinstance(task_or_intervals, (SynthTask, str)):
            step_seconds = get_task(task_or_intervals).step_seconds
        else:
            raise SpecError("synth_loss_torch: step_seconds is required with bare intervals")
    step = int(step_seconds)
    if paths.ndim != 3 or realised.shape != (paths.shape[0], paths.shape[2]):
        raise SpecError(f"paths (B, P, T) and realised (B, T) expected, got {tuple(paths.shape)} and {tuple(realised.shape)}")
    n = paths.shape[-1]
    realised = realised.to(paths.dtype)
    last = realised[:, -1]
    last_ok = torch.isfinite(last) & (last != 0)
    safe_last = torch.where(last_ok, last, torch.ones_like(last))
    total = paths.new_zeros(paths.shape[0])
    for iv in intervals:
        starts, ends, _ = _plan(iv.kind, iv.steps(step), n)
        e = torch.as_tensor(ends, device=paths.device)
        if iv.kind == "abs":
            sim = paths[:, :, e]
            real = realised[:, e]
        else:
            s = torch.as_tensor(starts, device=paths.device)
            sim = (paths[:, :, e] - paths[:, :, s]) / paths[:, :, s] * BP
            real = (realised[:, e] - realised[:, s]) / realised[:, s] * BP
        ok = ~torch.isnan(real)
        real0 = torch.where(ok, real, torch.zeros_like(real))
        t = crps_almost_fair_torch(sim, real0, alpha=fair, dim=1)  # (B, m)
        if iv.kind == "abs":
            t = t / safe_last[:, None] * BP
            ok = ok & last_ok[:, None]
        total = total + torch.where(ok, t, torch.zeros_like(t)).sum(dim=1)
    if reduction == "mean":
        return total.mean()
    if reduction == "sum":
        return total.sum()
    if reduction != "none":
        raise SpecError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return total


def steps_covering(n_steps: int, step_seconds: int, own_step: int, horizon: int, name: str,
                   fix: str = "Train with a longer horizon.") -> int:
    """Steps of ``own_step`` seconds that cover ``n_steps`` of ``step_seconds``; a forecaster
    whose ``horizon`` (in its own steps) falls short is refused, naming both spans."""
    need = math.ceil(int(n_steps) * int(step_seconds) / int(own_step))
    if need > int(horizon):
        raise SpecError(f"{name} forecasts {horizon} steps of {own_step} s ({horizon * own_step / 3600:g} h); "
                        f"the task needs {int(n_steps) * int(step_seconds) / 3600:g} h. {fix}")
    return need
