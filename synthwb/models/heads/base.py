"""What every path head shares.

A head is built as ``cls(d_model, seq_len, horizon, **params)`` where ``seq_len`` is the
backbone's output time length, and its ``forward(h, n_paths, generator)`` takes the
backbone output ``h`` (B, T', d_model) and returns a :class:`HeadOutput`:

- ``logret`` (B, n_paths, horizon): cumulative log return from t0 to steps 1..horizon;
- ``extras``: named tensors for plots and diagnostics, at least "drift" and "vol" of shape
  (B, horizon) (per-step mean and std of the log return) where the head has them.

:class:`synthwb.models.backbone.PathModel` turns ``logret`` into ../shared/DESIGN.md §4 prices.
Every head draws its randomness from ``generator`` (reproducible under a seed) and builds
paths from the parameters by differentiable arithmetic (reparameterised).

Parameters shared by heads: ``init_vol`` is the per-step log-return volatility a fresh
head starts at (0.002 ~ a 5-minute crypto bar; use ~0.03 for daily bars); vol is bounded
smoothly to init_vol * [e^-6, e^6] and |drift| per step below 3 * init_vol.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.simulate import sinusoidal

INIT_VOL = Param("init_vol", float, 0.002, low=1e-6, high=1.0,
                 help="per-step log-return volatility at initialisation (0.002 ~ 5-min crypto)")


@dataclass
class HeadOutput:
    logret: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


def pool(h: Tensor) -> Tensor:
    """(B, T, d) -> (B, 2d): the last step and the mean over time."""
    return torch.cat([h[:, -1], h.mean(dim=1)], dim=-1)


def mlp(d_in: int, hidden: int, d_out: int, zero_last: bool = True) -> nn.Sequential:
    """Two-layer GELU MLP; the last layer starts at zero, so a fresh head outputs exactly its init
    values (an anchored model then equals its classical baseline); the last layer gets gradients
    from the first step, the layers below from the second."""
    net = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))
    if zero_last:
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
    return net


class HorizonDecoder(nn.Module):
    """Learned horizon queries cross-attending to the whole backbone sequence.

    ``horizon`` query vectors (learned, plus sinusoidal positions so step order is known
    from the start) attend over the backbone output (plus its own positions) with
    multi-head attention, then a residual feed-forward: (B, T', d) -> (B, horizon, d).
    Attention is softmax-normalised over T', so its output stays bounded however long the
    horizon: stable at horizon 288 and beyond.
    """

    def __init__(self, d_model: int, horizon: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.queries = nn.Parameter(0.02 * torch.randn(horizon, d_model))
        self.register_buffer("q_pos", sinusoidal(horizon, d_model), persistent=False)
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 2 * d_model), nn.GELU(),
                                 nn.Linear(2 * d_model, d_model))

    def forward(self, h: Tensor) -> Tensor:
        B, T, d = h.shape
        q = self.norm_q(self.queries + self.q_pos).unsqueeze(0).expand(B, -1, -1)
        kv = self.norm_kv(h + sinusoidal(T, d, h.device, h.dtype))
        y, _ = self.attn(q, kv, kv, need_weights=False)
        y = y + q
        return y + self.ffn(y)
