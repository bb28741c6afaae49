"""`synthwb train --name RUN --features N (--spec SPEC.json | --preset P) ...` (../shared/DESIGN.md §7).

Runs the same loop as the Train page, headless, with a tqdm progress bar on stderr. The
first Ctrl-C stops cooperatively (the run is saved as ``interrupted`` and can be resumed
with ``--resume``); a second one aborts.
"""
from __future__ import annotations

from synthwb.core.text import comma_list


def add_commands(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="train a path model on a saved feature set")
    p.add_argument("--name", required=True, help="run name (a unique run id is made from it); with --resume the run id")
    p.add_argument("--features", help="saved feature set name (not needed with --resume)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--spec", help="model spec: a JSON file or a saved spec name")
    g.add_argument("--preset", help="model preset (see `synthwb models presets`; default: the recommended one)")
    p.add_argument("--context", type=int, help="context length for a preset (bars)")
    p.add_argument("--horizon", type=int, help="horizon for a preset in path steps (default: the target task's)")
    p.add_argument("--task", help='the task the run targets: 24h (default), 1h, or a task JSON file (loss, '
                                  'validation and calibration use it)')
    p.add_argument("--config", help="training config JSON file (options below override it)")
    from synthwb.cli import add_validator_arg

    add_validator_arg(p, "trains for (its task's terms, the 1h volatility term in the loss)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, dest="max_steps")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float, dest="weight_decay")
    p.add_argument("--loss", choices=["crps", "afcrps", "synth"])
    p.add_argument("--alpha", type=float)
    p.add_argument("--schedule", choices=["cosine", "cosine_restarts", "constant"])
    p.add_argument("--warmup-steps", type=int, dest="warmup_steps")
    p.add_argument("--n-paths", type=int, dest="n_paths_train", help="paths per sample while training")
    p.add_argument("--n-paths-eval", type=int, dest="n_paths_eval")
    p.add_argument("--patience", type=int)
    p.add_argument("--val-every", type=int, dest="val_every")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--amp", action="store_true", default=None, help="mixed precision (CUDA only)")
    p.add_argument("--tensorboard", action="store_true", default=None, help="write TensorBoard events to <run>/tb")
    p.add_argument("--space", choices=["relative", "logret"])
    p.add_argument("--num-workers", type=int, dest="num_workers")
    p.add_argument("--devices", type=int, help="train on N local processes with DDP (gloo on cpu, one GPU each on "
                                             "cuda); batch size is per process. Under torchrun leave it out")
    p.add_argument("--pool", type=comma_list, help=(
        "pool training with these saved feature sets of other symbols (comma-separated; same bar size and "
        "features): their windows up to the end of this run's training split are added to its training"))
    p.add_argument("--drift", choices=["learned", "zero"], help=(
        "learned (default): the head's price drift, shrunk on the validation split; zero: martingale paths (the "
        "learned drift dropped after training; the blend's classical partners keep their own zero drift)"))
    p.add_argument("--no-blend", action="store_false", dest="blend", default=None, help=(
        "no blend with the classical forecasters after the calibration (default: mix them in, weights fitted on "
        "the validation split; see the README's Forecast quality)"))
    p.add_argument("--no-gate", action="store_false", dest="gate", default=None, help=(
        "keep the trained weights even when they do not beat the untrained classical anchor on the validation "
        "split beyond noise (default: the run then forecasts with its anchor)"))
    p.add_argument("--resume", action="store_true", help="continue the run --name from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--profile", choices=["recommended", "quick"], help=(
        "a training length to start from: recommended (the defaults, as measured in the README) or quick "
        "(100 steps: a first scored model in about half a minute on a CPU); options given override it"))
    p.add_argument("--estimate", action="store_true", help=(
        "time a few real steps, a validation batch and the calibration on this machine, print the steps and "
        "seconds the run would take, and exit without training (no run folder)"))
    from synthwb.cli.moirai import add_train_options  # --moirai, --finetune and the fine-tune settings

    add_train_options(p)
    p.set_defaults(func=_train)


_CONFIG_KEYS = ("gate", "blend", "drift", "pool", "epochs", "max_steps", "batch_size", "lr", "weight_decay", "loss", "alpha", "schedule",
                "warmup_steps", "n_paths_train", "n_paths_eval", "patience", "val_every", "seed", "device",
                "amp", "tensorboard", "space", "num_workers")


def _is_moirai(args) -> bool:
    """``--moirai``, or ``--resume`` of a run that is a Moirai run."""
    if getattr(args, "moirai", None):
        return True
    if not args.resume:
        return False
    from synthwb.store import runs

    return runs.load_run(args.name, args.store).kind == "moirai"


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0") or 0)


def _train(args):
    if getattr(args, "moirai", None) is not None and not str(args.moirai).strip():
        from synthwb.core.errors import SpecError

        raise SpecError("--moirai is empty: give a checkpoint, a catalogue id (see `synthwb moirai checkpoints`) or "
                        "a local checkpoint folder; leave --moirai out to train a path model")
    if (args.estimate or args.profile) and (args.resume or getattr(args, "moirai", None)):
        from synthwb.core.errors import SpecError

        flag = "--estimate" if args.estimate else "--profile"
        raise SpecError(f"{flag} applies to a new path-model run; drop it with "
                        f"{'--resume' if args.resume else '--moirai'} (set --epochs or --max-steps instead)")
    if _is_moirai(args):
        from synthwb.core.errors import SpecError
        from synthwb.train.distributed import env_world_size

        if (args.devices or 1) != 1 or env_world_size() > 1:
            raise SpecError("Moirai fine-tuning runs on one process: drop --devices (and torchrun)")
        from synthwb.cli.moirai import train_from_args

        return train_from_args(args)
    from synthwb.cli import Result, task_arg
    from synthwb.cli.progress import StepBar, run_stoppable
    from synthwb.core.errors import SpecError
    from synthwb.core.io import read_json_file
    from synthwb.train.config import TrainConfig
    from synthwb.train.loop import train

    base: dict = read_json_file(args.config, "training config") if args.config else {}
    overrides = {k: getattr(args, k) for k in _CONFIG_KEYS if getattr(args, k) is not None}
    if args.resume:
        if getattr(args, "validator", None):
            raise SpecError("a resumed run keeps the validator version it trains for: drop --validator")
        config = {**base, **overrides}
        featureset = model_spec = None
    else:
        if not args.features:
            raise SpecError("--features is required (the name of a saved feature set)")
        if args.task:
            overrides["synth_task"] = task_arg(args.task)
        if getattr(args, "validator", None):
            overrides["validator"] = args.validator
        if args.profile:
            from synthwb.train.config import profile_overrides

            base = {**base, **profile_overrides(args.profile)}
        config = TrainConfig.parse(base, **overrides)
        if not (args.spec or args.preset):
            from synthwb.models import recommended_preset

            args.preset = recommended_preset()
        featureset, model_spec = args.features, args.spec or args.preset
        if args.estimate:
            import dataclasses

            from synthwb.train.estimate import estimate_training, process_age

            started = process_age()  # this command's start and imports: `train` pays them again
            est = estimate_training(featureset, model_spec, config, store=args.store, root=args.root,
                                    context=args.context, horizon=args.horizon)
            est = dataclasses.replace(est, startup_s=started)
            return Result(est.to_dict(), f"estimate for run {args.name!r}: {est.text()}")

    from synthwb.train.distributed import env_world_size

    bar = StepBar(enabled=not args.no_progress)
    if args.devices is not None and args.devices != 1 and env_world_size() <= 1:  # launch the DDP processes here
        from synthwb.train.launch import train_on_devices

        info = run_stoppable(lambda stop: train_on_devices(
            args.devices, args.name, featureset, model_spec, config, store=args.store, root=args.root,
            resume=args.resume, context=args.context, horizon=args.horizon, progress=bar, stop_event=stop), bar)
    else:
        info = run_stoppable(lambda stop: train(args.name, featureset, model_spec, config, store=args.store,
                                                root=args.root, progress=bar, stop_event=stop, resume=args.resume,
                                                context=args.context, horizon=args.horizon), bar)
    if _rank() != 0:  # under torchrun rank 0 reports
        args.json = False
        return Result(None, "")
    d = info.to_dict()
    b = info.best
    best = (f"; best at step {b.get('step')}: val score {b['val_score']:.1f}, 90% coverage {b['val_coverage_90']:.3f}"
            if b.get("val_score") is not None else
            f"; best val loss {b['val_loss']:.4f} at step {b.get('step')}" if b.get("val_loss") is not None else "")
    from synthwb.store import runs

    run_info = runs.read_info(info.run_id, args.store)
    cal = run_info.get("calibration") or {}
    version = ((run_info.get("config") or {}).get("validator") or (run_info.get("training") or {}).get("validator"))
    calib = (f"\ncalibration (validation split): vol x{cal['vol_scale']:.3f}, drift x{cal['drift_shrink']:g}, "
             f"val score {cal['val_score_before']:.1f} -> {cal['val_score_after']:.1f}" if cal.get("n_windows") else "")
    from synthwb.train.gate import gate_text

    gated = gate_text(run_info.get("gate"))
    if gated:
        calib += "\n" + gated
    if run_info.get("blend"):
        from synthwb.train.blend import blend_text

        calib += "\n" + blend_text(run_info["blend"])
    if run_info.get("pool"):
        from synthwb.train.pool import pool_text

        calib += "\n" + pool_text(run_info["pool"])
    text = (f"run {info.run_id}: {info.status} at step {info.step}"
            + (f" ({info.stop_reason})" if info.stop_reason else "")
            + (f", trained for validator {version}" if version else "") + best + calib
            + f"\nsaved in {info.path}")
    return Result(d, text)
