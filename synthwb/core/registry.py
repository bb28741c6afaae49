"""One registry idiom for blocks, heads, features, metrics and baselines.

Each entry is registered with a decorator, carries typed parameters with defaults and
bounds, and free-form metadata (e.g. a block's ``keeps_time`` and ``min_len``). Pages build
their widgets from :attr:`Entry.params`; the CLI lists :meth:`Registry.describe`; specs are
validated with :meth:`Entry.resolve`.

    BLOCKS = Registry("block")

    @BLOCKS.register("dlinear", category="decomposition",
                     params=[Param("kernel", int, 25, low=3, high=201, help="moving-average window")],
                     keeps_time=True, min_len=2)
    class DLinear(nn.Module): ...

    entry = BLOCKS.get("dlinear")
    kwargs = entry.resolve({"kernel": 13})      # defaults filled, bounds checked
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from synthwb.core.errors import NotFound, SpecError

_KINDS = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class Param:
    """A typed, bounded parameter with a default.

    ``kind`` is one of int, float, bool, str. ``choices`` restricts a str (or int) to a set.
    ``low``/``high`` are inclusive bounds for numbers.
    """

    name: str
    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    help: str = ""
    step: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in (int, float, bool, str):
            raise TypeError(f"Param {self.name}: kind must be int, float, bool or str")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        # the default must itself be valid
        self.validate(self.default)

    def validate(self, value: Any, owner: str = "") -> Any:
        """Coerce ``value`` to the parameter's type and check it; raise SpecError naming it."""
        where = f"{owner}.{self.name}" if owner else self.name
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() in ("1", "true", "yes", "on"):
                        value = True
                    elif value.lower() in ("0", "false", "no", "off"):
                        value = False
                    else:
                        raise ValueError
                elif not isinstance(value, (bool, int)):
                    raise ValueError
                value = bool(value)
            elif kind is int:
                if isinstance(value, bool):
                    raise ValueError
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(value)
            elif kind is float:
                if isinstance(value, bool):
                    raise ValueError
                value = float(value)
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError
            else:
                if not isinstance(value, str):
                    raise ValueError
        except (TypeError, ValueError):
            raise SpecError(f"{where}: expected {kind.__name__}, got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            raise SpecError(f"{where}: {value!r} is not one of {list(self.choices)}")
        if self.low is not None and value < self.low:
            raise SpecError(f"{where}: {value!r} is below the minimum {self.low}")
        if self.high is not None and value > self.high:
            raise SpecError(f"{where}: {value!r} is above the maximum {self.high}")
        return value

    def describe(self) -> dict:
        d = {"name": self.name, "type": self.kind.__name__, "default": self.default}
        for k in ("low", "high", "choices", "step"):
            v = getattr(self, k)
            if v is not None:
                d[k] = list(v) if k == "choices" else v
        if self.help:
            d["help"] = self.help
        return d


@dataclass(frozen=True)
class Entry:
    """A registered object with its parameters and metadata."""

    name: str
    obj: Any
    kind: str
    category: str = ""
    params: tuple[Param, ...] = ()
    help: str = ""
    meta: dict = field(default_factory=dict)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise NotFound(f"{self.kind} {self.name!r} has no parameter {name!r}")

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def resolve(self, given: dict | None = None) -> dict:
        """Defaults merged with ``given``; unknown names and bad values raise SpecError."""
        given = dict(given or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            raise SpecError(
                f"{self.kind} {self.name!r}: unknown parameter(s) {unknown}; "
                f"known: {sorted(known) or 'none'}"
            )
        return {p.name: p.validate(given.get(p.name, p.default), owner=self.name) for p in self.params}

    def describe(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "category": self.category,
             "help": self.help, "params": [p.describe() for p in self.params]}
        d.update({k: v for k, v in self.meta.items() if isinstance(v, (int, float, str, bool, list, tuple, type(None)))})
        return d


class Registry:
    """Name -> Entry, filled by the :meth:`register` decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        *,
        category: str = "",
        params: Sequence[Param] = (),
        help: str | None = None,
        **meta: Any,
    ) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            names = [p.name for p in params]
            if len(set(names)) != len(names):
                raise ValueError(f"{self.kind} {name!r}: duplicate parameter names {names}")
            doc = help if help is not None else ((obj.__doc__ or "").strip().split("\n\n")[0].strip())
            self._entries[name] = Entry(name, obj, self.kind, category, tuple(params), doc, dict(meta))
            return obj

        return deco

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise NotFound(
                f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._entries)) or 'none'}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def categories(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = {}
        for e in self._entries.values():
            out.setdefault(e.category or "other", []).append(e)
        return out

    def describe(self) -> list[dict]:
        return [e.describe() for e in self._entries.values()]
