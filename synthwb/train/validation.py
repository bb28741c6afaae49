"""Validation during training: the figures on the validation windows, the best checkpoint
and early stopping.

``ValidationMixin`` is mixed into the trainer (:class:`synthwb.train.trainer._Trainer`) and uses
its attributes: the model, the validation windows, the target task and the best-so-far counters.
"""
from __future__ import annotations

import math
import time

import torch

from synthwb.store import runs as store_runs
from synthwb.train import distributed
from synthwb.train.losses import coverage, diagnostics, exact_score, objective


class ValidationMixin:
    """validate / run_validation of :class:`~synthwb.train.trainer._Trainer`."""

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
        record = {"val_loss": val, "step": self.step, "epoch": self.epoch,
                  **{k: row[k] for k in ("val_score", "val_coverage_90", "val_crps", "val_crps_last", "sharpness",
                                         "gauss_nll") if k in row}}
        if self.step == 0:
            self.untrained_best = record  # the untrained model's figures, should the gate go back to it
        if improved:
            self.best_val, self.best_step, self.bad_vals = val, self.step, 0
            store_runs.save_weights(self.path / store_runs.BEST, self.model.state_dict(),
                                    {"step": self.step, "val_loss": val, "run_id": self.run_id})
            store_runs.update_run(self.run_id, self.store, best=record)
        else:
            self.bad_vals += 1
        self.log({"kind": "val", "step": self.step, "epoch": self.epoch, **row,
                  "best_val_loss": self.best_val, "improved": improved})
        self.checkpoint()
        return self.cfg.patience > 0 and self.bad_vals >= self.cfg.patience
