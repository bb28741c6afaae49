"""A saved run as a Forecaster (the protocol the backtest and compare engines score).

``RunForecaster.forecast(bars, origins, n_steps, step_seconds, n_paths, seed)`` returns price
paths ``(n_origins, n_paths, n_points)`` with column 0 = the last close at or before each
origin. For each origin it takes the bars with ``ts <= origin``, computes the features with the
run's saved feature set (same spec, same scaler fitted on the run's training split), builds the
last ``context`` rows as the model input, and runs all origins through the model in batches
on the device.

The paths are on the model's own grid (``self.step_seconds``, the run's bar size). When the
task asks for another step no interpolation is done: the paths cover the task's horizon on the
model's grid (``ceil(n_steps * step_seconds / self.step_seconds)`` steps) and the scorer aligns
them by timestamps (``synth_loss_torch`` / the scorer handle a model step that divides the
task's intervals). Bars finer than the run's bar size are resampled first.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
import torch

from synthwb.core.device import resolve_device
from synthwb.core.errors import DataError, NotFound
from synthwb.core.time import to_ns
from synthwb.data.resample import bars_on
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.compute import warmup_bars
from synthwb.features.datasets import anchor_columns, bar_range, past_logret, regular_mask
from synthwb.features.featureset import run_featureset
from synthwb.forecast.base import ForecasterBase
from synthwb.forecast.classical.refs import ClassicalRef
from synthwb.forecast.ensemble import allocate, carry_drift, shuffle_paths
from synthwb.models.backbone import build_model, location_drift
from synthwb.models.spec import run_spec
from synthwb.scoring.synth import steps_covering
from synthwb.store.runs import BEST, LAST, Run, check_weights_match, load_run, read_weights, weights_file

# keep one forward pass under about this many path values (batch * n_paths * points)
_MAX_VALUES = 40_000_000


class RunForecaster(ForecasterBase):
    """Forecaster over a trained run (see the module doc)."""

    def __init__(self, run_id: str, store=None, device: str = "auto", which: str = "best", root=None,
                 calibrated: bool = True, blended: bool | None = None):
        self.run = load_run(run_id, store)
        blended = calibrated if blended is None else bool(blended)
        partners = _partners(self.run)
        self.name = run_id if calibrated else f"{run_id} (uncalibrated)"
        if calibrated and not blended and partners:
            self.name = f"{run_id} (unblended)"
        self.device = resolve_device(device)
        self.model = load_model(self.run, which=which, device=str(self.device))
        self.spec = run_spec(self.run)
        self.featureset = run_featureset(self.run)
        self.root = root
        self.context = int(self.spec.context)
        self.horizon = int(self.spec.horizon)
        self.freq = self.featureset.freq
        self.bar_seconds = FREQ_SECONDS[self.freq]
        #: the path step (the bar, or a finer step the model simulates between bars)
        self.step_seconds = int(self.spec.path_step or self.bar_seconds)
        cal = self.run.info.get("calibration") or {}
        #: the post-hoc calibration applied (fitted on the validation split), or None
        self.calibration = cal if (calibrated and cal and self.model.anchor is not None) else None
        if self.calibration:
            self.model.set_calibration(cal.get("vol_scale", 1.0), cal.get("drift_shrink", 1.0),
                                       cal.get("bucket_scales"), cal.get("bucket_ends_s"))
        self.asset_class = self.featureset.selection["asset_class"]
        #: bars of history one forecast needs (features warm-up + context); the realised measures'
        #: month of look-back is read when it exists but not required (they use what there is)
        self.context_bars = warmup_bars(self.featureset.feature_spec, lookback=False) + self.context + 1
        span_days = (warmup_bars(self.featureset.feature_spec) + self.context + 1) * self.bar_seconds / 86400.0
        #: calendar days of history to read before an origin (sessions: about 3x the bar span)
        self.context_days = span_days * (1.0 if self.asset_class == "crypto" else 3.0) + 1.0
        #: the classical forecasters mixed in (fitted on the validation split, synthwb.train.blend) and the
        #: weights (the run's first); empty when the run has no blend or ``blended`` is off
        groups = _partner_groups(partners) if blended else []
        self.partners = [ClassicalRef(model=g["model"], params=g["params"]).forecaster(
            self.featureset.selection, root=root) for g in groups]
        self.blend_weights = ([float(self.run.info["blend"].get("run_weight", 1.0))]
                              + [g["weight"] for g in groups] if self.partners else [1.0])
        #: per partner, the share of its paths moved onto the run's drift (the rest keep their own zero drift)
        self.carry_shares = [g["carry"] / g["weight"] for g in groups]
        for f in self.partners:
            self.context_bars = max(self.context_bars, int(f.context_bars))
            self.context_days = max(self.context_days, float(f.context_days))

    def __repr__(self) -> str:
        return f"RunForecaster({self.name!r}, {self.freq}, context={self.context}, horizon={self.horizon})"

    # -- grid ------------------------------------------------------------------------------
    def grid_steps(self, n_steps: int, step_seconds: int) -> int:
        """Model steps needed to cover ``n_steps`` of ``step_seconds`` (on the model's grid)."""
        return steps_covering(n_steps, step_seconds, self.step_seconds, self.horizon, f"run {self.name!r}")

    # -- inputs ----------------------------------------------------------------------------
    def inputs(self, bars: pl.DataFrame, origins: Sequence[datetime]) -> tuple[np.ndarray, ...]:
        """Model inputs ``x`` (n_origins, context, F), ``last_close`` (n_origins,), and the
        anchor's ``past`` (n_origins, context) log returns, ``t0`` (n_origins,) epoch seconds and
        ``past_range`` (n_origins, context) log(high / low) and ``anchor_x`` (n_origins, K) the
        classical variance forecasts of a ``har`` anchor (None without the har_anchor feature),
        built exactly as the training windows are (:func:`synthwb.features.datasets.make_windows`)."""
        feats = self.featureset.features_for(bars_on(bars, self.freq, self.asset_class), root=self.root)
        cols = list(self.featureset.feature_cols)
        mat = feats.select(cols).to_numpy().astype(np.float64)
        mat = np.nan_to_num(mat, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)  # as in training windows
        close = feats["raw_close"].to_numpy().astype(np.float64)
        ts = to_ns(feats["ts"])
        o_ns = to_ns(list(origins))
        ends = np.searchsorted(ts, o_ns, side="right")
        short = np.nonzero(ends < self.context)[0]
        if len(short):
            i = int(short[0])
            raise DataError(f"{self.name}: only {int(ends[i])} feature rows up to origin {origins[i]}; the model "
                            f"needs {self.context} (read about {self.context_days:.1f} days of bars before it)")
        idx = ends[:, None] - self.context + np.arange(self.context)[None, :]
        r = past_logret(close, regular_mask(ts, self.bar_seconds))
        t0 = ts[ends - 1] / 1e9 + self.bar_seconds
        rng = bar_range(feats, "raw_high", "raw_low")
        acols = [f"raw_{c}" for c in anchor_columns([c[4:] for c in feats.columns if c.startswith("raw_")])]
        ax = feats.select(acols).to_numpy().astype(np.float64)[ends - 1] if acols else None
        return mat[idx], close[ends - 1], r[idx], t0, rng[idx], ax

    # -- protocol --------------------------------------------------------------------------
    @torch.no_grad()
    def forecast(self, bars: pl.DataFrame, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Paths ``(n_origins, n_paths, m + 1)`` on the model's grid, ``m = grid_steps(...)``."""
        m = self.grid_steps(n_steps, step_seconds)
        if len(origins) == 0:
            return np.empty((0, int(n_paths), m + 1))
        if self.partners:  # the run's share of the paths and each partner's, pooled in random order
            counts = allocate(self.blend_weights, int(n_paths))
            seeds = np.random.SeedSequence(int(seed)).generate_state(len(counts) + 1)
            own, drift = self._paths(bars, origins, m, max(int(counts[0]), 2), int(seeds[0]), with_drift=True)
            parts = [own[:, :int(counts[0])]]
            for f, c, s, share in zip(self.partners, counts[1:], seeds[1:], self.carry_shares):
                if c:  # the partner's spread around the network's drift (classical paths have none), or its own
                    p = f.forecast(bars, origins, m, self.step_seconds, int(c), int(s))
                    carry_drift(p[:, :int(round(c * share))], drift)  # in place, on the first paths
                    parts.append(p)
            pooled = np.concatenate(parts, axis=1)
            pooled *= own[:, :1, :1] / pooled[:, :, :1]   # every path from the same t0 price, exactly
            return shuffle_paths(pooled, seeds[-1])
        return self._paths(bars, origins, m, int(n_paths), int(seed))

    @torch.no_grad()
    def _paths(self, bars: pl.DataFrame, origins: Sequence[datetime], m: int, n_paths: int, seed: int,
               with_drift: bool = False):
        """The network's own paths ``(n_origins, n_paths, m + 1)``; ``with_drift``: and their location drift per
        step ``(n_origins, m)`` (:func:`synthwb.models.backbone.location_drift`)."""
        x, last, past, t0, rng, ax = self.inputs(bars, origins)
        out = np.empty((len(origins), int(n_paths), m + 1), dtype=np.float64)
        drift = np.zeros((len(origins), m), dtype=np.float64)
        chunk = max(1, _MAX_VALUES // (int(n_paths) * (self.horizon + 1)))
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        for a in range(0, len(origins), chunk):
            xb = torch.from_numpy(x[a:a + chunk]).to(self.device)
            lb = torch.from_numpy(last[a:a + chunk]).to(self.device, torch.float32)
            anchor = {"past": torch.from_numpy(past[a:a + chunk]).to(self.device),
                      "t0": torch.from_numpy(t0[a:a + chunk]).to(self.device),
                      "past_range": torch.from_numpy(rng[a:a + chunk]).to(self.device),
                      "anchor_x": None if ax is None else torch.from_numpy(ax[a:a + chunk]).to(self.device)}
            res = self.model(xb, lb, int(n_paths), generator=gen, **anchor)
            paths = res.paths[..., : m + 1].double() * (torch.from_numpy(last[a:a + chunk]).to(self.device)
                                                        / lb.double())[:, None, None]  # exact t0 in float64
            out[a:a + chunk] = paths.cpu().numpy()
            if with_drift:
                drift[a:a + chunk] = location_drift(res.extras)[:, :m].double().cpu().numpy()
        return (out, drift) if with_drift else out


def _partners(run: Run) -> list[dict]:
    """The classical partners of a run's blend (synthwb.train.blend) with a share of the paths."""
    return [p for p in ((run.info.get("blend") or {}).get("partners") or []) if float(p.get("weight", 0)) > 0]


def _partner_groups(partners: list[dict]) -> list[dict]:
    """The blend's partners by classical model (one forecast per model and origin): its parameters, its
    total share and the share of it that carries the run's drift (``drift`` "run", the default of a record
    written before the choice existed) rather than keeping the model's own zero drift (``drift`` "zero")."""
    out: dict[tuple, dict] = {}
    for p in partners:
        params = p.get("params") or {}
        g = out.setdefault((p["model"], repr(sorted(params.items()))),
                           {"model": p["model"], "params": params, "weight": 0.0, "carry": 0.0})
        g["weight"] += float(p["weight"])
        g["carry"] += float(p["weight"]) if p.get("drift", "run") == "run" else 0.0
    return list(out.values())


def load_model(run_id: str | Run, which: str = "best", store=None, device: str = "cpu"):
    """Rebuild a run's path model from its spec and load its weights (eval mode, on ``device``).

    Refuses with :class:`SpecError` when the spec and the weights disagree (keys or shapes)."""
    run = run_id if isinstance(run_id, Run) else load_run(run_id, store)
    fname = weights_file(which)
    wpath = run.path / fname
    if not wpath.is_file():
        alt = run.path / (LAST if which == "best" else BEST)
        raise NotFound(
            f"run {run.run_id!r} has no {which} weights ({fname}) yet"
            + (f"; {alt.name} exists (use which={'last' if which == 'best' else 'best'!r})" if alt.is_file() else "")
        )
    model = build_model(run_spec(run))
    state = read_weights(wpath)
    check_weights_match(model, state, f"weights ({run.run_id}/{fname})")
    model.load_state_dict(state, strict=True)
    return model.to(resolve_device(device)).eval()
