"""Forecast quality under validator 2026-09's 1h score (price CRPS + volatility CRPS).

    python bench/bench_vol_term.py                   # demo lake BTC 1min, 1h task, 200 held-out origins
    python bench/bench_vol_term.py --quick           # harness check: 1 epoch, 20 origins, one classical model
    python bench/bench_vol_term.py --root LAKE --symbol BTC --origins 400 --json out.json
    python bench/bench_vol_term.py --workers 2        # the two runs side by side, one torch thread each

The way a user sets up a 1h run with the defaults: ``features build --freq 1min`` (default
feature spec, 70/15/15 split) and ``train --task 1h`` (recommended preset, default settings,
so 1-minute paths, 60 steps; the default validator 2026-09, whose 1h training loss includes the
volatility term). The same model is trained a second time with ``--validator 2026-05`` (the
old 1h score: no volatility term in the loss, validation or calibration). Both runs, their
uncalibrated twins, every baseline and the classical forecasters (``fit``, default parameters)
are backtested on the same held-out origins of the feature set's test split, scored under
2026-09. Per model it prints the mean total score, its price part and its volatility part
(the ``vol_60min``/``vol_15min``/``vol_5min`` terms, weighted as in the total), the ratio to
gbm, the 90% coverage, the Diebold-Mariano p-value against gbm (HLN, Newey-West lag = the
origins one horizon overlaps) and the train/fit seconds; then the paired DM tests of the run
trained with the vol term against the one trained without it (total, price part, vol part).

Without ``--root`` a fresh 2-year demo lake is made with ``python -m synthwb data demo --root
DIR`` in a temp dir; nothing is written to the repository.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCORED_WITH = "2026-09"
TRAINED_FOR = ("2026-09", "2026-05")  # with the vol term in the loss (the default), without it
CLASSICAL = "garch:t,gjr-garch:t,egarch:skewt,har-rv:t"


def demo_lake(tmp: Path, years: float, seed: int) -> Path:
    root = tmp / "demo"
    cmd = [sys.executable, "-m", "synthwb", "data", "demo", "--root", str(root), "--years", str(years),
           "--seed", str(seed)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"demo lake failed: {r.stderr.strip()}")
    return root


def fit_classical_runs(root: Path, store: Path, asset_class: str, symbol: str, freq: str, models: list[str]) -> dict:
    """Fit each ``model[:dist]`` (default parameters) on the series: run id -> fit seconds."""
    from synthwb.forecast.classical.run import fit_classical

    out = {}
    for spec in models:
        model, _, dist = spec.partition(":")
        t = time.perf_counter()
        info = fit_classical(f"{symbol.lower()}-{freq}-{model}-{dist or 'default'}", model, asset_class, symbol, freq,
                             {"dist": dist} if dist else {}, store=store, root=root)
        out[info["run_id"]] = time.perf_counter() - t
    return out


def _train_one(job: tuple) -> tuple[str, float, int, str]:
    """One training call (in a worker process with --workers): run id, seconds, steps, why it stopped."""
    from synthwb.train.loop import train

    run_name, featureset, preset, cfg, store, root = job
    t = time.perf_counter()
    info = train(run_name, featureset, preset, cfg, store=store, root=root)
    if info.status != "finished":
        raise SystemExit(f"{run_name}: {info.status} {info.error or ''}")
    return info.run_id, time.perf_counter() - t, info.step, info.stop_reason or info.status


def _backtest_one(job: tuple):
    """One classical run backtested on given origins, no baselines (a worker process with --workers)."""
    from synthwb.evaluate.backtest import run_backtest

    run_id, origins, seed, root, store = job
    return run_backtest({"models": [run_id], "baselines": [], "task": "1h", "validator": SCORED_WITH,
                         "origins": origins, "seed": seed}, root=root, store=store)


def train_runs(root: Path, store: Path, asset_class: str, symbol: str, freq: str, seed: int,
               epochs: int | None, overrides: dict, workers: int = 1) -> tuple[dict, dict]:
    """The default feature set, then the recommended preset trained for the 1h task under each
    version of :data:`TRAINED_FOR`: (version -> run id, run id -> train seconds)."""
    from synthwb.data.schema import Selection
    from synthwb.features.datasets import SplitSpec
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import default_spec
    from synthwb.models import recommended_preset
    from synthwb.store import runs

    name = f"{symbol.lower()}-{freq}"
    t = time.perf_counter()
    fs = create_featureset(name, Selection(asset_class, symbol, freq), default_spec(freq), SplitSpec(), root=root)
    save_featureset(fs, store)
    print(f"  features {name}: {time.perf_counter() - t:.1f} s")
    preset = recommended_preset()
    ids, secs, steps = {}, {}, {}
    jobs = [(f"{name}-{preset}-1h-{version}", name, preset,
             {"synth_task": "1h", "validator": version, "seed": seed, **({"epochs": epochs} if epochs else {}),
              **overrides}, store, root) for version in TRAINED_FOR]
    if workers > 1:  # each in its own process (one torch thread each, see main)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
            done = list(ex.map(_train_one, jobs))
    else:
        done = [_train_one(j) for j in jobs]
    for version, (run_id, seconds, step, reason) in zip(TRAINED_FOR, done):
        ids[version], secs[run_id], steps[run_id] = run_id, seconds, step
        run = runs.load_run(run_id, store)
        cal = run.info.get("calibration") or {}
        got = (run.info.get("config") or {}).get("validator")
        print(f"  trained for {version} (run.json: {got}): {step} steps in {seconds:.0f} s "
              f"({reason}); calibration vol x{cal.get('vol_scale', 1):.3f}, "
              f"drift x{cal.get('drift_shrink', 1):g} (val {cal.get('val_score_before', math.nan):.1f} -> "
              f"{cal.get('val_score_after', math.nan):.1f})")
    return ids, secs


def parts(results: list) -> tuple:
    """Per-origin (origin x model) tables of the total, the price part and the vol part (valid forecasts)
    over backtests of the same origins."""
    import polars as pl

    from synthwb.scoring.synth import VOL_KIND

    po = pl.concat([r.per_origin.select("origin", "model", "total", "valid") for r in results]).filter(pl.col("valid"))
    terms = pl.concat([r.terms.select("origin", "model", "kind", "score") for r in results])
    total = po.pivot(on="model", index="origin", values="total").drop_nulls().sort("origin")
    vol = (terms.filter(pl.col("kind") == VOL_KIND).group_by(["origin", "model"]).agg(pl.col("score").sum())
           .pivot(on="model", index="origin", values="score"))
    price = (terms.filter(pl.col("kind") != VOL_KIND).group_by(["origin", "model"]).agg(pl.col("score").sum())
             .pivot(on="model", index="origin", values="score"))
    keep = total.select("origin")
    vol = keep.join(vol, on="origin", how="left").fill_null(0.0).sort("origin")
    price = keep.join(price, on="origin", how="left").sort("origin")
    return total, price, vol


def rows_of(results: list, fit_s: dict, labels: dict) -> tuple[list[dict], dict]:
    from synthwb.evaluate.compare import dm_test

    total, price, vol = parts(results)
    models = [c for c in total.columns if c != "origin"]
    for m in models:  # the parts add up to the total the scorer reports
        gap = np.abs(price[m].to_numpy() + vol[m].to_numpy() - total[m].to_numpy()).max()
        if gap > 1e-6 * max(1.0, float(total[m].abs().max())):
            raise SystemExit(f"{m}: price + vol parts differ from the total by {gap:g}")
    spacing = (np.median(np.diff(total["origin"].to_numpy()).astype("timedelta64[s]").astype(float))
               if total.height > 1 else 1.0)
    lag = max(1, int(math.ceil(results[0].task.horizon_seconds / max(spacing, 1.0))))
    gbm = total["gbm"].to_numpy()
    summ = {r["model"]: r for res in results for r in res.summary().to_dicts()}
    rows = []
    for m in models:
        v = total[m].to_numpy()
        rows.append({"model": m, "label": labels.get(m, m), "n": len(v), "mean": float(v.mean()),
                     "price": float(price[m].to_numpy().mean()), "vol": float(vol[m].to_numpy().mean()),
                     "vs_gbm": float(v.mean() / gbm.mean()), "coverage_90": summ.get(m, {}).get("coverage_90"),
                     "dm_p": dm_test(v - gbm, h=lag)[1] if m != "gbm" else math.nan,
                     "train_s": next((s for r, s in fit_s.items() if m == r or m.startswith(f"{r} (")), None)})
    return sorted(rows, key=lambda r: r["mean"]), {"total": total, "price": price, "vol": vol, "lag": lag}


def pairwise(tabs: dict, a: str, b: str) -> list[dict]:
    """DM of ``a`` against ``b`` (mean of a - b, CI, p) on the total, the price part and the vol part."""
    from synthwb.evaluate.compare import dm_test

    out = []
    for part in ("total", "price", "vol"):
        d = tabs[part][a].to_numpy() - tabs[part][b].to_numpy()
        stat, p, lo, hi, _ = dm_test(d, h=tabs["lag"])
        out.append({"part": part, "mean_a": float(tabs[part][a].to_numpy().mean()),
                    "mean_b": float(tabs[part][b].to_numpy().mean()), "diff": float(d.mean()),
                    "ci": (float(lo), float(hi)), "rel": float(d.mean() / tabs[part][b].to_numpy().mean()),
                    "dm": float(stat), "p": float(p)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", help="lake (default: a fresh demo lake in a temp dir)")
    ap.add_argument("--asset-class", default="crypto")
    ap.add_argument("--symbol", default="BTC")
    ap.add_argument("--freq", default="1min", help="bar size of the features (default 1min: the 1h task's step)")
    ap.add_argument("--origins", type=int, default=200)
    ap.add_argument("--epochs", type=int, help="default: the train command's default")
    ap.add_argument("--years", type=float, default=2.0, help="demo lake length")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classical", default=CLASSICAL, help="classical models, model[:dist] comma-separated ('' for none)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a training setting (TrainConfig field) of both runs; default: none")
    ap.add_argument("--quick", action="store_true", help="harness check: 1 epoch, 20 origins, garch only")
    ap.add_argument("--workers", type=int, default=1, help=(
        "processes: >1 trains the two runs and backtests the classical models side by side, one torch thread "
        "each (scores unchanged; on a shared machine it avoids thread oversubscription; the seconds are then "
        "those of parallel work)"))
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args()
    if args.workers > 1:
        os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if args.quick:
        args.epochs, args.origins = args.epochs or 1, min(args.origins, 20)
        if args.classical == CLASSICAL:
            args.classical = "garch:t"
    overrides = {k: json.loads(v) if v[:1] in "0123456789-.[{tfn" else v
                 for k, v in (kv.split("=", 1) for kv in args.set)}
    tmp = Path(tempfile.mkdtemp(prefix="synthwb-volterm-"))
    store = tmp / "store"
    t = time.perf_counter()
    root = Path(args.root) if args.root else demo_lake(tmp, args.years, args.seed)
    print(f"lake {root} ({time.perf_counter() - t:.0f} s); 1h task scored under validator {SCORED_WITH}; "
          f"store {store}")

    from synthwb.evaluate.backtest import run_backtest

    ids, train_s = train_runs(root, store, args.asset_class, args.symbol, args.freq, args.seed, args.epochs, overrides,
                              args.workers)
    fitted = fit_classical_runs(root, store, args.asset_class, args.symbol, args.freq,
                                [c for c in args.classical.split(",") if c])
    t = time.perf_counter()
    res = run_backtest({"models": [ids["2026-09"], ids["2026-05"]], "task": "1h", "validator": SCORED_WITH,
                        "n_origins": args.origins, "seed": args.seed, "uncalibrated": True}, root=root, store=store)
    print(f"  backtest: {len(res.origins)} origins {res.origins[0]:%Y-%m-%d} .. {res.origins[-1]:%Y-%m-%d} "
          f"in {time.perf_counter() - t:.0f} s; in-sample origins: {res.meta.get('n_in_sample', 0)}; "
          f"scored with validator {res.spec.validator}")
    t = time.perf_counter()
    jobs = [(rid, list(res.origins), args.seed, root, store) for rid in fitted]
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(args.workers, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
            results = [res, *ex.map(_backtest_one, jobs)]
    else:
        results = [res, *map(_backtest_one, jobs)]
    if jobs:
        print(f"  classical backtests on the same origins: {time.perf_counter() - t:.0f} s")
    labels = {}
    for version, rid in ids.items():
        what = "vol term in the loss" if version == "2026-09" else "no vol term in the loss"
        labels[rid] = f"run trained for {version} ({what})"
        labels[f"{rid} (uncalibrated)"] = f"run trained for {version}, uncalibrated"
    for rid, spec in zip(fitted, [c for c in args.classical.split(",") if c]):
        labels[rid] = f"classical {spec} (fit)"
    rows, tabs = rows_of(results, {**train_s, **fitted}, labels)

    print(f"\n{'model':<52} {'n':>4} {'total':>8} {'price':>8} {'vol':>7} {'vs gbm':>7} {'cov90':>6} "
          f"{'DM p':>8} {'train s':>8}")
    for r in rows:
        cov = f"{r['coverage_90']:.3f}" if r["coverage_90"] is not None else "-"
        p = f"{r['dm_p']:.2g}" if not math.isnan(r["dm_p"]) else "-"
        ts = f"{r['train_s']:.0f}" if r["train_s"] else ""
        print(f"{r['label'][:52]:<52} {r['n']:>4} {r['mean']:>8.1f} {r['price']:>8.1f} {r['vol']:>7.1f} "
              f"{r['vs_gbm']:>7.3f} {cov:>6} {p:>8} {ts:>8}")
    a, b = ids["2026-09"], ids["2026-05"]
    pair = pairwise(tabs, a, b) + [dict(x, part=f"{x['part']} (uncalibrated)") for x in
                                   pairwise(tabs, f"{a} (uncalibrated)", f"{b} (uncalibrated)")]
    print(f"\ntrained with the vol term (2026-09) minus without (2026-05), scored under {SCORED_WITH}, "
          f"{tabs['total'].height} shared origins, DM lag {tabs['lag']}:")
    print(f"{'part':<24} {'with':>8} {'without':>8} {'diff':>8} {'rel':>7} {'95% CI':>18} {'DM p':>8}")
    for x in pair:
        ci = f"[{x['ci'][0]:.2f}, {x['ci'][1]:.2f}]"
        print(f"{x['part']:<24} {x['mean_a']:>8.1f} {x['mean_b']:>8.1f} {x['diff']:>8.2f} {x['rel']:>+7.2%} "
              f"{ci:>18} {x['p']:>8.2g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "pairwise": pair, "runs": ids,
                                               "origins": [o.isoformat() for o in res.origins]},
                                              indent=1, default=str))


if __name__ == "__main__":
    main()
