"""TimesNet block (Wu et al. 2023, "TimesNet: Temporal 2D-Variation Modeling").

1. FFT over time; the ``top_k`` frequencies with the largest batch-mean amplitude (DC
   excluded) give periods p = T // f.
2. For each period the sequence is end-padded to a multiple of p and reshaped to a 2D
   tensor (B, C, T/p, p): rows are cycles, columns phase within a cycle.
3. An inception block (parallel 2D convolutions with kernels 1, 3, 5, ... averaged), GELU,
   and a second inception block process it; it is reshaped back and cut to T.
4. The k results are aggregated with softmax weights from each sample's amplitudes at the
   chosen frequencies, and the input is added back (residual).

All samples are processed together (one conv call per distinct period); only the periods loop
(at most top_k; two frequencies with the same period share one computation).
Not causal: the FFT and the 2D convolutions see the whole window.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


class Inception2d(nn.Module):
    """Mean of 2D convolutions with odd kernels 1, 3, ..., 2*num_kernels-1 ('same' padding).

    As in TimesNet's Inception_Block_V1 each kernel has its own weights, but since every conv
    is centred with 'same' zero padding, the mean of the convolutions equals ONE convolution
    with the mean of the kernels zero-padded to the largest size. The forward pass runs that
    single conv (fewer taps, no stacking of k outputs); gradients reach every kernel.
    """

    def __init__(self, c_in: int, c_out: int, num_kernels: int):
        super().__init__()
        self.k = 2 * num_kernels - 1
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i in range(num_kernels):
            w = torch.empty(c_out, c_in, 2 * i + 1, 2 * i + 1)
            nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(c_out)))

    def merged(self) -> tuple[Tensor, Tensor]:
        K = self.k
        w = sum(nn.functional.pad(wi, [(K - wi.shape[-1]) // 2] * 4) for wi in self.weights) / len(self.weights)
        b = sum(self.biases) / len(self.biases)
        return w, b

    def forward(self, x: Tensor) -> Tensor:
        w, b = self.merged()
        return nn.functional.conv2d(x, w, b, padding=self.k // 2)


def fft_periods(x: Tensor, k: int) -> tuple[list[int], Tensor]:
    """Top-k periods of (B, T, C) by batch-mean amplitude, and per-sample weights (B, k)."""
    T = x.shape[1]
    amp = torch.fft.rfft(x.float(), dim=1).abs()             # (B, T//2+1, C)
    freq_amp = amp.detach().mean(0).mean(-1)                 # (T//2+1,)
    freq_amp[0] = 0.0                                        # ignore the DC component
    k = min(k, freq_amp.numel() - 1)
    top = torch.topk(freq_amp.detach(), k).indices.clamp(min=1)
    periods = [max(1, T // int(f)) for f in top.tolist()]
    return periods, amp.mean(-1)[:, top].to(x.dtype)         # (B, k)


@BLOCKS.register(
    "timesnet", category="convolution",
    params=[
        Param("top_k", int, 3, low=1, high=8, help="number of dominant periods"),
        Param("num_kernels", int, 3, low=1, high=6, help="inception kernels 1,3,5,... (cost grows fast)"),
        Param("d_ff", int, 0, low=0, high=1024, help="inception hidden width (0 = d_model)"),
    ],
    keeps_time=True, min_len=4, causal=False,
)
class TimesNet(nn.Module):
    """TimesNet: FFT top-k periods, 2D reshape per period, inception convs, amplitude-weighted sum, residual."""

    def __init__(self, d_model: int, seq_len: int, top_k: int = 3, num_kernels: int = 3, d_ff: int = 0):
        super().__init__()
        d_ff = d_ff or d_model
        self.k = top_k
        self.conv = nn.Sequential(Inception2d(d_model, d_ff, num_kernels), nn.GELU(), Inception2d(d_ff, d_model, num_kernels))

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        periods, weights = fft_periods(x, self.k)
        done: dict[int, torch.Tensor] = {}                   # two frequencies can share a period
        outs = []
        for p in periods:
            if p not in done:
                length = -(-T // p) * p                      # ceil to a multiple of p
                xp = torch.cat([x, x.new_zeros(B, length - T, C)], dim=1) if length > T else x
                grid = xp.reshape(B, length // p, p, C).permute(0, 3, 1, 2)      # (B, C, cycles, p)
                done[p] = self.conv(grid).permute(0, 2, 3, 1).reshape(B, length, C)[:, :T]
            outs.append(done[p])
        stacked = torch.stack(outs, dim=-1)                  # (B, T, C, k)
        w = torch.softmax(weights, dim=1)[:, None, None, :]  # (B, 1, 1, k)
        return x + (stacked * w).sum(-1)
