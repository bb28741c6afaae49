"""How long a training run will take, measured before it starts.

``estimate_training(...)`` resolves the setup exactly as ``train`` does (``prepare``: same
checks, same errors, no run folder), builds the model and the windows, then times real work
on this machine: a few optimizer steps, a validation of a few windows at ``n_paths_eval``
paths and, when the run will be calibrated, the calibration fit on them; both costs grow
linearly with the windows, so they are scaled to the run's validation windows. The totals follow the
loop's schedule: the steps (``epochs`` x batches per epoch, capped by ``max_steps``), one
validation of the untrained anchor, one every ``val_every`` steps and one at the end, then the
calibration. Nothing is written anywhere.
"""
from __future__ import annotations

import itertools
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from synthwb.train.config import TrainConfig
from synthwb.train.data import epoch_order
from synthwb.train.loop import AUTO_VAL_EVERY, _Trainer, prepare

SAMPLE_WINDOWS = 16  # validation windows timed when the run validates on more (scaled to the run's)
WARMUP_STEPS = 2     # untimed first steps (allocator, first-call dispatch), as the run's first ones


@dataclass(frozen=True)
class TrainEstimate:
    """The schedule of a run and the time of each part, measured on this machine."""

    total_steps: int
    steps_per_epoch: int
    epochs: int
    n_validations: int
    val_batches: int
    step_s: float           # one optimizer step (forward, loss, backward, update)
    val_s: float            # one whole validation (all its batches)
    calibration_s: float    # the post-hoc calibration fit (0 when the run is not calibrated)
    setup_s: float          # building the model and the windows
    device: str

    @property
    def steps_per_s(self) -> float:
        return 1.0 / self.step_s if self.step_s > 0 else math.inf

    @property
    def seconds(self) -> float:
        """The whole run: setup, steps, validations and calibration."""
        return (self.setup_s + self.total_steps * self.step_s + self.n_validations * self.val_s
                + self.calibration_s)

    def to_dict(self) -> dict:
        return {**asdict(self), "steps_per_s": round(self.steps_per_s, 3), "seconds": round(self.seconds, 1)}

    def text(self) -> str:
        return (f"{self.total_steps:,} steps ({self.steps_per_epoch:,} per epoch x {self.epochs}"
                f"{', capped by max steps' if self.total_steps < self.steps_per_epoch * self.epochs else ''}) at "
                f"{self.steps_per_s:.1f} steps/s, {self.n_validations} validations of {self.val_s:.1f} s"
                + (f", calibration {self.calibration_s:.1f} s" if self.calibration_s else "")
                + f": about {format_seconds(self.seconds)} on {self.device}")


def format_seconds(sec: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 10 min``."""
    sec = int(round(sec))
    if sec < 60:
        return f"{sec} s"
    if sec < 3600:
        return f"{sec // 60} min {sec % 60:02d} s"
    return f"{sec // 3600} h {sec % 3600 // 60:02d} min"


def n_validations(total_steps: int, steps_per_epoch: int, config: TrainConfig, anchored: bool) -> int:
    """Validations the loop runs: the untrained anchor's (anchored models), one every
    ``val_every`` steps (default: every 100 steps, at most half an epoch) and one at the end."""
    every = config.val_every or max(1, min(AUTO_VAL_EVERY, math.ceil(steps_per_epoch / 2)))
    n = total_steps // every + (0 if total_steps % every == 0 else 1)
    return n + (1 if anchored else 0)


def _time_steps(trainer: _Trainer, n: int) -> float:
    """Seconds per optimizer step as the loop takes them: its shuffled batch order, the model in
    training mode, :data:`WARMUP_STEPS` untimed steps, then the median of ``n`` timed ones
    (batch loading included; a median, so one step slowed by another process does not count)."""
    trainer.model.train()
    order = epoch_order(len(trainer.train_ds), trainer.cfg.seed, 0)
    batches = iter(trainer.train_ds.batches(trainer.cfg.batch_size, order))
    times = []
    for b in itertools.islice(batches, WARMUP_STEPS + max(1, n)):
        t0 = time.perf_counter()
        trainer.train_step(b)
        times.append(time.perf_counter() - t0)
    times = times[WARMUP_STEPS:] or times  # a tiny split: its few steps, warm-up or not
    return sorted(times)[len(times) // 2]


def _time_validation(trainer: _Trainer) -> float:
    """Seconds of one whole validation: after a warm-up on two windows, the whole (bounded)
    validation set when it is small (the quick profile's one batch), else
    :data:`SAMPLE_WINDOWS` windows scaled to all of them (its cost grows with the windows)."""
    n_val = len(trainer.val_ds)
    if n_val == 0:
        return 0.0
    index = trainer.val_ds.index.clone()
    trainer.val_ds.limit(min(2, n_val))
    trainer.validate()  # warm-up: first-call costs are paid once per run, not once per window
    trainer.val_ds.index = index
    if n_val > 2 * SAMPLE_WINDOWS:
        trainer.val_ds.limit(SAMPLE_WINDOWS)
    scale = n_val / max(len(trainer.val_ds), 1)
    t0 = time.perf_counter()
    trainer.validate()
    out = (time.perf_counter() - t0) * scale
    trainer.val_ds.index = index
    return out


def estimate_training(featureset: Any, model_spec: Any, config: TrainConfig | dict | None = None, store=None,
                      root=None, context: int | None = None, horizon: int | None = None, timed_steps: int = 5,
                      leave_one_core: bool = False) -> TrainEstimate:
    """Measure what ``train(name, featureset, model_spec, config, ...)`` would take; raises the
    same errors as ``train`` for a setup that cannot run. ``timed_steps`` real steps are timed
    after one warm-up step (the model is thrown away)."""
    fs, spec, cfg = prepare(featureset, model_spec, config, store, context=context, horizon=horizon)
    t0 = time.perf_counter()
    rng = torch.get_rng_state()
    with tempfile.TemporaryDirectory(prefix="synthwb-estimate-") as tmp:
        trainer = _Trainer("estimate", Path(tmp), store, fs, spec, cfg, None, None, root=root,
                           leave_one_core=leave_one_core)
        setup_s = time.perf_counter() - t0
        val_batches = trainer.val_ds.n_batches(cfg.batch_size)
        n_val = len(trainer.val_ds)
        step_s = _time_steps(trainer, max(1, int(timed_steps)))
        val_s = _time_validation(trainer)
        trainer.val_ds.limit(min(SAMPLE_WINDOWS, n_val))  # the calibration: a few windows, scaled
        scale = n_val / max(len(trainer.val_ds), 1)
        cal_s = 0.0
        if cfg.calibrate and trainer.task is not None and trainer.model.anchor is not None:
            from synthwb.train.calibrate import fit_calibration  # lazy: only anchored, calibrated runs

            t2 = time.perf_counter()
            fit_calibration(trainer.model, trainer.val_ds, trainer.task, trainer.step_seconds,
                            cfg.calibration_paths, cfg.batch_size, trainer.device, cfg.seed)
            cal_s = (time.perf_counter() - t2) * scale
        anchored = trainer.model.anchor is not None
        est = TrainEstimate(total_steps=trainer.total_steps, steps_per_epoch=trainer.batches_per_epoch,
                            epochs=cfg.epochs,
                            n_validations=n_validations(trainer.total_steps, trainer.batches_per_epoch, cfg,
                                                        anchored),
                            val_batches=val_batches, step_s=step_s, val_s=val_s, calibration_s=cal_s,
                            setup_s=setup_s, device=str(trainer.device))
    torch.set_rng_state(rng)
    return est
