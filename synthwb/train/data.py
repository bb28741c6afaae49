"""Windows as torch data: a map-style Dataset plus a fast in-memory batch iterator.

The feature set yields ``Windows`` (x ``(N, context, F)`` float32, last_close ``(N,)``,
future ``(N, H+1)`` prices incl. t0, origin_ts). Windows whose inputs or realised future are
not finite are left out (by index), so the loop never sees them. Batches are gathered with one
fancy-index per tensor (no per-item collate), which keeps data loading a small share of a
step; with ``num_workers > 0`` the same batches come through a torch DataLoader.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler

from synthwb.core.errors import DataError


@dataclass
class Batch:
    x: torch.Tensor  # (B, context, F) float32
    last_close: torch.Tensor  # (B,)
    future: torch.Tensor  # (B, H+1)
    past: torch.Tensor | None = None  # (B, context) raw log returns (NaN = gap): the anchor's input
    t0: torch.Tensor | None = None  # (B,) float64 epoch seconds of t0
    past_range: torch.Tensor | None = None  # (B, context) log(high / low) of the context bars
    anchor_x: torch.Tensor | None = None  # (B, K) classical variance forecasts at the origin (har anchor)

    def to(self, device: torch.device, non_blocking: bool = False) -> Batch:
        mv = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch(mv(self.x), mv(self.last_close), mv(self.future), mv(self.past), mv(self.t0),
                     mv(self.past_range), mv(self.anchor_x))

    @property
    def anchor(self) -> dict:
        """The keyword arguments of ``PathModel.forward`` that feed the anchor."""
        return {"past": self.past, "t0": self.t0, "past_range": self.past_range, "anchor_x": self.anchor_x}


def _as_tensor(a, dtype=torch.float32) -> torch.Tensor:
    """A tensor sharing memory with ``a`` where possible (a strided window view stays a view)."""
    if torch.is_tensor(a):
        return a.to(dtype)
    arr = np.asarray(a)
    if arr.dtype != np.dtype("float32") and dtype == torch.float32:
        arr = arr.astype(np.float32)
    if any(s < 0 for s in arr.strides):
        arr = np.ascontiguousarray(arr)
    with warnings.catch_warnings():  # read-only views are never written through here
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


def _finite_rows(x: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Per-window 'all finite' without materialising all windows at once."""
    out = torch.empty(x.shape[0], dtype=torch.bool)
    for i in range(0, x.shape[0], chunk):
        out[i:i + chunk] = torch.isfinite(x[i:i + chunk]).flatten(1).all(1)
    return out


class WindowDataset(Dataset):
    """Map-style dataset over a ``Windows`` object; ``ds[i]`` or ``ds[[i, j, ...]]`` -> Batch.

    ``x`` may be a strided sliding-window view (N, context, F) over the feature matrix: it is
    never copied as a whole; each batch gathers its windows with one index operation.
    """

    def __init__(self, windows, name: str = "windows"):
        x = _as_tensor(windows.x)
        lc = _as_tensor(windows.last_close)
        fut = _as_tensor(windows.future)
        if x.dim() != 3 or lc.dim() != 1 or fut.dim() != 2 or not (len(x) == len(lc) == len(fut)):
            raise DataError(f"{name}: unexpected window shapes x{tuple(x.shape)}, "
                            f"last_close{tuple(lc.shape)}, future{tuple(fut.shape)}")
        ok = _finite_rows(x) & torch.isfinite(lc) & (lc > 0) & torch.isfinite(fut).all(1) & (fut > 0).all(1)
        self.dropped = int((~ok).sum())
        self.x, self.last_close, self.future = x, lc, fut
        self.past = None if windows.past is None else _as_tensor(windows.past)
        self.t0 = None if windows.t0_s is None else _as_tensor(windows.t0_s, torch.float64)
        self.past_range = None if windows.past_range is None else _as_tensor(windows.past_range)
        self.anchor_x = None if windows.anchor_x is None else _as_tensor(windows.anchor_x)
        self.index = ok.nonzero().squeeze(1)
        self.name = name

    def limit(self, n_max: int) -> WindowDataset:
        """Keep at most ``n_max`` windows, evenly spread (cheap validation)."""
        if len(self) > n_max:
            pick = torch.linspace(0, len(self) - 1, n_max).round().long().unique()
            self.index = self.index[pick]
        return self

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def context(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[2])

    @property
    def horizon(self) -> int:
        return int(self.future.shape[1]) - 1

    def __getitem__(self, idx) -> Batch:
        if isinstance(idx, (list, tuple, np.ndarray)):
            idx = torch.as_tensor(idx, dtype=torch.long)
        rows = self.index[idx]
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return Batch(self.x[rows], self.last_close[rows], self.future[rows], pick(self.past), pick(self.t0),
                     pick(self.past_range), pick(self.anchor_x))

    __getitems__ = __getitem__

    def batches(self, batch_size: int, order: torch.Tensor | None = None, start: int = 0,
                num_workers: int = 0, pin_memory: bool = False) -> Iterator[Batch]:
        """Batches over ``order`` (a permutation; default sequential), skipping the first
        ``start`` batches (resume mid-epoch). The last partial batch is kept."""
        order = torch.arange(len(self)) if order is None else order
        order = order[start * batch_size:]
        if num_workers <= 0:
            for i in range(0, len(order), batch_size):
                yield self[order[i:i + batch_size]]
            return
        sampler = BatchSampler(_IndexSampler(order), batch_size=batch_size, drop_last=False)
        loader = DataLoader(self, sampler=sampler, batch_size=None, num_workers=num_workers,
                            pin_memory=pin_memory, collate_fn=_identity, persistent_workers=False)
        yield from loader

    def n_batches(self, batch_size: int) -> int:
        return (len(self) + batch_size - 1) // batch_size


class _IndexSampler(SequentialSampler):
    def __init__(self, order: torch.Tensor):
        self.order = order.tolist()

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def _identity(b):
    return b


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch ``epoch``: a pure function of (seed, epoch), so a resumed
    run replays exactly the batches it would have seen."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch) * 7919) % (2**63 - 1))
    return torch.randperm(n, generator=g)


def ending_by(ds: WindowDataset, t_end_s: float, horizon_s: float) -> WindowDataset:
    """Keep the windows of ``ds`` whose whole future (``horizon_s`` after t0) ends at or before
    ``t_end_s`` (epoch seconds)."""
    if ds.t0 is None:
        raise DataError(f"{ds.name}: the windows carry no origin times, so they cannot be cut at a date")
    keep = ds.t0[ds.index] + float(horizon_s) <= float(t_end_s)
    ds.index = ds.index[keep]
    return ds


def future_end(ds: WindowDataset, horizon_s: float) -> float:
    """Epoch seconds at which the last future of ``ds`` ends (the latest bar it learns from)."""
    if ds.t0 is None or len(ds) == 0:
        raise DataError(f"{ds.name}: no windows with origin times")
    return float(ds.t0[ds.index].max()) + float(horizon_s)


class PooledWindows(WindowDataset):
    """Several window sets as one training set (pooled training over symbols): the primary
    run's windows first, then each pooled feature set's. Each member keeps its own scaling (the
    feature set's scaler, fitted on its own series), so assets of different price and volatility
    levels meet the network on one scale. A batch gathers from every member it touches, in the
    order asked."""

    def __init__(self, members: list[WindowDataset], names: list[str]):
        if not members:
            raise DataError("nothing to pool")
        shapes = {(m.context, m.n_features, m.horizon) for m in members}
        if len(shapes) > 1:
            raise DataError(f"pooled window sets differ in (context, features, horizon): {sorted(shapes)}")
        has = {tuple(getattr(m, a) is None for a in ("past", "t0", "past_range", "anchor_x")) for m in members}
        if len(has) > 1:
            raise DataError("pooled window sets differ in the anchor inputs they carry; build them with one spec")
        self.members, self.names = members, list(names)
        self.sizes = [len(m) for m in members]
        self.offsets = torch.tensor([0, *np.cumsum(self.sizes).tolist()], dtype=torch.long)
        self.x, self.future, self.t0 = members[0].x, members[0].future, None
        self.dropped = sum(m.dropped for m in members)
        self.index = torch.arange(int(self.offsets[-1]))
        self.name = "pooled training windows"

    def __getitem__(self, idx) -> Batch:
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        rows = self.index[idx]
        member = torch.searchsorted(self.offsets[1:], rows, right=True)
        parts, where = [], []
        for k in member.unique().tolist():
            sel = (member == k).nonzero().squeeze(1)
            parts.append(self.members[k][rows[sel] - self.offsets[k]])
            where.append(sel)
        perm = torch.cat(where)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(len(perm))

        def cat(field: str):
            ts = [getattr(p, field) for p in parts]
            return None if ts[0] is None else torch.cat(ts)[inv]
        return Batch(cat("x"), cat("last_close"), cat("future"), cat("past"), cat("t0"), cat("past_range"),
                     cat("anchor_x"))

    __getitems__ = __getitem__
