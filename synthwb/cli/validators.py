"""`python -m synthwb validators [VERSION]`: the Synth validator rule sets synthwb knows (../shared/DESIGN.md §5)."""
from __future__ import annotations

import argparse

from synthwb.cli import Result, table


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("validators", parents=[common],
                       help="the Synth validator versions synthwb scores with (default: the newest)")
    p.add_argument("version", nargs="?", default=None, help="show one version's rules in full")
    p.set_defaults(func=_validators)


def _validators(args) -> Result:
    from synthwb.scoring.versions import DEFAULT_VALIDATOR, get_validator, validator_names

    if args.version:
        rules = get_validator(args.version)
        d = rules.to_dict()
        comps = [{"competition": c["label"], "task": c["task"], "assets": " ".join(c["assets"]),
                  "window_days": c["window_days"], "beta": c["beta"], "share": f"{c['share']:.4g}"}
                 for c in [*d["competitions"].values(), *([d["vhft"]] if d["vhft"] else [])]]
        tasks = [{"task": k, "step_s": t["step_seconds"], "points": t["n_points"],
                  "terms": rules.task(k).n_terms(), "vol_blocks": " ".join(
                      f"{b['name']}x{b['weight']:.4g}" for b in t.get("vol_blocks", [])) or "-",
                  "start_extra_s": rules.start_extra_s[k]} for k, t in d["tasks"].items()]
        text = "\n".join([
            f"{rules.label()}{' (default)' if rules.name == DEFAULT_VALIDATOR else ''}",
            rules.summary, "", table(tasks), "", table(comps), "",
            f"per-request transform: {rules.transform}; response rule: {rules.response_rule}"
            f"{' (negatives accepted)' if rules.accepts_negative else ''}",
            f"emissions: {rules.emission_note}",
            *([""] + [f"- {x}" for x in rules.differences] if rules.differences else []),
        ])
        return Result(d, text)
    rows = []
    for name in validator_names():
        r = get_validator(name)
        rows.append({"version": name, "default": "yes" if name == DEFAULT_VALIDATOR else "",
                     "repository": r.repository, "commit": r.commit, "date": r.date, "summary": r.summary})
    return Result(rows, table(rows))
