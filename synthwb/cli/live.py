"""`synthwb live start|stop|status`: a forward test on the validator's cadence (issue 25).

    synthwb live start --name N [--runs A,B] [--baselines gbm,...] [--competition KEY]
                       [--validator V] [--assets BTC,ETH] [--clock wall|simulated]
                       [--start T] [--end T] [--speed X] [--update] [--detach]
    synthwb live stop   --name N
    synthwb live status [--name N]

``start`` runs in the foreground (Ctrl-C stops it; `live stop` from another shell too) or,
with ``--detach``, in a background process whose output goes to the test's ``log`` file. A
name that exists resumes from its state on disk (spec options must then be left out or equal).
``status`` prints every test, or one test's rolling scores per model and a warning where a run
falls behind a baseline.
"""
from __future__ import annotations

import argparse


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    from synthwb.cli import add_validator_arg

    p = sub.add_parser("live", help="forward test on the validator's cadence: start | stop | status")
    lsub = p.add_subparsers(dest="live_command", metavar="ACTION", required=True)
    s = lsub.add_parser("start", parents=[common], help="start (or resume) a forward test")
    s.add_argument("--name", required=True, help="the forward test's name (its folder under the store's _live/)")
    s.add_argument("--runs", default=None, help="saved runs, comma-separated")
    s.add_argument("--baselines", default=None, help="baselines, comma-separated (default: gbm)")
    s.add_argument("--competition", default=None, help="competition key (default: the version's 1h one)")
    add_validator_arg(s, "forecasts and scores")
    s.add_argument("--assets", default=None, help="validator asset names (default: the competition's in the lake)")
    s.add_argument("--asset-class", dest="asset_class", default=None)
    s.add_argument("--freq", default=None, help="bars the forecasters read (default 1min)")
    s.add_argument("--n-paths", dest="n_paths", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--clock", choices=["wall", "simulated"], default=None)
    s.add_argument("--start", default=None, help="first request time (simulated clock)")
    s.add_argument("--end", default=None, help="requests before this time only")
    s.add_argument("--speed", type=float, default=None,
                   help="simulated seconds per wall second (0: as fast as possible)")
    s.add_argument("--update", action="store_true", default=None,
                   help="`data update` the fetched series before forecasting (wall clock)")
    s.add_argument("--detach", action="store_true", help="run in a background process")
    s.add_argument("--spec-file", dest="spec_file", default=None, help=argparse.SUPPRESS)
    s.set_defaults(func=_start)
    t = lsub.add_parser("stop", parents=[common], help="stop a running forward test")
    t.add_argument("--name", required=True)
    t.add_argument("--wait", type=float, default=30.0, help="seconds to wait for it to stop")
    t.set_defaults(func=_stop)
    u = lsub.add_parser("status", parents=[common], help="every forward test, or one test's rolling scores")
    u.add_argument("--name", default=None)
    u.set_defaults(func=_status)


_SPEC_ARGS = ("runs", "baselines", "competition", "validator", "assets", "asset_class", "freq", "n_paths", "seed",
              "clock", "start", "end", "speed", "update")


def _spec(args) -> dict | None:
    given = {k: getattr(args, k) for k in _SPEC_ARGS if getattr(args, k) is not None}
    if not given:
        return None
    out = {"name": args.name, **{k: v for k, v in given.items() if k not in ("runs", "update")}}
    if "runs" in given:
        out["models"] = given["runs"]
    if "update" in given:
        out["update_feeds"] = True
    return out


def _start(args):
    import os
    import subprocess
    import sys

    from synthwb.cli import Result
    from synthwb.live.engine import run_live
    from synthwb.live.spec import LiveSpec
    from synthwb.live.state import live_folder

    folder = live_folder(args.name, args.store, create=True)
    spec = _spec(args)
    if spec is None and not folder.exists():
        spec = {"name": args.name}
    if spec is not None:
        spec = LiveSpec.parse(spec).model_dump(mode="json")  # a bad option fails here, in the foreground
    if spec is not None and folder.exists() and spec != folder.spec().model_dump(mode="json"):
        from synthwb.core.errors import SpecError

        raise SpecError(f"forward test {args.name!r} exists with another spec; resume it with "
                        f"`synthwb live start --name {args.name}` alone, or pick another name")
    if args.detach:
        held = folder.holder()
        if held is not None:
            from synthwb.core.errors import SpecError

            raise SpecError(f"forward test {args.name!r} is already running (pid {held.get('pid')})")
        folder.path.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "synthwb", "live", "start", "--name", args.name]
        if args.root:
            cmd += ["--root", str(args.root)]
        if args.store:
            cmd += ["--store", str(args.store)]
        if spec is not None and not folder.exists():
            import json

            spec_file = folder.path / "spec.json"
            spec_file.write_text(json.dumps(spec))
            cmd += ["--spec-file", str(spec_file)]
        with open(folder.path / "log", "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                    env=os.environ.copy())
        return Result({"name": args.name, "pid": proc.pid, "detached": True, "log": str(folder.path / "log")},
                      f"forward test {args.name} runs in the background (pid {proc.pid}); "
                      f"`synthwb live status --name {args.name}`, `synthwb live stop --name {args.name}`")
    if getattr(args, "spec_file", None):
        import json

        spec = json.loads(open(args.spec_file).read())

    def note(fraction=None, metrics=None, message=None):
        if message and sys.stderr.isatty():
            sys.stderr.write(f"\r{message}   ")
            sys.stderr.flush()

    try:
        res = run_live(args.name, spec, root=args.root, store=args.store, owner="cli", progress=note)
    except KeyboardInterrupt:
        folder.set_desired("stopped")
        raise
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    return _status_result(args.name, args.store, extra=res.to_dict())


def _stop(args):
    from synthwb.cli import Result
    from synthwb.live.state import live_folder

    folder = live_folder(args.name, args.store)
    state = folder.read()
    was = folder.holder()
    folder.ask_stop()
    stopped = folder.wait_released(args.wait) if was else True
    text = (f"forward test {args.name} stopped" if was and stopped else
            f"asked forward test {args.name} to stop; it is still finishing a step" if was else
            f"forward test {args.name} was not running; it will not be resumed")
    return Result({"name": args.name, "was_running": was is not None, "stopped": stopped,
                   "n_scored": sum(r["status"] == "scored" for r in state["requests"].values())}, text)


def _status_result(name, store, extra=None):
    from synthwb.cli import Result, table
    from synthwb.live.report import summary
    from synthwb.live.state import live_folder

    folder = live_folder(name, store)
    data = summary(folder)
    if extra:
        data["result"] = extra
    lines = [f"{name}: {'running' if data['running'] else data['status']} · {data['clock']} clock · "
             f"{data['competition']} ({data['validator']}) · now {data['now']} · {data['n_scored']} scored, "
             f"{data['n_pending']} pending, {data['n_dropped']} dropped"]
    if data["rolling"]:
        rows = [{"model": r["model"], "kind": r["kind"],
                 "rolling score": round(r["rolling_score"], 2) if r["rolling_score"] is not None else None,
                 "requests": r["n_requests"], "invalid": r["n_invalid"],
                 "cov50": round(r["coverage_50"], 3) if r["coverage_50"] is not None else None,
                 "cov90": round(r["coverage_90"], 3) if r["coverage_90"] is not None else None}
                for r in data["rolling"]]
        lines.append(table(rows))
    lines += [f"warning: {w}" for w in data["warnings"]]
    if data.get("error"):
        lines.append(f"error: {data['error']}")
    return Result(data, "\n".join(lines))


def _status(args):
    from synthwb.cli import Result
    from synthwb.live.state import list_live

    if args.name:
        return _status_result(args.name, args.store)
    rows = []
    for folder in list_live(args.store):
        try:
            rows.append(folder.status())
        except Exception as exc:  # noqa: BLE001 - one unreadable test must not hide the others
            rows.append({"name": folder.name, "error": str(exc)})
    if not rows:
        return Result([], "no forward test yet (`synthwb live start --name NAME`)")
    text = "\n".join(f"{r['name']}: {'running' if r.get('running') else r.get('status')} · {r.get('clock')} · "
                     f"{r.get('n_scored', 0)} scored, {r.get('n_pending', 0)} pending · now {r.get('now')}"
                     if "error" not in r or r.get("status") else f"{r['name']}: {r['error']}" for r in rows)
    return Result(rows, text)
