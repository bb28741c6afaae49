"""Forward-pass smoke test of an (untrained) spec on real windows, for the Model Builder.

Windows come from a saved feature set (``load_featureset(name).windows(split, context,
horizon)``), or, without one, from plain bars: the scaled one-bar log return of ``close``
as the only feature (the spec is then run with ``n_features=1`` and the result says so).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from synthwb.core.errors import DataError
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features import load_featureset
from synthwb.models.backbone import build_model
from synthwb.models.spec import ModelSpec


@dataclass
class SmokeWindows:
    x: np.ndarray               # (N, context, F) float32
    last_close: np.ndarray      # (N,)
    future: np.ndarray          # (N, horizon+1) realised closes incl. t0
    times: np.ndarray           # (N, horizon+1) datetime64 of each step
    source: str                 # "feature set NAME (split)" or "bars (log-return fallback)"
    spec: ModelSpec             # the spec actually run (n_features may be adapted)
    notes: list[str] = field(default_factory=list)


def _times(origin: np.ndarray, freq: str, horizon: int) -> np.ndarray:
    step = np.timedelta64(FREQ_SECONDS[freq], "s")
    return origin.astype("datetime64[s]")[:, None] + step * np.arange(horizon + 1)[None, :]


def _pick(n_total: int, n: int) -> np.ndarray:
    """``n`` evenly spread window indices, always including the last one."""
    return np.unique(np.linspace(0, n_total - 1, num=min(n, n_total)).round().astype(int))


def windows_from_featureset(spec: ModelSpec, name: str, split: str = "val", n: int = 4, store=None,
                            root=None) -> SmokeWindows:
    fs = load_featureset(name, store)
    w = fs.windows(split, spec.context, spec.horizon, stride=max(1, spec.horizon // 4), root=root)
    if len(w) == 0:
        raise DataError(f"feature set {name!r} has no {split} window of {spec.context} + {spec.horizon} bars; "
                        "shorten the context/horizon or use another split")
    idx = _pick(len(w), n)
    notes, run_spec = [], spec
    if w.x.shape[2] != spec.n_features:
        notes.append(f"the spec expects {spec.n_features} features, feature set {name!r} has {w.x.shape[2]}: "
                     f"the smoke test runs with n_features={w.x.shape[2]}")
        run_spec = spec.with_sizes(n_features=int(w.x.shape[2]))
    return SmokeWindows(np.ascontiguousarray(w.x[idx]), w.last_close[idx], w.future[idx],
                        _times(w.origin_ts[idx], fs.freq, spec.horizon), f"feature set {name} ({split})", run_spec, notes)


def windows_from_bars(spec: ModelSpec, bars, freq: str, n: int = 4) -> SmokeWindows:
    """Windows from a bars frame (``ts``, ``close``): feature = one-bar log return / its std."""
    if bars is None or len(bars) == 0:
        raise DataError("no bars to build smoke-test windows from: choose data in the sidebar or a feature set")
    close = bars["close"].to_numpy().astype(np.float64)
    ts = bars["ts"].dt.replace_time_zone(None).to_numpy()
    r = np.diff(np.log(close))
    need = spec.context + spec.horizon
    if len(r) < need:
        raise DataError(f"the selected bars give {len(r)} returns; the smoke test needs context + horizon = {need}")
    r = (r - r.mean()) / (r.std() or 1.0)
    starts = _pick(len(r) - need + 1, n)
    x = np.stack([r[s:s + spec.context] for s in starts]).astype(np.float32)[..., None]
    origin = starts + spec.context                       # index into close of the last context bar
    future = np.stack([close[o:o + spec.horizon + 1] for o in origin])
    run_spec = spec.with_sizes(n_features=1) if spec.n_features != 1 else spec
    notes = ["no feature set chosen: the smoke test uses the sidebar bars' scaled log return as the only "
             "feature" + (f" (the spec's n_features={spec.n_features} is replaced by 1)" if spec.n_features != 1 else "")]
    return SmokeWindows(x, close[origin], future, _times(ts[origin], freq, spec.horizon), "bars (log-return fallback)",
                        run_spec, notes)


def run_smoke(w: SmokeWindows, n_paths: int = 200, seed: int = 0) -> dict:
    """Build the (untrained) model and simulate: numpy paths (N, n_paths, H+1), extras, timings."""
    torch.manual_seed(seed)
    model = build_model(w.spec).eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model(torch.from_numpy(w.x), torch.from_numpy(np.asarray(w.last_close, dtype=np.float64)),
                    n_paths=n_paths, generator=torch.Generator().manual_seed(seed))
    secs = time.perf_counter() - t0
    paths = out.paths.numpy()
    return {"paths": paths, "extras": {k: v.numpy() for k, v in out.extras.items()}, "seconds": secs,
            "finite": bool(np.isfinite(paths).all()), "positive": bool((paths > 0).all()),
            "t0_exact": bool((paths[:, :, 0] == np.asarray(w.last_close)[:, None]).all())}
