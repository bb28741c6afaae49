"""Plain-text tables (the CLI's and the import preview's output)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(rows: list[dict], columns: Sequence[str] | None = None) -> str:
    """Plain-text table for CLI output."""
    if not rows:
        return "(none)"
    cols = list(columns or rows[0].keys())
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def comma_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (the CLI's comma-separated names; None or "" -> [])."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def sentence(text: str) -> str:
    """``text`` with its first letter upper case, the rest untouched (``str.capitalize`` would
    lower-case names such as ``BTC``)."""
    return text[:1].upper() + text[1:]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)
