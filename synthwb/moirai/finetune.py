"""Fine-tuning Moirai on a saved feature set, as a run in models_store.

``moirai_train(name, featureset, spec, config)`` takes windows of ``context + horizon`` bars
from the feature set's training split (target: close or log returns; the spec's covariates as
past dynamic covariates), minimises the NLL of the model's own distribution output (Moirai
1.x: its mixture) on the prediction window, validates on the validation split, and stores:

    <store>/<run_id>/
        run.json             kind "moirai", the base checkpoint (+ its module config), the
                             MoiraiSpec, the feature set payload, the fine-tune config, status
        weights.safetensors  the best module state_dict (the module's own layout, safetensors)
        last.safetensors     the latest module state_dict (resume)
        last_state.pt        optimizer + scheduler + counters (tensors and plain types only,
                             loaded with ``torch.load(weights_only=True)``)
        metrics.jsonl        rows ``kind`` "train" (step, epoch, loss, lr, grad_norm, ...) and
                             "val" (val_loss, best_val_loss, improved) like path training

Patterns: ``full``, ``freeze_ffn`` (every FFN frozen), ``head`` (only the distribution
projection ``param_proj`` trains), or ``none``: a zero-shot run, no weights (the forecaster
reloads the base checkpoint). AdamW (lr 1e-4, weight decay 0.01), 10% linear warm-up then
cosine with 3 restarts, early stopping on the validation NLL, cooperative stop (``stop_event``
-> ``interrupted`` with the last weights saved) and resume from the last checkpoint.

uni2ts's Lightning ``MoiraiFinetune`` is not used: its checkpoints hold the loss object, which
torch >= 2.6 refuses under ``weights_only``; the module's state_dict is what is saved.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthwb.core.device import resolve_device
from synthwb.core.errors import DataError, SpecError, SynthwbError, validation_text
from synthwb.core.io import append_jsonl
from synthwb.core.training import early_stop_reason, end_of_loop, epoch_batches
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.datasets import past_logret, regular_mask
from synthwb.features.featureset import resolve_featureset, run_featureset, saved_twin
from synthwb.moirai.checkpoints import build_module, load_checkpoint, module_config
from synthwb.moirai.forecast import (
    OHLCV_COVARIATES,
    Moirai2Quantiles,
    MoiraiSpec,
    check_patch,
    forecast_module,
    module_patch_sizes,
)
from synthwb.store import runs as store_runs

ProgressFn = Callable[..., None]
PATTERNS = ("full", "freeze_ffn", "head", "none")


class MoiraiFinetuneConfig(BaseModel):
    """How a Moirai fine-tune runs (saved in run.json as ``finetune_config``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    finetune: Literal["full", "freeze_ffn", "head", "none"] = "full"
    epochs: int = Field(1, ge=1, le=10_000)
    max_steps: int = Field(0, ge=0, description="0: no limit beyond the epochs")
    batch_size: int = Field(16, ge=1, le=4096)
    lr: float = Field(1e-4, gt=0, le=1.0)
    weight_decay: float = Field(0.01, ge=0, le=1.0)
    warmup_frac: float = Field(0.1, ge=0, lt=1.0)
    cycles: int = Field(3, ge=1, le=100, description="cosine cycles (restarts) after the warm-up")
    min_lr_ratio: float = Field(0.0, ge=0, le=1.0)
    grad_clip: float = Field(1.0, ge=0)
    patience: int = Field(3, ge=0, description="validations without improvement before stopping; 0: never")
    val_every: int = Field(0, ge=0, description="steps between validations; 0: twice per epoch")
    max_val_windows: int = Field(256, ge=1)
    stride: int = Field(0, ge=0, description="bars between training windows; 0: about 4000 windows")
    log_every: int = Field(5, ge=1)
    seed: int = 0
    device: str = "cpu"
    threads: int = Field(0, ge=0)

    @classmethod
    def parse(cls, obj: Any = None, **overrides) -> MoiraiFinetuneConfig:
        data = obj.model_dump() if isinstance(obj, MoiraiFinetuneConfig) else dict(obj or {})
        data.update({k: v for k, v in overrides.items() if v is not None})
        if data.get("finetune") == "head_only":
            data["finetune"] = "head"
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"invalid Moirai fine-tune config: {validation_text(exc.errors(), 8)}") from None


@dataclass
class MoiraiRunResult:
    """What ``moirai_train`` returns (also a job's result)."""

    run_id: str
    path: Path
    status: str
    step: int = 0
    epoch: int = 0
    best: dict = field(default_factory=dict)
    stop_reason: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "path": str(self.path), "status": self.status, "step": self.step,
                "epoch": self.epoch, "best": self.best, "stop_reason": self.stop_reason, "error": self.error}


class CosineRestarts:
    """LR factor: linear warm-up over ``warmup`` steps, then ``cycles`` cosine cycles down to
    ``min_ratio`` over the remaining steps (picklable, so LambdaLR's state resumes)."""

    def __init__(self, total: int, warmup: int, cycles: int, min_ratio: float = 0.0):
        self.total, self.warmup = max(int(total), 1), max(int(warmup), 0)
        self.cycles, self.min_ratio = max(int(cycles), 1), float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        rest = max(self.total - self.warmup, 1)
        pos = ((step - self.warmup) / rest * self.cycles) % 1.0
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * pos))


def set_trainable(module, pattern: str) -> int:
    """Freeze by pattern (uni2ts's names: FFNs contain ``ffn``, the head is ``param_proj``);
    returns the number of trainable parameters."""
    for name, p in module.named_parameters():
        if pattern == "full":
            p.requires_grad_(True)
        elif pattern == "freeze_ffn":
            p.requires_grad_("ffn" not in name)
        elif pattern == "head":
            p.requires_grad_("param_proj" in name)
        else:
            raise SpecError(f"unknown fine-tune pattern {pattern!r}; one of full, freeze_ffn, head, none")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- windows


@dataclass
class SeriesWindows:
    """Training windows: ``target``/``observed`` ``(N, context + horizon)``, ``cov``/``cov_obs``
    ``(N, context, C)`` or None."""

    target: np.ndarray
    observed: np.ndarray
    cov: np.ndarray | None
    cov_obs: np.ndarray | None

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def take(self, idx) -> SeriesWindows:
        return SeriesWindows(self.target[idx], self.observed[idx], None if self.cov is None else self.cov[idx],
                             None if self.cov_obs is None else self.cov_obs[idx])


def split_windows(fs, spec: MoiraiSpec, split: str, stride: int = 1, root=None) -> SeriesWindows:
    """Windows of ``spec.context + spec.horizon`` bars whose prediction window lies in ``split``
    (``train`` or ``val``; a validation window's context may reach back into the training split:
    that is the past, nothing leaks). The series is built as the forecaster builds it."""
    import polars as pl
    from numpy.lib.stride_tricks import sliding_window_view


    frame = fs.frame(root).sort("ts")
    a, b = fs.split_spec.bounds(frame)
    ctx, h = int(spec.context), int(spec.horizon)
    lo, hi = {"train": (0, a), "val": (max(0, a - ctx), b)}[split]
    df = frame.slice(lo, hi - lo)
    bar = FREQ_SECONDS[fs.freq]
    close = df["close"].cast(pl.Float64).to_numpy()
    ts = df["ts"].dt.replace_time_zone(None).cast(pl.Datetime("ns")).cast(pl.Int64).to_numpy()
    series = close.copy() if spec.target == "close" else past_logret(close, regular_mask(ts, bar))
    series[~np.isfinite(series)] = np.nan
    W = ctx + h
    n = (len(series) - W) // stride + 1 if len(series) >= W else 0
    if n <= 0:
        raise DataError(f"the {split} split of feature set {fs.name!r} has {len(series)} bars, fewer than "
                        f"context {ctx} + horizon {h}; use a shorter context/horizon or more data")
    starts = np.arange(n) * stride
    tgt = sliding_window_view(series, W)[starts]
    cov = cov_obs = None
    if spec.covariates:
        feat_cols = [c for c in spec.covariates if c not in OHLCV_COVARIATES]
        scaled = fs.scaler_obj.transform(df.select(feat_cols), feat_cols) if feat_cols else None
        cols = [(scaled if c in feat_cols else df)[c].cast(pl.Float64).to_numpy() for c in spec.covariates]
        mat = np.stack(cols, axis=-1)
        mat[~np.isfinite(mat)] = np.nan
        cov = sliding_window_view(mat, ctx, axis=0)[starts].transpose(0, 2, 1)
        cov_obs = np.isfinite(cov)
        cov = np.nan_to_num(cov, nan=0.0).astype(np.float32)
    observed = np.isfinite(tgt)
    return SeriesWindows(np.nan_to_num(tgt, nan=0.0).astype(np.float32), observed, cov, cov_obs)


# ----------------------------------------------------------------------------- trainer


class _Finetuner:
    def __init__(self, run_id: str, path: Path, store, fs, spec: MoiraiSpec, cfg: MoiraiFinetuneConfig,
                 module, progress: ProgressFn | None, stop_event: threading.Event | None, root=None):
        import torch

        self.run_id, self.path, self.store = run_id, path, store
        self.fs, self.spec, self.cfg = fs, spec, cfg
        self.progress = progress or (lambda *a, **k: None)
        self.stop_event = stop_event or threading.Event()
        self.device = resolve_device(cfg.device)
        if self.device.type == "cpu" and cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.module = module.to(self.device)
        self.n_trainable = set_trainable(self.module, cfg.finetune)
        n_cov = len(spec.covariates)
        self.fc = forecast_module(self.module, spec.context, spec.horizon, int(spec.patch_size), n_cov)
        rows = int((getattr(fs, "rows", None) or {}).get("train", 0))
        stride = cfg.stride or max(1, rows // 4000)
        self.train_w = split_windows(fs, spec, "train", stride, root)
        val = split_windows(fs, spec, "val", 1, root)
        keep = np.unique(np.round(np.linspace(0, len(val) - 1, min(cfg.max_val_windows, len(val)))).astype(int))
        self.val_w = val.take(keep)
        self.batches_per_epoch = max(1, math.ceil(len(self.train_w) / cfg.batch_size))
        total = self.batches_per_epoch * cfg.epochs
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        warm = round(cfg.warmup_frac * self.total_steps)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, CosineRestarts(self.total_steps, warm, cfg.cycles, cfg.min_lr_ratio))
        self.step = self.epoch = self.batch_in_epoch = 0
        self.best_val, self.best_step, self.bad_vals, self.last_val_step = math.inf, -1, 0, -1

    # -- batches ------------------------------------------------------------------------
    def _tensors(self, w: SeriesWindows):
        import torch

        dev = self.device
        t = torch.as_tensor(w.target, device=dev)[..., None]
        o = torch.as_tensor(w.observed, device=dev)[..., None]
        pad = torch.zeros(w.target.shape, dtype=torch.bool, device=dev)
        kw = {}
        if w.cov is not None:
            kw = {"past_feat_dynamic_real": torch.as_tensor(w.cov, device=dev),
                  "past_observed_feat_dynamic_real": torch.as_tensor(w.cov_obs, device=dev)}
        return t, o, pad, kw

    def loss(self, w: SeriesWindows):
        """Mean NLL per observed prediction value of the model's distribution (uni2ts's own
        packing and per-sample NLL)."""
        t, o, pad, kw = self._tensors(w)
        per_sample = self.fc._val_loss(patch_size=int(self.spec.patch_size), target=t, observed_target=o,
                                       is_pad=pad, **kw)
        return per_sample.mean()

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(self.cfg.seed * 1_000_003 + epoch).permutation(len(self.train_w))

    # -- state --------------------------------------------------------------------------
    def state(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "best_val": self.best_val, "best_step": self.best_step, "bad_vals": self.bad_vals}

    def checkpoint(self) -> None:
        store_runs.save_last(self.path, self.module.state_dict(), self.state(), {"step": self.step, "run_id": self.run_id})
        store_runs.update_run(self.run_id, self.store, last={"step": self.step, "epoch": self.epoch})

    def restore(self) -> None:
        st = store_runs.load_last(self.path, self.module, self.run_id)
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        self.step, self.epoch, self.batch_in_epoch = int(st["step"]), int(st["epoch"]), int(st["batch_in_epoch"])
        self.best_val, self.best_step = float(st["best_val"]), int(st["best_step"])
        self.bad_vals = int(st["bad_vals"])

    # -- logging ------------------------------------------------------------------------
    def _message(self) -> str:
        return f"epoch {self.epoch + 1}/{self.cfg.epochs} · step {self.step}/{self.total_steps}"

    def log(self, row: dict) -> None:
        row = {"run_id": self.run_id, "time": round(time.time(), 3), **row}
        append_jsonl(self.path / store_runs.METRICS, row)
        self.progress(self.step / max(self.total_steps, 1), row, self._message())

    # -- validation ---------------------------------------------------------------------
    def validate(self) -> float | None:
        import torch

        self.module.eval()
        t0 = time.perf_counter()
        total, n = 0.0, 0
        try:
            with torch.no_grad():
                for a in range(0, len(self.val_w), self.cfg.batch_size):
                    if self.stop_event.is_set():
                        return None
                    w = self.val_w.take(slice(a, a + self.cfg.batch_size))
                    total += float(self.loss(w)) * len(w)
                    n += len(w)
        finally:
            self.module.train()
        return total / max(n, 1) if n else math.nan, time.perf_counter() - t0

    def run_validation(self) -> bool:
        """Validate, keep the best weights, checkpoint; True when early stopping says stop."""
        res = self.validate()
        if res is None:
            return False
        val, dt = res
        self.last_val_step = self.step
        improved = math.isfinite(val) and val < self.best_val - 1e-12
        if improved:
            self.best_val, self.best_step, self.bad_vals = val, self.step, 0
            store_runs.save_weights(self.path / store_runs.BEST, self.module.state_dict(),
                                    {"step": self.step, "val_loss": val, "run_id": self.run_id})
            store_runs.update_run(self.run_id, self.store, best={"val_loss": val, "step": self.step,
                                                                "epoch": self.epoch})
        else:
            self.bad_vals += 1
        self.log({"kind": "val", "step": self.step, "epoch": self.epoch, "val_loss": val, "val_nll": val,
                  "val_time": dt, "best_val_loss": self.best_val, "improved": improved})
        self.checkpoint()
        return self.cfg.patience > 0 and self.bad_vals >= self.cfg.patience

    # -- training -----------------------------------------------------------------------
    def train_step(self, w: SeriesWindows) -> tuple[float, float] | None:
        import torch

        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(w)
        if not bool(torch.isfinite(loss)):
            return None
        loss.backward()
        params = [p for p in self.module.parameters() if p.requires_grad]
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        gnorm = torch.nn.utils.clip_grad_norm_(params, clip)
        if not bool(torch.isfinite(gnorm)):
            self.opt.zero_grad(set_to_none=True)
            return None
        self.opt.step()
        self.sched.step()
        return float(loss.detach()), float(gnorm)

    def _epoch_rows(self, epoch: int):
        """The window rows of each batch of ``epoch`` from ``batch_in_epoch`` on, in its shuffled order."""
        order, size = self._order(epoch), self.cfg.batch_size
        return (order[a:a + size] for a in range(self.batch_in_epoch * size, len(order), size))

    def fit(self) -> tuple[str, str]:
        cfg = self.cfg
        self.module.train()
        if self.step == 0 and self.last_val_step < 0:
            self.run_validation()  # the zero-shot model first: the best is never worse than it
        val_every = cfg.val_every or max(1, math.ceil(self.batches_per_epoch / 2))
        acc = {"loss": 0.0, "gn": 0.0, "wall": 0.0, "n": 0, "skipped": 0}
        for rows in epoch_batches(self, cfg.epochs, self._epoch_rows):
            if self.stop_event.is_set():
                return "interrupted", "stopped by the user"
            t0 = time.perf_counter()
            res = self.train_step(self.train_w.take(np.sort(rows)))
            self.batch_in_epoch += 1
            if res is None:
                acc["skipped"] += 1
                self.log({"kind": "skip", "step": self.step, "epoch": self.epoch,
                          "reason": "non-finite loss or gradient"})
                continue
            self.step += 1
            acc["loss"] += res[0]
            acc["gn"] += res[1]
            acc["wall"] += time.perf_counter() - t0
            acc["n"] += 1
            self.progress(self.step / max(self.total_steps, 1), None, self._message())
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                k = max(acc["n"], 1)
                self.log({"kind": "train", "step": self.step, "epoch": self.epoch, "loss": acc["loss"] / k,
                          "grad_norm": acc["gn"] / k, "lr": self.opt.param_groups[0]["lr"],
                          "step_time": acc["wall"] / k, "skipped_steps": acc["skipped"]})
                acc = {"loss": 0.0, "gn": 0.0, "wall": 0.0, "n": 0, "skipped": 0}
            if (self.step % val_every == 0 or self.step == self.total_steps) and self.run_validation():
                return "finished", early_stop_reason(cfg.patience, self.best_val, self.best_step)
        return "finished", end_of_loop(self.step, self.last_val_step, self.run_validation, cfg.max_steps)


# ----------------------------------------------------------------------------- entry points


def check_finite_checkpoint(module, checkpoint: str) -> None:
    """A checkpoint whose weights hold NaN/inf (damaged or tampered) is refused with one line,
    before any run folder exists (it would fail deep in the distribution with a tensor dump)."""
    bad = store_runs.nonfinite_tensors(module.state_dict())
    if bad:
        raise SpecError(f"the Moirai checkpoint {checkpoint!r} holds NaN/inf weights (in {len(bad)} tensor(s), e.g. "
                        f"{bad[0]}): it is damaged; download or copy it again")


def prepare(featureset, spec, config=None, store=None):
    """Resolve and cross-check a Moirai setup before any run folder is made: ``(fs, spec,
    config, loaded checkpoint)``. Every problem raises a SynthwbError naming it."""
    fs = resolve_featureset(featureset, store)
    spec = MoiraiSpec.parse(spec)
    cfg = MoiraiFinetuneConfig.parse(config)
    if cfg.finetune != "none":
        resolve_device(cfg.device)  # a device this machine lacks is refused before any run folder exists
    loaded = load_checkpoint(spec.checkpoint, cache=cfg.finetune == "none")
    check_finite_checkpoint(loaded.module, spec.checkpoint)  # before run.json: NaN weights train nothing
    if loaded.family == "moirai-2":
        if cfg.finetune != "none":
            raise SpecError(f"{spec.checkpoint}: Moirai 2 cannot be fine-tuned here (uni2ts 2.0.0 ships no "
                            "Moirai2Finetune); save a zero-shot run (finetune none)")
        spec = Moirai2Quantiles._fit_patch_of(spec, module_patch_sizes(loaded.module))
    elif not loaded.info.get("forecast", True) or loaded.family != "moirai":
        raise SpecError(f"{spec.checkpoint}: synthwb forecasts Moirai 1.x and Moirai 2 and fine-tunes Moirai 1.x "
                        f"only ({loaded.family}: see `synthwb moirai checkpoints` for its limits)")
    else:
        check_patch(spec, loaded.module.patch_sizes)
    allowed = [*OHLCV_COVARIATES, *fs.feature_cols]
    bad = [c for c in spec.covariates if c not in allowed]
    if bad:
        raise SpecError(f"unknown covariate(s) {bad}; choose from {', '.join(dict.fromkeys(allowed))}")
    if spec.target == "close" and "close" in spec.covariates:
        raise SpecError("close is the target; it cannot also be a covariate (use target logret for that)")
    if cfg.finetune != "none":
        if spec.patch_size == "auto":
            raise SpecError('fine-tuning needs a fixed patch size (patch_size="auto" picks one per forecast)')
        need = spec.context + spec.horizon
        rows = getattr(fs, "rows", None) or {}
        for split in ("train", "val"):
            if split in rows and int(rows[split]) + (spec.context if split == "val" else 0) < need:
                raise DataError(f"the {split} split of feature set {fs.name!r} has {rows[split]} bars, fewer than "
                                f"context {spec.context} + horizon {spec.horizon}; use a shorter context/horizon")
    return fs, spec, cfg, loaded


def moirai_train(name: str, featureset: Any = None, spec: Any = None, config: Any = None, store=None, root=None,
                 progress: ProgressFn | None = None, stop_event: threading.Event | None = None,
                 resume: bool = False) -> MoiraiRunResult:
    """Fine-tune (or, with ``finetune="none"``, save zero-shot) a Moirai run; returns its state.

    ``name``: the run name (a new unique run id is made from it), or with ``resume=True`` the id of
    an interrupted run to continue from its last checkpoint (``featureset``/``spec`` then come
    from the run; ``config`` may change e.g. ``epochs``/``max_steps``)."""
    if resume:
        run = store_runs.load_run(name, store)
        if run.info.get("kind") != "moirai":
            raise SpecError(f"run {name!r} is not a Moirai run")
        run_id, fs = run.run_id, saved_twin(run_featureset(run), store)
        spec = MoiraiSpec.parse(run.info.get("moirai_spec"))
        cfg = MoiraiFinetuneConfig.parse(run.info.get("finetune_config"), **(dict(config or {})
                                         if not isinstance(config, MoiraiFinetuneConfig) else config.model_dump()))
        if cfg.finetune == "none":
            raise SpecError(f"run {run_id!r} is a zero-shot run; there is nothing to resume")
        meta = run.info.get("moirai") or {}
        module = build_module(meta["module_config"], meta.get("family", "moirai"))
    else:
        fs, spec, cfg, loaded = prepare(featureset, spec, config, store)
        module = loaded.module
        sel = fs.selection
        run_id = store_runs.create_run(
            name, store, kind="moirai", selection=sel.to_dict() if hasattr(sel, "to_dict") else dict(sel),
            model_name=f"moirai/{cfg.finetune}", featureset_name=fs.name, featureset=fs.to_dict(),
            moirai={"checkpoint": spec.checkpoint, "family": loaded.family, "base": loaded.info,
                    "module_config": module_config(module), "licence": loaded.info.get("licence")},
            moirai_spec=spec.model_dump(mode="json"), finetune_config=cfg.model_dump(mode="json"),
            config={}, context=spec.context, horizon=spec.horizon, step_seconds=FREQ_SECONDS[fs.freq],
            n_params=loaded.info.get("n_params"))
    path = store_runs.run_dir(run_id, store)
    if cfg.finetune == "none":
        info = store_runs.update_run(run_id, store, status="finished", started=store_runs.now_iso(),
                                     ended=store_runs.now_iso(), stop_reason="zero-shot: no fine-tuning")
        return MoiraiRunResult(run_id, path, "finished", 0, 0, info.get("best") or {}, "zero-shot: no fine-tuning")
    tuner = None
    started = False
    lock = store_runs.writer_lock(run_id, store)  # one writer: a second resume is refused here
    try:
        tuner = _Finetuner(run_id, path, store, fs, spec, cfg, module, progress, stop_event, root)
        if resume:
            tuner.restore()
        started = True  # a refusal before this point leaves a resumed run's status as it was
        store_runs.update_run(run_id, store, status="running", pid=os.getpid(), error=None, traceback=None,
                              stop_reason=None, started=store_runs.now_iso(), ended=None,
                              **({"finetune_config": cfg.model_dump(mode="json")} if resume else {}))
        store_runs.update_run(run_id, store, n_trainable=tuner.n_trainable, device=str(tuner.device),
                              total_steps=tuner.total_steps, n_train_windows=len(tuner.train_w),
                              n_val_windows=len(tuner.val_w))
        status, reason = tuner.fit()
        if status == "interrupted":
            tuner.checkpoint()
        info = store_runs.update_run(run_id, store, status=status, stop_reason=reason, ended=store_runs.now_iso())
        return MoiraiRunResult(run_id, path, status, tuner.step, tuner.epoch, info.get("best") or {}, reason)
    except KeyboardInterrupt:
        if started:
            with contextlib.suppress(Exception):
                store_runs.update_run(run_id, store, status="interrupted", ended=store_runs.now_iso(),
                                      stop_reason="aborted (Ctrl-C); resume continues from the last checkpoint")
        raise
    except BaseException as exc:
        if not started and resume:
            raise
        if not started and isinstance(exc, SynthwbError):  # a refused new run leaves no folder
            lock.release()
            with contextlib.suppress(Exception):
                store_runs.delete_run(run_id, store, force=True)
            raise
        err = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        with contextlib.suppress(Exception):
            store_runs.update_run(run_id, store, status="failed", error=err, traceback=traceback.format_exc(),
                                  ended=store_runs.now_iso())
        raise
    finally:
        lock.release()


def moirai_train_job(progress: ProgressFn, stop_event: threading.Event, **kwargs: Any) -> MoiraiRunResult:
    """``moirai_train`` shaped for :class:`synthwb.jobs.registry.JobRegistry`
    (``fn(progress, stop_event, **kw)``; the pages pass ``root`` and ``store``)."""
    return moirai_train(progress=progress, stop_event=stop_event, **kwargs)
