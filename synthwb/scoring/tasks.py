"""Scoring tasks: a prompt's grid, its price intervals and (from validator 2026-09) its
volatility blocks. The presets of each validator version live in
:mod:`synthwb.scoring.versions`; :mod:`synthwb.scoring.synth` scores them.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError

__all__ = ["BP", "KINDS", "Interval", "SynthTask", "VolBlock"]

KINDS = ("ordinary", "abs", "gaps")
BP = 10_000.0


# ------------------------------------------------------------------------------ tasks


def _kind_from_name(name: str) -> str:
    if name.endswith("_abs"):
        return "abs"
    if name.endswith("_gaps"):
        return "gaps"
    return "ordinary"


@dataclass(frozen=True)
class Interval:
    """A scoring interval: ``name``, length in ``seconds`` and ``kind``.

    ``kind`` defaults to what the name says, as in the validator (``*_abs`` -> abs,
    ``*_gaps`` -> gaps, else ordinary); a custom interval may set it explicitly.
    """

    name: str
    seconds: int
    kind: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("an interval needs a non-empty name")
        try:
            seconds = int(self.seconds)
        except (TypeError, ValueError):
            raise SpecError(f"interval {self.name!r}: seconds must be an integer, got {self.seconds!r}") from None
        if seconds <= 0 or seconds != self.seconds:
            raise SpecError(f"interval {self.name!r}: seconds must be a positive integer, got {self.seconds!r}")
        object.__setattr__(self, "seconds", seconds)
        kind = self.kind or _kind_from_name(self.name)
        if kind not in KINDS:
            raise SpecError(f"interval {self.name!r}: kind {kind!r} is not one of {list(KINDS)}")
        object.__setattr__(self, "kind", kind)

    def steps(self, step_seconds: int) -> int:
        """Grid steps in this interval; the interval must be a whole number of steps."""
        if self.seconds % step_seconds:
            raise SpecError(
                f"interval {self.name!r} ({self.seconds} s) is not a multiple of the grid step "
                f"{step_seconds} s"
            )
        return self.seconds // step_seconds

    def to_dict(self) -> dict:
        return {"name": self.name, "seconds": self.seconds, "kind": self.kind}


@dataclass(frozen=True)
class VolBlock:
    """A volatility block size of the score (validator 2026-09, Crypto 1h): the path's step
    returns in bps are cut into consecutive blocks of ``seconds``; each block's standard
    deviation (ddof=1) is scored by CRPS; the sum over blocks is multiplied by ``weight``."""

    name: str
    seconds: int
    weight: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("a volatility block needs a non-empty name")
        try:
            seconds = int(self.seconds)
            weight = float(self.weight)
        except (TypeError, ValueError):
            raise SpecError(f"volatility block {self.name!r}: seconds and weight must be numbers") from None
        if seconds <= 0 or seconds != self.seconds:
            raise SpecError(f"volatility block {self.name!r}: seconds must be a positive integer, got {self.seconds!r}")
        if not math.isfinite(weight) or weight < 0:
            raise SpecError(f"volatility block {self.name!r}: weight must be finite and >= 0, got {self.weight!r}")
        object.__setattr__(self, "seconds", seconds)
        object.__setattr__(self, "weight", weight)

    def steps(self, step_seconds: int) -> int:
        if self.seconds % step_seconds:
            raise SpecError(f"volatility block {self.name!r} ({self.seconds} s) is not a multiple of the grid "
                            f"step {step_seconds} s")
        return self.seconds // step_seconds

    def n_blocks(self, step_seconds: int, n_points: int) -> int:
        """Whole blocks in a path of ``n_points`` (the steps left over after the last are dropped)."""
        return (n_points - 1) // self.steps(step_seconds)

    def to_dict(self) -> dict:
        return {"name": self.name, "seconds": self.seconds, "weight": self.weight}


@dataclass(frozen=True)
class SynthTask:
    """A prompt: grid step, number of points (t0 included), scoring intervals, paths asked and
    the volatility blocks added to the score (empty before validator 2026-09 and for 24h)."""

    name: str
    step_seconds: int
    n_points: int
    intervals: tuple[Interval, ...]
    n_paths: int = 1000
    vol_blocks: tuple[VolBlock, ...] = ()

    def __post_init__(self) -> None:
        if int(self.step_seconds) <= 0:
            raise SpecError(f"task {self.name!r}: step_seconds must be positive")
        if int(self.n_points) < 2:
            raise SpecError(f"task {self.name!r}: n_points must be at least 2 (t0 and one step)")
        ivs = tuple(iv if isinstance(iv, Interval) else Interval(**iv) for iv in self.intervals)
        if not ivs:
            raise SpecError(f"task {self.name!r}: no scoring intervals")
        names = [iv.name for iv in ivs]
        if len(set(names)) != len(names):
            raise SpecError(f"task {self.name!r}: duplicate interval names {names}")
        object.__setattr__(self, "intervals", ivs)
        object.__setattr__(self, "step_seconds", int(self.step_seconds))
        object.__setattr__(self, "n_points", int(self.n_points))
        for iv in ivs:
            iv.steps(self.step_seconds)
        vbs = tuple(vb if isinstance(vb, VolBlock) else VolBlock(**vb) for vb in (self.vol_blocks or ()))
        all_names = names + [vb.name for vb in vbs]
        if len(set(all_names)) != len(all_names):
            raise SpecError(f"task {self.name!r}: duplicate interval or volatility block names {all_names}")
        for vb in vbs:
            vb.steps(self.step_seconds)
        object.__setattr__(self, "vol_blocks", vbs)

    @property
    def horizon_seconds(self) -> int:
        return self.step_seconds * (self.n_points - 1)

    @property
    def n_steps(self) -> int:
        return self.n_points - 1

    @classmethod
    def custom(cls, name: str, step_seconds: int, n_points: int,
               intervals: Mapping[str, int] | Iterable[Interval | dict], n_paths: int = 1000,
               vol_blocks: Iterable[VolBlock | dict] = ()) -> SynthTask:
        """A task from ``{"name": seconds}`` (kinds from the names) or a list of intervals."""
        if isinstance(intervals, Mapping):
            ivs = tuple(Interval(k, v) for k, v in intervals.items())
        else:
            ivs = tuple(iv if isinstance(iv, Interval) else Interval(**iv) for iv in intervals)
        return cls(name, step_seconds, n_points, ivs, n_paths, tuple(vol_blocks))

    def grid_points(self, step_seconds: int | None = None) -> int:
        """Points (t0 included) of a forecast on a grid of ``step_seconds`` over this horizon."""
        step = int(step_seconds or self.step_seconds)
        if self.horizon_seconds % step:
            raise SpecError(f"task {self.name!r}: horizon {self.horizon_seconds} s is not a multiple of {step} s")
        return self.horizon_seconds // step + 1

    def n_terms(self, step_seconds: int | None = None) -> int:
        """Number of score terms when every realised value is present."""
        step = int(step_seconds or self.step_seconds)
        n = self.grid_points(step)
        price = sum(len(_plan(iv.kind, iv.steps(step), n)[1]) for iv in self.intervals)
        return price + self.n_vol_terms()

    def n_vol_terms(self) -> int:
        """Volatility terms (blocks of every size) when every realised minute is present."""
        return sum(vb.n_blocks(self.step_seconds, self.n_points) for vb in self.vol_blocks)

    def to_dict(self) -> dict:
        d = {"name": self.name, "step_seconds": self.step_seconds, "n_points": self.n_points,
             "n_paths": self.n_paths, "intervals": [iv.to_dict() for iv in self.intervals]}
        if self.vol_blocks:
            d["vol_blocks"] = [vb.to_dict() for vb in self.vol_blocks]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SynthTask:
        try:
            return cls(d["name"], d["step_seconds"], d["n_points"],
                       tuple(Interval(**iv) for iv in d["intervals"]), d.get("n_paths", 1000),
                       tuple(VolBlock(**vb) for vb in d.get("vol_blocks") or ()))
        except KeyError as exc:
            raise SpecError(f"task spec is missing {exc.args[0]!r}") from None


def _plan(kind: str, k: int, n: int) -> tuple[np.ndarray | None, np.ndarray, int]:
    """(start indices or None for abs, end indices, effective k) of an interval on n points."""
    if kind == "abs":
        # validator: if only t0 is on the stride, shorten the stride
        while len(range(0, n, k)) == 1 and k > 1:
            k -= 1
        pts = np.arange(0, n, k)
        return None, pts[1:], k
    pts = np.arange(0, n, k)
    if kind == "gaps":
        pts = pts[:2]
    return pts[:-1], pts[1:], k
