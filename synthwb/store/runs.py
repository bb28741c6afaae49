"""models_store/: one folder per run (../shared/DESIGN.md §6).

    <store>/<run_id>/
        run.json              selection, embedded feature set (with scaling params), model spec,
                              training config, versions, status, timestamps, best metrics, error
        weights.safetensors   best weights (by validation CRPS)
        last.safetensors      latest good weights (for resume / "last")
        last_state.pt         optimizer + scheduler + step + RNG state: a tensors-and-plain-types
                              dict loaded with ``torch.load(weights_only=True)``
        metrics.jsonl         one line per logged step / validation
        tb/                   optional TensorBoard event files
        writer.lock           while a process trains the run: its pid, host and start time
                              (:func:`writer_lock`; one writer at a time)

Every file is written atomically (:mod:`synthwb.core.io`), so a crash leaves the previous version.
Run ids are slugs (:func:`synthwb.core.io.check_slug`); user text never becomes a path unchecked.

This module is the run's life: create, read, update, load, rename, delete. The parts live
beside it and their names are re-exported here: :mod:`~synthwb.store.run_record` (run.json
typed, file names, statuses, :func:`run_dir`), :mod:`~synthwb.store.run_status` (effective
status, scorability), :mod:`~synthwb.store.run_lock` (the one-writer lock),
:mod:`~synthwb.store.run_listing` (summary rows) and :mod:`~synthwb.store.run_weights`
(weights and the resumable checkpoint).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthwb.core.config import store_dir, writable_store_dir
from synthwb.core.errors import SpecError, SynthwbError
from synthwb.core.io import atomic_write_json, check_label, check_slug, read_jsonl, slugify
from synthwb.store.run_listing import _spec_label, _summary, list_runs, usable_runs  # noqa: F401  re-exported
from synthwb.store.run_lock import (  # noqa: F401  re-exported
    RunLocked,
    WriterLock,
    _holder_text,
    _read_lock,
    lock_holder,
    writer_lock,
)
from synthwb.store.run_record import (  # noqa: F401  re-exported
    ACTIVE,
    BEST,
    LAST,
    LAST_STATE,
    LOCK,
    METRICS,
    RUN_JSON,
    STATUSES,
    TB_DIR,
    RunKind,
    RunRecord,
    Status,
    _checked,
    now_iso,
    run_dir,
    versions,
)
from synthwb.store.run_status import (  # noqa: F401  re-exported
    _pid_alive,
    check_scorable,
    effective_status,
    scoring_label,
    scoring_state,
)
from synthwb.store.run_weights import (  # noqa: F401  re-exported
    _first_line,
    check_weights_match,
    load_last,
    nonfinite_tensors,
    read_weights,
    save_last,
    save_weights,
    weights_file,
)

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def create_run(name: str, store: str | os.PathLike | None = None, /, **fields: Any) -> str:
    """Reserve a new run folder named after ``name`` (a unique slug) and write its run.json.

    ``fields`` go into run.json (e.g. selection, featureset, model_spec, config). The folder
    is claimed with an exclusive mkdir, so two jobs never get the same id.
    """
    base = slugify(check_label(name, "run name"))
    if not base:
        raise SpecError(f"invalid run name {name!r}: it must contain letters or digits")
    base = base[:72].strip("-._")
    check_slug(base, "run name")
    root = writable_store_dir(store)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        run_id = base if i == 1 else f"{base}-{i}"
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        info = {
            "run_id": run_id, "name": name, "status": "queued", "created": now_iso(),
            "updated": now_iso(), "started": None, "ended": None, "versions": versions(),
            "pid": os.getpid(), "best": {}, "last": {}, "error": None, "stop_reason": None,
        }
        info.update(fields)
        try:
            info = _checked(info, f"run {run_id!r}")
        except SpecError:
            path.rmdir()
            raise
        atomic_write_json(path / RUN_JSON, info)
        return run_id
    raise SpecError(f"too many runs named {base!r}")


PRE_VERSIONS_VALIDATOR = "2026-05"


def read_info(run_id: str, store: str | os.PathLike | None = None) -> dict:
    """A run's run.json, checked against :class:`RunRecord` (a wrong-shape file is a clear
    error), with the effective status."""

    path = run_dir(run_id, store) / RUN_JSON
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SynthwbError(f"run {run_id!r}: cannot read run.json ({exc})") from None
    info = _checked(info, f"run {run_id!r}")
    info["status"] = effective_status(info)
    cfg = info.get("config")
    if isinstance(cfg, dict) and "synth_task" in cfg and "validator" not in cfg:
        # a run saved before validator versions were recorded trained for the rules of then:
        # mode-network/synth-subnet @ec8a625 (synthwb.scoring.versions "2026-05")
        cfg["validator"] = PRE_VERSIONS_VALIDATOR
    return info


def update_run(run_id: str, store: str | os.PathLike | None = None, /, **fields: Any) -> dict:
    """Merge ``fields`` into run.json atomically (dict fields ``best``/``last`` are merged too)."""

    path = run_dir(run_id, store) / RUN_JSON
    with _lock_for(path):
        info = json.loads(path.read_text(encoding="utf-8"))
        for k, v in fields.items():
            if k in ("best", "last") and isinstance(v, dict) and isinstance(info.get(k), dict):
                info[k] = {**info[k], **v}
            else:
                info[k] = v
        info["updated"] = now_iso()
        info = _checked(info, f"run {run_id!r}")
        atomic_write_json(path, info)
    return info


def read_metrics(run_id: str, store: str | os.PathLike | None = None, kind: str | None = None) -> list[dict]:
    """metrics.jsonl as a list of dicts (``kind``: 'train' or 'val' to filter)."""
    rows = read_jsonl(run_dir(run_id, store) / METRICS)
    if kind is not None:
        rows = [r for r in rows if r.get("kind") == kind]
    return rows


@dataclass
class Run:
    """A saved run: its run.json plus lazy access to spec, feature set, config and metrics."""

    run_id: str
    path: Path
    info: dict
    store: str | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def status(self) -> str:
        return effective_status(self.info)

    @property
    def name(self) -> str:
        return self.info.get("name", self.run_id)

    @property
    def best(self) -> dict:
        return self.info.get("best") or {}

    @property
    def last(self) -> dict:
        return self.info.get("last") or {}

    @property
    def error(self) -> str | None:
        return self.info.get("error")

    @property
    def record(self) -> RunRecord:
        """run.json, typed (:class:`RunRecord`)."""
        return RunRecord.model_validate(self.info)

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def metrics(self) -> list[dict]:
        return read_jsonl(self.path / METRICS)

    def has_weights(self, which: str = "best") -> bool:
        return (self.path / weights_file(which)).is_file()

    def summary(self) -> dict:
        return _summary(self.info, self.path)


def load_run(run_id: str, store: str | os.PathLike | None = None) -> Run:
    path = run_dir(run_id, store)
    return Run(run_id=run_id, path=path, info=read_info(run_id, store), store=str(store) if store else None)


def rename_run(run_id: str, new_name: str, store: str | os.PathLike | None = None, force: bool = False) -> str:
    """Rename a run's folder to the slug of ``new_name``; returns the new run id."""
    path = run_dir(run_id, store)
    info = read_info(run_id, store)
    if info["status"] in ACTIVE and not force:
        raise SpecError(f"run {run_id!r} is {info['status']}; stop it before renaming")
    holder = lock_holder(run_id, store)
    if holder and not force:
        raise RunLocked(_holder_text(run_id, holder, path / LOCK))
    new_id = slugify(new_name)
    check_slug(new_id, "run name")
    if new_id.startswith("_"):
        raise SpecError(f"invalid run name {new_name!r}")
    if new_id == run_id:
        return run_id
    target = store_dir(store) / new_id
    if target.exists():
        raise SpecError(f"a run named {new_id!r} already exists")
    os.rename(path, target)
    update_run(new_id, store, run_id=new_id, name=new_name)
    return new_id


def delete_run(run_id: str, store: str | os.PathLike | None = None, force: bool = False) -> None:
    """Delete a run folder (refused while the run is active unless ``force``)."""
    path = run_dir(run_id, store)
    info = read_info(run_id, store)
    if info["status"] in ACTIVE and not force:
        raise SpecError(f"run {run_id!r} is {info['status']}; stop it before deleting")
    holder = lock_holder(run_id, store)
    if holder and not force:
        raise RunLocked(_holder_text(run_id, holder, path / LOCK))
    if path.is_symlink():  # a run linked into the store from elsewhere: remove the link, never the target
        path.unlink()
        return
    # move aside first so a half-deleted folder never looks like a run
    trash = path.with_name(f".deleting-{run_id}-{os.getpid()}")
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)
