"""Compiled kernels behind :func:`synthwb.scoring.synth.score_batch` (numba, nogil).

The validator's CRPS of one term is ``mean|x - y| - 1/n^2 * sum_i (2i - n - 1) x_(i)`` over the
term's ``n`` simulated values ``x`` (sorted for the second sum). For a batch of forecasts the
work is three passes over ``(B, terms, n_paths)`` values:

1. :func:`term_values`: every term's simulated values, written contiguously per term (a blocked
   transpose of the ``(B, n_paths, n_points)`` paths fused with the returns
   ``(p[e] - p[s]) / p[s] * 10000``, the validator's formula, or the price level for ``_abs``);
2. numpy's in-place sort along the last axis (SIMD on x86: the fastest sort there is here);
3. :func:`crps_sorted`: both sums in one pass over the sorted values.

Each kernel releases the GIL, so ``score_batch`` runs chunks of forecasts on several threads.
numba is imported lazily (about 0.4 s); the first call compiles (or loads numba's on-disk cache).
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["kernels", "term_layout"]


def term_layout(plans) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, int, int]]]:
    """Flatten interval plans ``[(name, starts | None, ends)]`` into per-term arrays.

    Returns ``starts``, ``ends`` (int64 point indices), ``is_abs`` (bool) and for each interval
    ``(name, first term, last term + 1)``.
    """
    s_all, e_all, a_all, spans, pos = [], [], [], [], 0
    for name, starts, ends in plans:
        ends = np.asarray(ends, dtype=np.int64)
        s_all.append(ends if starts is None else np.asarray(starts, dtype=np.int64))
        e_all.append(ends)
        a_all.append(np.full(len(ends), starts is None))
        spans.append((name, pos, pos + len(ends)))
        pos += len(ends)
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return cat(s_all, np.int64), cat(e_all, np.int64), cat(a_all, np.bool_), spans


@functools.cache
def kernels():
    """``(term_values, crps_sorted, flags)`` compiled with numba (cached on disk by numba)."""
    import numba  # lazy: numba takes ~0.4 s to import; only scoring needs it

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def term_values(paths, starts, ends, is_abs, out):  # pragma: no cover - compiled
        b_n, p_n, _ = paths.shape
        t_n = starts.shape[0]
        jb = 16  # paths per block: their rows stay in L1 while every term is written
        for b in range(b_n):
            for j0 in range(0, p_n, jb):
                j1 = min(p_n, j0 + jb)
                for t in range(t_n):
                    e_i = ends[t]
                    if is_abs[t]:
                        for j in range(j0, j1):
                            out[b, t, j] = paths[b, j, e_i]
                    else:
                        s_i = starts[t]
                        for j in range(j0, j1):
                            s = paths[b, j, s_i]
                            out[b, t, j] = (paths[b, j, e_i] - s) / s * 10000.0
        return out

    # reassociation lets the two sums vectorise; NaN/inf semantics are kept (no nnan/ninf)
    @numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
    def crps_sorted(x, y, out):  # pragma: no cover - compiled
        b_n, t_n, p_n = x.shape
        inv_n = 1.0 / p_n
        inv_n2 = 1.0 / (p_n * p_n)
        for b in range(b_n):
            for t in range(t_n):
                yy = y[b, t]
                a = 0.0
                g = 0.0
                for i in range(p_n):
                    v = x[b, t, i]
                    a += abs(v - yy)
                    g += (2.0 * i + 1.0 - p_n) * v
                out[b, t] = a * inv_n - g * inv_n2
        return out

    @numba.njit(nogil=True, cache=True)
    def flags(paths, out):  # pragma: no cover - compiled
        """Per forecast: out[b] = (any NaN, any +-inf, any zero), one pass, no temporaries."""
        for b in range(paths.shape[0]):
            nan = inf = zero = False
            for j in range(paths.shape[1]):
                for i in range(paths.shape[2]):
                    v = paths[b, j, i]
                    if v != v:
                        nan = True
                    elif v == 0.0:
                        zero = True
                    elif v - v != 0.0:
                        inf = True
            out[b, 0] = nan
            out[b, 1] = inf
            out[b, 2] = zero
        return out

    return term_values, crps_sorted, flags
