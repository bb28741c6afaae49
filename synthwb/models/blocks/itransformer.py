"""iTransformer-style variate attention (Liu et al. 2024, "iTransformer: Inverted Transformers").

The axes are inverted: each of the d_model channels is a token whose embedding is its
whole time series (a linear map T -> d_token). ``layers`` Transformer encoder layers
attend across channels (variates), a linear map projects each token back to T steps, and
the input is added (residual). Not causal (each token embeds the whole window).
"""
from __future__ import annotations

from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


@BLOCKS.register(
    "itransformer", category="attention",
    params=[
        Param("d_token", int, 64, low=4, high=2048, help="embedding size of each variate token"),
        Param("layers", int, 1, low=1, high=8),
        Param("n_heads", int, 4, low=1, high=32, help="must divide d_token"),
        Param("dropout", float, 0.0, low=0.0, high=0.9),
    ],
    keeps_time=True, min_len=2, causal=False,
)
class ITransformer(nn.Module):
    """iTransformer: channels as tokens (embedding = whole series), attention across variates, residual."""

    def __init__(self, d_model: int, seq_len: int, d_token: int = 64, layers: int = 1, n_heads: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        if d_token % n_heads:
            raise ValueError(f"d_token {d_token} is not divisible by n_heads {n_heads}")
        self.embed = nn.Linear(seq_len, d_token)
        self.encoder = nn.Sequential(*(
            nn.TransformerEncoderLayer(d_token, n_heads, 4 * d_token, dropout, activation="gelu",
                                       batch_first=True, norm_first=True) for _ in range(layers)))
        self.project = nn.Linear(d_token, seq_len)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.encoder(self.embed(x.transpose(1, 2)))           # (B, d_model, d_token)
        return x + self.project(tokens).transpose(1, 2)
