"""Lazy package exports: ``from synthwb.models import build_model`` works, but importing the
package (e.g. for ``python -m synthwb --help``) does not pay for torch, polars or sklearn."""
from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], list[str]]:
    """Return ``(__getattr__, __all__)`` for a package; ``exports`` maps name -> submodule."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(f".{exports[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)
