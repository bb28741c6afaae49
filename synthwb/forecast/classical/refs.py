"""Classical forecasters as references in every backtest and comparison, by name, no run needed.

A :class:`ClassicalRef` names a registered model of :data:`CLASSICAL` and its parameters, like a
baseline's ``BaselineRef``; its label is ``<model>-<dist>`` (``gjr-garch-t``, ``har-rv-t``), so
it never collides with a baseline (the baselines' Gaussian ``garch`` keeps its name). The
``backtest`` and ``compare`` commands and the Backtest and Compare pages score
:func:`default_classical` (every registered model with its default parameters: each refits on
its schedule from the bars before each origin) beside the baselines unless told otherwise; in
the engine's specs they are opt-in (``classical="all"``). A saved ``classical`` run (``synthwb
fit``) is scored like any run.

Text forms, for the command line and the pages: ``"gjr-garch"`` (defaults), ``"gjr-garch:skewt"``
(another innovation law), ``"none"`` (no classical references), ``"all"`` (every model).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthwb.core.errors import SpecError
from synthwb.forecast.classical.base import CLASSICAL
from synthwb.forecast.classical.run import classical_forecaster


class ClassicalRef(BaseModel):
    """A registered classical model with its parameters (defaults filled in on use)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    params: dict[str, Any] = Field(default_factory=dict)

    def resolved(self) -> dict:
        """The parameters with defaults filled and bounds checked (SpecError naming the bad one)."""
        return CLASSICAL.get(self.model).resolve(self.params)

    @property
    def label(self) -> str:
        p = self.resolved()
        extra = {k: v for k, v in p.items() if k != "dist" and v != CLASSICAL.get(self.model).param(k).default}
        base = f"{self.model}-{p['dist']}" if "dist" in p else self.model
        return base + ("(" + ",".join(f"{k}={v}" for k, v in sorted(extra.items())) + ")" if extra else "")

    def forecaster(self, selection: dict | None = None, root=None):
        """The forecaster, named by :attr:`label` (the row it gets in every table)."""
        return classical_forecaster(self.model, self.params, selection, root=root, name=self.label)


def default_classical() -> list[ClassicalRef]:
    """Every registered classical model with its default parameters: what Backtest and Compare
    score by default."""
    return [ClassicalRef(model=m) for m in CLASSICAL.names()]


def parse_classical(value: str | Sequence | None) -> list[ClassicalRef]:
    """``"gjr-garch,har-rv:johnsonsu"`` / ``"none"`` / ``"all"`` / a list of names, dicts or refs
    (None: every registered model)."""
    if value is None:
        return default_classical()
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",") if s.strip()]
    else:
        items = list(value)
    out: list[ClassicalRef] = []
    for it in items:
        if isinstance(it, str) and it.strip().lower() in ("none", "all"):  # "none" adds nothing
            out += default_classical() if it.strip().lower() == "all" else []
            continue
        if isinstance(it, ClassicalRef):
            ref = it
        elif isinstance(it, dict):
            ref = ClassicalRef(**it)
        else:
            name, _, dist = str(it).strip().partition(":")
            if name not in CLASSICAL:
                raise SpecError(f"unknown classical model {name!r}; choose from {', '.join(CLASSICAL.names())} "
                                "(or 'none')")
            ref = ClassicalRef(model=name, params={"dist": dist} if dist else {})
        ref.resolved()  # bounds and choices checked now, naming the parameter
        out.append(ref)
    labels = [r.label for r in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise SpecError(f"classical references repeat: {', '.join(dup)}")
    return out
