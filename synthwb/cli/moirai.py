"""``synthwb moirai forecast | checkpoints`` and the ``synthwb train --moirai`` options (../shared/DESIGN.md §7).

Wiring (in ``synthwb/cli.py`` / ``synthwb/train/cli.py``):

- add ``"synthwb.cli.moirai"`` to ``AREAS`` (this module's :func:`add_commands`);
- in the ``train`` parser call :func:`add_train_options(p)`; in its handler, first
  ``if getattr(args, "moirai", None): return train_from_args(args)``.
"""
from __future__ import annotations


def add_commands(sub, common) -> None:
    p = sub.add_parser("moirai", parents=[common], help="Moirai foundation-model forecasts")
    msub = p.add_subparsers(dest="moirai_command", metavar="SUBCOMMAND", required=True)
    f = msub.add_parser("forecast", parents=[common], help="a zero-shot forecast at an origin (quantiles)")
    f.add_argument("--checkpoint", required=True, help="hub id (Salesforce/moirai-1.1-R-small, "
                   "Salesforce/moirai-2.0-R-small) or local folder")
    f.add_argument("--features", required=True, help="saved feature set (its symbol, bars and columns)")
    _spec_options(f)
    f.add_argument("--at", help="forecast origin (default: the last bar)")
    f.add_argument("--paths", type=int, help="number of paths (default: --samples)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--every", type=int, help="print every k-th step (default: about 12 rows)")
    f.set_defaults(func=_forecast)
    c = msub.add_parser("checkpoints", parents=[common], help="the known checkpoints and the capability table")
    c.set_defaults(func=_checkpoints)


def _spec_options(p) -> None:
    p.add_argument("--context", type=int, help="context length in bars (default 512)")
    p.add_argument("--horizon", type=int, help="prediction length in bars (default 288)")
    p.add_argument("--patch-size", dest="patch_size", help="a patch size of the model, or auto (default 32)")
    p.add_argument("--samples", type=int, help="samples per forecast (default 1000)")
    p.add_argument("--covariates", help="comma-separated past covariates: OHLCV and feature-set columns")
    p.add_argument("--target", choices=["close", "logret"], help="forecast close prices or log returns")


def add_train_options(p) -> None:
    """The ``synthwb train --moirai ID_OR_DIR`` options (call on the existing ``train`` parser;
    ``--context``/``--horizon``/``--epochs``/... are shared with path training when present)."""
    have = {a for action in p._actions for a in action.option_strings}

    def add(*names, **kw):
        if not any(n in have for n in names):
            p.add_argument(*names, **kw)

    add("--moirai", metavar="ID_OR_DIR", help="fine-tune a Moirai checkpoint (hub id or folder) instead")
    add("--finetune", choices=["full", "freeze_ffn", "head", "none"], help="Moirai: what trains (none: zero-shot run)")
    add("--context", type=int, help="context length (bars)")
    add("--horizon", type=int, help="horizon (bars)")
    add("--patch-size", dest="patch_size", help="Moirai patch size (fixed for fine-tuning)")
    add("--samples", type=int, help="Moirai samples per forecast")
    add("--covariates", help="Moirai past covariates, comma-separated")
    add("--target", choices=["close", "logret"], help="Moirai target")
    add("--epochs", type=int)
    add("--max-steps", type=int, dest="max_steps")
    add("--batch-size", type=int, dest="batch_size")
    add("--lr", type=float)
    add("--weight-decay", type=float, dest="weight_decay")
    add("--patience", type=int)
    add("--val-every", type=int, dest="val_every")
    add("--seed", type=int)
    add("--device", choices=["auto", "cpu", "cuda", "mps"])
    add("--resume", action="store_true", help="continue the run --name from its last checkpoint")
    add("--no-progress", action="store_true", help="no progress bar")


_SPEC_KEYS = ("context", "horizon", "patch_size", "samples", "covariates", "target")
_CFG_KEYS = ("epochs", "max_steps", "batch_size", "lr", "weight_decay", "patience", "val_every", "seed", "device")


def spec_from_args(args, checkpoint: str):
    from synthwb.moirai.forecast import MoiraiSpec

    return MoiraiSpec.parse({"checkpoint": checkpoint},
                            **{k: getattr(args, k, None) for k in _SPEC_KEYS})


def _forecast(args):
    from datetime import timedelta

    import numpy as np

    from synthwb.cli import Result, table
    from synthwb.core.errors import DataError, SpecError
    from synthwb.core.time import to_utc
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import load_featureset
    from synthwb.forecast.kinds import moirai_forecaster
    from synthwb.forecast.quantiles import QuantilePathForecaster
    from synthwb.moirai.forecast import quantile_summary

    fs = load_featureset(args.features, args.store)
    spec = spec_from_args(args, args.checkpoint)
    n = spec.samples if args.paths is None else int(args.paths)
    if not 2 <= n <= 20_000:
        raise SpecError(f"--paths must be 2..20000, got {n}")
    # Moirai 1.x samples paths; Moirai 2's quantiles go through the quantiles-to-paths layer
    pf = moirai_forecaster(spec, fs, root=args.root)
    f = pf.source if isinstance(pf, QuantilePathForecaster) else pf
    from synthwb.moirai.finetune import check_finite_checkpoint

    check_finite_checkpoint(f.module, spec.checkpoint)
    spec = f.spec
    sel = fs.sel
    at = to_utc(args.at, "--at") if args.at else None
    end = at + timedelta(seconds=f.step_seconds) if at is not None else None  # read_bars' end is exclusive
    bars = read_bars(Selection(sel.asset_class, sel.symbol, fs.freq, None, end), root=args.root)
    if at is not None:
        bars = bars.filter(bars["ts"] <= at)
    if bars.is_empty():
        raise DataError(f"no {fs.freq} bars of {sel.symbol} at or before {args.at or 'the end'}")
    origin = bars["ts"][-1]
    paths = pf.forecast(bars, [origin], spec.horizon, f.step_seconds, n_paths=n, seed=args.seed)[0]
    every = args.every or max(1, spec.horizon // 12)
    points = sorted({*range(0, spec.horizon + 1, every), spec.horizon})
    rows = quantile_summary(paths, f.step_seconds, points=points)
    data = {"checkpoint": spec.checkpoint, "family": f.family, "origin": str(origin), "t0": float(paths[0, 0]),
            "step_seconds": f.step_seconds, "n_paths": n, "spec": spec.model_dump(mode="json"),
            "token_budget": f.budget, "licence": f.info.get("licence"), "quantiles": rows,
            "final": {"median": float(np.median(paths[:, -1])),
                      "p05": float(np.quantile(paths[:, -1], 0.05)), "p95": float(np.quantile(paths[:, -1], 0.95))}}
    head = (f"Moirai {spec.checkpoint} · {sel.symbol} {fs.freq} · origin {origin} · t0 {paths[0, 0]:.6g} · "
            f"{n} paths x {spec.horizon} steps · {f.budget['tokens']} tokens"
            + (" · paths from its quantiles (synthwb.forecast.quantiles)" if pf is not f else ""))
    warn = f"\nwarning: {f.budget['warning']}" if f.budget["warning"] else ""
    return Result(data, head + warn + "\n" + table(rows, ["step", "seconds", "q05", "q25", "q50", "q75", "q95", "mean"]))


def _checkpoints(args):
    from synthwb.cli import Result, table
    from synthwb.moirai.checkpoints import catalogue
    from synthwb.moirai.versions import capabilities, installed_versions

    cat = catalogue()
    caps = capabilities()
    vers = installed_versions()
    rows = [{"id": c["id"], "family": c["family"], "params": c["params"], "forecast": c["forecast"],
             "finetune": c["finetune"], "licence": c["licence"]} for c in cat]
    text = (table(rows) + "\n\ninstalled: " + ", ".join(f"{k} {v or '-'}" for k, v in vers.items())
            + "\n\n" + table(caps, ["feature", "status", "reason"]))
    return Result({"checkpoints": cat, "capabilities": caps, "versions": vers}, text)


def train_from_args(args):
    """The ``synthwb train --name RUN --features F --moirai ID_OR_DIR [--finetune ...]`` handler."""
    from synthwb.cli import Result
    from synthwb.cli.progress import StepBar, run_stoppable
    from synthwb.core.errors import SpecError
    from synthwb.moirai.finetune import moirai_train

    cfg = {k: getattr(args, k) for k in _CFG_KEYS if getattr(args, k, None) is not None}
    if getattr(args, "pool", None):
        raise SpecError("--pool trains the workbench's networks on several symbols; a Moirai run fine-tunes on its "
                        "own feature set: drop --pool")
    if getattr(args, "finetune", None):
        cfg["finetune"] = args.finetune
    resume = bool(getattr(args, "resume", False))
    if resume:
        featureset = spec = None
    else:
        if not getattr(args, "features", None):
            raise SpecError("--features is required (the name of a saved feature set)")
        featureset, spec = args.features, spec_from_args(args, args.moirai)
    bar = StepBar(enabled=not getattr(args, "no_progress", False), val_keys=("val_loss",))
    res = run_stoppable(lambda stop: moirai_train(args.name, featureset, spec, cfg, store=args.store, root=args.root,
                                                  progress=bar, stop_event=stop, resume=resume), bar)
    b = res.best
    best = f"; best val NLL {b['val_loss']:.4f} at step {b.get('step')}" if b.get("val_loss") is not None else ""
    text = (f"run {res.run_id}: {res.status} at step {res.step}" + (f" ({res.stop_reason})" if res.stop_reason else "")
            + best + f"\nsaved in {res.path}")
    return Result(res.to_dict(), text)
