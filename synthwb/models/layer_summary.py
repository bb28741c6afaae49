"""A per-layer summary table of a spec (like a Keras / torchinfo summary)."""
from __future__ import annotations

from synthwb.models.backbone import validate_spec
from synthwb.models.spec import ModelSpec


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def summary(spec: ModelSpec | dict) -> list[dict]:
    """Rows ``{"#", "layer", "kind", "input", "output", "params", "causal"}`` plus a final total row.

    Validates the spec first (SpecError names the breaking block).
    """
    rows = []
    for info in validate_spec(spec):
        rows.append({"#": "" if info.index is None else str(info.index), "layer": info.name, "kind": info.kind,
                     "input": _fmt(info.in_shape), "output": _fmt(info.out_shape), "params": info.params,
                     "causal": "" if info.causal is None else ("yes" if info.causal else "no")})
    rows.append({"#": "", "layer": "total", "kind": "", "input": "", "output": "",
                 "params": sum(r["params"] for r in rows), "causal": ""})
    return rows


def total_params(rows: list[dict]) -> int:
    return int(rows[-1]["params"]) if rows else 0
