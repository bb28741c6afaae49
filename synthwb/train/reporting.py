"""Where a training run reports: every logged row to metrics.jsonl, TensorBoard (when asked)
and the caller's ``progress(fraction, metrics, message)`` callback (a background job's history).

``ReportingMixin`` is mixed into the trainer (:class:`synthwb.train.trainer._Trainer`); only
rank 0 of a distributed run writes.
"""
from __future__ import annotations

import time
from pathlib import Path

from synthwb.core.io import append_jsonl
from synthwb.store import runs as store_runs


def tensorboard_writer(path: Path):
    """A TensorBoard writer into the run's ``tb/`` folder."""
    from torch.utils.tensorboard import SummaryWriter  # lazy: only runs that ask for TensorBoard

    return SummaryWriter(log_dir=str(path / store_runs.TB_DIR))


class ReportingMixin:
    """log / close of :class:`~synthwb.train.trainer._Trainer`."""

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

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
