"""A slow, plain transcription of the Synth validator's scoring (../shared/DESIGN.md §5): a Python loop
over intervals and terms calling properscoring's ``crps_ensemble``.

It exists to check :mod:`synthwb.scoring.synth` (tests) and to time it against the way a
user would otherwise write it (bench/bench_scoring.py). Never use it for real scoring.
"""
from __future__ import annotations

import numpy as np


def reference_score(sim: np.ndarray, real: np.ndarray, step: int, intervals: dict[str, int],
                    vol_blocks: dict[str, tuple[int, float]] | None = None) -> float:
    """Score one forecast ``sim`` (n_paths, n_points) against ``real`` (n_points,); -1 if invalid.
    ``vol_blocks`` ``{name: (seconds, weight)}`` (validator 2026-09) adds
    :func:`reference_vol_score` to a valid forecast's price score."""
    total = _reference_price_score(sim, real, step, intervals)
    if vol_blocks and total != -1.0:
        total += reference_vol_score(sim, real, step, vol_blocks)
    return total


def reference_vol_score(sim: np.ndarray, real: np.ndarray, step: int,
                        vol_blocks: dict[str, tuple[int, float]]) -> float:
    """The volatility term, block by block: for each block size of ``seconds`` (k steps), the step
    returns in bps cut into consecutive blocks of k (leftover returns dropped); a block's
    volatility is the sample standard deviation (ddof=1) of its observed returns, skipped when
    fewer than 2 are observed; properscoring's CRPS of the realised volatility against the
    paths' volatilities; each size's sum times its weight."""
    from properscoring import crps_ensemble

    total = 0.0
    n_ret = len(real) - 1
    for _name, (secs, weight) in vol_blocks.items():
        k = secs // step
        crps_sum = 0.0
        for blk in range(n_ret // k):
            r_obs = []
            for i in range(blk * k, blk * k + k):
                v = (real[i + 1] - real[i]) / real[i] * 10000
                if not np.isnan(v):
                    r_obs.append(v)
            if len(r_obs) < 2:
                continue
            y = float(np.std(np.array(r_obs), ddof=1))
            seg = sim[:, blk * k:blk * k + k + 1]
            x = np.std(np.diff(seg, axis=1) / seg[:, :-1] * 10000, axis=1, ddof=1)
            crps_sum += float(crps_ensemble(y, x))
        total += weight * crps_sum
    return total


def _reference_price_score(sim: np.ndarray, real: np.ndarray, step: int, intervals: dict[str, int]) -> float:
    from properscoring import crps_ensemble

    if np.any(sim == 0) or np.isnan(sim).any():
        return -1.0
    total = 0.0
    for name, secs in intervals.items():
        k = secs // step
        if name.endswith("_abs"):
            while len(real[::k]) == 1 and k > 1:  # the validator shortens the stride on short data
                k -= 1
            s, r = sim[:, ::k][:, 1:], real[::k][1:]
        else:
            s, r = sim[:, ::k], real[::k]
            if name.endswith("_gaps"):
                s, r = s[:, :2], r[:2]
            s = np.diff(s, axis=1) / s[:, :-1] * 10000
            r = np.diff(r) / r[:-1] * 10000
        for j in range(len(r)):
            if np.isnan(r[j]):
                continue
            v = crps_ensemble(r[j], s[:, j])
            if name.endswith("_abs"):
                if not np.isfinite(real[-1]) or real[-1] == 0:
                    continue
                v = v / real[-1] * 10000
            total += float(v)
    return total
