"""Dilated causal temporal convolution network (Bai et al. 2018, "An Empirical Evaluation of
Generic Convolutional and Recurrent Networks").

``levels`` residual blocks, each two 1D convolutions with dilation 2^level, left-padded by
(kernel-1)*dilation so step t only sees steps <= t (causal), GELU and dropout in between.
Receptive field: 1 + 2 * (kernel - 1) * (2^levels - 1).
"""
from __future__ import annotations

from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


class CausalConv1d(nn.Conv1d):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int):
        super().__init__(c_in, c_out, kernel, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:                 # x: (B, C, T)
        return super().forward(nn.functional.pad(x, (self.left, 0)))


class TemporalBlock(nn.Module):
    def __init__(self, d: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(CausalConv1d(d, d, kernel, dilation), nn.GELU(), nn.Dropout(dropout),
                                 CausalConv1d(d, d, kernel, dilation), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


@BLOCKS.register(
    "tcn", category="convolution",
    params=[
        Param("levels", int, 4, low=1, high=12, help="residual blocks, dilation 1, 2, 4, ..."),
        Param("kernel", int, 3, low=2, high=15),
        Param("dropout", float, 0.0, low=0.0, high=0.9),
    ],
    keeps_time=True, min_len=1, causal=True,
)
class TCN(nn.Module):
    """Dilated causal TCN: residual blocks of left-padded dilated 1D convolutions."""

    def __init__(self, d_model: int, seq_len: int, levels: int = 4, kernel: int = 3, dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.Sequential(*(TemporalBlock(d_model, kernel, 2 ** i, dropout) for i in range(levels)))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)
