"""How long a training run will take, measured before it starts.

``estimate_training(...)`` resolves the setup exactly as ``train`` does (``prepare``: same
checks, same errors, no run folder), builds the model and the windows, then times real work
on this machine as it is (other processes included): optimizer steps for a few seconds, a
validation batch of the run's size at ``n_paths_eval`` paths and, when the run will be calibrated, the
calibration fit on them; both costs grow linearly with the windows, so they are scaled to the
run's validation windows. The totals follow the loop's schedule: the steps (``epochs`` x batches
per epoch, capped by ``max_steps``), one validation of the untrained anchor, one every
``val_every`` steps and one at the end, then the calibration; plus what a run pays once: its
setup (feature set, windows, model) and the first calls' extra cost (the first steps, the first
validation). Nothing is written anywhere.

A step is the *mean* of the timed steps, not the median: the run pays every step, the ones another
process slowed down too. A run stopped early (``patience``) takes less.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthwb.core.errors import SynthwbError
from synthwb.data.schema import FREQ_SECONDS
from synthwb.train.blend import BLEND_WINDOWS, fit_blend
from synthwb.train.config import TrainConfig
from synthwb.train.data import epoch_order
from synthwb.train.inputs import prepare
from synthwb.train.trainer import AUTO_VAL_EVERY, _Trainer

SAMPLE_BATCHES = 1  # validation batches (of the run's size) timed when it validates on more, scaled to its
WARMUP_STEPS = 2     # first steps (allocator, first-call dispatch): their extra cost counts once
STEP_BUDGET_S = 3.0  # steps are timed for about this long (at least ``timed_steps``), so one slow step
MAX_TIMED_STEPS = 60  # or a burst of load weighs in as much as it will in the run


@dataclass(frozen=True)
class TrainEstimate:
    """The schedule of a run and the time of each part, measured on this machine."""

    total_steps: int
    steps_per_epoch: int
    epochs: int
    n_validations: int
    val_batches: int
    step_s: float           # one optimizer step (forward, loss, backward, update), the mean of those timed
    val_s: float            # one whole validation (all its batches)
    calibration_s: float    # the post-hoc calibration fit (0 when the run is not calibrated)
    setup_s: float          # reading the feature set, building the model and the windows
    device: str
    first_calls_s: float = 0.0  # paid once: the first steps' and the first validation's extra cost
    timed_steps: int = 0        # how many steps step_s is the mean of
    early_stopping: bool = False  # the run may stop before its last step (patience), and take less
    startup_s: float = 0.0      # a command's own start (interpreter, imports), paid again by `synthwb train`
    blend_s: float = 0.0        # the blend with the classical forecasters (0 when the run is not blended)
    gate_s: float = 0.0         # the gate: trained against untrained weights on validation (0 when off)

    @property
    def steps_per_s(self) -> float:
        return 1.0 / self.step_s if self.step_s > 0 else math.inf

    @property
    def seconds(self) -> float:
        """The whole run: start, setup, first calls, steps, validations and calibration."""
        return (self.startup_s + self.setup_s + self.first_calls_s + self.total_steps * self.step_s
                + self.n_validations * self.val_s + self.calibration_s + self.blend_s + self.gate_s)

    def to_dict(self) -> dict:
        return {**asdict(self), "steps_per_s": round(self.steps_per_s, 3), "seconds": round(self.seconds, 1)}

    def text(self) -> str:
        return (f"{self.total_steps:,} steps ({self.steps_per_epoch:,} per epoch x {self.epochs}"
                f"{', capped by max steps' if self.total_steps < self.steps_per_epoch * self.epochs else ''}) at "
                f"{self.steps_per_s:.1f} steps/s, {self.n_validations} validations of {self.val_s:.1f} s"
                + (f", calibration {self.calibration_s:.1f} s" if self.calibration_s else "")
                + (f", blend {self.blend_s:.1f} s" if self.blend_s else "")
                + (f", gate {self.gate_s:.1f} s" if self.gate_s else "")
                + f", start, setup and first calls {self.startup_s + self.setup_s + self.first_calls_s:.1f} s"
                + f": about {format_seconds(self.seconds)} on {self.device}"
                + (" (less if early stopping ends it)" if self.early_stopping else ""))


def process_age() -> float:
    """Seconds since this process started (Linux; 0 where unknown): what a command spent starting
    the interpreter and importing before it got to work, which the next command pays again."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(float(Path("/proc/uptime").read_text().split()[0]) - started, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


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


def _time_steps(trainer: _Trainer, n: int, budget_s: float = STEP_BUDGET_S,
                max_steps: int = MAX_TIMED_STEPS) -> tuple[float, float, int]:
    """``(seconds per step, extra seconds of the first steps, steps timed)``, as the loop takes
    them: its shuffled batch order, the model in training mode, batch loading included.
    :data:`WARMUP_STEPS` first steps, then at least ``n`` steps and until ``budget_s`` seconds
    (at most ``max_steps``, at most the run's steps). The step is their mean: the run pays every
    step, the ones another process slowed down too. The first steps' cost above it is paid once."""
    trainer.model.train()
    limit = max(max(1, n), min(max_steps, trainer.total_steps - WARMUP_STEPS))
    first, times = [], []
    epoch = 0
    while len(times) < limit:
        order = epoch_order(len(trainer.train_ds), trainer.cfg.seed, epoch)
        got = False
        for b in trainer.train_ds.batches(trainer.cfg.batch_size, order):
            got = True
            t0 = time.perf_counter()
            trainer.train_step(b)
            (first if len(first) < WARMUP_STEPS else times).append(time.perf_counter() - t0)
            if len(times) >= limit or (len(times) >= n and sum(times) >= budget_s):
                break
        else:
            epoch += 1
        if not got or (len(times) >= n and sum(times) >= budget_s):
            break
    if not times:  # a tiny split: its few steps, warm-up or not
        times, first = first, []
    step_s = sum(times) / len(times)
    return step_s, max(sum(first) - len(first) * step_s, 0.0), len(times)


def _time_validation(trainer: _Trainer) -> tuple[float, float]:
    """``(seconds of one whole validation, extra seconds of the first one)``: the whole (bounded)
    validation set when it is small (the quick profile's one batch), else :data:`SAMPLE_BATCHES`
    batches of the run's size (a smaller batch costs less per window), validated twice: the first
    pays what a run pays once (first calls, the big buffers' first touch), the second is every
    validation's cost, scaled to all the windows (it grows with them)."""
    n_val = len(trainer.val_ds)
    if n_val == 0:
        return 0.0, 0.0
    index = trainer.val_ds.index.clone()
    sample = SAMPLE_BATCHES * trainer.val_batch
    if n_val > 2 * sample:
        trainer.val_ds.limit(sample)
    n_timed = max(len(trainer.val_ds), 1)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        trainer.validate()
        times.append(time.perf_counter() - t0)
    trainer.val_ds.index = index
    first, timed = times
    return timed * n_val / n_timed, max(first - timed, 0.0)


def _time_blend(trainer: _Trainer, sample: int = 8) -> float:
    """Seconds of the blend (:mod:`synthwb.train.blend`): ``sample`` validation windows blended, scaled
    to the classical fits the whole blend makes (one per window in a new refit period of a day, the
    models' default) and to its windows."""
    ds = trainer.calibration_windows().limit(BLEND_WINDOWS)
    days = np.unique(np.floor(ds.t0[ds.index].numpy() / 86400.0)).size if ds.t0 is not None else len(ds)
    n_sample = min(sample, len(ds))
    ds.limit(n_sample)
    t = time.perf_counter()
    try:
        fit_blend(trainer.model, ds, trainer.task, trainer.step_seconds, FREQ_SECONDS[trainer.fs.freq],
                  trainer.fs.selection, trainer.root, trainer.cfg.calibration_paths, trainer.val_batch,
                  trainer.device, trainer.cfg.seed)
    except SynthwbError:  # the run will record why it was not blended: it costs nothing
        return 0.0
    return (time.perf_counter() - t) * max(days, 1) / max(n_sample, 1)


def estimate_training(featureset: Any, model_spec: Any, config: TrainConfig | dict | None = None, store=None,
                      root=None, context: int | None = None, horizon: int | None = None, timed_steps: int = 5,
                      leave_one_core: bool = False) -> TrainEstimate:
    """Measure what ``train(name, featureset, model_spec, config, ...)`` would take; raises the
    same errors as ``train`` for a setup that cannot run. At least ``timed_steps`` real steps
    are timed, for about :data:`STEP_BUDGET_S` seconds, after :data:`WARMUP_STEPS` first ones
    (the model is thrown away)."""
    t0 = time.perf_counter()
    fs, spec, cfg = prepare(featureset, model_spec, config, store, context=context, horizon=horizon)
    rng = torch.get_rng_state()
    with tempfile.TemporaryDirectory(prefix="synthwb-estimate-") as tmp:
        trainer = _Trainer("estimate", Path(tmp), store, fs, spec, cfg, None, None, root=root,
                           leave_one_core=leave_one_core)
        setup_s = time.perf_counter() - t0
        val_batches = trainer.val_ds.n_batches(cfg.batch_size)
        step_s, first_steps_s, n_timed = _time_steps(trainer, max(1, int(timed_steps)))
        val_s, first_val_s = _time_validation(trainer)
        cal_s = gate_s = 0.0
        if cfg.calibrate and trainer.task is not None and trainer.model.anchor is not None:
            from synthwb.train.calibrate import fit_calibration  # lazy: only anchored, calibrated runs

            cal_ds = trainer.calibration_windows()
            n_cal = len(cal_ds)
            cal_ds.limit(min(SAMPLE_BATCHES * trainer.val_batch, n_cal))  # the calibration: a batch, scaled
            t2 = time.perf_counter()
            fit_calibration(trainer.model, cal_ds, trainer.task, trainer.step_seconds,
                            cfg.calibration_paths, trainer.val_batch, trainer.device, cfg.seed)
            cal_s = (time.perf_counter() - t2) * n_cal / max(len(cal_ds), 1)
            if cfg.gate:  # two models scored once on the calibration windows
                from synthwb.train.gate import window_scores  # lazy: only anchored, gated runs

                t3 = time.perf_counter()
                window_scores(trainer.model, cal_ds, trainer.task, trainer.step_seconds, cfg.calibration_paths,
                              trainer.val_batch, trainer.device, cfg.seed)
                gate_s = 2 * (time.perf_counter() - t3) * n_cal / max(len(cal_ds), 1)
        blend_s = _time_blend(trainer) if cfg.blend and cal_s else 0.0
        anchored = trainer.model.anchor is not None
        n_vals = n_validations(trainer.total_steps, trainer.batches_per_epoch, cfg, anchored)
        est = TrainEstimate(total_steps=trainer.total_steps, steps_per_epoch=trainer.batches_per_epoch,
                            epochs=cfg.epochs, n_validations=n_vals,
                            val_batches=val_batches, step_s=step_s, val_s=val_s, calibration_s=cal_s,
                            setup_s=setup_s, device=str(trainer.device),
                            first_calls_s=first_steps_s + (first_val_s if val_s else 0.0), timed_steps=n_timed,
                            early_stopping=0 < cfg.patience < n_vals - 1, blend_s=blend_s,
                            gate_s=gate_s)
    torch.set_rng_state(rng)
    return est
