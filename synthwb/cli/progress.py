"""What every training command shares on the terminal: a step progress bar fed by the
engine's ``progress(fraction, metrics, message)`` callback, and Ctrl-C handling (the first
stops cooperatively, the run is saved as ``interrupted``; a second one aborts)."""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class StepBar:
    """A tqdm bar over training steps, made on the first logged step (so a setup error prints
    one clean line), showing the train loss and the latest validation figure."""

    def __init__(self, enabled: bool = True, val_keys: tuple[str, ...] = ("val_score", "val_loss")):
        self.enabled, self.val_keys = enabled, val_keys
        self.bar = None
        self.val = None

    def __call__(self, fraction=None, metrics=None, message=None) -> None:
        if not self.enabled or not metrics or "step" not in metrics:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit="step", file=sys.stderr, dynamic_ncols=True, leave=True)
        step = int(metrics["step"])
        if fraction and step:
            self.bar.total = max(int(round(step / fraction)), step)
        if metrics.get("kind") == "val":
            self.val = next((metrics[k] for k in self.val_keys if metrics.get(k) is not None), None)
        post = {}
        if isinstance(metrics.get("loss"), (int, float)):
            post["loss"] = f"{metrics['loss']:.4g}"
        if self.val is not None:
            post["val"] = f"{self.val:.5g}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_stoppable(fn: Callable[[threading.Event], T], bar: StepBar | None = None) -> T:
    """``fn(stop_event)`` with Ctrl-C setting ``stop_event`` once and aborting the second time."""
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("\nstopping after this step (Ctrl-C again to abort)...\n")

    old = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    try:
        return fn(stop)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        if bar is not None:
            bar.close()
