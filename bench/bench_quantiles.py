"""The quantiles-to-paths layer against known processes, bigger than its test
(tests/test_forecast_quantiles.py): the layer's paths from the exact quantiles of GBM and of a
stochastic-volatility process (tests/quantile_truth.py) against the process's own paths, on the
same realisations, for the 24h and 1h tasks of the default validator (1h with its volatility
term), with Moirai 2's nine levels and with 0.01 .. 0.99, and with the volatility factor off
(a plain Gaussian copula) as the control.

    .venv/bin/python bench/bench_quantiles.py [--real 400] [--ens 8] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from quantile_truth import compare  # noqa: E402

from synthwb.forecast.quantiles import MOIRAI2_LEVELS  # noqa: E402

WIDE = tuple(np.round(np.r_[0.01, 0.025, 0.05, np.arange(0.1, 0.91, 0.1), 0.95, 0.975, 0.99], 3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=int, default=400, help="realisations per task (common to layer and truth)")
    ap.add_argument("--ens", type=int, default=8, help="independent 1000-path forecasts of each")
    ap.add_argument("--quick", action="store_true", help="the test's size")
    a = ap.parse_args()
    n24, n1 = (64, 200) if a.quick else (a.real, a.real)
    rows = []
    for process in ("gbm", "sv"):
        for task, n in (("24h", n24), ("1h", n1)):
            for label, levels, mix in (("9 levels", MOIRAI2_LEVELS, "auto"), ("15 levels", WIDE, "auto"),
                                       ("9 levels, no vol factor", MOIRAI2_LEVELS, 0.0)):
                t = time.perf_counter()
                r = compare(process, task, n_real=n, n_ens=a.ens, levels=levels, vol_mixing=mix)
                rows.append((process, task, label, r, time.perf_counter() - t))
                vol = "" if r["vol_ratio"] is None else f"  vol term {r['vol_ratio']:.4f} ± {r['vol_se']:.4f}"
                print(f"{process:4s} {task:4s} {label:26s} layer {r['layer']:9.2f}  truth {r['truth']:9.2f}  "
                      f"ratio {r['ratio']:.4f} ± {r['se']:.4f}{vol}  ({n} realisations, "
                      f"{time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
