"""Learning-rate schedules: linear warm-up, then cosine, cosine with warm restarts, or constant.

Built from torch.optim.lr_scheduler (LambdaLR, CosineAnnealingLR,
CosineAnnealingWarmRestarts, SequentialLR) so the state saves and resumes with
``scheduler.state_dict()``. One ``scheduler.step()`` per optimizer step.
"""
from __future__ import annotations

import torch
from torch.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    LambdaLR,
    LRScheduler,
    SequentialLR,
)

from synthwb.train.config import TrainConfig


class _Warmup:
    """Picklable linear warm-up factor (LambdaLR saves only plain callables' state)."""

    def __init__(self, steps: int):
        self.steps = max(int(steps), 1)

    def __call__(self, step: int) -> float:
        return min(1.0, (step + 1) / self.steps)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> LRScheduler:
    """The schedule for ``total_steps`` optimizer steps (warm-up included)."""
    total_steps = max(int(total_steps), 1)
    # warm-up never takes more than a fifth of a short run
    warm = min(config.warmup_steps, total_steps // 5)
    eta_min = config.lr * config.min_lr_ratio
    rest = max(total_steps - warm, 1)
    if config.schedule == "cosine":
        main: LRScheduler = CosineAnnealingLR(optimizer, T_max=rest, eta_min=eta_min)
    elif config.schedule == "cosine_restarts":
        main = CosineAnnealingWarmRestarts(optimizer, T_0=config.restart_period, T_mult=1, eta_min=eta_min)
    else:
        main = ConstantLR(optimizer, factor=1.0, total_iters=0)
    if warm <= 0:
        return main
    warmup = LambdaLR(optimizer, _Warmup(warm))
    return SequentialLR(optimizer, schedulers=[warmup, main], milestones=[warm])


def lr_curve(config: TrainConfig, total_steps: int) -> list[float]:
    """The learning rate at each step, computed on a throwaway optimizer (for previews/plots)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=config.lr)
    sched = build_scheduler(opt, config, total_steps)
    out = []
    for _ in range(total_steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out
