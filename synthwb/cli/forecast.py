"""`synthwb forecast` (../shared/DESIGN.md §7): one validator-format response from a saved run.

    synthwb forecast --run RUN [--at TIME] --task 24h|1h --out FILE.json
                     [--n-paths 1000] [--seed S] [--device D] [--validator VERSION]

The request is made at ``--at`` (default: the close of the run's last stored bar). Its start
time is the validator version's (next minute + 60 s; under 2026-09 the next minute for 1h;
:mod:`synthwb.evaluate.timing`); the run forecasts from its last bar closed by the request
time across the lead to the start time and over the task's horizon; the paths are rounded to
what that version accepts (8 significant digits), checked with its rules
(:func:`synthwb.evaluate.validator.validate_response`) and written atomically. A response the
validator would refuse is not written: exit 2 with its reason.
"""
from __future__ import annotations

import argparse
from datetime import UTC


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("forecast", parents=[common],
                       help="a validator-format response (start, increment, 1000 paths) from a saved run")
    p.add_argument("--run", required=True, help="run id (an ensemble too)")
    p.add_argument("--at", help="request time (UTC ISO; default: the close of the run's last stored bar)")
    p.add_argument("--task", required=True, choices=["24h", "1h"], help="Synth prompt")
    p.add_argument("--out", required=True, help="response file (.json)")
    p.add_argument("--n-paths", dest="n_paths", type=int, default=None, help="paths (default: the task's, 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    from synthwb.cli import add_validator_arg

    add_validator_arg(p, "answers")
    p.add_argument("--allow-stale", dest="allow_stale", action="store_true",
                   help="answer even when the data ends long before --at (the paths then start from an old close)")
    p.set_defaults(func=_forecast)


MAX_SEED = 2**32 - 1
STALE_24_7_S = 2 * 3600        # a 24/7 series (crypto) ending 2 h before the request is stale
STALE_SESSIONS_S = 4 * 86400   # a series with sessions: a long weekend and a holiday


def _series_extent(sel: dict, root=None):
    """(first bar open, last bar close) of the series' stored bars, any timeframe (footers only)."""
    from datetime import timedelta

    import polars as pl

    from synthwb.data.lake import inventory
    from synthwb.data.schema import FREQ_SECONDS

    inv = inventory(root).filter((pl.col("asset_class") == sel["asset_class"]) & (pl.col("symbol") == sel["symbol"]))
    if inv.is_empty():
        return None
    return inv["start"].min(), max(r["end"] + timedelta(seconds=FREQ_SECONDS[r["freq"]]) for r in inv.to_dicts())


def _check_request_time(sel: dict, at_dt, bar_s: int, allow_stale: bool, root=None) -> None:
    """A request time the data can answer: not before the series starts, and (unless
    ``allow_stale``) not so long after it ends that the forecast would start from an old close."""
    from datetime import timedelta

    from synthwb.core.errors import DataError
    from synthwb.data.schema import is_24_7

    extent = _series_extent(sel, root)
    series = f"{sel['asset_class']}/{sel['symbol']}"
    if extent is None:
        return  # read_bars names what is missing
    first, last = extent
    fmt = "%Y-%m-%d %H:%M UTC"
    if at_dt < first + timedelta(seconds=bar_s):
        raise DataError(f"the request time {at_dt:{fmt}} (--at) is before any bar of {series} closed: its data starts "
                        f"at {first:{fmt}}; ask for a time after that")
    last_close = last
    age = (at_dt - last_close).total_seconds()
    limit = max(3 * bar_s, STALE_24_7_S if is_24_7(sel["asset_class"]) else STALE_SESSIONS_S)
    if age > limit and not allow_stale:
        raise DataError(f"the data of {series} ends at {last_close:{fmt}}, {_span(age)} before the request time "
                        f"{at_dt:{fmt}} (--at): the forecast would start from that old close. Update the data "
                        "(`synthwb data update` or import), ask for an earlier --at, or pass --allow-stale")


def _span(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} days"


def make_response(run_id: str, task: str, at=None, n_paths: int | None = None, seed: int = 0,
                  device: str = "auto", root=None, store=None, validator: str | None = None,
                  allow_stale: bool = False) -> tuple[list, dict]:
    """(response, facts) for a request to ``run_id`` at ``at`` under the ``validator`` version
    (default: the newest; see the module doc). A request before the data starts, or (unless
    ``allow_stale``) long after it ends, is refused naming the data's extent."""
    import math
    from datetime import datetime, timedelta

    import polars as pl

    from synthwb.core.errors import DataError, SpecError
    from synthwb.core.time import to_ns, to_utc
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import FREQ_SECONDS, Selection
    from synthwb.evaluate.backtest_result import validator_record
    from synthwb.evaluate.timing import (
        LABEL_OFFSET_S,
        NS,
        forecast_across_lead,
        forecast_grid,
        validator_start_ns,
    )
    from synthwb.evaluate.validator import CORRECT, to_response, validate_response
    from synthwb.forecast.kinds import load_forecaster
    from synthwb.scoring.synth import get_task
    from synthwb.scoring.versions import get_validator
    from synthwb.store import read_info

    rules = get_validator(validator)
    task_obj = get_task(task, rules)
    n_paths = task_obj.n_paths if n_paths is None else int(n_paths)
    if not 2 <= n_paths <= 20_000:
        raise SpecError(f"--n-paths must be 2..20000 (the validator wants {task_obj.n_paths}), got {n_paths}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise SpecError(f"--seed must be 0..{MAX_SEED}, got {seed}")
    at_dt = to_utc(at, "request time (--at)") if at is not None else None
    info = read_info(run_id, store)
    sel = info.get("selection") or (info.get("data") or {}).get("selection")
    if not sel:
        raise SpecError(f"run {run_id!r} records no data selection")
    f = load_forecaster(run_id, store=store, device=device, root=root)
    bar_s = FREQ_SECONDS[sel["freq"]]
    if at_dt is not None:
        _check_request_time(sel, at_dt, bar_s, allow_stale, root)
    days = 14.0
    days = max(days, float(getattr(f, "context_days", 0) or 0),
               float(getattr(f, "context_bars", 0) or 0) * bar_s * 1.5 / 86400)
    lo = at_dt - timedelta(days=days) if at_dt is not None else None
    if lo is not None and allow_stale:  # the context before the data's end, however old
        extent = _series_extent(sel, root)
        if extent is not None and extent[1] < lo:
            lo = extent[1] - timedelta(days=days + bar_s / 86400)
    bars = read_bars(Selection(sel["asset_class"], sel["symbol"], sel["freq"], lo, at_dt), root=root)
    if bars.is_empty():
        extent = _series_extent(sel, root)
        where = (f"; its data runs from {extent[0]:%Y-%m-%d %H:%M} UTC to {extent[1]:%Y-%m-%d %H:%M} UTC"
                 if extent else "")
        raise DataError(f"no {sel['freq']} bars of {sel['asset_class']}/{sel['symbol']} in the {days:g} days before "
                        f"the request time{where}")
    bar_ts = to_ns(bars["ts"])
    request_ns = int(to_ns(at_dt)[0]) // NS * NS if at_dt is not None else int(bar_ts[-1]) + bar_s * NS
    known = bar_ts + bar_s * NS <= request_ns
    if not known.any():
        raise DataError(f"no {sel['freq']} bar closed by the request time")
    if at_dt is None:
        lo_ns = request_ns - int(days * 86400) * NS
        bars = bars.filter(pl.Series(bar_ts >= lo_ns))
        bar_ts = bar_ts[bar_ts >= lo_ns]
        known = bar_ts + bar_s * NS <= request_ns
    k = int(known.nonzero()[0][-1])
    bars = bars.slice(0, k + 1)
    origin = bars["ts"][-1]
    last_close_ns = int(bar_ts[k]) + bar_s * NS
    start_ns = int(validator_start_ns(request_ns, task_obj, rules))
    lead = (start_ns + LABEL_OFFSET_S * NS - last_close_ns) // NS
    native = int(getattr(f, "step_seconds", 0) or 0) or None
    g = native or math.gcd(int(lead), task_obj.step_seconds)
    lead_used = int(max(0, round(lead / g)) * g)
    forecast_grid(lead_used, task_obj, native)  # refuses a grid that cannot reach the task's
    paths, across = forecast_across_lead(f, bars, [origin], task_obj, lead_used, n_paths, seed, run_id)
    response = to_response(paths[0], start_ns // NS, task_obj, rules)
    verdict = validate_response(response, task_obj, start_ns // NS, n_paths, rules)
    if verdict != CORRECT:
        raise SpecError(f"the validator would refuse this response: {verdict}")
    def _dt(ns: int):
        return datetime.fromtimestamp(int(ns) // NS, tz=UTC)

    facts = {
        "run": run_id, "task": task_obj.name, "selection": dict(sel),
        "request_time": _dt(request_ns).isoformat(), "start_time": _dt(start_ns).isoformat(),
        "start_timestamp": start_ns // NS, "time_increment": task_obj.step_seconds,
        "last_bar_open": origin.isoformat(), "last_close_time": _dt(last_close_ns).isoformat(),
        "last_close": float(bars["close"][-1]), "lead_s": int(lead), "lead_simulated_s": lead_used if across else 0,
        "n_paths": n_paths, "n_points": task_obj.n_points, "validator_verdict": verdict,
        "validator_n_paths_ok": n_paths == task_obj.n_paths, "validator": validator_record(rules),
    }
    return response, facts


def _forecast(args):
    from synthwb.cli import Result
    from synthwb.core.errors import SpecError
    from synthwb.evaluate.validator import write_response

    if not str(args.out).lower().endswith(".json"):
        raise SpecError(f"--out must be a .json file, got {args.out!r}")
    from synthwb.core.io import check_writable

    check_writable(args.out, "--out", folder=False)
    response, facts = make_response(args.run, args.task, args.at, args.n_paths, args.seed, args.device,
                                    root=args.root, store=args.store, validator=args.validator,
                                    allow_stale=args.allow_stale)
    path = write_response(response, args.out)
    facts["out"] = str(path)
    lines = [
        (f"{facts['run']} {facts['task']} response: request {facts['request_time']}, start {facts['start_time']} "
        f"(timestamp {facts['start_timestamp']}), {facts['n_paths']} paths x {facts['n_points']} points every "
        f"{facts['time_increment']} s"),
        f"last bar closed {facts['last_close_time']} at {facts['last_close']:.8g}; lead to the first realised "
        f"price {facts['lead_s']} s" + ("" if facts["lead_simulated_s"] == facts["lead_s"] else
                                         f" (simulated {facts['lead_simulated_s']} s)"),
        f"validator {facts['validator']['name']} ({facts['validator']['repository']}@"
        f"{facts['validator']['commit']}) check: {facts['validator_verdict']}"
        + ("" if facts["validator_n_paths_ok"] else " (for this path count; the validator asks for 1000)"),
        f"wrote {path}",
    ]
    return Result(facts, "\n".join(lines), [str(path)])
