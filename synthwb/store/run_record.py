"""run.json, typed: a run folder's file names, the statuses, :class:`RunRecord` and the folder
of a run id. Part of :mod:`synthwb.store.runs` (the folder layout is described there), which
re-exports these names.
"""
from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthwb.core import __version__
from synthwb.core.config import store_dir
from synthwb.core.errors import NotFound, SpecError
from synthwb.core.io import check_slug

RUN_JSON = "run.json"
BEST = "weights.safetensors"
LAST = "last.safetensors"
LAST_STATE = "last_state.pt"
METRICS = "metrics.jsonl"
TB_DIR = "tb"
LOCK = "writer.lock"
Status = Literal["queued", "running", "stopping", "finished", "failed", "interrupted"]
STATUSES: tuple[str, ...] = get_args(Status)
ACTIVE = ("queued", "running", "stopping")

RunKind = Literal["path", "ensemble", "moirai", "classical"]


class RunRecord(BaseModel):
    """run.json, typed. ``kind`` says which forecaster kind reloads the run
    (:mod:`synthwb.forecast.kinds`): a trained path model, a saved ensemble, or a Moirai run.
    The nested payloads (feature set, model spec, config) are validated by the layer that owns
    their type when it rebuilds them; fields a newer version adds are kept (``extra="allow"``)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    run_id: str
    name: str
    kind: RunKind = "path"
    status: Status = "queued"
    created: str | None = None
    updated: str | None = None
    started: str | None = None
    ended: str | None = None
    pid: int | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    best: dict[str, Any] = Field(default_factory=dict)
    last: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    stop_reason: str | None = None
    selection: dict[str, Any] | None = None
    featureset_name: str | None = None
    featureset: dict[str, Any] | None = None
    model_name: str | None = None
    model_spec: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: int | None = None
    horizon: int | None = None
    n_features: int | None = None
    step_seconds: int | None = None
    n_params: int | None = None
    device: str | None = None
    total_steps: int | None = None
    n_train_windows: int | None = None
    n_val_windows: int | None = None
    calibration: dict[str, Any] | None = None
    blend: dict[str, Any] | None = None
    members: list[str] | None = None
    weights: list[float] | None = None
    fit: dict[str, Any] | None = None
    moirai: dict[str, Any] | None = None
    moirai_spec: dict[str, Any] | None = None
    finetune_config: dict[str, Any] | None = None
    n_trainable: int | None = None


def _checked(info: dict, what: str) -> dict:
    """``info`` as RunRecord accepts it (a field of the wrong type is a clear error, not a bad file)."""
    try:
        return RunRecord.model_validate(info).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise SpecError(f"{what}: run.json field {where!r}: {first['msg']}") from None

def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def versions() -> dict:
    """The versions a run was made with (read from the installed packages, without importing them)."""
    return {"synthwb": __version__, "python": platform.python_version(),
            **{dist: metadata.version(dist) for dist in ("torch", "polars", "numpy")}}


def run_dir(run_id: str, store: str | os.PathLike | None = None, must_exist: bool = True) -> Path:
    """The folder of ``run_id`` (validated as a slug; never a path from user input)."""
    check_slug(run_id, "run id")
    if run_id.startswith("_"):
        raise SpecError(f"invalid run id {run_id!r}")
    path = store_dir(store) / run_id
    if must_exist and not (path / RUN_JSON).is_file():
        raise NotFound(f"no run {run_id!r} in {store_dir(store)}")
    return path
