"""Training configuration: one pydantic model, saved as JSON inside every run's run.json."""
from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthwb.core.errors import SpecError, validation_text
from synthwb.core.registry import Param
from synthwb.scoring.synth import get_task
from synthwb.scoring.versions import DEFAULT_VALIDATOR, get_validator, validator_names


class TrainConfig(BaseModel):
    """Everything the loop needs besides the data and the model.

    ``loss``: ``synth`` (the default: the differentiable score of the task the run targets,
    ``synth_task`` = "24h", "1h" or a custom task dict, with the almost-fair CRPS of weight
    ``alpha`` in every term, divided by the task's number of terms), ``crps`` (CRPS of the
    simulated paths against the realised path at every horizon step) or ``afcrps`` (its
    almost-fair form). Validation, early stopping and the best checkpoint use the same
    objective; every validation also logs the task's exact score and 90% coverage.
    ``validator``: the validator version whose rules the task follows (default the newest; under
    2026-09 the 1h task's score, and so the synth loss, includes the volatility term).
    ``space``: relative prices or log returns for the step-CRPS losses.

    The defaults are the ones the quality benchmark (bench/bench_quality.py) is run with.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    epochs: int = Field(4, ge=1, le=100_000, title="Epochs")
    batch_size: int = Field(32, ge=1, le=65_536, title="Batch size")
    lr: float = Field(1e-3, gt=0, le=10, title="Learning rate")
    weight_decay: float = Field(1e-2, ge=0, le=10, title="Weight decay")
    grad_clip: float = Field(5.0, ge=0, title="Grad clip", description="max global grad norm; 0 disables clipping")
    warmup_steps: int = Field(50, ge=0, title="Warm-up steps")
    schedule: Literal["cosine", "cosine_restarts", "constant"] = Field("cosine", title="Schedule")
    restart_period: int = Field(500, ge=1, title="Restart period", description="steps of the first cosine cycle (cosine_restarts)")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, title="Min lr ratio", description="cosine floor as a share of lr")
    loss: Literal["synth", "crps", "afcrps"] = Field("synth", title="Loss", description=(
        "the target task's Synth score (default), CRPS at every horizon step, or its almost-fair form"))
    alpha: float = Field(0.95, ge=0, le=1, title="Almost-fair alpha", description="almost-fair CRPS weight (afcrps, and the synth loss terms; 0 = standard)")
    synth_task: Any = Field("24h", title="Target task", json_schema_extra={"choices": ["24h", "1h"]}, description='the task the run targets: "24h", "1h" or a custom task dict')
    validator: str = Field(DEFAULT_VALIDATOR, title="Validator version",
                           json_schema_extra={"choices": validator_names()},
                           description="the Synth validator version whose scoring rules the run trains for "
                                       "(default: the newest)")
    n_paths_train: int = Field(100, ge=2, le=100_000, title="Paths per sample (train)")
    n_paths_eval: int = Field(1000, ge=2, le=100_000, title="Paths (validation)")
    patience: int = Field(4, ge=0, title="Early-stop patience", description="validations without improvement before stopping; 0 disables")
    max_steps: int | None = Field(None, ge=1, title="Max steps (0 = all epochs)", description="stop after this many steps; 0 = all epochs")
    val_every: int = Field(0, ge=0, title="Validate every N steps", description="validate every N steps; 0 = every 100 steps (at most half an epoch)")
    max_val_batches: int = Field(4, ge=1, title="Validation batches", description="validation uses at most this many batches of windows, evenly spread over the split")
    calibrate: bool = Field(True, title="Calibrate", description="fit a vol scale and drift shrink on the validation split after training")
    gate: bool = Field(True, title="Keep training only if it beats the anchor", description=(
        "after training, keep the trained weights only when they beat the untrained classical anchor on the "
        "validation split beyond noise (Diebold-Mariano, one-sided 5%) and by at least 0.05%; otherwise the run forecasts with its "
        "anchor (anchored models)"))
    calibration_paths: int = Field(256, ge=16, le=100_000, title="Calibration paths", description="paths per window in the calibration fit")
    drift: Literal["learned", "zero"] = Field("learned", title="Drift", description=(
        "learned: the head's price drift, shrunk on the validation split by the calibration; zero: martingale "
        "paths (the learned drift is dropped after training, and the blend's classical partners keep their own "
        "zero drift)"))
    blend: bool = Field(True, title="Blend with classical", description="after the calibration, mix the run's paths with the classical forecasters' (GARCH family, HAR-RV), weights fitted on the validation split; a share under 2% is dropped")
    pool: list[str] = Field(default_factory=list, max_length=32, title="Pool training with",
                            description="saved feature sets of other symbols (same bar size and features) whose "
                                        "windows up to the end of this run's training split are added to its "
                                        "training; validation, calibration and blend stay on the run's own series")
    calibration_windows: int = Field(1024, ge=1, le=1_000_000, title="Calibration windows", description="the calibration fit reads at most this many validation windows, evenly spread over the split (more than validation: its choices are a fraction of a percent apart)")
    log_every: int = Field(10, ge=1, title="Log every N steps")
    checkpoint_every: int = Field(0, ge=0, title="Checkpoint every N steps", description="save last.* every N steps; 0 = at validations")
    max_bad_steps: int = Field(20, ge=1, title="Max bad steps", description="consecutive NaN/inf steps before the run stops")
    stride: int = Field(0, ge=0, title="Window stride", description="window stride over the training split; 0 = auto (about 8000 windows)")
    seed: int = Field(0, ge=0, le=2**31 - 1, title="Seed")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", title="Device")
    amp: bool = Field(False, title="Mixed precision", description="mixed precision (CUDA only)")
    amp_dtype: Literal["bf16", "fp16"] = Field("bf16", title="AMP dtype")
    tensorboard: bool = Field(False, title="TensorBoard events")
    space: Literal["relative", "logret"] = Field("relative", title="CRPS space")
    num_workers: int = Field(0, ge=0, le=64, title="Data workers")
    threads: int = Field(0, ge=0, le=1024, title="CPU threads", description=(
        "torch CPU threads; 0 = auto: the cores the machine's load leaves free (at least one), one fewer "
        "in a background job so the app stays responsive"))

    @field_validator("synth_task")
    @classmethod
    def _task(cls, v: Any) -> Any:
        try:
            t = get_task(v)
        except Exception as exc:  # noqa: BLE001 - any bad task is one readable line
            raise ValueError(f"not a task: {exc}") from None
        return v if isinstance(v, str) else t.to_dict()

    @field_validator("validator", mode="before")
    @classmethod
    def _validator(cls, v: Any) -> str:
        try:
            return get_validator(None if v is None else str(v)).name
        except Exception as exc:  # noqa: BLE001 - one readable line
            raise ValueError(str(exc)) from None

    def task(self):
        """The target task under this config's validator version."""
        return get_task(self.synth_task, self.validator)

    @classmethod
    def parse(cls, data: dict | TrainConfig | None = None, **overrides) -> TrainConfig:
        """Build from a dict plus keyword overrides; any bad value raises SpecError naming it."""
        if isinstance(data, TrainConfig):
            data = data.model_dump()
        merged = {**(data or {}), **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise SpecError("invalid training config: " + validation_text(exc.errors(), 8, "config")) from None


#: the Train page's form: the main settings, then those under "Advanced" (every other field
#: keeps its default there and is set from the CLI or a config file)
FORM_MAIN = ("epochs", "batch_size", "lr", "loss", "synth_task", "n_paths_train", "device", "schedule",
             "warmup_steps", "patience", "max_steps", "val_every", "tensorboard")
FORM_ADVANCED = ("weight_decay", "grad_clip", "alpha", "space", "n_paths_eval", "seed", "log_every", "amp",
                 "gate", "calibrate", "drift", "blend", "calibration_windows", "max_val_batches", "stride", "restart_period", "min_lr_ratio")


def _optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return annotation, False


def config_param(name: str) -> Param:
    """A TrainConfig field as a registry :class:`Param` (type, default, bounds, choices, help),
    so the page builds its widget the way block and head forms are built. An optional
    number reads 0 as "none" (``max_steps``)."""
    f = TrainConfig.model_fields[name]
    ann, optional = _optional(f.annotation)
    low = high = None
    for m in f.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            low = float(m.ge if isinstance(m, at.Ge) else m.gt)
        elif isinstance(m, (at.Le, at.Lt)):
            high = float(m.le if isinstance(m, at.Le) else m.lt)
    help_ = f.description or ""
    if typing.get_origin(ann) is Literal:
        return Param(name, str, f.default, choices=typing.get_args(ann), help=help_)
    choices = (f.json_schema_extra or {}).get("choices")  # a field the form offers a fixed set for
    if choices:
        return Param(name, str, f.default, choices=tuple(choices), help=help_)
    kind = {bool: bool, int: int, float: float}.get(ann, str)
    default = 0 if (optional and f.default is None) else f.default
    if optional:
        low = 0.0
    return Param(name, kind, default, low=low, high=high, help=help_)


def config_label(name: str) -> str:
    return TrainConfig.model_fields[name].title or name


def config_from_form(values: dict[str, Any]) -> dict[str, Any]:
    """Form values (field -> value) as TrainConfig input: 0 in an optional number is None."""
    out = {}
    for name, v in values.items():
        _, optional = _optional(TrainConfig.model_fields[name].annotation)
        out[name] = None if (optional and v == 0) else v
    return out


#: named starting points of a training config: the Train page's "Training length" choice and
#: ``train --profile``. ``recommended`` is TrainConfig's defaults, the ones the README's
#: forecast-quality table is measured with; ``quick`` caps the steps so a first scored model
#: takes under a minute on a 2-core CPU (the page's default on a machine without a GPU; the
#: README's "Quickstart" has the times measured beside their estimates).
PROFILES: dict[str, dict[str, Any]] = {
    "recommended": {"label": "Recommended (measured best)", "overrides": {},
                    "help": "the defaults the README's forecast-quality figures are measured with: "
                            "4 epochs with early stopping (the estimate below times it on this machine)"},
    "quick": {"label": "Quick first model", "overrides": {"max_steps": 100, "val_every": 50, "max_val_batches": 1,
                                                          "calibration_windows": 128, "blend": False},
              "help": "100 steps, validated on one batch of windows (1000 paths) at steps 0, 50 and 100, calibrated "
                      "on 128 windows, not blended with the classical forecasters: a first scored model (the "
                      "estimate below times it on this machine); the recommended run scores better"},
}


def profile_overrides(name: str) -> dict[str, Any]:
    """The TrainConfig overrides of the profile ``name`` (:data:`PROFILES`)."""
    if name not in PROFILES:
        raise SpecError(f"unknown training profile {name!r}; use one of: {', '.join(PROFILES)}")
    return dict(PROFILES[name]["overrides"])
