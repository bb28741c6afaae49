"""A search space: the settings a hyperparameter search varies (:mod:`synthwb.research.search`).

A *search space* is a list of :class:`Dim`, each naming a dotted path into the trial's
settings ``{"config": <TrainConfig dict>, "spec": <ModelSpec dict>}``, e.g. ``config.lr`` or
``spec.blocks.0.params.kernel``, written ``PATH=LOW:HIGH[:log|:int]`` (a range) or ``PATH=A,B,C``
(choices); its grid and random points, and :func:`apply_params`, which sets a trial's values.
"""
from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError

__all__ = ["Dim", "parse_dim", "parse_space", "grid_points", "random_points", "apply_params"]


@dataclass(frozen=True)
class Dim:
    """One searched setting: a numeric range (``low``..``high``, optionally log / int) or choices."""

    path: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()

    def __post_init__(self) -> None:
        if not self.path or not all(self.path.split(".")) or self.path.split(".")[0] not in ("config", "spec"):
            raise SpecError(f"search dimension {self.path!r}: the path must start with 'config.' or 'spec.'")
        if self.choices:
            object.__setattr__(self, "choices", tuple(self.choices))
            return
        if self.low is None or self.high is None:
            raise SpecError(f"search dimension {self.path!r}: give a range LOW:HIGH or choices A,B,C")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise SpecError(f"search dimension {self.path!r}: low {self.low} must not exceed high {self.high}")
        if self.log and self.low <= 0:
            raise SpecError(f"search dimension {self.path!r}: a log range needs low > 0")

    @property
    def kind(self) -> str:
        return "categorical" if self.choices else ("int" if self.integer else "float")

    def grid(self, n: int) -> list:
        """``n`` evenly spaced values (log-spaced for log ranges); all choices for categoricals."""
        if self.choices:
            return list(self.choices)
        n = max(1, int(n))
        if n == 1 or self.low == self.high:
            vals = [self.low]
        elif self.log:
            vals = np.geomspace(self.low, self.high, n).tolist()
        else:
            vals = np.linspace(self.low, self.high, n).tolist()
        if self.integer:
            vals = list(dict.fromkeys(int(round(v)) for v in vals))
        return [float(v) if not self.integer else v for v in vals]

    def sample(self, rng: np.random.Generator):
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.log:
            v = float(np.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        else:
            v = float(rng.uniform(self.low, self.high))
        return int(round(v)) if self.integer else v

    def suggest(self, trial) -> Any:
        """The value for an Optuna trial."""
        if self.choices:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.choices:
            return f"{self.path}={','.join(str(c) for c in self.choices)}"
        tags = (":log" if self.log else "") + (":int" if self.integer else "")
        return f"{self.path}={self.low:g}:{self.high:g}{tags}"


def _scalar(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_dim(text: str) -> Dim:
    """``config.lr=1e-4:1e-2:log``, ``config.batch_size=16:128:int``, ``spec.d_model=32,64``."""
    if "=" not in str(text):
        raise SpecError(f"search dimension {text!r}: write PATH=LOW:HIGH[:log|:int] or PATH=A,B,C")
    path, _, rhs = str(text).partition("=")
    path, rhs = path.strip(), rhs.strip()
    if not rhs:
        raise SpecError(f"search dimension {text!r}: no values after '='")
    if ":" in rhs:
        parts = rhs.split(":")
        tags = {p.strip().lower() for p in parts[2:]}
        unknown = tags - {"log", "int"}
        if unknown:
            raise SpecError(f"search dimension {text!r}: unknown tag(s) {sorted(unknown)}; use log or int")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise SpecError(f"search dimension {text!r}: LOW and HIGH must be numbers") from None
        return Dim(path, low, high, log="log" in tags, integer="int" in tags)
    return Dim(path, choices=tuple(_scalar(c) for c in rhs.split(",") if c.strip()))


def parse_space(items: Sequence[str | Dim]) -> list[Dim]:
    dims = [d if isinstance(d, Dim) else parse_dim(d) for d in items]
    if not dims:
        raise SpecError("the search space is empty: give at least one dimension")
    paths = [d.path for d in dims]
    if len(set(paths)) != len(paths):
        raise SpecError(f"the search space names a setting twice: {paths}")
    return dims


def grid_points(dims: Sequence[Dim], per_dim: int = 3) -> list[dict]:
    """The full grid: every combination of each dimension's :meth:`Dim.grid` values."""
    axes = [d.grid(per_dim) for d in dims]
    return [dict(zip((d.path for d in dims), combo)) for combo in itertools.product(*axes)]


def random_points(dims: Sequence[Dim], n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{d.path: d.sample(rng) for d in dims} for _ in range(int(n))]


def apply_params(base: dict, params: dict) -> dict:
    """A deep copy of ``base`` with each dotted path set; a path must name an existing key."""
    out = copy.deepcopy(base)
    for path, value in params.items():
        parts = path.split(".")
        node: Any = out
        for i, key in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                try:
                    idx = int(key)
                    node[idx]
                except (ValueError, IndexError):
                    raise SpecError(f"search setting {path!r}: {key!r} is not an index of a list of {len(node)}") from None
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if key not in node:
                    have = ", ".join(sorted(map(str, node))[:20])
                    raise SpecError(f"search setting {path!r}: no key {key!r} (have: {have})")
                if last:
                    node[key] = value
                else:
                    node = node[key]
            else:
                raise SpecError(f"search setting {path!r}: {'.'.join(parts[:i])!r} is not a mapping or list")
    return out
