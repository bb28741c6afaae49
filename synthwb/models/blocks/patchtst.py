"""PatchTST-style patching (Nie et al. 2023, "A Time Series is Worth 64 Words").

The sequence is end-padded by repeating its last step ``stride`` times (PatchTST's
'end' padding), cut into patches of ``patch_len`` steps every ``stride`` steps, each patch
(patch_len x d_model values) is embedded linearly to d_model, learned patch positions are
added, and ``layers`` Transformer encoder layers run over the patches. The time axis
becomes the patch axis: T -> (T + stride - patch_len) // stride + 1 (or without padding
(T - patch_len) // stride + 1). Not causal.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


def n_patches(seq_len: int, patch_len: int, stride: int, pad_end: bool) -> int:
    total = seq_len + (stride if pad_end else 0)
    return (total - patch_len) // stride + 1 if total >= patch_len else 0


@BLOCKS.register(
    "patchtst", category="attention",
    params=[
        Param("patch_len", int, 16, low=1, high=512),
        Param("stride", int, 8, low=1, high=512),
        Param("pad_end", bool, True, help="repeat the last step `stride` times before patching"),
        Param("layers", int, 1, low=0, high=8, help="Transformer layers over the patches"),
        Param("n_heads", int, 4, low=1, high=32),
        Param("dropout", float, 0.0, low=0.0, high=0.9),
    ],
    keeps_time=False, min_len=16, causal=False,
    min_len_fn=lambda p: max(1, p["patch_len"] - (p["stride"] if p["pad_end"] else 0)),
    out_len_fn=lambda t, p: n_patches(t, p["patch_len"], p["stride"], p["pad_end"]),
)
class PatchTST(nn.Module):
    """PatchTST patching: (B, T, d) -> (B, n_patches, d) patch tokens through Transformer layers."""

    def __init__(self, d_model: int, seq_len: int, patch_len: int = 16, stride: int = 8, pad_end: bool = True,
                 layers: int = 1, n_heads: int = 4, dropout: float = 0.0):
        super().__init__()
        self.patch_len, self.stride, self.pad_end = patch_len, stride, pad_end
        n = n_patches(seq_len, patch_len, stride, pad_end)
        if n < 1:
            raise ValueError(f"sequence of {seq_len} steps is shorter than one patch of {patch_len}")
        if layers and d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.embed = nn.Linear(patch_len * d_model, d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(n, d_model))
        self.encoder = nn.Sequential(*(
            nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, activation="gelu",
                                       batch_first=True, norm_first=True) for _ in range(layers)))

    def forward(self, x: Tensor) -> Tensor:
        if self.pad_end:
            x = torch.cat([x, x[:, -1:, :].expand(-1, self.stride, -1)], dim=1)
        patches = x.unfold(1, self.patch_len, self.stride)             # (B, N, d, patch_len)
        B, N = patches.shape[:2]
        tokens = self.embed(patches.reshape(B, N, -1)) + self.pos[:N]
        return self.encoder(tokens)
