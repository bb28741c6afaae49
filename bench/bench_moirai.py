"""Zero-shot Moirai throughput with the tiny random module (d_model 64, 2 layers): origins per
second at 1000 paths x 288 steps. Fast tensor path (only the target's prediction tokens
sampled) vs uni2ts's forward (every token sampled) vs the gluonts predictor, and patch
size auto vs fixed.

    python bench/bench_moirai.py [--origins 16] [--paths 1000] [--horizon 288] [--context 512]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--origins", type=int, default=16)
    ap.add_argument("--slow-origins", type=int, default=2, help="origins for the slow paths")
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--horizon", type=int, default=288)
    ap.add_argument("--context", type=int, default=512)
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import torch

    from synthwb.data.demo import generate_demo_lake
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset
    from synthwb.features.registry import FeatureSpec
    from synthwb.moirai.checkpoints import make_tiny_checkpoint
    from synthwb.moirai.forecast import MoiraiForecaster, forecast_module, pandas_freq

    tmp = Path(tempfile.mkdtemp(prefix="bench_moirai_"))
    root = tmp / "lake"
    generate_demo_lake(root=root, years=0.05, seed=0, start="2024-01-01")
    fs = create_featureset("b5", Selection("crypto", "BTC", "5min"), FeatureSpec(freq="5min", features=(
        {"name": "rsi", "params": {"window": 14}},)), root=root)
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=root)
    ckpt = make_tiny_checkpoint(tmp / "tiny")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; tiny Moirai; {args.paths} paths x "
          f"{args.horizon} steps, context {args.context}")
    origins = list(bars["ts"][args.context + 200: args.context + 200 + args.origins * 37: 37])

    def run(label, covs=(), patch=32, mode="fast", n=args.origins):
        f = MoiraiForecaster({"checkpoint": str(ckpt), "context": args.context, "horizon": args.horizon,
                              "patch_size": patch, "covariates": list(covs)}, fs, root=root, mode=mode)
        f.forecast(bars, origins[:1], args.horizon, 300, n_paths=args.paths)  # warm-up
        t = time.perf_counter()
        p = f.forecast(bars, origins[:n], args.horizon, 300, n_paths=args.paths)
        dt = time.perf_counter() - t
        assert p.shape == (n, args.paths, args.horizon + 1) and (p > 0).all()
        print(f"{label:<46} {n / dt:8.2f} origins/s   ({dt / n * 1000:7.1f} ms/origin; 200 origins: "
              f"{200 * dt / n:6.1f} s)")
        return n / dt

    fast = run("fast tensor path, patch 32")
    full = run("uni2ts forward (all tokens sampled), patch 32", mode="full", n=args.slow_origins)
    run("fast tensor path, patch 64", patch=64)
    auto = run("fast tensor path, patch auto", patch="auto")
    run("uni2ts forward, patch auto", patch="auto", mode="full", n=args.slow_origins)
    run("fast, patch 32, covariates high/low/volume/rsi", covs=("high", "low", "volume", "rsi_14"))

    # the gluonts predictor (same module), patch 32
    from synthwb.moirai.checkpoints import load_checkpoint

    fc = forecast_module(load_checkpoint(ckpt).module, args.context, args.horizon, 32, 0, args.paths)
    pred = fc.create_predictor(batch_size=8)
    close = bars["close"].to_numpy().astype(np.float32)
    ts = bars["ts"].to_numpy()
    ends = [int(np.searchsorted(ts, np.datetime64(o.replace(tzinfo=None)), side="right")) for o in
            origins[:args.slow_origins]]
    data = [{"start": pd.Period(pd.Timestamp(ts[e - args.context]), freq=pandas_freq("5min")),
             "target": close[e - args.context: e]} for e in ends]
    t = time.perf_counter()
    out = list(pred.predict(data))
    dt = time.perf_counter() - t
    assert out[0].samples.shape == (args.paths, args.horizon)
    n = len(data)
    print(f"{'gluonts predictor, patch 32':<46} {n / dt:8.2f} origins/s   ({dt / n * 1000:7.1f} ms/origin)")
    print(f"fast / uni2ts forward: {fast / full:.1f}x; patch 32 / auto (fast): {fast / auto:.1f}x")


if __name__ == "__main__":
    main()
