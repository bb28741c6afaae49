"""Responses as the Synth validator receives them: the format, the checks, the export.

A response is ``[start_time, time_increment, path_1, ..., path_n]``: the start time as an
integer Unix timestamp (seconds), the increment in seconds, then ``n`` lists of prices
(mode-network/synth-subnet ``utils/helpers.convert_prices_to_time_format``).

:func:`validate_response` applies the rules of ``validator/response_validation_v2.py`` in the
validator's order and returns the validator's own message for the first refusal, or
``"CORRECT"``:

- the response is a non-empty list/tuple whose first two items are ints;
- the start timestamp equals the request's start time, the increment the task's step;
- exactly ``n_paths`` paths (1000 for both Synth prompts);
- each path is a list of exactly ``time_length / time_increment + 1`` points;
- each point is an int or float written with at most 8 digits: ``len(str(p).replace(".", ""))
  <= 8`` (so a price below 1 has 7 significant digits at most: its leading zero counts).

Two more refusals happen when scoring (``crps_calculation`` / ``reward._crps_worker``): a zero
price ("Zero price encountered in simulation runs") and a NaN or infinite price (a NaN
score); both score -1. They are checked last, with those reasons.

:func:`to_response` turns a ``(n_paths, n_points)`` array into a response, rounding every
price with the validator's ``round_to_8_significant_digits`` (and, where that still writes
more than 8 digits, to fewer decimals until it does not).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.core.io import atomic_write_text, read_json_file
from synthwb.core.time import to_ns
from synthwb.scoring.synth import SynthTask, get_task

__all__ = [
    "CORRECT",
    "MAX_DIGITS",
    "check_paths",
    "read_response",
    "round_8_significant",
    "round_price",
    "to_response",
    "validate_response",
    "write_response",
]

CORRECT = "CORRECT"
MAX_DIGITS = 8
NS = 1_000_000_000


def round_8_significant(num: float) -> float:
    """The validator's ``round_to_8_significant_digits`` (miner helper), verbatim."""
    if num == 0:
        return 0.0
    magnitude = math.floor(math.log10(abs(num)))
    return round(num, MAX_DIGITS - magnitude - 1)


def _digits(point: Any) -> int:
    return len(str(point).replace(".", ""))


def round_price(num: float) -> float:
    """``num`` rounded to 8 significant digits, then to fewer decimals while the validator
    would still count more than 8 digits (prices below 1)."""
    x = float(num)
    if not math.isfinite(x) or x == 0:
        return x
    r = round_8_significant(x)
    d = MAX_DIGITS - math.floor(math.log10(abs(x))) - 1
    while _digits(r) > MAX_DIGITS and d > -20:
        d -= 1
        r = round(x, d)
    return r


def _start_seconds(start_time: datetime | str | int) -> int:
    if isinstance(start_time, (int, np.integer)):
        return int(start_time)
    return int(to_ns(start_time)[0] // NS)


def to_response(paths, start_time: datetime | str | int, task: str | SynthTask = "24h") -> list:
    """``[start_ts, time_increment, path_1, ...]`` with every price rounded (see the module doc)."""
    task = get_task(task)
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 2:
        raise SpecError(f"a response holds one forecast: paths (n_paths, n_points), got shape {arr.shape}")
    out: list = [_start_seconds(start_time), int(task.step_seconds)]
    out += [[round_price(v) for v in row] for row in arr.tolist()]
    return out


def _point_reason(point: Any) -> str | None:
    if isinstance(point, bool) or not isinstance(point, (int, float)):
        return f"Price format is incorrect: expected int or float, got {type(point)}"
    if _digits(point) > MAX_DIGITS:
        return f"Price format is incorrect: too many digits {point}"
    return None


def validate_response(response: Any, task: str | SynthTask, start_time: datetime | str | int,
                      n_paths: int | None = None) -> str:
    """``"CORRECT"`` or the validator's reason for refusing ``response`` (module doc).
    ``n_paths`` defaults to the task's (1000)."""
    task = get_task(task)
    want_paths = int(n_paths or task.n_paths)
    if response is None:
        return "Response is empty"
    if not isinstance(response, (tuple, list)):
        return f"Response format is incorrect: expected tuple or list, got {type(response)}"
    if len(response) == 0:
        return "Response is empty"
    if not isinstance(response[0], int):
        return f"Start time format is incorrect: expected int, got {type(response[0])}"
    if len(response) < 2 or not isinstance(response[1], int):
        got = type(response[1]) if len(response) > 1 else type(None)
        return f"Time increment format is incorrect: expected int, got {got}"
    expected_start = _start_seconds(start_time)
    if response[0] != expected_start:
        return f"Start time timestamp is incorrect: expected {expected_start}, got {response[0]}"
    if response[1] != task.step_seconds:
        return f"Time increment is incorrect: expected {task.step_seconds}, got {response[1]}"
    paths = response[2:]
    if len(paths) != want_paths:
        return f"Number of paths is incorrect: expected {want_paths}, got {len(paths)}"
    points = task.horizon_seconds // task.step_seconds + 1
    for path in paths:
        if not isinstance(path, list):
            return f"Path format is incorrect: expected list, got {type(path)}"
        if len(path) != points:
            return f"Number of time points is incorrect: expected {points}, got {len(path)}"
        for point in path:
            reason = _point_reason(point)
            if reason:
                return reason
    arr = np.asarray(paths, dtype=np.float64)
    if not np.isfinite(arr).all():
        return "Price is not finite (NaN or infinite): the score would be NaN"
    if (arr == 0).any():
        return "Zero price encountered in simulation runs"
    if (arr < 0).any():
        return f"Negative price {float(arr[arr < 0][0])}"
    return CORRECT


def check_paths(paths, task: str | SynthTask = "24h", n_paths: int | None = None) -> str:
    """The validator's verdict on a forecast array ``(n_paths, n_points)`` once exported
    (rounded): ``"CORRECT"`` or the reason."""
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 2:
        return f"Response format is incorrect: paths of shape {arr.shape}"
    return validate_response(to_response(arr, 0, task), task, 0, n_paths)


def write_response(response: Sequence, out: str | os.PathLike) -> Path:
    """Write a response as JSON, atomically (a bad response is not written)."""
    out = Path(out)
    text = json.dumps(list(response), allow_nan=False, separators=(",", ":"))
    atomic_write_text(out, text + "\n")
    return out


def read_response(path: str | os.PathLike) -> list:
    data = read_json_file(str(path), "response file", expect=list)
    if not isinstance(data, list):
        raise SpecError(f"{path}: a response is a JSON list [start, increment, path, ...]")
    return data


def batch_reasons(paths, task: str | SynthTask = "24h") -> list[str]:
    """The validator's verdict on each forecast of a batch ``(n_forecasts, n_paths, n_points)``
    once exported by :func:`to_response`: ``""`` when it would be accepted, else its reason.

    The export sets the start time and the increment and rounds every price to 8 significant
    digits, so what can still be refused is the path count, the point count, and a price that
    is not finite, zero or negative (the same order and words as :func:`validate_response`)."""
    task = get_task(task)
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 3:
        raise SpecError(f"a batch of forecasts is (n_forecasts, n_paths, n_points), got shape {arr.shape}")
    points = task.horizon_seconds // task.step_seconds + 1
    if arr.shape[1] != task.n_paths:
        return [f"Number of paths is incorrect: expected {task.n_paths}, got {arr.shape[1]}"] * arr.shape[0]
    if arr.shape[2] != points:
        return [f"Number of time points is incorrect: expected {points}, got {arr.shape[2]}"] * arr.shape[0]
    finite = np.isfinite(arr).all(axis=(1, 2))
    zero = (arr == 0).any(axis=(1, 2))
    out = []
    for i in range(arr.shape[0]):
        if not finite[i]:
            out.append("Price is not finite (NaN or infinite): the score would be NaN")
        elif zero[i]:
            out.append("Zero price encountered in simulation runs")
        elif (neg := arr[i][arr[i] < 0]).size:
            out.append(f"Negative price {round_price(float(neg[0]))}")
        else:
            out.append("")
    return out
