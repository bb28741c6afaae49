"""What every training loop (path models, Moirai fine-tuning) does the same way: how it walks its
epochs from where a resumed run stopped, why it stopped, and how a part of a longer job (a trial,
a variant, an asset) reports its progress."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


def epoch_batches(state: Any, epochs: int, batches: Callable[[int], Iterable]) -> Iterator:
    """Each batch of each epoch from where ``state`` stands, until ``state.step`` reaches
    ``state.total_steps`` or ``epochs`` epochs are done. ``batches(epoch)`` gives an epoch's
    batches from ``state.batch_in_epoch`` on (the loop counts that per batch it takes); at an
    epoch's end ``state.epoch`` moves on and ``state.batch_in_epoch`` goes back to 0."""
    while state.step < state.total_steps and state.epoch < epochs:
        for b in batches(state.epoch):
            yield b
            if state.step >= state.total_steps:
                return
        state.epoch += 1
        state.batch_in_epoch = 0


def early_stop_reason(patience: int, best_val: float, best_step: int) -> str:
    return f"early stopping: no validation improvement in {patience} validations (best {best_val:.4f} at step {best_step})"


def end_of_loop(step: int, last_val_step: int, validate: Callable[[], object], max_steps: int | None) -> str:
    """After the last step: validate it unless just done, and say why the loop ended."""
    if last_val_step != step:
        validate()
    return "max_steps reached" if max_steps and step >= max_steps else "all epochs done"


def part_progress(progress: Callable[..., None] | None, i: int, n: int, label: str | None = None):
    """The ``progress(fraction, metrics=None, message=None)`` callback of part ``i`` of ``n`` (a
    trial, an ablation variant, an asset's backtest) as a share of the whole job; ``label``
    prefixes its messages. None when there is no ``progress`` to report to."""
    if progress is None:
        return None

    def cb(fraction=None, metrics=None, message=None):
        frac = None if fraction is None else (i + min(max(float(fraction), 0.0), 1.0)) / n
        text = f"{label}: {message}" if label and message else (label or message)
        progress(frac, metrics=metrics, message=text)
    return cb
