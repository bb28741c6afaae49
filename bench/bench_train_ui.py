"""Responsiveness of the Train page while a job trains (AppTest render times).

Renders the Train page idle (a saved run, no job) N times, then starts a hybrid-horizon
training job in the background registry, attaches the page to it (``?job=``) and renders it
N times while the job trains. Prints the median render times; goal: training < 2x idle.

    OMP_NUM_THREADS=2 python bench/bench_train_ui.py [--n 5]
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
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ui_"))
    root, store, cache = tmp / "lake", tmp / "store", tmp / "cache"
    os.environ.update(SYNTHWB_DATA_DIR=str(root), SYNTHWB_STORE_DIR=str(store), SYNTHWB_CACHE_DIR=str(cache))

    from streamlit.testing.v1 import AppTest
    from train_support import make_featureset, tiny_config

    from synthwb.data.demo import generate_demo_lake
    from synthwb.jobs.registry import get_registry
    from synthwb.train import TrainConfig, train, train_job

    generate_demo_lake(root=root, years=0.05, seed=0, start="2024-01-01", symbols=None)
    make_featureset(root, store, name="tiny")
    make_featureset(root, store, name="demo5", freq="5min")
    train("earlier run", "tiny", "dlinear-gbm", tiny_config(max_steps=20, val_every=5), store=store, root=root,
          context=32, horizon=8)

    def render(job_id: str | None) -> float:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/train.py")
        if job_id:
            at.query_params["job"] = job_id
        t = time.perf_counter()
        at.run()
        dt = time.perf_counter() - t
        assert not at.exception, at.exception
        return dt

    render(None)  # warm imports
    idle = [render(None) for _ in range(a.n)]
    cfg = TrainConfig(batch_size=32, n_paths_train=1000, epochs=50, log_every=1, val_every=25, device="cpu",
                      max_val_batches=1, n_paths_eval=200)
    job = get_registry().submit("train", "bench", train_job, name="bench", featureset="demo5",
                                model_spec="hybrid-horizon", config=cfg, store=str(store), root=str(root),
                                context=256, horizon=288)
    while not job.metrics and not job.done:
        time.sleep(0.5)
    busy = [render(job.id) for _ in range(a.n)]
    steps = job.metrics[-1].get("step") if job.metrics else 0
    job.stop()
    job.wait(300)
    after = [render(job.id) for _ in range(a.n)]  # same panel, no training: the panel's own cost
    mi, mb, ma = statistics.median(idle), statistics.median(busy), statistics.median(after)
    print(f"Train page render, idle:           median {mi * 1000:.0f} ms  ({', '.join(f'{x*1000:.0f}' for x in idle)})")
    print(f"Train page render, while training: median {mb * 1000:.0f} ms  ({', '.join(f'{x*1000:.0f}' for x in busy)})")
    print(f"Train page render, same job stopped: median {ma * 1000:.0f} ms (panel cost without training)")
    print(f"ratio {mb / mi:.2f}x (goal < 2x); the job reached step {steps} and ended {job.status}")


if __name__ == "__main__":
    main()
