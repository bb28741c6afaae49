"""The training estimate against the run it predicts, back to back, on the machine as it is.

    python bench/bench_estimate.py [--cases quick:24h,quick:1h,recommended:24h] [--threads 0|1|...]

In a temporary demo lake (BTC 5-minute feature set, the README's first session) each case runs
``synthwb train --estimate`` and then the same ``synthwb train``, each as its own command, and
prints what the estimate said, what the whole command took, their ratio (the estimate is meant to
be within 1.5x of the run when the load stays the same) and the 1-minute load average before each.
``--threads`` passes ``{"threads": N}`` as the run's config (0: the run's own default). The
figures go to the README's "Quickstart" table; none of them is asserted by a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "synthwb", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"synthwb {' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return r, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="quick:24h,quick:1h,recommended:24h",
                    help="profile:task pairs, comma-separated")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads of the runs (0: their default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="synthwb-bench-estimate-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "SYNTHWB_DATA_DIR": str(tmp / "lake"), "SYNTHWB_STORE_DIR": str(tmp / "store"),
               "SYNTHWB_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(ROOT)}
        _cli(["data", "demo", "--years", "2", "--symbols", "BTC"], env)
        _cli(["features", "build", "--name", "btc-5m", "--asset-class", "crypto", "--symbol", "BTC",
              "--freq", "5min"], env)
        extra: list[str] = []
        if args.threads:
            cfg = tmp / "threads.json"
            cfg.write_text(json.dumps({"threads": args.threads}))
            extra = ["--config", str(cfg)]
        print(f"{'case':<18} {'load':>5} {'estimate':>10} {'load':>5} {'run':>10} {'run/est':>8}")
        for i, case in enumerate(args.cases.split(",")):
            profile, _, task = case.partition(":")
            common = ["--name", f"r{i}", "--features", "btc-5m", "--profile", profile, "--task", task or "24h",
                      *extra]
            load_e = os.getloadavg()[0]
            r, _ = _cli(["train", *common, "--estimate", "--json"], env)
            est = json.loads(r.stdout)["seconds"]
            load_r = os.getloadavg()[0]
            _, took = _cli(["train", *common, "--no-progress"], env)
            print(f"{case:<18} {load_e:>5.1f} {est:>9.0f}s {load_r:>5.1f} {took:>9.0f}s {took / est:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
