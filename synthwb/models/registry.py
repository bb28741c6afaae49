"""The two model registries: backbone blocks and path heads (synthwb.core.registry idiom).

Block entries carry metadata the assembler checks before any forward pass:

- ``keeps_time`` (bool): output time length equals input time length;
- ``min_len`` (int): the shortest input time length the block accepts with default params;
- ``causal`` (bool): output at step t depends only on inputs at steps <= t (default params);
- optional ``min_len_fn(params) -> int``, ``out_len_fn(seq_len, params) -> int`` and
  ``causal_fn(params) -> bool`` where these depend on the block's parameters.

A block class is built as ``cls(d_model, seq_len, **params)`` and maps
``(B, T, d_model) -> (B, T', d_model)``. A head class is built as
``cls(d_model, seq_len, horizon, **params)`` (see :mod:`synthwb.models.heads.base`).
"""
from __future__ import annotations

from typing import Any

from synthwb.core.registry import Entry, Registry

BLOCKS = Registry("block")
HEADS = Registry("head")


def block_min_len(entry: Entry, params: dict[str, Any]) -> int:
    fn = entry.meta.get("min_len_fn")
    return int(fn(params)) if fn else int(entry.meta.get("min_len", 1))


def block_out_len(entry: Entry, seq_len: int, params: dict[str, Any]) -> int:
    if entry.meta.get("keeps_time", True):
        return seq_len
    fn = entry.meta.get("out_len_fn")
    if fn is None:
        raise TypeError(f"block {entry.name!r} changes the time length but declares no out_len_fn")
    return int(fn(seq_len, params))


def block_is_causal(entry: Entry, params: dict[str, Any]) -> bool:
    fn = entry.meta.get("causal_fn")
    return bool(fn(params)) if fn else bool(entry.meta.get("causal", False))


# every block and head module registers itself on import
from synthwb.models import blocks, heads  # noqa: E402,F401
