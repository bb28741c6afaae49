"""`synthwb fit --name RUN --model M --asset-class C --symbol S --freq F [...]`: fit a classical
forecaster (GARCH family, HAR-RV) and save it as a run of kind ``classical`` (seconds, no
training); `synthwb models classical` lists the models and their parameters.
"""
from __future__ import annotations

_OPTIONS = ("dist", "window_days", "refit_hours", "seasonality", "season_days")


def add_commands(sub, common) -> None:
    p = sub.add_parser("fit", parents=[common], help="fit a classical forecaster (GARCH family, HAR-RV) as a run")
    p.add_argument("--name", required=True, help="run name (a unique run id is made from it)")
    p.add_argument("--model", required=True, help="classical model (see `synthwb models classical`)")
    p.add_argument("--asset-class", required=True, dest="asset_class")
    p.add_argument("--symbol", required=True)
    p.add_argument("--freq", required=True, help="the bars the model reads (its returns' step)")
    p.add_argument("--dist", help="innovation law (garch family: normal, t, skewt; har-rv: normal, t, johnsonsu)")
    p.add_argument("--window-days", type=float, dest="window_days", help="days of data in each fit")
    p.add_argument("--refit-hours", type=float, dest="refit_hours", help="refit once per this many hours of data")
    p.add_argument("--seasonality", help="hour_of_week, hour_of_day or off")
    p.add_argument("--season-days", type=float, dest="season_days", help="days the seasonal profile is read from")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="any other model parameter (repeatable)")
    p.add_argument("--end", help="fit on bars before this date (default: all)")
    p.set_defaults(func=_fit)


def _params(args) -> dict:
    from synthwb.core.errors import SpecError

    params = {k: getattr(args, k) for k in _OPTIONS if getattr(args, k) is not None}
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SpecError(f"--param {item!r}: expected KEY=VALUE")
        params[key.strip().replace("-", "_")] = value.strip()
    return params


def _fit(args):
    from synthwb.cli import Result
    from synthwb.core.time import to_utc
    from synthwb.forecast.classical import CLASSICAL, fit_classical

    entry = CLASSICAL.get(args.model)
    params = _params(args)
    kinds = {p.name: p.kind for p in entry.params}
    for k, v in list(params.items()):  # text from --param takes the parameter's type
        if isinstance(v, str) and kinds.get(k) in (int, float):
            try:
                params[k] = kinds[k](float(v)) if kinds[k] is float else int(v)
            except ValueError:
                pass  # resolve names the bad value
    entry.resolve(params)
    info = fit_classical(args.name, args.model, args.asset_class, args.symbol, args.freq, params,
                         store=args.store, root=args.root, end=to_utc(args.end, "--end") if args.end else None)
    fit = info.get("fit") or {}
    shown = fit.get("params") or fit.get("coef") or {}
    text = (f"run {info['run_id']}: {args.model} fitted on {fit.get('bars')} {args.freq} bars of "
            f"{args.asset_class}/{args.symbol} in {fit.get('seconds', 0):.2f} s\n"
            + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return Result(info, text)
