"""Compare benchmark: ensemble weight fitting and the leaderboard with significance tests.

1. Fitting mixture weights of M members on the 24-hour task (O origins x 1000 paths x 289
   points): ours (the exact quadratic form from M(M+1)/2 scoring passes, then a small QP)
   against the straightforward approach (Nelder-Mead over softmax weights, each evaluation
   pooling paths with ``mix_paths`` and scoring them). Prints both times and the mean
   validation score each reaches (ours is exact for the weighted mixture; the naive one is
   evaluated on a finite pooled draw, so it is noisy as well as slow).
2. Leaderboard of 6 models over 500 origins with Diebold-Mariano and a 2000-resample block
   bootstrap per model against the benchmark: prints the time.

    OMP_NUM_THREADS=1 python bench/bench_compare.py [--members 4] [--origins 24] [--evals 60]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthwb.evaluate.compare import leaderboard  # noqa: E402
from synthwb.forecast.ensemble import fit_weights, mix_paths  # noqa: E402
from synthwb.scoring.synth import TASKS, score_batch  # noqa: E402


def gbm_paths(rng, n_origins: int, n_paths: int, n_steps: int, sigma: float, drift: float = 0.0) -> np.ndarray:
    steps = rng.normal(drift - 0.5 * sigma**2, sigma, (n_origins, n_paths, n_steps))
    lp = np.concatenate([np.zeros((n_origins, n_paths, 1)), np.cumsum(steps, axis=2)], axis=2)
    return 100.0 * np.exp(lp)


def bench_fit(members: int, origins: int, evals: int) -> None:
    from scipy.optimize import minimize

    task = TASKS["24h"]
    rng = np.random.default_rng(0)
    n_steps = task.n_steps
    true_sigma = 0.0012
    realised = gbm_paths(rng, origins, 1, n_steps, true_sigma)[:, 0, :]
    sigmas = np.linspace(0.6, 1.6, members) * true_sigma
    sets = [gbm_paths(rng, origins, 1000, n_steps, s, drift=(0.0002 if i == 0 else 0.0)) for i, s in enumerate(sigmas)]

    t = time.perf_counter()
    fit = fit_weights(sets, realised, task="24h")
    ours = time.perf_counter() - t

    def naive_objective(theta):
        w = np.exp(theta - theta.max())
        w /= w.sum()
        pooled = mix_paths(sets, w, n_paths=1000, seed=0)
        return float(score_batch(pooled, realised, task).totals.mean())

    t = time.perf_counter()
    res = minimize(naive_objective, np.zeros(members), method="Nelder-Mead", options={"maxfev": evals})
    naive = time.perf_counter() - t
    w_naive = np.exp(res.x - res.x.max())
    w_naive /= w_naive.sum()
    exact_at_naive = float(w_naive @ _q(sets, realised) @ w_naive)
    print(f"fit_weights  members={members} origins={origins} paths=1000 points={task.n_points}")
    print(f"  ours : {ours:8.2f} s  score {fit.score:10.3f}  weights {np.round(fit.weights, 3).tolist()}")
    print(f"  naive: {naive:8.2f} s  score {exact_at_naive:10.3f}  weights {np.round(w_naive, 3).tolist()} "
          f"({res.nfev} evaluations, Nelder-Mead on softmax)")
    print(f"  naive/ours time {naive / ours:5.2f}; equal weights {fit.equal_score:.3f}; best member "
          f"{min(fit.member_scores):.3f}")


def _q(sets, realised):
    from synthwb.forecast.ensemble import _task_scorer, pair_score_matrix

    q, _ = pair_score_matrix(sets, _task_scorer("24h", realised, None))
    return q


def bench_board(n_origins: int = 500, n_models: int = 6) -> None:
    rng = np.random.default_rng(1)
    base = rng.gamma(8.0, 500.0, n_origins)
    rows = []
    for m in range(n_models):
        tot = base * (1 + 0.01 * m) + rng.normal(0, 50, n_origins)
        rows.append(pl.DataFrame({"origin": np.arange(n_origins), "model": [f"m{m}"] * n_origins, "total": tot,
                                  "valid": np.ones(n_origins, bool)}))
    po = pl.concat(rows)
    leaderboard(po.filter(pl.col("origin") < 10), "m0", method="dm")  # warm up (scipy.stats import)
    for method in ("dm", "bootstrap"):
        t = time.perf_counter()
        board = leaderboard(po, "m0", method=method, h=4)
        el = time.perf_counter() - t
        print(f"leaderboard  {n_models} models x {n_origins} origins, {method:9s}: {el * 1000:8.1f} ms "
              f"(best {board['model'][0]}, p(m5 vs m0) = {board.filter(pl.col('model') == 'm5')['p_value'][0]:.2g})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--origins", type=int, default=24)
    ap.add_argument("--evals", type=int, default=60)
    a = ap.parse_args()
    bench_fit(a.members, a.origins, a.evals)
    bench_board()


if __name__ == "__main__":
    main()
