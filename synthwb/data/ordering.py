"""Putting a file's rows in time order, and the rows off the time grid, for the importer.

- :func:`time_order`: how a file is ordered (oldest first, newest first) and how many rows are
  out of place: the fewest rows that must move for the rest to be in order (the rows outside a
  longest increasing run), so a newest-first file is "newest first", not thousands of errors,
  and a vendor file with a handful of rows out of place says "7 rows moved".
- :func:`off_grid`: the bars whose time is not on the grid the other bars follow (a bar at
  13:46:02 among 15-minute bars: a live, partial bar).
"""
from __future__ import annotations

from bisect import bisect_left

import polars as pl

from synthwb.data.schema import FREQ_SECONDS


def _longest_increasing(values: list[int]) -> int:
    tails: list[int] = []
    for v in values:
        i = bisect_left(tails, v)
        if i == len(tails):
            tails.append(v)
        else:
            tails[i] = v
    return len(tails)


def time_order(ts: pl.Series) -> tuple[str, int]:
    """(``"oldest first"`` | ``"newest first"``, rows out of place) of unique timestamps in file order."""
    d = ts.diff().dt.total_microseconds().drop_nulls()
    if d.len() == 0 or bool((d >= 0).all()):
        return "oldest first", 0
    back = int((d < 0).sum())
    newest_first = back > d.len() - back
    seq = (ts.reverse() if newest_first else ts).dt.epoch("us").to_list()
    return ("newest first" if newest_first else "oldest first"), len(seq) - _longest_increasing(seq)


def order_text(order: str, moved: int) -> str:
    turned = order == "newest first"
    text = "newest first (turned round)" if turned else order
    if moved:
        text += f"; {moved} row{'s' if moved != 1 else ''} out of place moved into time order"
    return text


def off_grid(ts: pl.Series, freq: str) -> list[int]:
    """Positions of sorted bars off the ``freq`` grid that most bars follow (a daylight-saving
    shift of one hour is allowed for 4h and daily bars)."""
    if ts.len() < 2:
        return []
    step = FREQ_SECONDS[freq]
    period = step * 1_000_000
    phase = ts.dt.epoch("us") % period
    top = int(phase.mode().sort()[0])
    allowed = {top}
    if step > 3600:  # a daylight-saving change moves 4h and daily bars of a local session by an hour
        allowed |= {(top + 3_600_000_000) % period, (top - 3_600_000_000) % period}
    return (~phase.is_in(list(allowed))).arg_true().to_list()
