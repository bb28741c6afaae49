"""GRU over time (Cho et al. 2014), projected back to d_model, with residual.

Unidirectional it is causal; ``bidirectional`` reads the window backwards too (not causal).
"""
from __future__ import annotations

from torch import nn

from synthwb.models.blocks.recurrent import RECURRENT_META, RECURRENT_PARAMS, RecurrentBlock
from synthwb.models.registry import BLOCKS


@BLOCKS.register("gru", category="recurrent", params=RECURRENT_PARAMS, **RECURRENT_META)
class GRUBlock(RecurrentBlock):
    """GRU over time with a linear projection back to d_model and a residual."""

    rnn_cls = nn.GRU
