"""`synthwb runs list | show RUN | delete RUN [--yes] | rename RUN NEW` (../shared/DESIGN.md §7)."""
from __future__ import annotations

import sys

from synthwb.cli import Result, count_arg, table


def add_commands(sub, common) -> None:
    p = sub.add_parser("runs", help="saved training runs in models_store")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    q = rsub.add_parser("list", parents=[common], help="list runs, newest first")
    q.set_defaults(func=_list)

    q = rsub.add_parser("show", parents=[common], help="a run's config, status, best metrics")
    q.add_argument("run", help="run id")
    q.add_argument("--metrics", type=count_arg, default=5, help="last N metric rows to show (default 5)")
    q.set_defaults(func=_show)

    q = rsub.add_parser("delete", parents=[common], help="delete a run folder")
    q.add_argument("run", help="run id")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    q.add_argument("--force", action="store_true", help="delete even if the run looks active")
    q.set_defaults(func=_delete)

    q = rsub.add_parser("rename", parents=[common], help="rename a run (its folder)")
    q.add_argument("run", help="run id")
    q.add_argument("new", help="new name (becomes a slug)")
    q.set_defaults(func=_rename)


def _list(args) -> Result:
    from synthwb.store.runs import list_runs

    rows = list_runs(args.store)
    cols = ["run_id", "status", "model", "featureset", "symbol", "freq", "step", "best_val_score", "best_val_crps",
            "created"]
    # a stopped run that backtest/compare score from its best weights says so in its status
    shown = [{**r, "status": r["label"] if r.get("usable") and r.get("label") != r.get("status") else r["status"]}
             for r in rows]
    broken = [f"broken: {r['run_id']}: {r['error']}; fix or delete that folder" for r in rows if r.get("broken")]
    return Result(rows, "\n".join([table(shown, cols), *broken]))


def _show(args) -> Result:
    from synthwb.store.runs import load_run

    run = load_run(args.run, args.store)
    info = {k: v for k, v in run.info.items() if k not in ("featureset", "traceback")}
    metrics = run.metrics
    data = {"run": info, "summary": run.summary(), "metrics_tail": metrics[-args.metrics:] if args.metrics else [],
            "files": sorted(p.name for p in run.path.iterdir())}
    s = run.summary()
    lines = [f"run {run.run_id}  ({run.name})", f"status     {s['label'] if s['usable'] else s['status']}"
             + (f"  ({run.info.get('stop_reason')})" if run.info.get("stop_reason") else "")]
    lines.append(f"model      {s['model']}  params={s['n_params']}")
    lines.append(f"features   {s['featureset']}  {s['symbol']} {s['freq']}")
    cfg = run.info.get("config") or {}
    lines.append("config     " + ", ".join(f"{k}={cfg.get(k)}" for k in
                                          ("epochs", "batch_size", "lr", "loss", "schedule", "n_paths_train", "device")))
    lines.append(f"progress   step {s['step']} epoch {s['epoch']}")
    lines.append(f"best       val_score={s['best_val_score']} val_coverage_90={s['best_val_coverage_90']} "
                 f"val_crps={s['best_val_crps']} at step {s['best_step']}")
    cal = run.info.get("calibration") or {}
    if cal.get("n_windows"):
        lines.append(f"calibrated vol x{cal['vol_scale']:.4f}, drift x{cal['drift_shrink']:g} (validation score "
                     f"{cal['val_score_before']:.2f} -> {cal['val_score_after']:.2f}, {cal['n_windows']} windows)")
    from synthwb.train.gate import gate_text

    gated = gate_text(run.info.get("gate"))
    if gated:
        lines.append(f"gated      {gated}")
    if run.info.get("blend"):
        from synthwb.train.blend import blend_text

        lines.append(f"blended    {blend_text(run.info['blend'])}")
    if run.info.get("pool"):
        from synthwb.train.pool import pool_text

        lines.append(f"pooled     {pool_text(run.info['pool'])}")
    if run.error:
        lines.append(f"error      {run.error}")
    lines.append("files      " + ", ".join(data["files"]))
    return Result(data, "\n".join(lines))


def _delete(args) -> Result:
    from synthwb.core.errors import SpecError
    from synthwb.store.runs import delete_run, run_dir

    run_dir(args.run, args.store)  # NotFound before asking
    if not args.yes:
        if not sys.stdin.isatty():
            raise SpecError(f"refusing to delete run {args.run!r} without --yes (no terminal to ask)")
        answer = input(f"delete run {args.run!r}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            return Result({"deleted": None}, "not deleted")
    path = run_dir(args.run, args.store)
    target = path.resolve() if path.is_symlink() else None
    delete_run(args.run, args.store, force=args.force)
    if target is not None:
        return Result({"deleted": args.run, "link_target_kept": str(target)},
                      f"deleted {args.run} (a link: removed it from the store; its folder {target} was left as it is)")
    return Result({"deleted": args.run}, f"deleted {args.run}")


def _rename(args) -> Result:
    from synthwb.store.runs import rename_run

    new_id = rename_run(args.run, args.new, args.store)
    return Result({"run_id": new_id, "old": args.run}, f"renamed {args.run} -> {new_id}")
