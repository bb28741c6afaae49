"""Series decomposition shared by DLinear and TimeMixer (Autoformer / DLinear style).

The trend is a moving average over time with the series edge-padded (the first and last
values repeated) so the trend has the input's length; the seasonal part is the remainder.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class MovingAvg(nn.Module):
    """Edge-padded moving average along time of a (B, T, C) tensor."""

    def __init__(self, kernel: int):
        super().__init__()
        self.kernel = int(kernel)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel
        front = x[:, :1, :].expand(-1, (k - 1) // 2, -1)
        end = x[:, -1:, :].expand(-1, k // 2, -1)
        padded = torch.cat([front, x, end], dim=1)                 # (B, T + k - 1, C)
        return nn.functional.avg_pool1d(padded.transpose(1, 2), k, stride=1).transpose(1, 2)


class SeriesDecomp(nn.Module):
    """x -> (seasonal, trend) with trend = edge-padded moving average."""

    def __init__(self, kernel: int):
        super().__init__()
        self.avg = MovingAvg(kernel)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        trend = self.avg(x)
        return x - trend, trend
