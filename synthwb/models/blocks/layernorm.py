"""LayerNorm over the d_model channels of each time step (per step, so causal)."""
from __future__ import annotations

from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


@BLOCKS.register(
    "layernorm", category="normalisation",
    params=[Param("affine", bool, True, help="learned scale and shift")],
    keeps_time=True, min_len=1, causal=True,
)
class LayerNormBlock(nn.Module):
    """LayerNorm over channels at each time step."""

    def __init__(self, d_model: int, seq_len: int, affine: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, elementwise_affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x)
