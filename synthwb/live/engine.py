"""The forward test's loop: the validator's scored requests, forecast when they come, scored
once their realised window has closed (../shared/DESIGN.md §5, issue 25).

At each request time of the validator version's cadence for the competition's assets (its
*scored* requests, one per (asset, bucket): :func:`synthwb.evaluate.cadence.scored_requests`)
the loop takes the latest bars of the lake and asks every run and baseline for a forecast,
exactly as a validator-cadence backtest places that request
(:mod:`synthwb.evaluate.backtest_origins`, :mod:`synthwb.evaluate.timing`):

- the origin is the latest bar whose close plus the validator timing's request delay lies at
  or before the request, within one bar (on 1-minute bars: the bar that closed at the request);
- its bars are read from the forward test's start minus the forecasters' context (and one bar),
  so a forecaster sees the same history as in a backtest started there;
- the lead from the origin's close to the first realised price and the start time follow the
  version's timing; every forecaster simulates across the lead (``forecast_across_lead``).

The response goes to disk in the validator's format (``to_response``; its verdict by the
version's rules from ``batch_reasons``, what ``validate_response`` says of that export) with the
request's metadata; the float paths wait beside it. Once the
clock has passed the close of the request's last realised minute and the lake holds it, the
request is scored with :func:`synthwb.scoring.synth.score_batch` on the realised path the
backtest builds (``realised_on_labels`` over the finest stored bars). Like the backtest it scores
the float paths the forecasters made; the stored response is those paths rounded to the
version's 8 significant digits (a difference far below a score's Monte-Carlo noise). A request whose final
realised price is missing is dropped for every model (the validator does not score it).

Replaying stored history through :class:`~synthwb.live.clock.SimClock` therefore gives, score
for score, the backtest in validator-cadence mode over the same requests (a test holds it).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import DataError, SpecError, SynthwbError
from synthwb.core.time import to_ns
from synthwb.data.feeds.fetch import update as update_feeds
from synthwb.data.lake import inventory, read_bars, stored_freqs
from synthwb.data.schema import FREQ_SECONDS, Selection
from synthwb.evaluate.cadence import asset_of, scored_requests
from synthwb.evaluate.timing import (
    LABEL_OFFSET_S,
    forecast_across_lead,
    lead_seconds,
    min_lead_seconds,
    realised_on_labels,
    scored_mask,
    validator_start_ns,
)
from synthwb.evaluate.validator import CORRECT, batch_reasons, to_response
from synthwb.forecast.base import check_named
from synthwb.forecast.baselines import MIN_HISTORY, BaselineForecaster
from synthwb.forecast.kinds import load_forecaster
from synthwb.live.clock import make_clock
from synthwb.live.spec import LiveSpec
from synthwb.live.state import LiveFolder, live_folder
from synthwb.scoring.synth import score_batch

__all__ = ["run_live", "resolve_symbols", "LiveResult", "QUANTILES"]

NS = 1_000_000_000
QUANTILES = (5, 25, 50, 75, 95)
Progress = Callable[..., None]


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(int(ns) // NS, tz=UTC) + timedelta(microseconds=(int(ns) % NS) // 1000)


def _iso(ns: int) -> str:
    return _dt(ns).isoformat()


def resolve_symbols(spec: LiveSpec, root=None) -> dict[str, str]:
    """Validator asset -> lake symbol for the spec's assets (default: the competition's assets the
    lake holds in the spec's asset class); refused when an asked-for asset is not there."""
    inv = inventory(root)
    syms = sorted(set(inv.filter(pl.col("asset_class") == spec.asset_class)["symbol"].to_list())) \
        if not inv.is_empty() else []
    comp = spec.comp()
    out: dict[str, str] = {}
    for asset in spec.assets or list(comp.assets):
        hits = [s for s in syms if asset_of(s) == asset]
        if hits:
            out[asset] = asset if asset in hits else hits[0]
        elif spec.assets:
            raise DataError(f"the lake holds no {spec.asset_class} series of {asset} (`synthwb data list`; fetch "
                            f"it with `synthwb data fetch --asset {asset}`)")
    if not out:
        raise DataError(f"the lake holds none of {comp.label}'s assets ({' '.join(comp.assets)}) in "
                        f"{spec.asset_class}; `synthwb data fetch --competition {comp.key}` fetches them")
    return out


@dataclass
class _Asset:
    """What the loop needs to place one asset's requests."""

    asset: str
    symbol: str
    bar_s: int
    fine: str
    lead: int
    offset: int
    min_hist: int
    anchor_ns: int


@dataclass
class LiveResult:
    name: str
    status: str
    n_scored: int
    n_pending: int
    error: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "n_scored": self.n_scored, "n_pending": self.n_pending,
                "error": self.error}


class _Loop:
    def __init__(self, folder: LiveFolder, state: dict, root, store, progress: Progress, stop: threading.Event):
        self.folder, self.state, self.root, self.store = folder, state, root, store
        self.spec = folder.spec(state)
        self.rules = self.spec.rules()
        self.comp = self.spec.comp()
        self.task = self.rules.task(self.comp.task)
        self.progress, self.stop = progress, stop
        self.forecasters = self._load()
        natives = [int(f.step_seconds) for _, _, f in self.forecasters]
        bar_s = FREQ_SECONDS[self.spec.freq]
        self.lead = lead_seconds(bar_s, natives, self.task, self.rules)
        self.offset = self.lead - min_lead_seconds(self.task, self.rules)
        ctx = self.spec.history_days * 86400.0
        for _, _, f in self.forecasters:
            ctx = max(ctx, float(f.context_days) * 86400.0, float(f.context_bars) * bar_s * 1.5)
        min_hist = max([MIN_HISTORY] + [int(f.context_bars) for _, _, f in self.forecasters])
        first = state["first_request_ns"]
        anchor = first - (bar_s + self.offset) * NS - int(ctx * NS)
        self.assets = {}
        for asset, sym in state["symbols"].items():
            stored = stored_freqs(self.spec.asset_class, sym, root)
            fine = stored[0] if stored and FREQ_SECONDS[stored[0]] <= bar_s else self.spec.freq
            self.assets[asset] = _Asset(asset, sym, bar_s, fine, self.lead, self.offset, min_hist, anchor)
        self.clock = make_clock(self.spec.clock, state["clock_ns"], self.spec.speed, self.spec.poll_s)
        self.last_update = 0.0
        self.dirty, self.saved_at, self.events = False, time.monotonic(), []

    def _load(self) -> list[tuple[str, str, Any]]:
        out: list[tuple[str, str, Any]] = []
        for run_id in self.spec.models:
            out.append((run_id, "run", load_forecaster(run_id, store=self.store, device=self.spec.device,
                                                      root=self.root)))
        for b in self.spec.baselines:
            out.append((b.label, "baseline", BaselineForecaster(b.name, **b.params)))
        check_named(out, "the forward test")
        return out

    # -- the schedule ---------------------------------------------------------------------
    def _requests(self, lo: int, hi: int) -> list[tuple[int, str, int]]:
        """(request ns, asset, id) of every asset's scored requests in [lo, hi), in time order."""
        out = []
        for a in self.assets.values():
            kept = scored_requests(a.asset, self.task.name, self.rules, lo, hi, self.spec.salt)
            out += [(int(r), a.asset, int(i)) for r, i in zip(kept.request_ns, kept.ids)]
        return sorted(out)

    def _end_ns(self) -> int | None:
        return self.state.get("end_ns")

    def _next_request(self, after: int) -> int | None:
        end = self._end_ns()
        lo = after
        for _ in range(8):
            hi = lo + 6 * 3600 * NS
            if end is not None:
                hi = min(hi, end)
            if hi <= lo:
                return None
            reqs = self._requests(lo, hi)
            if reqs:
                return reqs[0][0]
            lo = hi
        return lo

    # -- forecasting ----------------------------------------------------------------------
    def _forecast(self, r_ns: int, asset: str, rid: int) -> None:
        a = self.assets[asset]
        key = f"{asset}-{_dt(r_ns):%Y%m%dT%H%M%S}"
        if key in self.state["requests"]:
            return
        rec: dict[str, Any] = {"key": key, "asset": asset, "symbol": a.symbol, "request_id": rid,
                               "request_time": _iso(r_ns), "status": "pending", "models": {}}
        sel = Selection(self.spec.asset_class, a.symbol, self.spec.freq, _dt(a.anchor_ns), _dt(r_ns))
        try:
            bars = read_bars(sel, root=self.root)
        except SynthwbError as exc:
            bars, rec["reason"] = None, str(exc)
        if bars is not None and not bars.is_empty():
            ts = to_ns(bars["ts"])
            req_c = ts + (a.bar_s + a.offset) * NS
            j = int(np.searchsorted(req_c, r_ns, side="right")) - 1
            if not self.clock.simulated:  # live: the newest bar closed by the request, however old
                j = int(np.searchsorted(ts + a.bar_s * NS, r_ns, side="right")) - 1
            if j < 0 or (self.clock.simulated and r_ns - req_c[j] >= a.bar_s * NS):
                rec["reason"] = f"no {self.spec.freq} bar closed within one bar before the request"
            elif r_ns - (ts[j] + a.bar_s * NS) > self.spec.max_lake_lag_s * NS:
                rec["reason"] = (f"the lake's newest {a.symbol} bar closed {(r_ns - ts[j]) // NS // 60} minutes before "
                                 "the request: run `synthwb data update` (or start with --update)")
            elif j + 1 < a.min_hist:
                rec["reason"] = f"not enough history before the request (need {a.min_hist} bars)"
            else:
                rec.update(self._forecast_at(key, bars.slice(0, j + 1), int(ts[j]), a, r_ns))
        elif "reason" not in rec:
            rec["reason"] = "no bars before the request"
        if "reason" in rec and rec["status"] == "pending":
            # not forecast (as the backtest skips such a request): counted, with the last reason
            sk = self.state.setdefault("skipped", {"n": 0})
            sk.update({"n": sk["n"] + 1, "last": key, "reason": rec["reason"]})
        else:
            self.state["requests"][key] = rec
        self.dirty = True

    def _forecast_at(self, key: str, bars: pl.DataFrame, origin_ns: int, a: _Asset, r_ns: int) -> dict:
        """Forecast one request from the bars up to its origin. Simulated: placed as the
        validator-cadence backtest places it (the request replayed at the origin's close plus
        the timing's delay). Live: the validator's own start time for the request; a lake that
        lags makes the lead longer (each forecaster simulates across it on its own grid)."""
        c = origin_ns + a.bar_s * NS
        replayed = c + (a.lead - min_lead_seconds(self.task, self.rules)) * NS if self.clock.simulated else r_ns
        start = int(validator_start_ns(replayed, self.task, self.rules))
        lead = (start + LABEL_OFFSET_S * NS - c) // NS
        out = {"origin": _iso(origin_ns), "request_replayed": _iso(replayed), "start_time": _iso(start),
               "start_timestamp": start // NS, "time_increment": self.task.step_seconds,
               "time_length": self.task.horizon_seconds, "num_simulations": self.spec.n_paths,
               "last_close": float(bars["close"][-1]), "lead_s": int(lead),
               "scored_time": _iso(start + self.task.horizon_seconds * NS),
               "final_close": _iso(start + (self.task.horizon_seconds + LABEL_OFFSET_S) * NS)}
        models: dict[str, dict] = {}
        for name, _, f in self.forecasters:
            t0 = time.perf_counter()
            try:
                g = int(f.step_seconds) or math.gcd(int(lead), self.task.step_seconds)
                paths, _ = forecast_across_lead(f, bars, [_dt(origin_ns)], self.task, max(1, round(lead / g)) * g,
                                                self.spec.n_paths, self.spec.seed, name)
            except SynthwbError as exc:
                models[name] = {"error": str(exc), "verdict": f"no forecast: {exc}"}
                continue
            # the version's verdict on the exported response (batch_reasons: validate_response's
            # outcome for what to_response writes, without its per-point Python loop)
            verdict = batch_reasons(paths, self.task, self.rules)[0] or CORRECT
            if self.spec.keep_responses:
                self.folder.write_response(key, name, to_response(paths[0], start // NS, self.task, self.rules))
            self.folder.write_paths(key, name, paths[0])
            models[name] = {"verdict": verdict, "forecast_s": round(time.perf_counter() - t0, 4)}
        out["models"] = models
        return out

    # -- scoring --------------------------------------------------------------------------
    def _realised(self, rec: dict) -> np.ndarray:
        a = self.assets[rec["asset"]]
        start = int(to_ns(rec["start_time"])[0])
        fs = FREQ_SECONDS[a.fine]
        lo = _dt(start - 2 * fs * NS)
        hi = _dt(start + (self.task.horizon_seconds + LABEL_OFFSET_S + 2 * fs) * NS)
        try:
            fine = read_bars(Selection(self.spec.asset_class, a.symbol, a.fine, lo, hi), root=self.root)
        except SynthwbError:
            return np.full(self.task.n_points, np.nan)
        real_ts = to_ns(fine["ts"]) + fs * NS
        return realised_on_labels(real_ts, fine["close"].to_numpy().astype(np.float64), [start], self.task)[0]

    def _score(self, rec: dict, now: int) -> bool:
        """Score a pending request whose window has closed; False while its prices may still come."""
        realised = self._realised(rec)
        key = rec["key"]
        if not bool(scored_mask(realised[None])[0]):
            final = int(to_ns(rec["final_close"])[0])
            if not self.clock.simulated and now < final + int(self.spec.grace_s * NS):
                return False
            rec["status"] = "dropped"
            rec["reason"] = "the final realised price is missing: the validator does not score this request"
        else:
            names, stack = [], []
            for name, _, _ in self.forecasters:
                p = self.folder.read_paths(key, name)
                if p is not None:
                    names.append(name)
                    stack.append(p)
            if stack:
                paths = np.stack(stack)
                real = np.repeat(realised[None], len(stack), axis=0)
                sc = score_batch(paths, real, self.task)
                verdicts = batch_reasons(paths, self.task, self.rules)
                srt = np.sort(paths, axis=1)
                below = (srt < real[:, None, :]).mean(axis=1)
                at = (srt <= real[:, None, :]).mean(axis=1)
                pit = (0.5 * (below + at))[:, 1:]
                ok = np.isfinite(real[:, 1:])
                qs = np.percentile(srt, QUANTILES, axis=1)  # (Q, M, T)
                step = self.task.step_seconds
                start = int(rec["start_timestamp"])
                chart = {"key": key, "asset": rec["asset"], "time": [start + i * step for i in range(self.task.n_points)],
                         "realised": [None if not np.isfinite(v) else float(v) for v in realised], "models": {}}
                for j, name in enumerate(names):
                    m = rec["models"].setdefault(name, {})
                    inside = np.abs(pit[j] - 0.5)[ok[j]]
                    m.update({"total": float(sc.totals[j]) if sc.valid[j] else None, "valid": bool(sc.valid[j]),
                              "reason": sc.reasons[j], "validator": verdicts[j],
                              "cov50": float((inside <= 0.25).mean()) if inside.size else None,
                              "cov90": float((inside <= 0.45).mean()) if inside.size else None})
                    chart["models"][name] = {f"p{q}": qs[k, j].tolist() for k, q in enumerate(QUANTILES)}
                self.folder.write_chart(key, chart)
            for name, _, _ in self.forecasters:  # a forecaster that failed is a miss (-1)
                m = rec["models"].setdefault(name, {})
                if "total" not in m:
                    m.update({"total": None, "valid": False, "reason": m.get("error") or "no forecast"})
            rec["status"] = "scored"
        rec["scored_at"] = _iso(now)
        self.dirty = True
        self.events.append({"key": key, "status": rec["status"]})
        return True

    def _save(self, force: bool = False) -> None:
        """Write the state (atomically), then log what was scored and drop its pending paths:
        a crash before the write re-scores those requests (same numbers), never twice."""
        if not (force or self.dirty or time.monotonic() - self.saved_at > 10.0):
            return
        self.folder.write(self.state)
        self.saved_at, self.dirty = time.monotonic(), False
        if self.events:
            self.folder.log_events(self.events)
            for e in self.events:
                self.folder.drop_paths(e["key"])
            done = [k for k, r in self.state["requests"].items() if r["status"] == "scored"]
            self.folder.prune(done, self.spec.keep_responses, self.spec.keep_charts)
            self.events = []

    def _pending(self) -> list[dict]:
        return sorted((r for r in self.state["requests"].values() if r["status"] == "pending"),
                      key=lambda r: r["final_close"])

    # -- the loop -------------------------------------------------------------------------
    def _update(self, due: bool = False) -> None:
        """`data update` of the test's series (wall clock, ``update_feeds``): every
        ``update_every_s``, and right before forecasting due requests (at most every 5 s)."""
        if not self.spec.update_feeds or self.clock.simulated:
            return
        since = time.monotonic() - self.last_update
        if since < (5.0 if due else self.spec.update_every_s):
            return
        self.last_update = time.monotonic()
        try:
            update_feeds(root=self.root, only=sorted(set(self.state["symbols"].values())), stop_event=self.stop)
            self.state["update_error"] = None
        except SynthwbError as exc:  # the test goes on with the bars the lake has
            self.state["update_error"] = f"data update failed: {exc}"

    def _report(self, now: int) -> None:
        reqs = self.state["requests"].values()
        n_scored = sum(1 for r in reqs if r["status"] == "scored")
        n_pending = sum(1 for r in reqs if r["status"] == "pending")
        msg = f"{_dt(now):%Y-%m-%d %H:%M} · {n_scored} scored · {n_pending} pending"
        self.state["message"] = msg
        frac = 0.0
        end = self._end_ns()
        if end is not None:
            lo = self.state["first_request_ns"]
            hi = end + (self.task.horizon_seconds + LABEL_OFFSET_S) * NS
            frac = min(max((now - lo) / max(hi - lo, 1), 0.0), 1.0)
        self.progress(frac, {"now": _iso(now), "n_scored": n_scored, "n_pending": n_pending}, msg)

    def run(self) -> str:
        end = self._end_ns()
        while not self.stop.is_set():
            if self.folder.stop_asked():
                self.stop.set()
            now = self.clock.now()
            self._update()
            lo = self.state["scheduled_until_ns"]
            hi = min(now + 1, lo + 6 * 3600 * NS)  # a catch-up goes a few hours per step
            hi = hi if end is None else min(hi, end)
            if hi > lo:
                due = self._requests(lo, hi)
                if due:
                    self._update(due=True)
                for r_ns, asset, rid in due:
                    if self.stop.is_set():
                        break
                    self._forecast(r_ns, asset, rid)
                if not self.stop.is_set():
                    self.state["scheduled_until_ns"] = hi
            for rec in self._pending():
                if self.stop.is_set() or int(to_ns(rec["final_close"])[0]) > now:
                    break
                self._score(rec, now)
            self.state["clock_ns"] = now
            self.state["status"] = "running"
            self._report(now)
            self._save()
            pending = self._pending()
            nxt = [int(to_ns(pending[0]["final_close"])[0])] if pending else []
            if end is None or self.state["scheduled_until_ns"] < end:
                r = self._next_request(max(self.state["scheduled_until_ns"], now + 1))
                if r is not None:
                    nxt.append(r)
            if not nxt and end is not None and now >= end:
                self._save(force=True)
                return "finished"
            self.clock.wait_until(min(nxt) if nxt else None, self.stop)
        self._save(force=True)
        return "interrupted"


def _end_of(spec: LiveSpec, symbols: dict[str, str], root) -> int | None:
    """The last request time: the spec's end; a replay without one ends where the lake's bars do
    (the earliest last bar over the assets)."""
    if spec.end is not None:
        return int(to_ns(spec.end)[0])
    if spec.clock != "simulated":
        return None
    inv = inventory(root)
    ends = [int(to_ns(row["end"])[0]) for row in inv.filter(pl.col("asset_class") == spec.asset_class).iter_rows(
        named=True) if row["symbol"] in symbols.values() and row.get("end") is not None]
    if not ends:
        raise DataError("the lake has no bars of the forward test's assets to replay")
    return min(ends)


def run_live(name: str, spec: LiveSpec | dict | None = None, root=None, store=None, owner: str = "cli",
             progress: Progress | None = None, stop_event: threading.Event | None = None) -> LiveResult:
    """Run (or resume) the forward test ``name`` until it is stopped or, with an end, finished.

    A new test needs ``spec``; an existing one resumes from its state file (a ``spec`` given
    for it must equal the stored one). ``owner``: "cli" or "app" (the app resumes its own tests
    after a restart). Progress goes to ``progress(fraction, metrics, message)``; ``stop_event``
    or the test's stop file ends it between two steps."""
    folder = live_folder(name, store, create=True)
    stop = stop_event or threading.Event()
    note = progress or (lambda *a, **k: None)
    folder.acquire(owner)
    try:
        if folder.exists():
            state = folder.read()
            if spec is not None and LiveSpec.parse(spec).model_dump() != folder.spec(state).model_dump():
                raise SpecError(f"forward test {name!r} exists with another spec; resume it without one, or pick "
                                "another name")
        else:
            if spec is None:
                raise SpecError(f"no forward test {name!r} to resume; start one with a spec")
            spec = LiveSpec.parse(spec)
            if spec.name != name:
                spec = spec.model_copy(update={"name": name})
            symbols = resolve_symbols(spec, root)
            state = folder.new_state(spec, symbols, owner)
            first = int(to_ns(spec.start)[0]) if spec.start else time.time_ns()
            first = -(-first // (60 * NS)) * 60 * NS if spec.start is None else first
            state.update({"first_request_ns": first, "clock_ns": first, "scheduled_until_ns": first,
                          "end_ns": _end_of(spec, symbols, root)})
        folder.clear_stop()
        state.update({"desired": "running", "owner": owner, "status": "running", "error": None})
        folder.write(state)
        try:
            status = _Loop(folder, state, root, store, note, stop).run()
        except KeyboardInterrupt:
            state["status"], state["desired"] = "interrupted", "stopped"
            folder.write(state)
            raise
        except BaseException as exc:
            state["status"], state["error"] = "failed", f"{type(exc).__name__}: {exc}"
            folder.write(state)
            raise
        state["status"] = status
        state["desired"] = "finished" if status == "finished" else "stopped"  # an explicit stop
        folder.write(state)
        reqs = state["requests"].values()
        return LiveResult(name, status, sum(r["status"] == "scored" for r in reqs),
                          sum(r["status"] == "pending" for r in reqs))
    finally:
        folder.release()
