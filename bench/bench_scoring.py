"""Scoring Synth forecasts (1000 paths) against the validator as deployed: properscoring's
``crps_ensemble`` with numba installed (its gufunc), called term by term as
``validator/crps_calculation.py`` does, one forecast after the other.

    python bench/bench_scoring.py [--origins 500] [--paths 1000] [--repeat 5] [--tasks 24h,1h@2026-05,1h@2026-09]

For each task (``name@validator``; the 24h task is the same under both versions, 345 terms; the
1h task has 121 price terms under 2026-05 and 121 + 17 volatility blocks under 2026-09) it prints,
for one forecast, the validator reference and ``score_paths``; for a whole backtest of
``--origins`` forecasts, the reference forecast by forecast, ``score_batch`` (numba kernels around
numpy's SIMD sort, on every core and on one) and ``score_totals_torch`` (torch: CUDA when
present, else CPU), the speed-ups (goal >= 10x against the reference for the price terms, >= 5x
with the volatility term) and the largest relative difference of the totals (goal < 1e-9).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from synthwb.scoring.reference import reference_score as reference  # noqa: E402
from synthwb.scoring.synth import block_vols, score_batch, score_paths  # noqa: E402
from synthwb.scoring.versions import get_task  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def forecasts(task, n: int, paths: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n GBM forecasts at BTC-like volatility and a realised path for each, on ``task``'s grid."""
    rng = np.random.default_rng(seed)
    sig = 0.5 * np.sqrt(task.step_seconds / (365 * 86400))
    lr = rng.normal(-0.5 * sig**2, sig, size=(n, paths, task.n_points - 1))
    p = 60_000 * np.exp(np.concatenate([np.zeros((n, paths, 1)), np.cumsum(lr, axis=2)], axis=2))
    real = 60_000 * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(rng.normal(0, sig, (n, task.n_points - 1)),
                                                                        axis=1)], axis=1))
    return p, real


def anchor_score(sim, real, step: int, intervals: dict, vol: dict) -> float:
    """The validator's own way: the price pass term by term (properscoring with numba, as
    :func:`reference_score`), then per volatility block size the block volatilities of all paths
    at once (``nanstd``, ddof=1) and properscoring once per observed realised block."""
    from properscoring import crps_ensemble

    total = reference(sim, real, step, intervals)
    if not vol or total == -1.0:
        return total
    for secs, weight in vol.values():
        k = secs // step
        sv, rv = block_vols(sim, k), block_vols(real, k)
        total += weight * float(sum(crps_ensemble(rv[i], sv[:, i]) for i in np.flatnonzero(~np.isnan(rv))))
    return total


def bench_task(spec: str, a, torch_mod, score_totals_torch) -> dict:
    name, _, version = spec.partition("@")
    task = get_task(name, version or None)
    label = f"{name} task, validator {version or 'default'}"
    intervals = {iv.name: iv.seconds for iv in task.intervals}
    vol = {vb.name: (vb.seconds, vb.weight) for vb in task.vol_blocks}

    def ref_one(p, r):
        return anchor_score(p, r, task.step_seconds, intervals, vol)

    p1, r1 = forecasts(task, 1, a.paths, seed=1)
    ref_one(p1[0], r1[0])  # numba compile / warm-up
    score_paths(p1[0], r1[0], task)
    t_ref1, ref1 = timed(lambda: ref_one(p1[0], r1[0]), a.repeat)
    t_one, one = timed(lambda: score_paths(p1[0], r1[0], task), a.repeat)
    n_vol = sum(iv.terms.size for iv in one.intervals.values() if iv.kind == "vol")
    print(f"== {label}: one forecast ({a.paths} paths x {task.n_points} points, {one.n_terms} terms"
          f"{f', {n_vol} of them volatility blocks' if n_vol else ''}):")
    print(f"  validator's way (numba properscoring, term by term):    {t_ref1 * 1e3:8.2f} ms")
    print(f"  score_paths (sort-based, vectorised):                    {t_one * 1e3:8.2f} ms  "
          f"({t_ref1 / t_one:.2f}x; totals rel. diff {abs(one.total - ref1) / abs(ref1):.1e})")

    p, r = forecasts(task, a.origins, a.paths)
    t, c = time.perf_counter(), time.process_time()
    ref = np.array([ref_one(p[i], r[i]) for i in range(a.origins)])
    t_ref, c_ref = time.perf_counter() - t, time.process_time() - c
    # the plain block-by-block reference of the repository agrees with the anchor
    plain = reference(p[0], r[0], task.step_seconds, intervals, vol)
    assert abs(plain - ref[0]) <= 1e-9 * abs(ref[0]), (plain, ref[0])
    score_batch(p[:4], r[:4], task)  # compile or load the numba kernels
    t_np, sb = timed(lambda: score_batch(p, r, task), max(1, a.repeat // 3))
    c = time.process_time()
    t_np1, sb1 = timed(lambda: score_batch(p, r, task, threads=1), max(1, a.repeat // 3))
    c_np1 = (time.process_time() - c) / max(1, a.repeat // 3)
    score_totals_torch(p[:4], r[:4], task)
    t_th, th = timed(lambda: score_totals_torch(p, r, task), max(1, a.repeat // 3))
    dev = "cuda" if torch_mod.cuda.is_available() else "cpu"
    goal = 5 if task.vol_blocks else 10
    rel_np = float(np.max(np.abs(sb.totals - ref) / np.abs(ref)))
    rel_np1 = float(np.max(np.abs(sb1.totals - ref) / np.abs(ref)))
    rel_th = float(np.max(np.abs(th - ref) / np.abs(ref)))
    print(f"  backtest of {a.origins} forecasts:")
    print(f"  validator reference, one forecast after another: {t_ref:8.2f} s  ({t_ref / a.origins * 1e3:.2f} ms each)")
    print(f"  score_batch, {os.cpu_count()} threads:      {t_np:8.2f} s  {t_ref / t_np:6.2f}x  (goal >= {goal}x)  "
          f"max rel. diff {rel_np:.1e} (goal < 1e-9)")
    print(f"  score_batch, 1 thread:        {t_np1:8.2f} s  {t_ref / t_np1:6.2f}x  "
          f"max rel. diff {rel_np1:.1e}")
    print(f"  CPU time (robust to a busy machine): reference {c_ref:.2f} s, score_batch 1 thread {c_np1:.2f} s: "
          f"{c_ref / c_np1:.2f}x")
    print(f"  score_totals_torch ({dev}):   {t_th:8.2f} s  {t_ref / t_th:6.2f}x  "
          f"max rel. diff {rel_th:.1e} (goal < 1e-9)")
    print(f"  totals: reference {ref.sum():.6f}  numpy {sb.totals.sum():.6f}  torch {th.sum():.6f}")
    return {"task": spec, "ref_s": t_ref, "batch_s": t_np, "speedup": t_ref / t_np, "rel": rel_np,
            "cpu_speedup": c_ref / c_np1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--origins", type=int, default=500)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tasks", default="24h,1h@2026-05,1h@2026-09",
                    help="comma-separated tasks, each NAME or NAME@VALIDATOR")
    a = ap.parse_args()
    import properscoring._crps as psc
    import torch

    from synthwb.scoring.batched import score_totals_torch

    core = getattr(psc._crps_ensemble_core, "__name__", str(psc._crps_ensemble_core))
    numba_on = "gufunc" in core
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); CUDA: {torch.cuda.is_available()}")
    print(f"properscoring core: {core} ({'numba, as the validator runs it' if numba_on else 'NO numba: install it'})")
    rows = [bench_task(spec.strip(), a, torch, score_totals_torch) for spec in a.tasks.split(",") if spec.strip()]
    print("summary (backtest, score_batch on every core vs the validator's way):")
    for row in rows:
        print(f"  {row['task']:<12} reference {row['ref_s']:7.2f} s   score_batch {row['batch_s']:6.3f} s   "
              f"{row['speedup']:6.2f}x (1-thread CPU time {row['cpu_speedup']:.2f}x)   max rel. diff {row['rel']:.1e}")


if __name__ == "__main__":
    main()
