"""Beyond one CPU: DDP training on 2 processes vs 1, a search run locally vs on Ray, and how a
backtest's time grows with origins and with paths; on a CUDA machine also the GPU figures.

    python bench/bench_scaling.py [--ddp-steps 20] [--trials 6] [--skip ddp,search,backtest,cuda]
                                  [--device-figures cuda|cpu] [--fig-steps 40] [--fig-origins 500]

1. **DDP** (gloo, CPU): the recommended preset (GRU + term head; context 64, 5-minute paths
   over 24 h = 288 steps, 200 paths per window) at a global batch of 32: 1 process x 1 thread,
   1 process x 2 threads, and 2 processes x 1 thread x batch 16 (``train_on_devices``).
   Steps/s is the median of the loop's own ``step_time`` after the first 3 steps (process
   start-up and the first validation are not step time); efficiency = the speed-up over
   1 process x 1 thread divided by the number of processes.
2. **Search**: 6 random-search trials of a tiny dlinear-gbm (10 steps each), locally (one
   after another) and as Ray Tune trials on a local Ray with this machine's CPUs, 1 CPU per
   trial; wall time of ``search_runs``, and Ray's start-up separately.
3. **Backtest**: the ``gbm`` baseline (a trained model would be far slower on CPU; the
   scoring, the validator timing and the bookkeeping are the same for any forecaster) over
   5-minute BTC origins of the 24 h task: origins 1k and 10k at 100 paths, paths 100, 1000 at
   1k origins and 10000 at 100 origins; seconds and ms per origin.
4. **Device figures** on CUDA (only when ``torch.cuda.is_available()``; ``--device-figures cpu``
   prints the same on the CPU): the hybrid-horizon preset at batch 32, context 256, d_model 64,
   1000 paths, H 288 (bf16 autocast on CUDA): train steps/s and peak GPU memory (CPU: peak RSS);
   a 500-origin 24 h backtest of it (origins/s); scored forecasts/s of ``score_totals_torch``
   (1000 paths x 289 points each).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHONPATH", str(ROOT))  # Ray workers and DDP processes import this checkout


def _median_step_s(run_id: str, store) -> float:
    from synthwb.store import runs

    rows = runs.read_metrics(run_id, store, "train")
    later = [r for r in rows if r["step"] > 3] or rows  # the first steps warm up
    return statistics.median(r["step_time"] for r in later)


def _table(rows: list[dict], cols: list[str]) -> str:
    from synthwb.core.text import table

    return table(rows, cols)


def bench_ddp(root: Path, store: Path, steps: int) -> None:
    import torch

    from synthwb.features.featureset import load_featureset
    from synthwb.models.presets import as_spec
    from synthwb.train import train, train_on_devices

    fs = load_featureset("b5", store)
    spec = as_spec("anchored-term", len(fs.feature_cols), store, 64, 288).model_dump(mode="json")
    spec["dropout"] = 0.0
    base = dict(epochs=1, max_steps=steps, n_paths_train=200, n_paths_eval=64, log_every=1, val_every=10_000,
                max_val_batches=1, device="cpu", warmup_steps=2, calibrate=False, patience=0, seed=0)
    rows = []
    for label, threads, procs in (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 2, 1),
                                  ("2 processes x 1 thread (DDP, gloo)", 1, 2)):
        name = f"ddp-{procs}-{threads}"
        t = time.perf_counter()
        if procs == 1:
            torch.set_num_threads(threads)
            info = train(name, "b5", spec, {**base, "batch_size": 32, "threads": threads}, store=store, root=root)
        else:
            os.environ["OMP_NUM_THREADS"] = "1"
            info = train_on_devices(procs, name, "b5", spec, {**base, "batch_size": 32 // procs}, store=store,
                                    root=root)
        wall = time.perf_counter() - t
        s = _median_step_s(info.run_id, store)
        rows.append({"setup": label, "global batch": 32, "steps/s": round(1 / s, 2),
                     "samples/s": round(32 / s, 1), "wall incl. start-up s": round(wall, 1), "_s": s, "_p": procs})
    ref = rows[0]["_s"]
    for r in rows:
        r["speed-up"] = round(ref / r["_s"], 2)
        r["efficiency"] = f"{ref / r['_s'] / r['_p']:.0%}" if r["_p"] > 1 else ""
    print(f"\nDDP on CPU ({steps} steps each; anchored-term, ctx 64, H 288, 200 paths)")
    print(_table(rows, ["setup", "global batch", "steps/s", "samples/s", "speed-up", "efficiency",
                        "wall incl. start-up s"]))


def bench_search(root: Path, store: Path, trials: int) -> None:
    from synthwb.research.backend import RayOptions
    from synthwb.research.search import search_runs

    cfg = dict(epochs=1, max_steps=10, batch_size=16, n_paths_train=32, n_paths_eval=64, log_every=5, loss="crps",
               val_every=10, max_val_batches=1, device="cpu", calibrate=False, patience=0)
    kw = dict(featureset="b5", model_spec="dlinear-gbm", space=["config.lr=1e-4:1e-2:log"], method="random",
              n_trials=trials, config=cfg, store=store, root=root, keep=None, context=64, horizon=288, seed=0)
    t = time.perf_counter()
    here = search_runs(None, None, run_name="loc", backend="local", **kw)
    t_local = time.perf_counter() - t

    import ray

    n_cpus = os.cpu_count() or 1
    t = time.perf_counter()
    ray.init(num_cpus=n_cpus, include_dashboard=False, log_to_driver=False)
    t_init = time.perf_counter() - t
    t = time.perf_counter()
    there = search_runs(None, None, run_name="ray", backend="ray", ray=RayOptions(cpus=1), **kw)
    t_ray = time.perf_counter() - t
    ray.shutdown()
    ok = lambda r: sum(x.status == "finished" for x in r.trials)  # noqa: E731
    print(f"\n{trials}-trial search (random, dlinear-gbm, 10 steps per trial, 1 CPU per Ray trial)")
    print(_table([
        {"backend": "local (one after another)", "trials finished": ok(here), "wall s": round(t_local, 1),
         "s per trial": round(t_local / trials, 2)},
        {"backend": f"ray (local, {n_cpus} CPUs)", "trials finished": ok(there), "wall s": round(t_ray, 1),
         "s per trial": round(t_ray / trials, 2)},
    ], ["backend", "trials finished", "wall s", "s per trial"]) + f"\nRay start-up (ray.init): {t_init:.1f} s")


def bench_backtest(root: Path) -> None:
    from synthwb.evaluate.backtest import run_backtest

    rows = []
    for n, p in ((1000, 100), (10000, 100), (1000, 1000), (100, 10000)):
        t = time.perf_counter()
        r = run_backtest({"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"},
                          "baselines": ["gbm"], "n_origins": n, "every": 1, "n_paths": p, "keep_paths": 0,
                          "seed": 0, "start": "2024-01-16"}, root=root)
        s = time.perf_counter() - t
        k = len(r.origins)
        rows.append({"origins": k, "paths": p, "seconds": round(s, 1), "ms per origin": round(1000 * s / k, 2),
                     "origins/s": round(k / s, 1)})
    print("\nBacktest time vs origins and paths (gbm baseline, 24h task, 5-minute BTC origins, validator timing)")
    print(_table(rows, ["origins", "paths", "seconds", "ms per origin", "origins/s"]))


def bench_device(root: Path, store: Path, device: str, steps: int, origins: int) -> None:
    """The issue's device figures: train steps/s and peak memory of the hybrid preset, a backtest
    of it, and scored forecasts/s (CUDA: bf16 autocast, peak GPU memory; CPU: fp32, peak RSS)."""
    import resource

    import numpy as np
    import torch

    from synthwb.evaluate.backtest import run_backtest
    from synthwb.scoring.batched import score_totals_torch
    from synthwb.train import train

    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    cfg = dict(epochs=1, max_steps=steps, batch_size=32, n_paths_train=1000, n_paths_eval=100, log_every=1,
               val_every=10_000, max_val_batches=1, device=device, amp=cuda, amp_dtype="bf16", warmup_steps=2,
               calibrate=False, patience=0)
    info = train(f"hybrid-{device}", "b5", "hybrid-horizon", cfg, store=store, root=root, context=256, horizon=288)
    s = _median_step_s(info.run_id, store)
    peak = (f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if cuda else
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    t = time.perf_counter()
    r = run_backtest({"models": [info.run_id], "baselines": [], "n_origins": origins, "every": 1, "n_paths": 1000,
                      "keep_paths": 0, "batch_size": 64, "device": device, "seed": 0}, root=root, store=store)
    bt = time.perf_counter() - t
    rng = np.random.default_rng(0)
    n_sc = 500 if cuda else 50
    paths = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, (n_sc, 1000, 289)), axis=-1))
    real = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, (n_sc, 289)), axis=-1))
    score_totals_torch(paths[:4], real[:4], "24h", device=device)  # warm-up
    sync()
    t = time.perf_counter()
    score_totals_torch(paths, real, "24h", device=device)
    sync()
    sc = time.perf_counter() - t
    name = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{device.upper()} figures: {name}, torch {torch.__version__}")
    print(_table([
        {"what": f"train hybrid-horizon, batch 32, ctx 256, d_model 64, 1000 paths, H 288{', bf16' if cuda else ''}",
         "figure": f"{1 / s:.2f} steps/s ({steps} steps){' (goal >= 20 on an H100-class GPU)' if cuda else ''}; "
                   f"{peak}"},
        {"what": f"{len(r.origins)}-origin 24h backtest of it, 1000 paths",
         "figure": f"{bt:.1f} s, {len(r.origins) / bt:.1f} origins/s{' (goal: 500 origins < 10 s)' if cuda else ''}"},
        {"what": f"score_totals_torch, {n_sc} forecasts x 1000 paths x 289 points",
         "figure": f"{n_sc / sc:.0f} scored forecasts/s"},
    ], ["what", "figure"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ddp-steps", type=int, default=20)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: ddp, search, backtest, cuda")
    ap.add_argument("--device-figures", default="cuda", choices=["cuda", "cpu"],
                    help="the device figures (part 4) on CUDA when present (default), or on the CPU")
    ap.add_argument("--fig-steps", type=int, default=40, help="training steps for the device figures")
    ap.add_argument("--fig-origins", type=int, default=500, help="backtest origins for the device figures")
    a = ap.parse_args()
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}

    import torch

    from synthwb.data.demo import generate_demo_lake
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import FeatureSpec

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"cuda {'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}")
    with tempfile.TemporaryDirectory(prefix="synthwb_bench_scaling_") as tmp:
        root, store = Path(tmp) / "lake", Path(tmp) / "store"
        t = time.perf_counter()
        generate_demo_lake(root=root, years=60 / 365.25, seed=0, start="2024-01-01", symbols=["BTC"])
        spec = FeatureSpec(freq="5min", features=({"name": "log_return", "params": {"periods": 1}},
                                                  {"name": "rsi", "params": {"window": 14}}))
        save_featureset(create_featureset("b5", Selection("crypto", "BTC", "5min"), spec, root=root), store)
        print(f"setup: 60 days of BTC 1-minute bars, a 5-minute feature set: {time.perf_counter() - t:.1f} s")
        if "ddp" not in skip:
            bench_ddp(root, store, a.ddp_steps)
        if "search" not in skip:
            bench_search(root, store, a.trials)
        if "backtest" not in skip:
            bench_backtest(root)
        if a.device_figures == "cpu":
            bench_device(root, store, "cpu", a.fig_steps, a.fig_origins)
        elif "cuda" not in skip:
            if torch.cuda.is_available():
                bench_device(root, store, "cuda", a.fig_steps, a.fig_origins)
            else:
                print("\nCUDA: no GPU here; the CUDA figures (train steps/s, peak GPU memory, backtest origins/s, "
                      "scored forecasts/s) are not measured")


if __name__ == "__main__":
    main()
