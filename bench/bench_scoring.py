"""Scoring 24-hour Synth forecasts (1000 paths x 289 points, 345 terms) against the validator
as deployed: properscoring's ``crps_ensemble`` with numba installed (its gufunc), called term
by term as ``validator/crps_calculation.py`` does, one forecast after the other.

    python bench/bench_scoring.py [--origins 500] [--paths 1000] [--repeat 5]

Prints, for one forecast, the validator reference and ``score_paths``; for a whole backtest of
``--origins`` forecasts, the reference forecast by forecast, ``score_batch`` (numba kernels around
numpy's SIMD sort, on every core and on one) and
``score_totals_torch`` (torch: CUDA when present, else CPU), the speed-ups (goal >= 10x
against the reference) and the largest relative difference of the totals (goal < 1e-9).
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
from synthwb.scoring.synth import TASKS, score_batch, score_paths  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def forecasts(n: int, paths: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n GBM forecasts at BTC-like volatility and a realised path for each."""
    task = TASKS["24h"]
    rng = np.random.default_rng(seed)
    sig = 0.5 * np.sqrt(300 / (365 * 86400))
    lr = rng.normal(-0.5 * sig**2, sig, size=(n, paths, task.n_points - 1))
    p = 60_000 * np.exp(np.concatenate([np.zeros((n, paths, 1)), np.cumsum(lr, axis=2)], axis=2))
    real = 60_000 * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(rng.normal(0, sig, (n, task.n_points - 1)),
                                                                        axis=1)], axis=1))
    return p, real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--origins", type=int, default=500)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    import properscoring._crps as psc
    import torch

    from synthwb.scoring.batched import score_totals_torch

    core = getattr(psc._crps_ensemble_core, "__name__", str(psc._crps_ensemble_core))
    numba_on = "gufunc" in core
    task = TASKS["24h"]
    intervals = {iv.name: iv.seconds for iv in task.intervals}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); CUDA: {torch.cuda.is_available()}")
    print(f"properscoring core: {core} ({'numba, as the validator runs it' if numba_on else 'NO numba: install it'})")

    p1, r1 = forecasts(1, a.paths, seed=1)
    reference(p1[0], r1[0], task.step_seconds, intervals)  # numba compile / warm-up
    score_paths(p1[0], r1[0], task)
    t_ref1, ref1 = timed(lambda: reference(p1[0], r1[0], task.step_seconds, intervals), a.repeat)
    t_one, one = timed(lambda: score_paths(p1[0], r1[0], task), a.repeat)
    print(f"one 24h forecast ({a.paths} paths x {task.n_points} points, {one.n_terms} terms):")
    print(f"  validator reference (numba properscoring, term by term): {t_ref1 * 1e3:8.2f} ms")
    print(f"  score_paths (sort-based, vectorised):                    {t_one * 1e3:8.2f} ms  "
          f"({t_ref1 / t_one:.2f}x; totals rel. diff {abs(one.total - ref1) / abs(ref1):.1e})")

    p, r = forecasts(a.origins, a.paths)
    t = time.perf_counter()
    ref = np.array([reference(p[i], r[i], task.step_seconds, intervals) for i in range(a.origins)])
    t_ref = time.perf_counter() - t
    score_batch(p[:4], r[:4], task)  # compile or load the numba kernels
    t_np, sb = timed(lambda: score_batch(p, r, task), max(1, a.repeat // 3))
    t_np1, sb1 = timed(lambda: score_batch(p, r, task, threads=1), max(1, a.repeat // 3))
    score_totals_torch(p[:4], r[:4], task)
    t_th, th = timed(lambda: score_totals_torch(p, r, task), max(1, a.repeat // 3))
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    rel_np = float(np.max(np.abs(sb.totals - ref) / np.abs(ref)))
    rel_th = float(np.max(np.abs(th - ref) / np.abs(ref)))
    print(f"backtest of {a.origins} forecasts (24h task):")
    print(f"  validator reference, one forecast after another: {t_ref:8.2f} s  ({t_ref / a.origins * 1e3:.2f} ms each)")
    rel_np1 = float(np.max(np.abs(sb1.totals - ref) / np.abs(ref)))
    print(f"  score_batch, {os.cpu_count()} threads:      {t_np:8.2f} s  {t_ref / t_np:6.2f}x  (goal >= 10x)  "
          f"max rel. diff {rel_np:.1e} (goal < 1e-9)")
    print(f"  score_batch, 1 thread:        {t_np1:8.2f} s  {t_ref / t_np1:6.2f}x  "
          f"max rel. diff {rel_np1:.1e}")
    print(f"  score_totals_torch ({dev}):   {t_th:8.2f} s  {t_ref / t_th:6.2f}x  (goal >= 10x)  "
          f"max rel. diff {rel_th:.1e} (goal < 1e-9)")
    print(f"  totals: reference {ref.sum():.6f}  numpy {sb.totals.sum():.6f}  torch {th.sum():.6f}")


if __name__ == "__main__":
    main()
