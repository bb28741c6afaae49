"""A slow, plain transcription of the Synth validator's scoring (../shared/DESIGN.md §5): a Python loop
over intervals and terms calling properscoring's ``crps_ensemble``.

It exists to check :mod:`synthwb.scoring.synth` (tests) and to time it against the way a
user would otherwise write it (bench/bench_scoring.py). Never use it for real scoring.
"""
from __future__ import annotations

import numpy as np


def reference_score(sim: np.ndarray, real: np.ndarray, step: int, intervals: dict[str, int]) -> float:
    """Score one forecast ``sim`` (n_paths, n_points) against ``real`` (n_points,); -1 if invalid."""
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
