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
- each point follows the version's rule (``validator=``, a name or rule set; default: the
  newest; :attr:`~synthwb.scoring.versions.ValidatorRules.response_rule`):

  - ``chars8`` (2026-05): an int or float written with at most 8 digits:
    ``len(str(p).replace(".", "")) <= 8`` (so a price below 1 has 7 significant digits at most:
    its leading zero counts); paths are checked one after another, shape then points.
  - ``float32-sig8`` (2026-09): an int or float (not a bool), finite, representable as a
    float32 (``struct.pack("<f", v)`` does not overflow and a non-zero value does not underflow
    to 0) with at most 8 significant digits, ``float(f"{v:.7e}") == v``; every path's shape is
    checked before any point. Negative prices are accepted.

Refusals that happen when scoring (``crps_calculation`` / ``reward._crps_worker``): a zero
price ("Zero price encountered in simulation runs") and, under 2026-05, a NaN or infinite price
(a NaN score) and a negative one; all score -1. They are checked last, with those reasons.

:func:`to_response` turns a ``(n_paths, n_points)`` array into a response, rounding every
price to what the version accepts: ``chars8`` with the validator's
``round_to_8_significant_digits`` (and, where that still writes more than 8 digits, to fewer
decimals until it does not); ``float32-sig8`` with ``float(f"{v:.7e}")`` (a value beyond the
float32 range is left for the check to refuse).
"""
from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.core.io import atomic_write_text, read_json_file
from synthwb.core.time import to_ns
from synthwb.scoring.synth import SynthTask, get_task
from synthwb.scoring.versions import ValidatorRules, get_validator

__all__ = [
    "CORRECT",
    "MAX_DIGITS",
    "check_paths",
    "read_response",
    "round_8_significant",
    "round_price",
    "round_sig8",
    "point_reason",
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


def round_sig8(num: float) -> float:
    """``num`` at 8 significant digits as the 2026-09 rule reads them: ``float(f"{num:.7e}")``
    (non-finite values unchanged)."""
    x = float(num)
    return float(f"{x:.7e}") if math.isfinite(x) else x


Validator = str | ValidatorRules | None


def _rounder(validator: Validator):
    return round_sig8 if get_validator(validator).response_rule == "float32-sig8" else round_price


def _start_seconds(start_time: datetime | str | int) -> int:
    if isinstance(start_time, (int, np.integer)):
        return int(start_time)
    return int(to_ns(start_time)[0] // NS)


def to_response(paths, start_time: datetime | str | int, task: str | SynthTask = "24h",
                validator: Validator = None) -> list:
    """``[start_ts, time_increment, path_1, ...]`` with every price rounded to what the
    ``validator`` version accepts (see the module doc)."""
    task = get_task(task, validator)
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 2:
        raise SpecError(f"a response holds one forecast: paths (n_paths, n_points), got shape {arr.shape}")
    rnd = _rounder(validator)
    out: list = [_start_seconds(start_time), int(task.step_seconds)]
    out += [[rnd(v) for v in row] for row in arr.tolist()]
    return out


def _chars8_reason(point: Any) -> str | None:
    if isinstance(point, bool) or not isinstance(point, (int, float)):
        return f"Price format is incorrect: expected int or float, got {type(point)}"
    if _digits(point) > MAX_DIGITS:
        return f"Price format is incorrect: too many digits {point}"
    return None


def _float32_sig8_reason(point: Any) -> str | None:
    if isinstance(point, bool) or not isinstance(point, (int, float)):
        return f"Price format is incorrect: expected int or float, got {type(point)}"
    try:
        x = float(point)
    except OverflowError:  # an int beyond the float64 range
        return f"Price format is incorrect: too many digits {point}"
    if not math.isfinite(x):
        return f"Price format is incorrect: non-finite value {point}"
    try:
        f32 = struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return f"Price format is incorrect: exceeds float32 range {point}"
    if f32 == 0.0 and x != 0.0:
        return f"Price format is incorrect: underflows float32 {point}"
    if float(f"{x:.{MAX_DIGITS - 1}e}") != x:
        return f"Price format is incorrect: too many digits {point}"
    return None


def point_reason(point: Any, validator: Validator = None) -> str | None:
    """Why the ``validator`` version refuses one price point, or None when it accepts it."""
    if get_validator(validator).response_rule == "float32-sig8":
        return _float32_sig8_reason(point)
    return _chars8_reason(point)


def validate_response(response: Any, task: str | SynthTask, start_time: datetime | str | int,
                      n_paths: int | None = None, validator: Validator = None) -> str:
    """``"CORRECT"`` or the ``validator`` version's reason for refusing ``response`` (module
    doc). ``n_paths`` defaults to the task's (1000)."""
    rules = get_validator(validator)
    task = get_task(task, rules)
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

    def shape(path) -> str | None:
        if not isinstance(path, list):
            return f"Path format is incorrect: expected list, got {type(path)}"
        if len(path) != points:
            return f"Number of time points is incorrect: expected {points}, got {len(path)}"
        return None

    if rules.response_rule == "float32-sig8":  # every path's shape first, then the points
        for reason in map(shape, paths):
            if reason:
                return reason
        for path in paths:
            for point in path:
                if reason := _float32_sig8_reason(point):
                    return reason
    else:
        for path in paths:
            if reason := shape(path):
                return reason
            for point in path:
                if reason := _chars8_reason(point):
                    return reason
    arr = np.asarray(paths, dtype=np.float64)
    if not np.isfinite(arr).all():
        return "Price is not finite (NaN or infinite): the score would be NaN"
    if (arr == 0).any():
        return "Zero price encountered in simulation runs"
    if not rules.accepts_negative and (arr < 0).any():
        return f"Negative price {float(arr[arr < 0][0])}"
    return CORRECT


def check_paths(paths, task: str | SynthTask = "24h", n_paths: int | None = None,
                validator: Validator = None) -> str:
    """The ``validator`` version's verdict on a forecast array ``(n_paths, n_points)`` once
    exported (rounded): ``"CORRECT"`` or the reason."""
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 2:
        return f"Response format is incorrect: paths of shape {arr.shape}"
    return validate_response(to_response(arr, 0, task, validator), task, 0, n_paths, validator)


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


def batch_reasons(paths, task: str | SynthTask = "24h", validator: Validator = None) -> list[str]:
    """The ``validator`` version's verdict on each forecast of a batch ``(n_forecasts, n_paths,
    n_points)`` once exported by :func:`to_response`: ``""`` when it would be accepted, else its
    reason.

    The export sets the start time and the increment and rounds every price to 8 significant
    digits, so what can still be refused is the path count, the point count, and a price that
    is not finite, zero or (2026-05) negative, or (2026-09) outside the float32 range (the same
    order and words as :func:`validate_response`)."""
    rules = get_validator(validator)
    task = get_task(task, rules)
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
    if rules.response_rule == "float32-sig8":
        # points that may be refused once rounded (not finite, near or beyond the float32 range,
        # near its underflow), checked with the exact rule in scan order; the first refusal wins
        mag = np.abs(np.where(np.isfinite(arr), arr, 0.0))
        maybe = ~np.isfinite(arr) | (mag > 3.0e38) | ((mag > 0) & (mag < 1e-44))
        out = []
        for i in range(arr.shape[0]):
            reason = None
            for v in arr[i].ravel()[maybe[i].ravel()]:
                if reason := _float32_sig8_reason(round_sig8(float(v))):
                    break
            out.append(reason or ("Zero price encountered in simulation runs" if zero[i] else ""))
        return out
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
