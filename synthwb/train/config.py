"""Training configuration: one pydantic model, saved as JSON inside every run's run.json."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import SpecError


class TrainConfig(BaseModel):
    """Everything the loop needs besides the data and the model.

    ``loss``: ``crps`` (CRPS of the simulated paths against the realised path at every horizon
    step), ``afcrps`` (almost-fair CRPS with weight ``alpha``), or ``synth`` (the differentiable
    Synth-style sum of interval terms, DESIGN.md §5). ``space``: relative prices
    (paths / last_close) or log returns (log(paths / last_close)) for the CRPS losses.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0, le=10)
    grad_clip: float = Field(1.0, ge=0, description="max global grad norm; 0 disables clipping")
    warmup_steps: int = Field(50, ge=0)
    schedule: Literal["cosine", "cosine_restarts", "constant"] = "cosine"
    restart_period: int = Field(500, ge=1, description="steps of the first cosine cycle (cosine_restarts)")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="cosine floor as a share of lr")
    loss: Literal["crps", "afcrps", "synth"] = "crps"
    alpha: float = Field(0.95, ge=0, le=1, description="almost-fair CRPS weight (afcrps, and the synth loss terms; 0 = standard)")
    synth_task: Literal["24h", "1h"] = "24h"
    n_paths_train: int = Field(100, ge=2, le=100_000)
    n_paths_eval: int = Field(1000, ge=2, le=100_000)
    patience: int = Field(5, ge=0, description="validations without improvement before stopping; 0 disables")
    max_steps: Optional[int] = Field(None, ge=1)
    val_every: int = Field(0, ge=0, description="validate every N steps; 0 = once per epoch")
    max_val_batches: int = Field(8, ge=1, description="validation uses at most this many batches of windows, evenly spread over the split")
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(0, ge=0, description="save last.* every N steps; 0 = at validations")
    max_bad_steps: int = Field(20, ge=1, description="consecutive NaN/inf steps before the run stops")
    stride: int = Field(1, ge=1, description="window stride over the training split")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = Field(False, description="mixed precision (CUDA only)")
    amp_dtype: Literal["bf16", "fp16"] = "bf16"
    tensorboard: bool = False
    space: Literal["relative", "logret"] = "relative"
    num_workers: int = Field(0, ge=0, le=64)
    threads: int = Field(0, ge=0, le=1024, description=(
        "torch CPU threads; 0 = auto: torch's default headless, all cores but one in a background "
        "job so the app stays responsive"))

    @classmethod
    def parse(cls, data: dict | "TrainConfig" | None = None, **overrides) -> "TrainConfig":
        """Build from a dict plus keyword overrides; any bad value raises SpecError naming it."""
        if isinstance(data, TrainConfig):
            data = data.model_dump()
        merged = {**(data or {}), **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            parts = []
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"]) or "config"
                parts.append(f"{loc}: {err['msg']}")
            raise SpecError("invalid training config: " + "; ".join(parts)) from None
