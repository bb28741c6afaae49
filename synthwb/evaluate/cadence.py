"""Where the validator's *scored* requests fall: its request stream and thinning rule, replayed.

A validator version (:mod:`synthwb.scoring.versions`) prompts each asset of a task on a
cadence (:class:`~synthwb.scoring.versions.Cadence`) and scores one request per (asset, bucket
of start times):

- ``2026-09``: dense prompting, every asset on its own period (24h: BTC every 4 minutes, the
  rest every 12; 1h: every 5 minutes, BTC and HYPE every minute); one request per (asset, hour)
  for 24h and per (asset, 10 minutes) for 1h is scored, the one whose ``md5(str(id) + salt)`` is
  the smallest in its bucket.
- ``2026-05``: round robin, one asset per cycle of 5 minutes (24h) or 2 minutes (1h) in the
  order of the prompt's asset list; the keeper of a bucket is its smallest id (the earliest).

:func:`request_stream` simulates that stream for one asset and :func:`scored_requests` keeps one
request per bucket with :func:`~synthwb.scoring.versions.keeper_index`. The backtest's
"validator cadence" mode (``BacktestSpec.cadence``) puts its origins there.

The replay is an approximation, stated here once:

- Requests are issued exactly on the minute, the first of each asset's period at minute 0 of
  the Unix epoch (a round robin's asset ``k`` at ``k * cycle`` minutes); the real validator
  sends them a few seconds later, which does not change the start time it asks for.
- Request ids are sequential in time order over every asset of the task's competitions (the
  same minute in the order of the asset list), counted from the epoch, so an id never depends
  on the backtest's period. The live ids (database keys shared with other prompts and retries)
  and the live salt are unknown, so *which* request of a bucket is kept is a faithful draw of
  the rule, not the live choice; the bucket structure (one scored request per asset and hour,
  or 10 minutes) is exact.
- An asset the version does not list takes the version's period for "any other asset" (round
  robin: the first slot of the cycle).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.evaluate.timing import validator_start_ns
from synthwb.scoring.synth import SynthTask
from synthwb.scoring.versions import ValidatorRules, get_validator, keeper_index

__all__ = [
    "ScoredRequests",
    "asset_of",
    "prompt_assets",
    "request_stream",
    "scored_requests",
]

NS = 1_000_000_000
MIN_NS = 60 * NS

Validator = str | ValidatorRules | None


def asset_of(symbol: str) -> str:
    """The validator's asset name for a lake symbol: upper case, a quote currency suffix dropped
    (``BTCUSDT``, ``btc-usd``, ``BTC/USD`` -> ``BTC``)."""
    s = str(symbol).strip().upper()
    base = re.sub(r"[-_/:]?(USDT|USDC|USD)$", "", s)
    return base or s


def _task_name(task: str | SynthTask) -> str:
    return task.name if isinstance(task, SynthTask) else str(task)


def prompt_assets(task: str | SynthTask, validator: Validator = None) -> list[str]:
    """The assets prompted for ``task`` (every competition of the task, in the version's order)."""
    rules = get_validator(validator)
    return list(dict.fromkeys(a for c in rules.competitions_for(_task_name(task)) for a in c.assets))


def _cadence(task: str | SynthTask, rules: ValidatorRules):
    name = _task_name(task)
    if name not in rules.cadence:
        raise SpecError(f"validator {rules.name} has no request cadence for the {name!r} task; "
                        f"it has {', '.join(rules.cadence)} (a custom task cannot use the validator cadence)")
    return rules.cadence[name]


def _schedule(asset: str, task: str | SynthTask, rules: ValidatorRules) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """(ordered assets, asset -> (period, phase) in minutes) of the task's request stream, with
    ``asset`` in it (an unlisted asset comes last; see the module doc)."""
    cad = _cadence(task, rules)
    assets = prompt_assets(task, rules)
    listed = list(assets)
    if asset not in assets:
        assets.append(asset)
    out = {}
    for a in assets:
        if cad.round_robin:
            period = cad.cycle_minutes * max(1, len(listed))
            out[a] = (period, (listed.index(a) if a in listed else 0) * cad.cycle_minutes)
        else:
            out[a] = (cad.period_for(a, len(listed)), 0)
    return assets, out


def request_stream(asset: str, task: str | SynthTask, validator: Validator, start_ns: int,
                   end_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``asset``'s requests with request time in ``[start_ns, end_ns)``: (request times as
    int64 ns, their ids), in time order (see the module doc for the ids)."""
    rules = get_validator(validator)
    assets, sched = _schedule(asset, task, rules)
    cycle = math.lcm(*(p for p, _ in sched.values()))
    # one cycle of the whole stream: (minute in cycle, asset order) sorted; the asset's positions
    entries = sorted((m, k) for k, a in enumerate(assets) for m in range(sched[a][1] % sched[a][0], cycle,
                                                                         sched[a][0]))
    me = assets.index(asset)
    pos = {m: i for i, (m, k) in enumerate(entries) if k == me}
    per_cycle = len(entries)
    period, phase = sched[asset]
    first = -(-int(start_ns) // MIN_NS)  # first whole minute at or after start
    first += (phase - first) % period
    last = -(-int(end_ns) // MIN_NS)  # exclusive
    minutes = np.arange(first, last, period, dtype=np.int64)
    in_cycle = minutes % cycle
    ids = (minutes // cycle) * per_cycle + np.array([pos[int(m)] for m in in_cycle], dtype=np.int64) + 1 \
        if minutes.size else np.zeros(0, np.int64)
    return minutes * MIN_NS, ids


@dataclass
class ScoredRequests:
    """The scored requests of one asset in a period (one per bucket), with the stream's facts."""

    asset: str
    task: str
    validator: str
    keeper: str
    salt: str
    bucket_seconds: int
    request_ns: np.ndarray           # kept requests' times (int64 ns), sorted
    start_ns: np.ndarray             # their start times
    ids: np.ndarray                  # their ids
    n_requests: int = 0              # the asset's requests in the period
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.request_ns.size)

    def to_dict(self) -> dict[str, Any]:
        return {"asset": self.asset, "task": self.task, "validator": self.validator, "keeper": self.keeper,
                "salt": self.salt, "bucket_seconds": self.bucket_seconds, "n_requests": self.n_requests,
                "n_scored_requests": len(self), **self.extra}


def scored_requests(asset: str, task: str | SynthTask, validator: Validator, start_ns: int, end_ns: int,
                    salt: str = "") -> ScoredRequests:
    """The requests of ``asset`` in ``[start_ns, end_ns)`` that the validator scores: the stream
    is simulated over whole buckets around the period, each (asset, ``floor(start_time /
    bucket_seconds)``) bucket keeps one request by the version's keeper rule, and the kept
    requests inside the period are returned."""
    rules = get_validator(validator)
    cad = _cadence(task, rules)
    b_ns = int(cad.bucket_seconds) * NS
    pad = b_ns + 3 * MIN_NS  # whole buckets on both sides: their keepers do not depend on the period
    req, ids = request_stream(asset, task, rules, int(start_ns) - pad, int(end_ns) + pad)
    start = validator_start_ns(req, _task_name(task), rules) if req.size else np.zeros(0, np.int64)
    bucket = start // b_ns
    keep = []
    if req.size:
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, bucket.size]):
            keep.append(int(lo) + keeper_index(ids[lo:hi].tolist(), cad.keeper, salt))
    keep_idx = np.asarray(keep, dtype=np.int64)
    inside = (req >= int(start_ns)) & (req < int(end_ns))
    keep_idx = keep_idx[inside[keep_idx]] if keep_idx.size else keep_idx
    return ScoredRequests(asset, _task_name(task), rules.name, cad.keeper, salt, int(cad.bucket_seconds),
                          req[keep_idx], start[keep_idx], ids[keep_idx], int(inside.sum()))
