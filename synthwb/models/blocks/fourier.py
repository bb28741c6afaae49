"""Fourier frequency mixing (FEDformer's Frequency Enhanced Block, Zhou et al. 2022).

rFFT over time, keep ``modes`` frequencies (the lowest, or a fixed random subset drawn at
construction like FEDformer's 'random' mode selection), multiply each kept frequency by a
learned complex (head_dim x head_dim) matrix per head, zero the rest, inverse FFT back to
T steps, then a residual and a position-wise feed-forward. Not causal.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


@BLOCKS.register(
    "fourier", category="frequency",
    params=[
        Param("modes", int, 32, low=1, high=1024, help="frequencies kept (capped at T//2+1)"),
        Param("mode_select", str, "lowest", choices=("lowest", "random")),
        Param("n_heads", int, 4, low=1, high=32, help="must divide d_model"),
        Param("seed", int, 0, low=0, high=2**31 - 1, help="seed of the random mode choice"),
    ],
    keeps_time=True, min_len=2, causal=False,
)
class FourierBlock(nn.Module):
    """FEDformer-style frequency mixing: learned complex weights on selected Fourier modes, residual + FFN."""

    def __init__(self, d_model: int, seq_len: int, modes: int = 32, mode_select: str = "lowest", n_heads: int = 4,
                 seed: int = 0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        n_freq = seq_len // 2 + 1
        modes = min(modes, n_freq)
        if mode_select == "random":
            idx = np.sort(np.random.default_rng(seed).choice(n_freq, modes, replace=False))
        else:
            idx = np.arange(modes)
        self.register_buffer("index", torch.as_tensor(idx, dtype=torch.long), persistent=False)
        self.h, self.e = n_heads, d_model // n_heads
        scale = 1.0 / (d_model * self.e) ** 0.5
        self.w_re = nn.Parameter(scale * torch.randn(n_heads, self.e, self.e, modes))
        self.w_im = nn.Parameter(scale * torch.randn(n_heads, self.e, self.e, modes))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        z = self.norm1(x).float().reshape(B, T, self.h, self.e).permute(0, 2, 3, 1)   # (B, h, e, T)
        xf = torch.fft.rfft(z, dim=-1)                                                # (B, h, e, F)
        sel = xf[..., self.index]                                                     # (B, h, e, M)
        w = torch.complex(self.w_re, self.w_im)                                       # (h, e_in, e_out, M)
        mixed = torch.einsum("bhim,hiom->bhom", sel, w)
        out_f = torch.zeros(B, self.h, self.e, T // 2 + 1, dtype=xf.dtype, device=x.device)
        out_f[..., self.index] = mixed
        y = torch.fft.irfft(out_f, n=T, dim=-1).permute(0, 3, 1, 2).reshape(B, T, C).to(x.dtype)
        x = x + y
        return x + self.ffn(self.norm2(x))
