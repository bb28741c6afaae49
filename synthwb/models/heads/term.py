"""Term-structure head: a few bounded corrections of the anchor, light enough to train on a CPU.

From the pooled backbone output a small MLP gives four numbers per sample:

- ``a``: the log-vol level at the first step, bounded to ±1.5 (x0.22 .. x4.5 of the anchor);
- ``b``: the log-vol level the horizon reverts to, bounded to ±1.5 (volatility mean-reverts:
  after a calm context vol tends to rise along the horizon, after a storm to fall);
- ``c``: the speed of that reversion, ``tau = H / 4 * exp(2 tanh(c / 2))`` steps;
- ``d``: a drift, bounded so that the cumulative drift at the horizon stays within a quarter
  of the path's standard deviation there (``|drift| < 0.25 * vol / sqrt(H)`` per step);
- ``e``: the tail weight ``h`` of Tukey's h-transform of the innovations,
  ``eps = z * exp(h z^2 / 2) * (1 - 2h)^(3/4)`` with ``z ~ N(0, 1)``: unit variance for every
  ``h``, Gaussian at ``h = 0``, heavier tails as ``h`` grows (bounded to [-0.03, 0.2]; the
  transform is pathwise differentiable, so the tails are learned from the first step);
- ``f``: the dispersion ``k`` of a per-path vol level, ``vol_p = vol * exp(k u_p - k^2)`` with
  ``u_p ~ N(0, 1)`` per path (mean-square vol unchanged): a forecast's uncertainty about the
  coming volatility, which fattens the tails of multi-hour returns (tails of single steps come
  from ``h``). Every variance-preserving scale mixture has a zero gradient at ``k = 0`` (the
  Gaussian is a stationary point), so ``k`` starts at 0.1: the untrained model then matches
  its Gaussian baseline to within a fraction of a percent instead of exactly.

- ``g`` (with ``vol_path``): the per-path vol level wanders along the horizon instead of staying
  put: ``u_p`` becomes a unit-variance AR(1) over the steps, ``u_{p,t} = phi u_{p,t-1} +
  sqrt(1 - phi^2) e_{p,t}`` with ``phi = exp(-1 / tau_v)`` and ``tau_v = H exp(4 tanh(g / 4))``
  steps (H untrained; 0.018 H .. 55 H). Each step's vol keeps the dispersion ``k``, but a long
  horizon averages over several vol levels: volatility of volatility with its own time scale,
  as the demo's fast component (half-life 30 minutes) and real intraday vol have.

``log vol_t = log init_vol + a + (b - a) * (1 - exp(-t / tau))``; paths are increments
``drift + vol_t * eps``. With the zero-initialised last layer every correction is 0 and an
anchored model is exactly GBM with EWMA volatility (:mod:`synthwb.models.anchor`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, mlp, pool
from synthwb.models.registry import HEADS
from synthwb.models.simulate import normal, sim_dtype

LOG_VOL_BOUND = 1.5
DRIFT_SD_SHARE = 0.25
VOL_DISP_MAX, VOL_DISP_INIT = 1.0, 0.1
VOL_DISP_BIAS = math.log(VOL_DISP_INIT / (VOL_DISP_MAX - VOL_DISP_INIT))   # sigmoid(bias) * max = init
TAIL_MAX, TAIL_MIN = 0.2, 0.03   # Tukey h in [-TAIL_MIN, TAIL_MAX] (kurtosis 3 .. about 30)


def _bounded(raw: Tensor, bound: float) -> Tensor:
    return bound * torch.tanh(raw / bound)


@HEADS.register(
    "term", category="gaussian",
    params=[INIT_VOL, Param("hidden", int, 32, low=4, high=2048),
            Param("vol_path", bool, False, help="the per-path vol level wanders along the horizon (an AR(1) with a "
                                                 "learned time scale) instead of one level per path")],
    min_horizon=1,
    help="vol level + mean-reverting term structure + small drift: bounded corrections of the anchor",
)
class TermHead(nn.Module):
    """Term structure: start and long-run vol level, reversion speed and a small drift per sample."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, hidden: int = 32,
                 vol_path: bool = False):
        super().__init__()
        self.horizon, self.init_vol, self.vol_path = horizon, init_vol, bool(vol_path)
        self.net = mlp(2 * d_model, hidden, 7 if vol_path else 6)
        self.register_buffer("t", torch.arange(1, horizon + 1, dtype=torch.float32), persistent=False)

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        raw = self.net(pool(h))                                                    # (B, 4)
        a = _bounded(raw[:, 0], LOG_VOL_BOUND)
        b = _bounded(raw[:, 1], LOG_VOL_BOUND)
        tau = self.horizon / 4.0 * torch.exp(_bounded(raw[:, 2], 2.0))
        t = self.t.to(sim_dtype(h.dtype))
        w = 1.0 - torch.exp(-t[None, :] / tau[:, None])                            # (B, H)
        vol = self.init_vol * torch.exp(a[:, None] + (b - a)[:, None] * w)
        drift = DRIFT_SD_SHARE * vol / math.sqrt(self.horizon) * torch.tanh(raw[:, 3])[:, None]
        h_tail = torch.where(raw[:, 4] >= 0, TAIL_MAX * torch.tanh(raw[:, 4]), TAIL_MIN * torch.tanh(raw[:, 4]))
        k = VOL_DISP_MAX * torch.sigmoid(raw[:, 5] + VOL_DISP_BIAS)                    # (B,), 0.1 untrained
        B, H = vol.shape
        z = normal((B, n_paths, H), vol, generator)
        hh = h_tail[:, None, None]
        eps = z * torch.exp(hh * z.square() / 2) * (1 - 2 * hh) ** 0.75
        extras = {"drift": drift, "vol": vol, "tail": h_tail, "vol_dispersion": k}
        if self.vol_path:
            tau_v = self.horizon * torch.exp(_bounded(raw[:, 6], 4.0)).to(t.dtype)
            u = ar1_paths(torch.exp(-1.0 / tau_v), normal((B, n_paths, H), vol, generator))    # (B, N, H)
            m = torch.exp(k[:, None, None] * u - k[:, None, None].square())
            extras["vol_time_scale"] = tau_v
        else:
            u = normal((B, n_paths), vol, generator)
            m = torch.exp(k[:, None] * u - k[:, None].square())[:, :, None]              # (B, N, 1), E[m^2] = 1
        logret = torch.cumsum(drift[:, None, :] + vol[:, None, :] * m * eps, dim=-1)
        return HeadOutput(logret, extras)


def ar1_paths(phi: Tensor, e: Tensor) -> Tensor:
    """Unit-variance AR(1) paths from standard normal ``e`` (B, N, H) with persistence ``phi`` (B,):
    ``u_1 = e_1``, ``u_t = phi u_{t-1} + sqrt(1 - phi^2) e_t``, as one matrix product (differentiable
    in ``phi``): ``u_t = sum_s phi^(t-s) c_s e_s`` with ``c_1 = 1`` and ``c_s = sqrt(1 - phi^2)``."""
    H = e.shape[-1]
    idx = torch.arange(H, device=e.device, dtype=e.dtype)
    lag = (idx[:, None] - idx[None, :]).clamp(min=0)                                    # (H, H)
    low = idx[:, None] >= idx[None, :]
    c = torch.sqrt((1 - phi.square()).clamp(min=1e-12))
    coef = torch.where(idx[None, :] == 0, torch.ones_like(c)[:, None], c[:, None])    # (B, H) per source step
    L = torch.where(low, phi[:, None, None] ** lag, torch.zeros((), dtype=e.dtype, device=e.device)) * coef[:, None, :]
    return torch.einsum("bts,bns->bnt", L, e)
