"""CPU training throughput of the hybrid-horizon preset through the full loop.

Batch 32, context 256, d_model 64, 1000 paths, horizon 288 on a 5-minute demo feature set;
the job runs in the background registry while a poller thread redraws the curves figure every
2 s as the Train page does. Prints steps/second and the share of step time spent outside
forward/loss/backward/optimizer (data loading, logging, progress callbacks, UI polling);
goal: < 10%.

    OMP_NUM_THREADS=2 python bench/bench_train.py [--steps 12] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--paths", type=int, default=1000)
    a = ap.parse_args()

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from synthwb.charts.train import curves_figure
    from synthwb.data.demo import generate_demo_lake
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import default_spec
    from synthwb.jobs.registry import JobRegistry
    from synthwb.store import runs
    from synthwb.train import TrainConfig, train_job

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    root, store = tmp / "lake", tmp / "store"
    generate_demo_lake(root=root, years=0.05, seed=0, start="2024-01-01", symbols=None)
    fs = create_featureset("bench5", Selection("crypto", "BTC", "5min"), default_spec("5min"), root=root)
    save_featureset(fs, store)
    print(f"feature set: {len(fs.feature_cols)} features, rows {fs.rows}; torch threads {torch.get_num_threads()}")

    cfg = TrainConfig(batch_size=32, n_paths_train=a.paths, max_steps=a.steps, log_every=1, val_every=10_000,
                      max_val_batches=1, n_paths_eval=100, device="cpu", epochs=1, warmup_steps=2)
    reg = JobRegistry()
    job = reg.submit("train", "bench", train_job, name="bench", featureset="bench5", model_spec="hybrid-horizon",
                     config=cfg, store=store, root=root, context=256, horizon=288)
    polls = []

    def poll():
        while not job.done:
            t = time.perf_counter()
            curves_figure(job.metrics)
            _ = job.summary()
            polls.append(time.perf_counter() - t)
            time.sleep(2.0)

    th = threading.Thread(target=poll, daemon=True)
    t0 = time.perf_counter()
    th.start()
    job.wait()
    wall = time.perf_counter() - t0
    if job.status != "finished":
        print("job", job.status, job.error, job.traceback)
        sys.exit(1)
    rows = [r for r in runs.read_metrics(job.result.run_id, store) if r["kind"] == "train"]
    steady = rows[1:] if len(rows) > 2 else rows  # the first step pays one-off allocations
    step = statistics.mean(r["step_time"] for r in steady)
    comp = statistics.mean(r["compute_time"] for r in steady)
    spec_params = runs.read_info(job.result.run_id, store).get("n_params")
    print(f"model hybrid-horizon: {spec_params:,} parameters; batch 32, context 256, horizon 288, "
          f"{a.paths} paths")
    print(f"steps timed: {len(steady)} (of {len(rows)}); wall incl. setup + validation: {wall:.1f} s")
    print(f"step time: {step * 1000:.0f} ms  ->  {1 / step:.3f} steps/s")
    print(f"forward+loss+backward+optimizer: {comp * 1000:.0f} ms per step")
    print(f"share outside forward/backward (data, logging, callbacks, UI polling): {100 * (1 - comp / step):.2f}% "
          f"(goal < 10%)")
    if polls:
        print(f"UI poll (figure from history) mean {1000 * statistics.mean(polls):.1f} ms over {len(polls)} polls")


if __name__ == "__main__":
    main()
