"""Post-hoc calibration of an anchored path model, fitted on the validation split only.

Two numbers, applied last at forecast time (:meth:`synthwb.models.backbone.PathModel.compose`):

- ``vol_scale`` multiplies every step's volatility (the paths' spread around their drift);
- ``drift_shrink`` multiplies the head's learned drift (0 = none, 1 = as learned);
- ``bucket_scales``: then a vol multiplier per horizon bucket (steps ending by 1/24, by 1/4 of
  the task's horizon, and the rest: 1h / 6h / 24h for the 24h task), chosen one bucket after the
  other on a finer grid, kept only when they lower the validation score by at least
  ``MIN_BUCKET_GAIN`` (else all 1). They correct a term structure the anchor and the head get
  wrong the same way at every origin (e.g. a forecast too wide at 24h and too narrow at 1h).

They are chosen on a grid to minimise the target task's exact score (the validator's CRPS
estimator) over the validation windows, with one draw of noise per window shared by every
candidate (common random numbers: the comparison sees the parameters, not Monte-Carlo luck).
The result, with the validation score before and after, is saved in run.json.
"""
from __future__ import annotations

import numpy as np
import torch

from synthwb.models.backbone import bucket_profile
from synthwb.models.simulate import to_prices
from synthwb.train.losses import exact_score

VOL_SCALES = tuple(float(v) for v in np.exp(np.linspace(-np.log(1.5), np.log(1.5), 11)))  # 1.0 in the middle
DRIFT_SHRINKS = (0.0, 0.5, 1.0)
BUCKET_SHARES = (1 / 24, 1 / 4)          # bucket ends as shares of the task's horizon; the last runs to it
BUCKET_MULTS = tuple(float(v) for v in np.exp(np.linspace(-np.log(1.25), np.log(1.25), 7)))
MIN_BUCKET_GAIN = 5e-4                  # relative validation gain the bucket scales must bring


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
                    vol_scales=VOL_SCALES, drift_shrinks=DRIFT_SHRINKS, buckets: bool = True) -> dict:
    """The (vol_scale, drift_shrink) minimising the mean exact task score over ``val_ds``:
    every vol scale with the learned drift, then the drift shrinks at the best scale, then
    (``buckets``) a multiplier per horizon bucket, one bucket at a time."""
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
    cache: dict[tuple, float] = {}

    def mean_score(s: float, d: float, mult: tuple = ()) -> float:
        key = (s, d, mult)
        if key not in cache:
            scale = s
            if mult:
                prof = bucket_profile(horizon, step_seconds, list(mult), ends)
                scale = s * torch.as_tensor(prof, dtype=batches[0][1]["vol"].dtype, device=batches[0][0].x.device)
            tot = 0.0
            for b, parts in batches:
                paths = to_prices(b.last_close, model.compose(parts, scale, d))
                tot += float(exact_score(paths, b.future, task, step_seconds).sum())
            cache[key] = tot / n
        return cache[key]

    s_best = min(vol_scales, key=lambda s: mean_score(s, 1.0))
    d_best = min(drift_shrinks, key=lambda d: mean_score(s_best, d))
    out = {"vol_scale": s_best, "drift_shrink": d_best, "val_score_before": mean_score(1.0, 1.0)}
    base = mean_score(s_best, d_best)
    mult = [1.0] * (len(ends) + 1)
    if buckets and ends:
        for k in range(len(mult)):
            mult[k] = min(BUCKET_MULTS, key=lambda m: mean_score(s_best, d_best, tuple(mult[:k] + [m] + mult[k + 1:])))
        tuned = mean_score(s_best, d_best, tuple(mult))
        if tuned <= base * (1 - MIN_BUCKET_GAIN):
            out.update({"bucket_scales": list(mult), "bucket_ends_s": ends, "val_score_uniform": base})
            base = tuned
    out.update({"val_score_after": base, "n_windows": n, "n_paths": int(n_paths),
                "grid": {f"{s:.4f}/{d:g}" + ("/" + ",".join(f"{m:.3f}" for m in mu) if mu else ""): v
                         for (s, d, mu), v in sorted(cache.items())}})
    return out
