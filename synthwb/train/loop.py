"""The training loop for path models.

``train(name, featureset, model_spec, config)`` builds the model, takes train/validation
windows from a saved feature set, and minimises the CRPS of simulated paths against the
realised path at every horizon step (or the almost-fair CRPS, or the Synth-style score).
AdamW, gradient clipping, warm-up then cosine (with restarts), early stopping on validation
CRPS, mixed precision on CUDA, NaN/inf guards, cooperative stop, checkpoints in models_store
(best + last + optimizer state for resume), metrics to metrics.jsonl, TensorBoard and to the
caller's ``progress`` callback (a background Job's history).
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synthwb.core.device import resolve_device
from synthwb.core.errors import DataError, SpecError, SynthwbError
from synthwb.core.io import append_jsonl, check_free_space
from synthwb.core.training import early_stop_reason, end_of_loop
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.featureset import resolve_featureset, run_featureset, saved_twin
from synthwb.models import build_model
from synthwb.models import preset_names as _names
from synthwb.models.presets import as_spec
from synthwb.models.simulate import noise_shard
from synthwb.models.spec import run_spec
from synthwb.scoring.synth import get_task
from synthwb.store import runs as store_runs
from synthwb.train import distributed
from synthwb.train.calibrate import fit_calibration
from synthwb.train.config import TrainConfig
from synthwb.train.data import Batch, WindowDataset, epoch_order
from synthwb.train.distributed import SINGLE, World
from synthwb.train.losses import coverage, diagnostics, exact_score, objective, training_loss
from synthwb.train.schedule import build_scheduler

ProgressFn = Callable[..., None]
AUTO_WINDOWS = 8000
AUTO_VAL_EVERY = 100    # default validation interval (steps), at most half an epoch


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


class TrainingFailed(SynthwbError):
    """The run could not go on (e.g. too many consecutive NaN/inf steps)."""


# ------------------------------------------------------------------------------ inputs


def featureset_payload(fs) -> dict:
    """The feature set as a JSON dict embedded in run.json (spec, selection, scaling)."""
    for attr in ("to_dict", "to_json_dict"):
        fn = getattr(fs, attr, None)
        if callable(fn):
            return fn()
    raise SpecError("the feature set cannot be serialised (it has no to_dict())")


def n_features_of(fs) -> int:
    cols = getattr(fs, "feature_cols", None)
    if cols is None:
        raise SpecError("cannot tell how many features the feature set has (no feature_cols)")
    return len(cols)


def step_seconds_of(fs) -> int:
    sel = getattr(fs, "selection", None)
    freq = getattr(sel, "freq", None) if sel is not None else None
    if freq is None and isinstance(sel, dict):
        freq = sel.get("freq")
    if freq not in FREQ_SECONDS:
        raise SpecError(f"the feature set's selection has no known bar size ({freq!r})")
    return FREQ_SECONDS[freq]


def resolve_spec(model_spec: Any, fs, store=None, context: int | None = None, horizon: int | None = None):
    """A ModelSpec from a ModelSpec, a dict, a JSON file, a preset name or a saved spec name.

    Presets are sized for the feature set (its number of features) and ``context``/``horizon``
    (preset defaults when None).
    """
    spec = as_spec(model_spec, n_features_of(fs), store, context, horizon)
    nf = n_features_of(fs)
    if int(spec.n_features) != nf:
        raise SpecError(f"the model spec expects {spec.n_features} input features but the feature set "
                        f"has {nf}; rebuild the spec for this feature set")
    return spec


def prepare(featureset: Any, model_spec: Any, config: TrainConfig | dict | None = None, store=None,
            context: int | None = None, horizon: int | None = None):
    """Resolve and cross-check a training setup before any run folder is made; returns
    ``(featureset, spec, config)``. Every problem raises a SynthwbError naming it (the Train
    page calls this before it starts a job).

    The spec is completed for the feature set: its bar (``bar_seconds``) and, when not set, the
    path step and horizon of the task the run targets. With the synth loss the path step is the
    task's step when it divides the bar (1h features -> 5-minute paths for the 24h task, the
    targets then come from the finest stored bars), else the bar; a preset's horizon defaults to
    the task's horizon on that grid."""
    cfg = TrainConfig.parse(config)
    resolve_device(cfg.device)  # a device this machine lacks is refused before any run folder exists
    fs = resolve_featureset(featureset, store)
    spec = resolve_spec(model_spec, fs, store, context=context, horizon=horizon)
    bar = step_seconds_of(fs)
    step = spec.step_seconds
    task = get_task(cfg.synth_task, cfg.validator)
    if step is None:
        step = task.step_seconds if cfg.loss == "synth" and bar % task.step_seconds == 0 else bar
    sizes: dict[str, Any] = {"bar_seconds": bar, "step_seconds": step if step != bar else None}
    if horizon is None and isinstance(model_spec, str) and model_spec in preset_names() and cfg.loss == "synth":
        sizes["horizon"] = task.horizon_seconds // step if task.horizon_seconds % step == 0 else spec.horizon
    spec = spec.with_sizes(**sizes)
    if cfg.loss == "synth":
        check_synth_grid(task, step, int(spec.horizon))
    need = int(spec.context) + -(-int(spec.horizon) * step // bar)
    rows = getattr(fs, "rows", None) or {}
    for split in ("train", "val"):
        if split in rows and int(rows[split]) < need:
            raise DataError(f"the {split} split of feature set {getattr(fs, 'name', '')!r} has {rows[split]} bars, "
                            f"fewer than context {spec.context} + horizon {spec.horizon} steps ({need} bars); "
                            "use a shorter context/horizon or more data")
    return fs, spec, cfg


def check_synth_grid(task: Any, step_seconds: int, horizon: int | None = None) -> None:
    """The Synth loss scores on the model's grid: every interval must be a whole number of path
    steps, and the paths must reach the task's horizon."""
    t = get_task(task)
    bad = [iv.name for iv in t.intervals if iv.seconds % step_seconds]
    if bad:
        raise SpecError(f"the synth loss for the {t.name} task needs a path step that divides every scoring "
                        f"interval; {step_seconds} s steps do not divide {bad} (use 1min or 5min bars or paths, "
                        "or the crps loss)")
    if t.vol_blocks and t.step_seconds % step_seconds:
        raise SpecError(f"the synth loss for the {t.name} task scores volatility on {t.step_seconds} s returns; "
                        f"{step_seconds} s steps do not divide it (use paths of {t.step_seconds} s or finer)")
    if horizon is not None and horizon * step_seconds < t.horizon_seconds:
        raise SpecError(f"the {t.name} task scores {t.horizon_seconds // 3600:g} h ahead but the model's horizon "
                        f"is {horizon} steps of {step_seconds} s ({horizon * step_seconds / 3600:g} h); use a "
                        f"horizon of at least {-(-t.horizon_seconds // step_seconds)} steps")


def target_task(config: TrainConfig, step_seconds: int, horizon: int):
    """(task, its points on the model grid) the validation scores, or (None, 0) when the grid
    does not fit it (a step-CRPS run on bars the task cannot be scored on)."""
    task = get_task(config.synth_task, config.validator)
    try:
        check_synth_grid(task, step_seconds, horizon)
    except SpecError:
        return None, 0
    return task, task.grid_points(step_seconds)


def preset_names() -> list[str]:
    return _names()


# ------------------------------------------------------------------------------ the loop


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


class _Trainer:
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
            want = config.threads or (max(1, _cpu_count() - 1) if leave_one_core else 0)
            if want:
                torch.set_num_threads(want)  # process-wide: every CPU job shares torch's pool
        torch.manual_seed(config.seed)
        self.model = build_model(spec).to(self.device)
        self.net = distributed.wrap(self.model, world, self.device)  # what the training step runs
        self.train_ds = self._windows("train", config.stride or self._auto_stride())
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
        self.bad_vals = 0
        self.last_val_step = -1
        self.skipped = 0
        self.consecutive_bad = 0
        self.tb = None
        if config.tensorboard and world.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(path / store_runs.TB_DIR))

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

    # -- state --------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "torch_rng": torch.get_rng_state(), "gen_state": self.gen.get_state().cpu(),
            "best_val": self.best_val, "best_step": self.best_step, "bad_vals": self.bad_vals,
            "skipped": self.skipped,
        }

    def restore(self) -> None:
        st = store_runs.load_last(self.path, self.model, self.run_id)
        try:
            self.opt.load_state_dict(st["optimizer"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise SpecError(f"run {self.run_id!r}: its optimizer state does not fit the model "
                            f"({' '.join(str(exc).split())[:120]}); train a new run") from None
        try:
            self.sched.load_state_dict(st["scheduler"])
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError):
            # the schedule's shape changed with the new length (e.g. --max-steps past a run too short
            # for a warm-up): the new schedule, advanced to the step reached
            self._advance_schedule(int(st["step"]))
        if st.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(st["scaler"])
        torch.set_rng_state(st["torch_rng"])
        with contextlib.suppress(RuntimeError, TypeError):
            self.gen.set_state(st["gen_state"].to(self.gen.get_state().device))
        self.step, self.epoch, self.batch_in_epoch = int(st["step"]), int(st["epoch"]), int(st["batch_in_epoch"])
        self.best_val, self.best_step = float(st["best_val"]), int(st["best_step"])
        self.bad_vals, self.skipped = int(st["bad_vals"]), int(st["skipped"])

    def _advance_schedule(self, steps: int) -> None:
        for group in self.opt.param_groups:
            group["lr"] = group.get("initial_lr", self.cfg.lr)
        self.sched = build_scheduler(self.opt, self.cfg, self.total_steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": intended here
            for _ in range(steps):
                self.sched.step()

    def checkpoint(self) -> None:
        """last.safetensors + last_state.pt (never with NaN: save_weights refuses); rank 0 only."""
        if not self.world.is_main:
            return
        meta = {"step": self.step, "epoch": self.epoch, "run_id": self.run_id}
        store_runs.save_last(self.path, self.model.state_dict(), self.state(), meta)
        store_runs.update_run(self.run_id, self.store, last={"step": self.step, "epoch": self.epoch,
                                                            "skipped_steps": self.skipped})

    # -- logging ------------------------------------------------------------------------
    def log(self, row: dict) -> None:
        if not self.world.is_main:
            return
        row = {"run_id": self.run_id, "time": round(time.time(), 3), **row}
        append_jsonl(self.path / store_runs.METRICS, row)
        if self.tb is not None:
            prefix = row["kind"]
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch", "time"):
                    self.tb.add_scalar(f"{prefix}/{k}", v, row["step"])
        self.progress(self.step / max(self.total_steps, 1), row, self._message())

    def _message(self) -> str:
        return f"epoch {self.epoch + 1}/{self.cfg.epochs} · step {self.step}/{self.total_steps}"

    # -- validation ---------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict | None:
        """Validation figures, averaged over the (bounded) validation windows, on
        ``n_paths_eval`` paths drawn with the same noise every time:

        - ``val_loss``: the training objective (what early stopping and the best checkpoint use);
        - ``val_score``: the target task's exact score (the validator's CRPS estimator), where
          the model's grid fits the task, and ``val_coverage_90`` of the realised points;
        - ``val_crps``, ``val_crps_last``, ``sharpness``, ``gauss_nll``, ``mae_median``.
        """
        self.model.eval()
        t0 = time.perf_counter()
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 12345)  # same noise every time
        sums: dict[str, float] = {}
        n = 0
        n_batches = self.val_ds.n_batches(self.val_batch)
        try:
            for i, b in enumerate(self.val_ds.batches(self.val_batch)):
                if self.stop_event.is_set():
                    return None
                b = b.to(self.device)
                with self.autocast():
                    out = self.model(b.x, b.last_close, self.cfg.n_paths_eval, generator=gen, **b.anchor)
                paths = out.paths.float()
                d = diagnostics(paths, b.future, b.last_close, self.cfg.space)
                d["loss"] = objective(paths, b.future, b.last_close, self.cfg, self.step_seconds)
                if self.task is not None:
                    d["score"] = exact_score(paths, b.future, self.task, self.step_seconds)
                    d["coverage_90"] = coverage(paths[..., :self.task_points], b.future[..., :self.task_points])
                for k, v in d.items():
                    sums[k] = sums.get(k, 0.0) + float(v.sum())
                n += b.x.shape[0]
                self.progress(self.step / max(self.total_steps, 1), None,
                              f"{self._message()} · validating {i + 1}/{n_batches}")
        finally:
            self.model.train()
        row = {(k if k in ("sharpness", "gauss_nll", "mae_median") else f"val_{k}"): v / max(n, 1)
               for k, v in sums.items()}
        row["val_time"] = time.perf_counter() - t0
        return row

    def run_validation(self) -> bool:
        """Validate, checkpoint, track the best (on ``val_loss``); True when early stopping says
        stop. Under DDP rank 0 does it all and every rank gets its decision."""
        if not self.world.active:
            return self._run_validation()
        stop = self._run_validation() if self.world.is_main else False
        self.last_val_step = self.step
        return bool(distributed.broadcast(stop, self.world))

    def _run_validation(self) -> bool:
        row = self.validate()
        if row is None:
            return False
        self.last_val_step = self.step
        val = row["val_loss"]
        improved = math.isfinite(val) and val < self.best_val - 1e-12
        if improved:
            self.best_val, self.best_step, self.bad_vals = val, self.step, 0
            store_runs.save_weights(self.path / store_runs.BEST, self.model.state_dict(),
                                    {"step": self.step, "val_loss": val, "run_id": self.run_id})
            store_runs.update_run(self.run_id, self.store, best={
                "val_loss": val, "step": self.step, "epoch": self.epoch,
                **{k: row[k] for k in ("val_score", "val_coverage_90", "val_crps", "val_crps_last", "sharpness",
                                       "gauss_nll") if k in row}})
        else:
            self.bad_vals += 1
        self.log({"kind": "val", "step": self.step, "epoch": self.epoch, **row,
                  "best_val_loss": self.best_val, "improved": improved})
        self.checkpoint()
        return self.cfg.patience > 0 and self.bad_vals >= self.cfg.patience

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
        while self.step < self.total_steps and self.epoch < cfg.epochs:
            order = distributed.shard_order(epoch_order(len(self.train_ds), cfg.seed, self.epoch),
                                            cfg.batch_size, self.world)
            for b in self.train_ds.batches(cfg.batch_size, order, start=self.batch_in_epoch,
                                           num_workers=cfg.num_workers,
                                           pin_memory=self.device.type == "cuda"):
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
                if self.step >= self.total_steps:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
                continue
            break
        return status, end_of_loop(self.step, self.last_val_step, self.run_validation, cfg.max_steps)

    def calibrate(self) -> None:
        """Fit the post-hoc calibration of the best weights on the validation split (anchored
        models with a target task); saved in run.json as ``calibration``."""
        if not self.cfg.calibrate or self.task is None or self.model.anchor is None or not self.world.is_main:
            return
        best = self.path / store_runs.BEST
        if not best.is_file():
            return
        self.progress(1.0, None, "calibrating on the validation split")
        model = build_model(self.spec).to(self.device)
        model.load_state_dict(store_runs.read_weights(best))
        cal = fit_calibration(model, self.val_ds, self.task, self.step_seconds, self.cfg.calibration_paths,
                              self.val_batch, self.device, self.cfg.seed)
        store_runs.update_run(self.run_id, self.store, calibration=cal)
        self.log({"kind": "calibration", "step": self.step, "epoch": self.epoch, **cal})

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()


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
                                  n_train_windows=len(trainer.train_ds), n_val_windows=len(trainer.val_ds))
        status, reason = trainer.fit()
        if status == "interrupted":
            trainer.checkpoint()
        else:
            trainer.calibrate()
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


