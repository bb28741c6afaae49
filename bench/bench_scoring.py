"""Scoring one 24-hour Synth forecast (1000 paths x 289 points): ours vs a straightforward
reference that loops over the 345 terms calling properscoring.crps_ensemble.

    python bench/bench_scoring.py [--paths 1000] [--repeat 20] [--ref-repeat 3] [--batch 64]

Prints the median time of each, the speed-up (goal >= 100x) and the relative difference of
the totals (goal < 1e-9), plus the throughput of score_batch on many forecasts at once.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from synthwb.evaluate.reference import reference_score as reference  # noqa: E402
from synthwb.evaluate.synth import TASKS, score_batch, score_paths  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--ref-repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    task = TASKS["24h"]
    rng = np.random.default_rng(0)
    sig = 0.5 * np.sqrt(300 / (365 * 86400))
    lr = rng.normal(-0.5 * sig**2, sig, size=(a.paths, task.n_points - 1))
    paths = 60_000 * np.exp(np.concatenate([np.zeros((a.paths, 1)), np.cumsum(lr, axis=1)], axis=1))
    real = 60_000 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0, sig, task.n_points - 1))]))
    intervals = {iv.name: iv.seconds for iv in task.intervals}

    score_paths(paths, real, task)  # warm-up
    t_ours, ours = timed(lambda: score_paths(paths, real, task), a.repeat)
    t_ref, ref = timed(lambda: reference(paths, real, task.step_seconds, intervals), a.ref_repeat)
    rel = abs(ours.total - ref) / abs(ref)

    batch_p = np.repeat(paths[None], a.batch, axis=0)
    batch_r = np.repeat(real[None], a.batch, axis=0)
    t_batch, _ = timed(lambda: score_batch(batch_p, batch_r, task), max(3, a.repeat // 5))

    print(f"machine: {os.cpu_count()} CPUs (shared; figures are indicative)")
    print(f"one 24h forecast: {a.paths} paths x {task.n_points} points, {ours.n_terms} terms")
    print(f"  reference (loop over terms, properscoring): {t_ref * 1e3:9.1f} ms  (median of {a.ref_repeat})")
    print(f"  ours (score_paths, sort-based, vectorised):  {t_ours * 1e3:9.2f} ms  (median of {a.repeat})")
    print(f"  speed-up: {t_ref / t_ours:7.1f}x   (goal >= 100x)")
    print(f"  totals: ours {ours.total:.9f}  reference {ref:.9f}  relative difference {rel:.2e}  (goal < 1e-9)")
    print(f"score_batch: {a.batch} forecasts in {t_batch * 1e3:.1f} ms -> {a.batch / t_batch:.1f} forecasts/s")


if __name__ == "__main__":
    main()
