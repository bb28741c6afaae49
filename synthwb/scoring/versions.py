"""The Synth validator's rules, by version, as data (../shared/DESIGN.md §5).

The validator changes; synthwb keeps each rule set it knows as one :class:`ValidatorRules` value
in the :data:`VALIDATORS` registry (the project's one registry idiom), each naming its source
repository, commit and date. The newest is the default (:data:`DEFAULT_VALIDATOR`); older ones
stay selectable so old results reproduce. Everything that depends on the validator reads a rule
set from here: the task presets and their volatility blocks (scorer, batched scorer, training
loss), timing, response rules, the per-request transform, competitions (assets, beta, window,
coefficient), asset weights, emission shares and the scored-request sampling (thinning).

    rules = get_validator("2026-09")        # or None / "" for the default
    task = rules.task("1h")                 # SynthTask with its vol blocks
    rules.competitions["crypto-1h"].assets  # ('BTC', 'ETH', 'SOL', 'XRP', 'HYPE')

Facts, by version (written from the public validators' code, never copied):

``2026-05``: mode-network/synth-subnet @ec8a625 (2026-05-29). Two prompts: 24h ("low": 12
assets, window 10 days, beta -0.1) and 1h ("high": BTC ETH XAU SOL HYPE, 3 days, -0.2), each
weighted 0.5; the owner's entry took half of the validator's weight, so miners shared the other
half. Per request: valid scores capped at their 90th percentile, misses get the cap, the lowest
subtracted. start_time = request rounded up to the next minute + 60 s for both prompts. A point
passes when ``len(str(p).replace(".", "")) <= 8``. Prompts came one asset at a time (round robin)
every 5 min (24h) and 2 min (1h); the keeper of each (asset, hour) and (asset, 10 min) bucket
was its smallest request id (the earliest).

``2026-09``: synthdataco/synth-subnet v1.13.0 (code @2cfb24b, released 2026-09-22). Three
competitions, 1/3 each (VHFT, scored off-subnet, makes a fourth equal share when blended):
Crypto 1h (BTC ETH SOL XRP HYPE; 5 days; beta -0.3), Crypto 24h (same; 10 days; -0.15),
Commodities/Equities 24h (XAU NVDAX GOOGLX TSLAX AAPLX WTIOIL SPCX SP500; 10 days; -0.15). The
Crypto 1h score adds a volatility CRPS over blocks of 60, 15 and 5 minutes weighted 5.25/3,
5.25/12, 5.25/36. Per request: valid scores clipped at 10x their median; misses get the 95th
percentile of the valid scores that were not clipped; the lowest subtracted. No owner burn
since 2026-07-23. 1h start_time = next minute (timeout_extra 0). Dense prompting, one scored
request per (asset, hour) for 24h and per (asset, 10 minutes) for 1h, the keeper chosen by the
smallest ``md5(str(id) + salt)`` in its bucket. A point passes when it is an int or float (not
bool), finite, float32-representable and ``float(f"{v:.7e}") == v``; negatives are accepted.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from synthwb.core.errors import SpecError
from synthwb.core.registry import Registry
from synthwb.scoring.tasks import Interval, SynthTask, VolBlock

__all__ = [
    "DEFAULT_VALIDATOR",
    "TRANSFORMS",
    "RESPONSE_RULES",
    "Cadence",
    "CompetitionRule",
    "ValidatorRules",
    "VALIDATORS",
    "get_validator",
    "validator_names",
    "get_task",
    "keeper_index",
]

TRANSFORMS = ("p90-cap", "median10-p95")
RESPONSE_RULES = ("chars8", "float32-sig8")

_24H_INTERVALS = {"5min": 300, "30min": 1800, "3hour": 10800, "24hour_abs": 86400}
_1H_INTERVALS = {"1min": 60, "2min": 120, "5min": 300, "15min": 900, "30min": 1800, "60min_abs": 3600,
                 **{f"0_{m}min_gaps": m * 60 for m in range(5, 61, 5)}}
VOL_LAMBDA = 5.25  # 2026-09: each block size's weight is lambda / (3 sizes x blocks of that size)


@dataclass(frozen=True)
class CompetitionRule:
    """One competition (a prompt and the assets that count for it) of a validator version.

    ``coefficient`` is what the validator multiplies the competition's softmax by before the
    weights of all competitions are added up; ``share`` is the fraction of the *miners'*
    emissions the competition pays once the version's owner rule is applied (the shares of a
    version's competitions add up to 1, or to 1 with VHFT when it is blended in)."""

    key: str
    label: str
    task: str
    assets: tuple[str, ...]
    window_days: float
    beta: float
    coefficient: float
    share: float
    scored: bool = True  # False: scored off-subnet (VHFT), only an optional share here

    @property
    def time_length(self) -> int:
        return 86400 if self.task == "24h" else 3600 if self.task == "1h" else 10

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "task": self.task, "assets": list(self.assets),
                "window_days": self.window_days, "beta": self.beta, "coefficient": self.coefficient,
                "share": self.share, "scored": self.scored}


@dataclass(frozen=True)
class Cadence:
    """How a prompt's requests are issued and which ones are scored.

    ``period_minutes``: per asset, minutes between two requests of that asset (``"*"`` for every
    other asset); ``round_robin``: one asset per cycle of ``cycle_minutes`` in the order of the
    asset list (2026-05) instead of every asset on its own period; ``bucket_seconds``: one scored
    request per (asset, bucket of start times); ``keeper``: ``"min-id"`` (the earliest request of
    the bucket) or ``"md5"`` (smallest ``md5(str(id) + salt)``)."""

    bucket_seconds: int
    keeper: str
    period_minutes: Mapping[str, int] = field(default_factory=dict)
    round_robin: bool = False
    cycle_minutes: int = 0

    def period_for(self, asset: str, n_assets: int) -> int:
        if self.round_robin:
            return self.cycle_minutes * max(1, n_assets)
        return int(self.period_minutes.get(asset, self.period_minutes.get("*", 5)))


@dataclass(frozen=True)
class ValidatorRules:
    """One version of the validator's rules (see the module doc for the facts)."""

    name: str
    repository: str
    commit: str
    date: str
    summary: str
    tasks: Mapping[str, SynthTask]
    start_extra_s: Mapping[str, int]  # timeout_extra_seconds per task
    response_rule: str
    accepts_negative: bool
    transform: str
    competitions: Mapping[str, CompetitionRule]
    asset_weights: Mapping[str, float]
    owner_share: float  # fraction of the validator's weight that went to the owner, not to miners
    emission_note: str
    cadence: Mapping[str, Cadence]
    vhft: CompetitionRule | None = None
    differences: tuple[str, ...] = ()

    def task(self, name: str) -> SynthTask:
        if name not in self.tasks:
            raise SpecError(f"validator {self.name} has no {name!r} task; it has {', '.join(self.tasks)}")
        return self.tasks[name]

    def competitions_for(self, task: str) -> list[CompetitionRule]:
        return [c for c in self.competitions.values() if c.task == task]

    def competition(self, key: str) -> CompetitionRule:
        if key in self.competitions:
            return self.competitions[key]
        if self.vhft is not None and key == self.vhft.key:
            return self.vhft
        raise SpecError(f"validator {self.name} has no competition {key!r}; it has "
                        f"{', '.join(self.competitions)}")

    def asset_weight(self, asset: str) -> float:
        """The asset's coefficient in the rolling average (1.0 for an asset the version does not list)."""
        return float(self.asset_weights.get(str(asset), 1.0))

    def label(self) -> str:
        return f"validator {self.name} ({self.repository}@{self.commit[:7]}, {self.date})"

    def to_dict(self) -> dict:
        return {"name": self.name, "repository": self.repository, "commit": self.commit, "date": self.date,
                "summary": self.summary, "tasks": {k: t.to_dict() for k, t in self.tasks.items()},
                "start_extra_s": dict(self.start_extra_s), "response_rule": self.response_rule,
                "accepts_negative": self.accepts_negative, "transform": self.transform,
                "competitions": {k: c.to_dict() for k, c in self.competitions.items()},
                "vhft": None if self.vhft is None else self.vhft.to_dict(),
                "asset_weights": dict(self.asset_weights), "owner_share": self.owner_share,
                "emission_note": self.emission_note, "differences": list(self.differences)}


def _task(name: str, step: int, n_points: int, intervals: Mapping[str, int],
          vol: tuple[VolBlock, ...] = ()) -> SynthTask:
    return SynthTask(name, step, n_points, tuple(Interval(k, v) for k, v in intervals.items()), vol_blocks=vol)


_WEIGHTS_2026_05 = {
    "BTC": 1.0, "ETH": 0.7064366394033871, "XAU": 1.7370922597118699, "SOL": 0.6310037175639559,
    "SPYX": 3.437935601155441, "NVDAX": 1.6028217601617174, "TSLAX": 1.6068755936957768,
    "AAPLX": 2.0916380815843123, "GOOGLX": 1.6827392777257926, "XRP": 0.5658394110809131,
    "HYPE": 0.4784547133706857, "WTIOIL": 0.8475062847978935,
}
_WEIGHTS_2026_09 = {k: v for k, v in _WEIGHTS_2026_05.items() if k != "SPYX"} | {
    "SP500": 3.437935601155441, "SPCX": 0.4329342627683478}

_CRYPTO = ("BTC", "ETH", "SOL", "XRP", "HYPE")
_LOW_2026_05 = ("BTC", "ETH", "XAU", "SOL", "SPYX", "NVDAX", "TSLAX", "AAPLX", "GOOGLX", "XRP", "HYPE", "WTIOIL")

VALIDATORS = Registry("validator version")

_V2605 = ValidatorRules(
    name="2026-05",
    repository="mode-network/synth-subnet",
    commit="ec8a625",
    date="2026-05-29",
    summary="two prompts (24h, 1h) at 0.5 each, p90 cap, owner takes half the validator's weight",
    tasks={"24h": _task("24h", 300, 289, _24H_INTERVALS), "1h": _task("1h", 60, 61, _1H_INTERVALS)},
    start_extra_s={"24h": 60, "1h": 60},
    response_rule="chars8",
    accepts_negative=False,
    transform="p90-cap",
    competitions={
        "24h": CompetitionRule("24h", "low", "24h", _LOW_2026_05, 10, -0.1, 0.5, 0.5),
        "1h": CompetitionRule("1h", "high", "1h", ("BTC", "ETH", "XAU", "SOL", "HYPE"), 3, -0.2, 0.5, 0.5),
    },
    asset_weights=_WEIGHTS_2026_05,
    owner_share=0.5,
    emission_note=("the owner's entry (UID 248) was weighted as all miners together, so miners shared half of "
                   "the validator's weight; each prompt paid half of that"),
    cadence={"24h": Cadence(3600, "min-id", round_robin=True, cycle_minutes=5),
             "1h": Cadence(600, "min-id", round_robin=True, cycle_minutes=2)},
)

_V2609 = ValidatorRules(
    name="2026-09",
    repository="synthdataco/synth-subnet",
    commit="2cfb24b",
    date="2026-09-22",
    summary="three competitions at 1/3 each, a volatility term in the Crypto 1h score, 10x-median clip",
    tasks={
        "24h": _task("24h", 300, 289, _24H_INTERVALS),
        "1h": _task("1h", 60, 61, _1H_INTERVALS, (
            VolBlock("vol_60min", 3600, VOL_LAMBDA / 3),
            VolBlock("vol_15min", 900, VOL_LAMBDA / 12),
            VolBlock("vol_5min", 300, VOL_LAMBDA / 36),
        )),
    },
    start_extra_s={"24h": 60, "1h": 0},
    response_rule="float32-sig8",
    accepts_negative=True,
    transform="median10-p95",
    competitions={
        "crypto-1h": CompetitionRule("crypto-1h", "Crypto 1h", "1h", _CRYPTO, 5, -0.3, 1 / 3, 1 / 3),
        "crypto-24h": CompetitionRule("crypto-24h", "Crypto 24h", "24h", _CRYPTO, 10, -0.15, 1 / 3, 1 / 3),
        "comequ-24h": CompetitionRule("comequ-24h", "Commodities/Equities 24h", "24h",
                                      ("XAU", "NVDAX", "GOOGLX", "TSLAX", "AAPLX", "WTIOIL", "SPCX", "SP500"),
                                      10, -0.15, 1 / 3, 1 / 3),
    },
    vhft=CompetitionRule("vhft", "VHFT 10s", "10s", ("BTC",), 1, -4.0, 1 / 3, 1 / 4, scored=False),
    asset_weights=_WEIGHTS_2026_09,
    owner_share=0.0,
    emission_note=("no owner burn since 2026-07-23: the three competitions share all miner emissions, 1/3 each "
                   "(1/4 each when the off-subnet VHFT competition is blended in as a fourth)"),
    cadence={"24h": Cadence(3600, "md5", period_minutes={"BTC": 4, "*": 12}),
             "1h": Cadence(600, "md5", period_minutes={"BTC": 1, "HYPE": 1, "*": 5})},
    differences=(
        "Crypto 1h score = price CRPS + volatility CRPS (60/15/5-minute blocks, weights 5.25/3, 5.25/12, 5.25/36)",
        "three competitions at 1/3 each (Crypto 1h, Crypto 24h, Commodities/Equities 24h); VHFT optional 4th",
        "per request: clip at 10x the median, misses get the p95 of the unclipped valid scores (no p90 cap)",
        "asset weights: SP500 replaces SPYX, SPCX added",
        "no owner burn: shares are of all miner emissions",
        "1h start_time: the next minute (timeout_extra 0)",
        "one scored request per (asset, hour) for 24h and per (asset, 10 min) for 1h, md5 keeper",
        "response points: int/float, finite, float32, <= 8 significant digits; negatives accepted",
    ),
)

for _rules in (_V2605, _V2609):
    VALIDATORS.register(_rules.name, category=_rules.repository, help=_rules.summary,
                        commit=_rules.commit, date=_rules.date)(_rules)

DEFAULT_VALIDATOR = _V2609.name


def validator_names() -> list[str]:
    """Known versions, newest first."""
    return sorted(VALIDATORS.names(), reverse=True)


def get_validator(version: str | ValidatorRules | None = None) -> ValidatorRules:
    """A rule set by name (None or "" for the default, the newest)."""
    if isinstance(version, ValidatorRules):
        return version
    name = DEFAULT_VALIDATOR if version in (None, "") else str(version).strip()
    if name not in VALIDATORS:
        raise SpecError(f"unknown validator version {version!r}; known: {', '.join(validator_names())} "
                        f"(default {DEFAULT_VALIDATOR})")
    return VALIDATORS.get(name).obj


def get_task(task: Any, validator: str | ValidatorRules | None = None) -> SynthTask:
    """A task: a preset name ("24h", "1h") under a validator version (default: the newest; so "1h"
    under 2026-09 carries the volatility blocks), a SynthTask, or its dict form."""
    if isinstance(task, SynthTask):
        return task
    if isinstance(task, Mapping):
        return SynthTask.from_dict(task)
    if isinstance(task, str) and task in ("24h", "1h"):
        return get_validator(validator).task(task)
    raise SpecError(f"unknown task {task!r}; presets: 24h, 1h")


def keeper_index(request_ids: list[int], keeper: str, salt: str = "") -> int:
    """Which of a bucket's requests is scored: the smallest id (``min-id``) or the smallest
    ``md5(str(id) + salt)`` (``md5``; ties broken by the smaller id)."""
    if not request_ids:
        raise SpecError("an empty bucket has no keeper")
    if keeper == "min-id":
        return min(range(len(request_ids)), key=lambda i: request_ids[i])
    if keeper == "md5":
        return min(range(len(request_ids)),
                   key=lambda i: (hashlib.md5(f"{request_ids[i]}{salt}".encode()).hexdigest(), request_ids[i]))
    raise SpecError(f"unknown keeper rule {keeper!r}")
