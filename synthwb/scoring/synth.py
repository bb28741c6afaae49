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
- ``vol`` (the task's ``vol_blocks``, validator 2026-09, Crypto 1h): the path's step simple
  returns in bps on the task's grid are cut into consecutive blocks of ``k`` returns (the returns
  left over after the last whole block are dropped); each block's volatility is
  ``nanstd(returns, ddof=1)``, NaN (skipped) when the block has fewer than 2 observed returns
  (a NaN realised price makes its two returns NaN). Each observed realised block volatility is
  scored by the same CRPS against the simulated block volatilities of all paths; the block
  size's terms are multiplied by its ``weight``. In :class:`ScoreResult` each block size is an
  :class:`IntervalScore` of kind ``"vol"`` whose ``terms`` are the *weighted* CRPS (so every
  breakdown adds up to the total; ``weight`` holds the factor, ``IntervalScore.crps`` the
  unweighted values). Nothing is added to an invalid forecast (-1); the final realised price
  being missing affects only the abs terms. On a grid finer than the task's (``step_seconds``
  dividing the task's step) the volatility uses every ``task_step / step``-th point, i.e. the
  task's own returns; a grid coarser than the task's cannot be scored for volatility.

Terms whose realised value is NaN are skipped (the validator's observed blocks). A forecast
with any NaN/inf or any zero price is invalid: its total is -1 (the validator's value) and
the reason is reported. The score is the plain sum of all terms (345 for the 24-hour task,
121 for the 1-hour task under validator 2026-05, 121 + 17 volatility blocks under 2026-09);
lower is better. Task names ("24h", "1h") resolve under ``validator`` (default: the newest).

Timestamps, not positions, align realised prices with the forecast grid
(:func:`align_realised`): point ``i`` of a forecast made at ``t0`` is the price at
``t0 + i * step_seconds``; a realised price is joined only when its timestamp is exactly that.

:func:`synth_loss_torch` is the same sum written in torch for training. It scores paths on
the model's own grid, so it works when the model's step equals the task step, or divides
every interval length of the task (e.g. a 1-minute model on the 24-hour task: intervals of
5, 30, 180 and 1440 model steps); the terms are then exactly those of the task scored on
the model's grid, provided the paths cover the task's horizon. The volatility term (a task with
``vol_blocks``) is computed on the task's grid: a finer model grid is subsampled to the task's
step first.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.core.time import to_ns
from synthwb.data.realised import join_on_grid
from synthwb.scoring.crps import crps_almost_fair_torch, crps_ensemble
from synthwb.scoring.kernels import kernels, term_layout
from synthwb.scoring.tasks import BP, KINDS, Interval, SynthTask, VolBlock, _plan
from synthwb.scoring.versions import DEFAULT_VALIDATOR, get_task, get_validator

TASKS: dict[str, SynthTask] = dict(get_validator(DEFAULT_VALIDATOR).tasks)  # the newest version's presets

__all__ = [
    "BP",
    "KINDS",
    "Interval",
    "VolBlock",
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
    "block_vols",
    "VOL_KIND",
]

VOL_KIND = "vol"  # IntervalScore.kind of a volatility block size

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
    weight: float = 1.0  # vol blocks: the block size's weight, already applied to ``terms``

    @property
    def total(self) -> float:
        return float(self.terms.sum())

    @property
    def crps(self) -> np.ndarray:
        """The unweighted CRPS of each term (``terms`` divided by ``weight``; the validator's
        "CRPS" column of a vol block size)."""
        if self.weight == 1.0:
            return self.terms
        if self.weight == 0.0:
            return np.full_like(self.terms, np.nan)
        return self.terms / self.weight

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "seconds": self.seconds, "steps": self.steps,
             "total": self.total, "n_terms": int(self.terms.size), "n_possible": self.n_possible,
             "terms": [float(v) for v in self.terms], "positions": [int(v) for v in self.positions]}
        if self.kind == VOL_KIND:
            d["weight"] = self.weight
            d["crps_total"] = float(self.crps.sum())
        return d


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
    """Scores of B forecasts. ``terms[name]`` is ``(B, m)`` with NaN where a term was skipped;
    a volatility block size's terms (``task.vol_blocks``) are weighted, as in :class:`ScoreResult`."""

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
        for vb in self.task.vol_blocks:
            row = self.terms[vb.name][i]
            pos = np.flatnonzero(np.isfinite(row))
            out[vb.name] = IntervalScore(vb.name, VOL_KIND, vb.seconds, vb.steps(self.task.step_seconds), row[pos], pos,
                                         row.size, vb.weight)
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


def vol_stride(task: SynthTask, step_seconds: int) -> int:
    """Every how many points of a ``step_seconds`` grid the task's own grid falls (1 for a task
    without volatility blocks); the volatility term needs the task's step returns."""
    step = int(step_seconds)
    if not task.vol_blocks or step == task.step_seconds:
        return 1
    if task.step_seconds % step:
        raise SpecError(f"task {task.name!r} scores volatility on {task.step_seconds} s returns; a grid of "
                        f"{step} s steps does not divide it")
    return task.step_seconds // step


def block_vols(prices: np.ndarray, k: int) -> np.ndarray:
    """Block volatilities ``(..., n_blocks)`` of prices ``(..., n_points)``: the step simple returns in
    bps cut into consecutive blocks of ``k`` (leftover returns dropped), each block's
    ``nanstd(ddof=1)``; NaN where a block has fewer than 2 observed returns."""
    prices = np.asarray(prices, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(prices, axis=-1) / prices[..., :-1] * BP
    nb = r.shape[-1] // int(k)
    blocks = r[..., :nb * k].reshape(r.shape[:-1] + (nb, k))
    observed = (~np.isnan(blocks)).sum(axis=-1)
    out = np.full(observed.shape, np.nan)
    ok = observed >= 2
    if ok.all():
        with np.errstate(invalid="ignore", over="ignore"):
            out = np.nanstd(blocks, axis=-1, ddof=1) if np.isnan(blocks).any() else np.std(blocks, axis=-1, ddof=1)
    elif ok.any():
        with np.errstate(invalid="ignore", over="ignore"):
            out[ok] = np.nanstd(blocks[ok], axis=-1, ddof=1)
    return out


def _prepare(paths, realised, task, step_seconds, batch: bool,
             validator=None) -> tuple[np.ndarray, np.ndarray, SynthTask, int]:
    task = get_task(task, validator)
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
    vol_stride(task, step)
    return paths, realised, task, step


# ------------------------------------------------------------------------------ scoring


def score_paths(paths, realised, task: str | SynthTask = "24h", *, step_seconds: int | None = None,
                validator: str | None = None) -> ScoreResult:
    """Score one forecast exactly as the validator does (see module doc).

    ``paths`` ``(n_paths, n_points)`` prices, ``realised`` ``(n_points,)`` with NaN allowed,
    ``step_seconds`` the forecast grid (default: the task's); ``validator``: the version a task
    name resolves under (default the newest; a SynthTask is used as it is).
    """
    paths, realised, task, step = _prepare(paths, realised, task, step_seconds, batch=False, validator=validator)
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
    if task.vol_blocks:
        s = vol_stride(task, step)
        sub_p, sub_r = paths[:, ::s], realised[::s]
        for vb in task.vol_blocks:
            k = vb.steps(task.step_seconds)
            real = block_vols(sub_r, k)
            observed = np.flatnonzero(~np.isnan(real))
            sim = block_vols(sub_p, k).T  # (n_blocks, n_paths)
            terms = crps_ensemble(sim[observed], real[observed]) * vb.weight
            out[vb.name] = IntervalScore(vb.name, VOL_KIND, vb.seconds, k, terms, observed, real.size, vb.weight)
            total += float(terms.sum())
    return ScoreResult(total, True, "", out)


# values per chunk: about one forecast (~1 MB), so each chunk's passes stay in the core's cache
CHUNK_VALUES = 150_000


def score_batch(paths, realised, task: str | SynthTask = "24h", *, step_seconds: int | None = None,
                threads: int | None = None, validator: str | None = None) -> BatchScore:
    """Score B forecasts at once: ``paths`` ``(B, n_paths, n_points)``, ``realised`` ``(B, n_points)``.

    Same numbers as :func:`score_paths` applied to each forecast (to about 1e-15), computed in
    compiled passes over every term's values (:mod:`synthwb.scoring.kernels`) with numpy's SIMD
    sort in between, on ``threads`` threads (default: the machine's cores, at most 8). The
    volatility blocks of a task that has them are extra terms of the same passes: a kernel
    writes every path's block standard deviations next to the price terms' values, and they are
    sorted and scored with them.
    """
    paths, realised, task, step = _prepare(paths, realised, task, step_seconds, batch=True, validator=validator)
    b, m, n = paths.shape
    starts, ends, is_abs, spans = term_layout(
        [(iv.name, *_plan(iv.kind, iv.steps(step), n)[:2]) for iv in task.intervals])
    with np.errstate(invalid="ignore", divide="ignore"):
        real = np.where(is_abs, realised[:, ends],
                        (realised[:, ends] - realised[:, starts]) / realised[:, starts] * BP)
    n_price = len(ends)
    stride = vol_stride(task, step)
    vol_k = np.array([vb.steps(task.step_seconds) for vb in task.vol_blocks], dtype=np.int64)
    vol_nb = np.array([vb.n_blocks(task.step_seconds, task.n_points) for vb in task.vol_blocks], dtype=np.int64)
    if task.vol_blocks:
        real = np.concatenate([real] + [block_vols(realised[:, ::stride], int(k)) for k in vol_k], axis=1)
        pos = n_price
        for vb, nb in zip(task.vol_blocks, vol_nb.tolist()):
            spans.append((vb.name, pos, pos + nb))
            pos += nb
    n_all = real.shape[1]
    raw = np.empty((b, n_all))
    bad = np.zeros((b, 3), dtype=np.bool_)  # NaN, inf, zero
    term_values, crps_sorted, vol_values = kernels()

    local = threading.local()

    def run(a: int) -> None:
        sl = slice(a, min(a + chunk, b))
        if getattr(local, "buf", None) is None:  # one buffer per thread, reused: no page faults per chunk
            local.buf = np.empty((chunk, n_all, m))
        buf = term_values(paths[sl], starts, ends, is_abs, local.buf[:sl.stop - a], bad[sl])
        if n_all > n_price:
            vol_values(paths[sl], stride, vol_k, vol_nb, n_price, buf)
        buf.sort(axis=-1)  # numpy's SIMD sort, in place, GIL released
        crps_sorted(buf, real[sl], raw[sl])

    # chunks of about CHUNK_VALUES values run on threads (every kernel releases the GIL)
    chunk = max(1, CHUNK_VALUES // max(1, m * n_all))
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
        abs_cols = np.flatnonzero(is_abs)
        raw[:, abs_cols] = np.where(last_ok[:, None], raw[:, abs_cols] / last[:, None] * BP, np.nan)
    if n_all > n_price:
        raw[:, n_price:] *= np.repeat([vb.weight for vb in task.vol_blocks], vol_nb)
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


def _task_of(task_or_intervals, validator=None) -> SynthTask | None:
    """The task given (a SynthTask, a preset name, a task dict), or None for bare intervals."""
    if isinstance(task_or_intervals, (SynthTask, str)) or (
        isinstance(task_or_intervals, Mapping) and "intervals" in task_or_intervals
    ):
        return get_task(task_or_intervals, validator)
    return None


def _vol_term_torch(paths, realised, task: SynthTask, step: int, fair: float):
    """The weighted volatility CRPS (B,) of a task with vol blocks, differentiable in ``paths``
    (see the module doc; the realised volatility skips NaN returns like ``nanstd``)."""
    import torch

    s = vol_stride(task, step)
    ps, rs = paths[:, :, ::s], realised[:, ::s]
    r_sim = (ps[..., 1:] - ps[..., :-1]) / ps[..., :-1] * BP  # (B, P, N-1)
    r_real = (rs[:, 1:] - rs[:, :-1]) / rs[:, :-1] * BP  # (B, N-1), NaN where a price is missing
    b, p = r_sim.shape[:2]
    total = paths.new_zeros(b)
    for vb in task.vol_blocks:
        k = vb.steps(task.step_seconds)
        nb = r_sim.shape[-1] // k
        if nb == 0 or k < 2:  # no whole block, or blocks of one return: every block is skipped
            continue
        sb = r_sim[..., :nb * k].reshape(b, p, nb, k)
        dev = sb - sb.mean(dim=-1, keepdim=True)
        # sqrt of the ddof=1 variance; the floor only keeps the gradient finite for a flat block
        sim_vol = ((dev * dev).sum(dim=-1) / (k - 1)).clamp_min(1e-30).sqrt()  # (B, P, nb)
        rb = r_real[:, :nb * k].reshape(b, nb, k)
        ok = ~torch.isnan(rb)
        cnt = ok.sum(dim=-1)
        zero = torch.zeros_like(rb)
        mean = torch.where(ok, rb, zero).sum(dim=-1) / cnt.clamp_min(1)
        d = torch.where(ok, rb - mean[..., None], zero)
        real_vol = ((d * d).sum(dim=-1) / (cnt - 1).clamp_min(1)).sqrt()  # (B, nb)
        use = (cnt >= 2) & torch.isfinite(real_vol)
        t = crps_almost_fair_torch(sim_vol, torch.where(use, real_vol, torch.zeros_like(real_vol)), alpha=fair, dim=1)
        total = total + vb.weight * torch.where(use, t, torch.zeros_like(t)).sum(dim=1)
    return total


def synth_loss_torch(paths, realised, task_or_intervals: Any = "24h", step_seconds: int | None = None,
                     reduction: str = "none", fair: float = 0.0, validator: str | None = None):
    """Differentiable Synth score of each forecast: the sum of the §5 terms.

    ``paths`` ``(B, P, T)`` strictly positive prices on the model's grid (t0 in column 0),
    ``realised`` ``(B, T)`` on the same grid (NaN skipped). ``task_or_intervals``: a task (or
    preset name), a list of :class:`Interval`, or ``{"name": seconds}``. ``step_seconds``: the
    model's grid step (default: the task's step, or required for bare intervals); it must
    divide every interval. ``reduction``: "none" -> ``(B,)``, "mean" or "sum".
    ``fair``: 0 gives the validator's estimator; ``alpha`` in (0, 1] the almost-fair CRPS
    (less biased with few paths during training), in the price and the volatility terms.
    A task with volatility blocks (the 1h task under validator 2026-09; ``validator`` picks the
    version a preset name resolves under) adds the weighted volatility CRPS, computed on the
    task's grid (a finer model grid is subsampled; ``step_seconds`` must divide the task's step).
    """
    import torch

    task = _task_of(task_or_intervals, validator)
    intervals = task.intervals if task is not None else _intervals_of(task_or_intervals)
    if step_seconds is None:
        if task is not None:
            step_seconds = task.step_seconds
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
    if task is not None and task.vol_blocks:
        total = total + _vol_term_torch(paths, realised, task, step, fair)
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
