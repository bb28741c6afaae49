"""`synthwb serve` latency on this CPU, loopback only: p50 / p99 seconds per request for 1000 paths.

    python bench/bench_serve.py [--requests 200] [--burst 50] [--runs btc-garch,baseline:gbm]

Builds the demo lake (0.05 years from 2024-01-01, seed 0) in a temp dir, fits a GARCH(1,1) run on
its 1-minute BTC bars (`synthwb fit`), starts the service in this process on a free loopback port
and sends, one after another, ``--requests`` validator requests per (run, task) with 1000
simulations, start times one minute apart (as a validator's requests move on), each timed from
the client: the request, the forecast from the lake, the rounding and check, the JSON and its
transfer. Then a burst of ``--burst`` concurrent requests (1h task): every answer must be a 200
the version accepts; the slowest is reported. Prints the machine's load (`uptime`) before and
after: the figures only mean something beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthwb.cli import main as cli  # noqa: E402
from synthwb.data.demo import generate_demo_lake  # noqa: E402
from synthwb.evaluate.validator import CORRECT, validate_response  # noqa: E402
from synthwb.live.serve import ForecastService, make_server  # noqa: E402

TASKS = {"1h": (60, 3600), "24h": (300, 86400)}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--runs", default="btc-garch,baseline:gbm")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    lake, store = tmp / "lake", tmp / "store"
    generate_demo_lake(root=lake, years=0.05, seed=0, start="2024-01-01")
    assert cli(["fit", "--root", str(lake), "--store", str(store), "--name", "btc-garch", "--model", "garch",
                "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--window-days", "7"]) == 0
    print(f"cores {os.cpu_count()}; load average before: {_load()}")
    t0 = datetime(2024, 1, 15, 0, 1, tzinfo=UTC)
    rows = []
    for run in args.runs.split(","):
        svc = ForecastService(run, root=lake, store=store)
        srv = make_server(svc, "127.0.0.1", 0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_address[1]}/forecast"
        with httpx.Client(timeout=120) as c:
            for task, (inc, length) in TASKS.items():
                lat, checked = [], 0
                for i in range(args.requests):
                    start = (t0 + timedelta(minutes=i)).isoformat()
                    body = {"asset": "BTC", "start_time": start, "time_increment": inc, "time_length": length,
                            "num_simulations": 1000}
                    t = time.perf_counter()
                    r = c.post(url, json=body)
                    lat.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                    if i % 25 == 0:  # the full Python check is slow on 289,000 points: a sample
                        assert validate_response(r.json()["simulation_output"], task, start, 1000) == CORRECT
                        checked += 1
                a = np.array(lat)
                rows.append({"run": run, "task": task, "requests": len(a), "p50_s": round(float(np.percentile(a, 50)), 3),
                             "p99_s": round(float(np.percentile(a, 99)), 3), "max_s": round(float(a.max()), 3),
                             "checked": checked})
                print(json.dumps(rows[-1]), flush=True)

            def ask(i, url=url):
                start = (t0 + timedelta(hours=3, minutes=i)).isoformat()
                t = time.perf_counter()
                with httpx.Client(timeout=300) as cc:
                    r = cc.post(url, json={"asset": "BTC", "start_time": start, "time_increment": 60,
                                           "time_length": 3600, "num_simulations": 1000})
                ok = r.status_code == 200 and validate_response(r.json()["simulation_output"], "1h", start,
                                                                 1000) == CORRECT
                return ok, time.perf_counter() - t

            t = time.perf_counter()
            with ThreadPoolExecutor(args.burst) as pool:
                res = list(pool.map(ask, range(args.burst)))
            burst = {"run": run, "burst": args.burst, "all_valid": all(ok for ok, _ in res),
                     "slowest_s": round(max(s for _, s in res), 3), "wall_s": round(time.perf_counter() - t, 3)}
            print(json.dumps(burst), flush=True)
        srv.shutdown()
        srv.server_close()
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
