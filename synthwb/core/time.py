"""Time utilities: the one ``to_utc`` (dates and instants; naive means UTC) and the one
``to_ns`` (any timestamps to int64 UTC nanoseconds)."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import SpecError

# every timestamp is held as int64 nanoseconds since 1970 (polars, numpy): the instants it can hold
EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)
_YEAR = re.compile(r"\s*([+-]?\d{1,})-\d")


def _out_of_range(value: Any, what: str, year: int | str) -> SpecError:
    return SpecError(f"{what}: {str(value)[:40]!r} is in the year {year}, outside the calendar synthwb can hold "
                     f"({EARLIEST.year}-{LATEST.year - 1}: times are nanoseconds since 1970); give a date in that range")


def to_utc(value: Any, what: str) -> datetime | None:
    """A date or instant as an aware UTC datetime (naive means UTC), within the range every
    timestamp of synthwb can hold (:data:`EARLIEST`..:data:`LATEST`); a value outside it or
    unreadable raises :class:`SpecError` saying which."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        text = str(value)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            m = _YEAR.match(text)
            if m and len(m.group(1).lstrip("+-")) > 4:  # fromisoformat reads years 1..9999 only
                raise _out_of_range(value, what, m.group(1)) from None
            raise SpecError(f"{what}: cannot read {value!r} as a date (use YYYY-MM-DD or ISO 8601)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(value, what, dt.year) from None
    if not EARLIEST <= dt < LATEST:
        raise _out_of_range(value, what, dt.year)
    return dt


def to_ns(values) -> np.ndarray:
    """Timestamps (polars/pandas/numpy datetimes, python datetimes, ISO strings) -> int64 UTC ns."""
    if isinstance(values, (datetime, str, np.datetime64)):
        return to_ns([values])
    if isinstance(values, pl.Series):
        s = values
        if s.dtype == pl.Datetime and s.dtype.time_zone:
            s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return s.cast(pl.Datetime("ns")).cast(pl.Int64).to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    out = np.empty(arr.shape, dtype=np.int64)
    flat = arr.ravel()
    for i, v in enumerate(flat):
        if isinstance(v, (str, datetime)):  # naive means UTC
            v = to_utc(v, "timestamp")
            out.flat[i] = int(round(v.timestamp() * 1e6)) * 1000
        elif hasattr(v, "value"):  # pandas Timestamp
            out.flat[i] = int(v.value)
        else:
            raise SpecError(f"cannot read {v!r} as a timestamp")
    return out
