"""LSTM over time (Hochreiter & Schmidhuber 1997), projected back to d_model, with residual.

Unidirectional it is causal; ``bidirectional`` reads the window backwards too (not causal).
"""
from __future__ import annotations

from torch import nn

from synthwb.models.blocks.recurrent import RECURRENT_META, RECURRENT_PARAMS, RecurrentBlock
from synthwb.models.registry import BLOCKS


@BLOCKS.register("lstm", category="recurrent", params=RECURRENT_PARAMS, **RECURRENT_META)
class LSTMBlock(RecurrentBlock):
    """LSTM over time with a linear projection back to d_model and a residual."""

    rnn_cls = nn.LSTM
