"""Post-hoc calibration of an anchored path model, fitted on the validation split only.

Two numbers, applied last at forecast time (:meth:`synthwb.models.backbone.PathModel.compose`):

- ``vol_scale`` multiplies every step's volatility (the paths' spread around their drift);
- ``drift_shrink`` multiplies the head's learned drift (0 = none, 1 = as learned).

They are chosen on a grid to minimise the target task's exact score (the validator's CRPS
estimator) over the validation windows, with one draw of noise per window shared by every
candidate (common random numbers: the comparison sees the parameters, not Monte-Carlo luck).
The result, with the validation score before and after, is saved in run.json.
"""
from __future__ import annotations

import numpy as np
import torch

from synthwb.models.simulate import to_prices
from synthwb.train.losses import exact_score

VOL_SCALES = tuple(float(v) for v in np.exp(np.linspace(-np.log(1.5), np.log(1.5), 11)))  # 1.0 in the middle
DRIFT_SHRINKS = (0.0, 0.5, 1.0)


@torch.no_grad()
def fit_calibration(model, val_ds, task, step_seconds: int, n_paths: int = 1000, batch_size: int = 32,
                    device: torch.device | str = "cpu", seed: int = 0,
                    vol_scales=VOL_SCALES, drift_shrinks=DRIFT_SHRINKS) -> dict:
    """The (vol_scale, drift_shrink) minimising the mean exact task score over ``val_ds``:
    every vol scale with the learned drift, then the drift shrinks at the best scale."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(int(seed) + 777)
    batches = []
    for b in val_ds.batches(batch_size):
        b = b.to(device)
        batches.append((b, model.parts(b.x, b.last_close, n_paths, gen, b.past, b.t0, b.past_range)))
    n = sum(b.x.shape[0] for b, _ in batches)
    if n == 0:
        return {"vol_scale": 1.0, "drift_shrink": 1.0, "n_windows": 0}
    cache: dict[tuple[float, float], float] = {}

    def mean_score(s: float, d: float) -> float:
        if (s, d) not in cache:
            tot = 0.0
            for b, parts in batches:
                paths = to_prices(b.last_close, model.compose(parts, s, d))
                tot += float(exact_score(paths, b.future, task, step_seconds).sum())
            cache[(s, d)] = tot / n
        return cache[(s, d)]

    s_best = min(vol_scales, key=lambda s: mean_score(s, 1.0))
    d_best = min(drift_shrinks, key=lambda d: mean_score(s_best, d))
    return {"vol_scale": s_best, "drift_shrink": d_best, "val_score_before": mean_score(1.0, 1.0),
            "val_score_after": mean_score(s_best, d_best), "n_windows": n, "n_paths": int(n_paths),
            "grid": {f"{s:.4f}/{d:g}": v for (s, d), v in sorted(cache.items())}}
