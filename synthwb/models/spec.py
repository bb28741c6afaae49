"""The model spec: a serialisable value that fully describes a model (../shared/DESIGN.md §4).

``ModelSpec`` (pydantic v2) holds the blocks in order with their params, the head, and the
sizes. Parameters are resolved against the registries on construction (defaults filled in,
types coerced, bounds checked), so a saved spec is explicit and a bad one never builds.
Any validation failure raises :class:`synthwb.core.errors.SpecError` with one readable line.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthwb.core.errors import NotFound, SpecError
from synthwb.core.io import check_slug, read_json_file
from synthwb.models.registry import BLOCKS, HEADS
from synthwb.store import specs as store_specs

_PREFIX = "invalid model spec: "
HOURS_OF_WEEK = 168


def _format(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", ""))
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        if msg.startswith(_PREFIX):      # raised by our own __init__ inside pydantic's validation
            msg = msg[len(_PREFIX):]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return _PREFIX + "; ".join(parts)


class LayerSpec(BaseModel):
    """One block or head: its registered name and its parameters."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class ModelSpec(BaseModel):
    """Blocks in order + head + sizes. ``context`` input bars, ``horizon`` steps after t0."""

    model_config = ConfigDict(extra="forbid")

    blocks: list[LayerSpec]
    head: LayerSpec
    n_features: int = Field(ge=1, le=4096)
    d_model: int = Field(64, ge=1, le=4096)
    context: int = Field(256, ge=1, le=100_000)
    horizon: int = Field(288, ge=1, le=100_000)
    norm_between: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    feature_set: str | None = None
    # the classical anchor (synthwb.models.anchor): heads correct GBM with EWMA volatility ("ewma")
    # or with a HAR-RV variance forecast per horizon ("har": needs the har_anchor feature)
    anchor: Literal["ewma", "har", "none"] = "ewma"
    anchor_halflife: float = Field(0.0, ge=0.0, le=100_000,
                                   description="EWMA half-life in bars; 0 = a quarter of the context")
    seasonal: bool = Field(True, description="learn an intraday/weekly log-vol profile over the path steps' clock times")
    bar_seconds: int | None = Field(None, ge=1, description="the feature bar (set by training from the feature set)")
    step_seconds: int | None = Field(None, ge=1, description="the path step; None = the bar. A finer step simulates "
                                     "sub-bar paths (e.g. 1h features, 5-minute paths); horizon counts path steps")
    anchor_profile: list[float] | None = Field(
        None, description="the har anchor's hour-of-week variance profile (168 factors, Monday 00:00 UTC first; set "
                          "by training from the feature set's har_anchor fit, replacing any given): the anchor's "
                          "variance between its knots follows it step by step; None (a feature set with "
                          "seasonal off) keeps it smooth between the knots")

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, blocks: list[LayerSpec]) -> list[LayerSpec]:
        out = []
        for i, b in enumerate(blocks):
            try:
                entry = BLOCKS.get(b.name)
                out.append(LayerSpec(name=b.name, params=entry.resolve(b.params)))
            except (SpecError, NotFound) as exc:
                raise ValueError(f"block {i} ({b.name}): {exc}") from None
        return out

    @field_validator("head")
    @classmethod
    def _head(cls, head: LayerSpec) -> LayerSpec:
        try:
            entry = HEADS.get(head.name)
            return LayerSpec(name=head.name, params=entry.resolve(head.params))
        except (SpecError, NotFound) as exc:
            raise ValueError(f"head ({head.name}): {exc}") from None

    @field_validator("anchor_profile")
    @classmethod
    def _anchor_profile(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return None
        if len(v) != HOURS_OF_WEEK or not all(math.isfinite(x) and 0 < x < 1e3 for x in v):
            raise ValueError(f"anchor_profile holds {HOURS_OF_WEEK} positive finite factors (one per hour of the "
                             f"week); got {len(v)} values")
        return [float(x) for x in v]

    @field_validator("feature_set")
    @classmethod
    def _feature_set(cls, v: str | None) -> str | None:
        return check_slug(v, "feature set name") if v else None

    @model_validator(mode="after")
    def _horizon(self) -> ModelSpec:
        need = int(HEADS.get(self.head.name).meta.get("min_horizon", 1))
        if self.horizon < need:
            raise ValueError(f"head {self.head.name!r} needs a horizon of at least {need}, got {self.horizon}")
        if self.bar_seconds and self.step_seconds and (self.step_seconds > self.bar_seconds
                                                       or self.bar_seconds % self.step_seconds):
            raise ValueError(f"the path step ({self.step_seconds} s) must equal the bar ({self.bar_seconds} s) "
                             "or divide it (e.g. 300 s paths from 3600 s bars)")
        return self

    @property
    def path_step(self) -> int | None:
        """Seconds between path points (the bar unless a finer step is set); None if unknown."""
        return self.step_seconds or self.bar_seconds

    @property
    def halflife_bars(self) -> float:
        return float(self.anchor_halflife or max(1.0, self.context / 4.0))

    # -- construction that always raises SpecError ---------------------------------------
    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise SpecError(_format(exc)) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> ModelSpec:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise SpecError(_format(exc)) from None

    @classmethod
    def model_validate_json(cls, data: str | bytes, *args: Any, **kwargs: Any) -> ModelSpec:
        try:
            return super().model_validate_json(data, *args, **kwargs)
        except ValidationError as exc:
            raise SpecError(_format(exc)) from None

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        if not isinstance(d, dict):
            raise SpecError(f"invalid model spec: expected a JSON object, got {type(d).__name__}")
        return cls.model_validate(d)

    def with_sizes(self, **sizes: Any) -> ModelSpec:
        """A copy with some top-level fields replaced (re-validated)."""
        return ModelSpec.from_dict({**self.to_dict(), **sizes})


def read_spec_file(path: str | Path) -> ModelSpec:
    """Load a spec from a JSON file; unreadable or invalid files raise SpecError / NotFound."""
    return ModelSpec.from_dict(read_json_file(path, "spec file"))


def save_spec(name: str, spec: ModelSpec, store=None) -> Path:
    """Write ``spec`` as <store>/_specs/<name>.json atomically; returns the path."""
    return store_specs.write_spec(name, spec.to_dict(), store)


def load_spec(name: str, store=None) -> ModelSpec:
    return ModelSpec.from_dict(store_specs.read_spec(name, store))


list_specs = store_specs.list_specs
delete_spec = store_specs.delete_spec


def run_spec(run) -> ModelSpec:
    """The model spec a saved run (:class:`synthwb.store.runs.Run`) was trained with."""
    data = run.info.get("model_spec")
    if not data:
        raise SpecError(f"run {run.run_id!r} has no model spec in run.json")
    try:
        return ModelSpec.model_validate(data)
    except SpecError as exc:
        raise SpecError(f"run {run.run_id!r}: invalid model spec in run.json: {exc}") from None
