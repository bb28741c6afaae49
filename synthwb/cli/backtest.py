"""`synthwb backtest` (../shared/DESIGN.md §7).

    synthwb backtest --run RUN [--run RUN2] [--baseline gbm ...] [--task 24h|1h]
                     [--asset-class C --symbol S --freq F]   (required without --run)
                     [--start D] [--end D] [--origins N] [--every K] [--n-paths N] [--seed S]
                     [--csv OUT] [--json] [--spec FILE.json] [--no-save]
                     [--validator VERSION] [--cadence [--cadence-salt S] [--asset A]]

The page and this command build the same :class:`BacktestSpec` and call the same
``run_backtest``, so they print the same numbers for the same inputs.
"""
from __future__ import annotations

import argparse
import json

from synthwb.cli import Result, add_classical_arg, add_validator_arg, classical_value, table, task_arg
from synthwb.core.text import comma_list


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("backtest", parents=[common],
                       help="rolling backtest of runs and baselines with the Synth-style score")
    p.add_argument("--run", action="append", default=[], help="run id (repeat or comma-separate for several)")
    p.add_argument("--baseline", action="append", default=None,
                   help="baseline name (repeat or comma-separate; default: all of gbm, gbm_ewma, garch, bootstrap; "
                        "'none' for no baselines)")
    add_classical_arg(p)
    p.add_argument("--asset-class", dest="asset_class", help="data selection (default: the run's)")
    p.add_argument("--symbol", help="symbol; several comma-separated (BTC,ETH) run one backtest per asset")
    p.add_argument("--freq", help="timeframe the forecasters read (1min, 5min, ...)")
    p.add_argument("--task", default="24h",
                   help="Synth task preset 24h or 1h (default 24h), or a JSON file with a custom task "
                        '{"name", "step_seconds", "n_points", "intervals": [{"name", "seconds"}]}')
    p.add_argument("--start", help="first origin (UTC date or ISO time)")
    p.add_argument("--end", help="end of the test period: every scored horizon ends by it")
    p.add_argument("--origins", type=int, default=50, help="number of forecast origins (default 50)")
    p.add_argument("--every", type=int, default=None, help="origins every K bars instead of evenly spread")
    p.add_argument("--n-paths", dest="n_paths", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seasonality", type=int, default=1, help="MASE/MSIS seasonality in forecast steps")
    p.add_argument("--threshold-bps", dest="threshold_bps", type=float, default=0.0)
    p.add_argument("--cost-bps", dest="cost_bps", type=float, default=1.0)
    p.add_argument("--device", default="auto")
    p.add_argument("--spec", help="a BacktestSpec JSON file (command-line options are ignored)")
    p.add_argument("--csv", help="write per_origin/intervals/quantiles CSVs: a folder, or OUT.csv (+ OUT_intervals.csv, OUT_quantiles.csv)")
    p.add_argument("--no-save", dest="save", action="store_false", help="do not save the result beside the run")
    p.add_argument("--uncalibrated", action="store_true",
                   help="also score each calibrated run without its calibration and its blend with the classical "
                        "forecasters: the network alone (before / after)")
    add_validator_arg(p)
    p.add_argument("--cadence", action="store_true",
                   help="validator cadence: origins where the version's scored requests fall (one per asset and "
                        "hour for 24h, per 10 minutes for 1h; at most --origins of them) instead of evenly spread")
    p.add_argument("--cadence-salt", dest="cadence_salt", default="",
                   help="the salt of the md5 keeper rule (the live one is unknown; default empty)")
    p.add_argument("--asset", help="the validator's asset name for the cadence (default: from the symbol)")
    from synthwb.cli.backends import add_backend_args

    add_backend_args(p)
    p.set_defaults(func=_backtest)


def _names(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += comma_list(v)
    return out


def spec_from_args(args) -> BacktestSpec:  # noqa: F821
    """The BacktestSpec a set of CLI arguments stands for."""
    from synthwb.core.errors import SpecError
    from synthwb.core.io import read_json_file
    from synthwb.evaluate.backtest import BacktestSpec
    from synthwb.forecast.baselines import BASELINES

    if args.spec:
        return BacktestSpec.parse(read_json_file(args.spec, "backtest spec file"))
    runs = _names(args.run)
    if args.baseline is None:
        baselines = BASELINES.names()
    else:
        baselines = [b for b in _names(args.baseline) if b.lower() != "none"]
    sel_parts = (args.asset_class, args.symbol, args.freq)
    selection = None
    if any(sel_parts):
        if not all(sel_parts):
            raise SpecError("give --asset-class, --symbol and --freq together")
        selection = {"asset_class": args.asset_class, "symbol": args.symbol, "freq": args.freq}
    elif not runs:
        raise SpecError("give --run RUN, or --asset-class/--symbol/--freq for a baselines-only backtest")
    task = task_arg(args.task)
    return BacktestSpec.parse({
        "selection": selection, "task": task, "start": args.start, "end": args.end,
        "n_origins": args.origins, "every": args.every, "n_paths": args.n_paths, "seed": args.seed,
        "models": runs, "baselines": baselines, "seasonality": args.seasonality,
        "classical": classical_value(getattr(args, "classical", None)),
        "threshold_bps": args.threshold_bps, "cost_bps": args.cost_bps, "device": args.device,
        "uncalibrated": bool(getattr(args, "uncalibrated", False)),
        "validator": getattr(args, "validator", None), "cadence": bool(getattr(args, "cadence", False)),
        "cadence_salt": getattr(args, "cadence_salt", "") or "", "asset": getattr(args, "asset", None),
    })


def _symbols(args) -> list[str]:
    return comma_list(args.symbol)


def _backtests(args) -> Result:
    """One backtest per asset of ``--symbol A,B,...`` (or one on Ray), run by the chosen backend."""
    from synthwb.cli.backends import ray_options
    from synthwb.evaluate.backtest import save_beside_run
    from synthwb.evaluate.export import write_csvs
    from synthwb.research.backend import run_backtests

    symbols = _symbols(args) or [None]
    specs = []
    for sym in symbols:
        args_one = argparse.Namespace(**{**vars(args), "symbol": sym})
        specs.append(spec_from_args(args_one))
    results = run_backtests(specs, root=args.root, store=args.store, backend=args.backend, ray=ray_options(args))
    docs, lines, files = [], [], []
    for spec, result in zip(specs, results):
        sel = result.selection
        saved = str(save_beside_run(result, spec.models[0], store=args.store)) if args.save and spec.models else None
        out = []
        if args.csv:
            from pathlib import Path

            out = [str(p) for p in write_csvs(result, Path(args.csv) / sel["symbol"] if len(specs) > 1 else args.csv)]
        files += out
        d = result.to_dict()
        d.update(saved=saved, files=out)
        docs.append(d)
        summ = result.summary()
        cols = [c for c in ("rank", "model", "mean_score", "n_origins", "n_invalid", "vs_best_baseline", "coverage_90")
                if c in summ.columns]
        lines += [f"backtest {result.task.name} on {sel['asset_class']}/{sel['symbol']} {sel['freq']}, scored with "
                  f"validator {result.validator_label}: "
                  f"{len(result.origins)} origins, {result.meta['elapsed_s']:.1f} s ({args.backend})",
                  table(summ.select(cols).to_dicts(), cols)]
        lines += ([f"saved: {saved}"] if saved else []) + [f"wrote {f}" for f in out]
    return Result(json.loads(json.dumps({"backtests": docs}, default=str)), "\n".join(lines), files)


def _backtest(args) -> Result:
    import polars as pl

    from synthwb.cli.backends import ray_options

    ray_options(args)  # --ray-address without --backend ray is refused
    if args.backend != "local" or len(_symbols(args)) > 1:
        return _backtests(args)
    from synthwb.evaluate.backtest import run_backtest, save_beside_run
    from synthwb.evaluate.export import write_csvs

    if args.csv:  # an output path that cannot be written is refused before the backtest runs
        from synthwb.core.io import check_writable

        check_writable(args.csv, "--csv")
    spec = spec_from_args(args)
    result = run_backtest(spec, root=args.root, store=args.store)
    files: list[str] = []
    saved = None
    if args.save and spec.models:
        saved = str(save_beside_run(result, spec.models[0], store=args.store))
    if args.csv:
        files = [str(p) for p in write_csvs(result, args.csv)]
    data = result.to_dict()
    data["saved"] = saved
    data["files"] = files
    summ = result.summary()
    cols = [c for c in ("rank", "model", "kind", "mean_score", "median_score", "n_origins", "n_invalid",
                        "n_refused", "vs_best_baseline", "wQL", "coverage_90", "directional_accuracy") if c in summ.columns]
    if summ["note"].str.len_chars().max():
        cols.append("note")  # e.g. "interrupted, best weights at step 40"
    sel = result.selection
    lines = [
        f"backtest {result.task.name} on {sel['asset_class']}/{sel['symbol']} {sel['freq']}, scored with validator "
        f"{result.validator_label}: "
        f"{len(result.origins)} origins {result.origins[0]:%Y-%m-%d %H:%M} .. {result.origins[-1]:%Y-%m-%d %H:%M} UTC, "
        f"{spec.n_paths} paths, seed {spec.seed}",
        table(summ.select(cols).to_dicts(), cols),
        f"realised data: {result.meta['realised_freq']} bars, coverage {result.meta['realised_coverage']:.1%}; "
        f"{result.meta['elapsed_s']:.1f} s",
    ]
    cad = result.meta.get("cadence")
    if cad:
        lines.append(f"validator cadence: {cad['n_scored_requests']} scored {cad['asset']} requests of "
                     f"{cad['n_requests']} in the period (one per {cad['bucket_seconds'] // 60} min, keeper "
                     f"{cad['keeper']}{', salt ' + repr(cad['salt']) if cad['salt'] else ''}); {cad['n_origins']} "
                     f"origins" + (f", {cad['n_shifted']} replayed up to {cad['max_shift_s']} s earlier (bar "
                                   "lattice)" if cad["n_shifted"] else ""))
    refused = result.per_origin.filter(pl.col("validator").fill_null("") != "")
    if refused.height:
        first = refused.row(0, named=True)
        lines.append(f"the validator would refuse {refused.height} of {result.per_origin.height} forecasts once exported "
                     f"(column validator in per_origin), e.g. {first['model']} at {first['origin']:%Y-%m-%d %H:%M}: "
                     f"{first['validator']}")
    if result.meta.get("n_in_sample"):
        lines.append(f"warning: {result.meta['n_in_sample']} of {len(result.origins)} origins lie before "
                     f"{result.meta['unseen_from']} (inside a run's training or validation split): in-sample scores, "
                     "marked in_sample in per_origin")
    for name, why in (result.meta.get("left_out") or {}).items():
        lines.append(f"left out: {name}: {why}")
    if saved:
        lines.append(f"saved: {saved}")
    lines += [f"wrote {f}" for f in files]
    return Result(json.loads(json.dumps(data, default=str)), "\n".join(lines), files)
