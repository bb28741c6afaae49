"""Path simulation in log-return space, shared by every head.

Conventions (../shared/DESIGN.md §4):

- a head produces ``logret`` of shape (B, n_paths, H): the cumulative log return from t0 to
  each of the H future steps (step 1..H);
- :func:`to_prices` turns it into prices ``last_close * exp(logret)`` with t0 prepended as
  column 0, copied from ``last_close`` so it is exact;
- "drift" is the per-step mean of the log return and "vol" its per-step standard deviation.

Everything is reparameterised: random numbers are drawn from a ``torch.Generator`` (so a
seed reproduces the paths) and the parameters enter by differentiable arithmetic, so a
CRPS on the paths back-propagates to the network. Overflow guards keep parameters in sane
ranges smoothly (``tanh``-bounded) and clamp the cumulative log return at
``±MAX_LOGRET`` so that even absurd inputs give finite, strictly positive prices in float32.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar

import torch
from torch import Tensor

MAX_LOGRET = 20.0        # |cumulative log return| cap: exp(20) ~ 4.9e8, safe in float32 for any price
VOL_RANGE = 6.0          # a head's vol lives in init_vol * [e^-6, e^6]
DRIFT_VOL_RATIO = 3.0    # |drift| per step < DRIFT_VOL_RATIO * init_vol (bounded smoothly)


def bounded_vol(raw: Tensor, init_vol: float) -> Tensor:
    """Map an unconstrained tensor to a positive vol; raw=0 gives ``init_vol``; smooth and bounded."""
    return init_vol * torch.exp(VOL_RANGE * torch.tanh(raw / VOL_RANGE))


def bounded_drift(raw: Tensor, scale: float) -> Tensor:
    """Map an unconstrained tensor to a drift in (-scale, scale); raw=0 gives 0."""
    return scale * torch.tanh(raw)


#: (rank, world size) while a data-parallel training step runs (see :func:`noise_shard`)
_NOISE_SHARD: ContextVar[tuple[int, int] | None] = ContextVar("synthwb_noise_shard", default=None)


@contextlib.contextmanager
def noise_shard(rank: int, world_size: int) -> Iterator[None]:
    """Draw noise as the global batch would: inside, every :func:`normal` / :func:`uniform`
    draw of ``(B, ...)`` draws ``(world_size * B, ...)`` from the generator and keeps rows
    ``rank * B .. (rank + 1) * B``. With every rank's generator seeded alike and rank ``r``
    holding rows ``r * B ..`` of the global batch, a data-parallel step sees exactly the noise
    a single process sees for the whole batch, so N processes x batch B train the same model
    as 1 process x batch N*B (heads that reseed a sampler through :func:`sub_generator_seed`
    get a per-rank seed instead: the same distribution, not the same draws)."""
    token = _NOISE_SHARD.set((int(rank), int(world_size)) if world_size > 1 else None)
    try:
        yield
    finally:
        _NOISE_SHARD.reset(token)


def _draw(fn, shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    shard = _NOISE_SHARD.get()
    if shard is None or not shape:
        return fn(shape, generator=generator, device=like.device, dtype=like.dtype)
    rank, world = shard
    b = int(shape[0])
    full = fn((b * world, *shape[1:]), generator=generator, device=like.device, dtype=like.dtype)
    return full[rank * b:(rank + 1) * b]


def normal(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise on ``like``'s device/dtype from ``generator``."""
    return _draw(torch.randn, shape, like, generator)


def uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None, eps: float = 1e-6) -> Tensor:
    return _draw(torch.rand, shape, like, generator).clamp(eps, 1 - eps)


def gaussian_logret(drift: Tensor, vol: Tensor, n_paths: int, generator: torch.Generator | None) -> Tensor:
    """Time-varying GBM in log space: cumsum over steps of ``drift + vol * eps``.

    drift, vol: (B, H) -> (B, n_paths, H) cumulative log returns.
    """
    B, H = drift.shape
    eps = normal((B, n_paths, H), drift, generator)
    return torch.cumsum(drift[:, None, :] + vol[:, None, :] * eps, dim=-1)


def sub_generator_seed(generator: torch.Generator | None) -> int:
    """A seed drawn from ``generator`` (for samplers that take no generator, e.g. Gamma.rsample)."""
    device = generator.device if generator is not None else "cpu"
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    shard = _NOISE_SHARD.get()
    return seed if shard is None else (seed + 1_000_003 * shard[0]) % 2**62


def to_prices(last_close: Tensor, logret: Tensor) -> Tensor:
    """(B,) prices and (B, N, H) cumulative log returns -> (B, N, H+1) prices, column 0 == last_close.

    The result has last_close's floating dtype (at least float32); the cumulative log return
    is clamped to ±MAX_LOGRET so every price is finite and strictly positive.
    """
    dtype = last_close.dtype if last_close.is_floating_point() else torch.float32
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    lc = last_close.to(dtype)
    lr = torch.clamp(logret.to(dtype), -MAX_LOGRET, MAX_LOGRET)
    lr = torch.nan_to_num(lr, nan=0.0)
    B, N, _ = lr.shape
    start = lc[:, None, None].expand(B, N, 1)
    return torch.cat([start, lc[:, None, None] * torch.exp(lr)], dim=-1)


def sinusoidal(n: int, d: int, device=None, dtype=torch.float32) -> Tensor:
    """Classic sine/cosine position table (n, d)."""
    pos = torch.arange(n, device=device, dtype=dtype)[:, None]
    i = torch.arange(0, d, 2, device=device, dtype=dtype)
    div = torch.exp(-math.log(10000.0) * i / max(d, 1))
    pe = torch.zeros(n, d, device=device, dtype=dtype)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: pe[:, 1::2].shape[1]])
    return pe
