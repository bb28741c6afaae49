"""The trainer of one run: the model, optimizer, schedule and windows it is built from, one
optimizer step, and the step/epoch loop (``fit``) with its NaN/inf guard and cooperative stop.

Validation and early stopping (:mod:`synthwb.train.validation`), checkpoints and resume
(:mod:`synthwb.train.checkpoint`) and the metric rows (:mod:`synthwb.train.reporting`) are
mixed in; :func:`synthwb.train.loop.train` makes the run folder and drives a ``_Trainer``.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from synthwb.core.device import resolve_device
from synthwb.core.errors import DataError, SynthwbError
from synthwb.core.training import early_stop_reason, end_of_loop, epoch_batches
from synthwb.data.schema import FREQ_SECONDS
from synthwb.models import build_model
from synthwb.models.simulate import noise_shard
from synthwb.store import runs as store_runs
from synthwb.train import distributed
from synthwb.train.blend import BLEND_WINDOWS, fit_blend
from synthwb.train.calibrate import fit_calibration
from synthwb.train.checkpoint import CheckpointMixin
from synthwb.train.config import TrainConfig
from synthwb.train.data import Batch, WindowDataset, epoch_order
from synthwb.train.distributed import SINGLE, World
from synthwb.train.gate import gate_training, untrained_model
from synthwb.train.inputs import step_seconds_of, target_task
from synthwb.train.losses import training_loss
from synthwb.train.pool import pooled_training
from synthwb.train.reporting import ReportingMixin, tensorboard_writer
from synthwb.train.schedule import build_scheduler
from synthwb.train.validation import ValidationMixin

ProgressFn = Callable[..., None]
AUTO_WINDOWS = 8000
AUTO_VAL_EVERY = 100    # default validation interval (steps), at most half an epoch


class TrainingFailed(SynthwbError):
    """The run could not go on (e.g. too many consecutive NaN/inf steps)."""


def _amp_context(device: torch.device, config: TrainConfig):
    if config.amp and device.type == "cuda":
        dtype = torch.bfloat16 if config.amp_dtype == "bf16" else torch.float16
        return lambda: torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_threads(leave_one_core: bool = False) -> int:
    """torch CPU threads for ``threads = 0``: the cores the other work on the machine leaves free
    (cores minus the 1-minute load average, rounded), at least one; in a background job of the app
    one core fewer, so the pages stay responsive. More threads than free cores make every step wait
    for the busiest core: on 2 busy cores, 2 threads ran steps 6-25x slower than 1 (bench_estimate)."""
    cores = _cpu_count()
    try:
        busy = int(round(os.getloadavg()[0]))
    except (AttributeError, OSError):  # no load average on this platform
        busy = 0
    free = max(1, cores - busy)
    return max(1, min(free, cores - 1)) if leave_one_core else free


class _Trainer(CheckpointMixin, ValidationMixin, ReportingMixin):
    def __init__(self, run_id: str, path: Path, store, fs, spec, config: TrainConfig,
                 progress: ProgressFn | None, stop_event: threading.Event | None, root=None,
                 leave_one_core: bool = False, world: World = SINGLE):
        self.run_id, self.path, self.store, self.root = run_id, path, store, root
        self.fs, self.spec, self.cfg = fs, spec, config
        self.world = world
        self.progress = (progress if world.is_main else None) or (lambda *a, **k: None)
        self.stop_event = stop_event or threading.Event()
        self.device = distributed.rank_device(resolve_device(config.device), world)
        self.step_seconds = int(spec.path_step or step_seconds_of(fs))
        self.context, self.horizon = int(spec.context), int(spec.horizon)
        self.task, self.task_points = target_task(config, self.step_seconds, self.horizon)

        if self.device.type == "cpu":
            torch.set_num_threads(config.threads or auto_threads(leave_one_core))  # process-wide: CPU jobs share it
        torch.manual_seed(config.seed)
        self.model = build_model(spec).to(self.device)
        self.net = distributed.wrap(self.model, world, self.device)  # what the training step runs
        self.train_ds = self._windows("train", config.stride or self._auto_stride())
        if config.pool:
            self.train_ds = pooled_training(self.train_ds, fs, config.pool, self.context, self.horizon,
                                            self.step_seconds, config.stride, AUTO_WINDOWS, store, root)
        # rank 0 validates alone, on batches of the global batch size: the figures one process gets
        self.val_batch = config.batch_size * world.size
        self.val_ds = self._windows("val", 1).limit(config.max_val_batches * self.val_batch)
        if world.active:  # every rank steps on a full share of each global batch
            self.batches_per_epoch = len(self.train_ds) // (config.batch_size * world.size)
            if self.batches_per_epoch == 0:
                raise DataError(f"the training split has {len(self.train_ds)} windows, fewer than one global batch "
                                f"of {world.size} processes x {config.batch_size}; use a smaller batch or more data")
        else:
            self.batches_per_epoch = self.train_ds.n_batches(config.batch_size)
        total = self.batches_per_epoch * config.epochs
        self.total_steps = min(total, config.max_steps) if config.max_steps else total
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.sched = build_scheduler(self.opt, config, self.total_steps)
        use_fp16 = config.amp and self.device.type == "cuda" and config.amp_dtype == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_fp16)
        self.autocast = _amp_context(self.device, config)
        self.gen = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_val = math.inf
        self.best_step = -1
        self.untrained_best: dict | None = None  # the step-0 validation record (ValidationMixin), for the gate
        self.bad_vals = 0
        self.last_val_step = -1
        self.skipped = 0
        self.consecutive_bad = 0
        self.tb = tensorboard_writer(path) if config.tensorboard and world.is_main else None

    # -- data ---------------------------------------------------------------------------
    def _auto_stride(self) -> int:
        """A stride giving about AUTO_WINDOWS training windows (neighbouring windows share
        almost everything, so more adds time, not information)."""
        rows = int((getattr(self.fs, "rows", None) or {}).get("train", 0))
        return max(1, rows // AUTO_WINDOWS)

    def _windows(self, split: str, stride: int) -> WindowDataset:
        w = self.fs.windows(split, self.context, self.horizon, stride, root=self.root,
                            step_seconds=self.step_seconds)
        ds = WindowDataset(w, name=f"{split} windows")
        if len(ds) == 0:
            raise DataError(f"the {split} split of the feature set has no complete windows of context "
                            f"{self.context} + horizon {self.horizon} bars; use more data or a shorter "
                            "context/horizon")
        return ds

    def blend(self) -> None:
        """Fit the run's blend with the classical forecasters on the validation split (anchored runs
        with a target task, :mod:`synthwb.train.blend`); saved in run.json as ``blend``. A series whose
        validation split is too short for it gets the reason instead of a blend."""
        if (not self.cfg.blend or not self.cfg.calibrate or self.task is None or self.model.anchor is None
                or not self.world.is_main or not (self.path / store_runs.BEST).is_file()):
            return
        self.progress(1.0, None, "blending with the classical forecasters on the validation split")
        model = self.calibrated_best_model()
        try:
            out = fit_blend(model, self._windows("val", 1).limit(BLEND_WINDOWS), self.task, self.step_seconds,
                            FREQ_SECONDS[self.fs.freq], self.fs.selection, self.root, self.cfg.calibration_paths,
                            self.val_batch, self.device, self.cfg.seed)
        except SynthwbError as exc:  # e.g. a validation split shorter than the classical models' history
            out = {"run_weight": 1.0, "partners": [], "skipped": str(exc)}
        store_runs.update_run(self.run_id, self.store, blend=out)
        self.log({"kind": "blend", "step": self.step, "epoch": self.epoch,
                  **{k: v for k, v in out.items() if k != "member_val_scores"}})

    def gate(self) -> bool | None:
        """Keep the trained weights only where they beat the untrained anchored model on the validation
        split beyond noise (:mod:`synthwb.train.gate`); otherwise the best weights become the untrained
        model's. Saved in run.json as ``gate``. Returns whether training was kept (None: not tested)."""
        if (not self.cfg.gate or self.task is None or self.model.anchor is None or not self.world.is_main
                or not (self.path / store_runs.BEST).is_file()):
            return None
        best = store_runs.read_info(self.run_id, self.store).get("best") or {}
        if not best.get("step"):
            return None  # the best checkpoint is the untrained model already
        self.progress(1.0, None, "testing the trained weights against the untrained anchor on the validation split")
        untrained = untrained_model(self.spec, self.cfg.seed).to(self.device)  # the model __init__ started from
        out = gate_training(self._best_model(), untrained, self.calibration_windows(), self.task, self.step_seconds,
                            self.cfg.calibration_paths, self.val_batch, self.device, self.cfg.seed)
        out["trained_step"] = int(best["step"])
        if not out["kept"]:
            store_runs.save_weights(self.path / store_runs.BEST, untrained.state_dict(),
                                    {"step": 0, "run_id": self.run_id, "gate": "untrained anchor kept"})
            store_runs.update_run(self.run_id, self.store,
                                  best=self.untrained_best or {"step": 0, "epoch": 0})
        store_runs.update_run(self.run_id, self.store, gate=out)
        self.log({"kind": "gate", "step": self.step, "epoch": self.epoch, **out})
        return bool(out["kept"])

    def calibrated_best_model(self):
        """The best checkpoint's model with the run's recorded calibration applied (as it forecasts)."""
        model = self._best_model()
        cal = store_runs.read_info(self.run_id, self.store).get("calibration") or {}
        model.set_calibration(cal.get("vol_scale", 1.0), cal.get("drift_shrink", 1.0), cal.get("bucket_scales"),
                              cal.get("bucket_ends_s"))
        return model

    def _best_model(self):
        """A fresh model holding the best checkpoint's weights (what calibration and blend start from)."""
        model = build_model(self.spec).to(self.device)
        model.load_state_dict(store_runs.read_weights(self.path / store_runs.BEST))
        return model

    def calibration_windows(self) -> WindowDataset:
        """The validation windows the calibration reads: at most ``calibration_windows``, evenly spread."""
        return self._windows("val", 1).limit(self.cfg.calibration_windows)

    # -- training -----------------------------------------------------------------------
    def train_step(self, b: Batch) -> tuple[float, float] | None:
        """One optimizer step; None when the loss or gradients were not finite (skipped)."""
        b = b.to(self.device, non_blocking=True)
        self.opt.zero_grad(set_to_none=True)
        with self.autocast(), noise_shard(self.world.rank, self.world.size):
            out = self.net(b.x, b.last_close, self.cfg.n_paths_train, generator=self.gen, **b.anchor)
        loss = training_loss(out.paths, b.future, b.last_close, self.cfg, self.step_seconds)
        if distributed.agree_any(not bool(torch.isfinite(loss)), self.world, self.device):
            return None  # skipped on every rank alike
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        if not bool(torch.isfinite(gnorm)):
            if self.scaler.is_enabled():  # fp16 overflow: the scaler skips the step and lowers its scale
                self.scaler.step(self.opt)
                self.scaler.update()
            self.opt.zero_grad(set_to_none=True)
            return None
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return float(loss.detach()), float(gnorm)

    def fit(self) -> tuple[str, str | None]:
        """Train until the epochs/max_steps are done, early stopping, or a stop request.

        Timing per logged row: ``step_time`` is the wall time per step including data loading,
        logging and progress callbacks (validation and checkpoints excluded, see ``val_time``);
        ``compute_time`` the forward + loss + backward + optimizer part of it.
        """
        cfg = self.cfg
        self.model.train()
        if self.step == 0 and self.last_val_step < 0 and self.model.anchor is not None:
            # the untrained anchored model is its classical baseline: validate it first, so the
            # best checkpoint is never worse on validation than the anchor itself
            self.run_validation()
        acc = {"loss": 0.0, "gn": 0.0, "wall": 0.0, "compute": 0.0, "n": 0}
        val_every = cfg.val_every or max(1, min(AUTO_VAL_EVERY, math.ceil(self.batches_per_epoch / 2)))
        status = "finished"
        t_mark = time.perf_counter()
        for b in epoch_batches(self, cfg.epochs, self._epoch_batches):
            if distributed.agree_any(self.stop_event.is_set(), self.world, self.device):
                return "interrupted", "stopped by the user"
            t0 = time.perf_counter()
            res = self.train_step(b)
            compute = time.perf_counter() - t0
            self.batch_in_epoch += 1
            if res is None:
                self.skipped += 1
                self.consecutive_bad += 1
                self.log({"kind": "skip", "step": self.step, "epoch": self.epoch,
                          "skipped_steps": self.skipped, "reason": "non-finite loss or gradient"})
                if self.consecutive_bad >= cfg.max_bad_steps:
                    raise TrainingFailed(
                        f"stopped after {self.consecutive_bad} consecutive steps with a NaN/inf loss or "
                        f"gradient at step {self.step}; lower the learning rate, check the features "
                        "for extreme values, or use grad clipping")
                t_mark = time.perf_counter()
                continue
            self.consecutive_bad = 0
            self.step += 1
            self.progress(self.step / max(self.total_steps, 1), None, self._message())
            now = time.perf_counter()
            acc["loss"] += res[0]
            acc["gn"] += res[1]
            acc["wall"] += now - t_mark
            t_mark = now  # the logging below is charged to the next step
            acc["compute"] += compute
            acc["n"] += 1
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                n = acc["n"]
                loss_mean, = distributed.mean_over_ranks([acc["loss"] / n], self.world, self.device)
                self.log({"kind": "train", "step": self.step, "epoch": self.epoch,
                          "loss": loss_mean, "grad_norm": acc["gn"] / n,
                          "lr": self.opt.param_groups[0]["lr"], "step_time": acc["wall"] / n,
                          "compute_time": acc["compute"] / n, "skipped_steps": self.skipped})
                acc = {"loss": 0.0, "gn": 0.0, "wall": 0.0, "compute": 0.0, "n": 0}
            t_excl = time.perf_counter()
            validated = False
            if self.step % val_every == 0 or self.step == self.total_steps:
                validated = True
                if self.run_validation():
                    return status, early_stop_reason(cfg.patience, self.best_val, self.best_step)
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and not validated:
                self.checkpoint()
            t_mark += time.perf_counter() - t_excl  # validation and checkpoints are not step time
        return status, end_of_loop(self.step, self.last_val_step, self.run_validation, cfg.max_steps)

    def _epoch_batches(self, epoch: int):
        """The batches of ``epoch`` from ``batch_in_epoch`` on, in its shuffled order (this rank's
        share of it under DDP)."""
        cfg = self.cfg
        order = distributed.shard_order(epoch_order(len(self.train_ds), cfg.seed, epoch), cfg.batch_size, self.world)
        return self.train_ds.batches(cfg.batch_size, order, start=self.batch_in_epoch, num_workers=cfg.num_workers,
                                     pin_memory=self.device.type == "cuda")

    def calibrate(self) -> None:
        """Fit the post-hoc calibration of the best weights on the validation split (anchored
        models with a target task); saved in run.json as ``calibration``."""
        if self.task is None or self.model.anchor is None or not self.world.is_main:
            return
        if not (self.path / store_runs.BEST).is_file():
            return
        zero = self.cfg.drift == "zero"
        if not self.cfg.calibrate:
            if zero:  # no fit, but the forecast drops the learned drift all the same
                store_runs.update_run(self.run_id, self.store, calibration={"vol_scale": 1.0, "drift_shrink": 0.0,
                                                                            "n_windows": 0, "drift": "zero"})
            return
        self.progress(1.0, None, "calibrating on the validation split")
        cal = fit_calibration(self._best_model(), self.calibration_windows(), self.task, self.step_seconds, self.cfg.calibration_paths,
                              self.val_batch, self.device, self.cfg.seed, **({"drift_shrinks": (0.0,)} if zero else {}))
        cal["drift"] = self.cfg.drift
        store_runs.update_run(self.run_id, self.store, calibration=cal)
        self.log({"kind": "calibration", "step": self.step, "epoch": self.epoch, **cal})
