"""Training configuration: one pydantic model, saved as JSON inside every run's run.json."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthwb.core.errors import SpecError
from synthwb.scoring.synth import get_task


class TrainConfig(BaseModel):
    """Everything the loop needs besides the data and the model.

    ``loss``: ``synth`` (the default: the differentiable score of the task the run targets,
    ``synth_task`` = "24h", "1h" or a custom task dict, with the almost-fair CRPS of weight
    ``alpha`` in every term, divided by the task's number of terms), ``crps`` (CRPS of the
    simulated paths against the realised path at every horizon step) or ``afcrps`` (its
    almost-fair form). Validation, early stopping and the best checkpoint use the same
    objective; every validation also logs the task's exact score and 90% coverage.
    ``space``: relative prices or log returns for the step-CRPS losses.

    The defaults are the ones the quality benchmark (bench/bench_quality.py) is run with.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    epochs: int = Field(4, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(1e-2, ge=0, le=10)
    grad_clip: float = Field(5.0, ge=0, description="max global grad norm; 0 disables clipping")
    warmup_steps: int = Field(50, ge=0)
    schedule: Literal["cosine", "cosine_restarts", "constant"] = "cosine"
    restart_period: int = Field(500, ge=1, description="steps of the first cosine cycle (cosine_restarts)")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="cosine floor as a share of lr")
    loss: Literal["crps", "afcrps", "synth"] = "synth"
    alpha: float = Field(0.95, ge=0, le=1, description="almost-fair CRPS weight (afcrps, and the synth loss terms; 0 = standard)")
    synth_task: Any = Field("24h", description='the task the run targets: "24h", "1h" or a custom task dict')
    n_paths_train: int = Field(100, ge=2, le=100_000)
    n_paths_eval: int = Field(1000, ge=2, le=100_000)
    patience: int = Field(4, ge=0, description="validations without improvement before stopping; 0 disables")
    max_steps: Optional[int] = Field(None, ge=1)
    val_every: int = Field(0, ge=0, description="validate every N steps; 0 = every 100 steps (at most half an epoch)")
    max_val_batches: int = Field(4, ge=1, description="validation uses at most this many batches of windows, evenly spread over the split")
    calibrate: bool = Field(True, description="fit a vol scale and drift shrink on the validation split after training")
    calibration_paths: int = Field(256, ge=16, le=100_000, description="paths per window in the calibration fit")
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(0, ge=0, description="save last.* every N steps; 0 = at validations")
    max_bad_steps: int = Field(20, ge=1, description="consecutive NaN/inf steps before the run stops")
    stride: int = Field(0, ge=0, description="window stride over the training split; 0 = auto (about 8000 windows)")
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

    @field_validator("synth_task")
    @classmethod
    def _task(cls, v: Any) -> Any:
        try:
            t = get_task(v)
        except Exception as exc:  # noqa: BLE001 - any bad task is one readable line
            raise ValueError(f"not a task: {exc}") from None
        return v if isinstance(v, str) else t.to_dict()

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
