"""TimeMixer block (Wang et al. 2024, "TimeMixer: Decomposable Multiscale Mixing").

Past-Decomposable-Mixing over several scales:

1. multi-scale down-sampling: the input at scale 0 and average-pooled copies at scales
   1..L (window ``down_window``);
2. each scale is decomposed into seasonal and trend parts (edge-padded moving average);
3. **bottom-up seasonal mixing**: fine scales feed coarse ones (seasonal_{i+1} +=
   MLP_time(seasonal_i), T_i -> T_{i+1});
4. **top-down trend mixing**: coarse scales feed fine ones (trend_i += MLP_time(trend_{i+1}));
5. each scale recombines seasonal + trend through a channel MLP and adds its input back;
6. as a block must return (B, T, d_model), the scales are mapped back to T with linear
   maps along time and summed (as TimeMixer's multi-predictor mixing sums the scales'
   predictions), and the input is added (residual).

Not causal (moving averages, pooling and time maps see the whole window).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.blocks.decomp import SeriesDecomp
from synthwb.models.registry import BLOCKS


def _scale_lengths(seq_len: int, layers: int, window: int) -> list[int]:
    out = [seq_len]
    for _ in range(layers):
        out.append(out[-1] // window)
    return out


class TimeLinear(nn.Module):
    """A linear map along the time axis of (B, T_in, C) -> (B, T_out, C) (no transposes)."""

    def __init__(self, t_in: int, t_out: int):
        super().__init__()
        lin = nn.Linear(t_in, t_out)                        # borrow nn.Linear's initialisation
        self.weight = nn.Parameter(lin.weight.detach().clone())
        self.bias = nn.Parameter(lin.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("ts,bsc->btc", self.weight, x) + self.bias[:, None]


def _time_mlp(t_in: int, t_out: int) -> nn.Module:
    return nn.Sequential(TimeLinear(t_in, t_out), nn.GELU(), TimeLinear(t_out, t_out))


@BLOCKS.register(
    "timemixer", category="decomposition",
    params=[
        Param("layers", int, 2, low=1, high=5, help="number of down-sampled scales"),
        Param("down_window", int, 2, low=2, high=8, help="pooling window between scales"),
        Param("kernel", int, 25, low=2, high=501, help="moving-average window of the decomposition"),
        Param("d_ff", int, 0, low=0, high=1024, help="channel MLP width (0 = 2 * d_model)"),
    ],
    keeps_time=True, min_len=8, causal=False,
    min_len_fn=lambda p: 2 * p["down_window"] ** p["layers"],
)
class TimeMixer(nn.Module):
    """TimeMixer: multi-scale decomposition with bottom-up seasonal and top-down trend mixing, residual."""

    def __init__(self, d_model: int, seq_len: int, layers: int = 2, down_window: int = 2, kernel: int = 25, d_ff: int = 0):
        super().__init__()
        d_ff = d_ff or 2 * d_model
        self.lens = _scale_lengths(seq_len, layers, down_window)
        self.pool = nn.AvgPool1d(down_window, down_window)
        self.decomp = SeriesDecomp(kernel)
        self.season_up = nn.ModuleList(_time_mlp(self.lens[i], self.lens[i + 1]) for i in range(layers))
        self.trend_down = nn.ModuleList(_time_mlp(self.lens[i + 1], self.lens[i]) for i in range(layers))
        self.cross = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.back = nn.ModuleList(TimeLinear(t, seq_len) for t in self.lens)
        for lin in self.back:
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        scales = [x]
        for _ in range(len(self.lens) - 1):
            scales.append(self.pool(scales[-1].transpose(1, 2)).transpose(1, 2))
        parts = [self.decomp(s) for s in scales]
        season = [p[0] for p in parts]
        trend = [p[1] for p in parts]
        # bottom-up seasonal mixing (fine -> coarse); time maps act along axis 1 of (B, T, C)
        mixed_s = [season[0]]
        for i, mlp in enumerate(self.season_up):
            mixed_s.append(season[i + 1] + mlp(mixed_s[i]))
        # top-down trend mixing (coarse -> fine)
        mixed_t = [None] * len(trend)
        mixed_t[-1] = trend[-1]
        for i in range(len(trend) - 2, -1, -1):
            mixed_t[i] = trend[i] + self.trend_down[i](mixed_t[i + 1])
        out = 0.0
        for s, (src, ms, mt) in enumerate(zip(scales, mixed_s, mixed_t)):
            y = src + self.cross(ms + mt)                    # per-scale output with residual
            out = out + self.back[s](y) / len(scales)
        return x + out
