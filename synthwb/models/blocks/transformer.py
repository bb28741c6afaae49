"""Transformer encoder layer (Vaswani et al. 2017) over time.

Sinusoidal positions are added (optional), then one pre-norm encoder layer (multi-head
self-attention + feed-forward, each with a residual). With ``causal`` an upper-triangular
mask stops step t from attending to later steps, which makes the block causal.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS
from synthwb.models.simulate import sinusoidal


@BLOCKS.register(
    "transformer", category="attention",
    params=[
        Param("n_heads", int, 4, low=1, high=32, help="attention heads (must divide d_model)"),
        Param("d_ff", int, 0, low=0, high=4096, help="feed-forward width (0 = 4 * d_model)"),
        Param("dropout", float, 0.0, low=0.0, high=0.9),
        Param("causal", bool, False, help="mask attention to later steps"),
        Param("positional", bool, True, help="add sinusoidal positions first"),
    ],
    keeps_time=True, min_len=1, causal=False, causal_fn=lambda p: p["causal"],
)
class TransformerBlock(nn.Module):
    """Transformer encoder layer over time (optionally causal), with sinusoidal positions."""

    def __init__(self, d_model: int, seq_len: int, n_heads: int = 4, d_ff: int = 0, dropout: float = 0.0,
                 causal: bool = False, positional: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff or 4 * d_model, dropout,
                                                activation="gelu", batch_first=True, norm_first=True)
        self.causal = causal
        self.positional = positional

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[1]
        if self.positional:
            x = x + sinusoidal(T, x.shape[-1], x.device, x.dtype)
        mask = None
        if self.causal:
            mask = torch.triu(torch.full((T, T), float("-inf"), device=x.device, dtype=x.dtype), diagonal=1)
        return self.layer(x, src_mask=mask, is_causal=self.causal)
