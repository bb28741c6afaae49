"""Chronological splits and rolling windows for the neural models (numpy, memory-light)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from synthwb.core.errors import SpecError
from synthwb.core.time import to_utc
from synthwb.features.realised import har_columns

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitSpec:
    """Train / validation / test, in time order: by fractions of the rows (``train``, ``val``;
    test is the rest) or by dates (``val_start``, ``test_start``: the first bar of each)."""

    train: float = 0.7
    val: float = 0.15
    val_start: datetime | None = None
    test_start: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "val_start", to_utc(self.val_start, "val_start"))
        object.__setattr__(self, "test_start", to_utc(self.test_start, "test_start"))
        if self.by_dates:
            if self.val_start is None or self.test_start is None:
                raise SpecError("a split by dates needs both val_start and test_start")
            if self.val_start >= self.test_start:
                raise SpecError(f"val_start {self.val_start:%Y-%m-%d %H:%M} must be before test_start "
                                f"{self.test_start:%Y-%m-%d %H:%M}")
        else:
            if not (0 < self.train < 1) or not (0 <= self.val < 1) or self.train + self.val > 1 + 1e-9:
                raise SpecError(f"split fractions train={self.train}, val={self.val}: need 0 < train < 1, "
                                "0 <= val and train + val <= 1")

    @property
    def by_dates(self) -> bool:
        return self.val_start is not None or self.test_start is not None

    def to_dict(self) -> dict:
        return {"train": self.train, "val": self.val,
                "val_start": self.val_start.isoformat() if self.val_start else None,
                "test_start": self.test_start.isoformat() if self.test_start else None}

    @classmethod
    def from_dict(cls, d: dict | None) -> SplitSpec:
        d = d or {}
        return cls(train=float(d.get("train", 0.7)), val=float(d.get("val", 0.15)),
                   val_start=d.get("val_start"), test_start=d.get("test_start"))

    def bounds(self, df: pl.DataFrame) -> tuple[int, int]:
        """Row indices (train_end, val_end): train = [0, a), val = [a, b), test = [b, n)."""
        n = df.height
        if self.by_dates:
            ts = df["ts"]
            a = int((ts < self.val_start).sum())
            b = int((ts < self.test_start).sum())
        else:
            a = int(round(n * self.train))
            b = int(round(n * (self.train + self.val)))
        return a, min(b, n)


def split_frame(df: pl.DataFrame, split: SplitSpec) -> dict[str, pl.DataFrame]:
    """{'train', 'val', 'test'} frames in time order (the frame is sorted by ts first)."""
    df = df.sort("ts")
    a, b = split.bounds(df)
    out = {"train": df.slice(0, a), "val": df.slice(a, b - a), "test": df.slice(b, df.height - b)}
    if out["train"].is_empty():
        raise SpecError(f"the training split is empty ({df.height} rows, split {split.to_dict()})")
    return out


def train_end(df: pl.DataFrame, split: SplitSpec) -> datetime | None:
    """Timestamp of the first bar after the training split (fitted features use ts < it)."""
    df = df.sort("ts")
    a, _ = split.bounds(df)
    return df["ts"][a] if a < df.height else None


def past_logret(close, ok=None):
    """Log returns of a close series (numpy, float64): ``r[i] = log(c[i] / c[i-1])``, ``r[0]`` = NaN;
    where ``ok`` (bool, same length) is False the return spans a gap and is NaN."""
    c = np.asarray(close, dtype=np.float64)
    r = np.full(c.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = np.log(c[1:] / c[:-1])
    if ok is not None:
        r = np.where(ok, r, np.nan)
    r[~np.isfinite(r)] = np.nan
    return r


def bar_range(frame: pl.DataFrame, high: str = "high", low: str = "low") -> np.ndarray | None:
    """log(high / low) of each bar (NaN where not positive and finite), or None without high/low."""
    if high not in frame.columns or low not in frame.columns:
        return None
    h = frame[high].cast(pl.Float64).to_numpy()
    lo = frame[low].cast(pl.Float64).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(h / lo)
    r[~np.isfinite(r) | (r < 0)] = np.nan
    return r


def regular_mask(ts_ns, bar_seconds: int):
    """True where the step from the previous bar is exactly one bar (the baselines' rule)."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    ok = np.zeros(ts.shape, dtype=bool)
    ok[1:] = np.diff(ts) == int(bar_seconds) * 1_000_000_000
    return ok


@dataclass
class Windows:
    """Rolling windows. ``x``: (N, context, F) float32 scaled features (a read-only strided view);
    ``last_close``: (N,) float64; ``future``: (N, horizon+1) float64 close prices, column 0 =
    the last known close (t0); ``origin_ts``: (N,) datetime64 of the last context bar;
    ``past``: (N, context) raw log returns of the context bars (NaN across a gap: the anchor's
    input); ``t0_s``: (N,) float64 epoch seconds of t0 (the close of the origin bar);
    ``past_range``: (N, context) log(high / low) of the context bars (the range-based vol input);
    ``anchor_x``: (N, K) the classical variance forecasts at the origin bar, unscaled (the
    ``har_lv_*`` columns of :mod:`synthwb.features.realised`, when the frame has them), the
    input of the ``har`` anchor."""

    x: np.ndarray
    last_close: np.ndarray
    future: np.ndarray
    origin_ts: np.ndarray
    feature_cols: list[str]
    context: int
    horizon: int
    past: np.ndarray | None = None
    t0_s: np.ndarray | None = None
    past_range: np.ndarray | None = None
    anchor_x: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


def make_windows(frame: pl.DataFrame, feature_cols: list[str], context: int, horizon: int, stride: int = 1,
                 target: str = "close", scaler=None, bar_seconds: int | None = None,
                 before: tuple | None = None) -> Windows:
    """Windows over ``frame`` (time-sorted). With ``scaler`` the features are scaled on the way
    (the target stays in prices); without, ``frame``'s feature values are used as they are.
    ``bar_seconds`` (default: the median spacing) decides which returns span a gap; ``before``
    ``(ts, close)`` of the bar preceding the frame gives its first row a return too."""
    if context < 1 or horizon < 0 or stride < 1:
        raise SpecError(f"windows need context >= 1, horizon >= 0, stride >= 1 (got {context}, {horizon}, {stride})")
    missing = [c for c in [*feature_cols, target, "ts"] if c not in frame.columns]
    if missing:
        raise SpecError(f"the frame has no column(s) {missing}")
    feats = frame.select([pl.col(c).cast(pl.Float64) for c in feature_cols]).to_numpy()
    if scaler is not None:
        feats = scaler.transform_array(feats, feature_cols)
    feats = np.ascontiguousarray(np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0), dtype=np.float32)
    close = frame[target].cast(pl.Float64).to_numpy()
    ts = frame["ts"].dt.replace_time_zone(None).to_numpy()
    T, F = feats.shape
    n = (T - context - horizon) // stride + 1 if T >= context + horizon else 0
    if n <= 0:
        return Windows(np.zeros((0, context, F), np.float32), np.zeros(0), np.zeros((0, horizon + 1)),
                       np.array([], dtype="datetime64[us]"), list(feature_cols), context, horizon,
                       np.zeros((0, context)), np.zeros(0), np.zeros((0, context)))
    starts = np.arange(n) * stride
    # a stepped slice of the sliding view stays a view (no copy of N x context x F)
    x = sliding_window_view(feats, context, axis=0)[: (n - 1) * stride + 1: stride].transpose(0, 2, 1)
    origin = starts + context - 1
    fut = sliding_window_view(close, horizon + 1)[origin]
    ts_ns = ts.astype("datetime64[ns]").astype(np.int64)
    bar = int(bar_seconds or (np.median(np.diff(ts_ns)) // 1_000_000_000 if T > 1 else 1))
    if before is not None:
        b_ts = np.datetime64(before[0].replace(tzinfo=None), "ns").astype(np.int64)
        r = past_logret(np.r_[before[1], close], regular_mask(np.r_[b_ts, ts_ns], bar))[1:]
    else:
        r = past_logret(close, regular_mask(ts_ns, bar))
    past = sliding_window_view(r, context)[starts]
    t0_s = ts_ns[origin] / 1e9 + bar
    rng = bar_range(frame)
    past_range = None if rng is None else sliding_window_view(rng, context)[starts]
    acols = anchor_columns(frame.columns)
    anchor_x = None
    if acols:
        anchor_x = frame.select([pl.col(c).cast(pl.Float64) for c in acols]).to_numpy()[origin]
    return Windows(x=x, last_close=close[origin].copy(), future=np.ascontiguousarray(fut),
                   origin_ts=ts[origin], feature_cols=list(feature_cols), context=context, horizon=horizon,
                   past=past, t0_s=t0_s, past_range=past_range, anchor_x=anchor_x)


def anchor_columns(columns) -> list[str]:
    """The classical anchor's input columns among ``columns`` (``har_lv_*``, knot order), or []."""
    cols = set(columns)
    want = har_columns()
    return want if all(c in cols for c in want) else []
