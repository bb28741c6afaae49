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
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import threading
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthwb.core import __version__
from synthwb.core.config import store_dir, writable_store_dir
from synthwb.core.errors import NotFound, SpecError, SynthwbError
from synthwb.core.io import atomic_path, atomic_write_json, check_label, check_slug, read_jsonl, slugify

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


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def versions() -> dict:
    """The versions a run was made with (read from the installed packages, without importing them)."""
    return {"synthwb": __version__, "python": platform.python_version(),
            **{dist: metadata.version(dist) for dist in ("torch", "polars", "numpy")}}


# ---------------------------------------------------------------------------- paths


def run_dir(run_id: str, store: str | os.PathLike | None = None, must_exist: bool = True) -> Path:
    """The folder of ``run_id`` (validated as a slug; never a path from user input)."""
    check_slug(run_id, "run id")
    if run_id.startswith("_"):
        raise SpecError(f"invalid run id {run_id!r}")
    path = store_dir(store) / run_id
    if must_exist and not (path / RUN_JSON).is_file():
        raise NotFound(f"no run {run_id!r} in {store_dir(store)}")
    return path


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


def _pid_alive(pid: Any) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def effective_status(info: dict) -> str:
    """The stored status, except that an 'active' run whose process is gone reads 'interrupted'."""
    status = info.get("status", "failed")
    if status in ACTIVE and not _pid_alive(info.get("pid")):
        return "interrupted"
    return status


# ---------------------------------------------------------------------------- usable for scoring


def scoring_state(info: dict, path: Path | None) -> tuple[bool, str]:
    """Whether a run can be backtested and compared, and its label for pickers and tables.

    A finished run can; so can an interrupted (stopped) path or Moirai run that saved best
    weights: it is scored from them, labelled ``"interrupted, best weights at step N"``. A run
    that is still active, failed, or stopped before its first validation cannot."""
    status = effective_status(info)
    if status == "finished":
        return True, "finished"
    if status != "interrupted":
        return False, status
    if info.get("kind", "path") == "ensemble" or path is None or not (path / BEST).is_file():
        return False, "interrupted, no best weights yet"
    step = (info.get("best") or {}).get("step")
    return True, "interrupted, best weights" + (f" at step {step}" if step is not None else "")


def check_scorable(run: Run) -> None:
    """Refuse, with the fix, a run that cannot be scored (:func:`scoring_state`)."""
    ok, label = scoring_state(run.info, run.path)
    if ok:
        return
    if run.status in ACTIVE:
        raise SpecError(f"run {run.run_id!r} is {run.status}: wait for it to finish, or stop it "
                        "(a stopped run is scored from its best weights)")
    if run.status == "interrupted":
        raise SpecError(f"run {run.run_id!r} was stopped before its first validation, so it has no best "
                        "weights to score; resume it (train --resume) until it validates")
    raise SpecError(f"run {run.run_id!r} {run.status}" + (f" ({run.error})" if run.error else "")
                    + ": it has nothing to score; resume it or train it again")


def scoring_label(run: Run) -> str | None:
    """The label a scored run carries in tables when it is not a plain finished run (e.g.
    ``"interrupted, best weights at step 40"``), else None."""
    ok, label = scoring_state(run.info, run.path)
    return label if ok and label != "finished" else None


# ---------------------------------------------------------------------------- one writer


class RunLocked(SpecError):
    """Another process (or job) is writing the run."""


def _read_lock(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder_text(run_id: str, holder: dict, path: Path) -> str:
    return (f"run {run_id!r} is being written by pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
            f"(since {holder.get('since', '?')}); wait for it to finish or stop it first. If that process is "
            f"gone, delete {path}")


class WriterLock:
    """The one-writer lock of a run folder: ``writer.lock`` holds the writer's pid, host and
    start time, and the writer holds an exclusive ``flock`` on it while it writes.

    A second writer is refused (:class:`RunLocked`) while the flock is held, or while the file
    names a live process on this host other than this one (or any process on another host,
    whose liveness cannot be checked from here). A lock left by a dead process on this host
    (a killed training) is stale: it is detected and taken over (``took_over`` names it).
    The lock is released (file removed) by :meth:`release`, or by the OS when the process dies."""

    def __init__(self, run_id: str, store=None):
        import fcntl  # lazy: POSIX only, needed by writers alone

        self.run_id = run_id
        self.path = run_dir(run_id, store) / LOCK
        self.took_over: dict | None = None
        host = socket.gethostname()
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunLocked(_holder_text(run_id, _read_lock(self.path), self.path)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file between our open and flock: retry
                os.close(fd)
                continue
            holder = _read_lock(self.path)
            pid = holder.get("pid")
            if holder and (holder.get("host") != host or (_pid_alive(pid) and pid != os.getpid())):
                os.close(fd)
                raise RunLocked(_holder_text(run_id, holder, self.path))
            self.took_over = holder or None
            self.fd = fd
            text = json.dumps({"pid": os.getpid(), "host": host, "since": now_iso(), "run_id": run_id})
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
            os.fsync(fd)
            return
        raise RunLocked(f"run {run_id!r}: could not take its writer lock {self.path}; try again")

    def release(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is None:
            return
        self.fd = None
        try:
            if _read_lock(self.path).get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def writer_lock(run_id: str, store=None) -> WriterLock:
    """Take the run's writer lock (see :class:`WriterLock`); raises :class:`RunLocked`."""
    return WriterLock(run_id, store)


def lock_holder(run_id: str, store=None) -> dict | None:
    """Who holds the run's writer lock now (pid, host, since), or None when nobody does."""
    import fcntl  # lazy: POSIX only

    path = run_dir(run_id, store) / LOCK
    if not path.is_file():
        return None
    holder = _read_lock(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return holder or {"pid": None, "host": None}
    finally:
        os.close(fd)  # a probe's shared flock ends with its descriptor
    if holder and (holder.get("host") != socket.gethostname() or _pid_alive(holder.get("pid"))):
        return holder
    return None


# ---------------------------------------------------------------------------- list / load


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
        "loss": cfg.get("loss"), "task": cfg.get("synth_task") if isinstance(cfg.get("synth_task"), str) else None,
        "step": last.get("step"), "epoch": last.get("epoch"),
        "best_val_crps": best.get("val_crps"), "best_val_score": best.get("val_score"),
        "best_val_coverage_90": best.get("val_coverage_90"), "best_step": best.get("step"),
        "n_params": info.get("n_params"), "error": info.get("error"),
    }


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


# ---------------------------------------------------------------------------- weights


def weights_file(which: str) -> str:
    if which == "best":
        return BEST
    if which == "last":
        return LAST
    raise SpecError(f"which must be 'best' or 'last', not {which!r}")


def nonfinite_tensors(state_dict: dict) -> list[str]:
    """Names of floating-point tensors holding NaN or inf."""
    import torch

    bad = []
    for k, v in state_dict.items():
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad.append(k)
    return bad


def save_weights(path: str | os.PathLike, state_dict: dict, metadata: dict | None = None) -> None:
    """Write a state dict as safetensors, atomically; refuses NaN/inf tensors."""
    from safetensors.torch import save_file

    bad = nonfinite_tensors(state_dict)
    if bad:
        raise SynthwbError(f"refusing to save weights with NaN/inf values in {bad[:5]}")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_weights(path: str | os.PathLike, device: str = "cpu") -> dict:
    """A weights file, checked finite: NaN/inf weights (a damaged or tampered file; synthwb
    never saves them) would forecast flat paths that score as valid, so they are refused."""
    from safetensors.torch import load_file

    p = Path(path)
    try:
        state = load_file(str(p), device=device)
    except Exception as exc:  # noqa: BLE001 - a corrupt file must read as a clear error
        raise SynthwbError(f"cannot read weights {p.name}: {_first_line(exc)}") from None
    bad = nonfinite_tensors(state)
    if bad:
        run = p.parent.name
        raise SynthwbError(f"weights {p.name} of run {run!r} hold NaN/inf values (in {len(bad)} tensor(s), e.g. "
                           f"{bad[0]}): the file is damaged; retrain the run or delete it")
    return state


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's text as one short line (torch's load errors run to many lines)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_weights_match(model, state: dict, what: str = "weights") -> None:
    """Raise SpecError naming missing/unexpected keys and shape mismatches."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f"{k}: spec {expected[k]} vs weights {got[k]}" for k in sorted(set(expected) & set(got))
              if expected[k] != got[k]]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {shapes[:3]})")
        raise SpecError(f"the model spec does not match its {what}: " + "; ".join(parts))


# ---------------------------------------------------------------------------- rename / delete


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


# ---------------------------------------------------------------------------- last checkpoint


def save_last(path: Path, state_dict: dict, state: dict, metadata: dict | None = None) -> None:
    """A run's resumable checkpoint: ``last.safetensors`` (weights, never NaN) and
    ``last_state.pt`` (optimizer, scheduler, step, RNG: tensors and plain types only)."""
    import torch  # lazy: the store reads run.json without torch

    save_weights(path / LAST, state_dict, metadata)
    with atomic_path(path / LAST_STATE) as tmp:
        torch.save(state, tmp)


def load_last(path: Path, model, run_id: str) -> dict:
    """Load ``last.safetensors`` into ``model`` (keys and shapes checked) and return the
    training state of ``last_state.pt`` (read with ``weights_only=True``)."""
    import torch  # lazy: the store reads run.json without torch

    wpath, spath = path / LAST, path / LAST_STATE
    if not wpath.is_file() or not spath.is_file():
        raise NotFound(f"run {run_id!r} has no last checkpoint to resume from")
    weights = read_weights(wpath)
    check_weights_match(model, weights, f"last weights ({run_id})")
    model.load_state_dict(weights)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on a foreign pickle protocol: the refusal says it
            state = torch.load(spath, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a torn/corrupt/tampered file is a clear error, not torch's pages
        state = None
    if not isinstance(state, dict) or not {"step", "optimizer", "scheduler"} <= set(state):
        raise SynthwbError(f"run {run_id!r}: its training state {spath.name} is damaged or not a synthwb "
                           "checkpoint, so it cannot be resumed; its saved weights still forecast (backtest it), "
                           "or train a new run")
    return state
