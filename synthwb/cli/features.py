"""``synthwb features list | build | show | delete``."""
from __future__ import annotations

import argparse

from synthwb.cli import Result, table


def add_commands(sub, common) -> None:
    p = sub.add_parser("features", help="feature registry and saved feature sets")
    fsub = p.add_subparsers(dest="features_cmd", metavar="ACTION", required=True)

    q = fsub.add_parser("list", parents=[common], help="registered features and their parameters")
    q.add_argument("--saved", action="store_true", help="list saved feature sets instead")
    q.set_defaults(func=_list)

    b = fsub.add_parser("build", parents=[common], help="build and save a named feature set")
    b.add_argument("--name", required=True, help="feature set name (a-z, 0-9, '.', '_', '-')")
    b.add_argument("--asset-class", required=True)
    b.add_argument("--symbol", required=True)
    b.add_argument("--freq", required=True, help="target bar frequency (overrides the spec's)")
    b.add_argument("--spec", help="feature spec JSON file (default: a standard set)")
    b.add_argument("--start", help="first bar (YYYY-MM-DD, UTC)")
    b.add_argument("--end", help="end (exclusive, YYYY-MM-DD, UTC)")
    b.add_argument("--train", type=float, default=0.7, help="train fraction (default 0.7)")
    b.add_argument("--val", type=float, default=0.15, help="validation fraction (default 0.15)")
    b.add_argument("--val-start", help="split by dates: first validation bar")
    b.add_argument("--test-start", help="split by dates: first test bar")
    b.add_argument("--scaling", default="standard", choices=("standard", "minmax", "none"))
    b.add_argument("--export", help="also write the uni2ts/GluonTS dataset to this folder")
    b.set_defaults(func=_build)

    s = fsub.add_parser("show", parents=[common], help="a saved feature set")
    s.add_argument("name")
    s.set_defaults(func=_show)

    d = fsub.add_parser("delete", parents=[common], help="delete a saved feature set")
    d.add_argument("name")
    d.set_defaults(func=_delete)


def _list(args: argparse.Namespace) -> Result:
    if args.saved:
        from synthwb.features.featureset import list_featuresets

        rows = list_featuresets(args.store)
        return Result(rows, table(rows))
    from synthwb.features.registry import FEATURES, makes_of

    data = []
    rows = []
    for e in FEATURES:
        d = e.describe()
        d["makes"] = makes_of(e, e.defaults(), ("REF",))
        d.pop("kind", None)
        data.append(d)
        params = ", ".join(f"{p.name}={p.default}" for p in e.params)
        rows.append({"feature": e.name, "category": e.category, "params": params,
                     "makes": ", ".join(d["makes"][:4]) + (" ..." if len(d["makes"]) > 4 else "")})
    return Result(data, table(rows))


def _build(args: argparse.Namespace) -> Result:
    from synthwb.data.schema import Selection
    from synthwb.features.datasets import SplitSpec
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import FeatureSpec, default_spec

    if args.spec:
        from synthwb.core.io import read_json_file

        raw = read_json_file(args.spec, "feature spec file")
        if isinstance(raw, dict):
            raw = {**raw, "freq": args.freq}
        spec = FeatureSpec.from_dict(raw)
    else:
        spec = default_spec(args.freq)
    sel = Selection(args.asset_class, args.symbol, args.freq, args.start, args.end)
    if args.export:  # checked before the feature set is built and saved
        from synthwb.core.io import check_writable

        check_writable(args.export, "--export", folder=True)
    split = SplitSpec(train=args.train, val=args.val, val_start=args.val_start, test_start=args.test_start)
    fs = create_featureset(args.name, sel, spec, split, scaling=args.scaling, root=args.root)
    out = save_featureset(fs, args.store)
    data = {**fs.to_dict(), "path": str(out)}
    files = [str(out)]
    if args.export:
        from synthwb.features.export import export_gluonts

        exp = export_gluonts(fs, args.export, root=args.root)
        data["export"] = str(exp)
        files.append(str(exp))
    text = (f"saved feature set {fs.name!r} -> {out}\n"
            f"{sel.asset_class}/{sel.symbol} {sel.freq}: {len(fs.feature_cols)} columns, rows "
            + ", ".join(f"{k}={v}" for k, v in fs.rows.items()))
    if args.export:
        text += f"\nexported uni2ts/GluonTS dataset -> {data['export']}"
    return Result(data, text, files)


def _show(args: argparse.Namespace) -> Result:
    from synthwb.features.featureset import load_featureset

    fs = load_featureset(args.name, args.store)
    d = fs.to_dict()
    sel = d["selection"]
    text = (f"{fs.name}: {sel['asset_class']}/{sel['symbol']} {sel['freq']} "
            f"({sel['start'] or 'start'} .. {sel['end'] or 'end'})\n"
            f"features: {', '.join(fs.feature_cols)}\nrows: {fs.rows}\nscaling: {fs.scaler['method']}\n"
            f"created: {fs.created}")
    return Result(d, text)


def _delete(args: argparse.Namespace) -> Result:
    from synthwb.features.featureset import delete_featureset

    delete_featureset(args.name, args.store)
    return Result({"deleted": args.name}, f"deleted feature set {args.name!r}")
