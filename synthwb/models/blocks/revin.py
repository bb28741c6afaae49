"""RevIN: reversible instance normalisation (Kim et al. 2022), adapted to path heads.

Normalise: each sample's hidden sequence is standardised per channel over time (its own
mean and std), then a learned affine is applied, so the blocks after it see scale-free
inputs (robust to regime and level shifts).

De-normalise, for a *path head*: a forecaster's RevIN multiplies its output by the input's
std and adds back its mean. Our head outputs log-return paths, whose natural scale is the
volatility of the input window. So RevIN also records, per sample, the standard deviation
over the window of the input feature ``ret_feature`` (the scaled log return of the feature
set, whose unit is the training-split std): s = std_window / std_train, a dimensionless
"how volatile is this window compared with training" (clamped to [0.01, 100]). With
``denorm`` the model multiplies the head's cumulative log returns, and its "drift" and
"vol" extras, by s: the head learns volatility in normalised units and RevIN restores the
window's own scale. The location (window mean return) is not added back: a per-step mean
return is noise at these horizons and would bias every path. Paths stay exact at t0 and
strictly positive, and a bridge still ends exactly at its (scaled) macro return.
Not causal (the statistics use the whole window).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.errors import SpecError
from synthwb.core.registry import Param
from synthwb.models.registry import BLOCKS


@BLOCKS.register(
    "revin", category="normalisation",
    params=[
        Param("affine", bool, True, help="learned scale and shift after normalising"),
        Param("denorm", bool, True, help="rescale the head's log-return paths by the window's relative volatility"),
        Param("ret_feature", int, 0, low=0, high=4095, help="index of the input feature holding the scaled log return"),
        Param("eps", float, 1e-5, low=1e-10, high=1.0),
    ],
    keeps_time=True, min_len=2, causal=False,
)
class RevIN(nn.Module):
    """RevIN: per-sample instance normalisation; de-normalises path heads by the window's relative volatility."""

    def __init__(self, d_model: int, seq_len: int, affine: bool = True, denorm: bool = True, ret_feature: int = 0,
                 eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.denorm = denorm
        self.ret_feature = ret_feature
        self.weight = nn.Parameter(torch.ones(d_model)) if affine else None
        self.bias = nn.Parameter(torch.zeros(d_model)) if affine else None
        self._scale: Tensor | None = None

    def observe(self, x: Tensor) -> None:
        """Called by the backbone with the raw model input (B, T, n_features) before the chain."""
        if self.ret_feature >= x.shape[-1]:
            raise SpecError(f"revin.ret_feature {self.ret_feature} is out of range for {x.shape[-1]} input features")
        r = x[..., self.ret_feature]
        self._scale = r.std(dim=1, unbiased=False).detach().clamp(0.01, 100.0)     # (B,)

    def output_scale(self) -> Tensor | None:
        """Per-sample factor (B,) for the head's log returns, or None without ``denorm``."""
        return self._scale if self.denorm else None

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=1, keepdim=True)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        y = (x - mean) / std
        if self.weight is not None:
            y = y * self.weight + self.bias
        return y
