"""Realised prices on a forecast grid: the one place that turns stored bars into "the price at t".

A bar is labelled by its open time ``ts``; its close is the price at ``ts + bar``. Realised
prices therefore come from the finest stored timeframe that fits the grid step, each close
stamped with its own close time, and are joined to grid times by exact timestamps (never by
position): a missing minute is a NaN, not a shifted price. Training targets (paths finer than
the feature bars) and the backtest's realised paths both use :func:`closes` and
:func:`join_on_grid`.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np

from synthwb.core.errors import DataError
from synthwb.data.lake import read_bars, stored_freqs
from synthwb.data.schema import FREQ_SECONDS, Selection

NS = 1_000_000_000


def finest_freq(asset_class: str, symbol: str, step_seconds: int, root=None) -> str | None:
    """The finest stored timeframe whose bar divides ``step_seconds`` (None if none does)."""
    for f in stored_freqs(asset_class, symbol, root):
        if int(step_seconds) % FREQ_SECONDS[f] == 0:
            return f
    return None


def closes(asset_class: str, symbol: str, step_seconds: int, start: datetime | None = None,
           end: datetime | None = None, root=None) -> tuple[np.ndarray, np.ndarray, str]:
    """(close times in int64 ns, close prices, freq) from the finest stored bars that divide
    ``step_seconds``; DataError when no stored timeframe is fine enough."""
    freq = finest_freq(asset_class, symbol, step_seconds, root)
    if freq is None:
        raise DataError(f"{asset_class}/{symbol}: no stored timeframe is fine enough for a {step_seconds} s "
                        "path step (store 1min or 5min bars, or use the bar as the path step)")
    bars = read_bars(Selection(asset_class, symbol, freq, start, end), root=root)
    ts = bars["ts"].dt.replace_time_zone(None).cast(int).to_numpy() * _unit(bars) + FREQ_SECONDS[freq] * NS
    return ts.astype(np.int64), bars["close"].to_numpy().astype(np.float64), freq


def _unit(bars) -> int:
    tu = getattr(bars.schema["ts"], "time_unit", "us")
    return {"ns": 1, "us": 1_000, "ms": 1_000_000}[tu]


def join_on_grid(ts_ns: np.ndarray, prices: np.ndarray, grid_ns: np.ndarray) -> np.ndarray:
    """Exact timestamp join: ``prices`` at each ``grid_ns`` value, NaN where no timestamp equals it."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    px = np.asarray(prices, dtype=np.float64)
    grid = np.asarray(grid_ns, dtype=np.int64)
    if ts.size == 0:
        return np.full(grid.shape, np.nan)
    if ts.size > 1 and np.any(np.diff(ts) < 0):
        order = np.argsort(ts, kind="stable")
        ts, px = ts[order], px[order]
    idx = np.clip(np.searchsorted(ts, grid), 0, ts.size - 1)
    return np.where(ts[idx] == grid, px[idx], np.nan)


def on_grid(ts_ns: np.ndarray, prices: np.ndarray, t0_ns: np.ndarray, n_points: int, step_seconds: int) -> np.ndarray:
    """Prices (len(t0_ns), n_points) at ``t0 + i * step`` for each t0 (NaN where not stored)."""
    grid = np.asarray(t0_ns, dtype=np.int64)[:, None] + np.arange(n_points, dtype=np.int64)[None, :] * int(step_seconds) * NS
    return join_on_grid(ts_ns, prices, grid)
