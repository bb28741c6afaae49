"""Pure ordering logic of the Model Builder's block stack (the page calls these; tests drive them).

A stack item is a dict ``{"uid": int, "name": str, "params": dict}``; ``uid`` is unique in
the stack and stable while the item moves, so widget keys follow it. What the user reads (the
drag tiles' labels) is numbered by position, never by uid.
"""
from __future__ import annotations

from synthwb.core.errors import SpecError


def labels(stack: list[dict]) -> list[str]:
    """The drag-and-drop labels of the tiles, numbered by their position as the block list
    below them is ("0. fourier", "1. dlinear"): unique, since positions are."""
    return [f"{i}. {it['name']}" for i, it in enumerate(stack)]


def next_uid(stack: list[dict]) -> int:
    return max((int(it["uid"]) for it in stack), default=-1) + 1


def add(stack: list[dict], name: str, params: dict | None = None, uid: int | None = None) -> list[dict]:
    """A new stack with block ``name`` appended."""
    uid = next_uid(stack) if uid is None else uid
    if any(it["uid"] == uid for it in stack):
        raise SpecError(f"stack already has an item with uid {uid}")
    return [*stack, {"uid": uid, "name": name, "params": dict(params or {})}]


def move(stack: list[dict], i: int, delta: int) -> list[dict]:
    """A new stack with item ``i`` moved by ``delta`` places (clamped at both ends)."""
    if not 0 <= i < len(stack):
        raise SpecError(f"no block at position {i} (stack has {len(stack)})")
    j = min(max(i + delta, 0), len(stack) - 1)
    out = list(stack)
    out.insert(j, out.pop(i))
    return out


def remove(stack: list[dict], i: int) -> list[dict]:
    if not 0 <= i < len(stack):
        raise SpecError(f"no block at position {i} (stack has {len(stack)})")
    return stack[:i] + stack[i + 1:]


def apply_order(stack: list[dict], order: list[str]) -> list[dict]:
    """Reorder ``stack`` to match ``order`` (labels, e.g. returned by the drag-and-drop component).

    The labels must be exactly the stack's labels in some order; otherwise SpecError.
    """
    by_label = dict(zip(labels(stack), stack))
    if len(order) != len(stack) or set(order) != set(by_label):
        raise SpecError(f"order {order} does not match the stack {list(by_label)}")
    return [by_label[lb] for lb in order]


def to_blocks(stack: list[dict]) -> list[dict]:
    """The spec's ``blocks`` list from a stack."""
    return [{"name": it["name"], "params": dict(it["params"])} for it in stack]


def from_blocks(blocks: list[dict]) -> list[dict]:
    """A stack (fresh uids 0..n-1) from a spec's ``blocks`` list."""
    return [{"uid": i, "name": b["name"], "params": dict(b.get("params") or {})} for i, b in enumerate(blocks)]
