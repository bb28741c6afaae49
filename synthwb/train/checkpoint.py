"""The trainer's resumable state: what a checkpoint holds, saving it, and restoring a run
from its last checkpoint (``train(..., resume=True)``).

``CheckpointMixin`` is mixed into the trainer (:class:`synthwb.train.trainer._Trainer`) and uses
its attributes: the model, optimizer, scheduler, grad scaler, noise generator and counters.
"""
from __future__ import annotations

import contextlib
import warnings

import torch

from synthwb.core.errors import SpecError
from synthwb.store import runs as store_runs
from synthwb.train.schedule import build_scheduler


class CheckpointMixin:
    """state / restore / checkpoint of :class:`~synthwb.train.trainer._Trainer`."""

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
