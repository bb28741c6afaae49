"""Where a backtest's forecasts start: the origins, the bars read and the realised prices.

Part of :mod:`synthwb.evaluate.backtest` (see its doc for the conventions): origins every ``k``
bars, evenly spread, an explicit list, or (``BacktestSpec.cadence``) where the validator's
scored requests fall (:mod:`synthwb.evaluate.cadence`); validator timing per origin
(:mod:`synthwb.evaluate.timing`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import DataError
from synthwb.core.time import to_ns
from synthwb.data.lake import read_bars, stored_freqs
from synthwb.data.realised import join_on_grid
from synthwb.data.schema import FREQ_SECONDS, Selection
from synthwb.evaluate.backtest_spec import BacktestSpec
from synthwb.evaluate.cadence import asset_of, scored_requests
from synthwb.evaluate.timing import min_lead_seconds, plan_requests
from synthwb.forecast.baselines import MIN_HISTORY
from synthwb.scoring.synth import SynthTask

__all__ = ["choose_origins", "cadence_origins"]

NS = 1_000_000_000


def _bars_ts_ns(bars: pl.DataFrame) -> np.ndarray:
    return to_ns(bars["ts"])


def _spread(cand: np.ndarray, n_origins: int) -> np.ndarray:
    if cand.size <= n_origins:
        return cand
    pick = np.unique(np.round(np.linspace(0, cand.size - 1, n_origins)).astype(int))
    return cand[pick]


def choose_origins(bar_ts_ns: np.ndarray, bar_seconds: int, horizon_seconds: int, *,
                   start: datetime | None, end: datetime | None, data_end_ns: int,
                   every: int | None, n_origins: int, explicit: Sequence[datetime] | None = None,
                   min_history: int = MIN_HISTORY) -> np.ndarray:
    """Origin bar timestamps (int64 ns), see the module doc."""
    ts = np.asarray(bar_ts_ns, dtype=np.int64)
    if ts.size == 0:
        raise DataError("no bars in the chosen period")
    hist_ok = np.arange(ts.size) + 1 >= min_history
    if explicit:
        want = to_ns(list(explicit))
        idx = np.searchsorted(ts, want, side="right") - 1
        bad = [str(o) for o, i in zip(explicit, idx) if i < 0 or not hist_ok[i]]
        if bad:
            raise DataError(f"not enough history before origin(s) {', '.join(bad[:3])} (need {min_history} bars)")
        return np.unique(ts[idx])
    cand = _candidates(ts, bar_seconds, horizon_seconds, start, end, data_end_ns, hist_ok, min_history)
    if every:
        return cand[::every][:n_origins]
    return _spread(cand, n_origins)


def _candidates(ts: np.ndarray, bar_seconds: int, horizon_seconds: int, start, end, data_end_ns: int,
                hist_ok: np.ndarray, min_history: int) -> np.ndarray:
    """Bars in ``[start, end)`` whose whole horizon ends by ``end`` (or the data's end), with history."""
    lo = to_ns(start)[0] if start else ts[0]
    hi = min(to_ns(end)[0], data_end_ns) if end else data_end_ns
    fits = (ts >= lo) & (ts + (bar_seconds + horizon_seconds) * NS <= hi) & hist_ok
    cand = ts[fits]
    if cand.size == 0:
        raise DataError(
            "no forecast origin fits the period: it must hold at least one bar followed by a whole "
            f"horizon of {horizon_seconds // 60} minutes of data (and {min_history} bars of history before it)"
        )
    return cand


def cadence_origins(candidates_ns: np.ndarray, bar_seconds: int, request_offset_s: int, requests_ns: np.ndarray,
                    n_origins: int) -> tuple[np.ndarray, dict]:
    """Origins for the validator's scored requests ``requests_ns``: each request is replayed at the
    latest request time the backtest can place at or before it (a candidate origin's close plus
    ``request_offset_s``, the validator timing's delay; 0 in bar timing) within one bar, so its
    forecasters know exactly the bars the live miner knew, or fewer: exact for 1-minute bars in the
    validator timing's minimum lead; otherwise the replayed request (and its start time) is up to a
    bar earlier. Requests with no such candidate (a gap in the bars, outside the period) are
    skipped. At most ``n_origins``, evenly spread. Returns (origin bar times, facts)."""
    cand = np.asarray(candidates_ns, dtype=np.int64)
    req_c = cand + (int(bar_seconds) + int(request_offset_s)) * NS
    r = np.asarray(requests_ns, dtype=np.int64)
    j = np.searchsorted(req_c, r, side="right") - 1
    ok = (j >= 0) & (r - req_c[np.maximum(j, 0)] < int(bar_seconds) * NS) if cand.size else np.zeros(r.size, bool)
    shift = (r[ok] - req_c[j[ok]]) // NS
    picked = np.unique(cand[j[ok]])
    out = _spread(picked, n_origins)
    return out, {"n_in_period": int(r.size), "n_placed": int(picked.size), "n_origins": int(out.size),
                 "n_shifted": int((shift > 0).sum()), "max_shift_s": int(shift.max()) if shift.size else 0}


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(int(ns) // NS, tz=UTC) + timedelta(microseconds=(int(ns) % NS) // 1000)


def _context_seconds(forecasters, bar_seconds: int, history_days: float) -> float:
    secs = history_days * 86400.0
    for _, _, f in forecasters:
        secs = max(secs, float(f.context_days) * 86400.0)
        secs = max(secs, float(f.context_bars) * bar_seconds * 1.5)
    return secs


@dataclass
class _Data:
    """The bars the forecasters read and the realised prices they are scored on."""

    bars: pl.DataFrame
    bar_ts: np.ndarray        # bar open times, ns
    real_ts: np.ndarray       # realised prices' times (the finest stored bars' close times), ns
    real_px: np.ndarray
    fine: str                 # the realised prices' timeframe
    data_end: int             # ns: no realised price after it
    symbol: str = ""          # the selection's symbol (the validator cadence's asset)


def _read_data(spec: BacktestSpec, sel: Selection, forecasters, horizon: int, lead: int, root) -> _Data:
    """Bars of the selection (with history before start and a horizon after end), and realised
    prices from the finest stored timeframe, stamped with each bar's close time."""
    bar_s = FREQ_SECONDS[sel.freq]
    ctx = timedelta(seconds=_context_seconds(forecasters, bar_s, spec.history_days))
    pad = timedelta(seconds=horizon + lead + 2 * bar_s)
    rd_start = spec.start - ctx if spec.start else None
    rd_end = spec.end + pad if spec.end else None
    bars = read_bars(Selection(sel.asset_class, sel.symbol, sel.freq, rd_start, rd_end), root=root)
    if bars.is_empty():
        raise DataError(f"no {sel.freq} bars for {sel.asset_class}/{sel.symbol} in the chosen period")
    bar_ts = _bars_ts_ns(bars)
    stored = stored_freqs(sel.asset_class, sel.symbol, root)
    fine = stored[0] if stored and FREQ_SECONDS[stored[0]] <= bar_s else sel.freq
    if fine == sel.freq:
        fine_bars = bars
    else:
        lo = spec.start - timedelta(seconds=2 * bar_s) if spec.start else None
        fine_bars = read_bars(Selection(sel.asset_class, sel.symbol, fine, lo, rd_end), root=root)
    real_ts = _bars_ts_ns(fine_bars) + FREQ_SECONDS[fine] * NS
    real_px = fine_bars["close"].to_numpy().astype(np.float64)
    data_end = int(min(real_ts[-1], bar_ts[-1] + bar_s * NS)) if real_ts.size else int(bar_ts[-1] + bar_s * NS)
    return _Data(bars, bar_ts, real_ts, real_px, fine, data_end, sel.symbol)


@dataclass
class _Origins:
    """The scored origins, each forecast's t0 on the task grid and the realised path there."""

    o_ns: np.ndarray
    origins: list[datetime]
    t0_ns: np.ndarray          # label times start here
    price_t0_ns: np.ndarray    # the last known price's time
    realised: np.ndarray       # (n_origins, n_points)
    history: np.ndarray        # realised prices before t0 (for MASE/MSIS)
    plan: Any = None           # the validator's requests (validator timing), else None
    dropped: list[datetime] = field(default_factory=list)
    cadence: dict | None = None  # the validator cadence's facts when it placed the origins


def _place_origins(spec: BacktestSpec, task: SynthTask, data: _Data, bar_s: int, horizon: int, lead: int,
                   natives: list[int], min_hist: int, seen_until: datetime | None) -> _Origins:
    start = spec.start
    if start is None and not spec.origins:
        # default test period: data no run has seen (its feature set's test split); without
        # runs, after a quarter of the data (at most history_days) of history
        start = seen_until
        if start is None:
            warm = min(spec.history_days * 86400 * NS, (data.data_end - int(data.bar_ts[0])) // 4)
            start = _dt(int(data.bar_ts[0]) + int(warm))
    validator_timing = spec.timing_mode() == "validator"
    cadence = None
    if spec.cadence:
        ts = np.asarray(data.bar_ts, dtype=np.int64)
        cand = _candidates(ts, bar_s, horizon + lead, start, spec.end, data.data_end,
                           np.arange(ts.size) + 1 >= min_hist, min_hist)
        offset = lead - min_lead_seconds(task, spec.validator) if validator_timing else 0
        asset = spec.asset or asset_of(data.symbol)
        kept = scored_requests(asset, task.name, spec.validator, int(cand[0] + (bar_s + offset) * NS),
                               int(cand[-1] + (2 * bar_s + offset) * NS), spec.cadence_salt)
        if not len(kept):
            raise DataError(f"no scored {task.name} request of {asset} falls in the period")
        o_ns, placed = cadence_origins(cand, bar_s, offset, kept.request_ns, spec.n_origins)
        if not o_ns.size:
            raise DataError(f"none of the {len(kept)} scored {task.name} requests of {asset} in the period has "
                            "a bar closed within one bar before it")
        cadence = {**kept.to_dict(), **placed}
    else:
        o_ns = choose_origins(data.bar_ts, bar_s, horizon + lead, start=start, end=spec.end,
                              data_end_ns=data.data_end, every=spec.every, n_origins=spec.n_origins,
                              explicit=spec.origins, min_history=min_hist)
    step_ns = task.step_seconds * NS
    plan, dropped = None, []
    if validator_timing:
        # one validator request per origin (see the module doc); a request whose final realised
        # price is missing is not scored by the validator: dropped for every model alike
        plan = plan_requests(o_ns + bar_s * NS, data.real_ts, data.real_px, task, bar_s, natives, spec.validator)
        if not plan.scored.any():
            raise DataError(f"no request in the period has its final realised price ({plan.n_dropped} dropped)")
        dropped = [_dt(v) for v in o_ns[~plan.scored]]
        o_ns = o_ns[plan.scored]
        t0_ns, price_t0_ns = plan.start_ns[plan.scored], plan.first_price_ns[plan.scored]
        realised = plan.realised[plan.scored]
    else:
        t0_ns = price_t0_ns = o_ns + bar_s * NS
        grid = t0_ns[:, None] + np.arange(task.n_points, dtype=np.int64)[None, :] * step_ns
        realised = join_on_grid(data.real_ts, data.real_px, grid)
    hist_len = max(4 * spec.seasonality, task.n_steps)
    hist_grid = price_t0_ns[:, None] - np.arange(hist_len, -1, -1, dtype=np.int64)[None, :] * step_ns
    history = join_on_grid(data.real_ts, data.real_px, hist_grid)
    return _Origins(o_ns, [_dt(v) for v in o_ns], t0_ns, price_t0_ns, realised, history, plan, dropped, cadence)
