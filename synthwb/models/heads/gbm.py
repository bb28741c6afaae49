"""GBM head: one drift and one volatility per sample, geometric Brownian paths.

The backbone output is pooled (last step and mean over time), a small MLP gives
(drift, vol) per sample, and paths are log P_t = log P_0 + sum_{s<=t} (drift + vol * eps_s),
eps ~ N(0, 1) i.i.d.: constant-parameter GBM in log space. Reparameterised: gradients reach
drift and vol through every path.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, mlp, pool
from synthwb.models.registry import HEADS
from synthwb.models.simulate import DRIFT_VOL_RATIO, bounded_drift, bounded_vol, gaussian_logret


@HEADS.register(
    "gbm", category="gaussian",
    params=[INIT_VOL, Param("hidden", int, 64, low=4, high=2048)],
    min_horizon=1,
)
class GBMHead(nn.Module):
    """GBM: one drift and volatility per sample; constant-parameter geometric Brownian paths."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, hidden: int = 64):
        super().__init__()
        self.horizon, self.init_vol = horizon, init_vol
        self.net = mlp(2 * d_model, hidden, 2)

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        raw = self.net(pool(h))                                           # (B, 2)
        drift = bounded_drift(raw[:, 0], DRIFT_VOL_RATIO * self.init_vol)
        vol = bounded_vol(raw[:, 1], self.init_vol)
        drift_h = drift[:, None].expand(-1, self.horizon)
        vol_h = vol[:, None].expand(-1, self.horizon)
        return HeadOutput(gaussian_logret(drift_h, vol_h, n_paths, generator), {"drift": drift_h, "vol": vol_h})
