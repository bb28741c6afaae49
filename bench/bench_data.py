"""Data benchmark: prints the issue's three figures (plus inventory and a cached re-read).

    OMP_NUM_THREADS=1 python bench/bench_data.py [--years 2] [--keep DIR]

1. demo lake generation: 3 crypto assets x 2 years x 1-minute bars (goal < 20 s);
2. lake read of one year of 1-minute BTC bars (~525k rows) into a frame (goal < 0.3 s);
3. resample that year to 1h (goal < 0.2 s).
Timings are wall-clock; read/resample are the median of 5 runs (first run reported too).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthwb.data.demo import generate_demo_lake  # noqa: E402
from synthwb.data.lake import inventory, read_bars  # noqa: E402
from synthwb.data.resample import resample  # noqa: E402
from synthwb.data.schema import Selection  # noqa: E402


def timed(fn, n: int = 5):
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, times[0], statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=float, default=2.0)
    ap.add_argument("--keep", default=None, help="write the lake here instead of a temp dir")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        root = Path(args.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="synthwb_bench_")
        root = Path(tmp.name) / "ohlcv"

    t = time.perf_counter()
    res = generate_demo_lake(root=root, years=args.years, seed=0, start="2023-01-01", symbols=["BTC", "ETH", "SOL"])
    gen_s = time.perf_counter() - t
    rows = sum(s["rows"] for s in res["series"])

    inv, inv_first, inv_med = timed(lambda: inventory(root))
    sel = Selection("crypto", "BTC", "1min", "2023-01-01", "2024-01-01")
    df, read_first, read_med = timed(lambda: read_bars(sel, root=root))
    hourly, rs_first, rs_med = timed(lambda: resample(df, "1h", "crypto"))
    sel_h = Selection("crypto", "BTC", "1h", "2023-01-01", "2024-01-01")
    _, rh_first, rh_med = timed(lambda: read_bars(sel_h, root=root), n=3)

    print(f"{'benchmark':<52} {'result':>12}  goal")
    print(f"{'demo lake: 3 crypto x %g y x 1min (%s rows)' % (args.years, f'{rows:,}'):<52} {gen_s:>10.2f} s  < 20 s")
    print(f"{'lake read: BTC 1min, one year (%s rows)' % f'{df.height:,}':<52} {read_med:>10.3f} s  < 0.3 s"
          f"   (first {read_first:.3f} s)")
    print(f"{'resample that year to 1h (%s bars)' % f'{hourly.height:,}':<52} {rs_med:>10.3f} s  < 0.2 s"
          f"   (first {rs_first:.3f} s)")
    print(f"{'read BTC 1h for the year (resampled on read)':<52} {rh_med:>10.3f} s")
    print(f"{'inventory (%d series, %d files)' % (inv.height, int(inv['files'].sum())):<52} {inv_med:>10.4f} s"
          f"   (first {inv_first:.4f} s)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
