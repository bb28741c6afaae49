"""Horizon head: a drift and a volatility for every horizon step, time-varying GBM paths.

Learned horizon queries cross-attend to the whole backbone sequence
(:class:`~synthwb.models.heads.base.HorizonDecoder`); a shared MLP maps each step's vector
to (drift_t, vol_t); paths are log P_t = log P_0 + sum_{s<=t} (drift_s + vol_s * eps_s).
This lets the forecast's spread follow intraday seasonality or decaying shocks along the
horizon. Stable at horizon 288: attention is normalised over the input, parameters are
bounded smoothly, and the last layer starts tiny (every step starts near init_vol).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, HorizonDecoder, mlp
from synthwb.models.registry import HEADS
from synthwb.models.simulate import DRIFT_VOL_RATIO, bounded_drift, bounded_vol, gaussian_logret


@HEADS.register(
    "horizon", category="gaussian",
    params=[INIT_VOL, Param("n_heads", int, 4, low=1, high=32, help="attention heads (must divide d_model)"),
            Param("hidden", int, 64, low=4, high=2048), Param("dropout", float, 0.0, low=0.0, high=0.9)],
    min_horizon=1,
)
class HorizonHead(nn.Module):
    """Horizon: learned horizon queries cross-attend to the backbone; drift and vol per horizon step."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, n_heads: int = 4,
                 hidden: int = 64, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.init_vol = init_vol
        self.decoder = HorizonDecoder(d_model, horizon, n_heads, dropout)
        self.net = mlp(d_model, hidden, 2)

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        raw = self.net(self.decoder(h))                                   # (B, H, 2)
        drift = bounded_drift(raw[..., 0], DRIFT_VOL_RATIO * self.init_vol)
        vol = bounded_vol(raw[..., 1], self.init_vol)
        return HeadOutput(gaussian_logret(drift, vol, n_paths, generator), {"drift": drift, "vol": vol})
