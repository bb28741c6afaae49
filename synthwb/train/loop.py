"""The training loop for path models.

``train(name, featureset, model_spec, config)`` builds the model, takes train/validation
windows from a saved feature set, and minimises the CRPS of simulated paths against the
realised path at every horizon step (or the almost-fair CRPS, or the Synth-style score).
AdamW, gradient clipping, warm-up then cosine (with restarts), early stopping on validation
CRPS, mixed precision on CUDA, NaN/inf guards, cooperative stop, checkpoints in models_store
(best + last + optimizer state for resume), metrics to metrics.jsonl, TensorBoard and to the
caller's ``progress`` callback (a background Job's history).

This module is the orchestrator: it claims the run folder (rank 0), records the run's status
as it starts, ends or fails, and drives the trainer. The parts live beside it and their names
are re-exported here:

- :mod:`synthwb.train.inputs`: resolving and cross-checking the setup (``prepare``);
- :mod:`synthwb.train.trainer`: the trainer, one optimizer step and the step/epoch loop;
- :mod:`synthwb.train.validation`: validation, the best checkpoint, early stopping;
- :mod:`synthwb.train.checkpoint`: the resumable state, saving and restoring it;
- :mod:`synthwb.train.reporting`: metric rows to metrics.jsonl, TensorBoard and ``progress``.
"""
from __future__ import annotations

import contextlib
import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthwb.core.device import resolve_device
from synthwb.core.errors import SynthwbError
from synthwb.core.io import check_free_space
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.featureset import run_featureset, saved_twin
from synthwb.models.spec import run_spec
from synthwb.store import runs as store_runs
from synthwb.train import distributed
from synthwb.train.blend import blend_members
from synthwb.train.config import TrainConfig
from synthwb.train.distributed import World
from synthwb.train.inputs import (  # noqa: F401  re-exported: the setup's public names
    check_synth_grid,
    featureset_payload,
    n_features_of,
    prepare,
    preset_names,
    resolve_spec,
    step_seconds_of,
    target_task,
)
from synthwb.train.losses import training_loss  # noqa: F401  re-exported (the trainer uses it: patch synthwb.train.trainer)
from synthwb.train.pool import pool_summary
from synthwb.train.trainer import (  # noqa: F401  re-exported: the trainer and its settings
    AUTO_VAL_EVERY,
    AUTO_WINDOWS,
    ProgressFn,
    TrainingFailed,
    _amp_context,
    _cpu_count,
    _Trainer,
)


@dataclass
class RunInfo:
    """What a finished (or stopped, or failed) training call returns."""

    run_id: str
    path: Path
    status: str
    step: int = 0
    epoch: int = 0
    best: dict = field(default_factory=dict)
    stop_reason: str | None = None
    error: str | None = None
    skipped_steps: int = 0

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "path": str(self.path), "status": self.status, "step": self.step,
                "epoch": self.epoch, "best": self.best, "stop_reason": self.stop_reason,
                "error": self.error, "skipped_steps": self.skipped_steps}


def train(
    name: str,
    featureset: Any,
    model_spec: Any,
    config: TrainConfig | dict | None = None,
    store: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    stop_event: threading.Event | None = None,
    resume: bool = False,
    context: int | None = None,
    horizon: int | None = None,
    leave_one_core: bool = False,
) -> RunInfo:
    """Train a path model; returns the run's final state.

    ``name``: the run name (a new unique run id is made from it), or with ``resume=True`` the
    id of an existing run to continue from its last checkpoint (``featureset``/``model_spec``
    are then taken from the run and may be None; ``config`` may change e.g. ``epochs``).
    ``progress(fraction, metrics=None, message=None)`` receives every logged row;
    ``stop_event`` set -> the run stops at the next step as ``interrupted`` with its last good
    weights saved. ``leave_one_core``: on CPU with ``config.threads == 0``, let torch use all
    cores but one (background jobs in the app). ``root``: the lake, used only when the feature set was saved without its
    frame (or a resumed run's feature set is no longer saved).
    """
    if resume:
        run = store_runs.load_run(name, store)
        run_id = run.run_id
        fs = saved_twin(run_featureset(run), store)
        spec = run_spec(run)
        cfg = TrainConfig.parse(run.info.get("config") or {}, **(_config_overrides(config)))
    else:
        fs, spec, cfg = prepare(featureset, model_spec, config, store, context=context, horizon=horizon)
    # under torchrun (or --devices) join the process group; rank 0 alone writes the run
    world = distributed.setup(resolve_device(cfg.device))
    lock = None
    try:
        claimed = _claim_run(world, name, run_id if resume else None, fs, spec, cfg, model_spec, store)
        if isinstance(claimed, tuple):
            claimed, lock = claimed
        run_id = distributed.broadcast(claimed, world)
        if isinstance(run_id, BaseException):
            raise run_id
        return _train_run(run_id, store, fs, spec, cfg, world, root, progress, stop_event, resume, leave_one_core,
                          lock)
    finally:
        if lock is not None:
            lock.release()
        distributed.teardown(world)


def _claim_run(world: World, name: str, run_id: str | None, fs, spec, cfg: TrainConfig, model_spec, store):
    """Rank 0: ``(run id, its writer lock)``: a new run's folder made, or a resumed run's lock
    taken (a second writer, e.g. another resume, is refused here); other ranks None. Under
    torch.distributed a user error is returned (not raised) so rank 0 can hand it to every rank."""
    if not world.is_main:
        return None
    try:
        if run_id is not None:
            return run_id, store_runs.writer_lock(run_id, store)
        sel = getattr(fs, "selection", None)
        extra = {"distributed": {"world_size": world.size, "global_batch_size": cfg.batch_size * world.size}} \
            if world.active else {}
        run_id = store_runs.create_run(
            name, store,
            selection=sel.to_dict() if hasattr(sel, "to_dict") else sel,
            model_name=model_spec if isinstance(model_spec, str) else None,
            featureset_name=getattr(fs, "name", None),
            featureset=featureset_payload(fs),
            model_spec=spec.model_dump(mode="json"),
            config=cfg.model_dump(mode="json"),
            context=int(spec.context), horizon=int(spec.horizon), n_features=int(spec.n_features),
            step_seconds=step_seconds_of(fs), **extra,
        )
        return run_id, store_runs.writer_lock(run_id, store)
    except SynthwbError as exc:
        if not world.active:
            raise
        return exc


def _train_run(run_id: str, store, fs, spec, cfg: TrainConfig, world: World, root, progress, stop_event,
               resume: bool, leave_one_core: bool, lock) -> RunInfo:
    main = world.is_main
    path = store_runs.run_dir(run_id, store)
    trainer = None
    started = False
    try:
        trainer = _Trainer(run_id, path, store, fs, spec, cfg, progress, stop_event, root=root,
                           leave_one_core=leave_one_core, world=world)
        if resume:
            trainer.restore()
        if main:  # the weights, the last checkpoint (with Adam's two moments) and the metrics must fit
            n_params = sum(p.numel() for p in trainer.model.parameters())
            check_free_space(path, n_params * 4 * 5 + int(trainer.total_steps) * 400,
                             f"run {run_id!r} (weights, checkpoints and metrics) into")
        # from here on the run is being trained: its status says so, and a failure is recorded
        started = True
        if main:
            store_runs.update_run(run_id, store, status="running", pid=os.getpid(), error=None, traceback=None,
                                  stop_reason=None, started=store_runs.now_iso(), ended=None,
                                  **({"config": cfg.model_dump(mode="json")} if resume else {}))
            store_runs.update_run(run_id, store, n_params=sum(p.numel() for p in trainer.model.parameters()),
                                  device=str(trainer.device), total_steps=trainer.total_steps,
                                  n_train_windows=len(trainer.train_ds), n_val_windows=len(trainer.val_ds),
                                  pool=pool_summary(trainer.train_ds))
        status, reason = trainer.fit()
        if status == "interrupted":
            trainer.checkpoint()
        else:
            if trainer.gate() is False:  # the run forecasts with its untrained anchor: the reason says so
                reason = f"{reason}; the gate kept the untrained anchor (training did not beat it clearly on validation)"
            trainer.calibrate()
            trainer.blend()
        if not main:
            return RunInfo(run_id, path, status, trainer.step, trainer.epoch, {}, reason, None, trainer.skipped)
        info = store_runs.update_run(run_id, store, status=status, stop_reason=reason, ended=store_runs.now_iso())
        return RunInfo(run_id, path, status, trainer.step, trainer.epoch, info.get("best") or {},
                       reason, None, trainer.skipped)
    except KeyboardInterrupt:
        # aborted mid-step: the weights may be half-updated, so the last checkpoint stays as it is
        if main and started:
            with contextlib.suppress(Exception):
                store_runs.update_run(run_id, store, status="interrupted", stop_reason="aborted (Ctrl-C); "
                                      "resume continues from the last checkpoint", ended=store_runs.now_iso())
        elif main and not resume:
            _discard(run_id, store, lock)
        raise
    except BaseException as exc:
        if not started:
            # refused before training began: a resumed run keeps its status and files untouched, and
            # a new run's folder goes when the refusal is the user's (a bug keeps it, with its traceback)
            if resume:
                raise
            if isinstance(exc, SynthwbError):
                if main:
                    _discard(run_id, store, lock)
                raise
        err = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if main:
            with contextlib.suppress(Exception):
                store_runs.update_run(run_id, store, status="failed", error=err, traceback=traceback.format_exc(),
                                      stop_reason=str(exc) if isinstance(exc, TrainingFailed) else None,
                                      ended=store_runs.now_iso())
        raise
    finally:
        if trainer is not None:
            trainer.close()
        if lock is not None:
            lock.release()


def finish_run(run_id: str, store: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
               config: TrainConfig | dict | None = None, progress: ProgressFn | None = None) -> dict:
    """Fit the calibration and the blend of a run trained without them (a search's kept trials: the
    trials train without them, their objective is the network's own validation score), as the last
    steps of its training would have; ``config`` overrides the run's settings (``calibrate``,
    ``blend``, ``calibration_windows``), saved with the run. Returns the run's record."""
    run = store_runs.load_run(run_id, store)
    cfg = TrainConfig.parse(run.info.get("config") or {}, **_config_overrides(config))
    lock = store_runs.writer_lock(run_id, store)
    trainer = None
    try:
        trainer = _Trainer(run_id, run.path, store, saved_twin(run_featureset(run), store), run_spec(run), cfg,
                           progress, None, root=root)
        store_runs.update_run(run_id, store, config=cfg.model_dump(mode="json"))
        trainer.calibrate()
        trainer.blend()
    finally:
        if trainer is not None:
            trainer.close()
        lock.release()
    return store_runs.read_info(run_id, store)


def blend_candidates(run_id: str, split: str = "val", store: str | os.PathLike | None = None,
                     root: str | os.PathLike | None = None, n_windows: int = 800) -> dict:
    """The candidate members of a finished anchored run's blend over ``n_windows`` windows (evenly
    spread) of its feature set's ``split`` ("val", what training fits the blend on, or "test"): the run
    calibrated as recorded and each default classical forecaster, as
    :func:`synthwb.train.blend.blend_members` returns them, with the ``task`` they are scored on and its
    ``step_seconds`` (for studies of the blend: ``bench/bench_blend.py``)."""
    run = store_runs.load_run(run_id, store)
    cfg = TrainConfig.parse(run.info.get("config") or {})
    trainer = _Trainer(run_id, run.path, store, saved_twin(run_featureset(run), store), run_spec(run), cfg,
                       None, None, root=root)
    try:
        if trainer.task is None or trainer.model.anchor is None:
            raise SynthwbError(f"run {run_id} has no target task or no classical anchor: it has no blend")
        m = blend_members(trainer.calibrated_best_model(), trainer._windows(split, 1).limit(int(n_windows)),
                          trainer.task, trainer.step_seconds, FREQ_SECONDS[trainer.fs.freq],
                          trainer.fs.selection, root, cfg.calibration_paths, trainer.val_batch,
                          trainer.device, cfg.seed)
        return {**m, "task": trainer.task, "step_seconds": trainer.step_seconds}
    finally:
        trainer.close()


def _discard(run_id: str, store, lock) -> None:
    """Remove a new run's folder that training never started in (nothing left half-made)."""
    lock.release()
    with contextlib.suppress(Exception):
        store_runs.delete_run(run_id, store, force=True)


def _config_overrides(config: TrainConfig | dict | None) -> dict:
    if config is None:
        return {}
    if isinstance(config, TrainConfig):
        return config.model_dump(exclude_unset=True)
    return dict(config)
