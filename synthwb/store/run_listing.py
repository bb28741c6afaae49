"""The runs of a store as summary rows (the pickers and tables of the pages, ``synthwb runs``).
Part of :mod:`synthwb.store.runs`, which re-exports these names.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from synthwb.core.config import store_dir
from synthwb.store.run_record import RUN_JSON, _checked
from synthwb.store.run_status import effective_status, scoring_state


def _summary(info: dict, path: Path | None = None) -> dict:
    spec = info.get("model_spec") or {}
    cfg = info.get("config") or {}
    sel = info.get("selection") or {}
    best = info.get("best") or {}
    last = info.get("last") or {}
    usable, label = scoring_state(info, path)
    return {
        "run_id": info.get("run_id"), "name": info.get("name"), "status": effective_status(info),
        "usable": usable, "label": label,
        "created": info.get("created"), "updated": info.get("updated"),
        "symbol": sel.get("symbol"), "freq": sel.get("freq"),
        "featureset": info.get("featureset_name"), "model": info.get("model_name") or _spec_label(spec),
        "loss": cfg.get("loss"), "task": _task_name(cfg.get("synth_task")),
        "step": last.get("step"), "epoch": last.get("epoch"),
        "best_val_crps": best.get("val_crps"), "best_val_score": best.get("val_score"),
        "best_val_coverage_90": best.get("val_coverage_90"), "best_step": best.get("step"),
        "n_params": info.get("n_params"), "error": info.get("error"),
    }


def _task_name(task) -> str | None:
    """The name of the task a run targets: "24h" / "1h", or a custom task's own name (a dict)."""
    if isinstance(task, dict):
        return str(task["name"]) if task.get("name") else None
    return task if isinstance(task, str) else None


def _spec_label(spec: dict) -> str | None:
    if not spec:
        return None
    blocks = "+".join(b.get("name", "?") for b in spec.get("blocks") or [])
    head = (spec.get("head") or {}).get("name", "?")
    return f"{blocks or 'linear'}/{head}"


def list_runs(store: str | os.PathLike | None = None) -> list[dict]:
    """A summary dict per run, newest first; folders starting with '_' or '.' are not runs."""

    root = store_dir(store)
    if not root.is_dir():
        return []
    out = []
    for path in root.iterdir():
        if not path.is_dir() or path.name.startswith(("_", ".")):
            continue
        f = path / RUN_JSON
        if not f.is_file():
            continue
        try:
            info = json.loads(f.read_text(encoding="utf-8"))
            if isinstance(info, dict):
                info.setdefault("run_id", path.name)
            info = _checked(info, f"run {path.name!r}")
        except (OSError, ValueError) as exc:  # SpecError is a ValueError: a wrong-shape run.json
            out.append({"run_id": path.name, "name": path.name, "status": "failed", "usable": False, "broken": True,
                        "label": "broken run.json", "model": "(broken run.json)",
                        "error": f"unreadable run.json: {exc}", "created": None})
            continue
        out.append(_summary(info, path))
    out.sort(key=lambda r: r.get("created") or "", reverse=True)
    return out


def usable_runs(store: str | os.PathLike | None = None) -> list[dict]:
    """The runs Backtest and Compare can score (:func:`scoring_state`), newest first; each
    summary's ``label`` says how (``finished``, ``interrupted, best weights at step N``)."""
    return [r for r in list_runs(store) if r.get("usable")]
