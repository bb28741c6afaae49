"""Post-hoc calibration of an anchored path model, fitted on the validation split only.

Two numbers, applied last at forecast time (:meth:`synthwb.models.backbone.PathModel.compose`):

- ``vol_scale`` multiplies every step's volatility (the paths' spread around their drift);
- ``drift_shrink`` multiplies the head's learned drift (0 = none, 1 = as learned; a run trained with
  ``TrainConfig.drift = "zero"`` has the grid ``(0,)``: its vol scale is chosen at zero drift);
- ``bucket_scales``: then a vol multiplier per horizon bucket (steps ending by 1/24, by 1/4 of
  the task's horizon, and the rest: 1h / 6h / 24h for the 24h task), chosen one bucket after the
  other on a finer grid, kept only when they lower the validation score by at least
  ``MIN_GAIN`` (else all 1). They correct a term structure the anchor and the head get
  wrong the same way at every origin (e.g. a forecast too wide at 24h and too narrow at 1h).

Each step is kept only when it lowers the validation score by at least ``MIN_GAIN`` (0.05%) of the
step before (else it stays at 1): the candidates are a fraction of a percent apart, and a choice
that gains less than that on validation is as likely to lose on test (a drift shrink of 0.5 that
gained 0.003% on the demo's validation cost 0.6% in the 24h absolute-price term on test).

They are chosen on a grid to minimise the target task's exact score (the validator's CRPS
estimator) over the validation windows, with one draw of noise per window shared by every
candidate (common random numbers: the comparison sees the parameters, not Monte-Carlo luck).
Coverage guard: no choice may take the validation 90% coverage (the share of realised points in
the paths' central 90% band) out of ``COVERAGE_BAND``, or further from it than the uncalibrated
model is; the uncalibrated model itself is always allowed, so the score never gets worse. The score alone would shrink the spread of
fat-tailed crypto returns until the band covers ~85% (CRPS rewards a sharp centre more than
the tails it misses); the guard keeps the band honest for a score that hardly differs.

The result, with the validation score and coverage before and after, is saved in run.json.
"""
from __future__ import annotations

import numpy as np
import torch

from synthwb.models.backbone import bucket_profile
from synthwb.models.simulate import to_prices
from synthwb.train.losses import coverage, exact_score, task_points

VOL_SCALES = tuple(float(v) for v in np.exp(np.linspace(-np.log(1.5), np.log(1.5), 11)))  # 1.0 in the middle
DRIFT_SHRINKS = (0.0, 0.5, 1.0)
BUCKET_SHARES = (1 / 24, 1 / 4)          # bucket ends as shares of the task's horizon; the last runs to it
BUCKET_MULTS = tuple(float(v) for v in np.exp(np.linspace(-np.log(1.25), np.log(1.25), 7)))
MIN_GAIN = 5e-4                         # relative validation gain each step (scale, drift, buckets) must bring
COVERAGE_BAND = (0.87, 0.93)            # validation 90% coverage a calibration may not leave


def bucket_ends(task, step_seconds: int) -> list[float]:
    """Bucket ends (seconds) for ``task``: shares of its horizon, on whole path steps, distinct."""
    out = []
    for share in BUCKET_SHARES:
        e = max(1, round(task.horizon_seconds * share / step_seconds)) * step_seconds
        if e < task.horizon_seconds and (not out or e > out[-1]):
            out.append(float(e))
    return out


@torch.no_grad()
def fit_calibration(model, val_ds, task, step_seconds: int, n_paths: int = 1000, batch_size: int = 32,
                    device: torch.device | str = "cpu", seed: int = 0,
                    vol_scales=VOL_SCALES, drift_shrinks=DRIFT_SHRINKS, buckets: bool = True,
                    coverage_band: tuple[float, float] | None = COVERAGE_BAND) -> dict:
    """The (vol_scale, drift_shrink) minimising the mean exact task score over ``val_ds``:
    every vol scale with the learned drift, then the drift shrinks at the best scale, then
    (``buckets``) a multiplier per horizon bucket, one bucket at a time; each choice among the
    candidates whose validation 90% coverage stays in ``coverage_band`` (None: no guard)."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(int(seed) + 777)
    batches = []
    for b in val_ds.batches(batch_size):
        b = b.to(device)
        batches.append((b, model.parts(b.x, b.last_close, n_paths, gen, **b.anchor)))
    n = sum(b.x.shape[0] for b, _ in batches)
    if n == 0:
        return {"vol_scale": 1.0, "drift_shrink": 1.0, "n_windows": 0}
    horizon = int(batches[0][1]["vol"].shape[-1])
    ends = bucket_ends(task, step_seconds)
    n_pts = task_points(task, step_seconds)
    cache: dict[tuple, tuple[float, float]] = {}

    def evaluate(s: float, d: float, mult: tuple = ()) -> tuple[float, float]:
        """(mean score, mean 90% coverage) over the validation windows."""
        key = (s, d, mult)
        if key not in cache:
            scale = s
            if mult:
                prof = bucket_profile(horizon, step_seconds, list(mult), ends)
                scale = s * torch.as_tensor(prof, dtype=batches[0][1]["vol"].dtype, device=batches[0][0].x.device)
            tot = cov = 0.0
            for b, parts in batches:
                paths = to_prices(b.last_close, model.compose(parts, scale, d))
                tot += float(exact_score(paths, b.future, task, step_seconds).sum())
                cov += float(coverage(paths[..., :n_pts], b.future[..., :n_pts]).sum())
            cache[key] = (tot / n, cov / n)
        return cache[key]

    def off_band(key: tuple) -> float:
        """How much further from the coverage band than the uncalibrated model ``key`` is (0: no further)."""
        if coverage_band is None:
            return 0.0
        dist = [max(coverage_band[0] - c, c - coverage_band[1], 0.0)
                for c in (evaluate(*key)[1], evaluate(1.0, d0)[1])]
        return max(dist[0] - dist[1], 0.0)

    def best(keys: list[tuple]) -> tuple:
        """The lowest score among the keys no further from the coverage band than the uncalibrated model
        (never empty in practice: the grids hold 1); none such: the nearest."""
        return min(keys, key=lambda k: (off_band(k), evaluate(*k)[0]))

    def gains(new: tuple, old: tuple) -> bool:
        """``new`` lowers the validation score by at least ``MIN_GAIN`` of ``old``'s (else noise)."""
        return evaluate(*new)[0] <= evaluate(*old)[0] * (1 - MIN_GAIN)

    d0 = 1.0 if 1.0 in drift_shrinks else float(drift_shrinks[0])  # the drift the model starts from
    s_best = best([(s, d0) for s in vol_scales])[0]
    s_best = s_best if gains((s_best, d0), (1.0, d0)) and off_band((s_best, d0)) <= off_band((1.0, d0)) else 1.0
    d_best = best([(s_best, d) for d in drift_shrinks])[1]
    d_best = d_best if gains((s_best, d_best), (s_best, d0)) and off_band((s_best, d_best)) <= off_band(
        (s_best, d0)) else d0
    before = evaluate(1.0, d0)
    out = {"vol_scale": s_best, "drift_shrink": d_best, "val_score_before": before[0],
           "val_coverage_before": before[1]}
    chosen = (s_best, d_best)
    mult = [1.0] * (len(ends) + 1)
    if buckets and ends:
        for k in range(len(mult)):
            mult[k] = best([(s_best, d_best, tuple(mult[:k] + [m] + mult[k + 1:])) for m in BUCKET_MULTS])[2][k]
        tuned = (s_best, d_best, tuple(mult))
        if gains(tuned, chosen) and off_band(tuned) <= off_band(chosen):
            out.update({"bucket_scales": list(mult), "bucket_ends_s": ends, "val_score_uniform": evaluate(*chosen)[0]})
            chosen = tuned
    out.update({"val_score_after": evaluate(*chosen)[0], "val_coverage_after": evaluate(*chosen)[1],
                "coverage_band": list(coverage_band) if coverage_band else None,
                "n_windows": n, "n_paths": int(n_paths),
                "grid": {f"{s:.4f}/{d:g}" + ("/" + ",".join(f"{m:.3f}" for m in mu) if mu else ""): v[0]
                         for (s, d, mu), v in sorted(cache.items())}})
    return out
