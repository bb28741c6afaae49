"""What every training loop (path models, Moirai fine-tuning) says the same way: why it stopped."""
from __future__ import annotations

from collections.abc import Callable


def early_stop_reason(patience: int, best_val: float, best_step: int) -> str:
    return f"early stopping: no validation improvement in {patience} validations (best {best_val:.4f} at step {best_step})"


def end_of_loop(step: int, last_val_step: int, validate: Callable[[], object], max_steps: int | None) -> str:
    """After the last step: validate it unless just done, and say why the loop ended."""
    if last_val_step != step:
        validate()
    return "max_steps reached" if max_steps and step >= max_steps else "all epochs done"
