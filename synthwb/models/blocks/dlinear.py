"""DLinear (Zeng et al. 2023, "Are Transformers Effective for Time Series Forecasting?").

The series is split into a trend (edge-padded moving average) and a seasonal remainder;
each part gets its own linear map **along the time axis** (T -> T, shared across channels,
as in the paper's default), and the two are summed. Weights start as the paper's uniform
average (1/T). With ``residual`` the block adds its input back, so stacking it is safe.
Every output step mixes the whole window, so the block is not causal.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.blocks.decomp import SeriesDecomp
from synthwb.models.registry import BLOCKS


@BLOCKS.register(
    "dlinear", category="decomposition",
    params=[
        Param("kernel", int, 25, low=2, high=501, help="moving-average window of the trend"),
        Param("individual", bool, False, help="a separate time map per channel (d_model x T x T weights)"),
        Param("residual", bool, True, help="add the block's input to its output"),
    ],
    keeps_time=True, min_len=2, causal=False,
)
class DLinear(nn.Module):
    """DLinear: moving-average decomposition + linear maps along time for trend and seasonal parts."""

    def __init__(self, d_model: int, seq_len: int, kernel: int = 25, individual: bool = False, residual: bool = True):
        super().__init__()
        self.decomp = SeriesDecomp(kernel)
        self.individual = individual
        self.residual = residual
        shape = (d_model, seq_len, seq_len) if individual else (seq_len, seq_len)
        self.w_seasonal = nn.Parameter(torch.full(shape, 1.0 / seq_len))
        self.w_trend = nn.Parameter(torch.full(shape, 1.0 / seq_len))
        self.b_seasonal = nn.Parameter(torch.zeros(seq_len))
        self.b_trend = nn.Parameter(torch.zeros(seq_len))

    def _time_map(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        # x: (B, T, C); out[b, t, c] = sum_s w[t, s] x[b, s, c] + b[t]  (w[c, t, s] if individual)
        if self.individual:
            out = torch.einsum("cts,bsc->btc", w, x)
        else:
            out = torch.einsum("ts,bsc->btc", w, x)          # one (T, T) @ (T, B*C) matmul
        return out + b[None, :, None]

    def forward(self, x: Tensor) -> Tensor:
        seasonal, trend = self.decomp(x)
        out = self._time_map(seasonal, self.w_seasonal, self.b_seasonal) + self._time_map(trend, self.w_trend, self.b_trend)
        return x + out if self.residual else out
