"""Shared shape of the recurrent blocks (LSTM, GRU): a recurrent layer over time, projected
back to d_model, with a residual. Unidirectional it is causal; ``bidirectional`` reads the
window backwards too (not causal)."""
from __future__ import annotations

from torch import Tensor, nn

from synthwb.core.registry import Param

RECURRENT_PARAMS = [
    Param("hidden", int, 64, low=1, high=2048, help="hidden size"),
    Param("layers", int, 1, low=1, high=8),
    Param("bidirectional", bool, False, help="also read backwards (not causal)"),
    Param("dropout", float, 0.0, low=0.0, high=0.9, help="between stacked layers"),
]
RECURRENT_META = dict(keeps_time=True, min_len=1, causal=True, causal_fn=lambda p: not p["bidirectional"])


class RecurrentBlock(nn.Module):
    """``rnn_cls`` (nn.LSTM or nn.GRU) over time + linear projection to d_model + residual."""

    rnn_cls: type[nn.RNNBase]

    def __init__(self, d_model: int, seq_len: int, hidden: int = 64, layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.rnn = self.rnn_cls(d_model, hidden, layers, batch_first=True, bidirectional=bidirectional,
                                dropout=dropout if layers > 1 else 0.0)
        self.proj = nn.Linear(hidden * (2 if bidirectional else 1), d_model)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.rnn(x)
        return x + self.proj(y)
