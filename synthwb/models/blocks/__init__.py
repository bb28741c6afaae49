"""Backbone blocks, one module each; importing this package registers them in BLOCKS."""
from synthwb.models.blocks import (  # noqa: F401
    dlinear,
    fourier,
    gru,
    itransformer,
    layernorm,
    lstm,
    patchtst,
    revin,
    tcn,
    timemixer,
    timesnet,
    transformer,
)
