"""The backtest's spec: :class:`BacktestSpec` (what to score, where and how) and :class:`BaselineRef`;
classical references are :class:`synthwb.forecast.classical.refs.ClassicalRef`.

Part of :mod:`synthwb.evaluate.backtest` (which re-exports both); see that module's doc for the
conventions the fields refer to.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthwb.core.errors import NotFound, SpecError, validation_text
from synthwb.core.io import check_slug
from synthwb.core.time import to_utc
from synthwb.data.schema import Selection
from synthwb.forecast.baselines import BASELINES
from synthwb.forecast.classical.refs import ClassicalRef, parse_classical
from synthwb.scoring.synth import SynthTask, get_task
from synthwb.scoring.versions import ValidatorRules, get_validator

__all__ = ["BaselineRef", "BacktestSpec"]


def spec_date(v: Any) -> Any:
    """Dates for a spec's validators (the backtest's and the forward test's): text and datetimes
    to UTC (naive means UTC); anything else is left for pydantic to judge."""
    return to_utc(v, "date") if v is None or isinstance(v, (str, datetime)) else v


def name_list(v: Any) -> list[str]:
    """Names given as text (``"a, b"``: empty parts dropped) or as a list, each stripped."""
    if isinstance(v, str):
        v = [s for s in v.split(",") if s.strip()]
    return [str(x).strip() for x in v]


def baseline_list(v: Any) -> list:
    """Baselines given as text (``"gbm,gbm_ewma"``), or a list of names and :class:`BaselineRef`
    dicts: what ``list[BaselineRef]`` parses (None: none)."""
    if v is None:
        return []
    if isinstance(v, str):
        v = [s for s in v.split(",") if s.strip()]
    return [{"name": x.strip()} if isinstance(x, str) else x for x in v]


def check_members(baselines: list[BaselineRef], models: list[str]) -> None:
    """Every baseline exists and takes its parameters, and every model is a run id."""
    for b in baselines:
        BASELINES.get(b.name).resolve(b.params)
    for m in models:
        check_slug(m, "run id")


class BaselineRef(BaseModel):
    """A baseline by registry name with its parameters."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"


class BacktestSpec(BaseModel):
    """Everything that defines a backtest; JSON round-trips (``model_dump_json`` /
    :meth:`from_json`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    selection: dict | None = None  # {"asset_class", "symbol", "freq"}; default: the run's
    task: str | dict = "24h"
    start: datetime | None = None
    end: datetime | None = None
    every: int | None = Field(None, ge=1, description="origins every k bars of the selection's timeframe")
    origins: list[datetime] | None = None
    n_origins: int = Field(50, ge=1, le=100_000)
    n_paths: int = Field(1000, ge=2, le=20_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    models: list[str] = Field(default_factory=list)
    baselines: list[BaselineRef] = Field(default_factory=lambda: [BaselineRef(name=n) for n in BASELINES.names()])
    classical: list[ClassicalRef] = Field(
        default_factory=list,
        description="classical forecasters scored beside the baselines, refitted on their schedule ('all': every "
                    "registered one, what the CLI and the pages score by default); one that lacks the history for "
                    "the first origin is left out with a note")
    seasonality: int = Field(1, ge=1)
    threshold_bps: float = Field(0.0, ge=0)
    cost_bps: float = Field(1.0, ge=0)
    holding_steps: int | None = Field(None, ge=1)
    keep_paths: int = Field(8, ge=0, le=200, description="origins whose full path sets are kept for charts")
    history_days: float = Field(14.0, gt=0)
    batch_size: int = Field(16, ge=1, le=4096)
    device: str = "auto"
    uncalibrated: bool = Field(False, description="also score each calibrated run without its calibration")
    timing: Literal["validator", "bar"] | None = Field(
        None, description='"validator" (default for the 24h/1h presets) or "bar" (default for custom tasks)')
    validator: str | None = Field(
        None, description="the Synth validator version the backtest scores with (tasks, timing, response rules, "
                          "cadence); None: the newest, recorded by name once parsed")
    cadence: bool = Field(False, description="origins where the validator's scored requests fall (validator "
                                             "cadence, synthwb.evaluate.cadence) instead of spread/every k bars")
    cadence_salt: str = Field("", max_length=200, description="the md5 keeper's salt (the live one is unknown)")
    asset: str | None = Field(None, max_length=40, description="the validator's asset name for the cadence "
                                                               "(default: from the symbol, e.g. BTCUSDT -> BTC)")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _dates(cls, v):
        return spec_date(v)

    @field_validator("origins", mode="before")
    @classmethod
    def _origin_list(cls, v):
        return None if v is None else [spec_date(x) for x in v]

    @field_validator("baselines", mode="before")
    @classmethod
    def _baseline_names(cls, v):
        return baseline_list(v)

    @field_validator("classical", mode="before")
    @classmethod
    def _classical_refs(cls, v):
        return [] if v is None else parse_classical(v)

    @field_validator("models", mode="before")
    @classmethod
    def _model_names(cls, v):
        return [] if v is None else name_list(v)

    @model_validator(mode="after")
    def _check(self):
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start:%Y-%m-%d %H:%M} is not before end {self.end:%Y-%m-%d %H:%M}")
        if self.selection is not None:
            Selection(**{k: self.selection.get(k) for k in ("asset_class", "symbol", "freq")})
        self.validator = get_validator(self.validator).name  # recorded by name: the run reproduces
        get_task(self.task, self.validator)
        if self.cadence:
            if not isinstance(self.task, str):
                raise ValueError("the validator cadence places origins for the 24h and 1h tasks only, not a "
                                 "custom task")
            if self.every or self.origins:
                raise ValueError("the validator cadence places the origins itself: drop every / origins")
        check_members(self.baselines, self.models)
        return self

    @classmethod
    def parse(cls, obj: Any) -> BacktestSpec:
        """Validate a dict/JSON string; a bad spec raises :class:`SpecError` naming the field."""
        try:
            if isinstance(obj, (str, bytes)):
                return cls.model_validate_json(obj)
            if isinstance(obj, cls):
                return obj
            return cls.model_validate(obj)
        except ValidationError as exc:
            raise SpecError(f"invalid backtest spec: {validation_text(exc.errors(), 4, 'spec')}") from None
        except (SpecError, NotFound) as exc:
            raise SpecError(f"invalid backtest spec: {exc}") from None

    from_json = parse

    def task_obj(self) -> SynthTask:
        """The task under the spec's validator version (e.g. 1h under 2026-09 with its vol blocks)."""
        return get_task(self.task, self.validator)

    def rules(self) -> ValidatorRules:
        """The validator version the backtest scores with."""
        return get_validator(self.validator)

    def timing_mode(self) -> str:
        """The timing in force: as set, else "validator" for a Synth preset task, "bar" otherwise."""
        return self.timing or ("validator" if isinstance(self.task, str) else "bar")
