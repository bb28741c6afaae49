"""Scaling fitted on the training split only, stored as a plain dict, invertible."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthwb.core.errors import SpecError

METHODS = ("standard", "minmax", "none")


@dataclass
class Scaler:
    """``standard``: (x - mean) / std (ddof=0); ``minmax``: (x - min) / (max - min) into [0, 1];
    ``none``: identity. A constant column gets scale 1 (it maps to 0, never inf)."""

    method: str = "standard"
    columns: list[str] = field(default_factory=list)
    center: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(f"unknown scaling method {self.method!r}; use one of {', '.join(METHODS)}")

    @property
    def fitted(self) -> bool:
        return bool(self.columns)

    def fit(self, train_df: pl.DataFrame, cols: list[str]) -> Scaler:
        missing = [c for c in cols if c not in train_df.columns]
        if missing:
            raise SpecError(f"cannot fit the scaler: column(s) {missing} are not in the frame")
        if train_df.is_empty():
            raise SpecError("cannot fit the scaler on an empty training split")
        x = train_df.select([pl.col(c).cast(pl.Float64) for c in cols]).to_numpy()
        if self.method == "standard":
            center, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
        elif self.method == "minmax":
            center = np.nanmin(x, axis=0)
            scale = np.nanmax(x, axis=0) - center
        else:
            center, scale = np.zeros(len(cols)), np.ones(len(cols))
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        center = np.where(np.isfinite(center), center, 0.0)
        self.columns, self.center, self.scale = list(cols), center.tolist(), scale.tolist()
        return self

    def _check(self, cols) -> tuple[np.ndarray, np.ndarray]:
        if not self.fitted:
            raise SpecError("the scaler is not fitted")
        idx = {c: i for i, c in enumerate(self.columns)}
        missing = [c for c in cols if c not in idx]
        if missing:
            raise SpecError(f"the scaler was not fitted on column(s) {missing}")
        sel = [idx[c] for c in cols]
        return np.asarray(self.center)[sel], np.asarray(self.scale)[sel]

    def transform(self, df: pl.DataFrame, cols: list[str] | None = None) -> pl.DataFrame:
        """Scale ``cols`` (default: the fitted columns) in place; other columns pass through."""
        cols = list(cols or self.columns)
        c, s = self._check(cols)
        return df.with_columns([((pl.col(n) - float(ci)) / float(si)).alias(n) for n, ci, si in zip(cols, c, s)])

    def inverse_transform(self, df: pl.DataFrame, cols: list[str] | None = None) -> pl.DataFrame:
        cols = list(cols or self.columns)
        c, s = self._check(cols)
        return df.with_columns([(pl.col(n) * float(si) + float(ci)).alias(n) for n, ci, si in zip(cols, c, s)])

    def transform_array(self, x: np.ndarray, cols: list[str] | None = None) -> np.ndarray:
        """Scale an array whose last axis is ``cols`` (default: the fitted columns)."""
        c, s = self._check(cols or self.columns)
        return (np.asarray(x, dtype=np.float64) - c) / s

    def to_dict(self) -> dict:
        return {"method": self.method, "columns": list(self.columns), "center": list(self.center),
                "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        try:
            s = cls(d["method"], list(d.get("columns", [])), [float(v) for v in d.get("center", [])],
                    [float(v) for v in d.get("scale", [])])
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"invalid scaler record: {exc}") from None
        if not (len(s.columns) == len(s.center) == len(s.scale)):
            raise SpecError("invalid scaler record: columns, center and scale differ in length")
        return s
