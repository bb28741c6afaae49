"""`synthwb compare | ensemble | search | ablation` (../shared/DESIGN.md §7).

    synthwb compare --runs A,B,... [--baselines gbm,...] [--benchmark NAME] [--task 24h|1h|FILE.json]
                    [--asset-class C --symbol S --freq F] [--start D] [--end D] [--origins K]
                    [--n-paths N] [--seed S] [--method dm|bootstrap] [--csv OUT] [--json]
                    [--reward [--assets ETH,SOL] [--asset-weight ETH=0.7] [--validator V] [--vhft]]
                    [--backend local|ray]
    synthwb ensemble --name N --members A,B,... [--weights 0.5,0.5 | --fit --start D --end D]
    synthwb search  --name N --features FS (--spec S | --preset P) --space PATH=LOW:HIGH[:log] ...
                    [--method grid|random|tpe] [--trials K] [--keep K]
    synthwb ablation --name N --features FS (--spec S | --preset P) [--groups a,b]
    (search and ablation: [--backend local|ray] [--ray-address ADDR] [--cpus-per-trial C] [--gpus-per-trial G])

``compare`` prints the leaderboard the Compare page shows (same engine call, same numbers).
"""
from __future__ import annotations

from synthwb.core.errors import SpecError
from synthwb.core.text import comma_list


def add_commands(sub, common) -> None:
    p = sub.add_parser("compare", parents=[common], help="compare runs and baselines on shared origins")
    p.add_argument("--runs", default="", help="comma-separated run ids (ensembles included)")
    p.add_argument("--baselines", default="", help="comma-separated baselines, e.g. gbm,garch (see backtest)")
    from synthwb.cli import add_classical_arg

    add_classical_arg(p)
    p.add_argument("--benchmark", help="model the others are measured against (default: first baseline, else first run)")
    p.add_argument("--asset-class", dest="asset_class", help="default: the first run's selection")
    p.add_argument("--symbol")
    p.add_argument("--freq")
    p.add_argument("--task", default="24h", help="Synth task: 24h, 1h or a custom task JSON file")
    p.add_argument("--start", help="first origin date (UTC, YYYY-MM-DD or ISO)")
    p.add_argument("--end", help="end of the test period (UTC)")
    p.add_argument("--origins", type=int, default=20, help="number of forecast origins (default 20)")
    p.add_argument("--n-paths", type=int, default=1000, dest="n_paths")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="dm", choices=["dm", "bootstrap"], help="paired significance test")
    p.add_argument("--device", default="auto")
    p.add_argument("--csv", help="write the leaderboard to this CSV (per-origin scores beside it)")
    from synthwb.cli import add_validator_arg

    add_validator_arg(p, "scores and rewards")
    p.add_argument("--reward", action="store_true",
                   help="also simulate the Synth reward: the compared models as the miners, shares of emissions")
    p.add_argument("--assets", help="more symbols (same asset class and timeframe), e.g. ETH,SOL: the same models "
                                    "are scored on them too and the reward runs over every asset")
    p.add_argument("--asset-weight", action="append", default=[], dest="asset_weight", metavar="ASSET=W",
                   help="override an asset's reward weight (repeatable; default: the validator's table)")
    if "--validator" not in p._option_string_actions:  # the reward's version (scoring may add its own first)
        p.add_argument("--validator", default=None,
                       help="validator version whose rules score and reward (default: the newest; see `validators`)")
    p.add_argument("--vhft", action="store_true",
                   help="with --reward: blend in the off-subnet VHFT competition as one more equal share (the "
                        "compared models have no VHFT scores and earn none of it)")
    from synthwb.cli.backends import add_backend_args

    add_backend_args(p)  # --backend ray: the per-asset backtests run as Ray tasks
    p.set_defaults(func=_compare)

    e = sub.add_parser("ensemble", parents=[common], help="save an ensemble of runs/baselines as a run")
    e.add_argument("--name", required=True)
    e.add_argument("--members", required=True, help="comma-separated run ids and baseline:<name> entries")
    e.add_argument("--weights", help="comma-separated weights (default equal)")
    e.add_argument("--fit", action="store_true", help="fit the weights on --start/--end (a validation period)")
    e.add_argument("--asset-class", dest="asset_class")
    e.add_argument("--symbol")
    e.add_argument("--freq")
    e.add_argument("--task", default="24h")
    e.add_argument("--start")
    e.add_argument("--end")
    e.add_argument("--origins", type=int, default=20)
    e.add_argument("--n-paths", type=int, default=500, dest="n_paths")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=_ensemble)

    s = sub.add_parser("search", parents=[common], help="hyperparameter search (grid, random, Optuna TPE)")
    _training_args(s)
    s.add_argument("--space", nargs="+", required=True,
                   help="dimensions PATH=LOW:HIGH[:log|:int] or PATH=A,B,C, e.g. config.lr=1e-4:1e-2:log")
    s.add_argument("--method", default="tpe", choices=["grid", "random", "tpe"])
    s.add_argument("--trials", type=int, default=10)
    s.add_argument("--per-dim", type=int, default=3, dest="per_dim", help="grid points per numeric dimension")
    s.add_argument("--keep", type=int, default=3, help="keep the best K trial runs, delete the rest (-1: keep all)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_search)

    a = sub.add_parser("ablation", parents=[common], help="retrain without each feature group; val CRPS change")
    _training_args(a)
    a.add_argument("--groups", help="comma-separated feature groups (default: every group in the set)")
    a.set_defaults(func=_ablation)


def _training_args(p) -> None:
    p.add_argument("--name", required=True, help="name prefix of the trial runs")
    p.add_argument("--features", required=True, help="saved feature set name")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--spec", help="model spec JSON file or saved spec name")
    g.add_argument("--preset", help="model preset")
    p.add_argument("--context", type=int)
    p.add_argument("--horizon", type=int)
    p.add_argument("--config", help="training config JSON file")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, dest="max_steps")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    from synthwb.cli.backends import add_backend_args

    add_backend_args(p)


def _train_config(args) -> dict:
    from synthwb.core.io import read_json_file

    cfg: dict = read_json_file(args.config, "training config") if args.config else {}
    for k in ("epochs", "max_steps", "device"):
        if getattr(args, k, None) is not None:
            cfg[k] = getattr(args, k)
    return cfg


def _model_spec(args):
    """--spec FILE.json -> dict; --spec NAME (saved) or --preset P -> the name."""
    from synthwb.core.io import read_json_file

    if args.spec and args.spec.endswith(".json"):
        return read_json_file(args.spec, "model spec file")
    return args.spec or args.preset


def _compare(args):
    from synthwb.cli import Result, classical_value, table, task_arg
    from synthwb.evaluate import compare as cmp

    if args.csv:  # refused before the comparison runs, not after it
        from synthwb.core.io import check_writable

        check_writable(args.csv, "--csv")
    req = cmp.CompareRequest.from_options(
        runs=comma_list(args.runs), baselines=comma_list(args.baselines), benchmark=args.benchmark,
        asset_class=args.asset_class, symbol=args.symbol, freq=args.freq, task=task_arg(args.task), start=args.start,
        end=args.end, origins=args.origins, n_paths=args.n_paths, seed=args.seed, method=args.method,
        store=args.store, assets=comma_list(args.assets), validator=args.validator,
        classical=classical_value(args.classical),
    )
    from synthwb.cli.backends import ray_options

    weights = _asset_weights(args.asset_weight)
    if req.assets and not args.reward:
        raise SpecError("--assets feeds the Synth reward: add --reward")
    if args.vhft and not args.reward:
        raise SpecError("--vhft blends VHFT into the Synth reward: add --reward")
    if args.reward:  # an unknown version, or VHFT where the version has none: refused before the work
        from synthwb.evaluate.reward import check_asset_weights
        from synthwb.scoring.versions import get_validator

        rules = get_validator(getattr(req, "validator", None) or args.validator)
        if args.vhft and rules.vhft is None:
            raise SpecError(f"validator {rules.name} has no VHFT competition: drop --vhft")
        weights = check_asset_weights(weights, req.symbols, rules)
    elif weights:
        raise SpecError("--asset-weight weighs the Synth reward's assets: add --reward")
    ray = ray_options(args)
    run_many = None
    if ray is not None:
        from synthwb.research.backend import run_backtests

        def run_many(specs):
            return run_backtests(specs, root=args.root, store=args.store, backend="ray", ray=ray)
    res = cmp.compare(req, root=args.root, store=args.store, device=args.device, run_many=run_many)
    files = []
    if args.csv:
        files = res.write_csv(args.csv)
    board = res.board_rows()
    # the note column (e.g. "interrupted, best weights at step 40") only when a run has one
    cols = [c for c in cmp.BOARD_COLUMNS if c != "note" or any(r["note"] for r in board)]
    tests = [r for r in res.tests.to_dicts() if r["method"] == req.method]
    text = "\n".join([
        f"{req.selection.symbol} {req.selection.freq} · task {res.task} · scored with validator {res.validator_label} "
        f"· {res.n_origins} shared origins · benchmark {res.benchmark}",
        table(board, cols),
        f"\npaired test vs {res.benchmark} ({req.method}, overlap h={res.lag}):",
        *(f"  {r['model']}: mean diff {r['mean_diff']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] "
          f"p={r['p_value']:.3g} -> {r['verdict']}" for r in tests),
        *(f"wrote {f}" for f in files),
    ])
    data = {**res.to_dict(), "files": files}
    if args.reward:
        rtext, data["reward"] = _reward(res, weights, getattr(req, "validator", None) or args.validator, args.vhft)
        text += "\n\n" + rtext
        if req.assets:
            import polars as pl

            per = (res.reward_table().filter(pl.col("valid")).group_by("asset", "model")
                   .agg(pl.col("total").mean().alias("mean_score")).pivot(on="asset", index="model",
                                                                          values="mean_score"))
            text += "\n\nmean score per asset:\n" + table(per.to_dicts(), per.columns)
    return Result(data, text, files)


def _reward(res, weights: dict[str, float], validator, vhft: bool) -> tuple[str, dict]:
    """The Synth reward of a comparison: one panel per competition of the validator version that
    the compared assets count for, and the combined expected share of miner emissions (the same
    engine call and numbers as the Compare page's reward tab)."""
    from synthwb.cli import table
    from synthwb.core.errors import SynthwbError
    from synthwb.evaluate import reward as rw
    from synthwb.scoring.versions import get_validator

    rules = get_validator(validator)
    bt = res.backtest
    try:
        ours = rw.from_per_origin(res.reward_table(), None, bt.task.horizon_seconds)
        comb = rw.simulate_competitions(ours, task=bt.task.name, validator=rules, weights=weights, vhft=vhft)
    except SynthwbError as exc:
        return (f"Synth reward under {rules.label()}: not simulated: {exc}",
                {"validator": rules.name, "repository": rules.repository, "commit": rules.commit, "error": str(exc)})
    lines = [f"Synth reward under {rules.label()}",
             f"  {comb.transform_rule}; softmax of beta x the weighted rolling mean, per competition"]
    for key, r in comb.results.items():
        c = r.competition
        aw = ", ".join(f"{a} {w:.4g}" for a, w in r.weights.items())
        lines += ["", f"{c.label} ({c.task}; counts {' '.join(c.assets)}; window {c.window_days:g} days, beta "
                      f"{c.beta:g}; pays {rw.fraction_text(comb.shares[key])} of miner emissions) on {aw}"
                      " (asset weights):",
                  table(r.summary.select(rw.SUMMARY_COLUMNS).to_dicts(), rw.SUMMARY_COLUMNS)]
    lines += ["", "expected share of miner emissions (final share in each competition x its share):",
              table(comb.expected.to_dicts(), comb.expected.columns), f"  {comb.emission_rule}"]
    missing = [c.label for k, c in rules.competitions.items() if k not in comb.results]
    if missing:
        lines.append(f"  no data for {', '.join(missing)}: the compared models earn nothing there")
    for tk, assets in comb.ignored_assets.items():
        lines.append(f"  {' '.join(assets)} ({tk}) counts for no competition of validator {rules.name}: left out")
    return "\n".join(lines), comb.to_dict()


def _asset_weights(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for it in items:
        name, sep, val = it.partition("=")
        try:
            w = float(val)
        except ValueError:
            w = float("nan")
        if not sep or not name.strip() or not (w >= 0 and w < float("inf")):
            raise SpecError(f"--asset-weight {it!r}: write ASSET=WEIGHT with a finite weight >= 0, e.g. ETH=0.7")
        out[name.strip()] = w
    return out


def _ensemble(args):
    from synthwb.cli import Result, task_arg
    from synthwb.evaluate import compare as cmp
    from synthwb.forecast.ensemble import normalise_weights, save_ensemble
    from synthwb.research.ensembles import fit_ensemble

    members = comma_list(args.members)
    fit = None
    if args.fit:
        req = cmp.CompareRequest.from_options(
            runs=[m for m in members if not m.startswith("baseline:")],
            baselines=[m.split(":", 1)[1] for m in members if m.startswith("baseline:")],
            asset_class=args.asset_class, symbol=args.symbol, freq=args.freq, task=task_arg(args.task), start=args.start,
            end=args.end, origins=args.origins, n_paths=args.n_paths, seed=args.seed, store=args.store)
        fit = fit_ensemble(req, members, root=args.root, store=args.store, device=args.device)
        weights = fit.weights
    else:
        weights = comma_list(args.weights) or None  # checked (numbers, finite, >= 0) by the engine
    w = normalise_weights(weights, len(members)).tolist()
    run_id = save_ensemble(args.name, members, w, store=args.store, fit=fit)
    lines = [f"saved ensemble {run_id}"] + [f"  {m}: {x:.4f}" for m, x in zip(members, w)]
    if fit is not None:
        lines.append(f"validation score {fit.score:.2f} (equal weights {fit.equal_score:.2f}; members "
                     + ", ".join(f"{s:.2f}" for s in fit.member_scores) + f") on {fit.n_origins} origins")
    return Result({"run_id": run_id, "members": members, "weights": w, "fit": fit.to_dict() if fit else None},
                  "\n".join(lines))


def _progress_printer():
    import sys

    def cb(fraction=None, metrics=None, message=None):
        if message and metrics is None:
            return
        if metrics and "trial" in metrics:
            sys.stderr.write(f"  {message}: value={metrics.get('value')}\n")
    return cb


def _search(args):
    import threading

    from synthwb.cli import Result, table
    from synthwb.cli.backends import ray_options
    from synthwb.research.search import search_runs

    res = search_runs(_progress_printer(), threading.Event(), run_name=args.name, featureset=args.features,
                     model_spec=_model_spec(args), space=args.space, method=args.method, n_trials=args.trials,
                     config=_train_config(args), store=args.store, root=args.root, seed=args.seed, per_dim=args.per_dim,
                     keep=None if args.keep < 0 else args.keep, context=args.context, horizon=args.horizon,
                     backend=args.backend, ray=ray_options(args))
    rows = res.table().to_dicts()
    best = res.best
    text = table(rows) + (f"\nbest: trial {best.number} value {best.value:.4f} run {best.run_id}" if best else
                          "\nno trial finished")
    return Result(res.to_dict(), text)


def _ablation(args):
    from synthwb.cli import Result, table
    from synthwb.cli.backends import ray_options
    from synthwb.research.ablation import run_ablation

    res = run_ablation(args.name, args.features, _model_spec(args), _train_config(args),
                       groups=comma_list(args.groups) or None, store=args.store, root=args.root,
                       progress=None, context=args.context, horizon=args.horizon, backend=args.backend,
                       ray=ray_options(args))
    rows = res.table().to_dicts()
    return Result(rows, table(rows, ["group", "removed", "n_features", "val_crps", "delta", "pct", "run_id", "status"]))
