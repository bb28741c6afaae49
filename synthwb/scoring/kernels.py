"""Compiled kernels behind :func:`synthwb.scoring.synth.score_batch` (numba, nogil).

The validator's CRPS of one term is ``mean|x - y| - 1/n^2 * sum_i (2i - n - 1) x_(i)`` over the
term's ``n`` simulated values ``x`` (sorted for the second sum). For a batch of forecasts the
work is three passes over ``(B, terms, n_paths)`` values:

1. ``term_values``: every term's simulated values, written contiguously per term (a tiled
   transpose of the ``(B, n_paths, n_points)`` paths fused with the validity flags and the returns
   ``(p[e] - p[s]) / p[s] * 10000``, the validator's formula, or the price level for ``_abs``);
2. numpy's in-place sort along the last axis (SIMD on x86: the fastest sort there is here);
3. ``crps_sorted``: both sums in one pass over the sorted values.

A task with volatility blocks (validator 2026-09) adds ``vol_values`` to pass 1: it writes every
path's block standard deviations (ddof=1) of its step returns in bps as further terms of the same
buffer, so they are sorted and scored with the price terms.

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
    """``(term_values, crps_sorted, vol_values)`` compiled with numba (cached on disk by numba)."""
    import numba  # lazy: numba takes ~0.4 s to import; only scoring needs it

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def term_values(paths, starts, ends, is_abs, out, bad):  # pragma: no cover - compiled
        """out[b, t, :] = term t's simulated values of forecast b; bad[b] = (any NaN, any +-inf,
        any zero) over all of forecast b's prices."""
        b_n, p_n, n_pts = paths.shape
        t_n = starts.shape[0]
        jb = 32  # paths per tile: the tile (n_points x 32) stays in L1/L2 while every term is written
        tile = np.empty((n_pts, jb))
        for b in range(b_n):
            nan = inf = zero = False
            for j0 in range(0, p_n, jb):
                jl = min(jb, p_n - j0)
                for jj in range(jl):  # transpose the block of paths into the tile
                    for i in range(n_pts):
                        tile[i, jj] = paths[b, j0 + jj, i]
                for i in range(n_pts):
                    for jj in range(jl):
                        v = tile[i, jj]
                        nan |= v != v
                        zero |= v == 0.0
                        inf |= (v - v != 0.0) & (v == v)
                for t in range(t_n):
                    e = tile[ends[t]]
                    o = out[b, t, j0:j0 + jl]
                    if is_abs[t]:
                        for jj in range(jl):
                            o[jj] = e[jj]
                    else:
                        s = tile[starts[t]]
                        for jj in range(jl):  # the validator's formula, contiguous: vectorised
                            o[jj] = (e[jj] - s[jj]) / s[jj] * 10000.0
            bad[b, 0] = nan
            bad[b, 1] = inf
            bad[b, 2] = zero
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

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def vol_values(paths, stride, ks, nbs, t0, out):  # pragma: no cover - compiled
        """out[b, t0 + (blocks of the sizes before) + i, j] = standard deviation (ddof=1) of the
        step returns in bps ``(p[i+1] - p[i]) / p[i] * 10000`` of path j of forecast b, on every
        ``stride``-th point, in block i of ``ks[s]`` returns (block size s); ``nbs[s]`` blocks.
        Tiled like ``term_values``: 32 paths at a time, every sum runs across the tile's paths
        (contiguous, vectorised) in the plain order over a block's returns."""
        b_n, p_n, n_pts = paths.shape
        n_sub = (n_pts - 1) // stride + 1
        jb = 32
        tile = np.empty((n_sub, jb))
        ret = np.empty((max(1, n_sub - 1), jb))
        acc = np.empty(jb)
        mean = np.empty(jb)
        for b in range(b_n):
            for j0 in range(0, p_n, jb):
                jl = min(jb, p_n - j0)
                for jj in range(jl):
                    for i in range(n_sub):
                        tile[i, jj] = paths[b, j0 + jj, i * stride]
                for i in range(n_sub - 1):
                    e = tile[i + 1]
                    s = tile[i]
                    r = ret[i]
                    for jj in range(jl):
                        r[jj] = (e[jj] - s[jj]) / s[jj] * 10000.0
                t = t0
                for sz in range(ks.shape[0]):
                    k = ks[sz]
                    for blk in range(nbs[sz]):
                        lo = blk * k
                        for jj in range(jl):
                            acc[jj] = 0.0
                        for i in range(lo, lo + k):
                            r = ret[i]
                            for jj in range(jl):
                                acc[jj] += r[jj]
                        for jj in range(jl):
                            mean[jj] = acc[jj] / k
                            acc[jj] = 0.0
                        for i in range(lo, lo + k):
                            r = ret[i]
                            for jj in range(jl):
                                d = r[jj] - mean[jj]
                                acc[jj] += d * d
                        o = out[b, t, j0:j0 + jl]
                        for jj in range(jl):
                            o[jj] = np.sqrt(acc[jj] / (k - 1)) if k > 1 else np.nan
                        t += 1
        return out

    return term_values, crps_sorted, vol_values
