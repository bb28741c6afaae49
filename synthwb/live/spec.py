"""What a forward test scores and how its clock runs: :class:`LiveSpec` (JSON round-trips)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthwb.core.errors import NotFound, SpecError, validation_text
from synthwb.core.io import check_slug
from synthwb.data.schema import check_asset_class, check_freq
from synthwb.evaluate.backtest_spec import BaselineRef, baseline_list, check_members, name_list, spec_date
from synthwb.scoring.versions import CompetitionRule, get_validator

__all__ = ["LiveSpec", "default_competition"]


def default_competition(validator: str | None = None) -> str:
    """The version's first 1-hour competition (the quickest feedback), else its first one."""
    rules = get_validator(validator)
    one_h = [k for k, c in rules.competitions.items() if c.task == "1h"]
    return one_h[0] if one_h else next(iter(rules.competitions))


class LiveSpec(BaseModel):
    """A forward test: runs and baselines forecasting a competition's scored requests."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(..., min_length=1, max_length=80)
    models: list[str] = Field(default_factory=list, description="saved runs (any kind)")
    baselines: list[BaselineRef] = Field(default_factory=lambda: [BaselineRef(name="gbm")])
    validator: str | None = None
    competition: str | None = Field(None, description="a competition key of the version (default: its 1h one)")
    assets: list[str] | None = Field(None, description="validator asset names (default: the competition's "
                                                       "assets the lake holds)")
    asset_class: str = "crypto"
    freq: str = Field("1min", description="the bars the forecasters read")
    n_paths: int = Field(1000, ge=2, le=20_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    salt: str = Field("", max_length=200, description="the md5 keeper's salt (the live one is unknown)")
    history_days: float = Field(14.0, gt=0, le=3650)
    device: str = "cpu"
    clock: Literal["wall", "simulated"] = "wall"
    start: datetime | None = Field(None, description="first request time (simulated: required; wall: now)")
    end: datetime | None = Field(None, description="requests before it (wall: none = until stopped)")
    speed: float = Field(0.0, ge=0, le=1e9, description="simulated seconds per wall second; 0: as fast as "
                                                         "possible (event to event)")
    update_feeds: bool = Field(False, description="wall clock: `data update` before forecasting")
    update_every_s: float = Field(60.0, ge=5, le=86400)
    poll_s: float = Field(2.0, gt=0, le=600, description="wall clock: longest sleep between checks")
    grace_s: float = Field(1800.0, ge=0, le=7 * 86400, description="wall clock: how long past a request's final "
                                                                   "time its prices may take to reach the lake")
    max_lake_lag_s: float = Field(3600.0, gt=0, le=30 * 86400, description="wall clock: a request whose newest "
                                  "bar is older than this is skipped (the lake is not being updated)")
    keep_responses: int = Field(200, ge=0, le=1_000_000, description="scored requests whose responses stay on "
                                                                     "disk (the newest)")
    keep_charts: int = Field(24, ge=1, le=10_000, description="scored requests whose fan-chart rows stay on disk")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _dates(cls, v: Any):
        return spec_date(v)

    @field_validator("baselines", mode="before")
    @classmethod
    def _baseline_names(cls, v):
        return baseline_list(v)

    @field_validator("models", "assets", mode="before")
    @classmethod
    def _names(cls, v):
        return v if v is None else name_list(v)

    @model_validator(mode="after")
    def _check(self):
        check_slug(self.name, "forward test name")
        if self.name.startswith(("_", ".")):
            raise ValueError(f"a forward test name cannot start with {self.name[0]!r}")
        check_asset_class(self.asset_class)
        check_freq(self.freq)
        rules = get_validator(self.validator)
        self.validator = rules.name
        self.competition = self.competition or default_competition(rules.name)
        comp = rules.competition(self.competition)
        if not comp.scored:
            raise ValueError(f"{comp.label} is scored off-subnet; pick one of {', '.join(rules.competitions)}")
        if self.assets is not None:
            self.assets = [a.upper() for a in self.assets]
            bad = [a for a in self.assets if a not in comp.assets]
            if bad:
                raise ValueError(f"{', '.join(bad)} {'does' if len(bad) == 1 else 'do'} not count for {comp.label}; "
                                 f"it counts {' '.join(comp.assets)}")
        check_members(self.baselines, self.models)
        if not self.models and not self.baselines:
            raise ValueError("nothing to forward test: give at least one run or one baseline")
        if self.clock == "simulated" and self.start is None:
            raise ValueError("a simulated clock needs a start (the first request time it replays)")
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start:%Y-%m-%d %H:%M} is not before end {self.end:%Y-%m-%d %H:%M}")
        return self

    @classmethod
    def parse(cls, obj: Any) -> LiveSpec:
        """Validate a dict / JSON text; a bad spec raises :class:`SpecError` naming the field."""
        try:
            if isinstance(obj, cls):
                return obj
            if isinstance(obj, (str, bytes)):
                return cls.model_validate_json(obj)
            return cls.model_validate(obj)
        except ValidationError as exc:
            raise SpecError(f"invalid forward test: {validation_text(exc.errors(), 4, 'spec')}") from None
        except (SpecError, NotFound) as exc:
            raise SpecError(f"invalid forward test: {exc}") from None

    def rules(self):
        return get_validator(self.validator)

    def comp(self) -> CompetitionRule:
        return self.rules().competition(str(self.competition))

    @property
    def task_name(self) -> str:
        return self.comp().task

    def model_names(self) -> list[str]:
        return list(self.models) + [b.label for b in self.baselines]

    def baseline_names(self) -> list[str]:
        return [b.label for b in self.baselines]
