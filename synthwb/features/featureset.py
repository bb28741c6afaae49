"""Saved feature sets: a named, frozen (selection, spec, split, scaler) that Model Builder,
Train and Backtest use.

Saved in ``<store>/_featuresets/<name>/`` by :mod:`synthwb.store.featuresets`.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from synthwb.core import __version__
from synthwb.core.errors import SpecError, SynthwbError
from synthwb.core.io import check_slug
from synthwb.data import realised
from synthwb.data.lake import read_bars
from synthwb.data.schema import FREQ_SECONDS, OHLCV, Selection
from synthwb.features.compute import _ref_selection, build_features, compute_features, read_finest
from synthwb.features.datasets import (
    SPLITS,
    SplitSpec,
    Windows,
    anchor_columns,
    make_windows,
    split_frame,
    train_end,
)
from synthwb.features.microstructure import resample_with_micro
from synthwb.features.registry import FEATURES, FEATURES_VERSION, FeatureContext, FeatureSpec
from synthwb.features.scaling import Scaler
from synthwb.store import featuresets as store_fs


def _versions() -> dict:
    import numpy

    return {"synthwb": __version__, "features": FEATURES_VERSION, "polars": pl.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


@dataclass
class FeatureSet:
    name: str
    selection: dict
    spec: dict
    split: dict
    scaler: dict
    feature_cols: list[str]
    created: str = ""
    versions: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)        # rows per split
    fit_end: str | None = None                      # end of the training split (ISO)
    fitted: dict = field(default_factory=dict)      # parameters fitted on train (e.g. vol-regime centers)
    _frame: pl.DataFrame | None = field(default=None, repr=False, compare=False)
    _dir: Path | None = field(default=None, repr=False, compare=False)

    # -- typed views -------------------------------------------------------------------
    @property
    def sel(self) -> Selection:
        return Selection.from_dict(self.selection)

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.spec)

    @property
    def split_spec(self) -> SplitSpec:
        return SplitSpec.from_dict(self.split)

    @property
    def scaler_obj(self) -> Scaler:
        return Scaler.from_dict(self.scaler)

    @property
    def freq(self) -> str:
        return self.selection["freq"]

    def _fit_end_dt(self) -> datetime | None:
        return datetime.fromisoformat(self.fit_end) if self.fit_end else None

    # -- data --------------------------------------------------------------------------
    def frame(self, root=None) -> pl.DataFrame:
        """The unscaled feature frame: stored copy if saved with one, else rebuilt from the lake."""
        if self._frame is None:
            self._frame = store_fs.read_frame(self._dir)
            if self._frame is None:
                self._frame = build_features(self.sel, self.feature_spec, root=root, fit_end=self._fit_end_dt(),
                                             fitted=dict(self.fitted))
        return self._frame

    def splits(self, root=None) -> dict[str, pl.DataFrame]:
        return split_frame(self.frame(root), self.split_spec)

    def windows(self, split: str, context: int, horizon: int, stride: int = 1, root=None,
                warm_context: bool = True, step_seconds: int | None = None) -> Windows:
        """Scaled windows whose forecast origin (last context bar) and whole future lie in one
        split ('train', 'val', 'test' or 'all'). With ``warm_context`` (default) the context of
        the first val/test windows reaches back into the preceding split: that is past data,
        so nothing leaks, and short validation periods still give windows.

        ``step_seconds`` finer than the bar (it must divide it): ``horizon`` counts path steps,
        and the future comes from the finest stored bars of the same series in the lake
        (``root``), joined by close time (NaN where a fine bar is missing; such windows are
        left out by the training data)."""
        if split not in (*SPLITS, "all"):
            raise SpecError(f"unknown split {split!r}; use one of {', '.join((*SPLITS, 'all'))}")
        bar = FREQ_SECONDS[self.freq]
        step = int(step_seconds or bar)
        if step > bar or bar % step:
            raise SpecError(f"a path step of {step} s must equal the {self.freq} bar or divide it")
        h_bars = -(-int(horizon) * step // bar)
        frame = self.frame(root).sort("ts")
        if split == "all":
            df, before = frame, None
        else:
            a, b = self.split_spec.bounds(frame)
            lo, hi = {"train": (0, a), "val": (a, b), "test": (b, frame.height)}[split]
            if warm_context and split != "train":
                lo = max(0, lo - (context - 1))
            df = frame.slice(lo, hi - lo)
            before = (frame["ts"][lo - 1], float(frame["close"][lo - 1])) if lo > 0 else None
        w = make_windows(df, self.feature_cols, context, h_bars, stride, scaler=self.scaler_obj, bar_seconds=bar,
                         before=before)
        if step == bar:
            return w
        sel = self.sel
        lo_t, hi_t = (df["ts"].min(), df["ts"].max() + timedelta(seconds=bar)) if df.height else (None, None)
        ts, px, _ = realised.closes(sel.asset_class, sel.symbol, step, lo_t, hi_t, root=root)
        t0_ns = np.round(w.t0_s * 1e9).astype(np.int64)
        fut = realised.on_grid(ts, px, t0_ns, int(horizon) + 1, step)
        fut[:, 0] = w.last_close
        w.future, w.horizon = fut, int(horizon)
        return w

    def features_for(self, bars_df: pl.DataFrame, root=None, fine: pl.DataFrame | None = None,
                     references: dict[str, pl.DataFrame] | None = None, scaled: bool = True,
                     dropna: bool = True) -> pl.DataFrame:
        """Features of arbitrary history (``ts`` + OHLCV at this set's frequency), scaled with
        the stored scaler: ``ts``, ``raw_close`` (unscaled close, the t0 price), ``raw_high`` and
        ``raw_low`` (the anchor's bar range), the feature columns and, when the spec makes them,
        ``raw_har_lv_*`` (the unscaled classical anchor inputs).

        Micro-structure features need the fine bars inside each bar: pass ``fine`` or they are
        read from the lake (``root``) for the bars' range; likewise the reference symbols."""
        spec, sel = self.feature_spec, self.sel
        bars = bars_df.sort("ts")
        ctx = FeatureContext(asset_class=sel.asset_class, freq=spec.freq, fit_end=self._fit_end_dt(),
                             fitted=dict(self.fitted))
        if bars.is_empty():
            raise SpecError("features_for needs at least one bar")
        lo, hi = bars["ts"].min(), bars["ts"].max() + timedelta(seconds=FREQ_SECONDS[spec.freq])
        if spec.needs_fine():
            if fine is None:
                fine = read_bars(Selection(sel.asset_class, sel.symbol, spec.base_freq, lo, hi), root=root)
            ctx.fine = fine
            micro = resample_with_micro(fine, spec.freq, sel.asset_class)
            ctx.micro = bars.select("ts").join(micro.drop(*OHLCV), on="ts", how="left", maintain_order="left")
        if spec.needs_finest():
            ctx.finest = read_finest(sel.asset_class, sel.symbol, spec.freq, lo, hi, root)
        for ref in spec.references:
            if references and ref in references:
                ctx.references[ref] = references[ref]
            else:
                ctx.references[ref] = read_bars(_ref_selection(ref, sel, spec.freq, lo - timedelta(days=7), hi),
                                                root=root)
        frame = compute_features(bars, spec, ctx, dropna=dropna)
        out = frame.select("ts", pl.col("close").alias("raw_close"), pl.col("high").alias("raw_high"),
                           pl.col("low").alias("raw_low"), *self.feature_cols,
                           *[pl.col(c).alias(f"raw_{c}") for c in anchor_columns(frame.columns)])
        return self.scaler_obj.transform(out, self.feature_cols) if scaled else out

    # -- records -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"name": self.name, "selection": self.selection, "spec": self.spec, "split": self.split,
                "scaler": self.scaler, "feature_cols": list(self.feature_cols), "created": self.created,
                "versions": self.versions, "rows": self.rows, "fit_end": self.fit_end, "fitted": self.fitted}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSet:
        try:
            fs = cls(name=d["name"], selection=d["selection"], spec=d["spec"], split=d.get("split") or {},
                     scaler=d["scaler"], feature_cols=list(d["feature_cols"]), created=d.get("created", ""),
                     versions=d.get("versions", {}), rows=d.get("rows", {}), fit_end=d.get("fit_end"),
                     fitted=d.get("fitted") or {})
        except (KeyError, TypeError) as exc:
            raise SpecError(f"invalid feature set record: missing {exc}") from None
        fs.feature_spec, fs.sel, fs.scaler_obj  # validate  # noqa: B018
        return fs


def create_featureset(name: str, sel: Selection, spec: FeatureSpec, split: SplitSpec | None = None,
                      scaling: str = "standard", feature_cols: list[str] | None = None, root=None,
                      cache: bool = True) -> FeatureSet:
    """Build the frame, split it, fit the scaler on the training split only."""
    check_slug(name, "feature set name")
    split = split or SplitSpec()
    frame = build_features(sel, spec, root=root, cache=cache)
    fit_end = train_end(frame, split)
    fitted: dict = {}
    if any(FEATURES.get(it.name).meta.get("fitted") for it in spec.features):
        frame = build_features(sel, spec, root=root, cache=cache, fit_end=fit_end, fitted=fitted)
    cols = list(feature_cols) if feature_cols is not None else spec.model_columns()
    unknown = [c for c in cols if c not in frame.columns or c == "ts"]
    if unknown:
        raise SpecError(f"feature column(s) {unknown} are not made by this spec; available: "
                        f"{[c for c in frame.columns if c != 'ts']}")
    if not cols:
        raise SpecError("a feature set needs at least one feature column")
    parts = split_frame(frame, split)
    scaler = Scaler(scaling).fit(parts["train"], cols)
    fs = FeatureSet(name=name, selection=sel.to_dict(), spec=spec.to_dict(), split=split.to_dict(),
                    scaler=scaler.to_dict(), feature_cols=cols,
                    created=datetime.now(UTC).isoformat(timespec="seconds"), versions=_versions(),
                    rows={k: v.height for k, v in parts.items()},
                    fit_end=fit_end.isoformat() if fit_end is not None else None, fitted=fitted)
    fs._frame = frame
    return fs


def save_featureset(fs: FeatureSet, store=None, with_frame: bool = True, overwrite: bool = True) -> Path:
    folder = store_fs.write_featureset(fs.name, fs.to_dict(), fs._frame if with_frame else None, store,
                                       overwrite=overwrite)
    fs._dir = folder
    return folder / store_fs.FILE


def load_featureset(name: str, store=None) -> FeatureSet:
    record, folder = store_fs.read_featureset(name, store)
    fs = FeatureSet.from_dict(record)
    fs._dir = folder
    return fs


list_featuresets = store_fs.list_featuresets
delete_featureset = store_fs.delete_featureset


def run_featureset(run) -> FeatureSet:
    """The feature set embedded in a saved run (:class:`synthwb.store.runs.Run`): spec, selection
    and scaling, rebuilt without the lake."""
    data = run.info.get("featureset")
    if not data:
        raise SpecError(f"run {run.run_id!r} has no feature set in run.json")
    return FeatureSet.from_dict(data)


def resolve_featureset(featureset, store=None) -> FeatureSet:
    """A FeatureSet object, or the name of a saved one."""
    if isinstance(featureset, (str, os.PathLike)):
        return load_featureset(str(featureset), store=store)
    return featureset


def saved_twin(fs: FeatureSet, store=None) -> FeatureSet:
    """The saved feature set with the same content as ``fs`` (a run's embedded copy), whose
    stored frame spares rebuilding from the lake; else ``fs`` itself."""
    try:
        saved = load_featureset(fs.name, store)
    except (SynthwbError, OSError):
        return fs
    keys = ("selection", "spec", "split", "scaler", "feature_cols")
    return saved if all(saved.to_dict().get(k) == fs.to_dict().get(k) for k in keys) else fs
