"""The feature registry and the feature spec.

Every feature (or family of columns) is registered on :data:`FEATURES` with its typed
parameters, the input columns it needs and the columns it makes::

    @FEATURES.register("sma", category="trend", params=[Param("window", int, 20, low=2, high=1000)],
                       needs=("close",), makes=lambda p, refs: [f"sma_{p['window']}"])
    def sma(df, window): return [pl.col("close").rolling_mean(window).alias(f"sma_{window}")]

An implementation is ``fn(df, **params) -> list[pl.Expr] | pl.DataFrame`` and only ever
uses bars at or before each row. A function that also declares a ``ctx`` argument receives
a :class:`FeatureContext` (asset class, bar frequency, fine bars for micro-structure,
reference bars for cross-asset features, the end of the fitting period).

A :class:`FeatureSpec` (target frequency, optional fine base frequency, features with
params, reference symbols) is a plain value: JSON round-trip via ``to_dict``/``from_dict``,
validated against the registry on construction (unknown names or params raise SpecError).
"""
from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from synthwb.core.errors import NotFound, SpecError
from synthwb.core.registry import Entry, Param, Registry
from synthwb.data.schema import FREQ_SECONDS, OHLCV, check_freq

__all__ = ["FEATURES", "Param", "FeatureItem", "FeatureSpec", "FeatureContext", "feature_columns",
           "makes_of", "wants_ctx", "default_spec", "ref_key"]

FEATURES = Registry("feature")

# bump when a formula changes: cached frames keyed on an older version are not reused
FEATURES_VERSION = "2"


@dataclass
class FeatureContext:
    """What a feature may need beyond the bar frame itself."""

    asset_class: str = "crypto"
    freq: str = "1h"
    fine: pl.DataFrame | None = None          # fine bars (base_freq) for micro-structure
    references: dict[str, pl.DataFrame] = field(default_factory=dict)  # ref key -> bars at freq
    fit_end: datetime | None = None           # features fitted on data (vol clustering) use ts < fit_end
    micro: pl.DataFrame | None = None         # coarse bars + ms_* columns, when already aggregated
    finest: pl.DataFrame | None = None        # the finest stored bars of the series (realised measures);
                                              # None: the bars themselves are the finest
    fitted: dict = field(default_factory=dict)  # parameters fitted on the training period, by feature key;
                                                # given -> reused (a feature set's stored state), else filled in


def ref_key(ref: str) -> str:
    """A reference as written in a spec: ``SYMBOL`` (same asset class) or ``CLASS:SYMBOL``."""
    if not isinstance(ref, str) or not ref.strip():
        raise SpecError(f"invalid reference {ref!r}: use SYMBOL or ASSET_CLASS:SYMBOL")
    return ref.strip()


def ref_label(ref: str) -> str:
    """Column-safe label of a reference (``crypto:ETH`` -> ``ETH``)."""
    sym = ref.split(":", 1)[-1]
    return "".join(ch if ch.isalnum() else "_" for ch in sym)


def wants_ctx(entry: Entry) -> bool:
    return "ctx" in inspect.signature(entry.obj).parameters


def makes_of(entry: Entry, params: dict, references: Iterable[str] = ()) -> list[str]:
    """The column names an entry makes for resolved ``params``."""
    makes = entry.meta.get("makes", ())
    if callable(makes):
        return list(makes(params, tuple(references)))
    return list(makes)


@dataclass(frozen=True)
class FeatureItem:
    name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute, at which frequency.

    ``freq``: the target bar frequency. ``base_freq``: the fine bars micro-structure features
    are aggregated from (default 1min when a micro-structure feature is asked for).
    ``features``: items ``{"name", "params"}``; params are resolved against the registry
    (defaults filled in) so two specs that mean the same compare equal. ``references``:
    cross-asset symbols (``SYMBOL`` or ``CLASS:SYMBOL``). ``include_ohlcv``: the bar's own
    open/high/low/close/volume are model inputs too. ``dropna``: drop the warm-up rows where
    a feature is not defined yet.
    """

    freq: str = "1h"
    features: tuple = ()
    base_freq: str | None = None
    references: tuple = ()
    include_ohlcv: bool = True
    dropna: bool = True

    def __post_init__(self) -> None:
        check_freq(self.freq)
        items = []
        for raw in self.features:
            if isinstance(raw, FeatureItem):
                name, params = raw.name, raw.params
            elif isinstance(raw, str):
                name, params = raw, {}
            elif isinstance(raw, dict):
                extra = sorted(set(raw) - {"name", "params"})
                if "name" not in raw or extra:
                    raise SpecError(f"feature item {raw!r}: use {{'name': ..., 'params': {{...}}}}")
                name, params = raw["name"], raw.get("params") or {}
            else:
                raise SpecError(f"feature item {raw!r}: use {{'name': ..., 'params': {{...}}}}")
            try:
                entry = FEATURES.get(name)
            except NotFound as exc:
                raise SpecError(str(exc)) from None
            if not isinstance(params, dict):
                raise SpecError(f"feature {name!r}: params must be a mapping, got {params!r}")
            resolved = entry.resolve(params)
            check = entry.meta.get("check")
            problem = check(resolved) if check else None
            if problem:
                raise SpecError(f"feature {name!r}: {problem}")
            items.append(FeatureItem(name, resolved))
        object.__setattr__(self, "features", tuple(items))
        refs = tuple(ref_key(r) for r in self.references)
        if len(set(refs)) != len(refs):
            raise SpecError(f"duplicate reference symbols in {list(refs)}")
        object.__setattr__(self, "references", refs)
        needs_fine = any(FEATURES.get(it.name).meta.get("fine") for it in items)
        base = self.base_freq
        if base is None and needs_fine:
            base = "1min"
        if base is not None:
            check_freq(base)
            if FREQ_SECONDS[base] > FREQ_SECONDS[self.freq]:
                raise SpecError(f"base_freq {base} is coarser than freq {self.freq}; "
                                "micro-structure needs finer bars than the target bar")
        object.__setattr__(self, "base_freq", base)
        if any(FEATURES.get(it.name).meta.get("refs") for it in items) and not refs:
            names = [it.name for it in items if FEATURES.get(it.name).meta.get("refs")]
            raise SpecError(f"feature(s) {names} need at least one reference symbol (spec.references)")
        # every column made exactly once
        seen: dict[str, str] = {c: "the bars" for c in OHLCV}
        for it in items:
            for col in makes_of(FEATURES.get(it.name), it.params, refs):
                if col in seen:
                    raise SpecError(f"column {col!r} is made by both {seen[col]} and feature {it.name!r} "
                                    f"{it.params}; remove one")
                seen[col] = f"feature {it.name!r} {it.params}"

    # -- values -------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """Feature columns in order (without the bar's own OHLCV)."""
        return feature_columns(self)

    def model_columns(self) -> list[str]:
        """Columns a model reads as inputs: OHLCV (if include_ohlcv) + features."""
        return ([*OHLCV] if self.include_ohlcv else []) + self.columns()

    def needs_fine(self) -> bool:
        return any(FEATURES.get(it.name).meta.get("fine") for it in self.features)

    def needs_finest(self) -> bool:
        """A feature reads the finest stored bars of the series (finer than ``freq`` where stored)."""
        return any(FEATURES.get(it.name).meta.get("finest") for it in self.features)

    def lookback_seconds(self) -> int:
        """The longest history a feature reads back in time (seconds), besides its bar windows."""
        return max([0] + [int(FEATURES.get(it.name).meta.get("lookback_s", 0)) for it in self.features])

    def to_dict(self) -> dict:
        return {"freq": self.freq, "base_freq": self.base_freq,
                "features": [it.to_dict() for it in self.features],
                "references": list(self.references), "include_ohlcv": self.include_ohlcv,
                "dropna": self.dropna}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        if not isinstance(d, dict):
            raise SpecError(f"a feature spec is a JSON object, got {type(d).__name__}")
        known = {"freq", "base_freq", "features", "references", "include_ohlcv", "dropna"}
        extra = sorted(set(d) - known)
        if extra:
            raise SpecError(f"feature spec: unknown field(s) {extra}; known: {sorted(known)}")
        feats = d.get("features", [])
        if not isinstance(feats, (list, tuple)):
            raise SpecError("feature spec: 'features' must be a list")
        return cls(freq=d.get("freq", "1h"), features=tuple(feats), base_freq=d.get("base_freq"),
                   references=tuple(d.get("references") or ()),
                   include_ohlcv=bool(d.get("include_ohlcv", True)), dropna=bool(d.get("dropna", True)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    model_dump_json = to_json

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"feature spec is not valid JSON: {exc}") from None
        return cls.from_dict(d)

    def key(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def feature_columns(spec: FeatureSpec) -> list[str]:
    cols: list[str] = []
    for it in spec.features:
        cols.extend(makes_of(FEATURES.get(it.name), it.params, spec.references))
    return cols


def overlay_columns(spec: FeatureSpec) -> list[str]:
    """Columns drawn on the price panel (moving averages, bands, SAR), the rest are oscillators."""
    cols: list[str] = []
    for it in spec.features:
        entry = FEATURES.get(it.name)
        ov = entry.meta.get("overlay")
        if ov is True:
            cols.extend(makes_of(entry, it.params, spec.references))
        elif callable(ov):
            cols.extend(ov(it.params))
    return cols


def default_spec(freq: str = "1h", realised: bool = True) -> FeatureSpec:
    """A sensible starting set for the path models: returns, realised volatility at two scales,
    momentum and regime, all stationary (ratios, oscillators, one-hot states), without the raw
    OHLCV or price-level indicators.

    Price levels (OHLC, EMA, MACD, Bollinger bands, ATR) and the calendar year drift out of the
    range the scaler saw in training as soon as the market moves, and a model reading them
    generalises worse on held-out data (measured by bench/bench_quality.py on real BTC candles).
    Clock time needs no feature either: anchored models learn an intraday/weekly profile from
    the forecast's own timestamps. Feature Lab and spec files can add any of them back.

    The realised variance of the finest stored bars (``realised_var``: the slow volatility
    components without a long context) and the classical variance forecast per horizon
    (``har_anchor``, the input of the recommended ``anchored-har`` preset's anchor) are in it;
    ``realised=False`` leaves them out (the ``anchored-term`` preset does without)."""
    return FeatureSpec(freq=freq, include_ohlcv=False, features=(
        {"name": "log_return", "params": {"periods": 1}},
        {"name": "rolling_std", "params": {"window": 12}},
        {"name": "rolling_std", "params": {"window": 48}},
        {"name": "rsi", "params": {"window": 14}},
        {"name": "stochastic", "params": {}},
        {"name": "adx_regime", "params": {}},
        *([{"name": "realised_var", "params": {}}, {"name": "har_anchor", "params": {}}] if realised else []),
    ))


# register the built-in families (they import FEATURES from this module)
from synthwb.features import calendar as _calendar  # noqa: E402,F401
from synthwb.features import cross_asset as _cross  # noqa: E402,F401
from synthwb.features import indicators as _indicators  # noqa: E402,F401
from synthwb.features import microstructure as _micro  # noqa: E402,F401
from synthwb.features import realised as _realised  # noqa: E402,F401
from synthwb.features import regimes as _regimes  # noqa: E402,F401
