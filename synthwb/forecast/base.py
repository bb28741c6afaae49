"""The Forecaster contract: what every kind of forecaster (a trained path model, an ensemble,
a baseline, Moirai) gives the backtest, compare and the validator-format CLI.

    paths = f.forecast(bars, origins, n_steps, step_seconds, n_paths=1000, seed=0)
    paths.shape == (len(origins), n_paths, f.grid_steps(n_steps, step_seconds) + 1)

``paths[:, :, 0]`` is the last close at or before each origin; prices are strictly positive
(../shared/DESIGN.md §4). ``bars`` are the selection's bars up to (at least) the last origin; a
forecaster reads only bars with ``ts <= origin`` for each origin.

The attributes the engine reads are declared here and read directly, never with getattr:
``context_bars`` and ``context_days`` size the history the engine loads before an origin;
``step_seconds`` is the forecaster's own path step (0: it simulates on whatever step the task
asks for, as the baselines do).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from synthwb.core.errors import SpecError

#: the attributes and methods of the contract, for the clear message of :func:`check_forecaster`
CONTRACT = ("name", "context_bars", "context_days", "step_seconds", "grid_steps", "forecast")


@runtime_checkable
class Forecaster(Protocol):
    name: str
    #: bars of history one forecast needs before its origin (0: no fixed need)
    context_bars: int
    #: calendar days of bars to read before an origin
    context_days: float
    #: the path step the forecaster simulates on (0: the task's step)
    step_seconds: int

    def grid_steps(self, n_steps: int, step_seconds: int) -> int: ...

    def forecast(self, bars: pl.DataFrame, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray: ...


class ForecasterBase:
    """Defaults for the contract: no fixed history need, the task's own step."""

    name: str = "forecaster"
    context_bars: int = 0
    context_days: float = 0.0
    step_seconds: int = 0

    def grid_steps(self, n_steps: int, step_seconds: int) -> int:
        """Steps on this forecaster's grid that cover ``n_steps`` of ``step_seconds``."""
        if not self.step_seconds:
            return int(n_steps)
        return math.ceil(int(n_steps) * int(step_seconds) / int(self.step_seconds))


def check_forecaster(f: object, what: str = "forecaster") -> None:
    """Refuse an object that does not carry the whole contract, naming what it lacks."""
    missing = [a for a in CONTRACT if not hasattr(f, a)]
    if missing:
        raise SpecError(f"{what} {type(f).__name__} does not implement the Forecaster contract: "
                        f"missing {', '.join(missing)} (see synthwb.forecast.base)")


def check_named(named: list[tuple[str, str, object]], where: str, hint: str = "") -> None:
    """Check the forecaster of every ``(name, kind, forecaster)`` row (:func:`check_forecaster`)
    and refuse a name given twice, saying ``where`` (e.g. "the backtest") and ``hint``."""
    for name, _, f in named:
        check_forecaster(f, repr(name))
    names = [n for n, _, _ in named]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"model names repeat in {where}: {dup}{hint}")
