"""One colour per model name, shared by every chart of the workbench (plotly; no streamlit).

Baselines keep a fixed colour everywhere; runs take the colours of :data:`RUN_PALETTE` in a
stable order (a name's preferred slot from a hash of the name, the next free one on a clash),
so a model keeps its colour between the tabs and charts of one result and, mostly, between
results. The realised path has its own colour (:data:`REALISED`), used by no model."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["BASELINE_COLORS", "REALISED", "RUN_PALETTE", "color_map", "model_color"]

REALISED = "#f97316"  # orange: the realised line only
BASELINE_COLORS = {"gbm": "#94a3b8", "gbm_ewma": "#0d9488", "garch": "#a16207", "bootstrap": "#c026d3"}
RUN_PALETTE = ("#3b82f6", "#ef4444", "#22c55e", "#a855f7", "#eab308", "#06b6d4", "#ec4899", "#84cc16",
               "#6366f1", "#f43f5e", "#14b8a6", "#8b5cf6")


def _base(name: str) -> str:
    """A baseline's name without its parameters (``gbm(vol=ewma)`` -> ``gbm``)."""
    return str(name).split("(", 1)[0].strip()


def _slot(name: str) -> int:
    return int(hashlib.md5(str(name).encode()).hexdigest()[:8], 16) % len(RUN_PALETTE)


def color_map(models: Iterable[str]) -> dict[str, str]:
    """``{model: colour}``: baselines their fixed colour, every other model a distinct colour of
    :data:`RUN_PALETTE` (cycling only beyond its length), independent of the order given."""
    names = list(dict.fromkeys(str(m) for m in models))
    out = {m: BASELINE_COLORS[_base(m)] for m in names if _base(m) in BASELINE_COLORS}
    used: set[int] = set()
    for m in sorted(n for n in names if n not in out):
        k = _slot(m)
        if len(used) < len(RUN_PALETTE):
            while k in used:
                k = (k + 1) % len(RUN_PALETTE)
        used.add(k)
        out[m] = RUN_PALETTE[k]
    return out


def model_color(name: str, colors: dict[str, str] | None = None) -> str:
    """The colour of ``name`` in ``colors`` (a :func:`color_map`), else its own colour alone."""
    if colors and name in colors:
        return colors[name]
    return color_map([name])[str(name)]
