"""Rolling backtest throughput of the hybrid preset model on CPU: origins per second.

    python bench/bench_backtest.py [--origins 500] [--paths 1000] [--preset hybrid-horizon]
                                   [--train-steps 2] [--batch 32] [--device cpu]

Builds a throw-away demo lake (BTC, 1-minute bars) and a 5-minute feature set in a temp dir,
trains the preset for only ``--train-steps`` optimiser steps (the weights are essentially
untrained: this measures throughput, not skill), then runs the 24-hour Synth task backtest
over ``--origins`` consecutive 5-minute origins through ``run_backtest`` (feature computation,
batched model forward pass, path sampling, scoring, metrics) and prints origins/second, with
the time split between the model's forecast+scoring and the whole backtest.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--origins", type=int, default=500)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--preset", default="hybrid-horizon")
    ap.add_argument("--train-steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="origins per forecast call")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()

    import torch

    from synthwb.data.demo import generate_demo_lake
    from synthwb.data.schema import Selection
    from synthwb.evaluate.backtest import run_backtest
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import FeatureSpec
    from synthwb.train import train

    with tempfile.TemporaryDirectory(prefix="synthwb_bench_bt_") as tmp:
        root, store = Path(tmp) / "lake", Path(tmp) / "store"
        t = time.perf_counter()
        # 5-min origins: history + origins + a 24h horizon, with margin
        days = 8 + a.origins * 300 / 86400 + 2
        generate_demo_lake(root=root, years=days / 365.25, seed=0, start="2024-01-01", symbols=["BTC"])
        spec = FeatureSpec(freq="5min", features=(
            {"name": "log_return", "params": {"periods": 1}},
            {"name": "rsi", "params": {"window": 14}},
        ))
        fs = create_featureset("bench", Selection("crypto", "BTC", "5min"), spec, root=root)
        save_featureset(fs, store)
        info = train("bench-run", "bench", a.preset,
                     dict(epochs=1, max_steps=a.train_steps, batch_size=16, n_paths_train=16, n_paths_eval=16,
                          log_every=1, warmup_steps=1, device=a.device, max_val_batches=1, patience=0, seed=0),
                     store=store, root=root, context=64, horizon=288)
        t_setup = time.perf_counter() - t
        spec_bt = {"selection": None, "models": [info.run_id], "baselines": [], "task": "24h",
                   "n_origins": a.origins, "every": 1, "n_paths": a.paths, "seed": 0, "batch_size": a.batch,
                   "device": a.device, "keep_paths": 0, "start": "2024-01-08"}
        t = time.perf_counter()
        res = run_backtest(spec_bt, root=root, store=store)
        wall = time.perf_counter() - t
        n = len(res.origins)
        model_s = res.meta["model_seconds"][info.run_id]
        print(f"machine: {os.cpu_count()} CPUs (shared; figures are indicative), torch {torch.__version__}, "
              f"threads {torch.get_num_threads()}, device {a.device}")
        print(f"setup (demo lake, feature set, {a.train_steps}-step training of {a.preset}): {t_setup:.1f} s "
              f"(untrained weights: throughput only)")
        print(f"backtest: {n} origins x {a.paths} paths x 289 points, 24h task, batch {a.batch}")
        print(f"  forecast + score + metrics: {model_s:.1f} s -> {n / model_s:.2f} origins/s")
        print(f"  whole run_backtest (data reads, alignment, tables): {wall:.1f} s -> {n / wall:.2f} origins/s")
        print(f"  mean Synth score {res.per_origin['total'].mean():.1f}, valid {res.per_origin['valid'].mean():.0%}")


if __name__ == "__main__":
    main()
