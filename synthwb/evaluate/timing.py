"""The Synth validator's timing (../shared/DESIGN.md §5), as plain functions on int64 UTC nanoseconds.

What the validator does (mode-network/synth-subnet: ``neurons/validator.py``,
``utils/helpers.round_time_to_minutes``, ``validator/price_data_provider.py``):

- A request made at ``request_time`` asks for paths starting at
  ``start_time = (request_time + 1 min) with seconds and microseconds dropped + extra``, the
  extra being the prompt's ``timeout_extra_seconds`` of the validator version
  (:attr:`synthwb.scoring.versions.ValidatorRules.start_extra_s`): 60 s for both prompts under
  2026-05; under 2026-09 60 s for 24h and 0 for 1h. A 24h request at 12:00:00 or at 12:00:59
  starts at 12:02:00; a 2026-09 1h request then starts at 12:01:00. Functions take
  ``validator=`` (a version name or rule set; default: the newest) and the task whose extra
  applies (a custom task gets 60 s unless it is named like a preset).
- The realised price for grid time ``t = start_time + i * time_increment`` is the **close of
  the 1-minute candle that opens at t**, i.e. the price at ``t + 60 s``. With bars stamped by
  their open time ``ts`` and each close stamped with its close time ``ts + bar``, the label
  ``t`` is joined with the close stamped ``t + 60 s`` (exact timestamps; a missing minute is
  NaN and its terms are skipped).
- So the first realised price lies ``60 + extra + 60`` s after the last 1-minute close known
  at a request on the minute (3 minutes; 2 for a 2026-09 1h request).
- A request whose final realised price is missing is not scored at all (``fetch_data``
  raises): such origins are *dropped*, for every model alike, and counted.

The backtest (``timing="validator"``) places one request per origin. The origin bar's close
``c`` is the last price every forecaster knows. The *lead* ``L`` from ``c`` to the first
realised price is the smallest multiple of ``lcm(60, bar, every forecaster's native step)``
that is at least ``M = 60 + extra + 60`` s (180 s; 120 s for a 2026-09 1h request); the request
time is ``c + L - M`` (always within the origin bar when the native steps divide the bar, so no
model loses information), the start time is ``c + L - 60 s`` and grid label ``i`` is realised by the price at ``c + L + i * step``. A
forecaster simulates from ``c`` across the lead and over the horizon, on its native step (or
``gcd(L, step)`` for one with a free step such as the baselines); the point at ``c + L`` is
its own estimate of the t0 price and becomes column 0 of the response, the earlier points
are dropped (:func:`forecast_across_lead`). A forecaster whose horizon cannot cover the lead
(a run trained for exactly the task's horizon) is asked for the task's horizon from ``c``
instead, and its paths are placed at the start time unchanged, which is what the reference
miner does (it starts its paths at the current price): the result records which forecasters
held their t0 across the lead this way.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.core.time import to_ns
from synthwb.data.realised import join_on_grid
from synthwb.scoring.synth import SynthTask, get_task
from synthwb.scoring.versions import ValidatorRules, get_validator

__all__ = [
    "LABEL_OFFSET_S",
    "MIN_LEAD_S",
    "NS",
    "START_EXTRA_S",
    "TIMINGS",
    "RequestPlan",
    "forecast_across_lead",
    "forecast_grid",
    "label_grid_ns",
    "lead_seconds",
    "min_lead_seconds",
    "plan_requests",
    "realised_on_labels",
    "scored_mask",
    "start_extra_seconds",
    "validator_start_ns",
    "validator_start_time",
]

NS = 1_000_000_000
MIN_NS = 60 * NS
LABEL_OFFSET_S = 60  # label t is realised by the close of the 1-minute candle opening at t
START_EXTRA_S = 60  # timeout_extra_seconds of the 24h prompt (and of both prompts under 2026-05)
MIN_LEAD_S = 60 + START_EXTRA_S + LABEL_OFFSET_S  # request on the minute -> first price 180 s later
TIMINGS = ("validator", "bar")

Validator = str | ValidatorRules | None


def start_extra_seconds(task: str | SynthTask = "24h", validator: Validator = None) -> int:
    """The version's ``timeout_extra_seconds`` for ``task`` (a preset name or a task named like
    one; any other custom task: :data:`START_EXTRA_S`)."""
    name = task.name if isinstance(task, SynthTask) else str(task.get("name", "")) if isinstance(task, dict) else task
    return int(get_validator(validator).start_extra_s.get(str(name), START_EXTRA_S))


def min_lead_seconds(task: str | SynthTask = "24h", validator: Validator = None) -> int:
    """From a request on the minute to its first realised price: ``60 + extra + 60`` s."""
    return 60 + start_extra_seconds(task, validator) + LABEL_OFFSET_S


def validator_start_ns(request_ns, task: str | SynthTask = "24h", validator: Validator = None) -> np.ndarray:
    """The validator's start_time for requests at ``request_ns`` (int64 ns): next minute
    (seconds and microseconds dropped) plus the version's extra for the task."""
    r = np.asarray(request_ns, dtype=np.int64)
    return (r // MIN_NS + 1) * MIN_NS + start_extra_seconds(task, validator) * NS


def validator_start_time(request_time: datetime | str, task: str | SynthTask = "24h",
                         validator: Validator = None) -> datetime:
    """:func:`validator_start_ns` for one request time (naive means UTC)."""
    ns = int(validator_start_ns(to_ns(request_time), task, validator)[0])
    return datetime.fromtimestamp(ns // NS, tz=UTC)


def label_grid_ns(start_ns, task: str | SynthTask = "24h") -> np.ndarray:
    """Grid labels ``start + i * step`` ``(n_requests, n_points)``."""
    task = get_task(task)
    s = np.asarray(start_ns, dtype=np.int64).reshape(-1)
    return s[:, None] + np.arange(task.n_points, dtype=np.int64)[None, :] * task.step_seconds * NS


def realised_on_labels(close_ts_ns, close_px, start_ns, task: str | SynthTask = "24h") -> np.ndarray:
    """The realised path of each request as the validator builds it: label ``t`` gets the
    close stamped ``t + 60 s`` (the 1-minute candle opening at ``t``), NaN where none is.

    ``close_ts_ns`` are close times (bar open + bar length) of the finest stored bars."""
    grid = label_grid_ns(start_ns, task) + LABEL_OFFSET_S * NS
    return join_on_grid(np.asarray(close_ts_ns, dtype=np.int64), np.asarray(close_px, dtype=np.float64), grid)


def scored_mask(realised: np.ndarray) -> np.ndarray:
    """Requests the validator scores: the final realised price is present (and positive)."""
    last = np.asarray(realised, dtype=np.float64)[..., -1]
    return np.isfinite(last) & (last > 0)


def lead_seconds(bar_seconds: int, native_steps: Iterable[int] = (), task: str | SynthTask = "24h",
                 validator: Validator = None) -> int:
    """The lead from the last known close to the first realised price: the smallest multiple
    of ``lcm(60, bar, native steps)`` that is at least :func:`min_lead_seconds` (180 s; 120 s for
    the 1h task under 2026-09)."""
    m = math.lcm(60, int(bar_seconds), *(int(s) for s in native_steps if s))
    return m * max(1, -(-min_lead_seconds(task, validator) // m))


@dataclass
class RequestPlan:
    """One validator request per origin. Times are int64 ns; ``realised`` is on the labels;
    ``scored`` marks the requests the validator scores (final price present)."""

    last_close_ns: np.ndarray
    request_ns: np.ndarray
    start_ns: np.ndarray
    lead_s: int
    realised: np.ndarray
    scored: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    min_lead_s: int = MIN_LEAD_S

    @property
    def n_dropped(self) -> int:
        return int((~self.scored).sum())

    @property
    def first_price_ns(self) -> np.ndarray:
        return self.start_ns + LABEL_OFFSET_S * NS

    def to_dict(self) -> dict[str, Any]:
        return {"timing": "validator", "lead_s": self.lead_s, "request_delay_s": self.lead_s - self.min_lead_s,
                "min_lead_s": self.min_lead_s,
                "n_requests": int(self.scored.size), "n_dropped": self.n_dropped}


def plan_requests(last_close_ns, close_ts_ns, close_px, task: str | SynthTask, bar_seconds: int,
                  native_steps: Iterable[int] = (), validator: Validator = None) -> RequestPlan:
    """Requests for origins whose last known close is at ``last_close_ns`` (see the module doc),
    timed by the ``validator`` version's rules for ``task``."""
    task = get_task(task, validator)
    c = np.asarray(last_close_ns, dtype=np.int64).reshape(-1)
    lead = lead_seconds(bar_seconds, native_steps, task, validator)
    min_lead = min_lead_seconds(task, validator)
    request = c + (lead - min_lead) * NS
    start = validator_start_ns(request, task, validator)
    if np.any(start + LABEL_OFFSET_S * NS != c + lead * NS):  # only when closes are off the minute
        raise SpecError("validator timing needs bars on whole minutes")
    realised = realised_on_labels(close_ts_ns, close_px, start, task)
    return RequestPlan(c, request, start, lead, realised, scored_mask(realised), min_lead)


def forecast_grid(lead_s: int, task: str | SynthTask, native_step: int | None = None) -> tuple[int, int, int, int]:
    """(grid step, steps to ask for, index of t0, stride) for a forecast from the last close
    that covers the lead and the task horizon. ``native_step``: the forecaster's own step
    (None: it takes any step)."""
    task = get_task(task)
    step = task.step_seconds
    g = int(native_step) if native_step else math.gcd(int(lead_s), step)
    if step % g or lead_s % g:
        raise SpecError(f"a {g} s forecast grid cannot reach the task's {step} s grid {lead_s} s after the last close")
    return g, (lead_s + task.horizon_seconds) // g, lead_s // g, step // g


def forecast_across_lead(f, bars, origins: Sequence[datetime], task: str | SynthTask, lead_s: int,
                         n_paths: int, seed: int, name: str) -> tuple[np.ndarray, bool]:
    """Paths ``(n_origins, n_paths, n_points)`` whose column 0 is the forecaster's estimate of
    the price ``lead_s`` after its last close, and whether it simulated the lead (False: it
    could not reach that far and its paths from the last close were placed at the start)."""
    task = get_task(task)
    native = int(getattr(f, "step_seconds", 0) or 0) or None
    g, n_steps, off, stride = forecast_grid(lead_s, task, native)
    try:
        paths = np.asarray(f.forecast(bars, list(origins), n_steps, g, n_paths, seed), dtype=np.float64)
        across = True
    except SpecError:
        # the run's horizon ends before lead + horizon: hold t0 across the lead (reference miner);
        # a free-step forecaster with a horizon (a quantile model on its bars) too; any other
        # refusal is raised again by the second call
        n_steps, off, across = task.n_steps * stride, 0, False
        paths = np.asarray(f.forecast(bars, list(origins), n_steps, g, n_paths, seed), dtype=np.float64)
    want = (len(origins), int(n_paths), n_steps + 1)
    if paths.shape != want:
        raise SpecError(f"{name} returned paths of shape {paths.shape}; expected {want}")
    return np.ascontiguousarray(paths[:, :, off::stride]), across

