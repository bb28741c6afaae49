"""`python -m synthwb models ...`: the registries, presets, spec validation (../shared/DESIGN.md §7)."""
from __future__ import annotations

import argparse
import json

from synthwb.cli import Result, table


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", help="model blocks, heads, presets, spec validation")
    msub = p.add_subparsers(dest="models_cmd", metavar="SUBCOMMAND", required=True)
    msub.add_parser("blocks", parents=[common], help="registered backbone blocks").set_defaults(func=_blocks)
    msub.add_parser("heads", parents=[common], help="registered path heads").set_defaults(func=_heads)
    msub.add_parser("presets", parents=[common], help="named starting specs").set_defaults(func=_presets)
    msub.add_parser("classical", parents=[common], help="classical forecasters (`synthwb fit`)").set_defaults(
        func=_classical)
    v = msub.add_parser("validate", parents=[common], help="check a model spec JSON file, print its summary")
    v.add_argument("spec", metavar="SPEC.json")
    v.set_defaults(func=_validate)
    pr = msub.add_parser("preset", parents=[common], help="print (or write) a preset as a spec JSON")
    pr.add_argument("name")
    pr.add_argument("--n-features", type=int, required=True)
    pr.add_argument("--context", type=int, default=256)
    pr.add_argument("--horizon", type=int, default=288)
    pr.add_argument("--out", default=None, help="write the spec to this JSON file")
    pr.set_defaults(func=_preset)
    sp = msub.add_parser("specs", parents=[common], help="model specs saved in the store")
    sp.set_defaults(func=_specs)


def _params_text(params: list[dict]) -> str:
    return ", ".join(f"{p['name']}={p['default']}" for p in params) or "-"


def _registry(reg) -> Result:
    data = reg.describe()
    rows = [{"name": d["name"], "category": d["category"],
             **({"keeps_time": d.get("keeps_time"), "min_len": d.get("min_len"), "causal": d.get("causal")}
                if reg.kind == "block" else {}),
             "params": _params_text(d["params"]), "help": d["help"]} for d in data]
    return Result(data, table(rows))


def _blocks(args) -> Result:
    from synthwb.models.registry import BLOCKS

    return _registry(BLOCKS)


def _heads(args) -> Result:
    from synthwb.models.registry import HEADS

    return _registry(HEADS)


def _classical(args) -> Result:
    from synthwb.forecast.classical import CLASSICAL

    return _registry(CLASSICAL)


def _presets(args) -> Result:
    from synthwb.models.presets import PRESETS

    data = [{"name": n, "help": p["help"], "blocks": [b["name"] for b in p["blocks"]], "head": p["head"]["name"],
             "d_model": p["d_model"], "recommended": bool(p.get("recommended"))} for n, p in PRESETS.items()]
    rows = [{**d, "blocks": " -> ".join(d["blocks"]), "recommended": "yes" if d["recommended"] else ""} for d in data]
    return Result(data, table(rows, ["name", "recommended", "blocks", "head", "d_model", "help"]))


def _validate(args) -> Result:
    from synthwb.models.layer_summary import summary
    from synthwb.models.spec import read_spec_file

    spec = read_spec_file(args.spec)
    rows = summary(spec)
    total = rows[-1]["params"]
    data = {"valid": True, "spec": spec.to_dict(), "layers": rows[:-1], "total_params": total}
    text = (f"{args.spec}: valid; {len(spec.blocks)} blocks, head {spec.head.name}, {total:,} parameters\n"
            + table(rows, ["#", "layer", "input", "output", "params", "causal"]))
    return Result(data, text)


def _preset(args) -> Result:
    from synthwb.core.io import atomic_write_json, check_writable
    from synthwb.models.presets import get_preset

    if args.out:
        check_writable(args.out, "--out", folder=False)
    spec = get_preset(args.name, args.n_features, args.context, args.horizon)
    if args.out:
        atomic_write_json(args.out, spec.to_dict())
        return Result({"written": args.out, "spec": spec.to_dict()}, f"wrote {args.out}", files=[args.out])
    return Result(spec.to_dict(), json.dumps(spec.to_dict(), indent=2))


def _specs(args) -> Result:
    from synthwb.models.spec import list_specs

    names = list_specs(args.store)
    return Result(names, "\n".join(names) or "(no saved specs)")
